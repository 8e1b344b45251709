// report-wan-relay: a userspace TCP relay that delays every byte by a one-way
// delay chosen by the connecting peer's address, in each direction.
// `deploy/cluster.sh up --hosts --wan` runs one in front of each replica's gRPC
// port, inside the replica's host, so every connection from another host pays
// that pair's round trip (docs/PERFORMANCE.md "Across hosts and WANs"). This
// kernel has no netem; a relay that holds bytes until their time is the
// portable way to add delay.
//
//   report-wan-relay --route LISTEN=TARGET [--route ...] [--delay SRC_IP=MS
//   ...]
//                    [--default-delay-ms MS] [--jitter-ms MS] [--seed N]
//
// Bytes keep their order (jitter never reorders within a connection); a
// half-close is passed on once the bytes before it are delivered; a connection
// whose either side fails is closed on both. Single-threaded (poll).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

constexpr size_t kReadSize = 64 * 1024;
// A direction holding this much undelivered stops reading (TCP back-pressure).
constexpr size_t kMaxQueued = 8 * 1024 * 1024;

struct Endpoint {
  sockaddr_in addr{};
  std::string text;
};

bool ParseEndpoint(const std::string& text, Endpoint* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  out->text = text;
  out->addr.sin_family = AF_INET;
  const std::string host = text.substr(0, colon);
  char* end = nullptr;
  const long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) return false;
  out->addr.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &out->addr.sin_addr) == 1;
}

bool ParseMs(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0' && *out >= 0 && *out < 60000;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct Chunk {
  Clock::time_point due;
  std::string bytes;
  size_t offset = 0;
};

// One direction of a relayed connection: bytes read from `from`, held until
// due, written to `to`.
struct Direction {
  int from = -1, to = -1;
  std::deque<Chunk> queue;
  size_t queued = 0;
  Clock::time_point last_due{};
  bool read_eof = false;
  bool shut = false;        // the half-close has been passed on
  bool want_write = false;  // the last write would have blocked
};

struct Connection {
  int client = -1, server = -1;
  bool connected = false;
  bool dead = false;
  Micros delay{0};
  Direction up;    // client -> server
  Direction down;  // server -> client
};

class Relay {
 public:
  Relay(std::vector<std::pair<Endpoint, Endpoint>> routes,
        std::map<uint32_t, double> delays, double default_ms, double jitter_ms,
        unsigned seed)
      : routes_(std::move(routes)),
        delays_(std::move(delays)),
        default_ms_(default_ms),
        jitter_ms_(jitter_ms),
        rng_(seed) {}

