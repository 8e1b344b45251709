// Drives the HTTP server over real loopback sockets with raw bytes, so that
// malformed, truncated, pipelined and slow requests can be written exactly.
#include "gateway/http_server.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "gateway/fake_report_backend.h"
#include "gtest/gtest.h"

namespace report::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Response = http::response<http::string_body>;

constexpr char kDomain[] = "aws/us-east-1/use1-az1";

std::string RawRequest(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& extra_headers = "") {
  std::string request = absl::StrCat(
      method, " ", target, " HTTP/1.1\r\nHost: gateway\r\n", extra_headers);
  if (method == "POST" || !body.empty()) {
    absl::StrAppend(&request,
                    "Content-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  return request;
}

std::string SubmitBody(const std::string& id,
                       const std::string& account = "acct-1",
                       const std::string& month = "2026-04") {
  return absl::StrCat(R"({"request_id":")", id, R"(","account_id":")", account,
                      R"(","month":")", month, R"("})");
}

// A blocking client on one connection. Every read gives up after 10 s, so a
// server that never answers fails the test instead of hanging it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void Send(const std::string& bytes) {
    net::write(socket_, net::buffer(bytes));
  }
  void FinishSending() { socket_.shutdown(tcp::socket::shutdown_send); }

  // The next response, or nullopt when the connection ends (or nothing comes)
  // first.
  std::optional<Response> Read() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    beast::error_code ec = net::error::timed_out;
    http::async_read(socket_, buffer_, parser,
                     [&ec](beast::error_code result, size_t) { ec = result; });
    RunWithDeadline();
    if (ec) return std::nullopt;
    return parser.release();
  }

  std::optional<Response> RoundTrip(const std::string& bytes) {
    Send(bytes);
    return Read();
  }

  // True when the server closes the connection without sending anything more.
  bool ClosedWithoutAnswer() {
    if (buffer_.size() > 0) return false;
    char byte;
    size_t n = 0;
    beast::error_code ec = net::error::timed_out;
    socket_.async_read_some(net::buffer(&byte, 1),
                            [&](beast::error_code result, size_t bytes) {
                              ec = result;
                              n = bytes;
                            });
    RunWithDeadline();
    return n == 0 &&
           (ec == net::error::eof || ec == net::error::connection_reset);
  }

 private:
  // Runs the pending operation to completion, cancelling it after 10 s.
  void RunWithDeadline() {
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
    if (!io_.stopped()) {
      socket_.cancel();
      io_.restart();
      io_.run();
    }
  }

  net::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(
      HttpServerOptions options = {},
      ReportFrontDoor::IngressCheck check = [] { return absl::OkStatus(); },
      FrontDoorOptions door_options = {}) {
    door_options.domain = kDomain;
    door_ = std::make_unique<ReportFrontDoor>(&backend_, std::move(check),
                                              &metrics_, door_options);
    options.host = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        StartHttpServer(door_.get(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->port(), 0);
  }

  std::unique_ptr<RawClient> Connect() {
    return std::make_unique<RawClient>(server_->port());
  }

  // One request on a fresh connection.
  std::optional<Response> Exchange(const std::string& bytes) {
    return Connect()->RoundTrip(bytes);
  }

  FakeReportBackend backend_;
  GatewayMetrics metrics_;
  std::unique_ptr<ReportFrontDoor> door_;
  std::unique_ptr<HttpServer> server_;  // declared last: stops first
};

