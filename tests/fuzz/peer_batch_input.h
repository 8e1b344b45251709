// The input language of peer_batch_fuzz, shared with fuzz_seed_writer so that
// seeds recorded from a simulated cluster replay the same way in the fuzzer.
//
// An input is one configuration byte, then records. A record is an op byte and,
// for ops that carry bytes, a two-byte little-endian length and that many
// bytes (cut short at the end of the input):
//   kOpBatch     bytes: a MessageBatch, as a peer's stream frame carries it;
//                every message is stepped, whatever its from/to say
//   kOpTick      one byte: 1 + (b % 32) ticks
//   kOpPropose   bytes: one entry's data (proposed only when leader)
//   kOpReadIndex bytes: the read context
//   kOpCampaign  nothing
//   kOpDefer     nothing: from now on Readys are taken but not persisted ...
//   kOpFlush     nothing: ... until this persists them all, in order
// Any other op value is taken modulo the op count. After every op the replica
// under test drains its Readys (persisting them unless deferred).
#ifndef REPORT_TESTS_FUZZ_PEER_BATCH_INPUT_H_
#define REPORT_TESTS_FUZZ_PEER_BATCH_INPUT_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "replica/consensus/memory_log_store.h"
#include "replica/consensus/node.h"

namespace report::fuzz {

enum PeerBatchOp : uint8_t {
  kOpBatch = 0,
  kOpTick = 1,
  kOpPropose = 2,
  kOpReadIndex = 3,
  kOpCampaign = 4,
  kOpDefer = 5,
  kOpFlush = 6,
  kOpCount = 7,
};

inline bool OpHasBytes(uint8_t op) {
  return op == kOpBatch || op == kOpPropose || op == kOpReadIndex;
}

// Configuration byte: bit 0 five voters (else three), bit 1 pre-vote, bit 2
// check-quorum, bit 3 commit quorum 4 (five voters only), bit 4 a durable log
// of three epoch-1 entries (two committed) recovered at start.
inline consensus::Config ConfigFor(uint8_t bits) {
  consensus::Config config;
  config.id = 1;
  config.voters = (bits & 1) ? std::vector<uint64_t>{1, 2, 3, 4, 5}
                             : std::vector<uint64_t>{1, 2, 3};
  config.pre_vote = (bits & 2) != 0;
  config.check_quorum = (bits & 4) != 0;
  config.commit_quorum = ((bits & 1) && (bits & 8)) ? 4 : 0;
  config.election_ticks = 10;
  config.heartbeat_ticks = 1;
  config.max_entries_per_message = 8;
  config.max_inflight_messages = 4;
  config.seed = 7;
  if (bits & 16) {
    config.hard_state.set_epoch(1);
    config.hard_state.set_commit(2);
  }
  return config;
}

inline std::vector<consensus::Entry> RecoveredLog(uint8_t bits) {
  std::vector<consensus::Entry> log;
  if (!(bits & 16)) return log;
  for (uint64_t i = 1; i <= 3; ++i) {
    consensus::Entry e;
    e.set_index(i);
    e.set_epoch(1);
    e.set_data("recovered-" + std::to_string(i));
    log.push_back(e);
  }
  return log;
}

// Appends one record to an input being written.
inline void AppendRecord(std::string* input, uint8_t op,
                         const std::string& bytes = "") {
  input->push_back(static_cast<char>(op));
  if (op == kOpTick) {
    input->push_back(static_cast<char>(bytes.empty() ? 0 : bytes[0]));
  } else if (OpHasBytes(op)) {
    input->push_back(static_cast<char>(bytes.size() & 0xff));
    input->push_back(static_cast<char>((bytes.size() >> 8) & 0xff));
    input->append(bytes);
  }
}

// Node 1 over an in-memory durable log, persisting by the Ready contract and
// checking what it can see of the core's promises to a single replica, which
// hold whatever its peers send:
//   - the hard state's epoch never goes down, and its vote never changes within
//     an epoch;
//   - the commit index never goes down;
//   - committed entries come in index order, each once, and are exactly the
//     entries already durable at their index;
//   - no durable entry at or below the commit index is ever replaced;
//   - every message it sends is from itself to another voter.
// A broken promise aborts: that is a bug in the core, not bad input.
class ReplicaUnderTest {
 public:
  explicit ReplicaUnderTest(uint8_t config_bits)
      : config_(ConfigFor(config_bits)) {
    store_.Append(RecoveredLog(config_bits));
    hard_state_ = config_.hard_state;
    node_ = std::make_unique<consensus::Node>(config_, &store_);
  }

