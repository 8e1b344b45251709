// A real local cluster for integration tests, started and stopped the way a
// user does it: through deploy/cluster.sh, in a temporary directory that is
// wiped afterwards (even when the test fails). Processes are real; faults are
// real signals to recorded pids.
#ifndef REPORT_TESTS_LOCAL_CLUSTER_H_
#define REPORT_TESTS_LOCAL_CLUSTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cluster_client.h"
#include "proto/cluster.pb.h"

namespace report::testing {

struct ProcessInfo {
  std::string name;
  std::string kind;  // replica | gateway | worker
  std::string domain;
  std::string grpc_address;
  std::string http_address;
  int pid = 0;  // 0 when not running
};

// Runs a shell command, returning its exit code; output goes to `output` when
// given.
int RunCommand(const std::string& command, std::string* output = nullptr);

// Polls `condition` every 20 ms: true as soon as it holds, false if it still
// does not once `timeout` has passed.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

class LocalCluster {
 public:
  // `profile` is a profile name or path; `extra_up_args` are appended to
  // `cluster.sh up`.
  LocalCluster(std::string profile, std::string extra_up_args = "");
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Starts the cluster; false (with the script's output in *error) when `up`
  // failed.
  bool Up(std::string* error);
  // Continues any SIGSTOPped process, stops them all (cluster.sh down) and
  // wipes the directory; the destructor calls it, so it runs on failure too.
  void Down();

  // deploy/cluster.sh VERB ARGS --dir DIR; returns the exit code.
  int Script(const std::string& verb_and_args,
             std::string* output = nullptr) const;

  std::vector<ProcessInfo> Processes() const;
  ProcessInfo Process(const std::string& name) const;
  void Kill(const std::string& name, const std::string& signal = "KILL") const;
  void Start(const std::string& name) const;

  const std::string& dir() const { return dir_; }
  const ClusterConfig& config() const { return config_; }
  // A cluster client acting as the first gateway (its certificate: the
  // identity replicas take submits from); reads work as any identity.
  ClusterClient& client() { return *client_; }
  // The credentials client() presents, for more clients of the same kind.
  std::shared_ptr<grpc::ChannelCredentials> client_credentials() const {
    return client_credentials_;
  }
  // DIR/tls: the cluster CA and every certificate (up without --insecure).
  std::string tls_dir() const { return dir_ + "/tls"; }
  // The flags a process started by hand needs to join: "--tls-dir DIR/tls",
  // or "--insecure" for a plaintext cluster.
  std::string TlsArgs() const;
  // Channel credentials of the operator (what reportctl uses): mutual TLS
  // unless the cluster is plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials() const {
    return credentials_;
  }
  // Credentials of any certificate in tls_dir() (NAME.pem/NAME.key), e.g. one
  // issued with Script("cert NAME ...").
  std::shared_ptr<grpc::ChannelCredentials> CredentialsOf(
      const std::string& name) const;
  // Credentials of a certificate for NAME with this kind and domain, issued
  // from the cluster CA (cluster.sh cert) unless it exists; plaintext for a
  // plaintext cluster.
  std::shared_ptr<grpc::ChannelCredentials> CredentialsAs(
      const std::string& name, const std::string& kind,
      const std::string& domain) const;
  // A worker's credentials in `domain` (name "test-worker-" + a digest of the
  // domain): what a test calling the effect protocol directly presents.
  std::shared_ptr<grpc::ChannelCredentials> WorkerCredentials(
      const std::string& domain) const;

  // Waits until some live replica reports itself leader; returns its member
  // name.
  absl::StatusOr<std::string> WaitForLeader(absl::Duration timeout);
  // Waits until every running replica has applied at least `offset` and all
  // report the same state digest there; returns the digest.
  absl::StatusOr<std::string> WaitForConvergence(uint64_t offset,
                                                 absl::Duration timeout);

 private:
  std::string profile_;
  std::string extra_up_args_;
  std::string dir_;
  bool up_ = false;
  ClusterConfig config_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::shared_ptr<grpc::ChannelCredentials> client_credentials_;
  std::unique_ptr<ClusterClient> client_;
};

// Paths baked in at build time.
std::string BinDir();
std::string SourceDir();

}  // namespace report::testing

#endif  // REPORT_TESTS_LOCAL_CLUSTER_H_