TEST_F(HttpServerTest, SubmitReplayConflictAndReadsOnOneKeepAliveConnection) {
  StartServer();
  std::unique_ptr<RawClient> client = Connect();

  std::optional<Response> created =
      client->RoundTrip(RawRequest("POST", "/reports", SubmitBody("req-1")));
  ASSERT_TRUE(created);
  EXPECT_EQ(created->result_int(), 202);
  EXPECT_EQ((*created)[http::field::location], "/reports/req-1");
  EXPECT_EQ((*created)[http::field::content_type], "application/json");
  EXPECT_EQ(created->body(),
            R"({"request_id":"req-1","accepted_offset":"1","duplicate":false,)"
            R"("status_path":"/reports/req-1","epoch":"3"})"
            "\n");

  std::optional<Response> replay =
      client->RoundTrip(RawRequest("POST", "/reports", SubmitBody("req-1")));
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->result_int(), 200);
  EXPECT_NE(replay->body().find(R"("duplicate":true)"), std::string::npos);

  std::optional<Response> conflict = client->RoundTrip(
      RawRequest("POST", "/reports", SubmitBody("req-1", "acct-2")));
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->result_int(), 422);
  EXPECT_EQ((*conflict)[http::field::content_type], "application/problem+json");
  EXPECT_NE(conflict->body().find(R"("code":"IdempotencyConflict")"),
            std::string::npos);

  std::optional<Response> status = client->RoundTrip(
      RawRequest("GET", "/reports/req-1?min_offset=1&wait_ms=50"));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->result_int(), 200);
  EXPECT_NE(status->body().find(R"("state":"ACCEPTED")"), std::string::npos);
  EXPECT_NE(status->body().find(R"("served_offset":"1")"), std::string::npos);

  std::optional<Response> stale =
      client->RoundTrip(RawRequest("GET", "/reports/req-1?min_offset=7"));
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->result_int(), 503);
  EXPECT_EQ((*stale)[http::field::retry_after], "1");
  EXPECT_NE(stale->body().find(R"("code":"StaleRead")"), std::string::npos);

  std::optional<Response> missing =
      client->RoundTrip(RawRequest("GET", "/reports/nobody"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result_int(), 404);
  EXPECT_NE(missing->body().find(R"("code":"NotFound")"), std::string::npos);

  EXPECT_EQ(backend_.record_count(), 1u);
}

struct MalformedCase {
  const char* name;
  std::string bytes;
  int status;
};

TEST_F(HttpServerTest, MalformedRequestsGetTheirStatusAndNeverReachTheCluster) {
  StartServer();
  const std::vector<MalformedCase> cases = {
      {"bad JSON", RawRequest("POST", "/reports", "{\"request_id\":"), 400},
      {"missing fields",
       RawRequest("POST", "/reports", R"({"request_id":"r1"})"), 400},
      {"wrong type",
       RawRequest("POST", "/reports",
                  R"({"request_id":"r1","account_id":7,"month":"2026-04"})"),
       400},
      {"unknown field",
       RawRequest(
           "POST", "/reports",
           R"({"request_id":"r1","account_id":"a","month":"2026-04","x":1})"),
       400},
      {"oversized id",
       RawRequest("POST", "/reports", SubmitBody(std::string(129, 'r'))), 400},
      {"bad month",
       RawRequest("POST", "/reports", SubmitBody("r1", "a", "2026-13")), 400},
      {"oversized body",
       RawRequest("POST", "/reports",
                  SubmitBody("r1", std::string(17 * 1024, 'a'), "2026-04")),
       413},
      {"oversized headers",
       RawRequest(
           "GET", "/healthz", "",
           absl::StrCat("X-Padding: ", std::string(9 * 1024, 'p'), "\r\n")),
       431},
      {"garbage request line", "HELLO\r\n\r\n", 400},
      {"idempotency key differs",
       RawRequest("POST", "/reports", SubmitBody("r1"),
                  "Idempotency-Key: r2\r\n"),
       400},
      {"unknown route", RawRequest("GET", "/reports-v2"), 404},
      {"wrong method", RawRequest("PUT", "/reports", SubmitBody("r1")), 405},
      {"status with bad offset", RawRequest("GET", "/reports/r1?min_offset=x"),
       400},
  };
  for (const MalformedCase& c : cases) {
    std::optional<Response> response = Exchange(c.bytes);
    ASSERT_TRUE(response) << c.name;
    EXPECT_EQ(response->result_int(), c.status)
        << c.name << ": " << response->body();
    EXPECT_EQ((*response)[http::field::content_type],
              "application/problem+json")
        << c.name;
  }
  std::optional<Response> wrong_method =
      Exchange(RawRequest("PUT", "/reports", SubmitBody("r1")));
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ((*wrong_method)[http::field::allow], "GET, HEAD, POST");

  EXPECT_EQ(backend_.submit_calls(), 0);
  EXPECT_EQ(backend_.read_calls(), 0);
  EXPECT_EQ(backend_.record_count(), 0u);
}

