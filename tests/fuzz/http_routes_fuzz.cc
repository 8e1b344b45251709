// Fuzzes the gateway's HTTP request path: raw bytes are parsed as an HTTP/1.1
// request by Beast with the server's limits (as http_server.cc does), turned
// into an HttpRequest, then routed and validated by RouteRequest over the
// in-memory backend; cluster calls run inline. The same bytes are also split
// into method, target, Idempotency-Key and body at their first three '\n', so
// that routing sees methods and targets no HTTP parser would pass.
//
// Beyond "never crash", every answer must keep the route contract: exactly one
// of reply / cluster call / async call, a status the documented table allows,
// a content type, a problem body that parses back with the same machine code,
// and nothing reaching the backend unless the request was valid.
#include <google/protobuf/util/json_util.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "common/http_server.h"
#include "gateway/fake_report_backend.h"
#include "gateway/gateway_metrics.h"
#include "gateway/http_routes.h"
#include "gateway/report_front_door.h"
#include "proto/report_api.pb.h"

namespace report::gateway {
namespace {

namespace http = boost::beast::http;

[[noreturn]] void Violation(const char* what, const HttpRequest& request,
                            const HttpReply* reply) {
  std::fprintf(stderr,
               "route contract broken: %s\n method=%zu bytes target=%zu bytes "
               "body=%zu bytes\n",
               what, request.method.size(), request.target.size(),
               request.body.size());
  if (reply != nullptr) {
    std::fprintf(stderr, " status=%d route=%s code=%s body=%s\n", reply->status,
                 reply->route.c_str(), reply->code.c_str(),
                 reply->body.c_str());
  }
  std::abort();
}

// docs/API.md: the success statuses, the error table, and 405 for a wrong
// method (413 and 431 come from the server's limits, before routing).
bool IsDocumentedStatus(int status) {
  switch (status) {
    case 200:  // read, duplicate submit, healthz, metrics
    case 202:  // new submit
    case 304:  // status unchanged since If-None-Match
    case 400:  // InvalidArgument
    case 404:  // NotFound
    case 405:  // wrong method (InvalidArgument)
    case 415:  // a body that is not JSON (InvalidArgument)
    case 422:  // IdempotencyConflict
    case 500:  // Internal
    case 503:  // StaleRead, DomainUnavailable, NoQuorum, NotLeader
    case 504:  // CommitUnknown
      return true;
    default:
      return false;
  }
}

void CheckReply(const HttpRequest& request, const HttpReply& reply) {
  if (!IsDocumentedStatus(reply.status)) {
    Violation("status outside the documented set", request, &reply);
  }
  if (reply.content_type.empty() && reply.status != 304) {
    Violation("no content type", request, &reply);
  }
  if (reply.route != RouteNameOf(request.method, request.target)) {
    Violation("reply route differs from the target's route", request, &reply);
  }
  if (reply.status >= 400) {
    if (reply.content_type != "application/problem+json") {
      Violation("error without a problem body", request, &reply);
    }
    report::api::Problem problem;
    if (!google::protobuf::util::JsonStringToMessage(reply.body, &problem)
             .ok()) {
      Violation("problem body is not JSON of the Problem shape", request,
                &reply);
    }
    if (problem.code() != reply.code || problem.code().empty() ||
        problem.code() == "Ok" ||
        static_cast<int>(problem.status()) != reply.status) {
      Violation("problem body disagrees with the reply", request, &reply);
    }
  } else if (reply.code != "Ok") {
    Violation("success reply with an error code", request, &reply);
  }
}

void Route(const HttpRequest& request) {
  FakeReportBackend backend;
  // One known record, so that status reads can find something.
  report::RequestRecord known;
  known.set_request_id("r1");
  known.set_account_id("acct-1");
  known.set_month("2026-04");
  known.set_state(report::COMPLETED);
  known.set_accepted_offset(1);
  known.set_version(2);
  known.mutable_result()->set_report_location("file:///sink/r1");
  backend.PutRecord(known);
  backend.SetAppliedOffset(2);

  GatewayMetrics metrics;
  ReportFrontDoor door(
      &backend, [] { return absl::OkStatus(); }, &metrics,
      FrontDoorOptions{"aws/us-east-1/use1-az1"});

  HttpRouting routing = RouteRequest(&door, request);
  const int ways = static_cast<int>(routing.reply.has_value()) +
                   static_cast<int>(static_cast<bool>(routing.cluster_call)) +
                   static_cast<int>(static_cast<bool>(routing.async_call));
  if (ways != 1) Violation("not exactly one way to answer", request, nullptr);
  if (routing.route != RouteNameOf(request.method, request.target)) {
    Violation("routing names another route", request, nullptr);
  }

  HttpReply reply;
  if (routing.reply) {
    reply = *routing.reply;
    if (backend.submit_calls() != 0 || backend.read_calls() != 0) {
      Violation("an answered request reached the backend", request, &reply);
    }
  } else if (routing.cluster_call) {
    reply = routing.cluster_call();
    if (backend.submit_calls() != 0) {
      Violation("a status read submitted", request, &reply);
    }
  } else {
    int answers = 0;
    routing.async_call([&](HttpReply answered) {
      ++answers;
      reply = std::move(answered);
    });
    if (answers != 1)
      Violation("async call answered not once", request, nullptr);
    if (backend.read_calls() != 0) Violation("a submit read", request, &reply);
  }
  CheckReply(request, reply);
  metrics.CountRequest("http", reply.route, reply.code);
}

// Parses as common/http_server.cc does: with the server's default limits,
// then into the parsed message's fields.
std::optional<HttpRequest> ParseHttp(absl::string_view bytes) {
  const HttpServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    const size_t n = parser.put(
        boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec || n == 0) break;
    used += n;
  }
  // The end of the input is the end of the stream (what a closed connection
  // gives async_read); Beast asks that some bytes were seen first.
  if (!parser.is_done() && !ec && parser.got_some()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return std::nullopt;
  http::request<http::string_body> message = parser.release();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.idempotency_key = std::string(message["Idempotency-Key"]);
  request.content_type = std::string(message[http::field::content_type]);
  request.if_none_match = std::string(message[http::field::if_none_match]);
  request.body = std::move(message.body());
  return request;
}

HttpRequest SplitLines(absl::string_view bytes) {
  std::string* fields[3];
  HttpRequest request;
  fields[0] = &request.method;
  fields[1] = &request.target;
  fields[2] = &request.idempotency_key;
  for (std::string* field : fields) {
    const size_t newline = bytes.find('\n');
    if (newline == absl::string_view::npos) {
      *field = std::string(bytes);
      return request;
    }
    *field = std::string(bytes.substr(0, newline));
    bytes.remove_prefix(newline + 1);
  }
  request.body = std::string(bytes);
  return request;
}

}  // namespace
}  // namespace report::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace report::gateway;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (std::optional<report::HttpRequest> request = ParseHttp(bytes)) {
    Route(*request);
  }
  Route(SplitLines(bytes));
  return 0;
}
