#include "common/http_server.h"

#include <glog/logging.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/error_code.h"
#include "common/event_log.h"

namespace report {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// How long a connection that is being closed after an error keeps reading (and
// dropping) what the client still sends, so that the kernel does not reset the
// connection before the client has read the error response.
constexpr auto kLingerTime = std::chrono::seconds(2);

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// A server TLS context from PEM files: TLS 1.2 or later, the key checked
// against the certificate.
absl::StatusOr<std::shared_ptr<ssl::context>> LoadTlsContext(
    const std::string& cert_path, const std::string& key_path) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds |
                       ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(cert_path, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("cannot use HTTPS certificate ", cert_path,
                                  ": ", ec.message()));
  }
  context->use_private_key_file(key_path, ssl::context::pem, ec);
  if (ec) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("cannot use HTTPS key ", key_path, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("HTTPS key ", key_path,
                                  " does not match certificate ", cert_path));
  }
  return context;
}

}  // namespace

// Shared by the listener and every connection; outlives both.
class HttpServer::Impl {
 public:
  Impl(std::shared_ptr<const HttpHandler> handler,
       const HttpServerOptions& options)
      : handler_(std::move(handler)),
        options_(options),
        io_(std::make_unique<Io>(options.io_threads)),
        blocking_pool_(
            static_cast<size_t>(std::max(1, options.blocking_threads))) {}

  ~Impl() { Stop(); }

  absl::Status Listen();
  absl::StatusOr<std::string> ReloadTls();
  void Run();
  void Stop();
  uint16_t port() const { return port_; }

  const HttpHandler& handler() const { return *handler_; }
  const HttpServerOptions& options() const { return options_; }

  // What a connection does for Stop: close at once when no request is being
  // served, else answer the one in progress with "Connection: close".
  class Drainable {
   public:
    virtual ~Drainable() = default;
    virtual void BeginDrain() = 0;
  };
  // Connections register while they exist, so that Stop can drain them.
  // `*over_limit` tells whether this one exceeds max_connections.
  uint64_t Register(std::weak_ptr<Drainable> connection, bool* over_limit) {
    absl::MutexLock lock(&connections_mu_);
    const uint64_t id = next_connection_id_++;
    connections_.emplace(id, std::move(connection));
    *over_limit = connections_.size() >
                  static_cast<size_t>(std::max(1, options_.max_connections));
    return id;
  }
  void Unregister(uint64_t id) {
    absl::MutexLock lock(&connections_mu_);
    connections_.erase(id);
  }
  // Set by Stop: no new request is read, every answer closes its connection.
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  // Reserves a slot for a cluster call; false when max_in_flight are already
  // taken.
  bool TryAcquireSlot() {
    int current = in_flight_.load(std::memory_order_relaxed);
    while (current < options_.max_in_flight) {
      if (in_flight_.compare_exchange_weak(current, current + 1)) {
        handler_->AddInFlight(1);
        return true;
      }
    }
    return false;
  }
  // A slot is given back in two steps around posting the reply: the gauge
  // first (the cluster has answered; a client that reads /metrics after its
  // reply must not still see it), the slot itself last (Stop waits for it).
  void CountAnswered() { handler_->AddInFlight(-1); }
  void ReleaseSlot() {
    // Under stop_mu_ so that Stop's Await sees the count change.
    absl::MutexLock lock(&stop_mu_);
    in_flight_.fetch_sub(1);
  }
  net::thread_pool& blocking_pool() { return blocking_pool_; }

