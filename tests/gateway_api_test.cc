// The public API (docs/API.md) as a client sees it: HTTP/1.1 on
// the gateway's HTTP address and gRPC ReportApi on its gRPC address, against a
// real cluster started through deploy/cluster.sh. The names read as the seed's
// failure behaviours and the API's promises.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/error_code.h"
#include "gtest/gtest.h"
#include "proto/replica_service.grpc.pb.h"
#include "proto/report_api.grpc.pb.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

// --- A minimal HTTP/1.1 client over a POSIX socket, so that the tests can also
// send what no well-behaved client library would (truncated bodies, garbage,
// slow dribbles).

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpConnection {
 public:
  // `address` is "HOST:PORT" with a numeric IPv4 host.
  static absl::StatusOr<std::unique_ptr<HttpConnection>> Open(
      const std::string& address) {
    std::pair<std::string, std::string> host_port =
        absl::StrSplit(address, ':');
    uint32_t port = 0;
    if (!absl::SimpleAtoi(host_port.second, &port)) {
      return absl::InvalidArgumentError("bad address " + address);
    }
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host_port.first.c_str(), &peer.sin_addr) != 1) {
      return absl::InvalidArgumentError("bad host " + address);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError("socket failed");
    auto connection = std::unique_ptr<HttpConnection>(new HttpConnection(fd));
    if (connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) {
      return absl::UnavailableError(
          absl::StrCat("connect ", address, ": errno ", errno));
    }
    return connection;
  }

  ~HttpConnection() { close(fd_); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool Send(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Reads one whole response (Content-Length framed; headers only when it
  // answers a HEAD); an error when the connection closes first or the deadline
  // passes.
  absl::StatusOr<HttpResponse> ReadResponse(absl::Duration timeout,
                                            bool head = false) {
    const absl::Time deadline = absl::Now() + timeout;
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (absl::Status read = ReadMore(deadline); !read.ok()) return read;
    }
    HttpResponse response;
    std::vector<std::string> lines =
        absl::StrSplit(buffer_.substr(0, header_end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
    if (status_line.size() < 2 ||
        !absl::SimpleAtoi(status_line[1], &response.status)) {
      return absl::DataLossError("bad status line: " + lines[0]);
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
      response.headers[absl::AsciiStrToLower(kv.first)] =
          std::string(absl::StripAsciiWhitespace(kv.second));
    }
    size_t length = 0;
    if (head || !absl::SimpleAtoi(response.Header("content-length"), &length))
      length = 0;
    while (buffer_.size() < header_end + 4 + length) {
      if (absl::Status read = ReadMore(deadline); !read.ok()) return read;
    }
    response.body = buffer_.substr(header_end + 4, length);
    buffer_.erase(0, header_end + 4 + length);
    return response;
  }

  // Waits until the peer closes the connection; true when it did within
  // `timeout`. Bytes that arrive meanwhile are kept (see received()).
  bool WaitForClose(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      absl::Status read = ReadMore(deadline);
      if (absl::IsOutOfRange(read)) return true;  // EOF or reset
      if (!read.ok()) return false;               // deadline
    }
  }

  const std::string& received() const { return buffer_; }

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}

  // OutOfRange at EOF/reset, DeadlineExceeded at the deadline.
  absl::Status ReadMore(absl::Time deadline) {
    while (true) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return absl::DeadlineExceededError("no response in time");
      pollfd p{fd_, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      char chunk[16384];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return absl::OutOfRangeError("connection closed");
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
  }

  const int fd_;
  std::string buffer_;
};

std::string RawRequest(const std::string& method, const std::string& target,
                       const std::string& body,
                       const std::vector<std::string>& extra_headers = {}) {
  std::string raw =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: test\r\n");
  for (const std::string& header : extra_headers)
    absl::StrAppend(&raw, header, "\r\n");
  if (!body.empty() || method == "POST") {
    absl::StrAppend(&raw, "Content-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n");
  }
  absl::StrAppend(&raw, "\r\n", body);
  return raw;
}

// Every response Exchange() received, for the OpenAPI conformance check that
// runs when the test program ends.
struct RecordedExchange {
  std::string method;
  std::string target;
  HttpResponse response;
};
absl::Mutex recorded_mu;
std::vector<RecordedExchange>* Recorded() {
  static std::vector<RecordedExchange> recorded;
  return &recorded;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

// When the test program ends: every recorded response validates against
// docs/openapi.yaml (tools/openapi/conform.mjs).
class OpenApiConformance : public ::testing::Environment {
 public:
  void TearDown() override {
    absl::MutexLock lock(&recorded_mu);
    if (Recorded()->empty()) return;
    char dir_template[] = "/tmp/openapi-exchanges-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    const std::string file = absl::StrCat(dir_template, "/exchanges.jsonl");
    {
      std::ofstream out(file);
      for (const RecordedExchange& e : *Recorded()) {
        out << "{\"method\":" << JsonString(e.method)
            << ",\"target\":" << JsonString(e.target)
            << ",\"status\":" << e.response.status << ",\"headers\":{";
        bool first = true;
        for (const auto& [name, value] : e.response.headers) {
          out << (first ? "" : ",") << JsonString(name) << ":"
              << JsonString(value);
          first = false;
        }
        out << "},\"body\":" << JsonString(e.response.body) << "}\n";
      }
    }
    std::string output;
    const int code = RunCommand(
        absl::StrCat("node ", SourceDir(), "/tools/openapi/conform.mjs ",
                     SourceDir(), "/docs/openapi.yaml ", file),
        &output);
    EXPECT_EQ(code, 0) << "responses that do not conform to docs/openapi.yaml "
                          "(the checker needs deploy/install-deps.sh):\n"
                       << output;
    if (code == 0) std::cout << output;
    RunCommand(absl::StrCat("rm -rf ", dir_template));
  }
};
::testing::Environment* const kOpenApiConformance =
    ::testing::AddGlobalTestEnvironment(new OpenApiConformance);

// One request on a fresh connection; status 0 (and the error in body) when no
// answer came. Every answer is recorded for the conformance check.
HttpResponse Exchange(const std::string& address, const std::string& raw,
                      absl::Duration timeout = absl::Seconds(15)) {
  HttpResponse failed;
  auto connection = HttpConnection::Open(address);
  if (!connection.ok()) {
    failed.body = connection.status().ToString();
    return failed;
  }
  if (!(*connection)->Send(raw)) {
    failed.body = "send failed";
    return failed;
  }
  const std::string request_line = raw.substr(0, raw.find("\r\n"));
  std::vector<std::string> words = absl::StrSplit(request_line, ' ');
  const bool head = !words.empty() && words[0] == "HEAD";
  auto response = (*connection)->ReadResponse(timeout, head);
  if (!response.ok()) {
    failed.body = response.status().ToString();
    return failed;
  }
  if (words.size() == 3) {
    absl::MutexLock lock(&recorded_mu);
    Recorded()->push_back({words[0], words[1], *response});
  }
  return *response;
}

HttpResponse Post(const std::string& address, const std::string& body,
                  const std::vector<std::string>& headers = {}) {
  return Exchange(address, RawRequest("POST", "/reports", body, headers));
}

HttpResponse Get(const std::string& address, const std::string& target) {
  return Exchange(address, RawRequest("GET", target, ""));
}

std::string SubmitBody(const std::string& id,
                       const std::string& account = "acct-1",
                       const std::string& month = "2026-04") {
  return absl::StrCat("{\"request_id\":\"", id, "\",\"account_id\":\"", account,
                      "\",\"month\":\"", month, "\"}");
}

template <typename Message>
absl::StatusOr<Message> ParseJson(const std::string& json) {
  Message message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed =
      google::protobuf::util::JsonStringToMessage(json, &message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(parsed.message().as_string(), " in ", json));
  }
  return message;
}

// Asserts `response` is a problem+json with `status` and `code`.
void ExpectProblem(const HttpResponse& response, int status,
                   const std::string& code, const std::string& what) {
  EXPECT_EQ(response.status, status) << what << ": " << response.body;
  EXPECT_EQ(response.Header("content-type"), "application/problem+json")
      << what;
  auto problem = ParseJson<api::Problem>(response.body);
  ASSERT_TRUE(problem.ok()) << what << ": " << problem.status();
  EXPECT_EQ(problem->code(), code) << what << ": " << response.body;
  EXPECT_EQ(problem->title(), code) << what;
  EXPECT_EQ(problem->status(), static_cast<uint32_t>(status)) << what;
}

api::SubmitReportRequest ApiSubmission(const std::string& id,
                                       const std::string& account = "acct-1",
                                       const std::string& month = "2026-04") {
  api::SubmitReportRequest request;
  request.set_request_id(id);
  request.set_account_id(account);
  request.set_month(month);
  return request;
}

// Runs a command with stdout and stderr captured apart; returns the exit code.
int RunSplit(const std::string& command, const std::string& scratch_dir,
             std::string* out, std::string* err) {
  const std::string err_file = scratch_dir + "/stderr.txt";
  // RunCommand sends the group's stderr to stdout; the inner group's goes to
  // the file.
  int code = RunCommand(
      absl::StrCat("{ { ", command, " ; } 2>", err_file, " ; }"), out);
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  *err = text.str();
  return code;
}

// A running cluster with its gateways; `--workers 0` unless a test needs
// workers.
class GatewayCluster {
 public:
  explicit GatewayCluster(const std::string& profile,
                          const std::string& args = "--workers 0")
      : cluster(profile, args) {}

  LocalCluster cluster;

  bool Up(std::string* error) {
    if (!cluster.Up(error)) return false;
    for (const ProcessInfo& p : cluster.Processes()) {
      if (p.kind == "gateway") gateways.push_back(p);
    }
    if (gateways.empty()) {
      *error = "no gateway in the cluster";
      return false;
    }
    return true;
  }

  const std::string& Http(size_t i = 0) const {
    return gateways.at(i).http_address;
  }
  std::unique_ptr<api::ReportApi::Stub> Api(size_t i = 0) const {
    return api::ReportApi::NewStub(grpc::CreateChannel(
        gateways.at(i).grpc_address, cluster.credentials()));
  }

  // The leader's view (role, commit and last offsets), waiting for one to
  // exist.
  absl::StatusOr<ClusterStatusResponse> Leader() {
    auto name = cluster.WaitForLeader(absl::Seconds(10));
    if (!name.ok()) return name.status();
    for (auto& [member, status] :
         cluster.client().ClusterStatus(absl::Seconds(2))) {
      if (member.name() == *name && status.ok() && status->role() == "leader") {
        return *status;
      }
    }
    return absl::UnavailableError("leader moved");
  }

  // The leader, called with `credentials` (the operator's when none).
  std::unique_ptr<ReplicaService::Stub> LeaderStub(
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
    auto leader = Leader();
    if (!leader.ok()) return nullptr;
    for (const Member& member : cluster.config().members()) {
      if (member.id() == leader->id()) {
        return ReplicaService::NewStub(grpc::CreateChannel(
            member.grpc_address(),
            credentials ? credentials : cluster.credentials()));
      }
    }
    return nullptr;
  }

  std::vector<ProcessInfo> gateways;
};

#define ASSERT_UP(gc)                            \
  do {                                           \
    std::string up_error;                        \
    ASSERT_TRUE((gc).Up(&up_error)) << up_error; \
  } while (0)

absl::StatusOr<Receipt> ParseReceipt(const HttpResponse& response) {
  return ParseJson<Receipt>(response.body);
}

// Submits a new request over HTTP and returns its receipt (expects 202).
Receipt SubmitNew(const std::string& http, const std::string& id) {
  HttpResponse response = Post(http, SubmitBody(id));
  EXPECT_EQ(response.status, 202) << response.body;
  auto receipt = ParseReceipt(response);
  EXPECT_TRUE(receipt.ok()) << receipt.status();
  return receipt.ok() ? *receipt : Receipt();
}

std::string ReadFile(const std::string& path);

// --- Tests

TEST(GatewayApiTest, ReceiptOnlyAfterCommit) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  HttpResponse response = Post(gc.Http(), SubmitBody("commit-1"));
  ASSERT_EQ(response.status, 202) << response.body;
  EXPECT_EQ(response.Header("location"), "/reports/commit-1");
  EXPECT_EQ(response.Header("content-type"), "application/json");
  auto receipt = ParseReceipt(response);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->request_id(), "commit-1");
  EXPECT_GT(receipt->accepted_offset(), 0u);
  EXPECT_FALSE(receipt->duplicate());
  EXPECT_EQ(receipt->status_path(), "/reports/commit-1");
  EXPECT_GT(receipt->epoch(), 0u);

  // The receipt was handed out after the commit and apply: the leader has it at
  // once, and every replica serves it at the receipt's offset (followers learn
  // the commit with the next message, so they may take a moment, never longer
  // than the wait).
  auto leader = gc.LeaderStub();
  ASSERT_NE(leader, nullptr);
  {
    grpc::ClientContext context;
    ReadStatusRequest read;
    read.set_request_id("commit-1");
    read.set_min_offset(receipt->accepted_offset());
    read.set_wait_ms(0);
    ReadStatusResponse status;
    grpc::Status rpc = leader->ReadStatus(&context, read, &status);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    EXPECT_EQ(status.record().accepted_offset(), receipt->accepted_offset());
  }
  for (const Member& member : gc.cluster.config().members()) {
    auto stub = ReplicaService::NewStub(
        grpc::CreateChannel(member.grpc_address(), gc.cluster.credentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    ReadStatusRequest read;
    read.set_request_id("commit-1");
    read.set_min_offset(receipt->accepted_offset());
    read.set_wait_ms(2000);
    ReadStatusResponse status;
    grpc::Status rpc = stub->ReadStatus(&context, read, &status);
    ASSERT_TRUE(rpc.ok()) << member.name() << ": " << rpc.error_message();
    EXPECT_EQ(status.record().request_id(), "commit-1") << member.name();
    EXPECT_EQ(status.record().accepted_offset(), receipt->accepted_offset())
        << member.name();
    EXPECT_EQ(status.record().accepted_epoch(), receipt->epoch())
        << member.name();
    EXPECT_GE(status.served_offset(), receipt->accepted_offset())
        << member.name();
  }
  HttpResponse read =
      Get(gc.Http(), absl::StrCat("/reports/commit-1?min_offset=",
                                  receipt->accepted_offset(), "&wait_ms=2000"));
  ASSERT_EQ(read.status, 200) << read.body;
  auto status = ParseJson<api::ReportStatus>(read.body);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), ACCEPTED);  // no workers in this cluster
  EXPECT_EQ(status->accepted_offset(), receipt->accepted_offset());

  // The same promise over gRPC.
  grpc::ClientContext context;
  Receipt grpc_receipt;
  grpc::Status rpc = gc.Api()->SubmitReport(&context, ApiSubmission("commit-2"),
                                            &grpc_receipt);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_EQ(grpc_receipt.accepted_offset(), receipt->accepted_offset() + 1);
  EXPECT_FALSE(grpc_receipt.duplicate());
  EXPECT_EQ(grpc_receipt.status_path(), "/reports/commit-2");
}

