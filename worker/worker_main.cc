// report-worker: completes accepted report requests in one worker domain
// (docs/EFFECTS.md, docs/OPERATIONS.md).
#include <glog/logging.h>
#include <google/protobuf/text_format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/placement.h"
#include "common/process_endpoints.h"
#include "common/transport_security.h"
#include "common/validation.h"
#include "common/version.h"
#include "proto/cluster.pb.h"
#include "worker/cluster_effect_ledger.h"
#include "worker/effect_ledger.h"
#include "worker/report_sink.h"
#include "worker/worker.h"

namespace report {
namespace {

namespace po = boost::program_options;

struct WorkerFlags {
  WorkerOptions options;
  std::string cluster_path;
  std::string sink_dir;
  std::string sink_name;
  std::string admin_listen;
  TlsFlags tls;
};

// Exit code for bad flags or configuration (one clear line on stderr).
constexpr int kUsageExit = 2;

absl::StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path) {
  auto placement = Placement::LoadClusterConfigFile(path);
  if (!placement.ok()) return placement.status();
  return *placement->cluster();
}

// The cluster's sink, checked against the worker's optional --sink-dir and
// --sink-name: two workers with different sinks would write two files for one
// request after a lease takeover, so a mismatch refuses to start.
absl::StatusOr<SinkConfig> ClusterSink(const ClusterConfig& config,
                                       const WorkerFlags& flags) {
  const SinkConfig& sink = config.sink();
  auto invalid = [&](absl::string_view message) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat(message, " (cluster file ", flags.cluster_path, ")"));
  };
  if (sink.name().empty() || sink.directory().empty()) {
    return invalid(
        "the cluster has no sink { name directory }: every worker of a "
        "cluster writes to the cluster's one sink");
  }
  if (absl::StrContains(sink.name(), ":"))
    return invalid("sink.name must contain no ':'");
  if (sink.directory()[0] != '/')
    return invalid("sink.directory must be an absolute path");
  // Every effect key ("<name>:<request id>") and location (file:// URI of a
  // file in the directory) must fit the replicas' field limits, or every
  // Reserve and Complete of this worker would be refused.
  if (sink.name().size() + 1 + kMaxIdLength > kMaxEffectKeyLength) {
    return invalid(absl::StrCat("sink.name is ", sink.name().size(),
                                " bytes; at most ",
                                kMaxEffectKeyLength - 1 - kMaxIdLength,
                                " so every effect key fits its limit"));
  }
  if (sink.directory().size() > kMaxSinkDirectoryLength) {
    return invalid(absl::StrCat("sink.directory is ", sink.directory().size(),
                                " bytes; at most ", kMaxSinkDirectoryLength,
                                " so every report location fits its limit"));
  }
  if (!flags.sink_name.empty() && flags.sink_name != sink.name()) {
    return invalid(absl::StrCat("--sink-name '", flags.sink_name,
                                "' does not match the cluster's sink.name '",
                                sink.name(), "'"));
  }
  if (!flags.sink_dir.empty()) {
    // The same directory under another spelling is fine (symlinks, "/.",
    // trailing '/'), whether or not it exists yet.
    auto resolved = [](const std::string& path) {
      std::error_code error;
      std::string result =
          std::filesystem::weakly_canonical(path, error).string();
      if (error) result = std::filesystem::path(path).lexically_normal();
      while (result.size() > 1 && result.back() == '/') result.pop_back();
      return result;
    };
    if (resolved(flags.sink_dir) != resolved(sink.directory())) {
      return invalid(absl::StrCat("--sink-dir '", flags.sink_dir,
                                  "' does not match the cluster's "
                                  "sink.directory '",
                                  sink.directory(), "'"));
    }
  }
  return sink;
}

// The worker's own half of placement (the replicas enforce it too): fail
// closed, never look for another domain.
absl::Status CheckWorkerPlacement(const ClusterConfig& config,
                                  const std::string& domain) {
  auto placement = Placement::FromClusterConfig(config);
  if (!placement.ok()) return placement.status();
  return placement->CheckWorker(domain);
}

absl::StatusOr<std::unique_ptr<ClusterEffectLedger>> MakeLedger(
    const ClusterConfig& config, const std::string& domain,
    const TransportSecurity& security) {
  return std::make_unique<ClusterEffectLedger>(config, domain, absl::Seconds(5),
                                               security.ChannelCredentials());
}

// The certificate, not the flags, says who this worker is: a worker whose
// --domain (or cluster) differs from its certificate's refuses to start.
absl::Status CheckIdentity(const TransportSecurity& security,
                           const ClusterConfig& config,
                           const std::string& domain) {
  if (!security.secure()) return absl::OkStatus();
  const ProcessIdentity& me = security.identity();
  if (me.kind != ProcessKind::kWorker || me.domain() != domain ||
      me.cluster_id != config.cluster_id()) {
    return MakeError(ErrorCode::kDomainUnavailable,
                     absl::StrCat("the certificate names ", me.uri(),
                                  ", not a worker of cluster ",
                                  config.cluster_id(), " in ", domain));
  }
  return absl::OkStatus();
}

