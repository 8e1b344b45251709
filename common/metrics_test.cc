#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace report::metrics {
namespace {

TEST(MetricsTest, FamiliesPrintHelpAndTypeBeforeTheirFirstSample) {
  Registry registry;
  registry.AddCounter("report_things_total", "Things done.", {"kind"});
  registry.AddGauge("report_level", "A level.");
  registry.AddHistogram("report_wait_seconds", "Waits.", {}, {0.1, 1});
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP report_things_total Things done.\n"
            "# TYPE report_things_total counter\n"
            "# HELP report_level A level.\n"
            "# TYPE report_level gauge\n"
            "# HELP report_wait_seconds Waits.\n"
            "# TYPE report_wait_seconds histogram\n");
}

TEST(MetricsTest, CountersAndGaugesRenderOneLinePerLabelSet) {
  Registry registry;
  Family<Counter>* things =
      registry.AddCounter("report_things_total", "Things.", {"kind", "code"});
  things->With({"a", "Ok"})->Increment();
  things->With({"a", "Ok"})->Increment(2);
  things->With({"b", "say \"hi\"\\\n"})->Increment();
  Gauge* level = registry.AddGauge("report_level", "Level.")->Get();
  level->Set(2.5);
  level->Add(-1);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP report_things_total Things.\n"
            "# TYPE report_things_total counter\n"
            "report_things_total{kind=\"a\",code=\"Ok\"} 3\n"
            "report_things_total{kind=\"b\",code=\"say \\\"hi\\\"\\\\\\n\"} 1\n"
            "# HELP report_level Level.\n"
            "# TYPE report_level gauge\n"
            "report_level 1.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInclusiveUpperBounds) {
  Registry registry;
  Histogram* wait =
      registry
          .AddHistogram("report_wait_seconds", "Waits.", {"route"}, {0.1, 1})
          ->With({"submit"});
  wait->Observe(0.1);   // le=0.1
  wait->Observe(0.5);   // le=1
  wait->Observe(30.0);  // +Inf only
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP report_wait_seconds Waits.\n"
            "# TYPE report_wait_seconds histogram\n"
            "report_wait_seconds_bucket{route=\"submit\",le=\"0.1\"} 1\n"
            "report_wait_seconds_bucket{route=\"submit\",le=\"1\"} 2\n"
            "report_wait_seconds_bucket{route=\"submit\",le=\"+Inf\"} 3\n"
            "report_wait_seconds_sum{route=\"submit\"} 30.6\n"
            "report_wait_seconds_count{route=\"submit\"} 3\n");
}

TEST(MetricsTest, DeclaringAFamilyAgainReturnsTheSameOne) {
  Registry registry;
  auto* first = registry.AddCounter("report_x_total", "X.", {"a"});
  auto* second = registry.AddCounter("report_x_total", "X.", {"a"});
  EXPECT_EQ(first, second);
  EXPECT_EQ(first->With({"v"}), second->With({"v"}));
}

TEST(MetricsTest, DeclaringANameAgainDifferentlyIsAProgrammingError) {
  Registry registry;
  registry.AddCounter("report_x_total", "X.", {"a"});
  EXPECT_DEATH(registry.AddGauge("report_x_total", "X."), "declared twice");
  EXPECT_DEATH(registry.AddCounter("report_x", "X."), "_total");
  EXPECT_DEATH(registry.AddGauge("report-x", "X."), "bad metric name");
  EXPECT_DEATH(registry.AddHistogram("report_h", "H.", {"le"}, {1}),
               "bad label name");
}

TEST(MetricsTest, CallbackFamiliesAreReadAtScrapeTime) {
  Registry registry;
  double value = 1;
  registry.AddCallbackGauge("report_role", "Role.", {"role"}, [&value] {
    return std::vector<Sample>{{{"leader"}, value}, {{"follower"}, 0}};
  });
  registry.AddCallbackCounter("report_done_total", "Done.", {}, [] {
    return std::vector<Sample>{{{}, 7}};
  });
  value = 0.25;
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP report_role Role.\n"
            "# TYPE report_role gauge\n"
            "report_role{role=\"leader\"} 0.25\n"
            "report_role{role=\"follower\"} 0\n"
            "# HELP report_done_total Done.\n"
            "# TYPE report_done_total counter\n"
            "report_done_total 7\n");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  Counter* counter = registry.AddCounter("report_n_total", "N.")->Get();
  Gauge* gauge = registry.AddGauge("report_g", "G.")->Get();
  Histogram* histogram =
      registry.AddHistogram("report_h_seconds", "H.", {}, {1})->Get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->Increment();
        gauge->Add(1);
        histogram->Observe(0.5);
        if (i % 1000 == 0) registry.RenderPrometheus();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter->value(), 40000u);
  EXPECT_EQ(gauge->value(), 40000);
  EXPECT_EQ(histogram->CumulativeCounts().back(), 40000u);
  EXPECT_EQ(histogram->sum(), 20000);
}

TEST(MetricsTest, ProcessMetricsDescribeThisProcess) {
  Registry registry;
  AddProcessMetrics(&registry);
  const std::string text = registry.RenderPrometheus();
  for (const char* family :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ", "process_open_fds ",
        "process_max_fds ", "process_start_time_seconds "}) {
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat("\n", family)))
        << family << " missing in\n"
        << text;
  }
  EXPECT_FALSE(absl::StrContains(text, "process_resident_memory_bytes 0\n"));
  EXPECT_FALSE(absl::StrContains(text, "process_start_time_seconds 0\n"));
}

}  // namespace
}  // namespace report::metrics
