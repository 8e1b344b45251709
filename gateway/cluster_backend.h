// The gateway's backend over the real cluster: submits are coalesced into
// SubmitBatch calls to the leader through the cluster client (hints, retries,
// CommitUnknown when the outcome cannot be known), status reads go to the
// nearest replica (the gateway's own domain first).
#ifndef REPORT_GATEWAY_CLUSTER_BACKEND_H_
#define REPORT_GATEWAY_CLUSTER_BACKEND_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "client/cluster_client.h"
#include "client/submit_batcher.h"
#include "common/error_code.h"
#include "gateway/gateway_metrics.h"
#include "gateway/report_backend.h"

namespace report::gateway {

class ClusterBackend final : public ReportBackend {
 public:
  // `metrics` must outlive the backend.
  ClusterBackend(
      const ClusterConfig& cluster, std::string ingress_domain,
      GatewayMetrics* metrics, SubmitBatcherOptions batching = {},
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr)
      : ingress_domain_(std::move(ingress_domain)),
        client_(cluster, ingress_domain_, std::move(credentials)),
        batcher_(
            [this, metrics](const SubmitBatchRequest& request,
                            absl::Duration timeout) {
              metrics->CountSubmitBatch(
                  static_cast<size_t>(request.requests_size()));
              return client_.SubmitBatch(request, timeout);
            },
            batching) {}

  // Readiness: OK when a reachable replica says it leads (so a submit can
  // reach a quorum), else NoQuorum and what was seen. Asks every replica, each
  // for at most `timeout`.
  absl::Status CheckLeaderReachable(absl::Duration timeout) {
    size_t reachable = 0;
    for (const auto& [member, status] : client_.ClusterStatus(timeout)) {
      if (!status.ok()) continue;
      ++reachable;
      if (status->role() == "leader") return absl::OkStatus();
    }
    return MakeError(
        ErrorCode::kNoQuorum,
        absl::StrCat("no leader among the ", reachable, " of ",
                     client_.cluster().members_size(), " replicas reachable"));
  }

  // Answers every submit still queued or in flight (see SubmitBatcher::Stop).
  void Stop() { batcher_.Stop(); }

  void SubmitAsync(const ReportSubmission& submission, absl::Duration timeout,
                   std::function<void(absl::StatusOr<Receipt>)> done) override {
    batcher_.Submit(RequestOf(submission), timeout, std::move(done));
  }

  absl::StatusOr<ListRequestsResponse> ListRequests(
      const ListRequestsRequest& request, absl::Duration wait) override {
    return client_.ListRequests(request, wait);
  }

  absl::StatusOr<EffectResponse> Cancel(const std::string& request_id,
                                        absl::Duration timeout) override {
    CancelRequest request;
    request.set_request_id(request_id);
    request.set_ingress_domain(ingress_domain_);
    return client_.Cancel(request, timeout);
  }

  absl::StatusOr<ReadStatusResponse> ReadStatus(
      const std::string& request_id, uint64_t min_offset, absl::Duration wait,
      ReadConsistency consistency) override {
    return client_.ReadStatus(request_id, min_offset, wait, consistency);
  }

 private:
  SubmitRequest RequestOf(const ReportSubmission& submission) const {
    SubmitRequest request;
    *request.mutable_submission() = submission;
    request.set_ingress_domain(ingress_domain_);
    return request;
  }

  const std::string ingress_domain_;
  ClusterClient client_;
  SubmitBatcher batcher_;  // last: its senders call client_
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_CLUSTER_BACKEND_H_
