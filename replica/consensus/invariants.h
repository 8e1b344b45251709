// Safety invariants of the fenced-epoch protocol, checked from outside the
// nodes: tests and consensus-sim report what they observe (roles, appended
// entries, commit indices, applied entries) and the checker keeps the
// cross-node history needed to judge it. Every check is incremental (no
// whole-log scans per observation), so it can run after every simulated step.
#ifndef REPORT_REPLICA_CONSENSUS_INVARIANTS_H_
#define REPORT_REPLICA_CONSENSUS_INVARIANTS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "proto/consensus.pb.h"

namespace report::consensus {

class InvariantChecker {
 public:
  // Election safety: at most one leader per epoch.
  void ObserveLeader(uint64_t node, uint64_t epoch);
  // Log matching, inductively: an (index, epoch) pair names one entry with one
  // payload and one predecessor epoch on every node, so equal pairs imply equal
  // prefixes.
  void ObserveAppend(uint64_t node, const Entry& entry, uint64_t prev_epoch);
  // Leader completeness: a node that just became leader of `epoch` holds every
  // entry known committed (applied anywhere) so far. `epoch_at(i)` reads its
  // log; `last_index` is its last index.
  void ObserveLeaderLog(uint64_t node, uint64_t epoch, uint64_t last_index,
                        const std::function<uint64_t(uint64_t)>& epoch_at);
  // Commit index never moves back within one incarnation of a node.
  void ObserveCommitIndex(uint64_t node, uint64_t incarnation, uint64_t commit);
  // State-machine safety: all nodes apply the same entry at an index; each node
  // applies indices in order, each once (`applied_before` is its applied index
  // before this one).
  void ObserveApply(uint64_t node, uint64_t applied_before, const Entry& entry);

  bool ok() const { return violation_.empty(); }
  const std::string& violation() const { return violation_; }
  // The committed (applied somewhere) entry at `index`, as (epoch, payload
  // fingerprint); (0, 0) when none is known.
  std::pair<uint64_t, uint64_t> AppliedAt(uint64_t index) const;
  uint64_t highest_applied() const { return applied_.size(); }
  // The state-machine digest after applying every entry through `index` (the
  // chain of MixDigest over their fingerprints); 0 when not yet known.
  uint64_t DigestAt(uint64_t index) const {
    return index == 0 || index > digests_.size() ? 0 : digests_[index - 1];
  }

  static uint64_t Fingerprint(const Entry& entry);
  static uint64_t MixDigest(uint64_t digest, uint64_t fingerprint);

 private:
  struct EntryShape {
    uint64_t prev_epoch;
    uint64_t fingerprint;
  };
  void Fail(std::string what);

  std::string violation_;
  std::map<uint64_t, uint64_t> leader_of_epoch_;
  std::map<std::pair<uint64_t, uint64_t>, EntryShape>
      entries_;  // (index, epoch)
  std::map<uint64_t, std::pair<uint64_t, uint64_t>>
      commit_of_node_;  // incarnation, commit
  std::vector<std::pair<uint64_t, uint64_t>>
      applied_;                    // [i-1]: (epoch, fingerprint)
  std::vector<uint64_t> digests_;  // [i-1]: digest after index i
};

}  // namespace report::consensus

#endif  // REPORT_REPLICA_CONSENSUS_INVARIANTS_H_
