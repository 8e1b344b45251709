#include "gateway/http_routes.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/hex.h"

namespace report::gateway {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kProblemJson[] = "application/problem+json";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kProblemTypePrefix[] = "https://report.example/problems/";
constexpr char kReportsPath[] = "/reports";
constexpr char kReportPathPrefix[] = "/reports/";

// Field names as in the .proto (request_id, not requestId), zero values
// printed too ("duplicate": false): clients see every documented field.
std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options)
           .ok()) {
    return "{}";
  }
  out.push_back('\n');
  return out;
}

HttpReply JsonReply(int status, const google::protobuf::Message& message,
                    absl::string_view route) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = kJson;
  reply.body = ToJson(message);
  reply.route = std::string(route);
  reply.code = std::string(ErrorCodeName(ErrorCode::kOk));
  return reply;
}

HttpReply InvalidArgument(absl::string_view detail, absl::string_view route,
                          int http_status = 0) {
  return ProblemReply(MakeError(ErrorCode::kInvalidArgument, detail), route,
                      http_status);
}

HttpReply MethodNotAllowed(absl::string_view method, absl::string_view path,
                           absl::string_view allow, absl::string_view route) {
  HttpReply reply =
      InvalidArgument(absl::StrCat("method ", method, " is not allowed on ",
                                   path, "; use ", allow),
                      route, 405);
  reply.headers.emplace_back("Allow", std::string(allow));
  return reply;
}

// A problem's detail may echo what the client sent (a method, a path, a query
// parameter name), and HTTP parsers pass bytes >= 0x80 in targets; a JSON body
// must be UTF-8, so every byte outside printable ASCII is shown as \xHH.
std::string PrintableDetail(absl::string_view detail) {
  return EscapeUnprintable(detail);
}

// Decodes %XX escapes; false on a malformed escape. '+' is not a space in a
// path.
bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
        !absl::ascii_isxdigit(in[i + 2])) {
      return false;
    }
    auto hex = [](char c) {
      return absl::ascii_isdigit(c) ? c - '0'
                                    : absl::ascii_tolower(c) - 'a' + 10;
    };
    out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
    i += 2;
  }
  return true;
}

// An unsigned decimal that fits in uint64 (no sign, no spaces, no hex).
bool ParseUnsigned(absl::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return absl::SimpleAtoi(text, value);
}

HttpReply ReceiptReply(const absl::StatusOr<report::Receipt>& receipt) {
  if (!receipt.ok()) return ProblemReply(receipt.status(), kRouteSubmit);
  if (receipt->duplicate()) return JsonReply(200, *receipt, kRouteSubmit);
  HttpReply reply = JsonReply(202, *receipt, kRouteSubmit);
  reply.headers.emplace_back("Location", receipt->status_path());
  return reply;
}

HttpRouting Answer(HttpReply reply) {
  HttpRouting routing;
  routing.route = reply.route;
  routing.reply = std::move(reply);
  return routing;
}

HttpRouting RouteSubmit(const ReportFrontDoor* front_door,
                        const HttpRequest& request) {
  report::api::SubmitReportRequest submit;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(request.body, &submit,
                                                  options);
  if (!parsed.ok()) {
    return Answer(InvalidArgument(
        absl::StrCat(
            "body must be a JSON object {\"request_id\", \"account_id\", "
            "\"month\"}: ",
            std::string(parsed.message())),
        kRouteSubmit));
  }
  if (!request.idempotency_key.empty()) {
    if (submit.request_id().empty()) {
      submit.set_request_id(request.idempotency_key);
    } else if (submit.request_id() != request.idempotency_key) {
      return Answer(InvalidArgument(
          "Idempotency-Key header and request_id differ", kRouteSubmit));
    }
  }
  if (absl::Status admitted = front_door->Admit(submit, request.authorization);
      !admitted.ok()) {
    return Answer(ProblemReply(admitted, kRouteSubmit));
  }
  HttpRouting routing;
  routing.route = kRouteSubmit;
  routing.async_call = [front_door, submit = std::move(submit),
                        authorization =
                            request.authorization](HttpRouting::ReplyFn done) {
    front_door->SubmitAsync(
        submit,
        [done = std::move(done),
         id = submit.request_id()](absl::StatusOr<report::Receipt> receipt) {
          HttpReply reply = ReceiptReply(receipt);
          reply.request_id = id;
          done(std::move(reply));
        },
        authorization);
  };
  return routing;
}

