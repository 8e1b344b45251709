#include "tests/local_cluster.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/placement.h"
#include "common/transport_security.h"
#include "gtest/gtest.h"

namespace report::testing {

std::string BinDir() { return REPORT_TEST_BIN_DIR; }
std::string SourceDir() { return REPORT_TEST_SOURCE_DIR; }

int RunCommand(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    text.append(buffer, n);
  int status = pclose(pipe);
  if (output != nullptr) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

LocalCluster::LocalCluster(std::string profile, std::string extra_up_args)
    : profile_(std::move(profile)), extra_up_args_(std::move(extra_up_args)) {
  std::string pattern = "/tmp/report-cluster-XXXXXX";
  char* made = mkdtemp(pattern.data());
  dir_ = made != nullptr ? made : "/tmp/report-cluster-fallback";
}

LocalCluster::~LocalCluster() { Down(); }

int LocalCluster::Script(const std::string& verb_and_args,
                         std::string* output) const {
  return RunCommand(
      absl::StrCat("REPORT_BIN_DIR=", BinDir(), " ", SourceDir(),
                   "/deploy/cluster.sh ", verb_and_args, " --dir ", dir_),
      output);
}

bool LocalCluster::Up(std::string* error) {
  std::string output;
  int code = Script(
      absl::StrCat("up --profile ", profile_, " ", extra_up_args_), &output);
  up_ = true;  // whatever started must be stopped
  if (code != 0) {
    *error = output;
    return false;
  }
  auto placement =
      Placement::LoadClusterConfigFile(dir_ + "/cluster.textproto");
  if (!placement.ok()) {
    *error = std::string(placement.status().message());
    return false;
  }
  config_ = *placement->cluster();
  credentials_ = CredentialsOf("operator");
  client_credentials_ = config_.gateways_size() > 0
                            ? CredentialsOf(config_.gateways(0).name())
                            : credentials_;
  client_ = std::make_unique<ClusterClient>(
      config_, config_.members(0).domain(), client_credentials_);
  return true;
}

std::string LocalCluster::TlsArgs() const {
  if (access((tls_dir() + "/ca.pem").c_str(), R_OK) != 0) return "--insecure";
  return "--tls-dir " + tls_dir();
}

std::shared_ptr<grpc::ChannelCredentials> LocalCluster::CredentialsOf(
    const std::string& name) const {
  if (access((tls_dir() + "/ca.pem").c_str(), R_OK) != 0) {
    return grpc::InsecureChannelCredentials();
  }
  auto security = TransportSecurity::FromFiles(tls_dir() + "/ca.pem",
                                               CertificatePath(tls_dir(), name),
                                               KeyPath(tls_dir(), name));
  if (!security.ok()) {
    ADD_FAILURE() << "no usable certificate " << name << ": "
                  << security.status();
    return grpc::InsecureChannelCredentials();
  }
  return (*security)->ChannelCredentials();
}

std::shared_ptr<grpc::ChannelCredentials> LocalCluster::CredentialsAs(
    const std::string& name, const std::string& kind,
    const std::string& domain) const {
  if (access((tls_dir() + "/ca.pem").c_str(), R_OK) != 0) {
    return grpc::InsecureChannelCredentials();
  }
  if (access(CertificatePath(tls_dir(), name).c_str(), R_OK) != 0) {
    std::string output;
    if (Script(
            absl::StrCat("cert ", name, " --kind ", kind, " --domain ", domain),
            &output) != 0) {
      ADD_FAILURE() << "cluster.sh cert " << name << ": " << output;
    }
  }
  return CredentialsOf(name);
}

std::shared_ptr<grpc::ChannelCredentials> LocalCluster::WorkerCredentials(
    const std::string& domain) const {
  std::string name = "test-worker-";
  for (char c : domain) name += (c == '/') ? '.' : c;
  return CredentialsAs(name, "worker", domain);
}

void LocalCluster::Down() {
  if (!up_) {
    RunCommand("rm -rf " + dir_);
    return;
  }
  up_ = false;
  client_.reset();
  // A test that fails (or returns) while a process is SIGSTOPped leaves it
  // stopped: it would hold TERM pending until down's KILL after the grace
  // period (15 s for a gateway). Continue every running process first so each
  // shuts down the ordinary way.
  for (const ProcessInfo& process : Processes()) {
    if (process.pid != 0) Kill(process.name, "CONT");
  }
  Script("down --wipe");
  RunCommand("rm -rf " + dir_);
}

std::vector<ProcessInfo> LocalCluster::Processes() const {
  std::string output;
  Script("endpoints", &output);
  std::vector<ProcessInfo> processes;
  for (absl::string_view line :
       absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() != 6) continue;
    ProcessInfo info{fields[0], fields[1], fields[2], fields[3], fields[4], 0};
    if (fields[5] != "-") info.pid = std::atoi(fields[5].c_str());
    processes.push_back(info);
  }
  return processes;
}

ProcessInfo LocalCluster::Process(const std::string& name) const {
  for (const ProcessInfo& info : Processes()) {
    if (info.name == name) return info;
  }
  return ProcessInfo{};
}

void LocalCluster::Kill(const std::string& name,
                        const std::string& signal) const {
  Script(absl::StrCat("kill ", name, " --signal ", signal));
}

void LocalCluster::Start(const std::string& name) const {
  Script("start " + name);
}

absl::StatusOr<std::string> LocalCluster::WaitForLeader(
    absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    for (auto& [member, status] :
         client_->ClusterStatus(absl::Milliseconds(500))) {
      if (status.ok() && status->role() == "leader") return member.name();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("no leader elected in time");
}

absl::StatusOr<std::string> LocalCluster::WaitForConvergence(
    uint64_t offset, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last = "no replica answered";
  while (absl::Now() < deadline) {
    std::vector<std::pair<std::string, ClusterStatusResponse>> running;
    bool ready = true;
    for (auto& [member, status] :
         client_->ClusterStatus(absl::Milliseconds(500))) {
      if (Process(member.name()).pid == 0)
        continue;  // not running: not expected to answer
      if (!status.ok() || status->applied_offset() < offset) {
        ready = false;
        last = absl::StrCat(member.name(), " has not applied ", offset);
        break;
      }
      running.emplace_back(member.name(), *status);
    }
    // Digests are comparable only at one applied offset: wait until every
    // replica is there.
    if (ready && !running.empty()) {
      bool same_offset = true;
      for (const auto& [name, status] : running) {
        same_offset &=
            status.applied_offset() == running[0].second.applied_offset();
      }
      if (same_offset) {
        for (const auto& [name, status] : running) {
          if (status.state_digest() != running[0].second.state_digest()) {
            return absl::InternalError(absl::StrCat(
                "replicas diverged at offset ", status.applied_offset(), ": ",
                name, " has ", status.state_digest(), ", ", running[0].first,
                " has ", running[0].second.state_digest()));
          }
        }
        return running[0].second.state_digest();
      }
      last = "replicas at different applied offsets";
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("replicas did not converge: " + last);
}

}  // namespace report::testing
