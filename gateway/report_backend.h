// What the gateway needs from the cluster: a quorum-committed submit and a
// freshness-bounded status read. The production implementation sits on the
// cluster client (leader discovery, retries); unit tests use an in-memory fake.
// Implementations must be thread-safe: the gateway calls them concurrently from
// its I/O and worker threads; ReadStatus may block.
#ifndef REPORT_GATEWAY_REPORT_BACKEND_H_
#define REPORT_GATEWAY_REPORT_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/replica_service.pb.h"
#include "proto/report.pb.h"

namespace report::gateway {

class ReportBackend {
 public:
  virtual ~ReportBackend() = default;

  // Calls `done` (exactly once, on any thread) once the submission is
  // quorum-committed and applied (or found to be a duplicate), or with
  // InvalidArgument, IdempotencyConflict, DomainUnavailable, NoQuorum (nothing
  // was accepted) or CommitUnknown (it may have been accepted; retrying with
  // the same id is safe). Gives up after `timeout`. Holds no thread of the
  // caller while the commit is in flight.
  virtual void SubmitAsync(
      const report::ReportSubmission& submission, absl::Duration timeout,
      std::function<void(absl::StatusOr<report::Receipt>)> done) = 0;

  // AT_LEAST_OFFSET(min_offset) read from a nearby replica, waiting at most
  // `wait` for it to apply min_offset; LINEARIZABLE through the leader's
  // ReadIndex. Fails with NotFound (unknown id at the served offset) or
  // StaleRead.
  virtual absl::StatusOr<report::ReadStatusResponse> ReadStatus(
      const std::string& request_id, uint64_t min_offset, absl::Duration wait,
      report::ReadConsistency consistency = report::AT_LEAST_OFFSET) = 0;

  // A page of an account's requests, newest first (ListRequests of
  // proto/replica_service.proto), from a replica that has applied min_offset,
  // waiting at most `wait`.
  virtual absl::StatusOr<report::ListRequestsResponse> ListRequests(
      const report::ListRequestsRequest& request, absl::Duration wait) = 0;

  // Cancels through the leader, once committed: the record after the cancel
  // (CANCELLED, RUNNING with cancel_requested, or the terminal state it
  // already had). NotFound for an unknown id.
  virtual absl::StatusOr<report::EffectResponse> Cancel(
      const std::string& request_id, absl::Duration timeout) = 0;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_REPORT_BACKEND_H_
