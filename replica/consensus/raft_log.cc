#include "replica/consensus/raft_log.h"

#include <algorithm>
#include <cstdlib>

namespace report::consensus {

RaftLog::RaftLog(const LogStore* store)
    : store_(store),
      offset_(store->LastIndex() + 1),
      handed_(store->LastIndex()),
      persisted_(store->LastIndex()) {}

uint64_t RaftLog::LastIndex() const {
  if (!unstable_.empty()) return offset_ + unstable_.size() - 1;
  return store_->LastIndex();
}

uint64_t RaftLog::EpochAt(uint64_t index) const {
  if (index == 0) return 0;
  if (!unstable_.empty() && index >= offset_) {
    if (index - offset_ >= unstable_.size()) return 0;
    return Unstable(index).epoch();
  }
  if (index + 1 < store_->FirstIndex() || index > store_->LastIndex()) return 0;
  return store_->EpochAt(index);
}

bool RaftLog::IsUpToDate(uint64_t last_epoch, uint64_t last_index) const {
  const uint64_t my_epoch = LastEpoch();
  return last_epoch > my_epoch ||
         (last_epoch == my_epoch && last_index >= LastIndex());
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByEpoch(
    uint64_t index, uint64_t epoch) const {
  index = std::min(index, LastIndex());
  // Below the first held entry lies the snapshot: committed, so agreed.
  const uint64_t floor = store_->FirstIndex() - 1;
  for (;; --index) {
    const uint64_t e = EpochAt(index);
    if (e <= epoch || index <= floor) return {index, e};
  }
}

void RaftLog::Restore() {
  unstable_.clear();
  offset_ = store_->LastIndex() + 1;
  handed_ = store_->LastIndex();
  persisted_ = store_->LastIndex();
}

void RaftLog::TruncateAndAppend(std::vector<Entry>&& entries) {
  if (entries.empty()) return;
  const uint64_t first = entries.front().index();
  if (first == 0 || first > LastIndex() + 1) std::abort();  // a gap: core bug
  if (unstable_.empty() || first <= offset_) {
    unstable_.clear();
    offset_ = first;
  } else {
    unstable_.resize(first - offset_);
  }
  for (Entry& e : entries) unstable_.push_back(std::move(e));
  handed_ = std::min(handed_, first - 1);
  persisted_ = std::min(persisted_, first - 1);
}

void RaftLog::AppendRange(
    uint64_t lo, uint64_t hi, uint64_t max_entries, uint64_t max_bytes,
    google::protobuf::RepeatedPtrField<Entry>* out) const {
  hi = std::min({hi, LastIndex() + 1, lo + std::max<uint64_t>(max_entries, 1)});
  if (lo >= hi) return;
  uint64_t bytes = 0;
  uint64_t i = lo;
  const uint64_t stable_end = unstable_.empty() ? hi : std::min(hi, offset_);
  if (i < stable_end) {
    for (Entry& e : store_->Entries(i, stable_end, max_bytes)) {
      bytes += e.data().size();
      *out->Add() = std::move(e);
      ++i;
    }
    if (i < stable_end) return;  // byte limit reached inside the store
  }
  for (; i < hi; ++i) {
    const Entry& e = Unstable(i);
    bytes += e.data().size();
    if (out->size() > 0 && bytes > max_bytes) break;
    *out->Add() = e;
  }
}

std::vector<Entry> RaftLog::Range(uint64_t lo, uint64_t hi,
                                  uint64_t max_bytes) const {
  google::protobuf::RepeatedPtrField<Entry> field;
  AppendRange(lo, hi, hi - lo, max_bytes, &field);
  std::vector<Entry> out;
  out.reserve(field.size());
  for (Entry& e : field) out.push_back(std::move(e));
  return out;
}

std::vector<Entry> RaftLog::TakeUnhanded() {
  std::vector<Entry> out;
  const uint64_t last = LastIndex();
  if (handed_ >= last) return out;
  // Everything not yet handed out lies in the unstable tail (the store only
  // holds what the caller was given).
  uint64_t i = std::max(handed_ + 1, offset_);
  out.reserve(last - i + 1);
  for (; i <= last; ++i) out.push_back(Unstable(i));
  handed_ = last;
  return out;
}

void RaftLog::OnPersisted(uint64_t index, uint64_t epoch) {
  // A stale confirmation (for entries since replaced) must not count: the
  // (index, epoch) pair identifies an entry, so it has to match what the log
  // holds now.
  if (!Matches(index, epoch) || index > handed_) return;
  persisted_ = std::max(persisted_, index);
  if (!unstable_.empty() && index >= offset_) {
    unstable_.erase(unstable_.begin(),
                    unstable_.begin() + (index - offset_ + 1));
    offset_ = index + 1;
  }
}

}  // namespace report::consensus
