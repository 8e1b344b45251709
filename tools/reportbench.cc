// reportbench: closed-loop load against a report-gateway (docs/PERFORMANCE.md,
// docs/OPERATIONS.md).
//
//   reportbench --target HOST:PORT --concurrency C --seconds S
//               [--mode submit|status|e2e] [--http] [--client async|sync]
//               [--run-id ID] [--warmup-seconds W]
//
// C closed loops each issue their next operation as soon as the previous one
// answered. gRPC load is driven by default from completion queues (one polling
// thread carries every in-flight call: on a 2-core machine shared with the
// cluster, C blocking threads cost more CPU than the calls themselves);
// `--client sync` runs one blocking thread per loop, the way the etcd anchor
// client does. HTTP uses one keep-alive connection per loop.
//
// Output: exactly one summary line on stdout, in the etcd anchor's shape; error
// counts by code on stderr. Exit 0 after a run (errors are reported, not
// fatal), 1 when the target cannot be reached, 2 on bad flags.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/version.h"
#include "glog/logging.h"
#include "proto/report_api.grpc.pb.h"
#include "proto/report_api.pb.h"
#include "tools/reportbench_options.h"
#include "tools/reportbench_stats.h"

namespace report {
namespace bench {
namespace {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitUnreachable = 1;
constexpr int kExitUsage = 2;

// How long a submit may wait for its quorum commit before the client gives up
// on it (the gateway answers CommitUnknown well before this when the cluster is
// healthy).
constexpr auto kSubmitDeadline = std::chrono::seconds(30);
// Added to wait_ms for reads.
constexpr auto kReadDeadlineSlack = std::chrono::seconds(10);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr char kAbandonedAtStop[] = "AbandonedAtStop";

// The tally key of a failed call: the error code it carries ("NoQuorum: ..."
// gives "NoQuorum", and so do this file's own "RequestFailed: ..." outcomes),
// else the canonical code of a transport failure ("UNAVAILABLE").
std::string ErrorKey(const absl::Status& status) {
  absl::string_view message = status.message();
  const size_t colon = message.find(':');
  if (colon != absl::string_view::npos && colon > 0) {
    absl::string_view prefix = message.substr(0, colon);
    bool word = absl::ascii_isupper(prefix[0]);
    for (char c : prefix) word = word && absl::ascii_isalnum(c);
    if (word) return std::string(prefix);
  }
  return absl::StatusCodeToString(status.code());
}

struct PoolEntry {
  std::string request_id;
  uint64_t accepted_offset = 0;
};

// The steps of one operation of a mode, independent of transport and of whether
// the transport blocks: the driver sends what a step asks for and feeds the
// answer back, until the operation is done with an outcome.
class ReportOperation {
 public:
  enum class Action { kSubmit, kRead, kDone };
  struct Step {
    Action action = Action::kDone;
    api::SubmitReportRequest submit;
    api::GetReportRequest read;
    absl::Status outcome;  // kDone only
  };

  ReportOperation(const BenchOptions& options, absl::string_view run_id,
                  const std::vector<PoolEntry>* pool,
                  const std::atomic<bool>* stop, int loop, uint64_t n)
      : options_(options),
        pool_(pool),
        stop_(stop),
        start_(Clock::now()),
        request_id_(BenchRequestId(run_id, loop, n)),
        loop_(loop),
        n_(n) {}

  Clock::time_point start() const { return start_; }

  Step Begin() {
    if (options_.mode == BenchMode::kStatus) {
      const PoolEntry& entry =
          (*pool_)[(n_ * 7919 + loop_ * 104729) % pool_->size()];
      request_id_ = entry.request_id;
      accepted_offset_ = entry.accepted_offset;
      return Read(entry.accepted_offset);
    }
    Step step;
    step.action = Action::kSubmit;
    step.submit.set_request_id(request_id_);
    step.submit.set_account_id(BenchAccountId(n_));
    step.submit.set_month(BenchMonth(n_));
    return step;
  }

  Step OnSubmitted(const absl::StatusOr<Receipt>& receipt) {
    if (!receipt.ok()) return Done(receipt.status());
    if (receipt->duplicate()) {
      // A fresh id answered as a replay: ids collided with an earlier run.
      return Done(absl::AlreadyExistsError(absl::StrCat(
          "UnexpectedDuplicate: ", request_id_, " was already accepted")));
    }
    if (options_.mode == BenchMode::kSubmit) return Done(absl::OkStatus());
    accepted_offset_ = receipt->accepted_offset();
    return Read(accepted_offset_);
  }

