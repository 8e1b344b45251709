// The gateway's metric families (docs/OPERATIONS.md), shared by the HTTP and
// gRPC transports and rendered with the rest of the process's registry by GET
// /metrics. Thread-safe.
#ifndef REPORT_GATEWAY_GATEWAY_METRICS_H_
#define REPORT_GATEWAY_GATEWAY_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace report::gateway {

class GatewayMetrics {
 public:
  // Declares the families in `registry`, which must outlive this object.
  explicit GatewayMetrics(metrics::Registry* registry);
  // With a registry of its own (tests).
  GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // One answered request. `transport` is "http" or "grpc"; `route` a fixed
  // route name ("submit", "status", ...), never the raw path, so label
  // cardinality stays bounded; `code` the machine code of docs/API.md ("Ok" on
  // success).
  void CountRequest(absl::string_view transport, absl::string_view route,
                    absl::string_view code);
  // Time from accepting a submit to answering it, whatever the outcome.
  void ObserveSubmitLatency(absl::Duration latency);
  // Time to answer a status read (long-poll waits included).
  void ObserveStatusLatency(absl::Duration latency);
  void CountStaleRead();
  // One SubmitBatch call to the leader carrying `submits` submits (the
  // attempts of the cluster client's retries are not counted apart).
  void CountSubmitBatch(size_t submits);

  // Requests handed to the cluster and not yet answered (queued or running).
  void AddInFlight(int64_t delta);
  int64_t in_flight() const {
    return static_cast<int64_t>(in_flight_->value());
  }

  // The whole registry (this gateway's families and any other the process
  // declared), Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;
  metrics::Registry* registry() const { return registry_; }

 private:
  explicit GatewayMetrics(std::unique_ptr<metrics::Registry> owned);

  std::unique_ptr<metrics::Registry> owned_registry_;
  metrics::Registry* const registry_;
  metrics::Family<metrics::Counter>* const requests_;
  metrics::Histogram* const submit_latency_;
  metrics::Histogram* const status_latency_;
  metrics::Gauge* const in_flight_;
  metrics::Counter* const stale_reads_;
  metrics::Counter* const submit_batches_;
  metrics::Counter* const batched_submits_;
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
