// The leader's proposals that are not answered yet: one Proposal per log entry
// it proposed, found by index when that index is applied, and for submits the
// in-flight entry of each request id, so a retry joins it instead of appending
// the request again.
//
// A Proposal is finished exactly once: with the applied command when an entry
// with its index *and epoch* is applied; NotLeader when another entry took its
// index; CommitUnknown when a later proposal of this replica lands on its index
// (its entry was truncated by another leader before it could be applied here)
// or the replica shuts down. Every caller waiting on it, joined submits
// included, is then answered, so retrying a request id always converges.
//
// Not thread-safe: the replica guards the tracker with its core mutex and
// finishes proposals (FinishProposal) after releasing it.
#ifndef REPORT_REPLICA_SERVER_PROPOSAL_TRACKER_H_
#define REPORT_REPLICA_SERVER_PROPOSAL_TRACKER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "replica/state_machine/report_state_machine.h"

namespace report {

// The one completion type of a call waiting for several proposals: counts
// them down and, once every one added before Arm() is finished, runs
// `on_done` once (on the thread that finished the last, or in Arm()) and wakes
// `cv`. A call's thread so wakes once for a whole batch, and an asynchronous
// call is answered without any thread waiting for it.
struct BatchWait {
  std::mutex mu;
  std::condition_variable cv;
  int remaining = 1;  // the proposals added, plus one until Arm()
  std::function<void()> on_done;

  bool finished() {
    std::lock_guard<std::mutex> lock(mu);
    return remaining == 0;
  }
  // Every proposal is added: from now on the count can reach zero.
  void Arm() { Done(); }
  void Done();
};

struct Proposal {
  uint64_t index = 0;
  uint64_t epoch = 0;
  std::string request_id;   // submits: key in the in-flight map
  std::string fingerprint;  // submits: joiners must match it

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;                                    // guarded by mu
  absl::Status status;                                  // guarded by mu
  AppliedCommand applied;                               // guarded by mu
  std::vector<std::shared_ptr<BatchWait>> batch_waits;  // guarded by mu
};

// Answers everyone waiting on `proposal`: with `applied` when `status` is OK.
// A proposal already finished stays as it was.
void FinishProposal(Proposal& proposal, absl::Status status,
                    const AppliedCommand* applied = nullptr);

// Waits until `proposal` is finished or `deadline` passes (then
// CommitUnknown: the entry may still commit; retrying the id is safe).
absl::StatusOr<AppliedCommand> AwaitProposal(Proposal& proposal,
                                             absl::Time deadline);

// Registers `batch` to be counted down when `proposal` finishes; false (and
// nothing registered) when it already has.
bool AddBatchWait(Proposal& proposal, const std::shared_ptr<BatchWait>& batch);

class ProposalTracker {
 public:
  // A proposal whose finishing status the caller applies after unlocking.
  using Finished = std::pair<std::shared_ptr<Proposal>, absl::Status>;

  // Tracks a new proposal at (index, epoch). A proposal this replica made
  // earlier at the same index can never be applied any more (its entry is gone
  // from this log), so it is appended to `superseded` with CommitUnknown.
  std::shared_ptr<Proposal> Track(uint64_t index, uint64_t epoch,
                                  std::vector<Finished>* superseded);

  // Marks `proposal` as the in-flight entry of a submit. A request id already
  // in flight keeps its entry (a second one with another payload will be
  // answered IdempotencyConflict when applied).
  void SetInFlight(const std::shared_ptr<Proposal>& proposal,
                   std::string request_id, std::string fingerprint);

  // The unanswered entry of `request_id`, or nullptr.
  std::shared_ptr<Proposal> InFlight(const std::string& request_id) const;

  // The proposal at `index` when an entry of `applied_epoch` was applied there,
  // removed from the tracker, with how to finish it: OK when its own entry was
  // applied, `not_leader` when another leader's entry took the index. Nullptr
  // when nothing was proposed at `index` here.
  std::shared_ptr<Proposal> TakeApplied(uint64_t index, uint64_t applied_epoch,
                                        const absl::Status& not_leader,
                                        absl::Status* status);

  // Everything tracked, removed (shutdown).
  std::vector<std::shared_ptr<Proposal>> TakeAll();

  size_t size() const { return by_index_.size(); }
  size_t in_flight() const { return in_flight_.size(); }

  // Advances whenever a submit leaves the in-flight map. A caller that looked
  // a request id up in the state machine (outside the core mutex) and finds it
  // not in flight must look again if this moved in between: the entry may have
  // been applied meanwhile, and appending the request again would be a
  // duplicate entry.
  uint64_t in_flight_generation() const { return in_flight_generation_; }

 private:
  void ForgetInFlight(const std::shared_ptr<Proposal>& proposal);

  std::map<uint64_t, std::shared_ptr<Proposal>> by_index_;
  std::map<std::string, std::shared_ptr<Proposal>> in_flight_;
  uint64_t in_flight_generation_ = 0;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_PROPOSAL_TRACKER_H_
