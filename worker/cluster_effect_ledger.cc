#include "worker/cluster_effect_ledger.h"

namespace report {

ClusterEffectLedger::ClusterEffectLedger(
    const ClusterConfig& cluster, std::string worker_domain,
    absl::Duration call_timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials)
    : worker_domain_(std::move(worker_domain)),
      call_timeout_(call_timeout),
      client_(cluster, worker_domain_, std::move(credentials)) {}

absl::Status ClusterEffectLedger::Watch(
    uint64_t from_offset,
    const std::function<void(const WatchEvent&)>& on_event,
    const std::atomic<bool>& cancelled) {
  WatchRequest request;
  request.set_from_offset(from_offset);
  request.set_worker_domain(worker_domain_);
  return client_.Watch(request, on_event, cancelled, &watching_);
}

absl::StatusOr<EffectResponse> ClusterEffectLedger::Reserve(
    const ReserveEffectRequest& request) {
  return client_.ReserveEffect(request, call_timeout_);
}

absl::StatusOr<EffectResponse> ClusterEffectLedger::ExtendLease(
    const ExtendLeaseRequest& request) {
  return client_.ExtendLease(request, call_timeout_);
}

absl::StatusOr<EffectResponse> ClusterEffectLedger::Complete(
    const CompleteRequest& request) {
  return client_.Complete(request, call_timeout_);
}

absl::StatusOr<EffectResponse> ClusterEffectLedger::Fail(
    const FailRequest& request) {
  return client_.Fail(request, call_timeout_);
}

}  // namespace report