HttpRouting RouteStatus(const ReportFrontDoor* front_door,
                        absl::string_view escaped_id, absl::string_view query,
                        const std::string& authorization) {
  report::api::GetReportRequest get;
  if (!PercentDecode(escaped_id, get.mutable_request_id())) {
    return Answer(InvalidArgument("malformed percent-encoding in request id",
                                  kRouteStatus));
  }
  if (absl::Status s = ReportFrontDoor::ValidateRequestId(get.request_id());
      !s.ok()) {
    return Answer(ProblemReply(s, kRouteStatus));
  }
  bool seen_min_offset = false;
  bool seen_wait = false;
  for (absl::string_view param :
       absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    uint64_t value = 0;
    if (!ParseUnsigned(kv.second, &value)) {
      return Answer(
          InvalidArgument(absl::StrCat("query parameter ", kv.first,
                                       " must be an unsigned decimal integer"),
                          kRouteStatus));
    }
    if (kv.first == "min_offset" && !seen_min_offset) {
      seen_min_offset = true;
      get.set_min_offset(value);
    } else if (kv.first == "wait_ms" && !seen_wait) {
      seen_wait = true;
      get.set_wait_ms(value);
    } else {
      return Answer(InvalidArgument(
          absl::StrCat("unknown or repeated query parameter ", kv.first,
                       "; allowed: min_offset, wait_ms"),
          kRouteStatus));
    }
  }
  HttpRouting routing;
  routing.route = kRouteStatus;
  routing.cluster_call = [front_door, get = std::move(get), authorization] {
    absl::StatusOr<report::api::ReportStatus> status =
        front_door->GetReport(get, authorization);
    HttpReply reply = status.ok() ? JsonReply(200, *status, kRouteStatus)
                                  : ProblemReply(status.status(), kRouteStatus);
    reply.request_id = get.request_id();
    return reply;
  };
  return routing;
}

HttpReply HealthReply(const ReportFrontDoor* front_door) {
  google::protobuf::Struct health;
  (*health.mutable_fields())["status"].set_string_value("ok");
  (*health.mutable_fields())["domain"].set_string_value(front_door->domain());
  return JsonReply(200, health, kRouteHealth);
}

// 200 {"status": "ready"} or 503 {"status": "not ready", "reason": ...}: a
// plain JSON body, not a problem, so that probes and people read it alike.
HttpReply ReadyReply(const ReportFrontDoor* front_door,
                     const ReadinessCheck& readiness) {
  const absl::Status ready = readiness ? readiness() : absl::OkStatus();
  google::protobuf::Struct body;
  (*body.mutable_fields())["status"].set_string_value(ready.ok() ? "ready"
                                                                 : "not ready");
  (*body.mutable_fields())["domain"].set_string_value(front_door->domain());
  if (!ready.ok()) {
    (*body.mutable_fields())["reason"].set_string_value(ErrorDetail(ready));
  }
  HttpReply reply = JsonReply(ready.ok() ? 200 : 503, body, kRouteReady);
  if (!ready.ok()) reply.code = std::string(ErrorCodeName(ErrorCodeOf(ready)));
  return reply;
}

HttpReply MetricsReply(const ReportFrontDoor* front_door) {
  HttpReply reply;
  reply.status = 200;
  reply.content_type = kPrometheusText;
  reply.route = kRouteMetrics;
  reply.code = std::string(ErrorCodeName(ErrorCode::kOk));
  reply.body = front_door->metrics()->RenderPrometheus();
  return reply;
}

}  // namespace