TEST(GatewayApiTest, ClientRetryAfterTimeoutReturnsOriginalReceipt) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt first = SubmitNew(gc.Http(), "retry-1");
  ASSERT_GT(first.accepted_offset(), 0u);

  HttpResponse replay = Post(gc.Http(), SubmitBody("retry-1"));
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.Header("location"), "/reports/retry-1");
  auto again = ParseReceipt(replay);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate());
  EXPECT_EQ(again->accepted_offset(), first.accepted_offset());
  EXPECT_EQ(again->epoch(), first.epoch());
  EXPECT_EQ(again->status_path(), first.status_path());

  // The Idempotency-Key header form of the same retry (the IETF header's
  // quoted string).
  HttpResponse keyed =
      Post(gc.Http(), "{\"account_id\":\"acct-1\",\"month\":\"2026-04\"}",
           {"Idempotency-Key: \"retry-1\""});
  ASSERT_EQ(keyed.status, 200) << keyed.body;
  auto keyed_receipt = ParseReceipt(keyed);
  ASSERT_TRUE(keyed_receipt.ok());
  EXPECT_EQ(keyed_receipt->accepted_offset(), first.accepted_offset());

  grpc::ClientContext context;
  Receipt grpc_replay;
  grpc::Status rpc =
      gc.Api()->SubmitReport(&context, ApiSubmission("retry-1"), &grpc_replay);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_TRUE(grpc_replay.duplicate());
  EXPECT_EQ(grpc_replay.accepted_offset(), first.accepted_offset());

  // No replay appended anything: the next new request takes the very next
  // offset.
  Receipt next = SubmitNew(gc.Http(), "retry-2");
  EXPECT_EQ(next.accepted_offset(), first.accepted_offset() + 1);
}

