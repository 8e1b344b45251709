// The replicated effect protocol (docs/EFFECTS.md) as a worker sees it. The
// production implementation talks to the replicas over gRPC
// (Replica.WatchCommitted, ReserveEffect, ExtendLease, Complete, Fail); unit
// tests use an in-memory fake.
//
// Result codes are decided by the replicated state machine, so every replica
// agrees:
//   Reserve     RESULT_OK grants the effect: record.fencing_token is the token,
//   record.version
//               the version to CAS on, record.lease_expiry_ms the lease
//               (cluster time); RESULT_LEASE_HELD another worker holds an
//               unexpired lease; RESULT_ALREADY_DONE the request is COMPLETED
//               or FAILED.
//   ExtendLease RESULT_OK, or RESULT_CAS_FAILED when the lease is lost (stop
//   working). Complete    RESULT_OK, or RESULT_CAS_FAILED when version or token
//   are no longer current. Fail        RESULT_OK (record goes back to ACCEPTED,
//   or FAILED at the attempt limit),
//               or RESULT_CAS_FAILED.
// Transport failures (no quorum, unreachable replica, DomainUnavailable, ...)
// are absl errors carrying the codes of common/error_code.h; a transport error
// says nothing about whether the command was applied.
#ifndef REPORT_WORKER_EFFECT_LEDGER_H_
#define REPORT_WORKER_EFFECT_LEDGER_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/replica_service.pb.h"

namespace report {

class EffectLedger {
 public:
  virtual ~EffectLedger() = default;

  // Blocks, calling on_event for each WatchEvent (catch-up of unfinished work
  // from the lowest unfinished offset when from_offset is 0, then live changes)
  // until `cancelled` becomes true or the stream fails; returns the stream's
  // final status. Must notice `cancelled` promptly (within ~100 ms) even when
  // no events arrive. on_event may block (the worker uses that for
  // back-pressure).
  virtual absl::Status Watch(
      uint64_t from_offset,
      const std::function<void(const WatchEvent&)>& on_event,
      const std::atomic<bool>& cancelled) = 0;

  virtual absl::StatusOr<EffectResponse> Reserve(
      const ReserveEffectRequest& request) = 0;
  virtual absl::StatusOr<EffectResponse> ExtendLease(
      const ExtendLeaseRequest& request) = 0;
  virtual absl::StatusOr<EffectResponse> Complete(
      const CompleteRequest& request) = 0;
  virtual absl::StatusOr<EffectResponse> Fail(const FailRequest& request) = 0;
};

}  // namespace report

#endif  // REPORT_WORKER_EFFECT_LEDGER_H_