 private:
  std::shared_ptr<ssl::context> tls_context() {
    absl::MutexLock lock(&tls_mu_);
    return tls_context_;
  }

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  const std::shared_ptr<const HttpHandler> handler_;
  const HttpServerOptions options_;
  // Everything bound to the io_context, destroyed together by Stop():
  // destroying the context destroys the pending handlers that own the
  // connections, which closes them.
  struct Io {
    explicit Io(int threads)
        : context(std::max(1, threads)),
          work(context.get_executor()),
          acceptor(context),
          accept_backoff(context) {}
    net::io_context context;
    // Keeps run() going while nothing is pending on the context itself (a
    // draining server has closed its acceptor; its connections may all be
    // waiting on cluster calls whose replies are yet to be posted).
    net::executor_work_guard<net::io_context::executor_type> work;
    tcp::acceptor acceptor;
    net::steady_timer accept_backoff;
  };
  std::unique_ptr<Io> io_;
  uint16_t port_ = 0;
  std::atomic<int> in_flight_{0};
  std::vector<std::thread> io_threads_;
  net::thread_pool blocking_pool_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::atomic<bool> draining_{false};
  absl::Mutex connections_mu_;
  uint64_t next_connection_id_ ABSL_GUARDED_BY(connections_mu_) = 0;
  std::map<uint64_t, std::weak_ptr<Drainable>> connections_
      ABSL_GUARDED_BY(connections_mu_);
  // HTTPS: what new connections present; null for plain HTTP.
  absl::Mutex tls_mu_;
  std::shared_ptr<ssl::context> tls_context_ ABSL_GUARDED_BY(tls_mu_);
};

namespace {

// One client connection, over plain TCP (PlainStream) or TLS (TlsStream).
// Everything it does runs on its strand, so it needs no lock; the cluster call
// runs on the blocking pool and posts its reply back to the strand. It serves
// requests one at a time, in order, which is what HTTP/1.1 pipelining requires.
template <class Stream>
class Connection : public HttpServer::Impl::Drainable,
                   public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Connection<Stream>>::shared_from_this;
  using std::enable_shared_from_this<Connection<Stream>>::weak_from_this;

 public:
  Connection(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}
  Connection(tcp::socket socket, std::shared_ptr<ssl::context> tls,
             HttpServer::Impl* server)
      : tls_(std::move(tls)),
        stream_(std::move(socket), *tls_),
        server_(server) {}
  ~Connection() override {
    if (registered_) server_->Unregister(id_);
  }

  void Start() {
    id_ = server_->Register(weak_from_this(), &over_limit_);
    registered_ = true;
    net::dispatch(tcp_stream().get_executor(),
                  [self = shared_from_this()] { self->Handshake(); });
  }

  void BeginDrain() override {
    net::dispatch(tcp_stream().get_executor(), [self = shared_from_this()] {
      // A request not yet whole never reached the cluster: closing loses
      // nothing. One being served is answered first (Send closes after it).
      if (!self->serving_) self->Close();
    });
  }

 private:
  beast::tcp_stream& tcp_stream() { return beast::get_lowest_layer(stream_); }

  // HTTPS: the TLS handshake must finish within request_timeout. A client that
  // fails it (plain HTTP on the HTTPS port, an unknown CA) is closed.
  void Handshake() {
    if constexpr (kTls) {
      tcp_stream().expires_after(ToChrono(server_->options().request_timeout));
      stream_.async_handshake(
          ssl::stream_base::server, buffer_.data(),
          [self = shared_from_this()](beast::error_code ec, size_t used) {
            if (ec) return self->Close();
            self->buffer_.consume(used);
            self->ReadHeader();
          });
    } else {
      ReadHeader();
    }
  }

