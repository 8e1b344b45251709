#include "replica/server/proposal_tracker.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {

void BatchWait::Done() {
  std::function<void()> run;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (--remaining != 0) return;
    run.swap(on_done);
    cv.notify_all();
  }
  if (run) run();
}

void FinishProposal(Proposal& proposal, absl::Status status,
                    const AppliedCommand* applied) {
  std::vector<std::shared_ptr<BatchWait>> batch_waits;
  {
    std::lock_guard<std::mutex> lock(proposal.mu);
    if (proposal.done) return;
    if (status.ok() && applied != nullptr) {
      proposal.applied = *applied;
    } else if (status.ok()) {
      status = MakeError(ErrorCode::kCommitUnknown, "finished without result");
    }
    proposal.status = std::move(status);
    proposal.done = true;
    batch_waits.swap(proposal.batch_waits);
    proposal.cv.notify_all();
  }
  for (const auto& batch_wait : batch_waits) batch_wait->Done();
}

absl::StatusOr<AppliedCommand> AwaitProposal(Proposal& proposal,
                                             absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  left = std::clamp(left, absl::ZeroDuration(), absl::Hours(1));
  std::unique_lock<std::mutex> lock(proposal.mu);
  if (!proposal.cv.wait_for(lock, absl::ToChronoNanoseconds(left),
                            [&] { return proposal.done; })) {
    return MakeError(
        ErrorCode::kCommitUnknown,
        absl::StrCat(
            "commit of offset ", proposal.index,
            " not confirmed in time; retrying with the same id is safe"));
  }
  if (!proposal.status.ok()) return proposal.status;
  return proposal.applied;
}

bool AddBatchWait(Proposal& proposal, const std::shared_ptr<BatchWait>& batch) {
  std::lock_guard<std::mutex> lock(proposal.mu);
  if (proposal.done) return false;
  proposal.batch_waits.push_back(batch);
  std::lock_guard<std::mutex> wait_lock(batch->mu);
  batch->remaining++;
  return true;
}

std::shared_ptr<Proposal> ProposalTracker::Track(
    uint64_t index, uint64_t epoch, std::vector<Finished>* superseded) {
  auto proposal = std::make_shared<Proposal>();
  proposal->index = index;
  proposal->epoch = epoch;
  auto [it, inserted] = by_index_.try_emplace(index, proposal);
  if (!inserted) {
    std::shared_ptr<Proposal> old = std::move(it->second);
    it->second = proposal;
    ForgetInFlight(old);
    superseded->emplace_back(
        std::move(old),
        MakeError(ErrorCode::kCommitUnknown,
                  absl::StrCat("the entry proposed at offset ", index,
                               " was replaced by another leader's before it "
                               "could be confirmed; retrying with the same "
                               "id is safe")));
  }
  return proposal;
}

void ProposalTracker::SetInFlight(const std::shared_ptr<Proposal>& proposal,
                                  std::string request_id,
                                  std::string fingerprint) {
  proposal->request_id = std::move(request_id);
  proposal->fingerprint = std::move(fingerprint);
  in_flight_.emplace(proposal->request_id, proposal);
}

std::shared_ptr<Proposal> ProposalTracker::InFlight(
    const std::string& request_id) const {
  auto it = in_flight_.find(request_id);
  return it == in_flight_.end() ? nullptr : it->second;
}

std::shared_ptr<Proposal> ProposalTracker::TakeApplied(
    uint64_t index, uint64_t applied_epoch, const absl::Status& not_leader,
    absl::Status* status) {
  auto it = by_index_.find(index);
  if (it == by_index_.end()) return nullptr;
  std::shared_ptr<Proposal> proposal = std::move(it->second);
  by_index_.erase(it);
  ForgetInFlight(proposal);
  // Another leader's entry took this index: ours can never commit (log
  // matching). Nothing was accepted through it; the caller may retry.
  *status = applied_epoch == proposal->epoch ? absl::OkStatus() : not_leader;
  return proposal;
}

std::vector<std::shared_ptr<Proposal>> ProposalTracker::TakeAll() {
  std::vector<std::shared_ptr<Proposal>> all;
  all.reserve(by_index_.size());
  for (auto& [index, proposal] : by_index_) all.push_back(std::move(proposal));
  by_index_.clear();
  if (!in_flight_.empty()) ++in_flight_generation_;
  in_flight_.clear();
  return all;
}

void ProposalTracker::ForgetInFlight(
    const std::shared_ptr<Proposal>& proposal) {
  if (proposal->request_id.empty()) return;
  auto it = in_flight_.find(proposal->request_id);
  if (it != in_flight_.end() && it->second == proposal) {
    in_flight_.erase(it);
    ++in_flight_generation_;
  }
}

}  // namespace report