TEST_F(HttpServerTest, TruncatedBodyIsDroppedWithoutAnswerOrEffect) {
  StartServer();
  std::unique_ptr<RawClient> client = Connect();
  const std::string body = SubmitBody("r1");
  client->Send(absl::StrCat(
      "POST /reports HTTP/1.1\r\nHost: g\r\nContent-Length: ", body.size() + 50,
      "\r\n\r\n", body));
  client->FinishSending();
  EXPECT_TRUE(client->ClosedWithoutAnswer());
  EXPECT_EQ(backend_.submit_calls(), 0);

  std::optional<Response> next = Exchange(RawRequest("POST", "/reports", body));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->result_int(), 202);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  std::unique_ptr<RawClient> client = Connect();
  client->Send(absl::StrCat(RawRequest("POST", "/reports", SubmitBody("a")),
                            RawRequest("GET", "/reports/a?min_offset=1"),
                            RawRequest("POST", "/reports", SubmitBody("a")),
                            RawRequest("GET", "/nowhere"),
                            RawRequest("GET", "/healthz")));
  const int expected[] = {202, 200, 200, 404, 200};
  for (int status : expected) {
    std::optional<Response> response = client->Read();
    ASSERT_TRUE(response) << status;
    EXPECT_EQ(response->result_int(), status);
  }
}

TEST_F(HttpServerTest, ExpectContinueIsHonoured) {
  StartServer();
  std::unique_ptr<RawClient> client = Connect();
  const std::string body = SubmitBody("r1");
  client->Send(
      absl::StrCat("POST /reports HTTP/1.1\r\nHost: g\r\nExpect: "
                   "100-continue\r\nContent-Length: ",
                   body.size(), "\r\n\r\n"));
  std::optional<Response> interim = client->Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100);
  client->Send(body);
  std::optional<Response> created = client->Read();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->result_int(), 202);
}

TEST_F(HttpServerTest,
       RefusedIngressDomainIs503DomainUnavailableWithoutClusterCall) {
  StartServer({}, [] {
    return MakeError(
        ErrorCode::kDomainUnavailable,
        "aws/us-east-1/use1-az1 is not an ingress domain of the profile");
  });
  std::optional<Response> response =
      Exchange(RawRequest("POST", "/reports", SubmitBody("r1")));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 503);
  EXPECT_EQ((*response)[http::field::retry_after], "");
  EXPECT_NE(response->body().find(R"("code":"DomainUnavailable")"),
            std::string::npos);
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(HttpServerTest, BeyondTheInFlightLimitRequestsAreRefusedAtOnce) {
  HttpServerOptions options;
  options.max_in_flight = 1;
  StartServer(options);
  backend_.HoldSubmits(true);
  std::unique_ptr<RawClient> first = Connect();
  first->Send(RawRequest("POST", "/reports", SubmitBody("held")));
  ASSERT_TRUE(backend_.AwaitHeldSubmits(1, absl::Seconds(10)));

  std::optional<Response> refused =
      Exchange(RawRequest("POST", "/reports", SubmitBody("second")));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 429);
  EXPECT_EQ((*refused)[http::field::retry_after], "1");
  EXPECT_NE(refused->body().find(R"("code":"Overloaded")"), std::string::npos);
  EXPECT_EQ(backend_.submit_calls(), 1);

  backend_.HoldSubmits(false);
  std::optional<Response> accepted = first->Read();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->result_int(), 202);
  EXPECT_EQ(metrics_.in_flight(), 0);
}

// Releases held submits and long polls when a test ends, even by a failed
// assertion, so that stopping the server never waits on them.
class ReleaseBackendAtExit {
 public:
  explicit ReleaseBackendAtExit(FakeReportBackend* backend)
      : backend_(backend) {}
  ~ReleaseBackendAtExit() {
    backend_->HoldSubmits(false);
    backend_->HoldLongPolls(false);
  }

 private:
  FakeReportBackend* backend_;
};

