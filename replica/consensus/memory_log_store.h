// An in-memory LogStore: what tests and consensus-sim use as "the durable log".
// The owner applies a Ready's entries with Append() at the moment they count as
// durable, then calls Node::OnPersisted(). It also holds the owner's snapshots
// (the newest and the one before, so a transfer in progress survives one new
// snapshot) and can drop entries a snapshot covers.
#ifndef REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_
#define REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "replica/consensus/node.h"

namespace report::consensus {

class MemoryLogStore : public LogStore {
 public:
  uint64_t FirstIndex() const override { return first_; }
  uint64_t LastIndex() const override { return first_ + entries_.size() - 1; }
  uint64_t EpochAt(uint64_t index) const override;
  std::vector<Entry> Entries(uint64_t lo, uint64_t hi,
                             uint64_t max_bytes) const override;
  SnapshotMeta Snapshot() const override { return snapshot_; }
  bool ReadSnapshot(const SnapshotMeta& meta, uint64_t offset,
                    uint64_t max_bytes, std::string* out) const override;

  // Appends per the Ready contract: the first entry's index may be <=
  // LastIndex()+1 (but not below FirstIndex()), and then replaces that entry
  // and everything after it.
  void Append(const std::vector<Entry>& entries);
  const Entry& At(uint64_t index) const { return entries_[index - first_]; }

  // Keeps `data` as the newest snapshot.
  void SetSnapshot(const SnapshotMeta& meta, std::string data);
  // Drops entries through `index` (no-op below FirstIndex(), clamped to the
  // last index); the epoch at `index` stays known.
  void Compact(uint64_t index);
  // Replaces the whole log by a snapshot: the log ends at its index.
  void Restore(const SnapshotMeta& meta, std::string data);
  const std::string& snapshot_data() const { return data_; }

 private:
  std::deque<Entry> entries_;  // entries_[i] has index first_+i
  uint64_t first_ = 1;
  uint64_t prev_epoch_ = 0;  // epoch at first_-1
  SnapshotMeta snapshot_;
  std::string data_;
  SnapshotMeta previous_;
  std::string previous_data_;
};

}  // namespace report::consensus

#endif  // REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_
