#include "common/backoff.h"

#include <algorithm>

namespace report {

absl::Duration ExponentialDelay(absl::Duration base, absl::Duration cap,
                                uint32_t attempt) {
  absl::Duration delay = base;
  for (uint32_t i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

absl::Duration Backoff::Next() {
  if (attempt_ < UINT32_MAX) ++attempt_;
  const absl::Duration nominal = ExponentialDelay(base_, cap_, attempt_);
  const int64_t high = absl::ToInt64Microseconds(nominal);
  const int64_t low = high / 2;
  if (high <= low) return nominal;
  return absl::Microseconds(
      absl::Uniform<int64_t>(absl::IntervalClosed, random_, low, high));
}

}  // namespace report
