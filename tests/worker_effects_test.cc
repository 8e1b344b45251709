// Workers as real processes (docs/EFFECTS.md): report-worker started
// through deploy/cluster.sh against a real cluster, killed with real signals,
// its effects checked in the real sink directory. The names read as the seed's
// failure behaviours and the effect protocol's promises: one effect per
// request, whatever crashes and races happen.
#include <dirent.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "gtest/gtest.h"
#include "proto/replica_service.grpc.pb.h"
#include "proto/report_api.grpc.pb.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

constexpr char kGcpWorkerDomain[] = "gcp/us-central1/us-central1-a";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Names of the regular files in `dir` (empty when it does not exist): report
// files and any temporary file left behind, not the writers' lock directory.
std::set<std::string> FilesIn(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    struct stat st;
    if (lstat((dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    names.insert(name);
  }
  closedir(d);
  return names;
}

// The identity of a file's one version: a rewrite or replacement changes one of
// these.
struct FileIdentity {
  ino_t inode = 0;
  int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileIdentity& other) const {
    return inode == other.inode && mtime_ns == other.mtime_ns &&
           size == other.size;
  }
};

std::optional<FileIdentity> IdentityOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{st.st_ino,
                      st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                      st.st_size};
}

// A process we did not start ourselves is gone once signal 0 fails, or it is a
// zombie waiting for its (re)parent.
bool ProcessGone(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return true;
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] == 'Z';
}

// What a sink file says about itself (docs/EFFECTS.md, "The report file").
struct SinkReport {
  std::string request_id;
  std::string account_id;
  std::string month;
  std::string effect_key;
  uint64_t fencing_token = 0;
  std::string worker_id;
  std::string worker_domain;
};

absl::StatusOr<SinkReport> ReadSinkReport(const std::string& path) {
  google::protobuf::Struct json;
  auto parsed =
      google::protobuf::util::JsonStringToMessage(ReadFile(path), &json);
  if (!parsed.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", parsed.message().as_string()));
  }
  const auto& report = json.fields().at("report").struct_value().fields();
  const auto& effect = json.fields().at("effect").struct_value().fields();
  SinkReport out;
  out.request_id = report.at("request_id").string_value();
  out.account_id = report.at("account_id").string_value();
  out.month = report.at("month").string_value();
  out.effect_key = report.at("effect_key").string_value();
  out.fencing_token =
      static_cast<uint64_t>(effect.at("fencing_token").number_value());
  out.worker_id = effect.at("worker_id").string_value();
  out.worker_domain = effect.at("worker_domain").string_value();
  return out;
}

api::SubmitReportRequest Submission(const std::string& id,
                                    const std::string& account = "acct-1",
                                    const std::string& month = "2026-04") {
  api::SubmitReportRequest request;
  request.set_request_id(id);
  request.set_account_id(account);
  request.set_month(month);
  return request;
}

// A cluster with workers, used through the public gRPC API of its first
// gateway.
class EffectCluster {
 public:
  EffectCluster(const std::string& profile, int workers,
                const std::string& worker_args)
      : cluster(profile, absl::StrCat("--workers ", workers, " --worker-args '",
                                      worker_args, "'")) {}

  LocalCluster cluster;

  bool Up(std::string* error) {
    if (!cluster.Up(error)) return false;
    for (const ProcessInfo& p : cluster.Processes()) {
      if (p.kind == "gateway" && gateway_.empty()) {
        gateway_ = p.grpc_address;
        gateway_domain = p.domain;
      }
      if (p.kind == "worker") workers.push_back(p);
    }
    api_ = api::ReportApi::NewStub(
        grpc::CreateChannel(gateway_, cluster.credentials()));
    return true;
  }

  std::string SinkDir() const { return cluster.dir() + "/sink"; }
  std::string SinkPath(const std::string& request_id) const {
    return SinkDir() + "/file-sink:" + request_id + ".json";
  }