  Step OnRead(const absl::StatusOr<api::ReportStatus>& status) {
    if (options_.mode == BenchMode::kStatus) {
      if (!status.ok()) return Done(status.status());
      if (status->request_id() != request_id_) {
        return Done(absl::InternalError(absl::StrCat("WrongRecord: asked for ",
                                                     request_id_, ", got ",
                                                     status->request_id())));
      }
      return Done(absl::OkStatus());
    }
    // e2e: read until COMPLETED. Once the request is known, each read asks for
    // an offset past the last one served, so the replica holds it until the log
    // moves (a long poll instead of a busy one); StaleRead then only means
    // "nothing new yet".
    uint64_t next_offset = min_offset_;
    if (status.ok()) {
      if (status->state() == COMPLETED) return Done(absl::OkStatus());
      if (status->state() == FAILED) {
        return Done(absl::AbortedError(
            absl::StrCat("RequestFailed: ", status->failure())));
      }
      next_offset = std::max(min_offset_, status->served_offset() + 1);
    } else if (ErrorCodeOf(status.status()) != ErrorCode::kStaleRead) {
      return Done(status.status());
    }
    if (stop_->load(std::memory_order_relaxed)) {
      // The run is over: waiting for a worker here would stretch the run by up
      // to the e2e timeout. Such operations are counted apart, neither as done
      // nor as errors.
      return Done(absl::CancelledError(kAbandonedAtStop));
    }
    if (Clock::now() - start_ >
        std::chrono::milliseconds(options_.e2e_timeout_ms)) {
      return Done(absl::DeadlineExceededError(
          absl::StrCat("E2eTimeout: ", request_id_, " not COMPLETED within ",
                       options_.e2e_timeout_ms, " ms")));
    }
    return Read(next_offset);
  }

 private:
  Step Read(uint64_t min_offset) {
    min_offset_ = min_offset;
    Step step;
    step.action = Action::kRead;
    step.read.set_request_id(request_id_);
    step.read.set_min_offset(min_offset);
    step.read.set_wait_ms(options_.wait_ms);
    return step;
  }

  static Step Done(absl::Status outcome) {
    Step step;
    step.action = Action::kDone;
    step.outcome = std::move(outcome);
    return step;
  }

  const BenchOptions& options_;
  const std::vector<PoolEntry>* pool_;
  const std::atomic<bool>* stop_;
  const Clock::time_point start_;
  std::string request_id_;
  const int loop_;
  const uint64_t n_;
  uint64_t accepted_offset_ = 0;
  uint64_t min_offset_ = 0;
};

// When measuring starts and whether loops should stop, shared by every loop of
// a run.
struct RunWindow {
  Clock::time_point measure_from;
  std::atomic<bool> stop{false};
};

// What one closed loop collected; touched by one thread at a time.
struct LoopRecord {
  std::vector<float> latencies_us;
  ErrorTally errors;
  uint64_t abandoned = 0;

  // Operations that began during warm-up are not counted, neither their latency
  // nor their errors.
  void Record(const RunWindow& window, Clock::time_point start,
              const absl::Status& outcome) {
    if (start < window.measure_from) return;
    if (absl::IsCancelled(outcome) && outcome.message() == kAbandonedAtStop) {
      ++abandoned;
    } else if (outcome.ok()) {
      latencies_us.push_back(
          std::chrono::duration<float, std::micro>(Clock::now() - start)
              .count());
    } else {
      errors.Add(ErrorKey(outcome), outcome.message());
    }
  }
};

// --- blocking transports -----------------------------------------------------

class BlockingReportClient {
 public:
  virtual ~BlockingReportClient() = default;
  virtual absl::StatusOr<Receipt> Submit(
      const api::SubmitReportRequest& request) = 0;
  virtual absl::StatusOr<api::ReportStatus> Read(
      const api::GetReportRequest& request) = 0;
};

class GrpcBlockingClient : public BlockingReportClient {
 public:
  explicit GrpcBlockingClient(api::ReportApi::Stub* stub) : stub_(stub) {}

