// What every process serves besides its own API (docs/OPERATIONS.md): plain
// HTTP admin routes GET /healthz (alive), /readyz (ready to serve, else 503 and
// why) and /metrics (the process's Registry), and, on each of its gRPC servers,
// the standard grpc.health.v1.Health service following the same readiness,
// server reflection and per-method call counts.
//
// Readiness is re-evaluated every `readiness_interval` on a thread of its own
// (a check may make calls to other processes); /readyz, the gRPC health status
// and the report_ready gauge all show the latest result.
#ifndef REPORT_COMMON_PROCESS_ENDPOINTS_H_
#define REPORT_COMMON_PROCESS_ENDPOINTS_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"

namespace grpc {
class Server;
class ServerBuilder;
}  // namespace grpc

namespace report {

// OK when the process can serve, else why not.
using ReadinessCheck = std::function<absl::Status()>;

// Call once in main() before the first grpc::ServerBuilder is made: enables the
// default health service and server reflection for every server built after.
void InitGrpcServerConventions();

// Counts every call `builder`'s server receives in `registry`
// (report_grpc_server_started_total, report_grpc_server_handled_total by
// service, method and status code). `registry` must outlive the server.
void AddGrpcServerMetrics(grpc::ServerBuilder* builder,
                          metrics::Registry* registry);

class ProcessEndpoints {
 public:
  struct Options {
    // "HOST:PORT" of the admin HTTP routes; "" serves none (the gateway puts
    // them on its public HTTP server).
    std::string admin_listen;
    std::string server_name = "report";
    absl::Duration readiness_interval = absl::Milliseconds(500);
  };

  // Declares report_ready in `registry` (which must outlive this), runs the
  // first readiness check, then starts the check loop and the admin server.
  static absl::StatusOr<std::unique_ptr<ProcessEndpoints>> Start(
      const Options& options, metrics::Registry* registry,
      ReadinessCheck readiness);
  ~ProcessEndpoints();  // Stop()
  ProcessEndpoints(const ProcessEndpoints&) = delete;
  ProcessEndpoints& operator=(const ProcessEndpoints&) = delete;

  // The gRPC health status of `server` follows readiness from now on. It must
  // have been built after InitGrpcServerConventions and must outlive this
  // object (or Stop()).
  void FollowWithGrpcHealth(grpc::Server* server);

  // The latest readiness result.
  absl::Status readiness() const;
  // The admin server's port (0 when it serves none).
  uint16_t admin_port() const;

  // Stops the admin server and the check loop; idempotent.
  void Stop();

 private:
  ProcessEndpoints(metrics::Registry* registry, ReadinessCheck readiness,
                   absl::Duration interval);
  void Check();
  void Loop();

  metrics::Registry* const registry_;
  const ReadinessCheck check_;
  const absl::Duration interval_;
  metrics::Gauge* const ready_gauge_;
  std::unique_ptr<HttpServer> admin_;

  mutable absl::Mutex mu_;
  absl::Status readiness_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::Server*> grpc_servers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

}  // namespace report

#endif  // REPORT_COMMON_PROCESS_ENDPOINTS_H_
