// What the driver thread waits on between rounds. The driver steps the core,
// handles its output, then calls RunOnce() until the next tick; anything that
// gives the core new work from another thread (a proposal, a durable append)
// calls Wake().
//
// CvEventLoop waits on a condition variable: the loop of unit tests, and of a
// replica whose network calls arrive on other threads. A replica's process
// uses GrpcEventLoop (grpc_event_loop.h) instead: the driver thread itself
// polls the gRPC completion queue its peer streams and SubmitBatch calls
// arrive on, so a message from the network is read, stepped and answered on
// one thread, with no hand-off.
#ifndef REPORT_REPLICA_SERVER_EVENT_LOOP_H_
#define REPORT_REPLICA_SERVER_EVENT_LOOP_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace report {

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Driver thread: handles whatever events are ready (their handlers run
  // here), waiting for one until `deadline` unless woken.
  virtual void RunOnce(std::chrono::steady_clock::time_point deadline) = 0;
  // Any thread: makes the current or next RunOnce return soon.
  virtual void Wake() = 0;
};

class CvEventLoop : public EventLoop {
 public:
  void RunOnce(std::chrono::steady_clock::time_point deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return woken_; });
    woken_ = false;
  }
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_EVENT_LOOP_H_
