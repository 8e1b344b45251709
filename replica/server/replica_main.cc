// report-replica: one member of the replicated report log, in one failure
// domain.
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <string>
#include <vector>

#include "boost/program_options.hpp"
#include "common/error_code.h"
#include "common/metrics.h"
#include "common/placement.h"
#include "common/process.h"
#include "common/process_endpoints.h"
#include "common/transport_security.h"
#include "common/validation.h"
#include "glog/logging.h"
#include "replica/server/authorizer.h"
#include "replica/server/grpc_event_loop.h"
#include "replica/server/peer_transport.h"
#include "replica/server/replica.h"
#include "replica/server/replica_metrics.h"
#include "replica/server/replica_service.h"

namespace po = boost::program_options;

namespace {

int Fail(const std::string& line, int code = 1) {
  return report::FailStartup("report-replica", line, code);
}

}  // namespace

int main(int argc, char** argv) {
  report::BlockTerminationSignals();
  report::ReplicaOptions options;
  std::string cluster_path;
  std::string listen;
  std::string admin_listen;
  int max_watch_streams = report::ReplicaServiceImpl::kDefaultMaxWatchStreams;
  report::TlsFlags tls_flags;
  po::options_description flags(
      "report-replica: a replica of the durable report log (fenced-epoch "
      "quorum commit)\n"
      "usage: report-replica --id N --domain P/R/Z --cluster FILE --data-dir "
      "DIR\nflags");
  flags.add_options()("help", "print this help")(
      "id", po::value<uint64_t>(&options.id)->required(),
      "member id in the cluster file")(
      "domain", po::value<std::string>(&options.domain)->required(),
      "failure domain provider/region/zone; must match the member entry")(
      "cluster", po::value<std::string>(&cluster_path)->required(),
      "cluster file (text ClusterConfig: members, addresses, placement)")(
      "data-dir", po::value<std::string>(&options.data_dir)->required(),
      "LevelDB directory for the log and state")(
      "listen", po::value<std::string>(&listen),
      "gRPC listen address (default: the member's grpc_address)")(
      "admin-listen", po::value<std::string>(&admin_listen),
      "HOST:PORT of the plain-HTTP admin routes /healthz, /readyz and "
      "/metrics (default: none)")(
      "tick-ms", po::value<int>(&options.tick_ms)->default_value(50),
      "logical clock tick")(
      "election-ticks",
      po::value<int>(&options.election_ticks)->default_value(10),
      "election timeout in ticks (randomized up to twice this)")(
      "heartbeat-ticks",
      po::value<int>(&options.heartbeat_ticks)->default_value(2),
      "leader heartbeat interval in ticks")(
      "snapshot-entries",
      po::value<uint64_t>(&options.snapshot_entries)->default_value(100000),
      "take a snapshot of the state machine after this many entries applied "
      "since the last one, then compact the log behind it (0: never)")(
      "retain-entries",
      po::value<uint64_t>(&options.retain_entries)->default_value(10000),
      "log entries kept behind the snapshot for followers slightly behind "
      "(one further behind is sent the snapshot)")(
      "max-watch-streams",
      po::value<int>(&max_watch_streams)
          ->default_value(report::ReplicaServiceImpl::kDefaultMaxWatchStreams),
      "WatchCommitted streams open at once; beyond it RESOURCE_EXHAUSTED "
      "Overloaded");
  report::AddTlsFlags(&flags, &tls_flags);
  po::variables_map vars;
  if (auto exit_code = report::ParseDaemonFlags(argc, argv, "report-replica",
                                                flags, &vars)) {
    return *exit_code;
  }
  if (options.id == 0) return Fail("--id must be non-zero", 2);
  if (options.tick_ms < 1 || options.tick_ms > 10000)
    return Fail("--tick-ms out of range", 2);
  if (options.heartbeat_ticks < 1 ||
      options.election_ticks <= options.heartbeat_ticks) {
    return Fail("--election-ticks must exceed --heartbeat-ticks >= 1", 2);
  }
  if (max_watch_streams < 1) return Fail("--max-watch-streams must be >= 1", 2);
  report::HttpServerOptions admin_address;
  if (!admin_listen.empty() &&
      !report::ParseHttpListenAddress(admin_listen, &admin_address)) {
    return Fail("--admin-listen must be HOST:PORT", 2);
  }
  report::InitProcessLogging(argv[0]);

  auto placement = report::Placement::LoadClusterConfigFile(cluster_path);
  if (!placement.ok()) return Fail(std::string(placement.status().message()));
  options.cluster = *placement->cluster();
  const report::Member* self = placement->FindMember(options.id);
  if (self == nullptr) {
    return Fail("no member with --id " + std::to_string(options.id) + " in " +
                cluster_path);
  }
  auto security = report::TransportSecurity::FromFlags(tls_flags, self->name());
  if (!security.ok()) return Fail(std::string(security.status().message()), 2);
  if ((*security)->secure()) {
    // The certificate, not the flag, says who this process is.
    const report::ProcessIdentity& me = (*security)->identity();
    if (me.kind != report::ProcessKind::kReplica || me.name != self->name() ||
        me.domain() != options.domain ||
        me.cluster_id != options.cluster.cluster_id()) {
      return Fail("the certificate names " + me.uri() + ", not replica " +
                  self->name() + " of cluster " + options.cluster.cluster_id() +
                  " in " + options.domain);
    }
  }
  (*security)->LogAtStart("report-replica");
  report::SetPeerChannelCredentials((*security)->ChannelCredentials());
  const report::Authorizer authorizer = (*security)->secure()
                                            ? report::Authorizer(&*placement)
                                            : report::Authorizer::AllowAll();
  // Besides its grpc_address, a replica listens on one port per peer link
  // (cluster.proto PeerLink), so each directed replica-to-replica link can be
  // cut on its own.
  std::vector<std::string> link_addresses;
  for (const report::Member& member : options.cluster.members()) {
    if (member.id() != options.id) continue;
    if (listen.empty()) listen = member.grpc_address();
    for (const report::PeerLink& link : member.peer_links()) {
      link_addresses.push_back(link.address());
    }
  }
  report::metrics::Registry registry;
  report::metrics::AddProcessMetrics(&registry);
  options.metrics = &registry;
  report::InitGrpcServerConventions();
  grpc::ServerBuilder builder;
  report::AddGrpcServerMetrics(&builder, &registry);
  // The driver thread polls this queue: peer streams and SubmitBatch calls
  // are read, stepped and answered on it (replica_service.h).
  std::unique_ptr<grpc::ServerCompletionQueue> cq =
      builder.AddCompletionQueue();
  report::GrpcEventLoop event_loop(cq.get());
  options.event_loop = &event_loop;
  auto replica = report::Replica::Start(options);
  if (!replica.ok()) {
    event_loop.Drain();
    return Fail(std::string(replica.status().message()));
  }
  report::ExportReplicaMetrics(replica->get(), options.cluster, &registry);
  report::ProcessEndpoints::Options endpoint_options;
  endpoint_options.admin_listen = admin_listen;
  endpoint_options.server_name = "report-replica";
  auto endpoints = report::ProcessEndpoints::Start(
      endpoint_options, &registry, [replica = replica->get()] {
        return report::ReplicaReadiness(replica->Status());
      });
  if (!endpoints.ok()) {
    (*replica)->Shutdown();
    event_loop.Drain();
    return Fail(std::string(endpoints.status().message()));
  }

  report::ReplicaServiceImpl replica_service(replica->get(), authorizer,
                                             max_watch_streams);
  report::Peer::AsyncService peer_service;
  report::AsyncCalls async_calls(replica->get(), &replica_service,
                                 &peer_service, cq.get());
  int port = 0;
  const std::shared_ptr<grpc::ServerCredentials> credentials =
      (*security)->ServerCredentials();
  builder.AddListeningPort(listen, credentials, &port);
  std::vector<int> link_ports(link_addresses.size(), 0);
  for (size_t i = 0; i < link_addresses.size(); ++i) {
    builder.AddListeningPort(link_addresses[i], credentials, &link_ports[i]);
  }
  builder.RegisterService(&replica_service);
  builder.RegisterService(&peer_service);
  // The peer transport sends frames of at most this size; a client request is
  // far smaller (docs/API.md#field-limits). A larger message is refused by
  // gRPC with RESOURCE_EXHAUSTED before any handler sees it.
  builder.SetMaxReceiveMessageSize(static_cast<int>(report::kMaxMessageBytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stop = [&] {
    // The admin routes and health first (they read the replica), the replica
    // next (its driver stops polling, pending calls are answered), then the
    // server, whose remaining calls are cancelled after a short grace period,
    // then the queue, which frees every call object.
    (*endpoints)->Stop();
    (*replica)->Shutdown();
    async_calls.StopServing();
    if (server != nullptr) {
      server->Shutdown(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(200));
    }
    event_loop.Drain();
  };
  if (server == nullptr || port == 0) {
    stop();
    return Fail("cannot listen on " + listen);
  }
  for (size_t i = 0; i < link_addresses.size(); ++i) {
    if (link_ports[i] == 0) {
      stop();
      return Fail("cannot listen on peer link " + link_addresses[i]);
    }
  }
  (*endpoints)->FollowWithGrpcHealth(server.get());
  async_calls.Start();
  LOG(INFO) << "report-replica " << options.id << " (" << options.domain
            << ") serving on " << listen
            << (admin_listen.empty() ? "" : ", admin HTTP on ") << admin_listen;
  int signal_number = report::WaitForTerminationSignal(
      [&security] { report::LogCertificateReload(**security); });
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  stop();
  return 0;
}
