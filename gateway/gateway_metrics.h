// The gateway's Prometheus metrics, shared by the HTTP and gRPC transports and
// rendered in the text exposition format by GET /metrics. Thread-safe; counters
// only grow.
#ifndef REPORT_GATEWAY_GATEWAY_METRICS_H_
#define REPORT_GATEWAY_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace report::gateway {

class GatewayMetrics {
 public:
  // Upper bounds (seconds) of the submit latency histogram buckets; +Inf is
  // implied.
  static constexpr std::array<double, 14> kSubmitLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

  GatewayMetrics() = default;
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // One answered request. `transport` is "http" or "grpc"; `route` a fixed
  // route name
  // ("submit", "status", ...), never the raw path, so label cardinality stays
  // bounded; `code` the machine code of docs/API.md ("Ok" on success).
  void CountRequest(absl::string_view transport, absl::string_view route,
                    absl::string_view code);
  // Time from accepting a submit to answering it, whatever the outcome.
  void ObserveSubmitLatency(absl::Duration latency);
  void CountStaleRead();
  // One SubmitBatch call to the leader carrying `submits` submits (the
  // attempts of the cluster client's retries are not counted apart).
  void CountSubmitBatch(size_t submits);

  // Requests handed to the cluster and not yet answered (queued or running).
  void AddInFlight(int64_t delta);
  int64_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }

  // Prometheus text exposition format, version 0.0.4.
  std::string RenderPrometheus() const;

 private:
  using RequestKey = std::tuple<std::string, std::string, std::string>;

  mutable absl::Mutex mu_;
  std::map<RequestKey, uint64_t> requests_ ABSL_GUARDED_BY(mu_);

  std::array<std::atomic<uint64_t>, kSubmitLatencyBuckets.size() + 1>
      submit_buckets_{};  // last one is +Inf; not cumulative
  std::atomic<uint64_t> submit_sum_micros_{0};
  std::atomic<uint64_t> stale_reads_{0};
  std::atomic<uint64_t> submit_batches_{0};
  std::atomic<uint64_t> batched_submits_{0};
  std::atomic<int64_t> in_flight_{0};
};

// Counts a request in flight for as long as it lives.
class InFlightScope {
 public:
  explicit InFlightScope(GatewayMetrics* metrics) : metrics_(metrics) {
    metrics_->AddInFlight(1);
  }
  ~InFlightScope() { metrics_->AddInFlight(-1); }
  InFlightScope(const InFlightScope&) = delete;
  InFlightScope& operator=(const InFlightScope&) = delete;

 private:
  GatewayMetrics* metrics_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_GATEWAY_METRICS_H_