  absl::StatusOr<Receipt> Submit(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(15));
    Receipt receipt;
    grpc::Status rpc = api_->SubmitReport(&context, Submission(id), &receipt);
    if (!rpc.ok()) return FromGrpcStatus(rpc);
    return receipt;
  }

  absl::StatusOr<api::ReportStatus> Cancel(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(15));
    api::CancelReportRequest cancel;
    cancel.set_request_id(id);
    api::ReportStatus status;
    grpc::Status rpc = api_->CancelReport(&context, cancel, &status);
    if (!rpc.ok()) return FromGrpcStatus(rpc);
    return status;
  }

  absl::StatusOr<api::ReportStatus> Read(const std::string& id,
                                         uint64_t min_offset) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    api::GetReportRequest get;
    get.set_request_id(id);
    get.set_min_offset(min_offset);
    get.set_wait_ms(2000);
    api::ReportStatus status;
    grpc::Status rpc = api_->GetReport(&context, get, &status);
    if (!rpc.ok()) return FromGrpcStatus(rpc);
    return status;
  }

  // Polls the status (never going back in time) until `done` holds or the
  // deadline.
  absl::StatusOr<api::ReportStatus> WaitFor(
      const std::string& id, uint64_t min_offset,
      const std::function<bool(const api::ReportStatus&)>& done,
      absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    api::ReportStatus last;
    while (absl::Now() < deadline) {
      auto status = Read(id, min_offset);
      if (status.ok()) {
        last = *status;
        min_offset = std::max(min_offset, status->served_offset());
        if (done(*status)) return *status;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat(
        id,
        " did not reach the expected state; last: ", last.ShortDebugString()));
  }

  absl::StatusOr<api::ReportStatus> WaitForState(
      const std::string& id, uint64_t min_offset, RequestState state,
      absl::Duration timeout = absl::Seconds(20)) {
    return WaitFor(
        id, min_offset,
        [state](const api::ReportStatus& s) { return s.state() == state; },
        timeout);
  }

  // The leader's last log offset (what an appended entry would move).
  absl::StatusOr<uint64_t> LeaderLastOffset() {
    auto name = cluster.WaitForLeader(absl::Seconds(10));
    if (!name.ok()) return name.status();
    for (auto& [member, status] :
         cluster.client().ClusterStatus(absl::Seconds(2))) {
      if (member.name() == *name && status.ok()) return status->last_offset();
    }
    return absl::UnavailableError("leader did not answer");
  }

  // The leader, called with `credentials` (the operator's when none).
  std::unique_ptr<ReplicaService::Stub> LeaderStub(
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
    auto name = cluster.WaitForLeader(absl::Seconds(10));
    if (!name.ok()) return nullptr;
    for (const Member& member : cluster.config().members()) {
      if (member.name() == *name) {
        return ReplicaService::NewStub(grpc::CreateChannel(
            member.grpc_address(),
            credentials ? credentials : cluster.credentials()));
      }
    }
    return nullptr;
  }

  std::string gateway_domain;
  std::vector<ProcessInfo> workers;

 private:
  std::string gateway_;
  std::unique_ptr<api::ReportApi::Stub> api_;
};

#define ASSERT_UP(ec)                            \
  do {                                           \
    std::string up_error;                        \
    ASSERT_TRUE((ec).Up(&up_error)) << up_error; \
  } while (0)

// Checks a COMPLETED status against the one sink file for its request.
void ExpectOneEffect(EffectCluster& ec, const api::ReportStatus& status) {
  const std::string& id = status.request_id();
  EXPECT_EQ(status.state(), COMPLETED) << id;
  EXPECT_EQ(status.effect_key(), "file-sink:" + id);
  EXPECT_EQ(status.report_location(), "file://" + ec.SinkPath(id));
  auto report = ReadSinkReport(ec.SinkPath(id));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->request_id, id);
  EXPECT_EQ(report->effect_key, status.effect_key());
  EXPECT_EQ(report->account_id, status.account_id());
  EXPECT_EQ(report->month, status.month());
}

TEST(WorkerEffectsTest, TheSeedProgramCompletesAcrossProviders) {
  EffectCluster ec("cross-provider", 1, "--work-ms 0");
  ASSERT_UP(ec);
  ASSERT_TRUE(absl::StartsWith(ec.gateway_domain, "aws/")) << ec.gateway_domain;
  ASSERT_EQ(ec.workers.size(), 1u);
  ASSERT_EQ(ec.workers[0].domain, kGcpWorkerDomain);

  auto receipt = ec.Submit("seed-2026-04-acct-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto status = ec.WaitForState("seed-2026-04-acct-1",
                                receipt->accepted_offset(), COMPLETED);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->accepted_offset(), receipt->accepted_offset());
  EXPECT_GE(status->served_offset(), receipt->accepted_offset());
  EXPECT_EQ(status->worker_domain(), kGcpWorkerDomain);
  // The holder is the worker process: its id and its incarnation.
  EXPECT_TRUE(absl::StartsWith(status->worker_id(), ec.workers[0].name + "#"))
      << status->worker_id();
  EXPECT_EQ(status->attempts(), 1u);
  EXPECT_GT(status->completed_offset(), receipt->accepted_offset());
  EXPECT_GT(status->fencing_token(), receipt->accepted_offset());
  EXPECT_LT(status->fencing_token(), status->completed_offset());
  ASSERT_TRUE(absl::StartsWith(status->report_location(), "file:///"))
      << status->report_location();
  const std::string path = status->report_location().substr(strlen("file://"));
  ASSERT_TRUE(IdentityOf(path).has_value()) << path << " does not exist";
  ExpectOneEffect(ec, *status);
  auto report = ReadSinkReport(path);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->worker_domain, kGcpWorkerDomain);
  EXPECT_EQ(report->fencing_token, status->fencing_token());
  EXPECT_EQ(FilesIn(ec.SinkDir()).size(), 1u);
}