  consensus::Node& node() { return *node_; }
  const consensus::Config& config() const { return config_; }

  void set_deferred(bool deferred) { deferred_ = deferred; }

  // Takes every Ready; persists it at once unless deferred. Returns the
  // messages to send (after persisting, for after_persist ones).
  std::vector<consensus::Message> Drain() {
    std::vector<consensus::Message> out;
    for (int rounds = 0; node_->HasReady(); ++rounds) {
      if (rounds > 10000) Fail("HasReady never clears");
      consensus::Ready ready = node_->TakeReady();
      CheckReady(ready);
      for (consensus::Message& m : ready.messages) out.push_back(std::move(m));
      pending_.push_back(std::move(ready));
      if (!deferred_) Flush(&out);
    }
    CheckNode();
    return out;
  }

  // Persists every pending Ready, in order.
  void Flush(std::vector<consensus::Message>* out) {
    while (!pending_.empty()) {
      consensus::Ready ready = std::move(pending_.front());
      pending_.pop_front();
      if (ready.hard_state) Persist(*ready.hard_state);
      if (!ready.entries.empty()) {
        const uint64_t first = ready.entries.front().index();
        if (first == 0 || first > store_.LastIndex() + 1) {
          Fail("entries leave a gap in the log");
        }
        for (const consensus::Entry& e : ready.entries) {
          if (e.index() <= applied_ && e.index() <= store_.LastIndex()) {
            const consensus::Entry& old = store_.At(e.index());
            if (old.epoch() != e.epoch() || old.data() != e.data()) {
              Fail("a committed entry is rewritten");
            }
          }
        }
        store_.Append(ready.entries);
        node_->OnPersisted(ready.entries.back().index(),
                           ready.entries.back().epoch());
      }
      for (consensus::Message& m : ready.after_persist) {
        out->push_back(std::move(m));
      }
    }
  }

  [[noreturn]] static void Fail(const char* what) {
    std::fprintf(stderr, "consensus core broke a promise: %s\n", what);
    std::abort();
  }

 private:
  void Persist(const consensus::HardState& hs) {
    if (hs.epoch() < hard_state_.epoch()) Fail("hard state epoch went down");
    if (hs.epoch() == hard_state_.epoch() && hard_state_.vote() != 0 &&
        hs.vote() != hard_state_.vote()) {
      Fail("vote changed within an epoch");
    }
    if (hs.commit() < hard_state_.commit()) Fail("durable commit went down");
    hard_state_ = hs;
  }

  void CheckReady(const consensus::Ready& ready) {
    for (const consensus::Entry& e : ready.committed) {
      if (e.index() != applied_ + 1) Fail("committed entries out of order");
      if (e.index() > store_.LastIndex()) Fail("committed entry not durable");
      const consensus::Entry& durable = store_.At(e.index());
      if (durable.epoch() != e.epoch() || durable.data() != e.data() ||
          durable.type() != e.type()) {
        Fail("committed entry differs from the durable one");
      }
      applied_ = e.index();
    }
    auto check_message = [this](const consensus::Message& m) {
      if (m.from() != config_.id) Fail("message not from this replica");
      bool voter = false;
      for (uint64_t id : config_.voters) voter |= (id == m.to());
      if (!voter || m.to() == config_.id) Fail("message to a non-peer");
    };
    for (const consensus::Message& m : ready.messages) check_message(m);
    for (const consensus::Message& m : ready.after_persist) check_message(m);
  }

  void CheckNode() {
    if (node_->commit_index() < commit_) Fail("commit index went down");
    commit_ = node_->commit_index();
    if (node_->epoch() > consensus::kMaxEpoch) Fail("epoch past the limit");
    if (node_->role() == consensus::Role::kLeader &&
        node_->leader() != config_.id) {
      Fail("a leader that names another leader");
    }
  }

  consensus::Config config_;
  consensus::MemoryLogStore store_;
  consensus::HardState hard_state_;
  std::unique_ptr<consensus::Node> node_;
  std::deque<consensus::Ready> pending_;
  bool deferred_ = false;
  uint64_t applied_ = 0;
  uint64_t commit_ = 0;
};

}  // namespace report::fuzz

#endif  // REPORT_TESTS_FUZZ_PEER_BATCH_INPUT_H_
