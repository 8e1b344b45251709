#include "replica/server/proposal_tracker.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/error_code.h"

namespace report {
namespace {

absl::Status NotLeader() { return MakeNotLeader(2, "127.0.0.1:1"); }

AppliedCommand AppliedAt(uint64_t index, uint64_t epoch) {
  AppliedCommand command;
  command.index = index;
  command.epoch = epoch;
  return command;
}

TEST(ProposalTrackerTest, OwnEntryAppliedAnswersTheProposal) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto proposal = tracker.Track(7, 3, &superseded);
  tracker.SetInFlight(proposal, "r1", "fp");
  EXPECT_EQ(tracker.InFlight("r1"), proposal);
  absl::Status status;
  auto taken = tracker.TakeApplied(7, 3, NotLeader(), &status);
  ASSERT_EQ(taken, proposal);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(tracker.InFlight("r1"), nullptr);
  AppliedCommand applied = AppliedAt(7, 3);
  FinishProposal(*taken, status, &applied);
  auto result = AwaitProposal(*proposal, absl::InfinitePast());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->index, 7u);
}

TEST(ProposalTrackerTest, AnotherLeadersEntryAtTheIndexAnswersNotLeader) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto proposal = tracker.Track(7, 3, &superseded);
  absl::Status status;
  ASSERT_EQ(tracker.TakeApplied(7, 4, NotLeader(), &status), proposal);
  EXPECT_EQ(ErrorCodeOf(status), ErrorCodeOf(NotLeader()));
}

// A leader whose uncommitted tail another leader truncated, re-elected before
// it applied those indices, proposes again at one of them. The entry it had
// there is gone from its log, so the old proposal can never be applied: it is
// answered CommitUnknown and leaves the in-flight map, so a retry of its
// request id proposes anew instead of joining a dead entry forever.
TEST(ProposalTrackerTest, AReusedIndexAnswersTheOldProposalAndFreesItsId) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto old = tracker.Track(12, 1, &superseded);
  tracker.SetInFlight(old, "r1", "fp");
  ASSERT_TRUE(superseded.empty());

  auto reused = tracker.Track(12, 3, &superseded);  // epoch 3, same index
  ASSERT_EQ(superseded.size(), 1u);
  EXPECT_EQ(superseded[0].first, old);
  EXPECT_EQ(ErrorCodeOf(superseded[0].second), ErrorCode::kCommitUnknown);
  EXPECT_EQ(tracker.InFlight("r1"), nullptr);
  FinishProposal(*old, superseded[0].second);
  EXPECT_EQ(ErrorCodeOf(AwaitProposal(*old, absl::InfinitePast()).status()),
            ErrorCode::kCommitUnknown);

  // The retry proposes again and is the one in flight now.
  auto retry = tracker.Track(13, 3, &superseded);
  tracker.SetInFlight(retry, "r1", "fp");
  EXPECT_EQ(tracker.InFlight("r1"), retry);
  absl::Status status;
  EXPECT_EQ(tracker.TakeApplied(12, 3, NotLeader(), &status), reused);
  EXPECT_EQ(tracker.TakeApplied(13, 3, NotLeader(), &status), retry);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(ProposalTrackerTest, ASecondPayloadForAnIdInFlightDoesNotReplaceIt) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto first = tracker.Track(5, 1, &superseded);
  tracker.SetInFlight(first, "r1", "fp-a");
  auto second = tracker.Track(6, 1, &superseded);
  tracker.SetInFlight(second, "r1", "fp-b");
  EXPECT_EQ(tracker.InFlight("r1"), first);
  absl::Status status;
  tracker.TakeApplied(6, 1, NotLeader(), &status);
  EXPECT_EQ(tracker.InFlight("r1"), first);
}

TEST(ProposalTrackerTest, FinishingWakesEveryBatchWaitingOnTheProposal) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto proposal = tracker.Track(1, 1, &superseded);
  auto batch = std::make_shared<BatchWait>();
  ASSERT_TRUE(AddBatchWait(*proposal, batch));
  batch->Arm();
  std::thread finisher([&] {
    AppliedCommand applied = AppliedAt(1, 1);
    FinishProposal(*proposal, absl::OkStatus(), &applied);
  });
  {
    std::unique_lock<std::mutex> lock(batch->mu);
    EXPECT_TRUE(batch->cv.wait_for(lock, std::chrono::seconds(30),
                                   [&] { return batch->remaining == 0; }));
  }
  finisher.join();
  EXPECT_FALSE(AddBatchWait(*proposal, batch)) << "already finished";
}

TEST(ProposalTrackerTest, ABatchCompletesOnceAfterItsLastProposal) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto first = tracker.Track(1, 1, &superseded);
  auto second = tracker.Track(2, 1, &superseded);
  auto batch = std::make_shared<BatchWait>();
  int calls = 0;
  batch->on_done = [&] { ++calls; };
  ASSERT_TRUE(AddBatchWait(*first, batch));
  ASSERT_TRUE(AddBatchWait(*second, batch));
  // Finished before Arm(): nothing runs yet, the batch is still being built.
  AppliedCommand applied = AppliedAt(1, 1);
  FinishProposal(*first, absl::OkStatus(), &applied);
  batch->Arm();
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(batch->finished());
  applied = AppliedAt(2, 1);
  FinishProposal(*second, absl::OkStatus(), &applied);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(batch->finished());
  // A batch with nothing to wait for completes in Arm().
  auto empty = std::make_shared<BatchWait>();
  empty->on_done = [&] { ++calls; };
  empty->Arm();
  EXPECT_EQ(calls, 2);
}

// A submit that leaves the in-flight map (applied, replaced, shut down) moves
// the generation, so a caller that read the state machine before that knows
// to read it again before appending the request a second time.
TEST(ProposalTrackerTest, ASubmitLeavingTheInFlightMapMovesTheGeneration) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto effect = tracker.Track(5, 1, &superseded);  // not a submit
  auto submit = tracker.Track(6, 1, &superseded);
  tracker.SetInFlight(submit, "r1", "fp");
  const uint64_t before = tracker.in_flight_generation();
  absl::Status status;
  ASSERT_EQ(tracker.TakeApplied(5, 1, NotLeader(), &status), effect);
  EXPECT_EQ(tracker.in_flight_generation(), before);
  ASSERT_EQ(tracker.TakeApplied(6, 1, NotLeader(), &status), submit);
  EXPECT_GT(tracker.in_flight_generation(), before);

  auto again = tracker.Track(7, 1, &superseded);
  tracker.SetInFlight(again, "r2", "fp");
  const uint64_t before_shutdown = tracker.in_flight_generation();
  tracker.TakeAll();
  EXPECT_GT(tracker.in_flight_generation(), before_shutdown);
}

TEST(ProposalTrackerTest, ShutdownTakesEverything) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  tracker.SetInFlight(tracker.Track(1, 1, &superseded), "a", "fp");
  tracker.Track(2, 1, &superseded);
  EXPECT_EQ(tracker.TakeAll().size(), 2u);
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_EQ(tracker.InFlight("a"), nullptr);
}

TEST(ProposalTrackerTest, AwaitingPastTheDeadlineIsCommitUnknown) {
  ProposalTracker tracker;
  std::vector<ProposalTracker::Finished> superseded;
  auto proposal = tracker.Track(1, 1, &superseded);
  EXPECT_EQ(
      ErrorCodeOf(AwaitProposal(*proposal, absl::InfinitePast()).status()),
      ErrorCode::kCommitUnknown);
}

}  // namespace
}  // namespace report