// Cancel in each state, one racing a running worker: ACCEPTED ends at once, a
// RUNNING request's worker learns it at its next lease extension and stops
// without writing, a finished one answers its state; cancelling is
// idempotent, and an unknown id is NotFound.
TEST(WorkerEffectsTest, CancelInEachStateAndWhileAWorkerRuns) {
  // One request at a time, each taking 4 s, its lease extended every 300 ms.
  EffectCluster ec("cross-provider", 1,
                   "--work-ms 4000 --lease-ms 900 --concurrency 1");
  ASSERT_UP(ec);
  auto running = ec.Submit("cancel-running");
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(
      ec.WaitForState("cancel-running", running->accepted_offset(), RUNNING)
          .ok());
  // The worker is busy: this one waits ACCEPTED.
  auto queued = ec.Submit("cancel-queued");
  ASSERT_TRUE(queued.ok()) << queued.status();
  auto cancelled = ec.Cancel("cancel-queued");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), CANCELLED);
  EXPECT_EQ(cancelled->attempts(), 0u);

  auto asked = ec.Cancel("cancel-running");
  ASSERT_TRUE(asked.ok()) << asked.status();
  if (asked->state() == RUNNING) {
    EXPECT_TRUE(asked->cancel_requested());
    auto ended = ec.WaitFor(
        "cancel-running", running->accepted_offset(),
        [](const api::ReportStatus& s) {
          return s.state() == CANCELLED || s.state() == COMPLETED;
        },
        absl::Seconds(10));
    ASSERT_TRUE(ended.ok()) << ended.status();
    // Well inside the 4 s of work: the worker stopped at an extension.
    EXPECT_EQ(ended->state(), CANCELLED) << ended->ShortDebugString();
  } else {
    ADD_FAILURE() << "the running request ended before its cancel: "
                  << asked->ShortDebugString();
  }
  EXPECT_FALSE(IdentityOf(ec.SinkPath("cancel-running")).has_value())
      << "a cancelled request has a report";
  EXPECT_FALSE(IdentityOf(ec.SinkPath("cancel-queued")).has_value());
  // Idempotent, and a cancelled request is never worked on again.
  auto again = ec.Cancel("cancel-running");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), CANCELLED);

  // A finished request answers its state.
  auto done = ec.Submit("cancel-done");
  ASSERT_TRUE(done.ok());
  auto completed = ec.WaitForState("cancel-done", done->accepted_offset(),
                                   COMPLETED, absl::Seconds(30));
  ASSERT_TRUE(completed.ok()) << completed.status();
  auto late = ec.Cancel("cancel-done");
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->state(), COMPLETED);
  ExpectOneEffect(ec, *late);
  EXPECT_EQ(ErrorCodeOf(ec.Cancel("cancel-nobody").status()),
            ErrorCode::kNotFound);
  auto queued_after = ec.Read("cancel-queued", done->accepted_offset());
  ASSERT_TRUE(queued_after.ok());
  EXPECT_EQ(queued_after->state(), CANCELLED);
  EXPECT_EQ(queued_after->attempts(), 0u);
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// GET /reports/{id}/content from the read gateway in GCP (the request entered
// through AWS): the document the worker stored, byte for byte, with an ETag
// that If-None-Match answers 304.
TEST(WorkerEffectsTest, TheReportIsDownloadedFromAGatewayInAnotherDomain) {
  EffectCluster ec("cross-provider", 1, "--work-ms 0");
  ASSERT_UP(ec);
  ProcessInfo reader;
  for (const ProcessInfo& p : ec.cluster.Processes()) {
    if (absl::StartsWith(p.name, "gateway-read")) reader = p;
  }
  ASSERT_FALSE(reader.name.empty());
  auto receipt = ec.Submit("content-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto status =
      ec.WaitForState("content-1", receipt->accepted_offset(), COMPLETED);
  ASSERT_TRUE(status.ok()) << status.status();
  const std::string dir = ec.cluster.dir();
  const std::string url =
      absl::StrCat("http://", reader.http_address, "/reports/content-1/content",
                   "?min_offset=", status->completed_offset(), "&wait_ms=5000");
  std::string out;
  ASSERT_EQ(RunCommand(absl::StrCat("curl -sS -D ", dir, "/h.txt -o ", dir,
                                    "/body.json -w '%{http_code}' '", url, "'"),
                       &out),
            0)
      << out;
  EXPECT_EQ(out, "200");
  EXPECT_EQ(ReadWhole(dir + "/body.json"), ReadWhole(ec.SinkPath("content-1")));
  const std::string headers = ReadWhole(dir + "/h.txt");
  EXPECT_TRUE(absl::StrContains(headers, "application/json")) << headers;
  std::string etag;
  for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, "etag: ")) {
      etag = std::string(line.substr(6));
    }
  }
  EXPECT_TRUE(absl::StartsWith(etag, "\"file-sink:content-1:")) << headers;
  ASSERT_EQ(
      RunCommand(absl::StrCat("curl -sS -o /dev/null -w '%{http_code}' ",
                              "-H 'If-None-Match: ", etag, "' '", url, "'"),
                 &out),
      0);
  EXPECT_EQ(out, "304");
  // Not COMPLETED (unknown here): no content.
  ASSERT_EQ(RunCommand(absl::StrCat("curl -sS -o /dev/null -w '%{http_code}' ",
                                    "'http://", reader.http_address,
                                    "/reports/nobody/content'"),
                       &out),
            0);
  EXPECT_EQ(out, "404");
}

