#include "replica/server/grpc_event_loop.h"

#include <grpc/support/time.h>

#include <algorithm>

namespace report {
namespace {

// Events handled per RunOnce before the driver looks at the core again.
constexpr int kMaxEventsPerRound = 64;

}  // namespace

void GrpcEventLoop::RunOnce(std::chrono::steady_clock::time_point deadline) {
  polling_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                             std::chrono::steady_clock::duration::zero());
  const gpr_timespec first = gpr_time_add(
      gpr_now(GPR_CLOCK_MONOTONIC),
      gpr_time_from_nanos(
          std::chrono::duration_cast<std::chrono::nanoseconds>(left).count(),
          GPR_TIMESPAN));
  const gpr_timespec now_only = gpr_inf_past(GPR_CLOCK_MONOTONIC);
  void* tag = nullptr;
  bool ok = false;
  grpc::CompletionQueue::NextStatus status = cq_->AsyncNext(&tag, &ok, first);
  for (int handled = 0; status == grpc::CompletionQueue::GOT_EVENT;) {
    static_cast<CqHandler*>(tag)->Proceed(ok);
    if (++handled == kMaxEventsPerRound) break;
    status = cq_->AsyncNext(&tag, &ok, now_only);
  }
}

void GrpcEventLoop::Wake() {
  // On the polling thread the driver looks at the core again anyway.
  if (polling_thread_.load(std::memory_order_relaxed) ==
      std::this_thread::get_id()) {
    return;
  }
  if (armed_.exchange(true)) return;
  // A deadline already past completes the alarm inline, kicking the poller
  // once; "now" would be rounded up to the next millisecond and go through
  // gRPC's timer thread (several wake-ups more).
  alarm_.Set(cq_, gpr_inf_past(GPR_CLOCK_MONOTONIC), &wake_tag_);
}

void GrpcEventLoop::Drain() {
  alarm_.Cancel();
  cq_->Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<CqHandler*>(tag)->Proceed(false);
}

}  // namespace report
