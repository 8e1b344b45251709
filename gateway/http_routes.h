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
#include "absl/strings/string_view.h"
#include "gateway/report_front_door.h"

namespace report::gateway {

struct HttpRequest {
  std::string method;           // "GET", "POST", ...
  std::string target;           // origin-form: path and optional query
  std::string idempotency_key;  // Idempotency-Key header, "" when absent
  std::string body;
  std::string authorization = "";  // Authorization header, "" when absent
};

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // For metrics: the fixed route name and the machine code ("Ok" on success).
  std::string route;
  std::string code;
  // For the access log: the report's request id, when the request named one.
  std::string request_id;
};

// What to do with a request: answer at once, make a (blocking) cluster call on
// a worker thread, which returns the reply, or start a cluster call that
// delivers the reply to a callback (exactly once, on any thread) and holds no
// thread meanwhile (submits). Exactly one of the three is set.
struct HttpRouting {
  using ReplyFn = std::function<void(HttpReply)>;
  std::optional<HttpReply> reply;
  std::function<HttpReply()> cluster_call;
  std::function<void(ReplyFn)> async_call;
  std::string route;
};

// Route names used as metric labels.
inline constexpr char kRouteSubmit[] = "submit";
inline constexpr char kRouteStatus[] = "status";
inline constexpr char kRouteHealth[] = "healthz";
inline constexpr char kRouteMetrics[] = "metrics";
inline constexpr char kRouteUnmatched[] = "unmatched";

// The fixed route name of a target, for requests refused before they are
// routed.
std::string RouteNameOf(absl::string_view target);

// Validates and routes; never touches the cluster itself (the cluster call
// does).
HttpRouting RouteRequest(const ReportFrontDoor* front_door,
                         const HttpRequest& request);

// application/problem+json for `error`. `http_status` overrides the status of
// §7's table for transport-level refusals (405, 413, 431) that share a machine
// code with it.
HttpReply ProblemReply(const absl::Status& error, absl::string_view route,
                       int http_status = 0);

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_HTTP_ROUTES_H_
