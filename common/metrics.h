// One process's metrics: counters, gauges and histograms with labels, kept in a
// Registry and rendered in the Prometheus text exposition format (version
// 0.0.4, no exemplars) by GET /metrics on every process (docs/OPERATIONS.md).
//
// A family is declared once, with its help text and label names; every family
// is rendered with its # HELP and # TYPE lines even before its first sample.
// Updating a metric is a relaxed atomic operation on an object whose pointer
// the caller keeps (Family::With resolves a label set once, under a lock; the
// returned pointer is stable for the registry's lifetime), so the hot path
// neither locks nor allocates. Values that another object already keeps (a
// replica's commit index, a worker's counts) are read at scrape time by a
// callback family instead of being copied on every change.
//
// Thread-safe throughout.
#ifndef REPORT_COMMON_METRICS_H_
#define REPORT_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace report::metrics {

// Label values, one per label name of the family, in the same order.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Increment(uint64_t n = 1) {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  void ObserveDuration(absl::Duration duration) {
    Observe(absl::ToDoubleSeconds(duration));
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf (= the count).
  std::vector<uint64_t> CumulativeCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  // One per bound plus +Inf; not cumulative.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Bucket bounds (seconds) for request latencies, 0.5 ms to 10 s.
std::vector<double> LatencyBuckets();
// Bucket bounds (seconds) for disk syncs, 50 us to 5 s.
std::vector<double> FsyncBuckets();

// The metrics of one family, one per label set.
template <typename Metric>
class Family {
 public:
  // The metric for `values` (one per label name), created at first use. CHECK
  // fails on a wrong number of values: that is a programming error.
  Metric* With(const LabelValues& values);
  // The family's only metric when it has no labels.
  Metric* Get() { return With({}); }

  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class Registry;
  template <typename... Args>
  Family(std::vector<std::string> label_names, Args... metric_args);

  const std::vector<std::string> label_names_;
  std::function<std::unique_ptr<Metric>()> make_;
  mutable absl::Mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> metrics_ ABSL_GUARDED_BY(mu_);
};

// One sample of a callback family.
struct Sample {
  LabelValues labels;
  double value = 0;
};

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // Declares a family (families render in declaration order). Declaring a name
  // again with the same type and label names returns the same family; with
  // another type or labels, or a malformed name, it CHECK fails. Counter names
  // end in "_total".
  Family<Counter>* AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>* AddHistogram(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds);

  // A family whose samples `collect` returns at every scrape (a gauge, or a
  // counter when the values only grow). `collect` runs on the scraping thread
  // and must stay callable for as long as the registry is rendered.
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names,
                        std::function<std::vector<Sample>()> collect);
  void AddCallbackCounter(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names,
                          std::function<std::vector<Sample>()> collect);

  // Every family, in the Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

 private:
  struct Entry;
  Entry* Declare(const std::string& name, const std::string& help, int type,
                 const std::vector<std::string>& label_names);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// The process_* families every Prometheus client exports: CPU seconds,
// resident and virtual memory, open and maximum file descriptors, start time
// (read from /proc at scrape time).
void AddProcessMetrics(Registry* registry);

// The content type of RenderPrometheus's output.
inline constexpr char kPrometheusContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// --- implementation of the template ---

template <typename Metric>
template <typename... Args>
Family<Metric>::Family(std::vector<std::string> label_names,
                       Args... metric_args)
    : label_names_(std::move(label_names)), make_([metric_args...] {
        return std::make_unique<Metric>(metric_args...);
      }) {}

void CheckLabelCount(size_t expected, size_t got);

template <typename Metric>
Metric* Family<Metric>::With(const LabelValues& values) {
  CheckLabelCount(label_names_.size(), values.size());
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& metric = metrics_[values];
  if (metric == nullptr) metric = make_();
  return metric.get();
}

}  // namespace report::metrics

#endif  // REPORT_COMMON_METRICS_H_
