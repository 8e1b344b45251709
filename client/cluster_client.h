// The cluster client every process uses to talk to replicas: it finds the
// leader from any replica, follows leader hints, retries with backoff within a
// deadline, and reads from the nearest replica (own failure domain first).
// Retrying a submit is always safe because it carries the same request id; when
// the outcome cannot be known in time the answer is CommitUnknown, never a
// guess. Thread-safe.
#ifndef REPORT_CLIENT_CLUSTER_CLIENT_H_
#define REPORT_CLIENT_CLUSTER_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "proto/cluster.pb.h"
#include "proto/replica_service.grpc.pb.h"

namespace report {

class ClusterClient {
 public:
  // `domain` is the caller's own failure domain (reads prefer replicas near
  // it). Channels use `credentials` (mutual TLS,
  // TransportSecurity::ChannelCredentials()); plaintext when null.
  ClusterClient(
      const ClusterConfig& cluster, std::string domain,
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // A receipt's `duplicate` is true only when the request was accepted before
  // this call: when an attempt of this very call was committed but its answer
  // lost, the retry that finds it answers a fresh accept.
  absl::StatusOr<Receipt> Submit(const ReportSubmission& submission,
                                 const std::string& ingress_domain,
                                 absl::Duration timeout);
  // Many submits in one leader call, retried as a whole (the same ids) until
  // `timeout`; outcomes are per submit. See SubmitBatcher for the coalescing.
  absl::StatusOr<SubmitBatchResponse> SubmitBatch(
      const SubmitBatchRequest& request, absl::Duration timeout);

  // AT_LEAST_OFFSET(min_offset) from the nearest reachable replica, waiting at
  // most `wait`; LINEARIZABLE goes through the leader's ReadIndex. A replica
  // that did not answer a read (stopped, cut off) is asked last for the next
  // kUnansweredMemory, so only the first read after it fails pays for it.
  absl::StatusOr<ReadStatusResponse> ReadStatus(
      const std::string& request_id, uint64_t min_offset, absl::Duration wait,
      ReadConsistency consistency = AT_LEAST_OFFSET);

  // A page of an account's requests: from the nearest reachable replica that
  // has applied min_offset (or through the leader's ReadIndex), as ReadStatus.
  absl::StatusOr<ListRequestsResponse> ListRequests(
      const ListRequestsRequest& request, absl::Duration wait);
  // Cancels through the leader (retried as other leader calls are).
  absl::StatusOr<EffectResponse> Cancel(const CancelRequest& request,
                                        absl::Duration timeout);

  absl::StatusOr<EffectResponse> ReserveEffect(
      const ReserveEffectRequest& request, absl::Duration timeout);
  absl::StatusOr<EffectResponse> ExtendLease(const ExtendLeaseRequest& request,
                                             absl::Duration timeout);
  absl::StatusOr<EffectResponse> Complete(const CompleteRequest& request,
                                          absl::Duration timeout);
  absl::StatusOr<EffectResponse> Fail(const FailRequest& request,
                                      absl::Duration timeout);

  // Follows WatchCommitted on the nearest reachable replica until the stream
  // ends, fails or `cancelled` turns true. Each call starts with the next
  // replica in nearness order after one that failed, so a caller that loops
  // survives a replica's failure. `open`, when given, is true while a replica
  // has accepted the stream.
  absl::Status Watch(const WatchRequest& request,
                     const std::function<void(const WatchEvent&)>& on_event,
                     const std::atomic<bool>& cancelled,
                     std::atomic<bool>* open = nullptr);

  // Every member's view (or the error reaching it), in member order.
  std::vector<std::pair<Member, absl::StatusOr<ClusterStatusResponse>>>
  ClusterStatus(absl::Duration timeout);

  const ClusterConfig& cluster() const { return cluster_; }

  // How long a replica that left a read unanswered goes to the back of the
  // read order.
  static constexpr absl::Duration kUnansweredMemory = absl::Seconds(5);
  // Read attempts that got no answer from their replica, since construction.
  uint64_t unanswered_reads() const { return unanswered_reads_.load(); }

 private:
  // `may_have_landed`, when given, is set when an attempt before the one that
  // answered may have been committed (its answer lost): a submit's retry then
  // finds its own earlier attempt, not an older acceptance.
  template <typename Response>
  absl::StatusOr<Response> CallLeader(
      absl::Duration timeout,
      const std::function<grpc::Status(ReplicaService::Stub*,
                                       grpc::ClientContext*, Response*)>& call,
      bool* may_have_landed = nullptr);
  size_t IndexOf(uint64_t member_id) const;
  // nearest_, with the replicas remembered as unanswered moved to the back
  // (each group keeps its nearness order).
  std::vector<size_t> ReadOrder() const;

  const ClusterConfig cluster_;
  const std::string domain_;
  std::vector<std::unique_ptr<ReplicaService::Stub>> stubs_;
  // Member indexes ordered by nearness to domain_ (shared path segments, most
  // first).
  std::vector<size_t> nearest_;
  std::atomic<size_t> leader_hint_{0};
  std::atomic<size_t> watch_cursor_{0};
  mutable std::mutex unanswered_mu_;
  // Per member index: until when reads ask it last.
  std::vector<absl::Time> unanswered_until_;  // guarded by unanswered_mu_
  std::atomic<uint64_t> unanswered_reads_{0};
};

}  // namespace report

#endif  // REPORT_CLIENT_CLUSTER_CLIENT_H_
