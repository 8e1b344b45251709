#include "replica/server/grpc_event_loop.h"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace report {
namespace {

using Clock = std::chrono::steady_clock;

class Recorder : public CqHandler {
 public:
  void Proceed(bool ok) override {
    ++calls;
    last_ok = ok;
    thread = std::this_thread::get_id();
  }
  int calls = 0;
  bool last_ok = false;
  std::thread::id thread;
};

TEST(GrpcEventLoopTest, EventsRunTheirHandlerOnThePollingThread) {
  grpc::CompletionQueue cq;
  GrpcEventLoop loop(&cq);
  Recorder handler;
  grpc::Alarm alarm;
  alarm.Set(&cq, gpr_now(GPR_CLOCK_MONOTONIC), &handler);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (handler.calls == 0 && Clock::now() < deadline) {
    loop.RunOnce(deadline);
  }
  EXPECT_EQ(handler.calls, 1);
  EXPECT_TRUE(handler.last_ok);
  EXPECT_EQ(handler.thread, std::this_thread::get_id());
  loop.Drain();
}

TEST(GrpcEventLoopTest, AWakeFromAnotherThreadEndsTheWait) {
  grpc::CompletionQueue cq;
  GrpcEventLoop loop(&cq);
  const auto start = Clock::now();
  std::thread waker([&] { loop.Wake(); });
  loop.RunOnce(start + std::chrono::seconds(30));
  waker.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  // Without a wake the loop waits for its deadline.
  const auto before = Clock::now();
  loop.RunOnce(before + std::chrono::milliseconds(50));
  EXPECT_GE(Clock::now() - before, std::chrono::milliseconds(45));
  loop.Drain();
}

TEST(GrpcEventLoopTest, DrainHandsEveryPendingEventBackNotOk) {
  grpc::CompletionQueue cq;
  GrpcEventLoop loop(&cq);
  Recorder handler;
  grpc::Alarm alarm;
  alarm.Set(&cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), &handler);
  alarm.Cancel();
  loop.Drain();
  EXPECT_EQ(handler.calls, 1);
  EXPECT_FALSE(handler.last_ok);
}

}  // namespace
}  // namespace report
