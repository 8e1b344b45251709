#include "common/process_endpoints.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {
namespace {

namespace http = boost::beast::http;

struct Got {
  int status = 0;
  std::string content_type;
  std::string body;
};

Got Fetch(uint16_t port, const std::string& method, const std::string& path) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> request(
      method == "GET" ? http::verb::get : http::verb::post, path, 11);
  request.set(http::field::host, "127.0.0.1");
  request.prepare_payload();
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()),
          std::string(response[http::field::content_type]), response.body()};
}

class ProcessEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitGrpcServerConventions();
    ProcessEndpoints::Options options;
    options.admin_listen = "127.0.0.1:0";
    options.readiness_interval = absl::Milliseconds(20);
    auto endpoints = ProcessEndpoints::Start(options, &registry_, [this] {
      return ready_.load() ? absl::OkStatus()
                           : MakeError(ErrorCode::kNoQuorum, "no leader known");
    });
    ASSERT_TRUE(endpoints.ok()) << endpoints.status();
    endpoints_ = *std::move(endpoints);
    port_ = endpoints_->admin_port();
    ASSERT_NE(port_, 0);
  }

  // Waits (bounded) until the readiness loop has seen ready_.
  void AwaitReadiness(bool ready) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (endpoints_->readiness().ok() != ready && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(endpoints_->readiness().ok(), ready);
  }

  metrics::Registry registry_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<ProcessEndpoints> endpoints_;
  uint16_t port_ = 0;
};

TEST_F(ProcessEndpointsTest, HealthzAnswersWhileNotReady) {
  Got got = Fetch(port_, "GET", "/healthz");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "ok\n");
}

TEST_F(ProcessEndpointsTest, ReadyzFollowsTheReadinessCheck) {
  Got got = Fetch(port_, "GET", "/readyz");
  EXPECT_EQ(got.status, 503);
  EXPECT_EQ(got.body, "not ready (NoQuorum): no leader known\n");
  ready_ = true;
  AwaitReadiness(true);
  got = Fetch(port_, "GET", "/readyz");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "ready\n");
}

TEST_F(ProcessEndpointsTest, MetricsRendersTheRegistry) {
  registry_.AddCounter("report_things_total", "Things.")->Get()->Increment(4);
  Fetch(port_, "GET", "/healthz");
  Got got = Fetch(port_, "GET", "/metrics?x=1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.content_type, metrics::kPrometheusContentType);
  EXPECT_TRUE(absl::StrContains(got.body, "\nreport_things_total 4\n"))
      << got.body;
  EXPECT_TRUE(absl::StrContains(got.body, "\nreport_ready 0\n")) << got.body;
  EXPECT_TRUE(absl::StrContains(
      got.body,
      "report_admin_http_requests_total{route=\"healthz\",status=\"200\"} 1\n"))
      << got.body;
}

TEST_F(ProcessEndpointsTest, OtherPathsAndMethodsAreRefused) {
  EXPECT_EQ(Fetch(port_, "GET", "/nope").status, 404);
  EXPECT_EQ(Fetch(port_, "POST", "/metrics").status, 405);
}

TEST_F(ProcessEndpointsTest, AdminAddressMustBeHostPort) {
  ProcessEndpoints::Options options;
  options.admin_listen = "localhost";
  auto endpoints = ProcessEndpoints::Start(options, &registry_, nullptr);
  EXPECT_EQ(ErrorCodeOf(endpoints.status()), ErrorCode::kInvalidArgument);
}

// One message each way over a generic stub (also for a streaming method: the
// call then is a stream of one request and one answer); nullopt on failure.
std::optional<std::string> CallRaw(const std::string& address,
                                   const std::string& method,
                                   const std::string& request_bytes) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = s;
                   done = true;
                   done_cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mu);
  done_cv.wait(lock, [&] { return done; });
  if (!status.ok()) return std::nullopt;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return std::nullopt;
  std::string bytes;
  for (const grpc::Slice& part : slices) {
    bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  return bytes;
}

// grpc.health.v1.Health/Check: the request (HealthCheckRequest{service: ""})
// encodes to no bytes; the answer's status field 1 is SERVING (1) or
// NOT_SERVING (2).
int HealthStatus(const std::string& address) {
  std::optional<std::string> bytes =
      CallRaw(address, "/grpc.health.v1.Health/Check", "");
  if (!bytes || bytes->size() != 2 || (*bytes)[0] != 0x08) return -1;
  return (*bytes)[1];
}

TEST_F(ProcessEndpointsTest, GrpcHealthFollowsReadiness) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  AddGrpcServerMetrics(&builder, &registry_);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  endpoints_->FollowWithGrpcHealth(server.get());
  const std::string address = absl::StrCat("127.0.0.1:", port);
  EXPECT_EQ(HealthStatus(address), 2);
  ready_ = true;
  AwaitReadiness(true);
  EXPECT_EQ(HealthStatus(address), 1);
  const std::string text = registry_.RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(
      text,
      "report_grpc_server_handled_total{grpc_service=\"grpc.health.v1.Health\","
      "grpc_method=\"Check\",grpc_code=\"OK\"} 2\n"))
      << text;
  endpoints_->Stop();
  server->Shutdown();
}

TEST_F(ProcessEndpointsTest, GrpcServersOfferReflection) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  // ServerReflectionRequest{list_services: ""} (field 7, length 0).
  std::optional<std::string> listed =
      CallRaw(absl::StrCat("127.0.0.1:", port),
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              std::string("\x3a\x00", 2));
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(absl::StrContains(*listed, "grpc.health.v1.Health")) << *listed;
  EXPECT_TRUE(absl::StrContains(*listed,
                                "grpc.reflection.v1alpha."
                                "ServerReflection"))
      << *listed;
  server->Shutdown();
}

}  // namespace
}  // namespace report