TEST(WorkerEffectsTest, WorkerInAnUnauthorizedDomainIsRefused) {
  EffectCluster ec("single-az", 0, "");
  ASSERT_UP(ec);
  auto receipt = ec.Submit("refused-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto before = ec.LeaderLastOffset();
  ASSERT_TRUE(before.ok()) << before.status();

  // Another AZ of the same region is outside single-az's worker set: the worker
  // stops at once with DomainUnavailable and does not look for another domain.
  const std::string sink = ec.SinkDir();
  std::string output;
  const absl::Time started = absl::Now();
  int code = RunCommand(
      absl::StrCat("timeout 20 ", BinDir(), "/report-worker --id rogue ",
                   "--domain aws/us-east-1/use1-az2 --cluster ",
                   ec.cluster.dir(), "/cluster.textproto"),
      &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, 124) << "the worker kept running in a refused domain";
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_TRUE(absl::StrContains(output, "DomainUnavailable")) << output;
  EXPECT_TRUE(FilesIn(sink).empty());

  // The replicas enforce the same rule for whoever calls them directly, even
  // with a valid worker certificate for that domain.
  auto leader =
      ec.LeaderStub(ec.cluster.WorkerCredentials("aws/us-east-1/use1-az2"));
  ASSERT_NE(leader, nullptr);
  grpc::ClientContext context;
  ReserveEffectRequest reserve;
  reserve.set_request_id("refused-1");
  reserve.set_effect_key("file-sink:refused-1");
  reserve.set_worker_id("rogue");
  reserve.set_worker_domain("aws/us-east-1/use1-az2");
  reserve.set_lease_ms(5000);
  reserve.set_max_attempts(3);
  EffectResponse unused;
  grpc::Status rpc = leader->ReserveEffect(&context, reserve, &unused);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << rpc.error_message();
  EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "DomainUnavailable"))
      << rpc.error_message();

  auto after = ec.LeaderLastOffset();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before) << "a refused worker's command was appended";
  auto status = ec.Read("refused-1", receipt->accepted_offset());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), ACCEPTED);
  EXPECT_EQ(status->attempts(), 0u);
  EXPECT_EQ(status->worker_id(), "");
}

