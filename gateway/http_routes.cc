#include "gateway/http_routes.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/error_code.h"
#include "common/hex.h"
#include "common/validation.h"
#include "gateway/openapi_document.h"

namespace report::gateway {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kProblemJson[] = "application/problem+json";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kYaml[] = "application/yaml";
constexpr char kProblemTypePrefix[] = "https://report.example/problems/";
constexpr char kReportsPath[] = "/reports";
constexpr char kReportPathPrefix[] = "/reports/";
constexpr char kOpenApiPath[] = "/openapi.yaml";
constexpr char kGetOrHead[] = "GET, HEAD";
constexpr char kCancelSuffix[] = ":cancel";
constexpr char kContentSuffix[] = "/content";

bool IsGetOrHead(absl::string_view method) {
  return method == "GET" || method == "HEAD";
}

// A request body is JSON when it says so (application/json, or any
// application/*+json) or says nothing; anything else is 415.
bool IsJsonMediaType(absl::string_view content_type) {
  absl::string_view media = absl::StripAsciiWhitespace(
      content_type.substr(0, content_type.find(';')));
  if (media.empty()) return true;
  const std::string lower = absl::AsciiStrToLower(media);
  return lower == "application/json" ||
         (absl::StartsWith(lower, "application/") &&
          absl::EndsWith(lower, "+json"));
}

// The path as an RFC 3986 URI reference: bytes outside its character set are
// percent-encoded (RFC 9457's instance must be a URI reference).
std::string InstanceOf(absl::string_view path) {
  static constexpr char kAllowed[] = "-._~:/?#[]@!$&'()*+,;=%";
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    // A '%' that starts no escape is itself escaped.
    const bool escape = c == '%' && i + 2 < path.size() &&
                        absl::ascii_isxdigit(path[i + 1]) &&
                        absl::ascii_isxdigit(path[i + 2]);
    if ((c == '%' && escape) || absl::ascii_isalnum(c) ||
        (c != 0 && c != '%' &&
         std::strchr(kAllowed, static_cast<char>(c)) != nullptr)) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, absl::StrFormat("%%%02X", c));
    }
  }
  return out;
}

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
  // A replay names the request's status as the first answer did.
  HttpReply reply =
      JsonReply(receipt->duplicate() ? 200 : 202, *receipt, kRouteSubmit);
  reply.headers.emplace_back("Location", receipt->status_path());
  return reply;
}

