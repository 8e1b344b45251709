// A replica: the consensus core wrapped with durable storage, the peer
// transport, timers and the report state machine. It is a composition of named
// parts (replica.cc wires them):
//
//   Driver       (driver.h)       owns the core, its clock, the hand-off to the
//                                 log writer and the transport; proposals and
//                                 read indexes in, applied commands out
//   SubmitRules  (submit_rules.h) validation, placement, fingerprint, joining,
//                                 outcome mapping of submits
//   WatchHub     (watch_hub.h)    the applied index and recent changes, for
//                                 status reads and workers' watch streams
//   ReportStateMachine, ReplicaStore, LogWriter, PeerTransport: state, disk,
//                                 fsync, network
//
// Every public method is safe to call from gRPC threads.
#ifndef REPORT_REPLICA_SERVER_REPLICA_H_
#define REPORT_REPLICA_SERVER_REPLICA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "proto/cluster.pb.h"
#include "proto/consensus.pb.h"
#include "proto/replica_service.pb.h"
#include "replica/server/event_loop.h"

namespace report {

struct ReplicaOptions {
  ClusterConfig cluster;
  uint64_t id = 0;
  std::string domain;
  std::string data_dir;
  int tick_ms = 50;
  int election_ticks = 10;  // randomized in [10, 20) ticks: 0.5-1.0 s
  int heartbeat_ticks = 2;  // 100 ms
  // Upper bound on how long a write waits for its commit when the caller set no
  // deadline.
  absl::Duration default_commit_wait = absl::Seconds(5);
  // What the driver thread polls (not owned; outlives the replica). The
  // process passes a GrpcEventLoop over the completion queue its peer streams
  // and SubmitBatch calls arrive on; null: the driver waits on its own.
  EventLoop* event_loop = nullptr;
  // Where the log writer and the state machine declare their metrics
  // (report_fsync_seconds, report_requests, ...); none when null. Must outlive
  // the replica.
  metrics::Registry* metrics = nullptr;
  // Long life (docs/STORAGE.md, "Snapshots and compaction"): take a snapshot
  // after this many entries applied since the last one (0: never), and keep
  // this many log entries behind it for followers that are slightly behind.
  uint64_t snapshot_entries = 100000;
  uint64_t retain_entries = 10000;
};

class PendingSubmit;

class Replica {
 public:
  // Opens storage (refusing a data dir of another cluster or replica), recovers
  // the state machine and starts the driver, the ticker and the peer transport.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(
      const ReplicaOptions& options);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Consensus messages from a peer's stream.
  void StepBatch(const consensus::MessageBatch& batch);

  absl::StatusOr<SubmitResponse> Submit(const SubmitRequest& request,
                                        absl::Time deadline);
  // Proposes every submit together; see SubmitBatchRequest in
  // proto/replica_service.proto.
  absl::StatusOr<SubmitBatchResponse> SubmitBatch(
      const SubmitBatchRequest& batch, absl::Time deadline);
  // The same without blocking: `done` runs exactly once, possibly before this
  // returns; call Expire() on the result at the caller's deadline.
  std::shared_ptr<PendingSubmit> StartSubmitBatch(
      const SubmitBatchRequest& batch,
      std::function<void(absl::StatusOr<SubmitBatchResponse>)> done);
  absl::StatusOr<ReadStatusResponse> ReadStatus(
      const ReadStatusRequest& request, absl::Time deadline);
  absl::StatusOr<EffectResponse> ReserveEffect(
      const ReserveEffectRequest& request, absl::Time deadline);
  absl::StatusOr<EffectResponse> ExtendLease(const ExtendLeaseRequest& request,
                                             absl::Time deadline);
  absl::StatusOr<EffectResponse> Complete(const CompleteRequest& request,
                                          absl::Time deadline);
  absl::StatusOr<EffectResponse> Fail(const FailRequest& request,
                                      absl::Time deadline);
  // One CancelCommand, from a gateway in an ingress domain.
  absl::StatusOr<EffectResponse> Cancel(const CancelRequest& request,
                                        absl::Time deadline);
  // A page of an account's requests, as fresh as ReadStatus would be.
  absl::StatusOr<ListRequestsResponse> ListRequests(
      const ListRequestsRequest& request, absl::Time deadline);
  // Streams unfinished work (catch-up) then every applied change, until `send`
  // returns false or `cancelled` returns true.
  absl::Status Watch(const WatchRequest& request,
                     const std::function<bool(const WatchEvent&)>& send,
                     const std::function<bool()>& cancelled);
  ClusterStatusResponse Status() const;
  // Hands leadership to the member named in the request; see
  // TransferLeaderRequest in proto/replica_service.proto.
  absl::StatusOr<ClusterStatusResponse> TransferLeader(
      const TransferLeaderRequest& request, absl::Time deadline);

  void Shutdown();

 private:
  class Impl;
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_REPLICA_H_