TEST(WorkerEffectsTest,
     KilledWorkerMidWorkIsReplacedAfterLeaseExpiryWithOneEffect) {
  EffectCluster ec("single-az", 2, "--work-ms 3000 --lease-ms 1000");
  ASSERT_UP(ec);
  ASSERT_EQ(ec.workers.size(), 2u);
  auto receipt = ec.Submit("killed-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto running =
      ec.WaitForState("killed-1", receipt->accepted_offset(), RUNNING);
  ASSERT_TRUE(running.ok()) << running.status();
  const std::string holder_id = running->worker_id();
  // "<process name>#<incarnation>"
  const std::string holder = holder_id.substr(0, holder_id.find('#'));
  ASSERT_FALSE(holder.empty());
  EXPECT_EQ(running->attempts(), 1u);
  EXPECT_GT(running->lease_expiry_ms(), 0u);
  ec.cluster.Kill(holder);
  ASSERT_TRUE(WaitUntil([&] { return ec.cluster.Process(holder).pid == 0; },
                        absl::Seconds(10)))
      << holder << " survived kill -9";

  auto done = ec.WaitForState("killed-1", running->served_offset(), COMPLETED,
                              absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_GE(done->attempts(), 2u);
  EXPECT_NE(done->worker_id(), holder_id)
      << "the killed worker cannot have completed it";
  EXPECT_GT(done->fencing_token(), running->fencing_token());
  ExpectOneEffect(ec, *done);
  EXPECT_EQ(FilesIn(ec.SinkDir()),
            std::set<std::string>{"file-sink:killed-1.json"})
      << absl::StrJoin(FilesIn(ec.SinkDir()), ", ");
  auto report = ReadSinkReport(ec.SinkPath("killed-1"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->fencing_token, done->fencing_token());
  EXPECT_EQ(report->worker_id, done->worker_id());
}

TEST(WorkerEffectsTest, CrashBetweenSinkWriteAndCompleteLeavesOneFile) {
  EffectCluster ec("single-az", 1,
                   "--work-ms 0 --lease-ms 1000 --crash-after-sink-write");
  ASSERT_UP(ec);
  ASSERT_EQ(ec.workers.size(), 1u);
  const ProcessInfo worker = ec.workers[0];
  ASSERT_GT(worker.pid, 0);
  auto receipt = ec.Submit("crash-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();

  ASSERT_TRUE(
      WaitUntil([&] { return ProcessGone(worker.pid); }, absl::Seconds(20)))
      << "the worker did not crash after its sink write";
  const std::string log =
      ReadFile(ec.cluster.dir() + "/" + worker.name + "/log");
  EXPECT_TRUE(absl::StrContains(log, "crash-after-sink-write")) << log;
  auto written = IdentityOf(ec.SinkPath("crash-1"));
  ASSERT_TRUE(written.has_value()) << "the crash came before the sink write";
  auto first = ReadSinkReport(ec.SinkPath("crash-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  // The effect happened but was never recorded.
  auto running = ec.Read("crash-1", receipt->accepted_offset());
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state(), RUNNING);
  EXPECT_EQ(running->fencing_token(), first->fencing_token);

  // Restart the same worker without the fault knob: cluster.sh starts what its
  // cmd file (one argument per line) says.
  const std::string cmd_path = ec.cluster.dir() + "/" + worker.name + "/cmd";
  std::vector<std::string> args =
      absl::StrSplit(ReadFile(cmd_path), '\n', absl::SkipEmpty());
  const size_t before = args.size();
  args.erase(std::remove(args.begin(), args.end(), "--crash-after-sink-write"),
             args.end());
  ASSERT_EQ(args.size(), before - 1);
  {
    std::ofstream out(cmd_path, std::ios::trunc);
    out << absl::StrJoin(args, "\n") << "\n";
  }
  // cluster.sh starts only what it sees dead: wait until the crashed process is
  // reaped too.
  ASSERT_TRUE(
      WaitUntil([&] { return ec.cluster.Process(worker.name).pid == 0; },
                absl::Seconds(10)));
  ec.cluster.Start(worker.name);
  const int restarted = ec.cluster.Process(worker.name).pid;
  ASSERT_GT(restarted, 0);
  ASSERT_NE(restarted, worker.pid);

  auto done = ec.WaitForState("crash-1", running->served_offset(), COMPLETED);
  ASSERT_TRUE(done.ok()) << done.status() << "\nworker log:\n"
                         << ReadFile(ec.cluster.dir() + "/" + worker.name +
                                     "/log");
  // The restarted worker (same id, a new incarnation) is a new holder: it
  // reserved again after the crashed process's lease expired, spending an
  // attempt, with a new token.
  EXPECT_EQ(done->attempts(), 2u);
  EXPECT_NE(done->worker_id(), running->worker_id());
  EXPECT_GT(done->fencing_token(), first->fencing_token);
  ExpectOneEffect(ec, *done);
  EXPECT_EQ(FilesIn(ec.SinkDir()),
            std::set<std::string>{"file-sink:crash-1.json"})
      << absl::StrJoin(FilesIn(ec.SinkDir()), ", ");
  auto now = IdentityOf(ec.SinkPath("crash-1"));
  ASSERT_TRUE(now.has_value());
  EXPECT_TRUE(*now == *written) << "the report was rewritten";
  // The file still names the crashed holder's grant: recorded, not redone.
  auto report = ReadSinkReport(ec.SinkPath("crash-1"));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->fencing_token, first->fencing_token);
}

TEST(WorkerEffectsTest, CompletedWorkIsNotProcessedTwiceAfterWorkerRestarts) {
  EffectCluster ec("single-az", 2, "--work-ms 0");
  ASSERT_UP(ec);
  constexpr int kRequests = 6;
  std::map<std::string, api::ReportStatus> completed;
  std::map<std::string, FileIdentity> files;
  uint64_t last_offset = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = absl::StrCat("once-", i);
    auto receipt = ec.Submit(id);
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    last_offset = receipt->accepted_offset();
  }
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = absl::StrCat("once-", i);
    auto status = ec.WaitForState(id, last_offset, COMPLETED);
    ASSERT_TRUE(status.ok()) << status.status();
    ExpectOneEffect(ec, *status);
    completed[id] = *status;
    auto identity = IdentityOf(ec.SinkPath(id));
    ASSERT_TRUE(identity.has_value());
    files[id] = *identity;
  }

  for (const ProcessInfo& worker : ec.workers) ec.cluster.Kill(worker.name);
  for (const ProcessInfo& worker : ec.workers) {
    ASSERT_TRUE(
        WaitUntil([&] { return ec.cluster.Process(worker.name).pid == 0; },
                  absl::Seconds(10)))
        << worker.name << " survived kill -9";
    ec.cluster.Start(worker.name);
  }
  // A fresh request completing proves the restarted workers have caught up with
  // the log.
  auto fresh = ec.Submit("once-fresh");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto fresh_done =
      ec.WaitForState("once-fresh", fresh->accepted_offset(), COMPLETED);
  ASSERT_TRUE(fresh_done.ok()) << fresh_done.status();
  EXPECT_EQ(fresh_done->attempts(), 1u);

  for (const auto& [id, before] : completed) {
    auto after = ec.Read(id, fresh_done->completed_offset());
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->state(), COMPLETED) << id;
    EXPECT_EQ(after->version(), before.version())
        << id << " changed after the restart";
    EXPECT_EQ(after->completed_offset(), before.completed_offset()) << id;
    EXPECT_EQ(after->attempts(), before.attempts()) << id;
    EXPECT_EQ(after->fencing_token(), before.fencing_token()) << id;
    auto identity = IdentityOf(ec.SinkPath(id));
    ASSERT_TRUE(identity.has_value()) << id;
    EXPECT_TRUE(*identity == files[id]) << id << "'s report was rewritten";
  }
  EXPECT_EQ(FilesIn(ec.SinkDir()).size(), static_cast<size_t>(kRequests + 1));
}

TEST(WorkerEffectsTest, TwoWorkersRacingProduceOneEffectPerRequest) {
  EffectCluster ec("single-az", 3, "--work-ms 20 --concurrency 4");
  ASSERT_UP(ec);
  ASSERT_EQ(ec.workers.size(), 3u);
  constexpr int kRequests = 30;
  constexpr int kSubmitters = 3;
  std::vector<absl::StatusOr<Receipt>> receipts(kRequests,
                                                absl::UnknownError("not sent"));
  std::vector<std::thread> submitters;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += kSubmitters) {
        receipts[i] = ec.Submit(absl::StrCat("race-", i));
      }
    });
  }
  for (auto& thread : submitters) thread.join();
  uint64_t last_offset = 0;
  for (const auto& receipt : receipts) {
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    last_offset = std::max(last_offset, receipt->accepted_offset());
  }
  std::set<std::string> completers;
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = absl::StrCat("race-", i);
    auto status =
        ec.WaitForState(id, last_offset, COMPLETED, absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << status.status();
    ExpectOneEffect(ec, *status);
    EXPECT_EQ(status->attempts(), 1u) << id << " was granted more than once";
    auto report = ReadSinkReport(ec.SinkPath(id));
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->fencing_token, status->fencing_token()) << id;
    EXPECT_EQ(report->worker_id, status->worker_id()) << id;
    completers.insert(status->worker_id());
  }
  EXPECT_EQ(FilesIn(ec.SinkDir()).size(), static_cast<size_t>(kRequests));
  // Not a promise, only context for a reader of the log: how the work was
  // shared.
  std::cout << "completed by: " << absl::StrJoin(completers, ", ") << std::endl;
}

