#include "replica/consensus/memory_log_store.h"

#include <algorithm>
#include <cstdlib>

namespace report::consensus {

uint64_t MemoryLogStore::EpochAt(uint64_t index) const {
  if (index == 0) return 0;
  if (index + 1 == first_) return prev_epoch_;
  if (index < first_ || index > LastIndex()) return 0;
  return entries_[index - first_].epoch();
}

std::vector<Entry> MemoryLogStore::Entries(uint64_t lo, uint64_t hi,
                                           uint64_t max_bytes) const {
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = std::max(lo, first_); i < hi && i <= LastIndex(); ++i) {
    const Entry& e = entries_[i - first_];
    bytes += e.data().size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

bool MemoryLogStore::ReadSnapshot(const SnapshotMeta& meta, uint64_t offset,
                                  uint64_t max_bytes, std::string* out) const {
  const std::string* data = nullptr;
  if (snapshot_.index() != 0 && SameSnapshot(meta, snapshot_)) {
    data = &data_;
  } else if (previous_.index() != 0 && SameSnapshot(meta, previous_)) {
    data = &previous_data_;
  }
  if (data == nullptr || offset > data->size()) return false;
  *out = data->substr(offset, std::max<uint64_t>(max_bytes, 1));
  return true;
}

void MemoryLogStore::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const uint64_t first = entries.front().index();
  if (first < first_ || first > LastIndex() + 1) {
    std::abort();  // a gap, or a rewrite of compacted entries: caller bug
  }
  entries_.resize(first - first_);
  entries_.insert(entries_.end(), entries.begin(), entries.end());
}

void MemoryLogStore::SetSnapshot(const SnapshotMeta& meta, std::string data) {
  previous_ = std::move(snapshot_);
  previous_data_ = std::move(data_);
  snapshot_ = meta;
  data_ = std::move(data);
}

void MemoryLogStore::Compact(uint64_t index) {
  index = std::min(index, LastIndex());
  if (index < first_) return;
  prev_epoch_ = EpochAt(index);
  entries_.erase(entries_.begin(), entries_.begin() + (index - first_ + 1));
  first_ = index + 1;
}

void MemoryLogStore::Restore(const SnapshotMeta& meta, std::string data) {
  entries_.clear();
  first_ = meta.index() + 1;
  prev_epoch_ = meta.epoch();
  SetSnapshot(meta, std::move(data));
}

}  // namespace report::consensus