// Parses and validates the flags; returns an exit code when the process should
// end now.
std::optional<int> ParseFlags(int argc, char** argv, WorkerFlags* flags) {
  WorkerOptions& o = flags->options;
  int64_t lease_ms = 0, work_ms = 0, retry_backoff_ms = 0;
  int64_t max_attempts = 0, concurrency = 0, fail_every = 0;
  po::options_description desc(
      "report-worker: follows the committed log and completes accepted report "
      "requests "
      "exactly once.\nOptions");
  desc.add_options()("help", "print this help")(
      "id", po::value<std::string>(&o.worker_id),
      "worker id, unique in the cluster (default: worker-<hostname>-<pid>)")(
      "domain", po::value<std::string>(&o.worker_domain),
      "failure domain provider/region/zone (required; must be a placement "
      "worker domain)")("cluster", po::value<std::string>(&flags->cluster_path),
                        "cluster file (ClusterConfig text proto) (required)")(
      "sink-dir", po::value<std::string>(&flags->sink_dir),
      "optional check: must name the cluster file's sink.directory (the "
      "worker refuses to start otherwise)")(
      "sink-name", po::value<std::string>(&flags->sink_name),
      "optional check: must equal the cluster file's sink.name")(
      "admin-listen", po::value<std::string>(&flags->admin_listen),
      "HOST:PORT of the plain-HTTP admin routes /healthz, /readyz and "
      "/metrics (default: none)")(
      "work-ms", po::value<int64_t>(&work_ms)->default_value(0),
      "extra time spent generating each report (simulated long-running work)")(
      "lease-ms", po::value<int64_t>(&lease_ms)->default_value(5000),
      "effect lease; extended every lease/3 while working")(
      "max-attempts", po::value<int64_t>(&max_attempts)->default_value(3),
      "attempts before a request ends FAILED")(
      "concurrency", po::value<int64_t>(&concurrency)->default_value(2),
      "requests worked on at once")(
      "retry-backoff-ms",
      po::value<int64_t>(&retry_backoff_ms)->default_value(500),
      "delay before retrying a failed request, doubled per attempt")(
      "fail-request-prefix", po::value<std::string>(&o.fail_request_prefix),
      "fault knob: requests whose id starts with this always fail in the work")(
      "fail-every", po::value<int64_t>(&fail_every)->default_value(0),
      "fault knob: every Nth generation attempt fails (0: never)")(
      "crash-after-sink-write", po::bool_switch(&o.crash_after_sink_write),
      "fault knob: exit at once (status 86) after a report is written to "
      "the sink and before it is completed")(
      "crash-request-prefix", po::value<std::string>(&o.crash_request_prefix),
      "fault knob: exit at once (status 87) when granted a request whose id "
      "starts with this, before writing anything");
  AddTlsFlags(&desc, &flags->tls);
  if (report::PrintVersionIfAsked(argc, argv, "report-worker")) return 0;
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "report-worker: " << e.what() << "\n";
    return kUsageExit;
  }
  if (vm.count("help")) {
    std::cout << desc << "  --version             print the version and exit\n";
    return 0;
  }
  auto bad = [](const std::string& message) {
    std::cerr << "report-worker: InvalidArgument: " << message << "\n";
    return std::optional<int>(kUsageExit);
  };
  if (o.worker_domain.empty()) return bad("--domain is required");
  // The same rule as every domain of the cluster file (common/placement.h).
  if (absl::StatusOr<FailureDomain> parsed =
          ParseFailureDomain(o.worker_domain);
      !parsed.ok()) {
    return bad("--domain must be provider/region/zone: " +
               ErrorDetail(parsed.status()));
  }
  if (flags->cluster_path.empty()) return bad("--cluster is required");
  if (vm.count("sink-dir") && flags->sink_dir.empty())
    return bad("--sink-dir must not be empty");
  if (vm.count("sink-name") && flags->sink_name.empty())
    return bad("--sink-name must not be empty");
  if (vm.count("id") &&
      (o.worker_id.empty() || absl::StrContains(o.worker_id, "#") ||
       o.worker_id.size() > kMaxWorkerIdLength - kIncarnationSuffixLength)) {
    // '#' separates the id from the process incarnation in lease holders,
    // which must fit the replicas' worker id limit.
    return bad(absl::StrCat("--id must be 1..",
                            kMaxWorkerIdLength - kIncarnationSuffixLength,
                            " bytes and contain no '#'"));
  }
  HttpServerOptions admin_address;
  if (!flags->admin_listen.empty() &&
      !ParseHttpListenAddress(flags->admin_listen, &admin_address)) {
    return bad("--admin-listen must be HOST:PORT");
  }
  if (work_ms < 0 || work_ms > 3600 * 1000)
    return bad("--work-ms must be in [0, 3600000]");
  if (lease_ms < 100 || lease_ms > 3600 * 1000) {
    return bad("--lease-ms must be in [100, 3600000]");
  }
  if (max_attempts < 1 || max_attempts > 1000)
    return bad("--max-attempts must be in [1, 1000]");
  if (concurrency < 1 || concurrency > 256)
    return bad("--concurrency must be in [1, 256]");
  if (retry_backoff_ms < 1 || retry_backoff_ms > 3600 * 1000) {
    return bad("--retry-backoff-ms must be in [1, 3600000]");
  }
  if (fail_every < 0) return bad("--fail-every must be >= 0");
  if (o.worker_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    o.worker_id = absl::StrCat("worker-", host, "-", getpid());
  }
  o.work_time = std::chrono::milliseconds(work_ms);
  o.lease = std::chrono::milliseconds(lease_ms);
  o.max_attempts = static_cast<uint32_t>(max_attempts);
  o.concurrency = static_cast<int>(concurrency);
  o.retry_backoff = std::chrono::milliseconds(retry_backoff_ms);
  o.fail_every = static_cast<uint32_t>(fail_every);
  return std::nullopt;
}

