// The gateway's backend over the real cluster: submits go to the leader through
// the cluster client (hints, retries, CommitUnknown when the outcome cannot be
// known), status reads to the nearest replica (the gateway's own domain first).
#ifndef REPORT_GATEWAY_CLUSTER_BACKEND_H_
#define REPORT_GATEWAY_CLUSTER_BACKEND_H_

#include <string>

#include "client/cluster_client.h"
#include "gateway/report_backend.h"

namespace report::gateway {

class ClusterBackend final : public ReportBackend {
 public:
  ClusterBackend(const ClusterConfig& cluster, std::string ingress_domain)
      : ingress_domain_(std::move(ingress_domain)),
        client_(cluster, ingress_domain_) {}

  absl::StatusOr<Receipt> Submit(const ReportSubmission& submission,
                                 absl::Duration timeout) override {
    return client_.Submit(submission, ingress_domain_, timeout);
  }

  absl::StatusOr<ReadStatusResponse> ReadStatus(const std::string& request_id,
                                                uint64_t min_offset,
                                                absl::Duration wait) override {
    return client_.ReadStatus(request_id, min_offset, wait);
  }

 private:
  const std::string ingress_domain_;
  ClusterClient client_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_CLUSTER_BACKEND_H_