  absl::StatusOr<Receipt> Submit(
      const api::SubmitReportRequest& request) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kSubmitDeadline);
    Receipt receipt;
    grpc::Status status = stub_->SubmitReport(&context, request, &receipt);
    if (!status.ok()) return FromGrpcStatus(status);
    return receipt;
  }

  absl::StatusOr<api::ReportStatus> Read(
      const api::GetReportRequest& request) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(request.wait_ms()) +
                         kReadDeadlineSlack);
    api::ReportStatus report_status;
    grpc::Status status = stub_->GetReport(&context, request, &report_status);
    if (!status.ok()) return FromGrpcStatus(status);
    return report_status;
  }

 private:
  api::ReportApi::Stub* stub_;
};

// HTTP/1.1 over one keep-alive connection, reconnecting after any failure. Raw
// sockets with poll() deadlines (Asio's blocking calls cannot time out) and
// Beast's parser for answers.
class HttpReportClient : public BlockingReportClient {
 public:
  HttpReportClient(std::string host, std::string port)
      : host_(std::move(host)), port_(std::move(port)) {}
  ~HttpReportClient() override { Close(); }
  HttpReportClient(const HttpReportClient&) = delete;
  HttpReportClient& operator=(const HttpReportClient&) = delete;

  absl::Status Connect() {
    Close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found);
        rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve ", host_, ": ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found,
                                                                 freeaddrinfo);
    std::string last_error = "no address";
    for (addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
      int fd =
          socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd_ = fd;
        return absl::OkStatus();
      }
      last_error = std::strerror(errno);
      close(fd);
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to ", host_, ":",
                                               port_, ": ", last_error));
  }

  absl::StatusOr<Receipt> Submit(
      const api::SubmitReportRequest& request) override {
    std::string body;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    if (auto s =
            google::protobuf::util::MessageToJsonString(request, &body, print);
        !s.ok()) {
      return absl::InternalError(std::string(s.message()));
    }
    absl::StatusOr<std::string> answer =
        RoundTrip("POST", "/reports", body, kSubmitDeadline);
    if (!answer.ok()) return answer.status();
    Receipt receipt;
    if (absl::Status s = ParseJson(*answer, &receipt); !s.ok()) return s;
    return receipt;
  }

  absl::StatusOr<api::ReportStatus> Read(
      const api::GetReportRequest& request) override {
    absl::StatusOr<std::string> answer = RoundTrip(
        "GET",
        absl::StrCat("/reports/", request.request_id(), "?min_offset=",
                     request.min_offset(), "&wait_ms=", request.wait_ms()),
        "", std::chrono::milliseconds(request.wait_ms()) + kReadDeadlineSlack);
    if (!answer.ok()) return answer.status();
    api::ReportStatus status;
    if (absl::Status s = ParseJson(*answer, &status); !s.ok()) return s;
    return status;
  }

 private:
  static absl::Status ParseJson(const std::string& body,
                                google::protobuf::Message* message) {
    google::protobuf::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;
    if (auto s =
            google::protobuf::util::JsonStringToMessage(body, message, parse);
        !s.ok()) {
      return absl::InternalError(absl::StrCat(
          "BadAnswer: ", s.message().as_string(), " in ", body.substr(0, 200)));
    }
    return absl::OkStatus();
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    unread_.clear();
  }

  // Waits for `events` on the socket until `deadline`.
  absl::Status Await(short events, Clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left.count() <= 0)
        return absl::DeadlineExceededError("http: timed out");
      pollfd p{fd_, events, 0};
      const int rc = poll(&p, 1, static_cast<int>(left.count()));
      if (rc > 0) return absl::OkStatus();
      if (rc < 0 && errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat("http poll: ", std::strerror(errno)));
      }
    }
  }

  // One request and its answer; a non-2xx answer becomes the error its problem
  // body names ("StaleRead: HTTP 503 ..."), so HTTP and gRPC errors are
  // tallied under the same codes.
  absl::StatusOr<std::string> RoundTrip(absl::string_view method,
                                        absl::string_view target,
                                        absl::string_view body,
                                        std::chrono::milliseconds timeout) {
    absl::StatusOr<std::string> answer =
        TryRoundTrip(method, target, body, timeout);
    if (!answer.ok()) Close();
    return answer;
  }

  absl::StatusOr<std::string> TryRoundTrip(absl::string_view method,
                                           absl::string_view target,
                                           absl::string_view body,
                                           std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    if (fd_ < 0) {
      if (absl::Status s = Connect(); !s.ok()) return s;
    }
    std::string wire = absl::StrCat(
        method, " ", target, " HTTP/1.1\r\nHost: ", host_, ":", port_, "\r\n");
    if (method == "POST") {
      absl::StrAppend(&wire,
                      "Content-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n");
    }
    absl::StrAppend(&wire, "\r\n", body);
    for (size_t sent = 0; sent < wire.size();) {
      if (absl::Status s = Await(POLLOUT, deadline); !s.ok()) return s;
      const ssize_t n =
          send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(
            absl::StrCat("http send: ", std::strerror(errno)));
      }
      sent += static_cast<size_t>(n);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    parser.eager(true);
    char chunk[16384];
    while (!parser.is_done()) {
      if (!unread_.empty()) {
        boost::system::error_code ec;
        const size_t used =
            parser.put(boost::asio::buffer(unread_.data(), unread_.size()), ec);
        unread_.erase(0, used);
        if (ec && ec != http::error::need_more) {
          return absl::InternalError(
              absl::StrCat("BadAnswer: http parse: ", ec.message()));
        }
        if (parser.is_done()) break;
        if (!ec && used > 0) continue;
      }
      if (absl::Status s = Await(POLLIN, deadline); !s.ok()) return s;
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0)
        return absl::UnavailableError("http: connection closed by gateway");
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(
            absl::StrCat("http recv: ", std::strerror(errno)));
      }
      unread_.append(chunk, static_cast<size_t>(n));
    }
    http::response<http::string_body> response = parser.release();
    if (!response.keep_alive()) Close();
    const unsigned code = response.result_int();
    if (code >= 200 && code < 300) return std::move(response.body());
    api::Problem problem;
    google::protobuf::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(response.body(), &problem,
                                                    parse)
            .ok() &&
        !problem.code().empty()) {
      return absl::UnknownError(
          absl::StrCat(problem.code(), ": HTTP ", code, " ", problem.detail()));
    }
    return absl::UnknownError(
        absl::StrCat("HTTP", code, ": ", response.body().substr(0, 200)));
  }

  const std::string host_;
  const std::string port_;
  int fd_ = -1;
  std::string unread_;  // received bytes not yet consumed by a parser
};

