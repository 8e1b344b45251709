#include "gateway/gateway_metrics.h"

#include <utility>

namespace report::gateway {

GatewayMetrics::GatewayMetrics()
    : GatewayMetrics(std::make_unique<metrics::Registry>()) {}

GatewayMetrics::GatewayMetrics(metrics::Registry* registry)
    : registry_(registry),
      requests_(registry->AddCounter(
          "report_gateway_requests_total",
          "Requests answered, by transport, route and machine code.",
          {"transport", "route", "code"})),
      submit_latency_(
          registry
              ->AddHistogram("report_gateway_submit_latency_seconds",
                             "Time to answer a submit (quorum commit "
                             "included).",
                             {}, metrics::LatencyBuckets())
              ->Get()),
      status_latency_(
          registry
              ->AddHistogram("report_gateway_status_latency_seconds",
                             "Time to answer a status read (long-poll waits "
                             "included).",
                             {}, metrics::LatencyBuckets())
              ->Get()),
      in_flight_(registry
                     ->AddGauge("report_gateway_in_flight",
                                "Requests handed to the cluster and not yet "
                                "answered.")
                     ->Get()),
      stale_reads_(registry
                       ->AddCounter("report_gateway_stale_reads_total",
                                    "Status reads answered StaleRead.")
                       ->Get()),
      submit_batches_(registry
                          ->AddCounter("report_gateway_submit_batches_total",
                                       "SubmitBatch calls made to the leader.")
                          ->Get()),
      batched_submits_(registry
                           ->AddCounter("report_gateway_batched_submits_total",
                                        "Submits those calls carried.")
                           ->Get()) {}

GatewayMetrics::GatewayMetrics(std::unique_ptr<metrics::Registry> owned)
    : GatewayMetrics(owned.get()) {
  owned_registry_ = std::move(owned);
}

void GatewayMetrics::CountRequest(absl::string_view transport,
                                  absl::string_view route,
                                  absl::string_view code) {
  requests_
      ->With({std::string(transport), std::string(route), std::string(code)})
      ->Increment();
}

void GatewayMetrics::ObserveSubmitLatency(absl::Duration latency) {
  submit_latency_->ObserveDuration(latency);
}

void GatewayMetrics::ObserveStatusLatency(absl::Duration latency) {
  status_latency_->ObserveDuration(latency);
}

void GatewayMetrics::CountStaleRead() { stale_reads_->Increment(); }

void GatewayMetrics::AddInFlight(int64_t delta) {
  in_flight_->Add(static_cast<double>(delta));
}

void GatewayMetrics::CountSubmitBatch(size_t submits) {
  submit_batches_->Increment();
  batched_submits_->Increment(submits);
}

std::string GatewayMetrics::RenderPrometheus() const {
  return registry_->RenderPrometheus();
}

}  // namespace report::gateway