TEST(GatewayApiTest, ChangedRetryPayloadFailsWithIdempotencyConflict) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt first = SubmitNew(gc.Http(), "conflict-1");
  ASSERT_GT(first.accepted_offset(), 0u);

  ExpectProblem(Post(gc.Http(), SubmitBody("conflict-1", "acct-9")), 422,
                "IdempotencyConflict", "other account");
  ExpectProblem(Post(gc.Http(), SubmitBody("conflict-1", "acct-1", "2026-05")),
                422, "IdempotencyConflict", "other month");

  grpc::ClientContext context;
  Receipt unused;
  grpc::Status rpc = gc.Api()->SubmitReport(
      &context, ApiSubmission("conflict-1", "acct-9"), &unused);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << rpc.error_message();
  EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "IdempotencyConflict:"))
      << rpc.error_message();

  // The original stands unchanged, and nothing was appended.
  HttpResponse read =
      Get(gc.Http(), absl::StrCat("/reports/conflict-1?min_offset=",
                                  first.accepted_offset(), "&wait_ms=2000"));
  ASSERT_EQ(read.status, 200) << read.body;
  auto status = ParseJson<api::ReportStatus>(read.body);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->account_id(), "acct-1");
  EXPECT_EQ(status->month(), "2026-04");
  Receipt next = SubmitNew(gc.Http(), "conflict-2");
  EXPECT_EQ(next.accepted_offset(), first.accepted_offset() + 1);
}

TEST(GatewayApiTest, HttpConventionsHoldOnARealGateway) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  // The IETF Idempotency-Key header, a quoted sf-string; the replay names its
  // status as the first answer did.
  const std::string body = R"({"account_id":"acct-1","month":"2026-04"})";
  HttpResponse created =
      Post(gc.Http(), body, {R"(Idempotency-Key: "conv-1")"});
  ASSERT_EQ(created.status, 202) << created.body;
  EXPECT_EQ(created.Header("location"), "/reports/conv-1");
  HttpResponse replay = Post(gc.Http(), body, {R"(Idempotency-Key: "conv-1")"});
  EXPECT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.Header("location"), "/reports/conv-1");
  auto receipt = ParseReceipt(created);
  ASSERT_TRUE(receipt.ok()) << receipt.status();

  // 415 for a body that says it is not JSON (curl -d's default type).
  HttpResponse form = Exchange(
      gc.Http(), absl::StrCat("POST /reports HTTP/1.1\r\nHost: t\r\n",
                              "Content-Type: application/x-www-form-urlencoded"
                              "\r\nContent-Length: ",
                              SubmitBody("conv-2").size(), "\r\n\r\n",
                              SubmitBody("conv-2")));
  ExpectProblem(form, 415, "InvalidArgument", "form body");
  EXPECT_EQ(form.Header("accept-post"), "application/json");

  // ETag is the version; If-None-Match with it is 304 without a body.
  const std::string target =
      absl::StrCat("/reports/conv-1?min_offset=", receipt->accepted_offset(),
                   "&wait_ms=5000");
  HttpResponse status = Get(gc.Http(), target);
  ASSERT_EQ(status.status, 200) << status.body;
  const std::string etag = status.Header("etag");
  auto parsed = ParseJson<api::ReportStatus>(status.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(etag, absl::StrCat("W/\"", parsed->version(), "\""));
  HttpResponse unchanged = Exchange(
      gc.Http(), RawRequest("GET", target, "", {"If-None-Match: " + etag}));
  EXPECT_EQ(unchanged.status, 304);
  EXPECT_EQ(unchanged.body, "");
  EXPECT_EQ(unchanged.Header("etag"), etag);

  // HEAD: the headers and length of the GET, no body.
  for (const std::string& path :
       {target, std::string("/openapi.yaml"), std::string("/healthz")}) {
    HttpResponse get = Get(gc.Http(), path);
    HttpResponse head = Exchange(gc.Http(), RawRequest("HEAD", path, ""));
    EXPECT_EQ(head.status, 200) << path;
    EXPECT_EQ(head.Header("content-length"), absl::StrCat(get.body.size()))
        << path;
    EXPECT_EQ(head.Header("content-type"), get.Header("content-type")) << path;
    EXPECT_EQ(head.body, "") << path;
  }

  // Problems name their instance (RFC 9457).
  HttpResponse missing = Get(gc.Http(), "/reports/conv-none?min_offset=1");
  ExpectProblem(missing, 404, "NotFound", "unknown id");
  auto problem = ParseJson<api::Problem>(missing.body);
  ASSERT_TRUE(problem.ok());
  EXPECT_EQ(problem->instance(), "/reports/conv-none");

  // The gateway serves docs/openapi.yaml as built.
  HttpResponse document = Get(gc.Http(), "/openapi.yaml");
  EXPECT_EQ(document.status, 200);
  EXPECT_EQ(document.Header("content-type"), "application/yaml");
  EXPECT_EQ(document.body, ReadFile(SourceDir() + "/docs/openapi.yaml"));
}

// Pages of an account's list while new submits arrive and the leader is
// killed between pages: every request that existed when the first page was
// read appears exactly once, newest first, and the token keeps working on the
// new leader's cluster (and through another gateway).
TEST(GatewayApiTest, ListingAcrossPagesWhileSubmitsArriveAndTheLeaderIsKilled) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  std::vector<std::string> before_ids;
  uint64_t last_offset = 0;
  for (int i = 0; i < 23; ++i) {
    const std::string id = absl::StrCat("list-", i);
    HttpResponse response = Post(gc.Http(), SubmitBody(id, "acct-list"));
    ASSERT_EQ(response.status, 202) << response.body;
    auto receipt = ParseReceipt(response);
    ASSERT_TRUE(receipt.ok());
    last_offset = receipt->accepted_offset();
    before_ids.push_back(id);
  }
  Post(gc.Http(), SubmitBody("other-1", "acct-other"));
  std::atomic<bool> stop{false};
  std::atomic<int> arrived{0};
  std::thread submitter([&] {
    for (int i = 0; !stop.load(); ++i) {
      HttpResponse response = Post(
          gc.Http(), SubmitBody(absl::StrCat("list-new-", i), "acct-list"));
      if (response.status == 202) arrived.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  std::vector<std::string> seen;
  std::vector<uint64_t> offsets;
  std::string token;
  bool killed = false;
  int pages = 0;
  for (; pages < 50; ++pages) {
    std::string target = absl::StrCat(
        "/reports?account_id=acct-list&page_size=5&min_offset=", last_offset,
        "&wait_ms=5000");
    if (!token.empty()) absl::StrAppend(&target, "&page_token=", token);
    // After the leader is gone, read through the read gateway in another
    // domain: the token is not tied to a gateway or a leader.
    HttpResponse response =
        Get(killed && gc.gateways.size() > 1 ? gc.Http(1) : gc.Http(), target);
    ASSERT_EQ(response.status, 200) << target << ": " << response.body;
    auto page = ParseJson<api::ListReportsResponse>(response.body);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const api::ReportStatus& status : page->reports()) {
      EXPECT_EQ(status.account_id(), "acct-list");
      seen.push_back(status.request_id());
      offsets.push_back(status.accepted_offset());
    }
    token = page->next_page_token();
    if (pages == 0) {
      // The first page is the newest; later ones must not show newer ones.
      EXPECT_GE(page->reports_size(), 1);
      auto leader = gc.cluster.WaitForLeader(absl::Seconds(10));
      ASSERT_TRUE(leader.ok()) << leader.status();
      gc.cluster.Kill(*leader);
      killed = true;
    }
    if (token.empty()) break;
  }
  stop = true;
  submitter.join();
  EXPECT_GT(pages, 3);
  for (size_t i = 1; i < offsets.size(); ++i) {
    EXPECT_LT(offsets[i], offsets[i - 1]) << "not newest first at " << i;
  }
  std::map<std::string, int> count;
  for (const std::string& id : seen) count[id]++;
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << id << " repeated";
  for (const std::string& id : before_ids) {
    EXPECT_EQ(count.count(id), 1u) << id << " missing from the pages";
  }
  EXPECT_EQ(count.count("other-1"), 0u);

  // A state filter and reportctl walk the same index.
  std::string out, err;
  ASSERT_EQ(RunSplit(absl::StrCat(BinDir(), "/reportctl list --account ",
                                  "acct-list --all --json --min-offset ",
                                  last_offset, " --cluster ", gc.cluster.dir(),
                                  "/cluster.textproto"),
                     gc.cluster.dir(), &out, &err),
            0)
      << err;
  const std::vector<std::string> lines =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  EXPECT_GE(lines.size(), before_ids.size()) << out;
  EXPECT_GT(arrived.load(), 0);
  HttpResponse accepted =
      Get(gc.Http(1 % gc.gateways.size()),
          "/reports?account_id=acct-list&state=COMPLETED&page_size=500");
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  auto none = ParseJson<api::ListReportsResponse>(accepted.body);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->reports_size(), 0);  // no workers: nothing completed
}

