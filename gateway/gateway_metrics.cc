#include "gateway/gateway_metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace report::gateway {
namespace {

// Label values are fixed names, but escape anyway so a surprising value cannot
// break the exposition format.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

constexpr std::array<double, 14> GatewayMetrics::kSubmitLatencyBuckets;

void GatewayMetrics::CountRequest(absl::string_view transport,
                                  absl::string_view route,
                                  absl::string_view code) {
  absl::MutexLock lock(&mu_);
  ++requests_[RequestKey(std::string(transport), std::string(route),
                         std::string(code))];
}

void GatewayMetrics::ObserveSubmitLatency(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  size_t bucket = 0;
  while (bucket < kSubmitLatencyBuckets.size() &&
         seconds > kSubmitLatencyBuckets[bucket]) {
    ++bucket;
  }
  submit_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  const int64_t micros = absl::ToInt64Microseconds(latency);
  submit_sum_micros_.fetch_add(micros > 0 ? static_cast<uint64_t>(micros) : 0,
                               std::memory_order_relaxed);
}

void GatewayMetrics::CountStaleRead() {
  stale_reads_.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::AddInFlight(int64_t delta) {
  in_flight_.fetch_add(delta, std::memory_order_relaxed);
}

void GatewayMetrics::CountSubmitBatch(size_t submits) {
  submit_batches_.fetch_add(1, std::memory_order_relaxed);
  batched_submits_.fetch_add(submits, std::memory_order_relaxed);
}

std::string GatewayMetrics::RenderPrometheus() const {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP report_gateway_requests_total Requests answered, by "
                  "transport, route and machine code.\n"
                  "# TYPE report_gateway_requests_total counter\n");
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, count] : requests_) {
      absl::StrAppend(&out, "report_gateway_requests_total{transport=\"",
                      EscapeLabel(std::get<0>(key)), "\",route=\"",
                      EscapeLabel(std::get<1>(key)), "\",code=\"",
                      EscapeLabel(std::get<2>(key)), "\"} ", count, "\n");
    }
  }

  absl::StrAppend(
      &out,
      "# HELP report_gateway_submit_latency_seconds Time to answer a "
      "submit (quorum commit included).\n"
      "# TYPE report_gateway_submit_latency_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kSubmitLatencyBuckets.size(); ++i) {
    cumulative += submit_buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(&out, "report_gateway_submit_latency_seconds_bucket{le=\"",
                    absl::StrFormat("%g", kSubmitLatencyBuckets[i]), "\"} ",
                    cumulative, "\n");
  }
  cumulative += submit_buckets_[kSubmitLatencyBuckets.size()].load(
      std::memory_order_relaxed);
  absl::StrAppend(
      &out, "report_gateway_submit_latency_seconds_bucket{le=\"+Inf\"} ",
      cumulative, "\n", "report_gateway_submit_latency_seconds_sum ",
      absl::StrFormat("%.6f",
                      submit_sum_micros_.load(std::memory_order_relaxed) / 1e6),
      "\n", "report_gateway_submit_latency_seconds_count ", cumulative, "\n");

  absl::StrAppend(
      &out,
      "# HELP report_gateway_in_flight Requests handed to the cluster "
      "and not yet answered.\n"
      "# TYPE report_gateway_in_flight gauge\n"
      "report_gateway_in_flight ",
      in_flight(), "\n");
  absl::StrAppend(
      &out,
      "# HELP report_gateway_stale_reads_total Status reads answered "
      "StaleRead.\n"
      "# TYPE report_gateway_stale_reads_total counter\n"
      "report_gateway_stale_reads_total ",
      stale_reads_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(
      &out,
      "# HELP report_gateway_submit_batches_total SubmitBatch calls made to "
      "the leader.\n"
      "# TYPE report_gateway_submit_batches_total counter\n"
      "report_gateway_submit_batches_total ",
      submit_batches_.load(std::memory_order_relaxed), "\n",
      "# HELP report_gateway_batched_submits_total Submits those calls "
      "carried.\n"
      "# TYPE report_gateway_batched_submits_total counter\n"
      "report_gateway_batched_submits_total ",
      batched_submits_.load(std::memory_order_relaxed), "\n");
  return out;
}

}  // namespace report::gateway
