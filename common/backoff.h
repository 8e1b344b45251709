// How long to wait before trying again, computed one way: base * 2^(n-1),
// capped. Retry loops that many processes run at once (reconnecting a watch, a
// peer stream, a call to the leader) use Backoff, which adds jitter so that a
// restarted replica is not hit by every client in the same millisecond.
#ifndef REPORT_COMMON_BACKOFF_H_
#define REPORT_COMMON_BACKOFF_H_

#include <cstdint>

#include "absl/random/random.h"
#include "absl/time/time.h"

namespace report {

// base * 2^(attempt-1), never above `cap`; attempt 0 counts as 1. No jitter:
// for delays that must be predictable (a request's retry backoff, which the
// docs and tests state).
absl::Duration ExponentialDelay(absl::Duration base, absl::Duration cap,
                                uint32_t attempt);

// A retry loop's delays: the n-th Next() is a uniformly random duration in
// [d/2, d] with d = ExponentialDelay(base, cap, n) ("equal jitter": never less
// than half the nominal delay, so the backoff still backs off). Reset() after
// a success starts again from base. Not thread-safe: one per loop.
class Backoff {
 public:
  Backoff(absl::Duration base, absl::Duration cap) : base_(base), cap_(cap) {}

  absl::Duration Next();
  void Reset() { attempt_ = 0; }
  uint32_t attempts() const { return attempt_; }

 private:
  absl::Duration base_;
  absl::Duration cap_;
  uint32_t attempt_ = 0;
  absl::BitGen random_;
};

}  // namespace report

#endif  // REPORT_COMMON_BACKOFF_H_
