#include "gateway/http_server.h"

#include <algorithm>
#include <utility>

namespace report::gateway {

absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const ReportFrontDoor* front_door, HttpServerOptions options,
    ReadinessCheck readiness) {
  options.server_name = "report-gateway";
  // Long polls (bounded by the front door) get threads of their own, so they
  // never take those that quick reads need.
  options.blocking_threads = std::max(1, options.blocking_threads) +
                             std::max(0, front_door->max_long_polls());
  return HttpServer::Start(
      std::make_shared<GatewayHttpHandler>(front_door, std::move(readiness)),
      options);
}

}  // namespace report::gateway
