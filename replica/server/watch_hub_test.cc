#include "replica/server/watch_hub.h"

#include <thread>
#include <vector>

#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

std::vector<AppliedCommand> Changes(uint64_t first, uint64_t last) {
  std::vector<AppliedCommand> applied;
  for (uint64_t index = first; index <= last; ++index) {
    AppliedCommand& command = applied.emplace_back();
    command.index = index;
    command.result.mutable_record()->set_request_id("r" +
                                                    std::to_string(index));
  }
  return applied;
}

TEST(WatchHubTest, WaitAppliedAnswersAtOnceWhenReachedAndAtTheDeadlineElse) {
  WatchHub hub(/*applied=*/5);
  EXPECT_EQ(hub.WaitApplied(5, absl::InfiniteFuture()), 5u);
  const absl::Time start = absl::Now();
  EXPECT_EQ(hub.WaitApplied(6, absl::Now() + absl::Milliseconds(50)), 5u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
}

TEST(WatchHubTest, APublishWakesAWaiter) {
  WatchHub hub(0);
  std::thread publisher([&] { hub.Publish(Changes(1, 3), 3); });
  EXPECT_EQ(hub.WaitApplied(3, absl::Now() + absl::Seconds(10)), 3u);
  publisher.join();
}

TEST(WatchHubTest, FollowSendsEveryChangeAfterItsStartInOrder) {
  WatchHub hub(0);
  hub.Publish(Changes(1, 4), 4);
  // Index 5 is a barrier: no change, but the applied index covers it.
  hub.Publish({}, 5);
  hub.Publish(Changes(6, 6), 6);
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> applied_at;
  absl::Status status = hub.Follow(
      2,
      [&](const WatchEvent& event) {
        offsets.push_back(event.offset());
        applied_at.push_back(event.applied_offset());
        return offsets.size() < 3;
      },
      [] { return false; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(offsets, (std::vector<uint64_t>{3, 4, 6}));
  EXPECT_EQ(applied_at, (std::vector<uint64_t>{6, 6, 6}));
}

TEST(WatchHubTest, AWatcherBehindTheRingIsToldToRestart) {
  WatchHub hub(0, /*ring_size=*/4);
  hub.Publish(Changes(1, 10), 10);
  absl::Status status = hub.Follow(
      2, [](const WatchEvent&) { return true; }, [] { return false; });
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  // From inside the ring it is served.
  std::vector<uint64_t> offsets;
  status = hub.Follow(
      6,
      [&](const WatchEvent& event) {
        offsets.push_back(event.offset());
        return event.offset() < 10;
      },
      [] { return false; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(offsets, (std::vector<uint64_t>{7, 8, 9, 10}));
}

TEST(WatchHubTest, StopEndsFollowersAndWaiters) {
  WatchHub hub(0);
  absl::Status followed;
  std::thread follower([&] {
    followed = hub.Follow(
        0, [](const WatchEvent&) { return true; }, [] { return false; },
        absl::Seconds(30));
  });
  std::thread waiter([&] {
    EXPECT_EQ(hub.WaitApplied(100, absl::Now() + absl::Seconds(30)), 0u);
  });
  const absl::Time start = absl::Now();
  hub.Stop();
  follower.join();
  waiter.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(ErrorCodeOf(followed), ErrorCode::kNoQuorum) << followed;
}

TEST(WatchHubTest, ACancelledFollowerReturnsWhileNothingIsApplied) {
  WatchHub hub(0);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] { cancel = true; });
  absl::Status status = hub.Follow(
      0, [](const WatchEvent&) { return true; }, [&] { return cancel.load(); },
      absl::Milliseconds(5));
  canceller.join();
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace report