// 415 with the media type a body must have (RFC 9110 15.5.16; Accept-Post,
// RFC 5789's sibling for POST).
HttpReply UnsupportedMediaType(absl::string_view content_type,
                               absl::string_view route) {
  HttpReply reply =
      InvalidArgument(absl::StrCat("Content-Type ", content_type,
                                   " is not JSON; send application/json"),
                      route, 415);
  reply.headers.emplace_back("Accept-Post", kJson);
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
  if (!IsJsonMediaType(request.content_type)) {
    return Answer(UnsupportedMediaType(request.content_type, kRouteSubmit));
  }
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
    absl::StatusOr<std::string> key =
        ParseIdempotencyKey(request.idempotency_key);
    if (!key.ok()) return Answer(ProblemReply(key.status(), kRouteSubmit));
    if (submit.request_id().empty()) {
      submit.set_request_id(*key);
    } else if (submit.request_id() != *key) {
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

// 200 with the status and its ETag (the record's version: weak, as the body
// also carries served_offset), or 304 without a body when the client already
// holds that version.
HttpReply StatusReply(const report::api::ReportStatus& status,
                      absl::string_view if_none_match) {
  const std::string etag = absl::StrCat("W/\"", status.version(), "\"");
  HttpReply reply;
  if (!if_none_match.empty() && IfNoneMatchMatches(if_none_match, etag)) {
    reply.status = 304;
    reply.route = kRouteStatus;
    reply.code = std::string(ErrorCodeName(ErrorCode::kOk));
  } else {
    reply = JsonReply(200, status, kRouteStatus);
  }
  reply.headers.emplace_back("ETag", etag);
  return reply;
}

// The report document and its strong ETag; 304 when If-None-Match names it.
HttpReply ContentReply(const ReportFrontDoor::ReportContent& content,
                       absl::string_view if_none_match) {
  HttpReply reply;
  reply.route = kRouteContent;
  reply.code = std::string(ErrorCodeName(ErrorCode::kOk));
  if (!if_none_match.empty() &&
      IfNoneMatchMatches(if_none_match, content.etag)) {
    reply.status = 304;
  } else {
    reply.status = 200;
    reply.content_type = kJson;
    reply.body = content.document;
  }
  reply.headers.emplace_back("ETag", content.etag);
  return reply;
}

HttpRouting RouteStatus(const ReportFrontDoor* front_door,
                        absl::string_view escaped_id, absl::string_view query,
                        const std::string& authorization,
                        const std::string& if_none_match,
                        const char* route_name = kRouteStatus) {
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
  bool seen_consistency = false;
  for (absl::string_view param :
       absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    if (kv.first == "consistency" && !seen_consistency) {
      seen_consistency = true;
      if (kv.second == "linearizable") {
        get.set_consistency(report::LINEARIZABLE);
      } else if (kv.second != "at_least_offset") {
        return Answer(InvalidArgument(
            "consistency must be at_least_offset or linearizable",
            kRouteStatus));
      }
      continue;
    }
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
                       "; allowed: min_offset, wait_ms, consistency"),
          kRouteStatus));
    }
  }
  HttpRouting routing;
  routing.route = route_name;
  if (absl::string_view(route_name) == kRouteContent) {
    routing.cluster_call = [front_door, get = std::move(get), authorization,
                            if_none_match] {
      absl::StatusOr<ReportFrontDoor::ReportContent> content =
          front_door->GetReportContent(get, authorization);
      HttpReply reply = content.ok()
                            ? ContentReply(*content, if_none_match)
                            : ProblemReply(content.status(), kRouteContent);
      reply.request_id = get.request_id();
      return reply;
    };
    return routing;
  }
  routing.cluster_call = [front_door, get = std::move(get), authorization,
                          if_none_match] {
    absl::StatusOr<report::api::ReportStatus> status =
        front_door->GetReport(get, authorization);
    HttpReply reply = status.ok() ? StatusReply(*status, if_none_match)
                                  : ProblemReply(status.status(), kRouteStatus);
    reply.request_id = get.request_id();
    return reply;
  };
  return routing;
}

