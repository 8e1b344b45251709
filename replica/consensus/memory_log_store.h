// An in-memory LogStore: what tests and consensus-sim use as "the durable log".
// The owner applies a Ready's entries with Append() at the moment they count as
// durable, then calls Node::OnPersisted().
#ifndef REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_
#define REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_

#include <cstdint>
#include <vector>

#include "replica/consensus/node.h"

namespace report::consensus {

class MemoryLogStore : public LogStore {
 public:
  uint64_t FirstIndex() const override { return 1; }
  uint64_t LastIndex() const override { return entries_.size(); }
  uint64_t EpochAt(uint64_t index) const override;
  std::vector<Entry> Entries(uint64_t lo, uint64_t hi,
                             uint64_t max_bytes) const override;

  // Appends per the Ready contract: the first entry's index may be <=
  // LastIndex()+1, and then replaces that entry and everything after it.
  void Append(const std::vector<Entry>& entries);
  const Entry& At(uint64_t index) const { return entries_[index - 1]; }

 private:
  std::vector<Entry> entries_;  // entries_[i] has index i+1
};

}  // namespace report::consensus

#endif  // REPORT_REPLICA_CONSENSUS_MEMORY_LOG_STORE_H_
