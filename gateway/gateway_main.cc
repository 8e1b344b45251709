// report-gateway: the stateless front door in any domain of the cluster (reads
// everywhere, submits and cancels in ingress domains only; docs/API.md).
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <iostream>

#include "boost/program_options.hpp"
#include "common/error_code.h"
#include "common/metrics.h"
#include "common/placement.h"
#include "common/process.h"
#include "common/process_endpoints.h"
#include "common/transport_security.h"
#include "gateway/cluster_backend.h"
#include "gateway/gateway_metrics.h"
#include "gateway/http_server.h"
#include "gateway/report_api_service.h"
#include "gateway/report_front_door.h"
#include "glog/logging.h"

namespace po = boost::program_options;

namespace {

int Fail(const std::string& line, int code = 1) {
  return report::FailStartup("report-gateway", line, code);
}

}  // namespace

int main(int argc, char** argv) {
  report::BlockTerminationSignals();
  std::string domain, cluster_path, http_listen, grpc_listen, name;
  report::TlsFlags tls_flags;
  std::string api_keys_path;
  report::HttpServerOptions http_options;
  report::gateway::FrontDoorOptions front_door_options;
  int submit_timeout_ms = 10000;
  int max_body = 16 * 1024;
  report::SubmitBatcherOptions batching;
  int grpc_max_in_flight = 1024;
  po::options_description flags(
      "report-gateway: HTTP/JSON and gRPC front door of the durable report "
      "API\n"
      "usage: report-gateway --domain P/R/Z --cluster FILE --http-listen "
      "HOST:PORT "
      "--grpc-listen HOST:PORT\nflags");
  flags.add_options()("help", "print this help")(
      "name", po::value<std::string>(&name),
      "this gateway's name in the cluster file (default: the gateway entry "
      "whose grpc_address is --grpc-listen); picks NAME.pem with --tls-dir")(
      "domain", po::value<std::string>(&domain)->required(),
      "this gateway's failure domain; outside the profile's ingress domains "
      "it serves reads and answers submits DomainUnavailable")(
      "cluster", po::value<std::string>(&cluster_path)->required(),
      "cluster file")("http-listen",
                      po::value<std::string>(&http_listen)->required(),
                      "HTTP HOST:PORT")(
      "grpc-listen", po::value<std::string>(&grpc_listen)->required(),
      "gRPC HOST:PORT")(
      "submit-timeout-ms",
      po::value<int>(&submit_timeout_ms)->default_value(10000),
      "how long a submit waits for its commit before answering CommitUnknown")(
      "max-body-bytes", po::value<int>(&max_body)->default_value(16 * 1024),
      "largest accepted request body")(
      "max-in-flight",
      po::value<int>(&http_options.max_in_flight)->default_value(1024),
      "cluster calls queued or running before new ones are refused")(
      "io-threads", po::value<int>(&http_options.io_threads)->default_value(2),
      "HTTP I/O threads")("batch-senders",
                          po::value<int>(&batching.senders)->default_value(1),
                          "SubmitBatch calls to the leader in flight at once")(
      "max-batch", po::value<int>(&batching.max_batch)->default_value(512),
      "most submits one SubmitBatch call carries (1..1024)")(
      "max-connections",
      po::value<int>(&http_options.max_connections)->default_value(4096),
      "open HTTP connections; beyond it a request is answered 429 Overloaded")(
      "max-long-polls",
      po::value<int>(&front_door_options.max_long_polls)->default_value(128),
      "status reads with wait_ms > 0 in progress (HTTP and gRPC together); "
      "beyond it 429 / RESOURCE_EXHAUSTED Overloaded")(
      "grpc-max-in-flight",
      po::value<int>(&grpc_max_in_flight)->default_value(1024),
      "gRPC SubmitReport and GetReport calls in progress; beyond it "
      "RESOURCE_EXHAUSTED Overloaded")(
      "max-queued-submits",
      po::value<int>(&batching.max_queued)->default_value(4096),
      "submits waiting for a SubmitBatch call; beyond it Overloaded")(
      "access-log", po::bool_switch(&http_options.access_log),
      "log one event=http_access line per answered HTTP request (method, "
      "route, status, code, latency, request id)");
  report::AddTlsFlags(&flags, &tls_flags);
  flags.add_options()(
      "api-keys", po::value<std::string>(&api_keys_path),
      "text ApiKeyFile (proto/report_api.proto): SHA-256 of each key and the "
      "accounts it may use; every report call then needs Authorization: "
      "Bearer KEY (docs/API.md#api-keys)")(
      "http-tls-cert", po::value<std::string>(&http_options.tls_cert_path),
      "serve the public HTTP API as HTTPS with this PEM certificate (chain); "
      "re-read on SIGHUP")("http-tls-key",
                           po::value<std::string>(&http_options.tls_key_path),
                           "the PEM key of --http-tls-cert");
  po::variables_map vars;
  if (auto exit_code = report::ParseDaemonFlags(argc, argv, "report-gateway",
                                                flags, &vars)) {
    return *exit_code;
  }
  if (!report::ParseHttpListenAddress(http_listen, &http_options)) {
    return Fail("--http-listen must be HOST:PORT", 2);
  }
  if (submit_timeout_ms < 1 || max_body < 64 ||
      http_options.max_in_flight < 1 || http_options.io_threads < 1 ||
      http_options.io_threads > 64 || batching.senders < 1 ||
      batching.senders > 64 || batching.max_batch < 1 ||
      batching.max_batch > 1024 || http_options.max_connections < 1 ||
      front_door_options.max_long_polls < 1 ||
      front_door_options.max_long_polls > 4096 || grpc_max_in_flight < 1 ||
      batching.max_queued < 1) {
    return Fail("a limit flag is out of range", 2);
  }
  if (http_options.tls_cert_path.empty() != http_options.tls_key_path.empty()) {
    return Fail("--http-tls-cert and --http-tls-key go together", 2);
  }
  http_options.max_body_bytes = static_cast<size_t>(max_body);
  report::InitProcessLogging(argv[0]);
  // Every HTTP connection is a file descriptor: a soft limit of 1024 would
  // refuse connections far below --max-connections.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur <
          static_cast<rlim_t>(http_options.max_connections) + 256) {
    LOG(WARNING) << "open-file limit " << files.rlim_cur
                 << " is below --max-connections "
                 << http_options.max_connections
                 << " + 256; raise it (ulimit -n) to serve that many";
  }

  auto placement = report::Placement::LoadClusterConfigFile(cluster_path);
  if (!placement.ok()) return Fail(std::string(placement.status().message()));
  // Placement is authorization: a gateway outside the ingress set serves reads
  // and answers every submit DomainUnavailable (the front door asks the
  // placement for each one, and so do the replicas).
  const bool read_only = !placement->CheckIngress(domain).ok();
  const report::ClusterConfig cluster = *placement->cluster();
  if (name.empty()) {
    for (const report::GatewayEndpoint& gateway : cluster.gateways()) {
      if (gateway.grpc_address() == grpc_listen) name = gateway.name();
    }
  }
  if (name.empty()) name = "gateway";
  auto security = report::TransportSecurity::FromFlags(tls_flags, name);
  if (!security.ok()) return Fail(std::string(security.status().message()), 2);
  if ((*security)->secure()) {
    // The certificate, not the flag, says where this gateway is.
    const report::ProcessIdentity& me = (*security)->identity();
    if (me.kind != report::ProcessKind::kGateway || me.domain() != domain ||
        me.cluster_id != cluster.cluster_id()) {
      return Fail("the certificate names " + me.uri() +
                  ", not a gateway of cluster " + cluster.cluster_id() +
                  " in " + domain);
    }
  }
  (*security)->LogAtStart("report-gateway");
  if (!api_keys_path.empty()) {
    auto keys = report::gateway::ApiKeys::LoadFile(api_keys_path);
    if (!keys.ok()) return Fail(std::string(keys.status().message()), 2);
    front_door_options.api_keys = *keys;
    LOG(INFO) << "API keys required: " << (*keys)->size() << " key(s) from "
              << api_keys_path;
  }
  report::metrics::Registry registry;
  report::metrics::AddProcessMetrics(&registry);
  report::gateway::GatewayMetrics metrics(&registry);
  report::gateway::ClusterBackend backend(cluster, domain, &metrics, batching,
                                          (*security)->ChannelCredentials());
  front_door_options.domain = domain;
  // Reports are read where the workers store them: the sink of the cluster
  // file (docs/API.md, "GET /reports/{id}/content").
  if (!cluster.sink().directory().empty()) {
    front_door_options.report_store =
        std::make_shared<report::gateway::FileReportStore>(
            cluster.sink().directory());
  }
  front_door_options.submit_timeout = absl::Milliseconds(submit_timeout_ms);
  // On SIGTERM every submit in progress is answered before its connection
  // closes: by then its commit is confirmed or it has timed out.
  http_options.drain_timeout =
      front_door_options.submit_timeout + absl::Seconds(2);
  const report::Placement& checked = *placement;
  report::gateway::ReportFrontDoor front_door(
      &backend, [&checked, domain] { return checked.CheckIngress(domain); },
      &metrics, front_door_options);

  // Ready when a submit can reach a quorum: a replica answers that it leads.
  auto endpoints = report::ProcessEndpoints::Start({}, &registry, [&backend] {
    return backend.CheckLeaderReachable(absl::Milliseconds(300));
  });
  if (!endpoints.ok()) return Fail(std::string(endpoints.status().message()));
  auto http = report::gateway::StartHttpServer(
      &front_door, http_options,
      [endpoints = endpoints->get()] { return endpoints->readiness(); });
  if (!http.ok()) return Fail(std::string(http.status().message()));
  report::gateway::ReportApiService api_service(&front_door,
                                                grpc_max_in_flight);
  report::InitGrpcServerConventions();
  grpc::ServerBuilder builder;
  report::AddGrpcServerMetrics(&builder, &registry);
  int port = 0;
  builder.AddListeningPort(grpc_listen, (*security)->ServerCredentials(),
                           &port);
  builder.RegisterService(&api_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0)
    return Fail("cannot listen on " + grpc_listen);
  (*endpoints)->FollowWithGrpcHealth(server.get());
  LOG(INFO) << "report-gateway (" << domain << ") "
            << (http_options.tls_cert_path.empty() ? "http " : "https ")
            << http_listen << " grpc " << grpc_listen
            << (read_only ? "; read-only: " + domain +
                                " is not an ingress domain, submits are "
                                "answered DomainUnavailable"
                          : "");
  const bool https = !http_options.tls_cert_path.empty();
  int signal_number =
      report::WaitForTerminationSignal([&security, &http, https] {
        report::LogCertificateReload(**security);
        if (!https) return;
        absl::StatusOr<std::string> reloaded = (*http)->ReloadTls();
        if (reloaded.ok()) {
          LOG(INFO) << "SIGHUP: " << *reloaded;
        } else {
          LOG(ERROR) << "SIGHUP: keeping the old HTTPS certificate: "
                     << reloaded.status().message();
        }
      });
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  // HTTP drains first (no new connections; requests in progress answered);
  // gRPC keeps serving meanwhile.
  (*http)->Stop();
  (*endpoints)->Stop();
  // Every gRPC submit still waiting gets its answer (or NoQuorum if it was not
  // sent) while the server and its reactors still exist.
  backend.Stop();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(500));
  LOG(INFO) << "report-gateway stopped";
  return 0;
}