  void ReadHeader() {
    if (server_->draining()) return Shutdown();
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_->options().max_header_bytes));
    parser_->body_limit(server_->options().max_body_bytes);
    tcp_stream().expires_after(ToChrono(server_->options().request_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      // curl and others wait for this before sending a body larger than 1 KiB.
      auto interim = std::make_shared<http::response<http::empty_body>>(
          http::status::continue_, header.version());
      http::async_write(
          stream_, *interim,
          [self = shared_from_this(), interim](beast::error_code ec, size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    // A closed, reset, timed-out or half-sent request gets no answer: there is
    // nobody to read it, or the request was never whole (and so never reached
    // the cluster).
    if (ec == http::error::end_of_stream ||
        ec == http::error::partial_message || ec == beast::error::timeout ||
        ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted) {
      return Close();
    }
    const std::string target =
        parser_->is_header_done() ? std::string(parser_->get().target()) : "";
    const HttpHandler& handler = server_->handler();
    if (ec == http::error::body_limit) {
      return SendAndClose(handler.Refusal(
          MakeError(ErrorCode::kInvalidArgument,
                    absl::StrCat("request body is larger than ",
                                 server_->options().max_body_bytes, " bytes")),
          target, 413));
    }
    if (ec == http::error::header_limit) {
      return SendAndClose(handler.Refusal(
          MakeError(
              ErrorCode::kInvalidArgument,
              absl::StrCat("request headers are larger than ",
                           server_->options().max_header_bytes, " bytes")),
          target, 431));
    }
    if (ec.category() ==
        http::make_error_code(http::error::bad_method).category()) {
      return SendAndClose(handler.Refusal(
          MakeError(ErrorCode::kInvalidArgument,
                    absl::StrCat("malformed HTTP request: ", ec.message())),
          target, 400));
    }
    Close();
  }

  void OnRequest() {
    serving_ = true;
    tcp_stream().expires_never();  // the cluster call has its own deadline
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request_method_ = request.method;
    head_request_ = request.method == "HEAD";
    request_start_ = absl::Now();
    request.target = std::string(message.target());
    request.idempotency_key = std::string(message["Idempotency-Key"]);
    request.authorization = std::string(message[http::field::authorization]);
    request.content_type = std::string(message[http::field::content_type]);
    request.if_none_match = std::string(message[http::field::if_none_match]);
    request.body = std::move(message.body());

    if (over_limit_) {
      // Answered, not dropped: the client learns to come back later. The
      // connection closes after the answer, freeing its place.
      keep_alive_ = false;
      linger_ = true;
      return Send(server_->handler().Refusal(
          MakeError(ErrorCode::kOverloaded,
                    absl::StrCat(server_->options().server_name,
                                 " overloaded: more than ",
                                 server_->options().max_connections,
                                 " connections open; nothing was accepted")),
          request.target, 429));
    }
    HttpRouting routing = server_->handler().Route(request);
    if (routing.reply) return Send(*std::move(routing.reply));
    if (!server_->TryAcquireSlot()) {
      return Send(server_->handler().Refusal(
          MakeError(
              ErrorCode::kOverloaded,
              absl::StrCat(server_->options().server_name,
                           " overloaded: ", server_->options().max_in_flight,
                           " requests in flight; nothing was accepted")),
          request.target, 429));
    }
    if (routing.async_call) {
      routing.async_call([self = shared_from_this()](HttpReply reply) mutable {
        PostReply(std::move(self), std::move(reply));
      });
      return;
    }
    net::post(server_->blocking_pool(),
              [self = shared_from_this(),
               call = std::move(routing.cluster_call)]() mutable {
                PostReply(std::move(self), call());
              });
  }

  // Hands a cluster call's reply to the connection's strand, then frees the
  // call's slot. In that order: once the last slot is free, Stop may destroy
  // the io_context, so nothing here may touch it (or hold the connection)
  // afterwards.
  static void PostReply(std::shared_ptr<Connection> self, HttpReply reply) {
    HttpServer::Impl* server = self->server_;
    server->CountAnswered();
    auto executor = self->tcp_stream().get_executor();
    net::post(executor,
              [self = std::move(self), reply = std::move(reply)]() mutable {
                self->Send(std::move(reply));
              });
    server->ReleaseSlot();
  }

  void SendAndClose(HttpReply reply) {
    keep_alive_ = false;
    linger_ = true;
    if (parser_->is_header_done()) version_ = parser_->get().version();
    Send(std::move(reply));
  }

  void Send(HttpReply reply) {
    server_->handler().OnReply(reply);
    if (server_->options().access_log) LogAccess(reply);
    if (server_->draining()) keep_alive_ = false;
    response_.emplace(static_cast<http::status>(reply.status), version_);
    response_->set(http::field::server, server_->options().server_name);
    if (!reply.content_type.empty()) {
      response_->set(http::field::content_type, reply.content_type);
    }
    response_->set(http::field::cache_control, "no-store");
    for (auto& [name, value] : reply.headers) response_->set(name, value);
    response_->body() = std::move(reply.body);
    response_->keep_alive(keep_alive_);
    response_->prepare_payload();
    if (head_request_) {
      // The length a GET would have had, without the body (RFC 9110 9.3.2).
      const size_t length = response_->body().size();
      response_->body().clear();
      if (reply.status != 304 && reply.status != 204) {
        response_->content_length(length);
      }
    }
    tcp_stream().expires_after(ToChrono(server_->options().write_timeout));
    http::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnWritten(ec);
        });
  }

  void LogAccess(const HttpReply& reply) {
    const bool timed = request_start_ != absl::InfinitePast();
    LOG(INFO) << EventLine(
        "http_access",
        {{"method", request_method_.empty() ? "-" : request_method_},
         {"route", reply.route.empty() ? "-" : reply.route},
         {"status", reply.status},
         {"code", reply.code.empty() ? "-" : reply.code},
         {"latency_ms",
          timed ? absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(
                                              absl::Now() - request_start_))
                : "-"},
         {"request_id", reply.request_id.empty() ? "-" : reply.request_id}});
    request_method_.clear();
    request_start_ = absl::InfinitePast();
  }

  void OnWritten(beast::error_code ec) {
    response_.reset();
    serving_ = false;
    if (ec) return Close();
    if (!keep_alive_) return linger_ ? Linger() : Shutdown();
    ReadHeader();
  }

  void Shutdown() {
    if constexpr (kTls) {
      // close_notify, then wait (briefly) for the client's.
      tcp_stream().expires_after(ToChrono(server_->options().write_timeout));
      stream_.async_shutdown(
          [self = shared_from_this()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ignored;
      tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Close();
    }
  }

  // After an error answer to a request that may still be arriving: stop
  // sending, drop what arrives for a while, then close. Over TLS the close
  // itself is a message: send close_notify and let what arrives meanwhile
  // be dropped by the TLS shutdown, for as long.
  void Linger() {
    if constexpr (kTls) {
      tcp_stream().expires_after(kLingerTime);
      stream_.async_shutdown(
          [self = shared_from_this()](beast::error_code) { self->Close(); });
      return;
    }
    beast::error_code ignored;
    tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_deadline_ = std::chrono::steady_clock::now() + kLingerTime;
    Drain();
  }

  void Drain() {
    const auto now = std::chrono::steady_clock::now();
    if (now >= linger_deadline_) return Close();
    tcp_stream().expires_after(linger_deadline_ - now);
    tcp_stream().async_read_some(
        net::buffer(drain_buffer_),
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          self->Drain();
        });
  }

  void Close() { tcp_stream().close(); }

  const std::shared_ptr<ssl::context> tls_;  // kept alive for stream_
  Stream stream_;
  HttpServer::Impl* const server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  bool keep_alive_ = true;
  bool head_request_ = false;  // the request being answered is a HEAD
  bool linger_ = false;
  bool serving_ = false;  // from a whole request until its answer is written
  // For the access log: the request being answered.
  std::string request_method_;
  absl::Time request_start_ = absl::InfinitePast();
  uint64_t id_ = 0;
  bool registered_ = false;
  bool over_limit_ = false;  // beyond max_connections: answer 429 and close
  unsigned version_ = 11;
  std::chrono::steady_clock::time_point linger_deadline_;
  std::array<char, 4096> drain_buffer_;
};

}  // namespace

