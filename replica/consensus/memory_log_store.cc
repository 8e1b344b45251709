#include "replica/consensus/memory_log_store.h"

#include <cstdlib>

namespace report::consensus {

uint64_t MemoryLogStore::EpochAt(uint64_t index) const {
  if (index == 0 || index > entries_.size()) return 0;
  return entries_[index - 1].epoch();
}

std::vector<Entry> MemoryLogStore::Entries(uint64_t lo, uint64_t hi,
                                           uint64_t max_bytes) const {
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi && i <= entries_.size(); ++i) {
    const Entry& e = entries_[i - 1];
    bytes += e.data().size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void MemoryLogStore::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const uint64_t first = entries.front().index();
  if (first == 0 || first > entries_.size() + 1)
    std::abort();  // a gap: caller bug
  entries_.resize(first - 1);
  entries_.insert(entries_.end(), entries.begin(), entries.end());
}

}  // namespace report::consensus
