// The log as the consensus core sees it (internal to the core): the caller's
// durable LogStore followed by an "unstable" tail of entries the core has
// accepted but the caller has not yet confirmed durable. Reads at or after the
// tail's offset come from the tail, so a truncated durable suffix is shadowed
// until the caller overwrites it.
#ifndef REPORT_REPLICA_CONSENSUS_RAFT_LOG_H_
#define REPORT_REPLICA_CONSENSUS_RAFT_LOG_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "proto/consensus.pb.h"
#include "replica/consensus/node.h"

namespace report::consensus {

class RaftLog {
 public:
  explicit RaftLog(const LogStore* store);

  uint64_t LastIndex() const;
  // First entry held (entries below it were compacted into a snapshot; the
  // epoch at FirstIndex()-1 is still known).
  uint64_t FirstIndex() const { return store_->FirstIndex(); }
  const LogStore* store() const { return store_; }
  uint64_t LastEpoch() const { return EpochAt(LastIndex()); }
  // Epoch at `index`; 0 for index 0 and for indices past the end.
  uint64_t EpochAt(uint64_t index) const;
  bool Matches(uint64_t index, uint64_t epoch) const {
    return index <= LastIndex() && EpochAt(index) == epoch;
  }
  // The candidate's log (last_epoch, last_index) is at least as up to date as
  // ours.
  bool IsUpToDate(uint64_t last_epoch, uint64_t last_index) const;
  // Largest index <= `index` whose epoch is <= `epoch`, with that epoch: where
  // a log whose entry at `index` has `epoch` may agree with ours.
  std::pair<uint64_t, uint64_t> FindConflictByEpoch(uint64_t index,
                                                    uint64_t epoch) const;

  // Appends `entries` (consecutive; first index <= LastIndex()+1), truncating
  // any suffix from the first entry's index.
  void TruncateAndAppend(std::vector<Entry>&& entries);
  // Copies entries [lo, hi) into `out`: at most max_entries, at most max_bytes
  // of data but at least one.
  void AppendRange(uint64_t lo, uint64_t hi, uint64_t max_entries,
                   uint64_t max_bytes,
                   google::protobuf::RepeatedPtrField<Entry>* out) const;
  std::vector<Entry> Range(uint64_t lo, uint64_t hi, uint64_t max_bytes) const;

  // The caller installed a snapshot: the store now ends at the snapshot's
  // index; everything held in memory is dropped.
  void Restore();

  // Entries not yet handed to the caller for persistence (and marks them handed
  // out).
  std::vector<Entry> TakeUnhanded();
  bool HasUnhanded() const { return handed_ < LastIndex(); }
  // The caller made entries through (index, epoch) durable.
  void OnPersisted(uint64_t index, uint64_t epoch);
  // Highest index that is durable and agrees with this log.
  uint64_t persisted() const { return persisted_; }

 private:
  const Entry& Unstable(uint64_t index) const {
    return unstable_[index - offset_];
  }

  const LogStore* store_;
  std::deque<Entry> unstable_;  // unstable_[0] has index offset_
  uint64_t offset_;
  uint64_t handed_;     // entries through here were given out in Ready.entries
  uint64_t persisted_;  // durable and consistent with this log
};

}  // namespace report::consensus

#endif  // REPORT_REPLICA_CONSENSUS_RAFT_LOG_H_
