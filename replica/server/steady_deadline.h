// Condition variables wait on the steady clock; callers give absl::Time
// deadlines (from a gRPC deadline). This converts one, capped at an hour so a
// far-future deadline never overflows the clock.
#ifndef REPORT_REPLICA_SERVER_STEADY_DEADLINE_H_
#define REPORT_REPLICA_SERVER_STEADY_DEADLINE_H_

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace report {

inline std::chrono::steady_clock::time_point SteadyDeadline(
    absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
  if (left > absl::Hours(1)) left = absl::Hours(1);
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(left);
}

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_STEADY_DEADLINE_H_
