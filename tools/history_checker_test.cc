#include "tools/history_checker.h"

#include "gtest/gtest.h"

namespace report::history {
namespace {

RequestRecord Record(const std::string& id, uint64_t offset,
                     const std::string& fingerprint,
                     RequestState state = ACCEPTED) {
  RequestRecord record;
  record.set_request_id(id);
  record.set_accepted_offset(offset);
  record.set_fingerprint(fingerprint);
  record.set_state(state);
  return record;
}

// A history every check accepts: two receipts, fresh reads, one completed
// effect.
struct GoodRun {
  History history;
  FinalState final_state;
  GoodRun() {
    history.AddReceipt({"c1", "a", 3, "fa"});
    history.AddReceipt({"c2", "b", 4, "fb"});
    history.AddReceipt({"c2", "b", 4, "fb", /*duplicate=*/true});
    history.AddRead({"c1", "a", 3, 3, true, ACCEPTED, 3});
    history.AddRead({"c1", "a", 3, 5, true, COMPLETED, 3});
    history.AddRead({"c2", "b", 4, 4, true, ACCEPTED, 4});
    history.AddUnknownOutcome({"c1", "u", "fu", "CommitUnknown"});
    history.AddCancel({"c2", "x", CANCELLED, 0});
    history.AddCancel({"c1", "a", RUNNING, 1});  // then completed: allowed
    final_state.records["a"] = Record("a", 3, "fa", COMPLETED);
    final_state.records["b"] = Record("b", 4, "fb");
    final_state.records["u"] = Record("u", 6, "fu");
    final_state.records["x"] = Record("x", 7, "fx", CANCELLED);
    final_state.effect_request_ids = {"a"};
  }
};

TEST(HistoryCheckerTest, AConsistentHistoryPassesEveryCheck) {
  GoodRun run;
  EXPECT_TRUE(CheckHistory(run.history, run.final_state).empty())
      << Describe(CheckHistory(run.history, run.final_state));
}

TEST(HistoryCheckerTest, DurabilityCatchesALostReceipt) {
  GoodRun run;
  run.final_state.records.erase("b");
  auto violations = CheckDurability(run.history, run.final_state);
  ASSERT_EQ(violations.size(), 2u)
      << Describe(violations);  // the receipt and its replay
  EXPECT_NE(violations[0].detail.find("b at offset 4"), std::string::npos);
}

TEST(HistoryCheckerTest, DurabilityCatchesAMovedOffset) {
  GoodRun run;
  run.final_state.records["a"] = Record("a", 7, "fa");
  auto violations = CheckDurability(run.history, run.final_state);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("now at offset 7"), std::string::npos);
}

TEST(HistoryCheckerTest, DurabilityCatchesAChangedPayload) {
  GoodRun run;
  run.final_state.records["a"] = Record("a", 3, "other");
  EXPECT_EQ(CheckDurability(run.history, run.final_state).size(), 1u);
}

TEST(HistoryCheckerTest, UniquenessCatchesTwoRequestsAtOneOffset) {
  GoodRun run;
  run.history.AddReceipt({"c3", "c", 3, "fc"});
  auto violations = CheckUniqueness(run.history, run.final_state);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("offset 3 holds both"),
            std::string::npos);
}

TEST(HistoryCheckerTest, UniquenessCatchesOneRequestAtTwoOffsets) {
  GoodRun run;
  run.history.AddReceipt({"c3", "a", 9, "fa", /*duplicate=*/true});
  auto violations = CheckUniqueness(run.history, run.final_state);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("a is at two offsets"),
            std::string::npos);
}

TEST(HistoryCheckerTest, MonotonicReadsCatchesServedOffsetGoingBackwards) {
  GoodRun run;
  run.history.AddRead(
      {"c1", "a", 3, 4, true, ACCEPTED, 3});  // after a read served at 5
  auto violations = CheckMonotonicReads(run.history);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("from offset 5 and later from offset 4"),
            std::string::npos);
}

TEST(HistoryCheckerTest, MonotonicReadsCatchesAReadBelowItsMinOffset) {
  History history;
  history.AddRead({"c1", "a", 10, 9, false});
  auto violations = CheckMonotonicReads(history);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("min_offset 10"), std::string::npos);
}

TEST(HistoryCheckerTest, MonotonicReadsCatchesAReceiptMissingFromAFreshRead) {
  GoodRun run;
  run.history.AddRead({"c2", "a", 3, 6, /*found=*/false});
  auto violations = CheckMonotonicReads(run.history);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("NotFound"), std::string::npos);
}

TEST(HistoryCheckerTest, EffectsCatchesADuplicateEffect) {
  GoodRun run;
  run.final_state.effect_request_ids.push_back("a");
  auto violations = CheckEffects(run.final_state);
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_NE(violations[0].detail.find("2 effect files"), std::string::npos);
}

TEST(HistoryCheckerTest, EffectsCatchesACompletedRequestWithoutItsEffect) {
  GoodRun run;
  run.final_state.effect_request_ids.clear();
  EXPECT_EQ(CheckEffects(run.final_state).size(), 1u);
}

TEST(HistoryCheckerTest, EffectsCatchesAnEffectOfARequestNeverAccepted) {
  GoodRun run;
  run.final_state.effect_request_ids.push_back("ghost");
  EXPECT_EQ(CheckEffects(run.final_state).size(), 1u);
}

TEST(HistoryCheckerTest, UnknownOutcomeMayBeAbsentButNeverAnotherPayload) {
  GoodRun run;
  run.final_state.records.erase("u");
  EXPECT_TRUE(CheckUnknownOutcomes(run.history, run.final_state).empty());
  run.final_state.records["u"] = Record("u", 6, "someone-else");
  EXPECT_EQ(CheckUnknownOutcomes(run.history, run.final_state).size(), 1u);
}

TEST(HistoryCheckerTest,
     ACancelAnsweredBeforeAnyWorkMustEndCancelledAndEffectFree) {
  GoodRun run;
  run.final_state.records["x"] = Record("x", 7, "fx", COMPLETED);
  run.final_state.effect_request_ids.push_back("x");
  std::vector<Violation> violations =
      CheckCancels(run.history, run.final_state);
  ASSERT_EQ(violations.size(), 2u) << Describe(violations);
  EXPECT_EQ(violations[0].check, "cancels");
  run.final_state.records.erase("x");
  EXPECT_EQ(CheckCancels(run.history, run.final_state).size(), 1u);
}

}  // namespace
}  // namespace report::history
