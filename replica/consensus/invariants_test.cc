#include "replica/consensus/invariants.h"

#include <gtest/gtest.h>

namespace report::consensus {
namespace {

Entry E(uint64_t index, uint64_t epoch, std::string data) {
  Entry e;
  e.set_index(index);
  e.set_epoch(epoch);
  e.set_data(std::move(data));
  return e;
}

TEST(InvariantCheckerTest, TwoLeadersInOneEpochViolateElectionSafety) {
  InvariantChecker c;
  c.ObserveLeader(1, 3);
  c.ObserveLeader(1, 3);
  EXPECT_TRUE(c.ok());
  c.ObserveLeader(2, 3);
  EXPECT_FALSE(c.ok());
}

TEST(InvariantCheckerTest,
     SameIndexAndEpochWithDifferentPayloadViolatesLogMatching) {
  InvariantChecker c;
  c.ObserveAppend(1, E(2, 1, "a"), 1);
  c.ObserveAppend(2, E(2, 1, "a"), 1);
  EXPECT_TRUE(c.ok());
  c.ObserveAppend(3, E(2, 1, "b"), 1);
  EXPECT_FALSE(c.ok());
}

TEST(InvariantCheckerTest,
     DifferentEntriesAppliedAtOneIndexViolateStateMachineSafety) {
  InvariantChecker c;
  c.ObserveApply(1, 0, E(1, 1, "a"));
  c.ObserveApply(2, 0, E(1, 1, "a"));
  EXPECT_TRUE(c.ok());
  c.ObserveApply(3, 0, E(1, 2, "b"));
  EXPECT_FALSE(c.ok());
}

TEST(InvariantCheckerTest, ApplyingOutOfOrderIsAViolation) {
  InvariantChecker c;
  c.ObserveApply(1, 0, E(2, 1, "a"));
  EXPECT_FALSE(c.ok());
}

TEST(InvariantCheckerTest,
     CommitIndexMovingBackWithinAnIncarnationIsAViolation) {
  InvariantChecker c;
  c.ObserveCommitIndex(1, 1, 5);
  c.ObserveCommitIndex(1, 2, 3);  // restarted: allowed
  EXPECT_TRUE(c.ok());
  c.ObserveCommitIndex(1, 2, 2);
  EXPECT_FALSE(c.ok());
}

TEST(InvariantCheckerTest,
     LeaderLackingACommittedEntryViolatesLeaderCompleteness) {
  InvariantChecker c;
  c.ObserveApply(1, 0, E(1, 1, "a"));
  c.ObserveLeaderLog(2, 2, 1, [](uint64_t) { return 1; });
  EXPECT_TRUE(c.ok());
  c.ObserveLeaderLog(3, 3, 1, [](uint64_t) { return 2; });
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace report::consensus