// cluster.sh up places a read gateway in a replica domain outside the ingress
// set (GCP in cross-provider): it serves reads from its nearest replica, at
// least as fresh as asked or linearizable, and answers every submit
// DomainUnavailable without asking the cluster.
TEST(GatewayApiTest, IngressFromDisallowedDomainFailsWithDomainUnavailable) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt first = SubmitNew(gc.Http(), "ingress-1");
  ASSERT_GT(first.accepted_offset(), 0u);
  ProcessInfo reader;
  for (const ProcessInfo& p : gc.gateways) {
    if (absl::StartsWith(p.name, "gateway-read")) reader = p;
  }
  ASSERT_FALSE(reader.name.empty()) << "cluster.sh up placed no read gateway";
  EXPECT_EQ(reader.domain, "gcp/us-central1/us-central1-a");
  std::string endpoints;
  ASSERT_EQ(gc.cluster.Script("endpoints", &endpoints), 0);
  EXPECT_TRUE(absl::StrContains(endpoints, reader.name)) << endpoints;

  auto before = gc.Leader();
  ASSERT_TRUE(before.ok()) << before.status();
  ExpectProblem(Post(reader.http_address, SubmitBody("ingress-gcp")), 503,
                "DomainUnavailable", "submit at the read gateway");
  {
    auto stub = api::ReportApi::NewStub(
        grpc::CreateChannel(reader.grpc_address, gc.cluster.credentials()));
    grpc::ClientContext context;
    Receipt unused;
    grpc::Status rpc =
        stub->SubmitReport(&context, ApiSubmission("ingress-gcp"), &unused);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << rpc.error_message();
    EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "DomainUnavailable"))
        << rpc.error_message();

    // Reads there: linearizable without any offset sees the receipt's entry.
    grpc::ClientContext read_context;
    api::GetReportRequest get;
    get.set_request_id("ingress-1");
    get.set_consistency(LINEARIZABLE);
    api::ReportStatus status;
    rpc = stub->GetReport(&read_context, get, &status);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    EXPECT_GE(status.served_offset(), first.accepted_offset());
  }
  HttpResponse fresh = Get(
      reader.http_address,
      absl::StrCat("/reports/ingress-1?min_offset=", first.accepted_offset(),
                   "&wait_ms=5000"));
  EXPECT_EQ(fresh.status, 200) << fresh.body;
  Receipt second = SubmitNew(gc.Http(), "ingress-lin");
  HttpResponse linearizable =
      Get(reader.http_address, "/reports/ingress-lin?consistency=linearizable");
  ASSERT_EQ(linearizable.status, 200) << linearizable.body;
  auto parsed = ParseJson<api::ReportStatus>(linearizable.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_GE(parsed->served_offset(), second.accepted_offset());
  ExpectProblem(
      Get(reader.http_address, "/reports/ingress-lin?consistency=sometimes"),
      400, "InvalidArgument", "unknown consistency");

  // Whoever bypasses the gateway meets the same check in the replicas, even
  // with a valid gateway certificate for that domain.
  auto leader = gc.LeaderStub(gc.cluster.CredentialsAs(
      "gateway-gcp", "gateway", "gcp/us-central1/us-central1-a"));
  ASSERT_NE(leader, nullptr);
  grpc::ClientContext context;
  SubmitRequest submit;
  submit.mutable_submission()->set_request_id("ingress-gcp");
  submit.mutable_submission()->set_account_id("acct-1");
  submit.mutable_submission()->set_month("2026-04");
  submit.set_ingress_domain("gcp/us-central1/us-central1-a");
  SubmitResponse unused;
  grpc::Status rpc = leader->Submit(&context, submit, &unused);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << rpc.error_message();
  EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "DomainUnavailable"))
      << rpc.error_message();

  auto after = gc.Leader();
  ASSERT_TRUE(after.ok()) << after.status();
  // Only ingress-lin was appended.
  EXPECT_EQ(after->last_offset(), before->last_offset() + 1)
      << "a refused submit was appended";
  EXPECT_EQ(after->commit_offset(), before->commit_offset() + 1);
  ExpectProblem(
      Get(gc.Http(), absl::StrCat("/reports/ingress-gcp?min_offset=",
                                  after->commit_offset(), "&wait_ms=2000")),
      404, "NotFound", "refused request");
  Receipt next = SubmitNew(gc.Http(), "ingress-2");
  EXPECT_EQ(next.accepted_offset(), second.accepted_offset() + 1);
}

TEST(GatewayApiTest, StaleReadFailsUntilProjectionReachesReceiptOffset) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt receipt = SubmitNew(gc.Http(), "fresh-1");
  ASSERT_GT(receipt.accepted_offset(), 0u);
  const uint64_t future = receipt.accepted_offset() + 1000;

  const absl::Time started = absl::Now();
  HttpResponse stale =
      Get(gc.Http(),
          absl::StrCat("/reports/fresh-1?min_offset=", future, "&wait_ms=200"));
  const absl::Duration took = absl::Now() - started;
  ExpectProblem(stale, 503, "StaleRead", "future offset");
  EXPECT_EQ(stale.Header("retry-after"), "1");
  EXPECT_GE(took, absl::Milliseconds(150))
      << "the replica did not wait for the offset";

  grpc::ClientContext context;
  api::GetReportRequest get;
  get.set_request_id("fresh-1");
  get.set_min_offset(future);
  get.set_wait_ms(100);
  api::ReportStatus unused;
  grpc::Status rpc = gc.Api()->GetReport(&context, get, &unused);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::UNAVAILABLE)
      << rpc.error_message();
  EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "StaleRead:"))
      << rpc.error_message();

  HttpResponse fresh =
      Get(gc.Http(), absl::StrCat("/reports/fresh-1?min_offset=",
                                  receipt.accepted_offset(), "&wait_ms=2000"));
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  auto status = ParseJson<api::ReportStatus>(fresh.body);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_GE(status->served_offset(), receipt.accepted_offset());
  EXPECT_EQ(status->request_id(), "fresh-1");
  EXPECT_EQ(status->accepted_offset(), receipt.accepted_offset());
  EXPECT_EQ(status->fingerprint().size(), 64u);

  grpc::ClientContext fresh_context;
  get.set_min_offset(receipt.accepted_offset());
  get.set_wait_ms(2000);
  api::ReportStatus grpc_status;
  rpc = gc.Api()->GetReport(&fresh_context, get, &grpc_status);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_GE(grpc_status.served_offset(), receipt.accepted_offset());
}

TEST(GatewayApiTest, UnknownRequestIsNotFound) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt receipt = SubmitNew(gc.Http(), "known-1");
  ASSERT_GT(receipt.accepted_offset(), 0u);
  ExpectProblem(
      Get(gc.Http(), absl::StrCat("/reports/never-submitted?min_offset=",
                                  receipt.accepted_offset(), "&wait_ms=2000")),
      404, "NotFound", "unknown id");
  grpc::ClientContext context;
  api::GetReportRequest get;
  get.set_request_id("never-submitted");
  get.set_min_offset(receipt.accepted_offset());
  get.set_wait_ms(2000);
  api::ReportStatus unused;
  grpc::Status rpc = gc.Api()->GetReport(&context, get, &unused);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND)
      << rpc.error_message();
  EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "NotFound:"))
      << rpc.error_message();
}