// Drives one operation to its end over a blocking transport.
absl::Status RunBlocking(BlockingReportClient& client,
                         ReportOperation& operation) {
  ReportOperation::Step step = operation.Begin();
  while (step.action != ReportOperation::Action::kDone) {
    step = step.action == ReportOperation::Action::kSubmit
               ? operation.OnSubmitted(client.Submit(step.submit))
               : operation.OnRead(client.Read(step.read));
  }
  return step.outcome;
}

// --- async gRPC --------------------------------------------------------------

// One closed loop on a completion queue: one call in flight at a time, so its
// state is only touched by the polling thread that delivered the last
// completion.
class AsyncLoop {
 public:
  AsyncLoop(int index, const BenchOptions& options, const std::string& run_id,
            const std::vector<PoolEntry>* pool, api::ReportApi::Stub* stub,
            grpc::CompletionQueue* queue, RunWindow* window,
            std::function<void()> on_stopped)
      : index_(index),
        options_(options),
        run_id_(run_id),
        pool_(pool),
        stub_(stub),
        queue_(queue),
        window_(window),
        on_stopped_(std::move(on_stopped)) {}

  LoopRecord& record() { return record_; }

  void BeginOperation() {
    if (window_->stop.load(std::memory_order_relaxed)) {
      on_stopped_();
      return;
    }
    operation_.emplace(options_, run_id_, pool_, &window_->stop, index_,
                       next_n_++);
    Send(operation_->Begin());
  }

  // A completion of the call in flight.
  void OnCompleted() {
    absl::Status status = FromGrpcStatus(rpc_status_);
    ReportOperation::Step step;
    if (in_flight_ == ReportOperation::Action::kSubmit) {
      step = status.ok() ? operation_->OnSubmitted(receipt_)
                         : operation_->OnSubmitted(status);
    } else {
      step = status.ok() ? operation_->OnRead(report_status_)
                         : operation_->OnRead(status);
    }
    Send(step);
  }