// GET /reports?account_id=A[&state=S][&page_size=N][&page_token=T]
// [&min_offset=O][&wait_ms=W].
HttpRouting RouteList(const ReportFrontDoor* front_door,
                      absl::string_view query,
                      const std::string& authorization) {
  report::api::ListReportsRequest list;
  std::set<std::string> seen;
  for (absl::string_view param :
       absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    const std::string name(kv.first);
    if (!seen.insert(name).second) {
      return Answer(InvalidArgument(
          absl::StrCat("query parameter ", name, " is repeated"), kRouteList));
    }
    std::string value;
    if (!PercentDecode(kv.second, &value)) {
      return Answer(InvalidArgument(
          absl::StrCat("malformed percent-encoding in ", name), kRouteList));
    }
    uint64_t number = 0;
    const bool numeric = ParseUnsigned(value, &number);
    if (name == "account_id") {
      list.set_account_id(value);
    } else if (name == "state") {
      report::RequestState state;
      if (!report::RequestState_Parse(absl::AsciiStrToUpper(value), &state) ||
          state == report::REQUEST_STATE_UNSPECIFIED) {
        return Answer(InvalidArgument(
            "state must be ACCEPTED, RUNNING, COMPLETED, FAILED or CANCELLED",
            kRouteList));
      }
      list.set_state(state);
    } else if (name == "page_token") {
      list.set_page_token(value);
    } else if (name == "page_size" || name == "min_offset" ||
               name == "wait_ms") {
      if (!numeric || (name == "page_size" && number > 0xffffffffu)) {
        return Answer(InvalidArgument(
            absl::StrCat("query parameter ", name,
                         " must be an unsigned decimal integer"),
            kRouteList));
      }
      if (name == "page_size")
        list.set_page_size(static_cast<uint32_t>(number));
      if (name == "min_offset") list.set_min_offset(number);
      if (name == "wait_ms") list.set_wait_ms(number);
    } else {
      return Answer(InvalidArgument(
          absl::StrCat("unknown query parameter ", name,
                       "; allowed: account_id, state, page_size, page_token, "
                       "min_offset, wait_ms"),
          kRouteList));
    }
  }
  if (list.account_id().empty()) {
    return Answer(InvalidArgument("account_id is required", kRouteList));
  }
  if (absl::Status s = ValidateListReportsRequest(list); !s.ok()) {
    return Answer(ProblemReply(s, kRouteList));
  }
  HttpRouting routing;
  routing.route = kRouteList;
  routing.cluster_call = [front_door, list = std::move(list), authorization] {
    absl::StatusOr<report::api::ListReportsResponse> page =
        front_door->ListReports(list, authorization);
    return page.ok() ? JsonReply(200, *page, kRouteList)
                     : ProblemReply(page.status(), kRouteList);
  };
  return routing;
}

