#include "tools/reportbench_stats.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace report {
namespace bench {

RunSummary Summarize(std::vector<float>* latencies_us, uint64_t errors,
                     double seconds) {
  RunSummary summary;
  summary.ops = latencies_us->size();
  summary.errors = errors;
  summary.seconds = seconds;
  if (latencies_us->empty()) return summary;
  std::sort(latencies_us->begin(), latencies_us->end());
  const size_t n = latencies_us->size();
  auto at = [&](double q) {
    return (*latencies_us)[std::min(n - 1, static_cast<size_t>(q * n))];
  };
  summary.p50_us = at(0.50);
  summary.p90_us = at(0.90);
  summary.p99_us = at(0.99);
  summary.max_us = latencies_us->back();
  return summary;
}

std::string FormatSummaryLine(absl::string_view label, int concurrency,
                              const RunSummary& summary) {
  const double rate = summary.seconds > 0
                          ? static_cast<double>(summary.ops) / summary.seconds
                          : 0.0;
  char fields[320];
  std::snprintf(fields, sizeof fields,
                " conc=%d ops=%llu errors=%llu secs=%.2f ops/s=%.0f p50=%.0fus "
                "p90=%.0fus p99=%.0fus max=%.0fus",
                concurrency, static_cast<unsigned long long>(summary.ops),
                static_cast<unsigned long long>(summary.errors),
                summary.seconds, rate, summary.p50_us, summary.p90_us,
                summary.p99_us, summary.max_us);
  return absl::StrCat(label, fields);
}

void ErrorTally::Add(absl::string_view code, absl::string_view message) {
  Entry& entry = by_code_[std::string(code)];
  if (entry.count == 0) entry.first_message = std::string(message);
  ++entry.count;
  ++total_;
}

void ErrorTally::Merge(const ErrorTally& other) {
  for (const auto& [code, theirs] : other.by_code_) {
    Entry& mine = by_code_[code];
    if (mine.count == 0) mine.first_message = theirs.first_message;
    mine.count += theirs.count;
  }
  total_ += other.total_;
}

std::string ErrorTally::Format() const {
  std::string out;
  for (const auto& [code, entry] : by_code_) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", code, "=", entry.count,
                    " (first: ", entry.first_message, ")");
  }
  return out;
}

}  // namespace bench
}  // namespace report