TEST(GatewayApiTest,
     ConcurrentIdenticalSubmitsThroughTwoGatewaysShareOneReceipt) {
  GatewayCluster gc("multi-az");
  ASSERT_UP(gc);
  ASSERT_EQ(gc.gateways.size(), 2u);
  EXPECT_NE(gc.gateways[0].domain, gc.gateways[1].domain);
  Receipt warm = SubmitNew(gc.Http(0), "warm-up");
  ASSERT_GT(warm.accepted_offset(), 0u);

  constexpr int kClients = 8;
  std::vector<HttpResponse> http(kClients);
  std::vector<std::optional<Receipt>> grpc_receipts(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      const size_t gateway = static_cast<size_t>(i % 2);
      if (i % 4 < 2) {
        http[i] = Post(gc.Http(gateway), SubmitBody("shared-1"));
      } else {
        grpc::ClientContext context;
        Receipt receipt;
        if (gc.Api(gateway)
                ->SubmitReport(&context, ApiSubmission("shared-1"), &receipt)
                .ok()) {
          grpc_receipts[i] = receipt;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<Receipt> receipts;
  for (int i = 0; i < kClients; ++i) {
    if (i % 4 < 2) {
      ASSERT_TRUE(http[i].status == 200 || http[i].status == 202)
          << "client " << i << ": " << http[i].status << " " << http[i].body;
      auto receipt = ParseReceipt(http[i]);
      ASSERT_TRUE(receipt.ok()) << receipt.status();
      EXPECT_EQ(http[i].status == 200, receipt->duplicate()) << "client " << i;
      receipts.push_back(*receipt);
    } else {
      ASSERT_TRUE(grpc_receipts[i].has_value())
          << "client " << i << " got no receipt";
      receipts.push_back(*grpc_receipts[i]);
    }
  }
  int originals = 0;
  for (const Receipt& receipt : receipts) {
    EXPECT_EQ(receipt.accepted_offset(), receipts[0].accepted_offset());
    EXPECT_EQ(receipt.epoch(), receipts[0].epoch());
    originals += receipt.duplicate() ? 0 : 1;
  }
  EXPECT_GE(originals, 1)
      << "someone's submit must have been the accepting one";
  Receipt next = SubmitNew(gc.Http(1), "after-shared");
  EXPECT_EQ(next.accepted_offset(), receipts[0].accepted_offset() + 1)
      << "the identical submits appended more than one entry";
}

struct MalformedCase {
  std::string name;
  std::string raw;  // bytes sent on a fresh connection
  int status;
  std::string code;
  std::string header = "";  // "name: value" that must be in the answer
};

TEST(GatewayApiTest,
     MalformedRequestsGetTheirDocumentedStatusAndChangeNothing) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  Receipt first = SubmitNew(gc.Http(), "good-1");
  ASSERT_GT(first.accepted_offset(), 0u);
  auto before = gc.Leader();
  ASSERT_TRUE(before.ok()) << before.status();
  const std::string http = gc.Http();

  // A client that sends half a request and then nothing: the gateway hangs up
  // on it after its request timeout (10 s), without an answer. Runs beside the
  // table.
  bool stalled_closed = false;
  std::string stalled_received;
  std::thread stalled([&] {
    auto connection = HttpConnection::Open(http);
    if (!connection.ok()) return;
    (*connection)->Send("POST /reports HTTP/1.1\r\nHost: test\r\nContent-Le");
    stalled_closed = (*connection)->WaitForClose(absl::Seconds(20));
    stalled_received = (*connection)->received();
  });
  // Joined on every way out of the test (an ASSERT below returns early).
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } join_stalled{stalled};

  const std::string long_id(129, 'x');
  const std::vector<MalformedCase> cases = {
      {"bad JSON", RawRequest("POST", "/reports", "{\"request_id\": \"m1\","),
       400, "InvalidArgument"},
      {"not an object", RawRequest("POST", "/reports", "[1,2,3]"), 400,
       "InvalidArgument"},
      {"empty body", RawRequest("POST", "/reports", ""), 400,
       "InvalidArgument"},
      {"missing account",
       RawRequest("POST", "/reports",
                  "{\"request_id\":\"m2\",\"month\":\"2026-04\"}"),
       400, "InvalidArgument"},
      {"missing month",
       RawRequest("POST", "/reports",
                  "{\"request_id\":\"m3\",\"account_id\":\"a\"}"),
       400, "InvalidArgument"},
      {"missing request id",
       RawRequest("POST", "/reports",
                  "{\"account_id\":\"a\",\"month\":\"2026-04\"}"),
       400, "InvalidArgument"},
      {"wrong type",
       RawRequest("POST", "/reports",
                  "{\"request_id\":\"m4\",\"account_id\":[1],"
                  "\"month\":\"2026-04\"}"),
       400, "InvalidArgument"},
      {"wrong type number month",
       RawRequest("POST", "/reports",
                  "{\"request_id\":\"m5\",\"account_id\":\"a\","
                  "\"month\":202604}"),
       400, "InvalidArgument"},
      {"unknown field",
       RawRequest("POST", "/reports",
                  "{\"request_id\":\"m6\",\"account_id\":\"a\","
                  "\"month\":\"2026-04\",\"priority\":1}"),
       400, "InvalidArgument"},
      {"oversized body",
       RawRequest(
           "POST", "/reports",
           SubmitBody("m7", "a", "2026-04") + std::string(17 * 1024, ' ')),
       413, "InvalidArgument"},
      {"oversized id", RawRequest("POST", "/reports", SubmitBody(long_id)), 400,
       "InvalidArgument"},
      {"oversized account",
       RawRequest("POST", "/reports", SubmitBody("m8", long_id)), 400,
       "InvalidArgument"},
      {"month 13",
       RawRequest("POST", "/reports", SubmitBody("m9", "a", "2026-13")), 400,
       "InvalidArgument"},
      {"month without zero",
       RawRequest("POST", "/reports", SubmitBody("m10", "a", "2026-4")), 400,
       "InvalidArgument"},
      {"month as a date",
       RawRequest("POST", "/reports", SubmitBody("m11", "a", "2026-04-01")),
       400, "InvalidArgument"},
      {"id with a space", RawRequest("POST", "/reports", SubmitBody("m 12")),
       400, "InvalidArgument"},
      {"id with a slash", RawRequest("POST", "/reports", SubmitBody("m/13")),
       400, "InvalidArgument"},
      {"account with unicode",
       RawRequest("POST", "/reports", SubmitBody("m14", "acct-\u00e9")), 400,
       "InvalidArgument"},
      {"Idempotency-Key mismatch",
       RawRequest("POST", "/reports", SubmitBody("m15"),
                  {"Idempotency-Key: m16"}),
       400, "InvalidArgument"},
      {"Idempotency-Key with bad charset",
       RawRequest("POST", "/reports",
                  "{\"account_id\":\"a\",\"month\":\"2026-04\"}",
                  {"Idempotency-Key: m 17"}),
       400, "InvalidArgument"},
      {"unknown route", RawRequest("GET", "/nope", ""), 404, "NotFound"},
      {"unknown nested route", RawRequest("GET", "/reports/a/b", ""), 404,
       "NotFound"},
      {"wrong method on /reports", RawRequest("DELETE", "/reports", ""), 405,
       "InvalidArgument", "allow: GET, HEAD, POST"},
      {"wrong method on a report",
       RawRequest("PUT", "/reports/good-1", SubmitBody("good-1")), 405,
       "InvalidArgument", "allow: GET, HEAD"},
      {"GET /reports without an account", RawRequest("GET", "/reports", ""),
       400, "InvalidArgument"},
      {"GET a cancel", RawRequest("GET", "/reports/good-1:cancel", ""), 405,
       "InvalidArgument", "allow: POST"},
      {"status with a bad id", RawRequest("GET", "/reports/a%20b", ""), 400,
       "InvalidArgument"},
      {"status with a broken escape", RawRequest("GET", "/reports/a%2", ""),
       400, "InvalidArgument"},
      {"negative min_offset",
       RawRequest("GET", "/reports/good-1?min_offset=-1", ""), 400,
       "InvalidArgument"},
      {"unknown query parameter",
       RawRequest("GET", "/reports/good-1?consistency=strong", ""), 400,
       "InvalidArgument"},
      {"repeated query parameter",
       RawRequest("GET", "/reports/good-1?min_offset=1&min_offset=2", ""), 400,
       "InvalidArgument"},
      {"oversized headers",
       RawRequest("POST", "/reports", SubmitBody("m18"),
                  {"X-Padding: " + std::string(9 * 1024, 'p')}),
       431, "InvalidArgument"},
      {"garbage request line", "NONSENSE\r\n\r\n", 400, "InvalidArgument"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    HttpResponse response = Exchange(http, c.raw);
    ExpectProblem(response, c.status, c.code, c.name);
    if (!c.header.empty()) {
      std::pair<std::string, std::string> kv = absl::StrSplit(c.header, ": ");
      EXPECT_EQ(response.Header(kv.first), kv.second) << c.name;
    }
  }

  // gRPC runs the same validation.
  for (const api::SubmitReportRequest& bad :
       {ApiSubmission("g1", "acct-1", "2026-00"),
        ApiSubmission("", "acct-1", "2026-04"),
        ApiSubmission("g2", "", "2026-04"), ApiSubmission(long_id)}) {
    grpc::ClientContext context;
    Receipt unused;
    grpc::Status rpc = gc.Api()->SubmitReport(&context, bad, &unused);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << bad.ShortDebugString();
    EXPECT_TRUE(absl::StartsWith(rpc.error_message(), "InvalidArgument:"))
        << rpc.error_message();
  }
  // Larger than any message the gateway takes (4 MiB): gRPC refuses it before
  // the front door sees it, and the code still reads InvalidArgument.
  {
    grpc::ClientContext context;
    Receipt unused;
    grpc::Status rpc = gc.Api()->SubmitReport(
        &context, ApiSubmission("g3", std::string(5 << 20, 'a')), &unused);
    EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(rpc)), ErrorCode::kInvalidArgument)
        << rpc.error_code() << " " << rpc.error_message();
  }

  // A body cut short, then the client leaves: no answer, nothing reaches the
  // cluster.
  {
    auto connection = HttpConnection::Open(http);
    ASSERT_TRUE(connection.ok());
    std::string raw = RawRequest("POST", "/reports", SubmitBody("truncated-1"));
    (*connection)->Send(raw.substr(0, raw.size() - 10));
    (*connection)->ShutdownWrite();
    EXPECT_TRUE((*connection)->WaitForClose(absl::Seconds(5)));
    EXPECT_EQ((*connection)->received(), "")
        << "a half-sent request was answered";
  }
  // A very slow client that dribbles an invalid request byte by byte is still
  // answered in full, and its request is refused like any other.
  {
    auto connection = HttpConnection::Open(http);
    ASSERT_TRUE(connection.ok());
    std::string raw =
        RawRequest("POST", "/reports", SubmitBody("slow-1", "a", "2026-99"));
    for (size_t i = 0; i < raw.size(); i += 8) {
      ASSERT_TRUE((*connection)->Send(raw.substr(i, 8)));
      absl::SleepFor(absl::Milliseconds(5));  // the slowness is the test input
    }
    auto response = (*connection)->ReadResponse(absl::Seconds(5));
    ASSERT_TRUE(response.ok()) << response.status();
    ExpectProblem(*response, 400, "InvalidArgument", "slow client");
  }

  stalled.join();
  EXPECT_TRUE(stalled_closed) << "the gateway kept a stalled connection open";
  EXPECT_EQ(stalled_received, "") << "a stalled half request was answered";

  // The gateway is fine, and nothing was appended.
  HttpResponse health = Get(http, "/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  auto after = gc.Leader();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->id(), before->id());
  EXPECT_EQ(after->last_offset(), before->last_offset())
      << "bad input was appended";
  EXPECT_EQ(after->commit_offset(), before->commit_offset());
  for (const std::string id :
       {"truncated-1", "slow-1", "m7", "m15", "m16", "m18"}) {
    ExpectProblem(Get(http, absl::StrCat("/reports/", id,
                                         "?min_offset=", after->commit_offset(),
                                         "&wait_ms=2000")),
                  404, "NotFound", id);
  }
  Receipt next = SubmitNew(http, "good-2");
  EXPECT_EQ(next.accepted_offset(), first.accepted_offset() + 1);
}

// The value of one sample line of the Prometheus text (0 when absent).
double MetricValue(const std::string& text, const std::string& sample) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, sample) && absl::ConsumePrefix(&line, " ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return 0;
}