// POST /reports/{id}:cancel with an empty body or {}.
HttpRouting RouteCancel(const ReportFrontDoor* front_door,
                        absl::string_view escaped_id,
                        const HttpRequest& request) {
  const absl::string_view body = absl::StripAsciiWhitespace(request.body);
  if (!body.empty()) {
    if (!IsJsonMediaType(request.content_type)) {
      return Answer(UnsupportedMediaType(request.content_type, kRouteCancel));
    }
    google::protobuf::Struct object;
    if (!google::protobuf::util::JsonStringToMessage(std::string(body), &object)
             .ok() ||
        object.fields_size() != 0) {
      return Answer(
          InvalidArgument("a cancel's body must be empty or {}", kRouteCancel));
    }
  }
  report::api::CancelReportRequest cancel;
  if (!PercentDecode(escaped_id, cancel.mutable_request_id())) {
    return Answer(InvalidArgument("malformed percent-encoding in request id",
                                  kRouteCancel));
  }
  if (absl::Status s = ValidateCancelReportRequest(cancel); !s.ok()) {
    return Answer(ProblemReply(s, kRouteCancel));
  }
  HttpRouting routing;
  routing.route = kRouteCancel;
  routing.cluster_call = [front_door, cancel = std::move(cancel),
                          authorization = request.authorization] {
    absl::StatusOr<report::api::ReportStatus> status =
        front_door->CancelReport(cancel, authorization);
    HttpReply reply = status.ok() ? JsonReply(200, *status, kRouteCancel)
                                  : ProblemReply(status.status(), kRouteCancel);
    reply.request_id = cancel.request_id();
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

HttpReply OpenApiReply() {
  HttpReply reply;
  reply.status = 200;
  reply.content_type = kYaml;
  reply.route = kRouteOpenApi;
  reply.code = std::string(ErrorCodeName(ErrorCode::kOk));
  reply.body = std::string(OpenApiDocument());
  return reply;
}

// Sets RFC 9457's instance (the request's path) in a problem reply.
void SetInstance(absl::string_view path, HttpReply* reply) {
  if (reply->content_type != kProblemJson) return;
  report::api::Problem problem;
  google::protobuf::util::JsonParseOptions options;
  if (!google::protobuf::util::JsonStringToMessage(reply->body, &problem,
                                                   options)
           .ok() ||
      !problem.instance().empty()) {
    return;
  }
  problem.set_instance(InstanceOf(path));
  reply->body = ToJson(problem);
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
      absl::EndsWith(path, kContentSuffix) &&
      path.find('/', sizeof(kReportPathPrefix) - 1) ==
          path.size() - (sizeof(kContentSuffix) - 1) &&
      path.size() >
          sizeof(kReportPathPrefix) - 1 + sizeof(kContentSuffix) - 1) {
    return kRouteContent;
  }
  if (absl::StartsWith(path, kReportPathPrefix) &&
      path.find('/', sizeof(kReportPathPrefix) - 1) ==
          absl::string_view::npos) {
    return absl::EndsWith(path, kCancelSuffix) &&
                   path.size() >
                       sizeof(kReportPathPrefix) - 1 + sizeof(kCancelSuffix) - 1
               ? kRouteCancel
               : kRouteStatus;
  }
  if (path == "/healthz") return kRouteHealth;
  if (path == "/metrics") return kRouteMetrics;
  if (path == "/readyz") return kRouteReady;
  if (path == kOpenApiPath) return kRouteOpenApi;
  return kRouteUnmatched;
}

std::string RouteNameOf(absl::string_view method, absl::string_view target) {
  std::string route = RouteNameOf(target);
  if (route == kRouteSubmit && IsGetOrHead(method)) return kRouteList;
  return route;
}

absl::StatusOr<std::string> ParseIdempotencyKey(absl::string_view header) {
  header = absl::StripAsciiWhitespace(header);
  if (header.empty() || header.front() != '"') {
    // A bare key, as clients sent before the header was standardised.
    if (absl::Status s = report::ValidateRequestId(header); !s.ok()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat("Idempotency-Key must be a quoted string "
                                    "(\"key\") holding a request id: ",
                                    ErrorDetail(s)));
    }
    return std::string(header);
  }
  std::string key;
  size_t i = 1;
  for (; i < header.size(); ++i) {
    const char c = header[i];
    if (c == '"') break;
    if (c == '\\') {
      if (i + 1 >= header.size() ||
          (header[i + 1] != '"' && header[i + 1] != '\\')) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "Idempotency-Key: a backslash may only escape \" "
                         "or \\ (RFC 8941 sf-string)");
      }
      key.push_back(header[++i]);
      continue;
    }
    if (c < 0x20 || c > 0x7e) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "Idempotency-Key: only printable ASCII may be quoted "
                       "(RFC 8941 sf-string)");
    }
    key.push_back(c);
  }
  if (i != header.size() - 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "Idempotency-Key must be one quoted string, e.g. "
                     "\"req-7\" (RFC 8941 sf-string)");
  }
  if (absl::Status s = report::ValidateRequestId(key); !s.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("Idempotency-Key: ", ErrorDetail(s)));
  }
  return key;
}

bool IfNoneMatchMatches(absl::string_view if_none_match,
                        absl::string_view etag) {
  auto opaque = [](absl::string_view tag) {
    tag = absl::StripAsciiWhitespace(tag);
    absl::ConsumePrefix(&tag, "W/");
    return tag;
  };
  for (absl::string_view tag : absl::StrSplit(if_none_match, ',')) {
    if (absl::StripAsciiWhitespace(tag) == "*") return true;
    if (!opaque(tag).empty() && opaque(tag) == opaque(etag)) return true;
  }
  return false;
}

