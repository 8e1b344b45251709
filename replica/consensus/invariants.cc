#include "replica/consensus/invariants.h"

namespace report::consensus {

namespace {
std::string N(uint64_t v) { return std::to_string(v); }
}  // namespace

uint64_t InvariantChecker::Fingerprint(const Entry& entry) {
  // FNV-1a: stable across builds and runs (std::hash is not promised to be).
  uint64_t h = 0xcbf29ce484222325ULL ^ static_cast<uint64_t>(entry.type());
  for (unsigned char c : entry.data()) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t InvariantChecker::MixDigest(uint64_t digest, uint64_t fingerprint) {
  uint64_t z = digest ^ (fingerprint + 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void InvariantChecker::Fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

void InvariantChecker::ObserveLeader(uint64_t node, uint64_t epoch) {
  auto [it, inserted] = leader_of_epoch_.emplace(epoch, node);
  if (!inserted && it->second != node) {
    Fail("election safety: nodes " + N(it->second) + " and " + N(node) +
         " both leader in epoch " + N(epoch));
  }
}

void InvariantChecker::ObserveAppend(uint64_t node, const Entry& entry,
                                     uint64_t prev_epoch) {
  const EntryShape shape{prev_epoch, Fingerprint(entry)};
  auto [it, inserted] =
      entries_.emplace(std::make_pair(entry.index(), entry.epoch()), shape);
  if (inserted) return;
  if (it->second.prev_epoch != prev_epoch ||
      it->second.fingerprint != shape.fingerprint) {
    Fail("log matching: node " + N(node) +
         " holds a different entry (or predecessor) at index " +
         N(entry.index()) + " epoch " + N(entry.epoch()));
  }
}

void InvariantChecker::ObserveLeaderLog(
    uint64_t node, uint64_t epoch, uint64_t last_index,
    const std::function<uint64_t(uint64_t)>& epoch_at) {
  if (last_index < applied_.size()) {
    Fail("leader completeness: leader " + N(node) + " of epoch " + N(epoch) +
         " has last index " + N(last_index) + " below committed index " +
         N(applied_.size()));
    return;
  }
  // By log matching it suffices that the last committed entry is present.
  if (applied_.empty()) return;
  const uint64_t last = applied_.size();
  if (epoch_at(last) != applied_[last - 1].first) {
    Fail("leader completeness: leader " + N(node) + " of epoch " + N(epoch) +
         " lacks committed entry " + N(last) + " (epoch " +
         N(applied_[last - 1].first) + ", has " + N(epoch_at(last)) + ")");
  }
}

void InvariantChecker::ObserveCommitIndex(uint64_t node, uint64_t incarnation,
                                          uint64_t commit) {
  auto [it, inserted] =
      commit_of_node_.emplace(node, std::make_pair(incarnation, commit));
  if (inserted) return;
  if (it->second.first == incarnation && commit < it->second.second) {
    Fail("commit monotonicity: node " + N(node) + " commit went from " +
         N(it->second.second) + " to " + N(commit));
  }
  it->second = {incarnation, commit};
}

void InvariantChecker::ObserveApply(uint64_t node, uint64_t applied_before,
                                    const Entry& entry) {
  const uint64_t index = entry.index();
  if (index != applied_before + 1) {
    Fail("apply order: node " + N(node) + " applied index " + N(index) +
         " after " + N(applied_before));
    return;
  }
  const std::pair<uint64_t, uint64_t> seen{entry.epoch(), Fingerprint(entry)};
  if (index > applied_.size() + 1) {
    // Cannot happen when index == applied_before + 1 and applied_before was
    // checked.
    Fail("apply order: gap in the global applied history at " + N(index));
    return;
  }
  if (index == applied_.size() + 1) {
    applied_.push_back(seen);
    digests_.push_back(
        MixDigest(digests_.empty() ? 0 : digests_.back(), seen.second));
    return;
  }
  if (applied_[index - 1] != seen) {
    Fail("state-machine safety: node " + N(node) + " applied epoch " +
         N(entry.epoch()) + " at index " + N(index) +
         " where another node applied epoch " + N(applied_[index - 1].first) +
         " (or another payload)");
  }
}

std::pair<uint64_t, uint64_t> InvariantChecker::AppliedAt(
    uint64_t index) const {
  if (index == 0 || index > applied_.size()) return {0, 0};
  return applied_[index - 1];
}

}  // namespace report::consensus