TEST_F(HttpServerTest, SixtyFourSlowLongPollsBlockNeitherSubmitsNorQuickReads) {
  StartServer();
  ReleaseBackendAtExit release(&backend_);
  ASSERT_EQ(Exchange(RawRequest("POST", "/reports", SubmitBody("known")))
                ->result_int(),
            202);
  backend_.HoldLongPolls(true);
  constexpr int kLongPolls = 64;
  std::vector<std::unique_ptr<RawClient>> polls;
  for (int i = 0; i < kLongPolls; ++i) {
    polls.push_back(Connect());
    polls.back()->Send(
        RawRequest("GET", "/reports/known?min_offset=1&wait_ms=30000"));
  }
  ASSERT_TRUE(backend_.AwaitHeldLongPolls(kLongPolls, absl::Seconds(10)));

  const absl::Time start = absl::Now();
  std::optional<Response> submitted =
      Exchange(RawRequest("POST", "/reports", SubmitBody("while-polling")));
  ASSERT_TRUE(submitted);
  EXPECT_EQ(submitted->result_int(), 202);
  std::optional<Response> quick_read =
      Exchange(RawRequest("GET", "/reports/known?min_offset=1"));
  ASSERT_TRUE(quick_read);
  EXPECT_EQ(quick_read->result_int(), 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  backend_.HoldLongPolls(false);
  for (auto& poll : polls) {
    std::optional<Response> answer = poll->Read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->result_int(), 200);
  }
}

TEST_F(HttpServerTest, LongPollsBeyondTheirBoundAreRefusedAsOverloaded) {
  FrontDoorOptions door_options;
  door_options.max_long_polls = 2;
  StartServer(
      {}, [] { return absl::OkStatus(); }, door_options);
  ReleaseBackendAtExit release(&backend_);
  backend_.HoldLongPolls(true);
  std::vector<std::unique_ptr<RawClient>> polls;
  for (int i = 0; i < 2; ++i) {
    polls.push_back(Connect());
    polls.back()->Send(RawRequest("GET", "/reports/r1?wait_ms=30000"));
  }
  ASSERT_TRUE(backend_.AwaitHeldLongPolls(2, absl::Seconds(10)));
  std::optional<Response> refused =
      Exchange(RawRequest("GET", "/reports/r1?wait_ms=30000"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 429);
  EXPECT_EQ((*refused)[http::field::retry_after], "1");
  EXPECT_NE(refused->body().find(R"("code":"Overloaded")"), std::string::npos);
  // A read that does not wait is not a long poll.
  std::optional<Response> quick = Exchange(RawRequest("GET", "/reports/r1"));
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->result_int(), 404);
  backend_.HoldLongPolls(false);
  for (auto& poll : polls) ASSERT_TRUE(poll->Read());
}

TEST_F(HttpServerTest, ConnectionsBeyondTheBoundAreAnswered429AndClosed) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  std::unique_ptr<RawClient> first = Connect();
  std::unique_ptr<RawClient> second = Connect();
  ASSERT_TRUE(first->RoundTrip(RawRequest("GET", "/healthz")));
  ASSERT_TRUE(second->RoundTrip(RawRequest("GET", "/healthz")));
  std::unique_ptr<RawClient> third = Connect();
  std::optional<Response> refused =
      third->RoundTrip(RawRequest("POST", "/reports", SubmitBody("r1")));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 429);
  EXPECT_EQ((*refused)[http::field::retry_after], "1");
  EXPECT_NE(refused->body().find(R"("code":"Overloaded")"), std::string::npos);
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_EQ(backend_.submit_calls(), 0);
  // Once one closes, a new connection is served.
  first.reset();
  third.reset();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    std::optional<Response> answer =
        Exchange(RawRequest("POST", "/reports", SubmitBody("r1")));
    served = answer && answer->result_int() == 202;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, AThousandAndTwentyFourConnectionsAreServedAtOnce) {
  StartServer();
  constexpr int kConnections = 1024;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(Connect());
    ASSERT_TRUE(clients.back()->RoundTrip(RawRequest("GET", "/healthz"))) << i;
  }
  // Every one is still open and served.
  for (auto& client : clients) {
    std::optional<Response> response =
        client->RoundTrip(RawRequest("GET", "/healthz"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->result_int(), 200);
  }
}

TEST_F(HttpServerTest, SlowClientIsDisconnected) {
  HttpServerOptions options;
  options.request_timeout = absl::Milliseconds(200);
  StartServer(options);
  std::unique_ptr<RawClient> client = Connect();
  client->Send("GET /healthz HTTP/1.1\r\nHost: g\r\n");  // headers never finish
  EXPECT_TRUE(client->ClosedWithoutAnswer());
}

