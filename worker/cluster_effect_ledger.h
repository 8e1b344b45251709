// The effect ledger a real worker uses: the replicated effect protocol over
// gRPC through the cluster client (leader for reserve/extend/complete/fail, the
// nearest replica in the worker's own domain for the watch).
#ifndef REPORT_WORKER_CLUSTER_EFFECT_LEDGER_H_
#define REPORT_WORKER_CLUSTER_EFFECT_LEDGER_H_

#include <atomic>
#include <memory>
#include <string>

#include "client/cluster_client.h"
#include "grpcpp/security/credentials.h"
#include "worker/effect_ledger.h"

namespace report {

class ClusterEffectLedger final : public EffectLedger {
 public:
  ClusterEffectLedger(
      const ClusterConfig& cluster, std::string worker_domain,
      absl::Duration call_timeout = absl::Seconds(5),
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  absl::Status Watch(uint64_t from_offset,
                     const std::function<void(const WatchEvent&)>& on_event,
                     const std::atomic<bool>& cancelled) override;
  absl::StatusOr<EffectResponse> Reserve(
      const ReserveEffectRequest& request) override;
  absl::StatusOr<EffectResponse> ExtendLease(
      const ExtendLeaseRequest& request) override;
  absl::StatusOr<EffectResponse> Complete(
      const CompleteRequest& request) override;
  absl::StatusOr<EffectResponse> Fail(const FailRequest& request) override;

  // True while a replica has accepted this ledger's watch stream.
  bool watching() const { return watching_.load(); }

 private:
  const std::string worker_domain_;
  const absl::Duration call_timeout_;
  ClusterClient client_;
  std::atomic<bool> watching_{false};
};

}  // namespace report

#endif  // REPORT_WORKER_CLUSTER_EFFECT_LEDGER_H_