TEST(WorkerEffectsTest,
     AReportThatAlwaysFailsEndsFailedAfterTheConfiguredAttempts) {
  EffectCluster ec("single-az", 1,
                   "--work-ms 0 --max-attempts 3 --retry-backoff-ms 50 "
                   "--fail-request-prefix doomed-");
  ASSERT_UP(ec);
  auto receipt = ec.Submit("doomed-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto failed = ec.WaitForState("doomed-1", receipt->accepted_offset(), FAILED);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->attempts(), 3u);
  EXPECT_TRUE(absl::StrContains(failed->failure(), "injected failure"))
      << failed->failure();
  EXPECT_EQ(failed->report_location(), "");
  EXPECT_FALSE(IdentityOf(ec.SinkPath("doomed-1")).has_value());

  // The worker is alive and working (a later request completes), and the failed
  // one is left alone.
  auto later = ec.Submit("fine-1");
  ASSERT_TRUE(later.ok()) << later.status();
  auto later_done =
      ec.WaitForState("fine-1", later->accepted_offset(), COMPLETED);
  ASSERT_TRUE(later_done.ok()) << later_done.status();
  auto still = ec.Read("doomed-1", later_done->completed_offset());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->state(), FAILED);
  EXPECT_EQ(still->attempts(), 3u);
  EXPECT_EQ(still->version(), failed->version())
      << "a FAILED request was picked up again";
  EXPECT_EQ(FilesIn(ec.SinkDir()),
            std::set<std::string>{"file-sink:fine-1.json"});
}

// The effect key and the sink location come from the cluster file: a worker
// whose own sink settings disagree would write a second file for a request it
// takes over, so it is refused at start (exit 2, naming the mismatch).
// `reportctl status --wait` tells a script how the request ended: 0 once it
// COMPLETED, 3 when it ended FAILED, 4 when the wait ran out first.
TEST(WorkerEffectsTest, ReportctlStatusWaitExitCodeSaysHowTheRequestEnded) {
  EffectCluster ec("single-az", 1,
                   "--work-ms 0 --max-attempts 2 --retry-backoff-ms 50 "
                   "--fail-request-prefix doomed-");
  ASSERT_UP(ec);
  const std::string status =
      absl::StrCat(BinDir(), "/reportctl status --cluster ", ec.cluster.dir(),
                   "/cluster.textproto ");
  auto fine = ec.Submit("fine-1");
  ASSERT_TRUE(fine.ok()) << fine.status();
  std::string output;
  EXPECT_EQ(RunCommand(absl::StrCat(status, "fine-1 --wait 30s --min-offset ",
                                    fine->accepted_offset()),
                       &output),
            0)
      << output;
  EXPECT_TRUE(absl::StrContains(output, "COMPLETED")) << output;

  auto doomed = ec.Submit("doomed-1");
  ASSERT_TRUE(doomed.ok()) << doomed.status();
  EXPECT_EQ(RunCommand(absl::StrCat(status, "doomed-1 --wait 30s"), &output), 3)
      << output;
  EXPECT_TRUE(absl::StrContains(output, "FAILED")) << output;

  // With the only worker stopped, nothing can finish the next one.
  std::string worker;
  for (const ProcessInfo& p : ec.cluster.Processes()) {
    if (p.kind == "worker") worker = p.name;
  }
  ASSERT_FALSE(worker.empty());
  ec.cluster.Kill(worker, "STOP");
  auto waiting = ec.Submit("waiting-1");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  const int code =
      RunCommand(absl::StrCat(status, "waiting-1 --wait 1s"), &output);
  ec.cluster.Kill(worker, "CONT");
  EXPECT_EQ(code, 4) << output;
  EXPECT_TRUE(absl::StrContains(output, "ACCEPTED")) << output;
  // A plain read (no --wait) succeeds whatever the state.
  EXPECT_EQ(RunCommand(status + "doomed-1", &output), 0) << output;
}

// `status --wait --json` prints JSON Lines: one object per state it sees, in
// order, the terminal one last, and nothing on stderr when stderr is not a
// terminal. On a terminal (a pty from script(1)) a progress line shows the
// state, the time waited, the attempt and the worker.
TEST(WorkerEffectsTest, ReportctlStatusWaitJsonPrintsOneObjectPerStateItSees) {
  EffectCluster ec("single-az", 1, "--work-ms 1500");
  ASSERT_UP(ec);
  const std::string status =
      absl::StrCat(BinDir(), "/reportctl status --cluster ", ec.cluster.dir(),
                   "/cluster.textproto ");
  auto lines = ec.Submit("lines-1");
  ASSERT_TRUE(lines.ok()) << lines.status();
  const std::string err_file = ec.cluster.dir() + "/reportctl-stderr.txt";
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("{ ", status, "lines-1 --json --wait 30s",
                                    " 2>", err_file, " ; }"),
                       &output),
            0)
      << output;
  std::vector<RequestState> seen;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (line.empty()) continue;
    api::ReportStatus object;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(std::string(line), &object)
            .ok())
        << "not one JSON object: " << line;
    EXPECT_EQ(object.request_id(), "lines-1");
    if (!seen.empty()) {
      EXPECT_NE(object.state(), seen.back()) << output;
    }
    seen.push_back(object.state());
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), COMPLETED) << output;
  EXPECT_NE(std::find(seen.begin(), seen.end(), RUNNING), seen.end()) << output;
  EXPECT_EQ(ReadFile(err_file), "");

  auto shown = ec.Submit("progress-1");
  ASSERT_TRUE(shown.ok()) << shown.status();
  ASSERT_EQ(RunCommand(absl::StrCat("script -qec '", status,
                                    "progress-1 --wait 30s' /dev/null"),
                       &output),
            0)
      << output;
  EXPECT_TRUE(absl::StrContains(output, "\rprogress-1 RUNNING elapsed") ||
              absl::StrContains(output, "\r\033[Kprogress-1 RUNNING elapsed"))
      << output;
  EXPECT_TRUE(absl::StrContains(output, " attempt 1 worker ")) << output;
  EXPECT_TRUE(absl::StrContains(output, "progress-1 COMPLETED")) << output;
}

