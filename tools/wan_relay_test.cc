// report-wan-relay as a process: an echo server behind it, a client in front.
// Every byte waits the configured one-way delay in each direction, the bytes
// arrive intact and in order, and a half-close reaches the other side after the
// bytes before it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

int Listener(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port nobody listens on right now (the relay binds it next).
uint16_t UnusedPort() {
  uint16_t port = 0;
  close(Listener(&port));
  return port;
}

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool ReadExactly(int fd, size_t n, std::string* out) {
  out->clear();
  char buffer[65536];
  while (out->size() < n) {
    ssize_t got = read(fd, buffer, std::min(sizeof(buffer), n - out->size()));
    if (got <= 0) return false;
    out->append(buffer, got);
  }
  return true;
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = Listener(&echo_port_);
    echo_ = std::thread([this] {
      // Echoes each connection until its end, then closes it.
      for (int served = 0; served < 2; ++served) {
        int conn = accept(listener_, nullptr, nullptr);
        if (conn < 0) return;
        char buffer[65536];
        ssize_t n;
        while ((n = read(conn, buffer, sizeof(buffer))) > 0) {
          if (write(conn, buffer, n) != n) break;
        }
        close(conn);
      }
    });
  }
  void TearDown() override {
    if (relay_pid_ > 0) {
      kill(relay_pid_, SIGTERM);
      waitpid(relay_pid_, nullptr, 0);
    }
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    echo_.join();
  }

  // Starts the relay in front of the echo server with `delay_ms` for 127.0.0.1
  // and returns a connected client socket.
  int StartRelay(const std::string& delay_ms) {
    relay_port_ = UnusedPort();
    std::vector<std::string> args = {
        std::string(REPORT_WAN_RELAY), "--route",
        "127.0.0.1:" + std::to_string(relay_port_) +
            "=127.0.0.1:" + std::to_string(echo_port_),
        "--delay", "127.0.0.1=" + delay_ms};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&relay_pid_, argv[0], nullptr, nullptr, argv.data(),
                          environ),
              0);
    for (auto until = Clock::now() + std::chrono::seconds(10);
         Clock::now() < until;) {
      int fd = Connect(relay_port_);
      if (fd >= 0) return fd;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the relay never listened on " << relay_port_;
    return -1;
  }

  int listener_ = -1;
  uint16_t echo_port_ = 0, relay_port_ = 0;
  pid_t relay_pid_ = 0;
  std::thread echo_;
};

TEST_F(RelayTest, EachDirectionWaitsTheOneWayDelay) {
  int fd = StartRelay("30");
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    ASSERT_EQ(write(fd, "ping", 4), 4);
    std::string echoed;
    ASSERT_TRUE(ReadExactly(fd, 4, &echoed));
    const auto rtt = Clock::now() - start;
    EXPECT_EQ(echoed, "ping");
    EXPECT_GE(rtt, std::chrono::milliseconds(60)) << "no delay added";
    EXPECT_LT(rtt, std::chrono::milliseconds(1000));
  }
  close(fd);
}

TEST_F(RelayTest, BytesArriveIntactAndInOrderAndTheHalfCloseAfterThem) {
  int fd = StartRelay("5");
  ASSERT_GE(fd, 0);
  std::string sent(3 * 1024 * 1024, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 31);
  std::string received;
  std::thread reader([&] {
    char buffer[65536];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0)
      received.append(buffer, n);
  });
  size_t off = 0;
  while (off < sent.size()) {
    ssize_t n = write(fd, sent.data() + off, sent.size() - off);
    ASSERT_GT(n, 0);
    off += n;
  }
  shutdown(fd, SHUT_WR);  // the echo server ends, closing its side: EOF here
  reader.join();
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "bytes changed or reordered";
  close(fd);
}

}  // namespace