TEST_F(HttpServerTest, StopClosesOpenConnectionsAndJoins) {
  StartServer();
  std::unique_ptr<RawClient> idle = Connect();
  ASSERT_TRUE(idle->RoundTrip(RawRequest("GET", "/healthz")));
  std::unique_ptr<RawClient> half = Connect();
  half->Send(
      "POST /reports HTTP/1.1\r\nHost: g\r\nContent-Length: 10\r\n\r\n{");
  server_->Stop();
  EXPECT_TRUE(idle->ClosedWithoutAnswer());
  EXPECT_TRUE(half->ClosedWithoutAnswer());
  server_->Stop();  // idempotent
  EXPECT_EQ(backend_.submit_calls(), 0);
}

// True once connecting to `port` is refused (the listener is closed), polling
// for up to 10 s.
bool ListenerCloses(uint16_t port) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    net::io_context io;
    tcp::socket socket(io);
    beast::error_code ec;
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec == net::error::connection_refused) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(HttpServerTest, StopDrainsAnswersTheRequestInProgressAndClosesTheRest) {
  StartServer();
  // As in the gateway: the answer comes from another thread while the draining
  // server has nothing else pending.
  backend_.AnswerOnOtherThreads(true);
  backend_.HoldSubmits(true);
  std::unique_ptr<RawClient> busy = Connect();
  busy->Send(RawRequest("POST", "/reports", SubmitBody("in-progress")));
  ASSERT_TRUE(backend_.AwaitHeldSubmits(1, absl::Seconds(10)));
  std::unique_ptr<RawClient> idle = Connect();
  ASSERT_TRUE(idle->RoundTrip(RawRequest("GET", "/healthz")));
  std::unique_ptr<RawClient> half = Connect();
  half->Send(
      "POST /reports HTTP/1.1\r\nHost: g\r\nContent-Length: 10\r\n\r\n{");

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server_->Stop();
    stopped = true;
  });
  // Idle and half-sent connections close at once, and nothing new is taken.
  EXPECT_TRUE(idle->ClosedWithoutAnswer());
  EXPECT_TRUE(half->ClosedWithoutAnswer());
  EXPECT_TRUE(ListenerCloses(server_->port()));
  // The submit in progress holds the stop until it is answered.
  EXPECT_FALSE(stopped.load());
  backend_.HoldSubmits(false);
  std::optional<Response> answer = busy->Read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->result_int(), 202);
  EXPECT_FALSE(answer->keep_alive());
  EXPECT_TRUE(busy->ClosedWithoutAnswer());
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(backend_.submit_calls(), 1);
  EXPECT_EQ(metrics_.in_flight(), 0);
}

TEST_F(HttpServerTest, ManyConnectionsAreServedConcurrently) {
  StartServer();
  constexpr int kConnections = 48;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(Connect());
    clients.back()->Send(
        RawRequest("POST", "/reports", SubmitBody(absl::StrCat("r", i))));
  }
  for (auto& client : clients) {
    std::optional<Response> response = client->Read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->result_int(), 202);
  }
  EXPECT_EQ(backend_.record_count(), static_cast<size_t>(kConnections));
}

TEST_F(HttpServerTest, MetricsAndHealth) {
  StartServer();
  ASSERT_TRUE(Exchange(RawRequest("POST", "/reports", SubmitBody("r1"))));
  ASSERT_TRUE(Exchange(RawRequest("POST", "/reports", "nope")));
  ASSERT_TRUE(Exchange(RawRequest("GET", "/reports/r1?min_offset=99")));

  std::optional<Response> health = Exchange(RawRequest("GET", "/healthz"));
  ASSERT_TRUE(health);
  EXPECT_EQ(health->result_int(), 200);
  EXPECT_NE(health->body().find(absl::StrCat(R"("domain":")", kDomain, "\"")),
            std::string::npos);

  std::optional<Response> metrics = Exchange(RawRequest("GET", "/metrics"));
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->result_int(), 200);
  const std::string& text = metrics->body();
  for (
      const char* line : {
          R"(report_gateway_requests_total{transport="http",route="submit",code="Ok"} 1)",
          R"(report_gateway_requests_total{transport="http",route="submit",code="InvalidArgument"} 1)",
          R"(report_gateway_requests_total{transport="http",route="status",code="StaleRead"} 1)",
          R"(report_gateway_requests_total{transport="http",route="healthz",code="Ok"} 1)",
          "report_gateway_submit_latency_seconds_bucket{le=\"+Inf\"} 1",
          "report_gateway_submit_latency_seconds_count 1",
          "report_gateway_in_flight 0",
          "report_gateway_stale_reads_total 1",
      }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace report::gateway