int Main(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by one owned thread through sigwait, so no handler
  // runs on an arbitrary thread; it asks the worker to stop, and is woken by us
  // if the worker ends first. Blocked before any thread (gRPC's included)
  // exists, so all inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  WorkerFlags flags;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, &flags))
    return *exit_code;
  auto fail = [](const absl::Status& status) {
    std::cerr << "report-worker: " << status.message() << "\n";
    return ErrorCodeOf(status) == ErrorCode::kInvalidArgument ? kUsageExit : 1;
  };
  absl::StatusOr<ClusterConfig> config = LoadClusterConfig(flags.cluster_path);
  if (!config.ok()) return fail(config.status());
  if (absl::Status placed =
          CheckWorkerPlacement(*config, flags.options.worker_domain);
      !placed.ok()) {
    return fail(placed);
  }
  absl::StatusOr<SinkConfig> sink_config = ClusterSink(*config, flags);
  if (!sink_config.ok()) return fail(sink_config.status());
  absl::StatusOr<std::unique_ptr<DirectoryReportSink>> sink =
      DirectoryReportSink::Open(sink_config->directory(), sink_config->name());
  if (!sink.ok()) return fail(sink.status());
  // One live process per worker id; this process's leases are held as
  // "<id>#<incarnation>", so a restart is a new holder.
  flags.options.incarnation = NewIncarnation();
  if (absl::Status claimed = (*sink)->ClaimWriter(flags.options.worker_id,
                                                  flags.options.incarnation);
      !claimed.ok()) {
    return fail(claimed);
  }
  absl::StatusOr<std::shared_ptr<const TransportSecurity>> security =
      TransportSecurity::FromFlags(flags.tls, flags.options.worker_id);
  if (!security.ok()) {
    std::cerr << "report-worker: " << security.status().message() << "\n";
    return kUsageExit;
  }
  if (absl::Status mine =
          CheckIdentity(**security, *config, flags.options.worker_domain);
      !mine.ok()) {
    return fail(mine);
  }
  (*security)->LogAtStart("report-worker");
  absl::StatusOr<std::unique_ptr<ClusterEffectLedger>> ledger =
      MakeLedger(*config, flags.options.worker_domain, **security);
  if (!ledger.ok()) return fail(ledger.status());

  metrics::Registry registry;
  metrics::AddProcessMetrics(&registry);
  Worker worker(flags.options, ledger->get(), sink->get());
  ExportWorkerMetrics(&worker, &registry);
  ProcessEndpoints::Options endpoint_options;
  endpoint_options.admin_listen = flags.admin_listen;
  endpoint_options.server_name = "report-worker";
  // Ready while a replica has accepted the watch stream: the worker then sees
  // new work as it is committed.
  auto endpoints = ProcessEndpoints::Start(
      endpoint_options, &registry,
      [cluster_ledger = ledger->get()]() -> absl::Status {
        if (cluster_ledger->watching()) return absl::OkStatus();
        return MakeError(ErrorCode::kNoQuorum, "no watch stream is open");
      });
  if (!endpoints.ok()) return fail(endpoints.status());
  std::thread signal_thread([&] {
    int signal_number = 0;
    while (sigwait(&signals, &signal_number) != 0 || signal_number == SIGHUP) {
      if (signal_number == SIGHUP) LogCertificateReload(**security);
      signal_number = 0;
    }
    LOG(INFO) << "signal " << signal_number << ": stopping";
    worker.RequestStop();
  });
  LOG(INFO) << "report-worker " << worker.holder_id() << " in "
            << flags.options.worker_domain << ", sink " << (*sink)->name()
            << " at " << (*sink)->directory();
  absl::Status status = worker.Run();
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  (*endpoints)->Stop();
  if (!status.ok()) return fail(status);
  return 0;
}

}  // namespace
}  // namespace report

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  return report::Main(argc, argv);
}
