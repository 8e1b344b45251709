// The HTTP/JSON mapping of the public API, free of any HTTP library: a parsed
// request goes in, and either its reply or the cluster call that will produce
// it comes out. The server (http_server.cc) owns sockets and threads; this owns
// routes, JSON and problem bodies.
#ifndef REPORT_GATEWAY_HTTP_ROUTES_H_
#define REPORT_GATEWAY_HTTP_ROUTES_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http_server.h"
#include "gateway/report_front_door.h"

namespace report::gateway {

// Route names used as metric labels.
inline constexpr char kRouteSubmit[] = "submit";
inline constexpr char kRouteStatus[] = "status";
inline constexpr char kRouteList[] = "list";
inline constexpr char kRouteCancel[] = "cancel";
inline constexpr char kRouteContent[] = "content";
inline constexpr char kRouteHealth[] = "healthz";
inline constexpr char kRouteReady[] = "readyz";
inline constexpr char kRouteMetrics[] = "metrics";
inline constexpr char kRouteOpenApi[] = "openapi";
inline constexpr char kRouteUnmatched[] = "unmatched";

// The fixed route name of a target, for requests refused before they are
// routed.
std::string RouteNameOf(absl::string_view target);
// The route a request takes: as above, except that GET and HEAD of /reports
// list an account's reports.
std::string RouteNameOf(absl::string_view method, absl::string_view target);

// application/problem+json for `error`. `http_status` overrides the status of
// the error table for transport-level refusals (405, 413, 415, 431) that share
// a machine code with it. `instance` (RFC 9457) is the request's path.
HttpReply ProblemReply(const absl::Status& error, absl::string_view route,
                       int http_status = 0, absl::string_view instance = {});

// The value of an Idempotency-Key header: an RFC 8941 sf-string ("\"key\"",
// the IETF draft's form) or, for older clients, a bare key. InvalidArgument
// for anything else.
absl::StatusOr<std::string> ParseIdempotencyKey(absl::string_view header);

// Whether an If-None-Match value matches `etag` (weak comparison, RFC 9110
// 13.1.2): "*" or a listed tag equal to it once "W/" is set aside.
bool IfNoneMatchMatches(absl::string_view if_none_match,
                        absl::string_view etag);

// Whether the gateway can serve: OK, or why not (GET /readyz answers 503 with
// it).
using ReadinessCheck = std::function<absl::Status()>;

// Validates and routes; never touches the cluster itself (the cluster call
// does). An empty `readiness` reads as ready.
HttpRouting RouteRequest(const ReportFrontDoor* front_door,
                         const HttpRequest& request,
                         const ReadinessCheck& readiness = nullptr);

// The public API and the admin routes, for HttpServer; counts every reply in
// the front door's metrics.
class GatewayHttpHandler : public HttpHandler {
 public:
  // `front_door` must outlive the handler.
  GatewayHttpHandler(const ReportFrontDoor* front_door,
                     ReadinessCheck readiness)
      : front_door_(front_door), readiness_(std::move(readiness)) {}
  HttpRouting Route(const HttpRequest& request) const override {
    return RouteRequest(front_door_, request, readiness_);
  }
  HttpReply Refusal(const absl::Status& error, absl::string_view target,
                    int http_status) const override {
    return ProblemReply(error,
                        target.empty() ? kRouteUnmatched : RouteNameOf(target),
                        http_status, target.substr(0, target.find('?')));
  }
  void OnReply(const HttpReply& reply) const override;
  void AddInFlight(int delta) const override;

 private:
  const ReportFrontDoor* const front_door_;
  const ReadinessCheck readiness_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_HTTP_ROUTES_H_
