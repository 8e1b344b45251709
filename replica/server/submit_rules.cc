#include "replica/server/submit_rules.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/fingerprint.h"
#include "common/receipt.h"
#include "common/validation.h"
#include "replica/server/steady_deadline.h"

namespace report {

absl::Status ConflictError(const RequestRecord& record) {
  return MakeError(
      ErrorCode::kIdempotencyConflict,
      absl::StrCat("request '", record.request_id(),
                   "' was accepted at offset ", record.accepted_offset(),
                   " with a different payload"));
}

absl::StatusOr<SubmitResponse> SubmitRules::Submit(const SubmitRequest& request,
                                                   absl::Time deadline) {
  SubmitBatchRequest batch;
  *batch.add_requests() = request;
  auto answered = SubmitBatch(batch, deadline);
  if (!answered.ok()) return answered.status();
  absl::StatusOr<Receipt> receipt = OutcomeResult(answered->outcomes(0));
  if (!receipt.ok()) return receipt.status();
  SubmitResponse response;
  *response.mutable_receipt() = *std::move(receipt);
  return response;
}

absl::StatusOr<SubmitBatchResponse> SubmitRules::SubmitBatch(
    const SubmitBatchRequest& batch, absl::Time deadline) {
  const int count = batch.requests_size();
  if (count == 0 || count > kMaxSubmitBatch) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("a batch carries 1..", kMaxSubmitBatch,
                                  " submits, got ", count));
  }
  if (absl::Status leader = driver_->CheckLeader(); !leader.ok()) {
    return leader;
  }
  SubmitBatchResponse response;
  std::vector<std::string> fingerprints(count);
  std::vector<std::shared_ptr<Proposal>> pending(count);
  std::vector<bool> answered(count, false);
  auto refuse = [&](int i, const absl::Status& status) {
    // Canonical codes are gRPC's; the message carries "Code: detail".
    SetOutcomeError(status, response.mutable_outcomes(i));
    answered[i] = true;
  };
  auto accept = [&](int i, const RequestRecord& record, bool duplicate) {
    *response.mutable_outcomes(i)->mutable_receipt() =
        ReceiptFor(record, duplicate);
    answered[i] = true;
  };
  // An already applied request is answered from state, without appending; an
  // error only when the state cannot be read.
  auto answer_from_state = [&](int i) -> absl::Status {
    auto existing =
        state_->GetRequest(batch.requests(i).submission().request_id());
    if (existing.ok()) {
      if (existing->fingerprint() != fingerprints[i]) {
        refuse(i, ConflictError(*existing));
      } else {
        accept(i, *existing, /*duplicate=*/true);
      }
      return absl::OkStatus();
    }
    if (ErrorCodeOf(existing.status()) != ErrorCode::kNotFound) {
      return existing.status();
    }
    return absl::OkStatus();
  };

  // The in-flight generation before the state machine is read: if a submit
  // leaves the in-flight map after that read, the read may be stale.
  const uint64_t generation = driver_->in_flight_generation();
  for (int i = 0; i < count; ++i) {
    response.add_outcomes();
    const SubmitRequest& request = batch.requests(i);
    const ReportSubmission& submission = request.submission();
    if (absl::Status valid = ValidateSubmission(submission); !valid.ok()) {
      refuse(i, valid);
      continue;
    }
    if (absl::Status allowed =
            placement_->CheckIngress(request.ingress_domain());
        !allowed.ok()) {
      refuse(i, allowed);
      continue;
    }
    fingerprints[i] = SubmissionFingerprint(submission);
    if (!request.fingerprint().empty() &&
        request.fingerprint() != fingerprints[i]) {
      refuse(i, MakeError(ErrorCode::kInvalidArgument,
                          "fingerprint does not match the submission's "
                          "canonical fingerprint"));
      continue;
    }
    if (absl::Status read = answer_from_state(i); !read.ok()) return read;
  }

  // Under the driver's mutex: join what is in flight, propose the rest as one
  // append (one message per follower carries every entry).
  std::vector<int> proposing;  // the item each command is for
  std::vector<std::pair<int, int>> joins;  // (item, item it joins)
  auto proposed = driver_->Propose([&](const ProposalTracker& tracker,
                                       Driver::Batch* out) -> absl::Status {
    std::map<std::string, int> first_new;  // id -> item proposing it here
    for (int i = 0; i < count; ++i) {
      if (answered[i]) continue;
      const SubmitRequest& request = batch.requests(i);
      const std::string& request_id = request.submission().request_id();
      std::shared_ptr<Proposal> inflight = tracker.InFlight(request_id);
      if (inflight != nullptr && inflight->fingerprint == fingerprints[i]) {
        pending[i] = std::move(inflight);  // join: the same receipt for both
        continue;
      }
      // Its entry may have been applied (and left the in-flight map) since
      // the state machine was read above: read it again rather than append
      // the request twice. Rare, so the read happens under the mutex.
      if (inflight == nullptr && tracker.in_flight_generation() != generation) {
        if (absl::Status read = answer_from_state(i); !read.ok()) return read;
        if (answered[i]) continue;
      }
      auto same = first_new.find(request_id);
      if (same != first_new.end() &&
          fingerprints[same->second] == fingerprints[i]) {
        joins.emplace_back(i, same->second);
        continue;
      }
      Command& command = out->commands.emplace_back();
      SubmitCommand* submit = command.mutable_submit();
      *submit->mutable_submission() = request.submission();
      submit->set_fingerprint(fingerprints[i]);
      submit->set_ingress_domain(request.ingress_domain());
      out->in_flight.emplace_back(request_id, fingerprints[i]);
      proposing.push_back(i);
      first_new.emplace(request_id, i);
    }
    return absl::OkStatus();
  });
  if (!proposed.ok()) return proposed.status();
  for (size_t k = 0; k < proposing.size(); ++k) {
    pending[proposing[k]] = (*proposed)[k];
  }
  for (const auto& [item, joined] : joins) pending[item] = pending[joined];

  // One wake-up for the whole batch.
  auto batch_wait = std::make_shared<BatchWait>();
  for (int i = 0; i < count; ++i) {
    if (!answered[i]) AddBatchWait(*pending[i], batch_wait);
  }
  {
    std::unique_lock<std::mutex> lock(batch_wait->mu);
    batch_wait->cv.wait_until(lock, SteadyDeadline(deadline),
                              [&] { return batch_wait->remaining == 0; });
  }
  for (int i = 0; i < count; ++i) {
    if (answered[i]) continue;
    // Done by now, or the deadline passed: this answers without waiting.
    auto applied = AwaitProposal(*pending[i], absl::InfinitePast());
    if (!applied.ok()) return applied.status();
    const CommandResult& result = applied->result;
    switch (result.code()) {
      case RESULT_OK:
      case RESULT_DUPLICATE:
        accept(i, result.record(), result.code() == RESULT_DUPLICATE);
        break;
      case RESULT_IDEMPOTENCY_CONFLICT:
        refuse(i, ConflictError(result.record()));
        break;
      default:
        refuse(i, MakeError(ErrorCode::kInvalidArgument,
                            absl::StrCat("submit rejected by the state "
                                         "machine: ",
                                         ResultCode_Name(result.code()))));
    }
  }
  return response;
}

}  // namespace report