 private:
  void Send(const ReportOperation::Step& step) {
    if (step.action == ReportOperation::Action::kDone) {
      record_.Record(*window_, operation_->start(), step.outcome);
      BeginOperation();
      return;
    }
    in_flight_ = step.action;
    context_ = std::make_unique<grpc::ClientContext>();
    if (step.action == ReportOperation::Action::kSubmit) {
      context_->set_deadline(std::chrono::system_clock::now() +
                             kSubmitDeadline);
      submit_request_ = step.submit;
      receipt_.Clear();
      submit_call_ = stub_->PrepareAsyncSubmitReport(context_.get(),
                                                     submit_request_, queue_);
      submit_call_->StartCall();
      submit_call_->Finish(&receipt_, &rpc_status_, this);
    } else {
      context_->set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(step.read.wait_ms()) +
                             kReadDeadlineSlack);
      read_request_ = step.read;
      report_status_.Clear();
      read_call_ =
          stub_->PrepareAsyncGetReport(context_.get(), read_request_, queue_);
      read_call_->StartCall();
      read_call_->Finish(&report_status_, &rpc_status_, this);
    }
  }

  const int index_;
  const BenchOptions& options_;
  const std::string& run_id_;
  const std::vector<PoolEntry>* pool_;
  api::ReportApi::Stub* stub_;
  grpc::CompletionQueue* queue_;
  RunWindow* window_;
  std::function<void()> on_stopped_;
  uint64_t next_n_ = 0;
  std::optional<ReportOperation> operation_;
  ReportOperation::Action in_flight_ = ReportOperation::Action::kDone;
  std::unique_ptr<grpc::ClientContext> context_;
  api::SubmitReportRequest submit_request_;
  Receipt receipt_;
  api::GetReportRequest read_request_;
  api::ReportStatus report_status_;
  grpc::Status rpc_status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Receipt>> submit_call_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<api::ReportStatus>>
      read_call_;
  LoopRecord record_;
};

// --- the run -----------------------------------------------------------------

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const BenchOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.conns; ++i) {
    grpc::ChannelArguments args;
    // Separate connections, as the etcd client has: one shared subchannel would
    // funnel every loop through one TCP stream.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(
        absl::StrCat(options.host, ":", options.port), credentials, args));
  }
  return channels;
}

// Blocking transports, one per loop (HTTP connections are not shared between
// loops).
std::vector<std::unique_ptr<BlockingReportClient>> MakeBlockingClients(
    const BenchOptions& options, int count,
    const std::vector<std::unique_ptr<api::ReportApi::Stub>>& stubs) {
  std::vector<std::unique_ptr<BlockingReportClient>> clients;
  for (int i = 0; i < count; ++i) {
    if (options.http) {
      clients.push_back(
          std::make_unique<HttpReportClient>(options.host, options.port));
    } else {
      clients.push_back(
          std::make_unique<GrpcBlockingClient>(stubs[i % stubs.size()].get()));
    }
  }
  return clients;
}

// Status mode: submits the pool the reads will target, before any measuring.
absl::StatusOr<std::vector<PoolEntry>> SubmitPool(
    const BenchOptions& options, const std::string& run_id,
    const std::vector<std::unique_ptr<api::ReportApi::Stub>>& stubs) {
  const int threads = std::min(options.concurrency, 16);
  std::vector<std::unique_ptr<BlockingReportClient>> clients =
      MakeBlockingClients(options, threads, stubs);
  std::vector<std::vector<PoolEntry>> parts(threads);
  std::vector<ErrorTally> errors(threads);
  const std::string pool_run = absl::StrCat(run_id, "-pool");
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = t; i < options.pool; i += threads) {
        api::SubmitReportRequest request;
        request.set_request_id(BenchRequestId(pool_run, t, i));
        request.set_account_id(BenchAccountId(i));
        request.set_month(BenchMonth(i));
        absl::StatusOr<Receipt> receipt = clients[t]->Submit(request);
        if (receipt.ok()) {
          parts[t].push_back(
              {request.request_id(), receipt->accepted_offset()});
        } else {
          errors[t].Add(ErrorKey(receipt.status()), receipt.status().message());
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  std::vector<PoolEntry> pool;
  ErrorTally all_errors;
  for (int t = 0; t < threads; ++t) {
    pool.insert(pool.end(), parts[t].begin(), parts[t].end());
    all_errors.Merge(errors[t]);
  }
  if (all_errors.total() > 0) {
    std::cerr << "reportbench: pool submits failed: " << all_errors.Format()
              << "\n";
  }
  if (pool.empty()) {
    return absl::UnavailableError("no pool request could be submitted");
  }
  return pool;
}

struct RunResult {
  std::vector<LoopRecord> records;
  double seconds = 0;
};

void WaitForWindow(const BenchOptions& options, Clock::time_point started) {
  std::this_thread::sleep_until(
      started +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          options.warmup_seconds + options.seconds)));
}