  bool Listen() {
    for (const auto& [listen, target] : routes_) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd, reinterpret_cast<const sockaddr*>(&listen.addr),
               sizeof(listen.addr)) != 0 ||
          ::listen(fd, 512) != 0) {
        std::fprintf(stderr, "report-wan-relay: cannot listen on %s: %s\n",
                     listen.text.c_str(), std::strerror(errno));
        return false;
      }
      listeners_.push_back(fd);
    }
    return true;
  }

  void Run() {
    std::vector<pollfd> fds;
    std::vector<std::pair<Connection*, int>>
        owners;  // per fd: conn, 0 client 1 server
    while (true) {
      fds.clear();
      owners.clear();
      for (int fd : listeners_) {
        fds.push_back({fd, POLLIN, 0});
        owners.push_back({nullptr, 0});
      }
      for (auto& conn : connections_) {
        short client_events = 0, server_events = 0;
        if (!conn->up.read_eof && conn->up.queued < kMaxQueued)
          client_events |= POLLIN;
        if (conn->down.want_write) client_events |= POLLOUT;
        if (!conn->connected) {
          server_events |= POLLOUT;
        } else {
          if (!conn->down.read_eof && conn->down.queued < kMaxQueued)
            server_events |= POLLIN;
          if (conn->up.want_write) server_events |= POLLOUT;
        }
        // poll skips a negative fd: a side with nothing to wait for (e.g. after
        // its end of stream) must not wake the loop again and again with
        // POLLHUP.
        fds.push_back({client_events ? conn->client : -1, client_events, 0});
        owners.push_back({conn.get(), 0});
        fds.push_back({server_events ? conn->server : -1, server_events, 0});
        owners.push_back({conn.get(), 1});
      }
      const timespec timeout = Timeout();
      ppoll(fds.data(), fds.size(), &timeout, nullptr);
      const auto now = Clock::now();
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Connection* conn = owners[i].first;
        if (conn == nullptr) {
          Accept(fds[i].fd, i);
          continue;
        }
        if (conn->dead) continue;
        const bool server_side = owners[i].second == 1;
        if (server_side && !conn->connected &&
            (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
          int error = 0;
          socklen_t len = sizeof(error);
          getsockopt(conn->server, SOL_SOCKET, SO_ERROR, &error, &len);
          if (error != 0) {
            conn->dead = true;
            continue;
          }
          conn->connected = true;
        }
        if (fds[i].revents & POLLOUT) {
          (server_side ? conn->up : conn->down).want_write = false;
        }
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          Read(conn, server_side ? &conn->down : &conn->up, now);
        }
      }
      for (auto& conn : connections_) {
        if (conn->dead) continue;
        if (conn->connected) Flush(conn.get(), &conn->up);
        Flush(conn.get(), &conn->down);
      }
      connections_.erase(
          std::remove_if(connections_.begin(), connections_.end(),
                         [](const std::unique_ptr<Connection>& conn) {
                           const bool done =
                               conn->dead || (conn->up.shut && conn->down.shut);
                           if (done) {
                             close(conn->client);
                             close(conn->server);
                           }
                           return done;
                         }),
          connections_.end());
    }
  }

 private:
  // Until the next chunk is due (at most a second), to the microsecond.
  timespec Timeout() const {
    Clock::time_point next = Clock::time_point::max();
    for (const auto& conn : connections_) {
      for (const Direction* d : {&conn->up, &conn->down}) {
        if (!d->queue.empty() && !d->want_write)
          next = std::min(next, d->queue.front().due);
      }
    }
    int64_t wait_us = 1000000;
    if (next != Clock::time_point::max()) {
      wait_us = std::clamp<int64_t>(
          std::chrono::duration_cast<Micros>(next - Clock::now()).count(), 0,
          1000000);
    }
    return timespec{static_cast<time_t>(wait_us / 1000000),
                    static_cast<long>(wait_us % 1000000) * 1000};
  }

  void Accept(int listener, size_t index) {
    while (true) {
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      int client = accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      const Endpoint& target = routes_[index].second;
      int server =
          socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      SetNoDelay(client);
      SetNoDelay(server);
      if (connect(server, reinterpret_cast<const sockaddr*>(&target.addr),
                  sizeof(target.addr)) != 0 &&
          errno != EINPROGRESS) {
        close(client);
        close(server);
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->client = client;
      conn->server = server;
      auto it = delays_.find(peer.sin_addr.s_addr);
      const double ms = it == delays_.end() ? default_ms_ : it->second;
      conn->delay = Micros(static_cast<int64_t>(ms * 1000));
      conn->up.from = client;
      conn->up.to = server;
      conn->down.from = server;
      conn->down.to = client;
      connections_.push_back(std::move(conn));
    }
  }

  void Read(Connection* conn, Direction* d, Clock::time_point now) {
    if (d->read_eof) return;
    char buffer[kReadSize];
    const ssize_t n = read(d->from, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn->dead = true;
      return;
    }
    Micros extra{0};
    if (jitter_ms_ > 0) {
      std::uniform_real_distribution<double> jitter(0, jitter_ms_ * 1000);
      extra = Micros(static_cast<int64_t>(jitter(rng_)));
    }
    // Never before the bytes read earlier: jitter delays, it does not reorder.
    const Clock::time_point due =
        std::max(now + conn->delay + extra, d->last_due);
    d->last_due = due;
    if (n == 0) {
      d->read_eof = true;
      d->queue.push_back({due, std::string(), 0});  // the half-close, in order
      return;
    }
    d->queue.push_back({due, std::string(buffer, n), 0});
    d->queued += n;
  }

  void Flush(Connection* conn, Direction* d) {
    const auto now = Clock::now();
    while (!d->queue.empty() && d->queue.front().due <= now && !d->want_write) {
      Chunk& chunk = d->queue.front();
      if (chunk.bytes.empty()) {  // the half-close
        shutdown(d->to, SHUT_WR);
        d->shut = true;
        d->queue.pop_front();
        continue;
      }
      const ssize_t n = send(d->to, chunk.bytes.data() + chunk.offset,
                             chunk.bytes.size() - chunk.offset, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          d->want_write = true;
        } else if (errno != EINTR) {
          conn->dead = true;
        }
        return;
      }
      chunk.offset += n;
      d->queued -= n;
      if (chunk.offset == chunk.bytes.size()) d->queue.pop_front();
    }
  }

  const std::vector<std::pair<Endpoint, Endpoint>> routes_;
  const std::map<uint32_t, double> delays_;
  const double default_ms_;
  const double jitter_ms_;
  std::mt19937 rng_;
  std::vector<int> listeners_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

int Usage(const char* why) {
  std::fprintf(
      stderr,
      "report-wan-relay: %s\n"
      "usage: report-wan-relay --route LISTEN=TARGET [--route ...] "
      "[--delay SRC_IP=MS ...] [--default-delay-ms MS] [--jitter-ms MS] "
      "[--seed N]\n"
      "  LISTEN, TARGET: IPv4:PORT; MS: one-way delay in milliseconds, "
      "applied to each direction of a connection from SRC_IP\n",
      why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<Endpoint, Endpoint>> routes;
  std::map<uint32_t, double> delays;
  double default_ms = 0, jitter_ms = 0;
  unsigned seed = std::random_device()();
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      Usage("a delaying TCP relay");
      return 0;
    }
    if (i + 1 >= argc) return Usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    const size_t eq = value.find('=');
    if (flag == "--route") {
      Endpoint listen, target;
      if (eq == std::string::npos ||
          !ParseEndpoint(value.substr(0, eq), &listen) ||
          !ParseEndpoint(value.substr(eq + 1), &target)) {
        return Usage(("--route must be IP:PORT=IP:PORT, not " + value).c_str());
      }
      routes.emplace_back(listen, target);
    } else if (flag == "--delay") {
      in_addr addr{};
      double ms = 0;
      if (eq == std::string::npos ||
          inet_pton(AF_INET, value.substr(0, eq).c_str(), &addr) != 1 ||
          !ParseMs(value.substr(eq + 1), &ms)) {
        return Usage(("--delay must be IP=MS, not " + value).c_str());
      }
      delays[addr.s_addr] = ms;
    } else if (flag == "--default-delay-ms") {
      if (!ParseMs(value, &default_ms)) return Usage("bad --default-delay-ms");
    } else if (flag == "--jitter-ms") {
      if (!ParseMs(value, &jitter_ms)) return Usage("bad --jitter-ms");
    } else if (flag == "--seed") {
      seed = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (routes.empty()) return Usage("at least one --route is needed");
  signal(SIGPIPE, SIG_IGN);
  Relay relay(std::move(routes), std::move(delays), default_ms, jitter_ms,
              seed);
  if (!relay.Listen()) return 1;
  relay.Run();
}