absl::Status HttpServer::Impl::Listen() {
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options_.host, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("bad HTTP listen host '", options_.host,
                                  "': ", ec.message()));
  }
  const tcp::endpoint endpoint(address, options_.port);
  io_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) io_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) io_->acceptor.bind(endpoint, ec);
  if (!ec) io_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("cannot listen on ", options_.host, ":",
                                  options_.port, ": ", ec.message()));
  }
  port_ = io_->acceptor.local_endpoint().port();
  if (!options_.tls_cert_path.empty() || !options_.tls_key_path.empty()) {
    if (absl::StatusOr<std::string> loaded = ReloadTls(); !loaded.ok()) {
      return loaded.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> HttpServer::Impl::ReloadTls() {
  if (options_.tls_cert_path.empty() || options_.tls_key_path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "HTTPS needs both a certificate and a key file");
  }
  absl::StatusOr<std::shared_ptr<ssl::context>> context =
      LoadTlsContext(options_.tls_cert_path, options_.tls_key_path);
  if (!context.ok()) return context.status();
  absl::MutexLock lock(&tls_mu_);
  tls_context_ = *std::move(context);
  return absl::StrCat("HTTPS serves ", options_.tls_cert_path);
}

void HttpServer::Impl::Run() {
  Accept();
  const int threads = std::max(1, options_.io_threads);
  io_threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    io_threads_.emplace_back([this] { io_->context.run(); });
  }
}

