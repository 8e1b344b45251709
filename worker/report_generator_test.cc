#include "worker/report_generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "absl/strings/match.h"

namespace report {
namespace {

ReportInput Input(const std::string& month = "2024-02") {
  return ReportInput{"req-1", "acct-42", month, "file-sink:req-1"};
}

std::string Generate(const ReportInput& input, const EffectStamp& stamp) {
  absl::StatusOr<std::string> report = GenerateReport(
      input, stamp, std::chrono::milliseconds(0), [] { return false; });
  EXPECT_TRUE(report.ok()) << report.status();
  return report.value_or("");
}

std::string ReportSection(const std::string& document) {
  size_t effect = document.find("\"effect\":");
  EXPECT_NE(effect, std::string::npos);
  return document.substr(0, effect);
}

TEST(SplitMix64Test, KnownSequenceForSeedZero) {
  // Reference values of SplitMix64 with seed 0 (as published with the
  // algorithm).
  SplitMix64 rng(0);
  EXPECT_EQ(rng.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.Next(), 0x6e789e6aa1b965f4ULL);
}

TEST(SplitMix64Test, BetweenStaysInRange) {
  SplitMix64 rng(7);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    int64_t v = rng.Between(3, 6);
    ASSERT_GE(v, 3);
    ASSERT_LE(v, 6);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(ReportGeneratorTest, DaysInMonthKnowsLeapYears) {
  EXPECT_EQ(*DaysInMonth("2024-02"), 29);
  EXPECT_EQ(*DaysInMonth("2023-02"), 28);
  EXPECT_EQ(*DaysInMonth("1900-02"), 28);
  EXPECT_EQ(*DaysInMonth("2000-02"), 29);
  EXPECT_EQ(*DaysInMonth("2024-04"), 30);
  EXPECT_FALSE(DaysInMonth("2024-13").ok());
  EXPECT_FALSE(DaysInMonth("2024-1").ok());
  EXPECT_FALSE(DaysInMonth("20x4-01").ok());
  EXPECT_FALSE(DaysInMonth("").ok());
}

TEST(ReportGeneratorTest, SameRequestGivesByteIdenticalReport) {
  EffectStamp stamp{17, "worker-a", "gcp/us-central1/us-central1-a"};
  EXPECT_EQ(Generate(Input(), stamp), Generate(Input(), stamp));
}

TEST(ReportGeneratorTest, OnlyTheEffectSectionDependsOnWhoProducedIt) {
  std::string a =
      Generate(Input(), {17, "worker-a", "gcp/us-central1/us-central1-a"});
  std::string b =
      Generate(Input(), {23, "worker-b", "gcp/us-central1/us-central1-b"});
  EXPECT_NE(a, b);
  EXPECT_EQ(ReportSection(a), ReportSection(b));
  EXPECT_TRUE(absl::StrContains(a, "\"fencing_token\": 17"));
  EXPECT_TRUE(absl::StrContains(b, "\"worker_id\": \"worker-b\""));
}

TEST(ReportGeneratorTest, DifferentMonthOrAccountGivesDifferentLedger) {
  EffectStamp stamp{1, "w", "d/r/z"};
  std::string feb = ReportSection(Generate(Input("2024-02"), stamp));
  std::string mar = ReportSection(Generate(Input("2024-03"), stamp));
  EXPECT_NE(feb, mar);
  auto ledger_a = SyntheticLedger("acct-1", "2024-02");
  auto ledger_b = SyntheticLedger("acct-2", "2024-02");
  ASSERT_TRUE(ledger_a.ok());
  ASSERT_TRUE(ledger_b.ok());
  EXPECT_NE(Summarise(*ledger_a).total_debits_cents,
            Summarise(*ledger_b).total_debits_cents);
}

TEST(ReportGeneratorTest, SummaryIsConsistentWithTheLedger) {
  absl::StatusOr<std::vector<Transaction>> ledger =
      SyntheticLedger("acct-42", "2024-02");
  ASSERT_TRUE(ledger.ok());
  ASSERT_GE(ledger->size(), 2000u);
  ASSERT_LE(ledger->size(), 5000u);
  LedgerSummary summary = Summarise(*ledger);
  EXPECT_EQ(summary.transaction_count, static_cast<int64_t>(ledger->size()));
  EXPECT_EQ(summary.credit_count + summary.debit_count,
            summary.transaction_count);
  EXPECT_EQ(summary.net_cents,
            summary.total_credits_cents - summary.total_debits_cents);

  int64_t count = 0, credits = 0, debits = 0;
  const std::vector<LedgerCategory>& categories = LedgerCategories();
  ASSERT_EQ(summary.by_category.size(), categories.size());
  for (size_t i = 0; i < categories.size(); ++i) {
    count += summary.by_category[i].count;
    (categories[i].direction == Direction::kCredit ? credits : debits) +=
        summary.by_category[i].total_cents;
  }
  EXPECT_EQ(count, summary.transaction_count);
  EXPECT_EQ(credits, summary.total_credits_cents);
  EXPECT_EQ(debits, summary.total_debits_cents);

  int previous_day = 0;
  for (const Transaction& t : *ledger) {
    ASSERT_GE(t.day, 1);
    ASSERT_LE(t.day, 29);
    ASSERT_GE(t.day, previous_day);  // ordered by day
    ASSERT_GT(t.amount_cents, 0);
    previous_day = t.day;
  }
  EXPECT_EQ(summary.first_day, ledger->front().day);
  EXPECT_EQ(summary.last_day, ledger->back().day);

  ASSERT_EQ(summary.largest.size(), 10u);
  for (size_t i = 1; i < summary.largest.size(); ++i) {
    EXPECT_GE(summary.largest[i - 1].amount_cents,
              summary.largest[i].amount_cents);
  }
  for (const Transaction& t : *ledger) {
    EXPECT_LE(t.amount_cents, summary.largest[0].amount_cents);
  }
}

TEST(ReportGeneratorTest, ReportNamesTheRequestAndEffect) {
  std::string report =
      Generate(Input(), {5, "worker-a", "gcp/us-central1/us-central1-a"});
  for (const char* needle :
       {"\"request_id\": \"req-1\"", "\"account_id\": \"acct-42\"",
        "\"month\": \"2024-02\"", "\"effect_key\": \"file-sink:req-1\"",
        "\"start\": \"2024-02-01\"", "\"end\": \"2024-02-29\"",
        "\"by_category\"", "\"largest\"", "\"net_cents\""}) {
    EXPECT_TRUE(absl::StrContains(report, needle)) << needle;
  }
  EXPECT_EQ(report.back(), '\n');
}

TEST(ReportGeneratorTest, EscapesStringsInJson) {
  ReportInput input = Input();
  input.account_id = "a\"b\\c";
  std::string report = Generate(input, {1, "w", "d/r/z"});
  EXPECT_TRUE(absl::StrContains(report, "\"account_id\": \"a\\\"b\\\\c\""));
}

TEST(ReportGeneratorTest, CancellationStopsLongWork) {
  std::atomic<int> polls{0};
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> report =
      GenerateReport(Input(), {1, "w", "d/r/z"}, std::chrono::seconds(60),
                     [&] { return ++polls > 3; });
  EXPECT_TRUE(absl::IsCancelled(report.status())) << report.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(ReportGeneratorTest, BadMonthIsInvalidArgument) {
  absl::StatusOr<std::string> report =
      GenerateReport(Input("2024-00"), {1, "w", "d/r/z"},
                     std::chrono::milliseconds(0), [] { return false; });
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace report
