#include "tools/reportbench_stats.h"

#include <gtest/gtest.h>

#include <vector>

namespace report {
namespace bench {
namespace {

TEST(SummarizeTest, PercentilesUseTheAnchorIndexRule) {
  // 1..100 shuffled: index floor(q*n) of the sorted samples is the value q*n+1.
  std::vector<float> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(static_cast<float>(i));
  RunSummary s = Summarize(&samples, 3, 2.0);
  EXPECT_EQ(s.ops, 100u);
  EXPECT_EQ(s.errors, 3u);
  EXPECT_DOUBLE_EQ(s.p50_us, 51);
  EXPECT_DOUBLE_EQ(s.p90_us, 91);
  EXPECT_DOUBLE_EQ(s.p99_us, 100);
  EXPECT_DOUBLE_EQ(s.max_us, 100);
}

TEST(SummarizeTest, OneSampleIsEveryPercentile) {
  std::vector<float> samples = {42};
  RunSummary s = Summarize(&samples, 0, 1.0);
  EXPECT_DOUBLE_EQ(s.p50_us, 42);
  EXPECT_DOUBLE_EQ(s.p99_us, 42);
  EXPECT_DOUBLE_EQ(s.max_us, 42);
}

TEST(SummarizeTest, NoSamplesGivesZeroLatencies) {
  std::vector<float> samples;
  RunSummary s = Summarize(&samples, 7, 1.0);
  EXPECT_EQ(s.ops, 0u);
  EXPECT_EQ(s.errors, 7u);
  EXPECT_DOUBLE_EQ(s.p50_us, 0);
  EXPECT_DOUBLE_EQ(s.max_us, 0);
}

TEST(FormatSummaryLineTest, MatchesTheEtcdAnchorFieldByField) {
  RunSummary s;
  s.ops = 1503;
  s.errors = 2;
  s.seconds = 3.004;
  s.p50_us = 1835.4;
  s.p90_us = 2667;
  s.p99_us = 5519.6;
  s.max_us = 14615;
  EXPECT_EQ(FormatSummaryLine("reportbench mode=submit transport=grpc", 16, s),
            "reportbench mode=submit transport=grpc conc=16 ops=1503 errors=2 "
            "secs=3.00 ops/s=500 p50=1835us p90=2667us p99=5520us max=14615us");
}

TEST(FormatSummaryLineTest, ZeroSecondsGivesZeroRateNotInfinity) {
  RunSummary s;
  s.ops = 5;
  EXPECT_EQ(FormatSummaryLine("x", 1, s),
            "x conc=1 ops=5 errors=0 secs=0.00 ops/s=0 p50=0us p90=0us p99=0us "
            "max=0us");
}

TEST(ErrorTallyTest, CountsPerCodeAndKeepsTheFirstMessage) {
  ErrorTally tally;
  tally.Add("NoQuorum", "first");
  tally.Add("NoQuorum", "second");
  tally.Add("CommitUnknown", "late");
  EXPECT_EQ(tally.total(), 3u);
  EXPECT_EQ(tally.Format(),
            "CommitUnknown=1 (first: late), NoQuorum=2 (first: first)");
}

TEST(ErrorTallyTest, MergeAddsCountsAndKeepsExistingFirstMessage) {
  ErrorTally a, b;
  a.Add("StaleRead", "from a");
  b.Add("StaleRead", "from b");
  b.Add("UNAVAILABLE", "connect");
  a.Merge(b);
  EXPECT_EQ(a.total(), 3u);
  EXPECT_EQ(a.Format(),
            "StaleRead=2 (first: from a), UNAVAILABLE=1 (first: connect)");
}

TEST(ErrorTallyTest, EmptyFormatsAsEmpty) {
  EXPECT_EQ(ErrorTally().Format(), "");
}

}  // namespace
}  // namespace bench
}  // namespace report