RunResult RunBlockingLoops(
    const BenchOptions& options, const std::string& run_id,
    const std::vector<PoolEntry>& pool,
    const std::vector<std::unique_ptr<api::ReportApi::Stub>>& stubs) {
  std::vector<std::unique_ptr<BlockingReportClient>> clients =
      MakeBlockingClients(options, options.concurrency, stubs);
  RunResult result;
  result.records.resize(options.concurrency);
  RunWindow window;
  const Clock::time_point started = Clock::now();
  window.measure_from =
      started + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(options.warmup_seconds));
  std::vector<std::thread> loops;
  for (int i = 0; i < options.concurrency; ++i) {
    loops.emplace_back([&, i] {
      result.records[i].latencies_us.reserve(1 << 14);
      for (uint64_t n = 0; !window.stop.load(std::memory_order_relaxed); ++n) {
        ReportOperation operation(options, run_id, &pool, &window.stop, i, n);
        absl::Status outcome = RunBlocking(*clients[i], operation);
        result.records[i].Record(window, operation.start(), outcome);
      }
    });
  }
  WaitForWindow(options, started);
  window.stop = true;
  for (std::thread& loop : loops) loop.join();
  result.seconds =
      std::chrono::duration<double>(Clock::now() - window.measure_from).count();
  return result;
}

RunResult RunAsyncLoops(
    const BenchOptions& options, const std::string& run_id,
    const std::vector<PoolEntry>& pool,
    const std::vector<std::unique_ptr<api::ReportApi::Stub>>& stubs) {
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  for (int i = 0; i < options.poll_threads; ++i) {
    queues.push_back(std::make_unique<grpc::CompletionQueue>());
  }
  std::mutex mu;
  std::condition_variable all_stopped;
  int running = options.concurrency;
  auto on_stopped = [&] {
    std::lock_guard<std::mutex> lock(mu);
    if (--running == 0) all_stopped.notify_all();
  };
  RunWindow window;
  std::vector<std::unique_ptr<AsyncLoop>> loops;
  for (int i = 0; i < options.concurrency; ++i) {
    loops.push_back(std::make_unique<AsyncLoop>(
        i, options, run_id, &pool, stubs[i % stubs.size()].get(),
        queues[i % queues.size()].get(), &window, on_stopped));
  }
  std::vector<std::thread> pollers;
  for (auto& queue : queues) {
    pollers.emplace_back([q = queue.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (q->Next(&tag, &ok)) static_cast<AsyncLoop*>(tag)->OnCompleted();
    });
  }
  const Clock::time_point started = Clock::now();
  window.measure_from =
      started + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(options.warmup_seconds));
  for (auto& loop : loops) loop->BeginOperation();
  WaitForWindow(options, started);
  window.stop = true;
  {
    std::unique_lock<std::mutex> lock(mu);
    all_stopped.wait(lock, [&] { return running == 0; });
  }
  RunResult result;
  result.seconds =
      std::chrono::duration<double>(Clock::now() - window.measure_from).count();
  for (auto& queue : queues) queue->Shutdown();
  for (std::thread& poller : pollers) poller.join();
  for (auto& loop : loops) result.records.push_back(std::move(loop->record()));
  return result;
}