TEST(WorkerEffectsTest, AWorkerWhoseSinkDisagreesWithTheClusterIsRefused) {
  EffectCluster ec("single-az", 0, "");
  ASSERT_UP(ec);
  const std::string cluster_file = ec.cluster.dir() + "/cluster.textproto";
  ASSERT_EQ(ec.cluster.config().sink().name(), "file-sink");
  ASSERT_EQ(ec.cluster.config().sink().directory(), ec.SinkDir());
  const std::string base = absl::StrCat("timeout 20 ", BinDir(),
                                        "/report-worker --id checked --domain "
                                        "aws/us-east-1/use1-az1 --cluster ");
  struct Case {
    std::string args;
    std::string names;  // what the error message must name
  };
  const std::string other_dir = ec.cluster.dir() + "/other-sink";
  for (const Case& c : std::vector<Case>{
           {cluster_file + " --sink-dir " + other_dir,
            "does not match the cluster's sink.directory"},
           {cluster_file + " --sink-name other-sink",
            "--sink-name 'other-sink' does not match the cluster's sink.name "
            "'file-sink'"}}) {
    std::string output;
    const int code = RunCommand(base + c.args, &output);
    EXPECT_EQ(code, 2) << c.args << "\n" << output;
    EXPECT_TRUE(absl::StrContains(output, c.names)) << output;
  }
  EXPECT_TRUE(FilesIn(other_dir).empty());

  // A cluster file without a sink: refused, not a per-worker default.
  std::string text = ReadFile(cluster_file);
  const size_t sink_line = text.find("\nsink {");
  ASSERT_NE(sink_line, std::string::npos) << text;
  text.erase(sink_line + 1, text.find('\n', sink_line + 1) - sink_line);
  const std::string no_sink = ec.cluster.dir() + "/no-sink.textproto";
  std::ofstream(no_sink) << text;
  std::string output;
  EXPECT_EQ(RunCommand(base + no_sink, &output), 2) << output;
  EXPECT_TRUE(absl::StrContains(output, "the cluster has no sink")) << output;

  // Names whose effect keys, lease holders or locations could not fit the
  // replicas' field limits: refused at start, not on every Reserve.
  text = ReadFile(cluster_file);
  const std::string long_name(200, 'n');
  const size_t name_at = text.find("\"file-sink\"");
  ASSERT_NE(name_at, std::string::npos) << text;
  text.replace(name_at + 1, 9, long_name);
  const std::string long_sink = ec.cluster.dir() + "/long-sink.textproto";
  std::ofstream(long_sink) << text;
  EXPECT_EQ(RunCommand(base + long_sink, &output), 2) << output;
  EXPECT_TRUE(absl::StrContains(output, "sink.name is 200 bytes")) << output;
  EXPECT_EQ(
      RunCommand(absl::StrCat("timeout 20 ", BinDir(), "/report-worker --id ",
                              std::string(116, 'w'),
                              " --domain aws/us-east-1/use1-az1 "
                              "--cluster ",
                              cluster_file),
                 &output),
      2)
      << output;
  EXPECT_TRUE(absl::StrContains(output, "--id must be 1..115 bytes")) << output;

  // Matching settings (the same directory spelled differently) are accepted:
  // the worker runs until the timeout ends it.
  ec.cluster.CredentialsAs("checked", "worker", "aws/us-east-1/use1-az1");
  EXPECT_EQ(RunCommand(
                absl::StrCat("timeout 2 ", BinDir(),
                             "/report-worker --id checked --domain "
                             "aws/us-east-1/use1-az1 --cluster ",
                             cluster_file, " --sink-dir ", ec.SinkDir(),
                             "/. --sink-name file-sink ", ec.cluster.TlsArgs()),
                &output),
            124)
      << output;
}

