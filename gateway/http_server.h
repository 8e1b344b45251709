// The gateway's HTTP/1.1 + JSON front end (docs/API.md): POST /reports, GET
// /reports/{id}, GET /healthz, GET /metrics. Connections are served by a small
// fixed pool of I/O threads (keep-alive and pipelining, no thread per
// connection); calls that wait on the cluster run on a bounded pool of blocking
// threads and their answers are posted back to the connection. Every error is
// application/problem+json with the machine code of §7.
//
// Limits that protect the process from its clients: a request (headers and
// body) must arrive whole within `request_timeout` of the connection going
// idle, else the connection is closed; headers larger than `max_header_bytes`
// get 431, bodies larger than `max_body_bytes` get 413; beyond `max_in_flight`
// cluster calls, requests are refused at once with 429 Overloaded and
// Retry-After (nothing was accepted); beyond `max_connections` open
// connections, a connection's request is answered the same way and the
// connection closed. Status reads that wait (long polls, bounded by the front
// door's max_long_polls) have threads of their own, so they never hold up
// submits or reads that do not wait.
#ifndef REPORT_GATEWAY_HTTP_SERVER_H_
#define REPORT_GATEWAY_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/report_front_door.h"

namespace report::gateway {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the OS picks one; see HttpServer::port()
  int io_threads = 2;
  // Threads for status reads that do not wait; the pool gets the front
  // door's max_long_polls more for those that do.
  int blocking_threads = 64;
  // Cluster calls queued or running, over all connections.
  int max_in_flight = 1024;
  // Open connections; a connection beyond it has its first request answered
  // 429 Overloaded (with Retry-After), then is closed.
  int max_connections = 4096;
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 16 * 1024;
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // How long Stop waits for the requests in progress to be answered; set it
  // above the cluster calls' own timeout so that every one is.
  absl::Duration drain_timeout = absl::Seconds(12);
  // One "event=http_access" line per answered request (docs/OPERATIONS.md).
  bool access_log = false;
};

class HttpServer {
 public:
  // Binds and starts serving; fails (with the reason) when the address cannot
  // be bound. `front_door` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const ReportFrontDoor* front_door, const HttpServerOptions& options);

  // Stops serving, draining first: closes the listener and every connection
  // with no request in progress; each request in progress is answered (with
  // "Connection: close") before its connection closes, for at most
  // drain_timeout. Then closes what is left, waits for cluster calls still
  // running and joins all threads. Idempotent; the destructor calls it.
  void Stop();
  ~HttpServer();

  // The bound port (the OS's choice when options.port was 0).
  uint16_t port() const;

  // Use Start(); Impl is private to http_server.cc.
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_HTTP_SERVER_H_