void HttpServer::Impl::Accept() {
  io_->acceptor.async_accept(net::make_strand(io_->context),
                             [this](beast::error_code ec, tcp::socket socket) {
                               OnAccept(ec, std::move(socket));
                             });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted) return;
  if (ec) {
    // Typically out of file descriptors: back off instead of spinning on the
    // error.
    LOG_EVERY_N(WARNING, 100) << "HTTP accept failed: " << ec.message();
    io_->accept_backoff.expires_after(std::chrono::milliseconds(50));
    io_->accept_backoff.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (std::shared_ptr<ssl::context> tls = tls_context()) {
    std::make_shared<Connection<TlsStream>>(std::move(socket), std::move(tls),
                                            this)
        ->Start();
  } else {
    std::make_shared<Connection<PlainStream>>(std::move(socket), this)->Start();
  }
  Accept();
}

void HttpServer::Impl::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // Drain: accept nothing new, close idle connections, answer the requests in
  // progress (each closing its connection), for at most drain_timeout.
  draining_.store(true, std::memory_order_release);
  net::post(io_->context, [this] {
    beast::error_code ignored;
    io_->acceptor.close(ignored);
    io_->accept_backoff.cancel();
  });
  std::vector<std::shared_ptr<Drainable>> open;
  {
    absl::MutexLock lock(&connections_mu_);
    for (auto& [id, weak] : connections_) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  for (const auto& connection : open) connection->BeginDrain();
  open.clear();  // a connection that closes must be free to go
  {
    absl::MutexLock lock(&connections_mu_);
    const bool drained = connections_mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::map<uint64_t, std::weak_ptr<Drainable>>* connections) {
              return connections->empty();
            },
            &connections_),
        options_.drain_timeout);
    if (!drained) {
      LOG(WARNING) << connections_.size()
                   << " HTTP connections still open after the drain timeout; "
                      "closing them";
    }
  }
  io_->context.stop();
  for (std::thread& thread : io_threads_) thread.join();
  io_threads_.clear();
  // Cluster calls in progress finish; their replies are posted to the stopped
  // io_context and dropped with it. Asynchronous ones (submits) are waited
  // for too: their replies must not reach a destroyed io_context.
  blocking_pool_.join();
  {
    absl::MutexLock lock(&stop_mu_);
    stop_mu_.Await(absl::Condition(
        +[](std::atomic<int>* in_flight) { return in_flight->load() == 0; },
        &in_flight_));
  }
  io_.reset();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

bool ParseHttpListenAddress(const std::string& address,
                            HttpServerOptions* options) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return false;
  }
  options->host = address.substr(0, colon);
  options->port = static_cast<uint16_t>(port);
  return true;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    std::shared_ptr<const HttpHandler> handler,
    const HttpServerOptions& options) {
  auto impl = std::make_unique<Impl>(std::move(handler), options);
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  impl->Run();
  return std::make_unique<HttpServer>(std::move(impl));
}

void HttpServer::Stop() { impl_->Stop(); }

uint16_t HttpServer::port() const { return impl_->port(); }

absl::StatusOr<std::string> HttpServer::ReloadTls() {
  return impl_->ReloadTls();
}

}  // namespace report
