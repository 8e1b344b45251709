// What reportbench measures and how it prints it: latency percentiles over the
// samples of one run, the one summary line per run (the shape of the etcd
// baseline's lines, docs/PERFORMANCE.md, so both can be parsed and compared by
// the same script), and a tally of errors by code.
#ifndef REPORT_TOOLS_REPORTBENCH_STATS_H_
#define REPORT_TOOLS_REPORTBENCH_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace report {
namespace bench {

// Totals of one measured run. ops counts successful operations only; failed
// ones are in errors and contribute no latency sample.
struct RunSummary {
  uint64_t ops = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Percentiles of `latencies_us` (sorted in place) taken as the sample at index
// min(n-1, floor(q*n)), the same rule as the etcd anchor client, so the two are
// compared like for like. No samples: all percentiles are 0.
RunSummary Summarize(std::vector<float>* latencies_us, uint64_t errors,
                     double seconds);

// "<label> conc=C ops=N errors=E secs=S ops/s=X p50=Yus p90=..us p99=Zus
// max=..us", field by field as anchors::PrintSummary prints it (no trailing
// newline). ops/s is 0 when seconds is not positive.
std::string FormatSummaryLine(absl::string_view label, int concurrency,
                              const RunSummary& summary);

// Errors of a run, counted per error code (docs/API.md names, or a
// transport-level name), keeping the first message seen for each code so the
// cause is visible, not just a count.
class ErrorTally {
 public:
  void Add(absl::string_view code, absl::string_view message);
  void Merge(const ErrorTally& other);
  uint64_t total() const { return total_; }
  // "NoQuorum=3 (first: ...), StaleRead=1 (first: ...)" in code order; "" when
  // empty.
  std::string Format() const;

 private:
  struct Entry {
    uint64_t count = 0;
    std::string first_message;
  };
  std::map<std::string, Entry> by_code_;
  uint64_t total_ = 0;
};

}  // namespace bench
}  // namespace report

#endif  // REPORT_TOOLS_REPORTBENCH_STATS_H_