TEST(GatewayApiTest, HealthzAndMetrics) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  HttpResponse health = Get(gc.Http(), "/healthz");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_TRUE(absl::StrContains(health.body, "\"status\":\"ok\""))
      << health.body;
  EXPECT_TRUE(absl::StrContains(health.body, gc.gateways[0].domain))
      << health.body;

  const std::string http_ok =
      "report_gateway_requests_total{transport=\"http\",route=\"submit\",code="
      "\"Ok\"}";
  const std::string http_bad =
      "report_gateway_requests_total{transport=\"http\",route=\"submit\",code="
      "\"InvalidArgument\"}";
  const std::string grpc_ok =
      "report_gateway_requests_total{transport=\"grpc\",route=\"submit\",code="
      "\"Ok\"}";
  const std::string stale = "report_gateway_stale_reads_total";
  HttpResponse before = Get(gc.Http(), "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_TRUE(absl::StartsWith(before.Header("content-type"), "text/plain"))
      << before.Header("content-type");

  Receipt receipt = SubmitNew(gc.Http(), "metrics-1");
  ExpectProblem(Post(gc.Http(), SubmitBody("metrics-2", "a", "bad")), 400,
                "InvalidArgument", "bad month");
  grpc::ClientContext context;
  Receipt unused;
  ASSERT_TRUE(gc.Api()
                  ->SubmitReport(&context, ApiSubmission("metrics-3"), &unused)
                  .ok());
  ExpectProblem(Get(gc.Http(), absl::StrCat("/reports/metrics-1?min_offset=",
                                            receipt.accepted_offset() + 1000,
                                            "&wait_ms=0")),
                503, "StaleRead", "stale");

  HttpResponse after = Get(gc.Http(), "/metrics");
  ASSERT_EQ(after.status, 200);
  EXPECT_TRUE(absl::StrContains(
      after.body, "report_gateway_submit_latency_seconds_bucket"));
  EXPECT_EQ(MetricValue(after.body, http_ok),
            MetricValue(before.body, http_ok) + 1);
  EXPECT_EQ(MetricValue(after.body, http_bad),
            MetricValue(before.body, http_bad) + 1);
  EXPECT_EQ(MetricValue(after.body, grpc_ok),
            MetricValue(before.body, grpc_ok) + 1);
  EXPECT_EQ(MetricValue(after.body, stale),
            MetricValue(before.body, stale) + 1);
  // Two accepted submits (HTTP and gRPC), each in some SubmitBatch call.
  const std::string batched = "report_gateway_batched_submits_total";
  const std::string batches = "report_gateway_submit_batches_total";
  EXPECT_EQ(MetricValue(after.body, batched),
            MetricValue(before.body, batched) + 2);
  EXPECT_GE(MetricValue(after.body, batches),
            MetricValue(before.body, batches) + 1);
  EXPECT_GE(
      MetricValue(
          after.body,
          "report_gateway_requests_total{transport=\"http\",route=\"healthz\","
          "code=\"Ok\"}"),
      1);
}

TEST(GatewayApiTest, ReportctlSubmitsAndReadsThroughTheGateway) {
  GatewayCluster gc("cross-provider");
  ASSERT_UP(gc);
  // The operator's certificate comes from $REPORT_TLS_DIR.
  const std::string reportctl = absl::StrCat(
      "REPORT_TLS_DIR=", gc.cluster.tls_dir(), " ", BinDir(), "/reportctl");
  const std::string gateway = gc.gateways[0].grpc_address;
  std::string out, err;
  int code = RunSplit(
      absl::StrCat(reportctl, " submit --request-id ctl-1 --account acct-1 ",
                   "--month 2026-04 --gateway ", gateway, " --json"),
      gc.cluster.dir(), &out, &err);
  ASSERT_EQ(code, 0) << out << err;
  auto receipt = ParseJson<Receipt>(out);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->request_id(), "ctl-1");
  EXPECT_GT(receipt->accepted_offset(), 0u);
  EXPECT_FALSE(receipt->duplicate());

  code = RunSplit(absl::StrCat(reportctl, " status ctl-1 --min-offset ",
                               receipt->accepted_offset(), " --gateway ",
                               gateway, " --json"),
                  gc.cluster.dir(), &out, &err);
  ASSERT_EQ(code, 0) << out << err;
  auto status = ParseJson<api::ReportStatus>(out);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->request_id(), "ctl-1");
  EXPECT_EQ(status->accepted_offset(), receipt->accepted_offset());
  EXPECT_GE(status->served_offset(), receipt->accepted_offset());

  code = RunSplit(
      absl::StrCat(reportctl, " submit --request-id ctl-1 --account acct-1 ",
                   "--month 2026-04 --gateway ", gateway, " --json"),
      gc.cluster.dir(), &out, &err);
  ASSERT_EQ(code, 0) << out << err;
  auto replay = ParseJson<Receipt>(out);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->duplicate());
  EXPECT_EQ(replay->accepted_offset(), receipt->accepted_offset());

  code = RunSplit(
      absl::StrCat(reportctl, " submit --request-id ctl-2 --account acct-1 ",
                   "--month 2026-13 --gateway ", gateway),
      gc.cluster.dir(), &out, &err);
  EXPECT_EQ(code, 1) << out << err;
  EXPECT_TRUE(absl::StartsWith(err, "error: InvalidArgument: ")) << err;
  EXPECT_EQ(out, "");
}