absl::Status CheckReachable(
    const BenchOptions& options,
    const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  if (options.http) {
    HttpReportClient probe(options.host, options.port);
    return probe.Connect();
  }
  // Connection refused shows as TRANSIENT_FAILURE at once; no need to wait out
  // the timeout.
  const auto deadline = std::chrono::system_clock::now() + kConnectTimeout;
  grpc::Channel& channel = *channels[0];
  for (grpc_connectivity_state state =
           channel.GetState(/*try_to_connect=*/true);
       state != GRPC_CHANNEL_READY; state = channel.GetState(true)) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        !channel.WaitForStateChange(state, deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to ", options.host, ":", options.port, " over gRPC (",
          state == GRPC_CHANNEL_TRANSIENT_FAILURE ? "refused" : "timed out",
          ")"));
    }
  }
  return absl::OkStatus();
}

constexpr char kExamples[] =
    "\nexamples:\n"
    "  reportbench --target 127.0.0.1:7100 --concurrency 16 --seconds 10\n"
    "  reportbench --target 127.0.0.1:7100 --mode e2e --concurrency 4 "
    "--seconds 30\n"
    "  reportbench --http --target 127.0.0.1:8080 --mode status --seconds 5\n";

int Main(int argc, char** argv) {
  if (PrintVersionIfAsked(argc, argv, "reportbench")) return kExitOk;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string help;
  absl::StatusOr<BenchOptions> parsed = ParseBenchOptions(args, &help);
  if (!parsed.ok()) {
    std::cerr << "reportbench: error: " << ErrorDetail(parsed.status())
              << " (see reportbench --help)\n";
    return kExitUsage;
  }
  const BenchOptions& options = *parsed;
  if (options.help) {
    std::cout << help << "  --version             print the version and exit\n"
              << kExamples;
    return kExitOk;
  }
  const std::string run_id =
      options.run_id.empty() ? DefaultRunId() : options.run_id;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<api::ReportApi::Stub>> stubs;
  if (!options.http) {
    auto security =
        TransportSecurity::ForTool(options.tls, "operator", {".cluster/tls"});
    if (!security.ok()) {
      std::cerr << "reportbench: error: " << security.status().message()
                << "\n";
      return kExitUsage;
    }
    channels = MakeChannels(options, (*security)->ChannelCredentials());
    for (auto& channel : channels)
      stubs.push_back(api::ReportApi::NewStub(channel));
  }
  if (absl::Status s = CheckReachable(options, channels); !s.ok()) {
    std::cerr << "reportbench: error: target unreachable: " << s.message()
              << "\n";
    return kExitUnreachable;
  }
  std::vector<PoolEntry> pool;
  if (options.mode == BenchMode::kStatus) {
    absl::StatusOr<std::vector<PoolEntry>> submitted =
        SubmitPool(options, run_id, stubs);
    if (!submitted.ok()) {
      std::cerr << "reportbench: error: " << submitted.status().message()
                << "\n";
      return kExitUnreachable;
    }
    pool = std::move(*submitted);
  }
  RunResult result = options.client == ClientKind::kAsync
                         ? RunAsyncLoops(options, run_id, pool, stubs)
                         : RunBlockingLoops(options, run_id, pool, stubs);
  std::vector<float> latencies;
  ErrorTally errors;
  uint64_t abandoned = 0;
  for (LoopRecord& record : result.records) {
    abandoned += record.abandoned;
    latencies.insert(latencies.end(), record.latencies_us.begin(),
                     record.latencies_us.end());
    errors.Merge(record.errors);
  }
  const RunSummary summary =
      Summarize(&latencies, errors.total(), result.seconds);
  const std::string transport =
      options.http
          ? "http"
          : (options.client == ClientKind::kAsync ? "grpc" : "grpc-sync");
  std::cout << FormatSummaryLine(
                   absl::StrCat("reportbench mode=", ModeName(options.mode),
                                " transport=", transport),
                   options.concurrency, summary)
            << std::endl;
  if (abandoned > 0) {
    std::cerr
        << "reportbench: " << abandoned
        << " e2e operation(s) not COMPLETED when the run ended (not counted)\n";
  }
  if (errors.total() > 0) {
    std::cerr << "reportbench: errors by code: " << errors.Format() << "\n";
  }
  return kExitOk;
}

}  // namespace
}  // namespace bench
}  // namespace report

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  return report::bench::Main(argc, argv);
}
