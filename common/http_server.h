// A small HTTP/1.1 server: the gateway's public API (docs/API.md) and every
// process's admin routes (/healthz, /readyz, /metrics; docs/OPERATIONS.md) run
// on it. What a request means is the HttpHandler's business; this owns sockets,
// threads and limits. Connections are served by a small fixed pool of I/O
// threads (keep-alive and pipelining, no thread per connection); calls that
// block run on a bounded pool of blocking threads and their answers are posted
// back to the connection.
//
// Limits that protect the process from its clients: a request (headers and
// body) must arrive whole within `request_timeout` of the connection going
// idle, else the connection is closed; headers larger than `max_header_bytes`
// get 431, bodies larger than `max_body_bytes` get 413; beyond `max_in_flight`
// blocking calls, requests are refused at once with 429 Overloaded (the
// handler's Refusal says how); beyond `max_connections` open connections, a
// connection's request is answered the same way and the connection closed.
#ifndef REPORT_COMMON_HTTP_SERVER_H_
#define REPORT_COMMON_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace report {

struct HttpRequest {
  std::string method;           // "GET", "POST", ...
  std::string target;           // origin-form: path and optional query
  std::string idempotency_key;  // Idempotency-Key header, "" when absent
  std::string body;
  std::string authorization = "";  // Authorization header, "" when absent
  std::string content_type = "";   // Content-Type header, "" when absent
  std::string if_none_match = "";  // If-None-Match header, "" when absent
};

// To a HEAD request the server sends the reply's headers and the length its
// body would have, without the body.
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

// What to do with a request: answer at once, make a blocking call on a
// blocking thread, which returns the reply, or start a call that delivers the
// reply to a callback (exactly once, on any thread) and holds no thread
// meanwhile. Exactly one of the three is set.
struct HttpRouting {
  using ReplyFn = std::function<void(HttpReply)>;
  std::optional<HttpReply> reply;
  std::function<HttpReply()> cluster_call;
  std::function<void(ReplyFn)> async_call;
  std::string route;
};

// What requests mean. Called concurrently from the server's threads.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Routes a whole request; never blocks.
  virtual HttpRouting Route(const HttpRequest& request) const = 0;
  // The answer to a request the server refuses itself (`http_status` 400, 413,
  // 429 or 431; `error` carries the machine code and detail). `target` is ""
  // when the request line was not read.
  virtual HttpReply Refusal(const absl::Status& error, absl::string_view target,
                            int http_status) const = 0;
  // Every reply, as it is sent.
  virtual void OnReply(const HttpReply& reply) const {}
  // A blocking or asynchronous call started (+1) or answered (-1).
  virtual void AddInFlight(int delta) const {}
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the OS picks one; see HttpServer::port()
  std::string server_name = "report";  // the Server header
  int io_threads = 2;
  // Threads for blocking calls.
  int blocking_threads = 64;
  // Blocking and asynchronous calls queued or running, over all connections.
  int max_in_flight = 1024;
  // Open connections; a connection beyond it has its first request answered
  // 429 Overloaded (with Retry-After), then is closed.
  int max_connections = 4096;
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 16 * 1024;
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // How long Stop waits for the requests in progress to be answered; set it
  // above the calls' own timeout so that every one is.
  absl::Duration drain_timeout = absl::Seconds(12);
  // One "event=http_access" line per answered request (docs/OPERATIONS.md).
  bool access_log = false;
  // HTTPS (TLS 1.2 or later) with this PEM certificate chain and key; both
  // empty for plain HTTP. HttpServer::ReloadTls re-reads them.
  std::string tls_cert_path;
  std::string tls_key_path;
};

// "HOST:PORT" with a numeric port into options.host and options.port; false
// when malformed.
bool ParseHttpListenAddress(const std::string& address,
                            HttpServerOptions* options);

class HttpServer {
 public:
  // Binds and starts serving; fails (with the reason) when the address cannot
  // be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      std::shared_ptr<const HttpHandler> handler,
      const HttpServerOptions& options);

  // Stops serving, draining first: closes the listener and every connection
  // with no request in progress; each request in progress is answered (with
  // "Connection: close") before its connection closes, for at most
  // drain_timeout. Then closes what is left, waits for calls still running and
  // joins all threads. Idempotent; the destructor calls it.
  void Stop();
  ~HttpServer();

  // The bound port (the OS's choice when options.port was 0).
  uint16_t port() const;

  // HTTPS only: re-reads the certificate and key files. Connections accepted
  // from now on present them; open ones keep what they had. When the files do
  // not load (or the key does not match) the error says why and the old ones
  // stay in use. Returns a line saying what is now served.
  absl::StatusOr<std::string> ReloadTls();

  // Use Start(); Impl is private to http_server.cc.
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace report

#endif  // REPORT_COMMON_HTTP_SERVER_H_