// True when `pid` has ended (gone, or a zombie nobody reaped yet).
bool Exited(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  if (text.empty()) return true;
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() &&
         text[paren + 2] == 'Z';
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// `--gateway-args --access-log`: one event=http_access line per answered
// request, with its method, route, status, code, latency and request id.
TEST(GatewayApiTest, TheAccessLogHasOneLinePerAnsweredRequest) {
  GatewayCluster gc("single-az", "--workers 0 --gateway-args --access-log");
  ASSERT_UP(gc);
  SubmitNew(gc.Http(), "logged-1");
  HttpResponse read = Get(gc.Http(), "/reports/no-such-id");
  EXPECT_EQ(read.status, 404) << read.body;
  const std::string log =
      absl::StrCat(gc.cluster.dir(), "/", gc.gateways[0].name, "/log");
  const std::string submitted =
      "event=http_access method=POST route=submit status=202 code=Ok "
      "latency_ms=";
  const std::string refused =
      "event=http_access method=GET route=status status=404 code=NotFound "
      "latency_ms=";
  std::string text;
  EXPECT_TRUE(WaitUntil(
      [&] {
        text = ReadFile(log);
        return absl::StrContains(text, submitted) &&
               absl::StrContains(text, refused);
      },
      absl::Seconds(10)))
      << text;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, submitted)) {
      EXPECT_TRUE(absl::EndsWith(line, " request_id=logged-1")) << line;
    }
    if (absl::StrContains(line, refused)) {
      EXPECT_TRUE(absl::EndsWith(line, " request_id=no-such-id")) << line;
    }
  }
}

// SIGSTOPs every replica but the leader, so nothing commits until they are
// continued (the harness continues them at teardown too); their names.
std::vector<std::string> StopTheFollowers(GatewayCluster& gc) {
  std::vector<std::string> followers;
  auto leader = gc.cluster.WaitForLeader(absl::Seconds(10));
  EXPECT_TRUE(leader.ok()) << leader.status();
  if (!leader.ok()) return followers;
  for (const ProcessInfo& p : gc.cluster.Processes()) {
    if (p.kind == "replica" && p.name != *leader) followers.push_back(p.name);
  }
  for (const std::string& name : followers) gc.cluster.Kill(name, "STOP");
  return followers;
}

// SIGTERM while submits wait for a commit that cannot happen yet (both
// followers stopped): the gateway stops taking connections but keeps every
// submit in progress, HTTP and gRPC, until it has its answer, then exits.
TEST(GatewayApiTest, SigtermDrainsTheGatewayAnsweringEverySubmitInProgress) {
  GatewayCluster gc("multi-az");
  ASSERT_UP(gc);
  ASSERT_GE(gc.gateways.size(), 2u);
  ASSERT_GT(SubmitNew(gc.Http(0), "drain-warmup").accepted_offset(), 0u);
  const ProcessInfo gateway = gc.gateways[0];
  ASSERT_GT(gateway.pid, 0);
  const std::vector<std::string> followers = StopTheFollowers(gc);
  ASSERT_EQ(followers.size(), 2u);
  constexpr int kGrpc = 8, kHttp = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kGrpc + kHttp; ++i)
    ids.push_back(absl::StrCat("drain-", i));
  std::vector<grpc::Status> grpc_answers(kGrpc);
  std::vector<Receipt> grpc_receipts(kGrpc);
  std::vector<HttpResponse> http_answers(kHttp);
  std::vector<std::thread> clients;
  for (int i = 0; i < kGrpc; ++i) {
    clients.emplace_back([&, i] {
      auto stub = gc.Api(0);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(30));
      grpc_answers[i] = stub->SubmitReport(&context, ApiSubmission(ids[i]),
                                           &grpc_receipts[i]);
    });
  }
  for (int i = 0; i < kHttp; ++i) {
    clients.emplace_back([&, i] {
      http_answers[i] =
          Exchange(gateway.http_address,
                   RawRequest("POST", "/reports", SubmitBody(ids[kGrpc + i])),
                   absl::Seconds(30));
    });
  }
  // Every submit is at the gateway, waiting for its commit.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return MetricValue(Get(gateway.http_address, "/metrics").body,
                           "report_gateway_in_flight") >= kGrpc + kHttp;
      },
      absl::Seconds(10)));

  gc.cluster.Kill(gateway.name, "TERM");
  const std::string log = gc.cluster.dir() + "/" + gateway.name + "/log";
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::StrContains(ReadFile(log), "shutting down"); },
      absl::Seconds(10)));
  // Draining: new connections are refused, the process waits for answers.
  EXPECT_TRUE(WaitUntil(
      [&] { return !HttpConnection::Open(gateway.http_address).ok(); },
      absl::Seconds(10)));
  EXPECT_FALSE(Exited(gateway.pid));

  for (const std::string& name : followers) gc.cluster.Kill(name, "CONT");
  for (std::thread& client : clients) client.join();
  ASSERT_TRUE(
      WaitUntil([&] { return Exited(gateway.pid); }, absl::Seconds(20)));
  EXPECT_TRUE(absl::StrContains(ReadFile(log), "report-gateway stopped"));

  // Every client got an answer from the gateway itself: a receipt, or (had the
  // commit stayed unconfirmed) a documented code; never a broken connection.
  std::vector<std::pair<std::string, uint64_t>> receipted;  // id, offset
  std::vector<std::string> unconfirmed;
  for (int i = 0; i < kGrpc; ++i) {
    const grpc::Status& answer = grpc_answers[i];
    if (answer.ok()) {
      EXPECT_EQ(grpc_receipts[i].request_id(), ids[i]);
      receipted.emplace_back(ids[i], grpc_receipts[i].accepted_offset());
      continue;
    }
    const ErrorCode code = ErrorCodeOf(FromGrpcStatus(answer));
    EXPECT_TRUE(absl::StartsWith(answer.error_message(),
                                 absl::StrCat(ErrorCodeName(code), ":")))
        << ids[i] << ": " << answer.error_code() << " "
        << answer.error_message();
    EXPECT_TRUE(code == ErrorCode::kCommitUnknown ||
                code == ErrorCode::kNoQuorum)
        << ids[i] << ": " << answer.error_message();
    unconfirmed.push_back(ids[i]);
  }
  for (int i = 0; i < kHttp; ++i) {
    const HttpResponse& answer = http_answers[i];
    ASSERT_NE(answer.status, 0) << ids[kGrpc + i] << ": " << answer.body;
    EXPECT_EQ(absl::AsciiStrToLower(answer.Header("connection")), "close");
    if (answer.status == 202) {
      auto receipt = ParseReceipt(answer);
      ASSERT_TRUE(receipt.ok()) << receipt.status();
      receipted.emplace_back(ids[kGrpc + i], receipt->accepted_offset());
    } else {
      EXPECT_TRUE(answer.status == 503 || answer.status == 504)
          << ids[kGrpc + i] << ": " << answer.status << " " << answer.body;
      unconfirmed.push_back(ids[kGrpc + i]);
    }
  }
  // Nothing was lost: through the other gateway, every receipt reads back and
  // every unconfirmed submit, retried with its id, gets its receipt.
  for (const auto& [id, offset] : receipted) {
    HttpResponse read = Get(
        gc.Http(1),
        absl::StrCat("/reports/", id, "?min_offset=", offset, "&wait_ms=2000"));
    EXPECT_EQ(read.status, 200) << id << ": " << read.body;
  }
  for (const std::string& id : unconfirmed) {
    HttpResponse retry = Post(gc.Http(1), SubmitBody(id));
    EXPECT_TRUE(retry.status == 200 || retry.status == 202)
        << id << ": " << retry.status << " " << retry.body;
  }
}