std::string RouteNameOf(absl::string_view target) {
  absl::string_view path = target.substr(0, target.find('?'));
  if (path == kReportsPath) return kRouteSubmit;
  if (absl::StartsWith(path, kReportPathPrefix) &&
      path.find('/', sizeof(kReportPathPrefix) - 1) ==
          absl::string_view::npos) {
    return kRouteStatus;
  }
  if (path == "/healthz") return kRouteHealth;
  if (path == "/metrics") return kRouteMetrics;
  if (path == "/readyz") return kRouteReady;
  return kRouteUnmatched;
}

HttpReply ProblemReply(const absl::Status& error, absl::string_view route,
                       int http_status) {
  ErrorCode code = ErrorCodeOf(error);
  if (code == ErrorCode::kOk)
    code = ErrorCode::kInternal;  // never a problem for OK
  const absl::string_view name = ErrorCodeName(code);
  report::api::Problem problem;
  problem.set_type(absl::StrCat(kProblemTypePrefix, name));
  problem.set_title(std::string(name));
  problem.set_status(http_status != 0 ? http_status : HttpStatusOf(code));
  problem.set_detail(PrintableDetail(ErrorDetail(error)));
  problem.set_code(std::string(name));

  HttpReply reply;
  reply.status = static_cast<int>(problem.status());
  reply.content_type = kProblemJson;
  reply.body = ToJson(problem);
  reply.route = std::string(route);
  reply.code = std::string(name);
  if (IsRetryable(code)) reply.headers.emplace_back("Retry-After", "1");
  return reply;
}

void GatewayHttpHandler::OnReply(const HttpReply& reply) const {
  if (!reply.route.empty()) {
    front_door_->metrics()->CountRequest("http", reply.route, reply.code);
  }
}

void GatewayHttpHandler::AddInFlight(int delta) const {
  front_door_->metrics()->AddInFlight(delta);
}

HttpRouting RouteRequest(const ReportFrontDoor* front_door,
                         const HttpRequest& request,
                         const ReadinessCheck& readiness) {
  const size_t question = request.target.find('?');
  const absl::string_view path =
      absl::string_view(request.target).substr(0, question);
  const absl::string_view query =
      question == std::string::npos
          ? absl::string_view()
          : absl::string_view(request.target).substr(question + 1);
  const std::string route = RouteNameOf(request.target);

  // With API keys, the report routes need a valid key before anything else.
  if (route == kRouteSubmit || route == kRouteStatus) {
    if (absl::Status key = front_door->CheckApiKey(request.authorization);
        !key.ok()) {
      HttpReply reply = ProblemReply(key, route);
      reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      return Answer(std::move(reply));
    }
  }
  if (route == kRouteSubmit) {
    if (request.method != "POST") {
      return Answer(MethodNotAllowed(request.method, path, "POST", route));
    }
    return RouteSubmit(front_door, request);
  }
  if (route == kRouteStatus) {
    if (request.method != "GET") {
      return Answer(MethodNotAllowed(request.method, path, "GET", route));
    }
    return RouteStatus(front_door, path.substr(sizeof(kReportPathPrefix) - 1),
                       query, request.authorization);
  }
  if (route == kRouteHealth || route == kRouteMetrics || route == kRouteReady) {
    if (request.method != "GET") {
      return Answer(MethodNotAllowed(request.method, path, "GET", route));
    }
    if (route == kRouteReady) return Answer(ReadyReply(front_door, readiness));
    return Answer(route == kRouteHealth ? HealthReply(front_door)
                                        : MetricsReply(front_door));
  }
  return Answer(ProblemReply(
      MakeError(ErrorCode::kNotFound,
                absl::StrCat("no route for ", request.method, " ", path)),
      kRouteUnmatched));
}

}  // namespace report::gateway
