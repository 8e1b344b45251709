// The rules a submit goes through on the leader before and after it is in the
// log, as plain code over the driver and the state machine:
//
//   1. validate the submission and its ingress domain (placement);
//   2. compute the payload fingerprint; a caller-sent one must match it;
//   3. a request id already applied is answered from state (the original
//      receipt, or IdempotencyConflict for another payload) without appending;
//   4. a request id already in flight is joined (both callers get the one
//      receipt), as are repeats of one id within a batch;
//   5. everything else is proposed as ONE append, and each submit is answered
//      from the state machine's result once its entry is applied.
//
// Per-submit refusals are outcomes; a condition of the whole call (not the
// leader, commit not confirmed by the deadline) fails the call.
//
// Start() never blocks: it answers through a callback, so the replica's event
// loop can serve SubmitBatch calls without a thread per call. SubmitBatch() is
// the blocking form over it.
#ifndef REPORT_REPLICA_SERVER_SUBMIT_RULES_H_
#define REPORT_REPLICA_SERVER_SUBMIT_RULES_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/placement.h"
#include "proto/replica_service.pb.h"
#include "replica/server/driver.h"
#include "replica/state_machine/report_state_machine.h"

namespace report {

// Most submits one SubmitBatch call may carry.
inline constexpr int kMaxSubmitBatch = 1024;

// A batch whose entries are proposed and not all applied yet.
class PendingSubmit {
 public:
  virtual ~PendingSubmit() = default;
  // The deadline passed: answers now if not answered yet (entries not applied
  // by now make the call CommitUnknown; retrying the ids is safe).
  virtual void Expire() = 0;
};

class SubmitRules {
 public:
  using Done = std::function<void(absl::StatusOr<SubmitBatchResponse>)>;

  // All three must outlive the rules.
  SubmitRules(const Placement* placement, const ReportStateMachine* state,
              Driver* driver)
      : placement_(placement), state_(state), driver_(driver) {}

  // Runs the rules and proposes; `done` runs exactly once: before Start
  // returns when nothing waits on a commit, else on the thread that applies
  // the batch's last entry, or in Expire().
  std::shared_ptr<PendingSubmit> Start(const SubmitBatchRequest& batch,
                                       Done done);

  absl::StatusOr<SubmitBatchResponse> SubmitBatch(
      const SubmitBatchRequest& batch, absl::Time deadline);
  absl::StatusOr<SubmitResponse> Submit(const SubmitRequest& request,
                                        absl::Time deadline);

 private:
  const Placement* const placement_;
  const ReportStateMachine* const state_;
  Driver* const driver_;
};

// IdempotencyConflict for a submit whose payload differs from `record`'s.
absl::Status ConflictError(const RequestRecord& record);

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_SUBMIT_RULES_H_
