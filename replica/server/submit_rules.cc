#include "replica/server/submit_rules.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

namespace {

class PendingBatch : public PendingSubmit,
                     public std::enable_shared_from_this<PendingBatch> {
 public:
  PendingBatch(int count, SubmitRules::Done done)
      : pending(count), answered(count, false), done_(std::move(done)) {}

  // Refusals and answers known before anything is proposed.
  void Refuse(int i, const absl::Status& status) {
    // Canonical codes are gRPC's; the message carries "Code: detail".
    SetOutcomeError(status, response.mutable_outcomes(i));
    answered[i] = true;
  }
  void Accept(int i, const RequestRecord& record, bool duplicate) {
    *response.mutable_outcomes(i)->mutable_receipt() =
        ReceiptFor(record, duplicate);
    answered[i] = true;
  }

  // Answers once every proposal is finished (at once when none is pending).
  void Wait() {
    auto self = shared_from_this();
    wait_ = std::make_shared<BatchWait>();
    wait_->on_done = [self] { self->Answer(); };
    for (size_t i = 0; i < pending.size(); ++i) {
      if (!answered[i]) AddBatchWait(*pending[i], wait_);
    }
    wait_->Arm();
  }

  void Fail(absl::Status status) { Reply(std::move(status)); }

  void Expire() override { Answer(); }

  SubmitBatchResponse response;
  std::vector<std::shared_ptr<Proposal>> pending;
  std::vector<bool> answered;

 private:
  void Answer() {
    if (replied_.exchange(true)) return;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (answered[i]) continue;
      // Finished by now, or the deadline passed: this answers without
      // waiting.
      auto applied = AwaitProposal(*pending[i], absl::InfinitePast());
      if (!applied.ok()) {
        done_(applied.status());
        return;
      }
      const CommandResult& result = applied->result;
      switch (result.code()) {
        case RESULT_OK:
        case RESULT_DUPLICATE:
          Accept(static_cast<int>(i), result.record(),
                 result.code() == RESULT_DUPLICATE);
          break;
        case RESULT_IDEMPOTENCY_CONFLICT:
          Refuse(static_cast<int>(i), ConflictError(result.record()));
          break;
        default:
          Refuse(static_cast<int>(i),
                 MakeError(ErrorCode::kInvalidArgument,
                           absl::StrCat("submit rejected by the state "
                                        "machine: ",
                                        ResultCode_Name(result.code()))));
      }
    }
    done_(std::move(response));
  }
  void Reply(absl::StatusOr<SubmitBatchResponse> result) {
    if (replied_.exchange(true)) return;
    done_(std::move(result));
  }

  std::atomic<bool> replied_{false};
  SubmitRules::Done done_;
  std::shared_ptr<BatchWait> wait_;
};

}  // namespace

absl::StatusOr<SubmitBatchResponse> SubmitRules::SubmitBatch(
    const SubmitBatchRequest& batch, absl::Time deadline) {
  struct Result {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<absl::StatusOr<SubmitBatchResponse>> value;
  };
  auto result = std::make_shared<Result>();
  std::shared_ptr<PendingSubmit> pending =
      Start(batch, [result](absl::StatusOr<SubmitBatchResponse> answer) {
        std::lock_guard<std::mutex> lock(result->mu);
        result->value = std::move(answer);
        result->cv.notify_all();
      });
  {
    std::unique_lock<std::mutex> lock(result->mu);
    if (result->cv.wait_until(lock, SteadyDeadline(deadline),
                              [&] { return result->value.has_value(); })) {
      return *std::move(result->value);
    }
  }
  pending->Expire();
  std::lock_guard<std::mutex> lock(result->mu);
  return *std::move(result->value);
}

std::shared_ptr<PendingSubmit> SubmitRules::Start(
    const SubmitBatchRequest& batch, Done done) {
  const int count = batch.requests_size();
  auto call = std::make_shared<PendingBatch>(count, std::move(done));
  if (count == 0 || count > kMaxSubmitBatch) {
    call->Fail(MakeError(ErrorCode::kInvalidArgument,
                         absl::StrCat("a batch carries 1..", kMaxSubmitBatch,
                                      " submits, got ", count)));
    return call;
  }
  if (absl::Status leader = driver_->CheckLeader(); !leader.ok()) {
    call->Fail(std::move(leader));
    return call;
  }
  std::vector<std::string> fingerprints(count);
  // An already applied request is answered from state, without appending; an
  // error only when the state cannot be read.
  auto answer_from_state = [&](int i) -> absl::Status {
    auto existing =
        state_->GetRequest(batch.requests(i).submission().request_id());
    if (existing.ok()) {
      if (existing->fingerprint() != fingerprints[i]) {
        call->Refuse(i, ConflictError(*existing));
      } else {
        call->Accept(i, *existing, /*duplicate=*/true);
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
    call->response.add_outcomes();
    const SubmitRequest& request = batch.requests(i);
    const ReportSubmission& submission = request.submission();
    if (absl::Status valid = ValidateSubmission(submission); !valid.ok()) {
      call->Refuse(i, valid);
      continue;
    }
    if (absl::Status allowed =
            placement_->CheckIngress(request.ingress_domain());
        !allowed.ok()) {
      call->Refuse(i, allowed);
      continue;
    }
    fingerprints[i] = SubmissionFingerprint(submission);
    if (!request.fingerprint().empty() &&
        request.fingerprint() != fingerprints[i]) {
      call->Refuse(i, MakeError(ErrorCode::kInvalidArgument,
                                "fingerprint does not match the submission's "
                                "canonical fingerprint"));
      continue;
    }
    if (absl::Status read = answer_from_state(i); !read.ok()) {
      call->Fail(std::move(read));
      return call;
    }
  }

  // Under the driver's mutex: join what is in flight, propose the rest as one
  // append (one message per follower carries every entry).
  std::vector<int> proposing;              // the item each command is for
  std::vector<std::pair<int, int>> joins;  // (item, item it joins)
  auto proposed = driver_->Propose([&](const ProposalTracker& tracker,
                                       Driver::Batch* out) -> absl::Status {
    std::map<std::string, int> first_new;  // id -> item proposing it here
    for (int i = 0; i < count; ++i) {
      if (call->answered[i]) continue;
      const SubmitRequest& request = batch.requests(i);
      const std::string& request_id = request.submission().request_id();
      std::shared_ptr<Proposal> inflight = tracker.InFlight(request_id);
      if (inflight != nullptr && inflight->fingerprint == fingerprints[i]) {
        // Join: the same receipt for both.
        call->pending[i] = std::move(inflight);
        continue;
      }
      // Its entry may have been applied (and left the in-flight map) since
      // the state machine was read above: read it again rather than append
      // the request twice. Rare, so the read happens under the mutex.
      if (inflight == nullptr && tracker.in_flight_generation() != generation) {
        if (absl::Status read = answer_from_state(i); !read.ok()) return read;
        if (call->answered[i]) continue;
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
  if (!proposed.ok()) {
    call->Fail(proposed.status());
    return call;
  }
  for (size_t k = 0; k < proposing.size(); ++k) {
    call->pending[proposing[k]] = (*proposed)[k];
  }
  for (const auto& [item, joined] : joins) {
    call->pending[item] = call->pending[joined];
  }
  // One completion for the whole batch.
  call->Wait();
  return call;
}

}  // namespace report