// Two live processes with one worker id would be one lease holder to the
// replicas; the second one is refused at start.
TEST(WorkerEffectsTest, ASecondLiveProcessWithTheSameWorkerIdIsRefused) {
  EffectCluster ec("single-az", 1, "--work-ms 0");
  ASSERT_UP(ec);
  ASSERT_EQ(ec.workers.size(), 1u);
  const ProcessInfo worker = ec.workers[0];
  std::string output;
  const int code = RunCommand(
      absl::StrCat("timeout 20 ", BinDir(), "/report-worker --id ", worker.name,
                   " --domain ", worker.domain, " --cluster ", ec.cluster.dir(),
                   "/cluster.textproto"),
      &output);
  EXPECT_EQ(code, 2) << output;
  EXPECT_TRUE(absl::StrContains(
      output,
      absl::StrCat("worker id '", worker.name,
                   "' is already in use by a live process (pid ", worker.pid)))
      << output;
  // The first one is unharmed.
  auto receipt = ec.Submit("still-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto done = ec.WaitForState("still-1", receipt->accepted_offset(), COMPLETED);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(ec.cluster.Process(worker.name).pid, worker.pid);
}

// A request that crashes its worker every time, with the worker restarted at
// once each time (as a supervisor would): every restart is a new holder that
// must wait out the dead process's lease and spend an attempt, so the request
// ends FAILED after --max-attempts instead of looping forever.
TEST(WorkerEffectsTest, ARequestThatCrashesItsWorkerEndsFailedAtMaxAttempts) {
  EffectCluster ec("single-az", 1,
                   "--work-ms 0 --lease-ms 1500 --max-attempts 3 "
                   "--crash-request-prefix crashy-");
  ASSERT_UP(ec);
  ASSERT_EQ(ec.workers.size(), 1u);
  const std::string name = ec.workers[0].name;
  auto receipt = ec.Submit("crashy-1");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  int restarts = 0;
  absl::StatusOr<api::ReportStatus> failed =
      absl::DeadlineExceededError("not yet read");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    failed = ec.WaitForState("crashy-1", receipt->accepted_offset(), FAILED,
                             absl::Milliseconds(200));
    if (failed.ok()) break;
    if (ec.cluster.Process(name).pid == 0) {
      ec.cluster.Start(name);
      ++restarts;
    }
  }
  ASSERT_TRUE(failed.ok()) << failed.status() << " after " << restarts
                           << " restarts\nworker log:\n"
                           << ReadFile(ec.cluster.dir() + "/" + name + "/log");
  EXPECT_EQ(failed->attempts(), 3u);
  EXPECT_TRUE(absl::StrContains(failed->failure(), "exceeded 3 attempts"))
      << failed->failure();
  EXPECT_GE(restarts, 3);
  EXPECT_TRUE(FilesIn(ec.SinkDir()).empty())
      << absl::StrJoin(FilesIn(ec.SinkDir()), ", ");
}

// Records when each request is first seen COMPLETED on a replica's
// committed-log watch. Owns its thread: cancels and joins it on destruction,
// also when a test assertion returns early.
class CompletionWatch {
 public:
  CompletionWatch(const ClusterConfig& config, const std::string& worker_domain,
                  std::shared_ptr<grpc::ChannelCredentials> credentials)
      : client_(config, worker_domain, std::move(credentials)),
        thread_([this, worker_domain] {
          while (!cancelled_.load()) {
            WatchRequest request;
            request.set_worker_domain(
                worker_domain);  // watches are for workers
            absl::Status ended = client_.Watch(
                request, [this](const WatchEvent& event) { OnEvent(event); },
                cancelled_);
            if (!ended.ok() && !cancelled_.load()) {
              absl::SleepFor(absl::Milliseconds(50));  // reconnect backoff
            }
          }
        }) {}
  ~CompletionWatch() {
    cancelled_ = true;
    thread_.join();
  }

  std::optional<absl::Time> WaitForCompleted(const std::string& id,
                                             absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return completed_at_.count(id) > 0; })) {
      return std::nullopt;
    }
    return completed_at_[id];
  }

 private:
  void OnEvent(const WatchEvent& event) {
    if (event.record().state() != COMPLETED) return;
    std::lock_guard<std::mutex> lock(mu_);
    completed_at_.emplace(event.record().request_id(), absl::Now());
    cv_.notify_all();
  }

  ClusterClient client_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, absl::Time> completed_at_;
  std::thread thread_;  // last: starts after everything it uses exists
};

// A measurement, not a test (speed is never asserted): submit →
// COMPLETED latency with --work-ms 0, sequential requests through the gateway,
// completion observed on a replica's committed-log watch. Run with
// --gtest_also_run_disabled_tests.
TEST(WorkerEffectsTest, DISABLED_MeasureSubmitToCompletedLatency) {
  EffectCluster ec("single-az", 1, "--work-ms 0");
  ASSERT_UP(ec);
  constexpr int kRequests = 200;
  CompletionWatch watch(ec.cluster.config(), ec.workers.at(0).domain,
                        ec.cluster.WorkerCredentials(ec.workers.at(0).domain));
  std::vector<double> latencies_ms;
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = absl::StrCat("latency-", i);
    const absl::Time start = absl::Now();
    auto receipt = ec.Submit(id);
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    std::optional<absl::Time> done =
        watch.WaitForCompleted(id, absl::Seconds(10));
    ASSERT_TRUE(done.has_value()) << id << " did not complete";
    latencies_ms.push_back(absl::ToDoubleMilliseconds(*done - start));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto at = [&](double q) {
    return latencies_ms[std::min(
        latencies_ms.size() - 1,
        static_cast<size_t>(q * static_cast<double>(latencies_ms.size())))];
  };
  std::cout << "submit->COMPLETED over " << latencies_ms.size()
            << " sequential requests: p50 " << at(0.50) << " ms, p90 "
            << at(0.90) << " ms, p99 " << at(0.99) << " ms, max "
            << latencies_ms.back() << " ms" << std::endl;
}

}  // namespace
}  // namespace report::testing