HttpReply ProblemReply(const absl::Status& error, absl::string_view route,
                       int http_status, absl::string_view instance) {
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
  if (!instance.empty()) problem.set_instance(InstanceOf(instance));

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

namespace {

HttpRouting RouteRequestUnnamed(const ReportFrontDoor* front_door,
                                const HttpRequest& request,
                                const ReadinessCheck& readiness) {
  const size_t question = request.target.find('?');
  const absl::string_view path =
      absl::string_view(request.target).substr(0, question);
  const absl::string_view query =
      question == std::string::npos
          ? absl::string_view()
          : absl::string_view(request.target).substr(question + 1);
  const std::string route = RouteNameOf(request.method, request.target);

  // With API keys, the report routes need a valid key before anything else.
  if (route == kRouteSubmit || route == kRouteStatus || route == kRouteCancel ||
      route == kRouteList || route == kRouteContent) {
    if (absl::Status key = front_door->CheckApiKey(request.authorization);
        !key.ok()) {
      HttpReply reply = ProblemReply(key, route);
      reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      return Answer(std::move(reply));
    }
  }
  if (route == kRouteList) {
    return RouteList(front_door, query, request.authorization);
  }
  if (route == kRouteContent) {
    if (!IsGetOrHead(request.method)) {
      return Answer(MethodNotAllowed(request.method, path, kGetOrHead, route));
    }
    const absl::string_view id =
        path.substr(sizeof(kReportPathPrefix) - 1,
                    path.size() - (sizeof(kReportPathPrefix) - 1) -
                        (sizeof(kContentSuffix) - 1));
    return RouteStatus(front_door, id, query, request.authorization,
                       request.if_none_match, kRouteContent);
  }
  if (route == kRouteSubmit) {
    if (request.method != "POST") {
      return Answer(
          MethodNotAllowed(request.method, path, "GET, HEAD, POST", route));
    }
    return RouteSubmit(front_door, request);
  }
  if (route == kRouteCancel) {
    if (request.method != "POST") {
      return Answer(MethodNotAllowed(request.method, path, "POST", route));
    }
    const absl::string_view id =
        path.substr(sizeof(kReportPathPrefix) - 1,
                    path.size() - (sizeof(kReportPathPrefix) - 1) -
                        (sizeof(kCancelSuffix) - 1));
    return RouteCancel(front_door, id, request);
  }
  if (route == kRouteStatus) {
    if (!IsGetOrHead(request.method)) {
      return Answer(MethodNotAllowed(request.method, path, kGetOrHead, route));
    }
    return RouteStatus(front_door, path.substr(sizeof(kReportPathPrefix) - 1),
                       query, request.authorization, request.if_none_match);
  }
  if (route == kRouteHealth || route == kRouteMetrics || route == kRouteReady ||
      route == kRouteOpenApi) {
    if (!IsGetOrHead(request.method)) {
      return Answer(MethodNotAllowed(request.method, path, kGetOrHead, route));
    }
    if (route == kRouteReady) return Answer(ReadyReply(front_door, readiness));
    if (route == kRouteOpenApi) return Answer(OpenApiReply());
    return Answer(route == kRouteHealth ? HealthReply(front_door)
                                        : MetricsReply(front_door));
  }
  return Answer(ProblemReply(
      MakeError(ErrorCode::kNotFound,
                absl::StrCat("no route for ", request.method, " ", path)),
      kRouteUnmatched));
}

}  // namespace

HttpRouting RouteRequest(const ReportFrontDoor* front_door,
                         const HttpRequest& request,
                         const ReadinessCheck& readiness) {
  HttpRouting routing = RouteRequestUnnamed(front_door, request, readiness);
  std::string path = request.target.substr(0, request.target.find('?'));
  if (routing.reply) {
    SetInstance(path, &*routing.reply);
  } else if (routing.cluster_call) {
    routing.cluster_call = [call = std::move(routing.cluster_call),
                            path = std::move(path)] {
      HttpReply reply = call();
      SetInstance(path, &reply);
      return reply;
    };
  } else if (routing.async_call) {
    routing.async_call = [call = std::move(routing.async_call),
                          path = std::move(path)](HttpRouting::ReplyFn done) {
      call([done = std::move(done), path](HttpReply reply) {
        SetInstance(path, &reply);
        done(std::move(reply));
      });
    };
  }
  return routing;
}

}  // namespace report::gateway
