// The gateway's HTTP/1.1 + JSON front end (docs/API.md): the public API and
// the admin routes (GET /healthz, /readyz, /metrics) on the common HttpServer.
// Every error is application/problem+json with its machine code. Status reads
// that wait (long polls, bounded by the front door's max_long_polls) get
// blocking threads of their own, so they never hold up submits or reads that
// do not wait.
#ifndef REPORT_GATEWAY_HTTP_SERVER_H_
#define REPORT_GATEWAY_HTTP_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "gateway/http_routes.h"
#include "gateway/report_front_door.h"

namespace report::gateway {

// Binds and starts serving (see HttpServer::Start). `front_door` must outlive
// the server; an empty `readiness` reads as always ready.
absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const ReportFrontDoor* front_door, HttpServerOptions options,
    ReadinessCheck readiness = nullptr);

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_HTTP_SERVER_H_