// A gateway whose nearest replica is frozen (SIGSTOP: its port still accepts
// connections, nothing answers) still answers each request within the
// client's deadline instead of hanging on it. A read holds on the frozen
// replica for at most wait_ms + 1 s before the next replica serves it, and
// later reads skip it (docs/API.md); a submit goes to the leader elsewhere.
// When the frozen replica is the leader, the gateway's submit reaches the new
// leader well within its submit timeout.
TEST(GatewayApiTest, AGatewayWhoseNearestReplicaIsStoppedStillAnswersInTime) {
  GatewayCluster gc("multi-az");
  ASSERT_UP(gc);
  ASSERT_EQ(gc.gateways.size(), 2u);
  // Each gateway learns where the leader is.
  for (size_t i = 0; i < gc.gateways.size(); ++i)
    ASSERT_GT(SubmitNew(gc.Http(i), absl::StrCat("near-warmup-", i))
                  .accepted_offset(),
              0u);
  auto leader = gc.Leader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  std::map<std::string, ProcessInfo> replica_in;  // by domain
  for (const ProcessInfo& p : gc.cluster.Processes()) {
    if (p.kind == "replica") replica_in[p.domain] = p;
  }
  ASSERT_EQ(replica_in.size(), 3u);
  // Each gateway has one replica in its own AZ: its nearest. At most one of
  // the two is the leader.
  size_t g = 0;
  if (replica_in[gc.gateways[0].domain].name == leader->name()) g = 1;
  const ProcessInfo nearest = replica_in[gc.gateways[g].domain];
  ASSERT_FALSE(nearest.name.empty());
  ASSERT_NE(nearest.name, leader->name());
  const absl::Duration kWait = absl::Milliseconds(500);
  // The most a read may take: its wait and one attempt timeout on the frozen
  // replica, then the next replica's answer (fresh data: no wait), with slack
  // for a loaded machine.
  const absl::Duration kReadBound =
      kWait + absl::Seconds(1) + absl::Milliseconds(1500);

  gc.cluster.Kill(nearest.name, "STOP");
  auto api = gc.Api(g);
  Receipt receipt;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    const absl::Time started = absl::Now();
    grpc::Status status = api->SubmitReport(
        &context, ApiSubmission("near-frozen-follower"), &receipt);
    ASSERT_TRUE(status.ok()) << "submit with the nearest replica frozen, after "
                             << absl::FormatDuration(absl::Now() - started)
                             << ": " << status.error_message();
  }
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kReadBound));
    api::GetReportRequest get;
    get.set_request_id("near-frozen-follower");
    get.set_min_offset(receipt.accepted_offset());
    get.set_wait_ms(absl::ToInt64Milliseconds(kWait));
    api::ReportStatus status_reply;
    const absl::Time started = absl::Now();
    grpc::Status status = api->GetReport(&context, get, &status_reply);
    const absl::Duration took = absl::Now() - started;
    ASSERT_TRUE(status.ok())
        << "read with the nearest replica frozen, after "
        << absl::FormatDuration(took) << ": " << status.error_code() << " "
        << status.error_message();
    EXPECT_EQ(status_reply.accepted_offset(), receipt.accepted_offset());
    std::cout << "first read with " << nearest.name
              << " frozen: " << absl::FormatDuration(took) << "\n";
  }
  // The frozen replica is now asked last: the next read over HTTP does not
  // wait on it.
  {
    const absl::Time started = absl::Now();
    HttpResponse read =
        Get(gc.Http(g),
            absl::StrCat("/reports/near-frozen-follower?min_offset=",
                         receipt.accepted_offset(),
                         "&wait_ms=", absl::ToInt64Milliseconds(kWait)));
    const absl::Duration took = absl::Now() - started;
    EXPECT_EQ(read.status, 200) << read.body;
    EXPECT_LT(took, kWait) << "the gateway asked the frozen replica again";
  }
  HttpResponse submitted = Post(gc.Http(g), SubmitBody("near-frozen-2"));
  EXPECT_EQ(submitted.status, 202) << submitted.body;
  gc.cluster.Kill(nearest.name, "CONT");

  // Now freeze the leader: the nearest replica of the gateway in its AZ, if
  // one runs there. Submits through that gateway (whose leader hint points at
  // the frozen one) reach the new leader within the submit timeout.
  size_t h = g;
  for (size_t i = 0; i < gc.gateways.size(); ++i) {
    if (gc.gateways[i].domain == leader->domain()) h = i;
  }
  std::cout << "freezing the leader " << leader->name()
            << "; submitting through " << gc.gateways[h].name << " in "
            << gc.gateways[h].domain << "\n";
  gc.cluster.Kill(leader->name(), "STOP");
  api = gc.Api(h);
  {
    grpc::ClientContext context;
    // The gateway's default --submit-timeout-ms is 10 s: it answers by then.
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(11)));
    const absl::Time started = absl::Now();
    grpc::Status status = api->SubmitReport(
        &context, ApiSubmission("near-frozen-leader"), &receipt);
    const absl::Duration took = absl::Now() - started;
    ASSERT_TRUE(status.ok())
        << "submit with the leader frozen, after " << absl::FormatDuration(took)
        << ": " << status.error_code() << " " << status.error_message();
    EXPECT_GT(receipt.epoch(), leader->epoch()) << "not from a new leader";
    std::cout << "submit with the leader frozen: " << absl::FormatDuration(took)
              << "\n";
  }
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kReadBound));
    api::GetReportRequest get;
    get.set_request_id("near-frozen-leader");
    get.set_min_offset(receipt.accepted_offset());
    get.set_wait_ms(absl::ToInt64Milliseconds(kWait));
    api::ReportStatus status_reply;
    grpc::Status status = api->GetReport(&context, get, &status_reply);
    ASSERT_TRUE(status.ok())
        << "read with the leader frozen: " << status.error_code() << " "
        << status.error_message();
    EXPECT_EQ(status_reply.accepted_offset(), receipt.accepted_offset());
  }
  gc.cluster.Kill(leader->name(), "CONT");
}

// A client that sends a submit once gets 202 and `duplicate: false` when it is
// accepted (docs/API.md: 200 with `duplicate: true` answers a replay), even if
// the gateway had to retry it inside the cluster. Here commits stall (both
// followers stopped) for longer than the cluster client's 1 s attempt timeout,
// so the gateway retries each batch on the other replicas; the followers are
// continued while those retries are under way. Submits are staggered so their
// retries are at different phases when the commit happens. (Before the
// cluster client knew its own retries, a retry that reached the leader after
// the original entry applied was answered from state as a duplicate, and the
// gateway passed `duplicate: true` / 200 to a client that never replayed.)
TEST(GatewayApiTest, ASubmitSentOnceIsNeverAnsweredAsADuplicate) {
  GatewayCluster gc("multi-az");
  ASSERT_UP(gc);
  ASSERT_GT(SubmitNew(gc.Http(0), "once-warmup").accepted_offset(), 0u);
  const std::vector<std::string> followers = StopTheFollowers(gc);
  ASSERT_EQ(followers.size(), 2u);
  constexpr int kClients = 8;
  std::vector<HttpResponse> answers(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      absl::SleepFor(absl::Milliseconds(125) * i);  // stagger the phases
      answers[i] = Exchange(
          gc.gateways[0].http_address,
          RawRequest("POST", "/reports", SubmitBody(absl::StrCat("once-", i))),
          absl::Seconds(20));
    });
  }
  // Every submit is at the gateway and past its first attempt.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return MetricValue(Get(gc.Http(0), "/metrics").body,
                           "report_gateway_in_flight") >= kClients;
      },
      absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(2500));  // the fault's length, not a race
  for (const std::string& name : followers) gc.cluster.Kill(name, "CONT");
  for (std::thread& client : clients) client.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(answers[i].status, 202)
        << "once-" << i << " was sent once: " << answers[i].body;
  }
}

}  // namespace
}  // namespace report::testing
