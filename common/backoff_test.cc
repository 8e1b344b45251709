#include "common/backoff.h"

#include "gtest/gtest.h"

namespace report {
namespace {

TEST(BackoffTest, TheDelayDoublesUpToTheCap) {
  const absl::Duration base = absl::Milliseconds(10);
  const absl::Duration cap = absl::Milliseconds(100);
  EXPECT_EQ(ExponentialDelay(base, cap, 0), base);
  EXPECT_EQ(ExponentialDelay(base, cap, 1), base);
  EXPECT_EQ(ExponentialDelay(base, cap, 2), absl::Milliseconds(20));
  EXPECT_EQ(ExponentialDelay(base, cap, 4), absl::Milliseconds(80));
  EXPECT_EQ(ExponentialDelay(base, cap, 5), cap);
  EXPECT_EQ(ExponentialDelay(base, cap, UINT32_MAX), cap);
  // A base above the cap is capped too.
  EXPECT_EQ(ExponentialDelay(absl::Seconds(1), cap, 1), cap);
}

TEST(BackoffTest, JitterStaysBetweenHalfAndTheWholeDelay) {
  const absl::Duration base = absl::Milliseconds(20);
  const absl::Duration cap = absl::Milliseconds(500);
  Backoff backoff(base, cap);
  bool varied = false;
  absl::Duration first_at_cap = absl::ZeroDuration();
  for (uint32_t n = 1; n <= 200; ++n) {
    const absl::Duration nominal = ExponentialDelay(base, cap, n);
    const absl::Duration delay = backoff.Next();
    EXPECT_GE(delay, nominal / 2) << n;
    EXPECT_LE(delay, nominal) << n;
    if (nominal == cap) {
      if (first_at_cap == absl::ZeroDuration()) {
        first_at_cap = delay;
      } else if (delay != first_at_cap) {
        varied = true;
      }
    }
  }
  EXPECT_TRUE(varied) << "200 draws at the cap were all equal: no jitter";
  EXPECT_EQ(backoff.attempts(), 200u);
}

TEST(BackoffTest, ResetStartsFromTheBaseAgain) {
  Backoff backoff(absl::Milliseconds(10), absl::Seconds(1));
  for (int i = 0; i < 8; ++i) backoff.Next();
  backoff.Reset();
  EXPECT_LE(backoff.Next(), absl::Milliseconds(10));
}

}  // namespace
}  // namespace report
