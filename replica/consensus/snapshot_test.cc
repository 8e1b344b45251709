// Snapshot transfer between a leader whose log was compacted and a follower
// that needs entries the leader no longer holds.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "replica/consensus/memory_log_store.h"
#include "replica/consensus/node.h"

namespace report::consensus {
namespace {

Entry E(uint64_t index, uint64_t epoch) {
  Entry e;
  e.set_index(index);
  e.set_epoch(epoch);
  e.set_data("entry-" + std::to_string(index));
  return e;
}

SnapshotMeta MetaFor(uint64_t index, uint64_t epoch, const std::string& data) {
  SnapshotMeta m;
  m.set_index(index);
  m.set_epoch(epoch);
  m.set_size(data.size());
  m.set_checksum(SnapshotChecksum(data));
  m.set_digest("digest-" + std::to_string(index));
  return m;
}

// One replica: a node over a MemoryLogStore, persisting each Ready at once,
// staging snapshot chunks and installing a complete snapshot after checking
// its checksum.
struct Rep {
  Rep(uint64_t id, uint64_t applied = 0, SnapshotMeta staged = SnapshotMeta(),
      std::string staged_bytes = "")
      : id(id),
        staged(std::move(staged)),
        staged_data(std::move(staged_bytes)) {
    this->applied = applied;
  }
  void Start() {
    Config c;
    c.id = id;
    c.voters = {1, 2};
    c.election_ticks = 10;
    c.seed = id;
    c.max_bytes_per_message = 100;
    c.max_inflight_messages = 2;
    c.hard_state = hard_state;
    c.applied = applied;
    c.staged_snapshot = staged;
    c.staged_bytes = staged_data.size();
    node = std::make_unique<Node>(c, &store);
  }
  std::vector<Message> Drain() {
    std::vector<Message> out;
    while (node->HasReady()) {
      Ready rd = node->TakeReady();
      if (rd.hard_state) hard_state = *rd.hard_state;
      if (!rd.entries.empty()) {
        store.Append(rd.entries);
        node->OnPersisted(rd.entries.back().index(), rd.entries.back().epoch());
      }
      for (SnapshotChunk& c : rd.snapshot_chunks) {
        if (c.offset == 0) {
          staged = c.meta;
          staged_data.clear();
        }
        EXPECT_EQ(c.offset, staged_data.size());
        staged_data += c.data;
        chunk_bytes += c.data.size();
      }
      if (rd.install_snapshot) {
        const SnapshotMeta meta = *rd.install_snapshot;
        if (SnapshotChecksum(staged_data) == meta.checksum()) {
          store.Restore(meta, staged_data);
          applied = meta.index();
          ++installs;
          node->OnSnapshotInstalled(meta);
        } else {
          ++rejections;
          node->OnSnapshotRejected(meta);
        }
        staged = SnapshotMeta();
        staged_data.clear();
      }
      for (const Entry& e : rd.committed) applied = e.index();
      for (Message& m : rd.messages) out.push_back(std::move(m));
      for (Message& m : rd.after_persist) out.push_back(std::move(m));
    }
    return out;
  }
  uint64_t id;
  MemoryLogStore store;
  HardState hard_state;
  uint64_t applied = 0;
  SnapshotMeta staged;
  std::string staged_data;
  std::unique_ptr<Node> node;
  uint64_t chunk_bytes = 0;
  int installs = 0;
  int rejections = 0;
};

// A leader (1) holding entries 1..40 of epoch 1, a snapshot at 30 and its log
// compacted through 30, and a follower (2) with an empty log.
struct Pair {
  Pair() : leader(1), follower(2) {
    std::vector<Entry> entries;
    for (uint64_t i = 1; i <= 40; ++i) entries.push_back(E(i, 1));
    leader.store.Append(entries);
    for (int i = 0; i < 450; ++i) data += static_cast<char>('a' + i % 26);
    meta = MetaFor(30, 1, data);
    leader.store.SetSnapshot(meta, data);
    leader.store.Compact(30);
    leader.hard_state.set_epoch(1);
    leader.hard_state.set_commit(40);
    leader.applied = 40;
    leader.Start();
    follower.Start();
    leader.node->Campaign();
  }
  Rep& rep(uint64_t id) { return id == 1 ? leader : follower; }
  // Delivers messages until none are left; `filter` may drop or change one.
  template <typename F>
  void Pump(F filter, int ticks = 0) {
    std::vector<Message> q = leader.Drain();
    for (Message& m : follower.Drain()) q.push_back(std::move(m));
    for (int round = 0; round < 10000 && (!q.empty() || ticks > 0); ++round) {
      if (q.empty()) {
        leader.node->Tick();
        follower.node->Tick();
        --ticks;
      }
      std::vector<Message> next;
      for (Message& m : q) {
        if (!filter(m)) continue;
        Rep& to = rep(m.to());
        to.node->Step(m);
        for (Message& out : to.Drain()) next.push_back(std::move(out));
      }
      for (Message& out : leader.Drain()) next.push_back(std::move(out));
      q.swap(next);
    }
  }
  void Pump() {
    Pump([](Message&) { return true; });
  }
  Rep leader, follower;
  std::string data;
  SnapshotMeta meta;
};

TEST(Snapshot, AFollowerBehindTheLeadersFirstIndexIsSentTheSnapshotInChunks) {
  Pair p;
  int chunks = 0;
  p.Pump([&](Message& m) {
    if (m.type() == MSG_SNAPSHOT) {
      ++chunks;
      EXPECT_LE(m.chunk().size(), 100u);
      EXPECT_EQ(m.snapshot().index(), 30u);
    }
    return true;
  });
  ASSERT_EQ(p.leader.node->role(), Role::kLeader);
  EXPECT_EQ(chunks, 5);  // 450 bytes in chunks of at most 100
  EXPECT_EQ(p.follower.installs, 1);
  EXPECT_EQ(p.follower.store.snapshot_data(), p.data);
  EXPECT_EQ(p.follower.store.FirstIndex(), 31u);
  // Then the log continues from the snapshot: 31..40 and the barrier.
  EXPECT_EQ(p.follower.store.LastIndex(), 41u);
  EXPECT_EQ(p.follower.applied, 41u);
  const auto progress = p.leader.node->progress();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].state, ProgressState::kReplicate);
  EXPECT_EQ(progress[0].match, 41u);
}

TEST(Snapshot, TheLeaderTracksAFollowerInSnapshotStateUntilItInstalled) {
  Pair p;
  // Every snapshot answer is lost: the follower holds chunks, the leader stays
  // in snapshot state.
  p.Pump([](Message& m) { return m.type() != MSG_SNAPSHOT_RESP; });
  const auto progress = p.leader.node->progress();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].state, ProgressState::kSnapshot);
  EXPECT_EQ(progress[0].snapshot_index, 30u);
  EXPECT_EQ(p.follower.installs, 0);
}

TEST(Snapshot, ALostChunkIsResentFromWhatTheFollowerHolds) {
  Pair p;
  bool dropped = false;
  p.Pump(
      [&](Message& m) {
        if (m.type() == MSG_SNAPSHOT && m.offset() == 200 && !dropped) {
          dropped = true;
          return false;
        }
        return true;
      },
      40);
  EXPECT_TRUE(dropped);
  EXPECT_EQ(p.follower.installs, 1);
  EXPECT_EQ(p.follower.store.snapshot_data(), p.data);
  // Resumed, not restarted: no byte was staged twice from offset 0.
  EXPECT_LT(p.follower.chunk_bytes, 2 * p.data.size());
  EXPECT_EQ(p.follower.applied, 41u);
}

TEST(Snapshot, AFollowerRestartedMidTransferResumesFromItsStagedBytes) {
  Pair p;
  // Deliver only the first two chunks, then the follower stops.
  int delivered = 0;
  p.Pump([&](Message& m) {
    if (m.type() == MSG_SNAPSHOT && m.to() == 2) return ++delivered <= 2;
    return true;
  });
  ASSERT_EQ(p.follower.staged_data.size(), 200u);
  p.follower.Start();  // same durable state: hard state, log, staged bytes
  uint64_t first_offset_after_restart = UINT64_MAX;
  p.Pump(
      [&](Message& m) {
        if (m.type() == MSG_SNAPSHOT &&
            first_offset_after_restart == UINT64_MAX)
          first_offset_after_restart = m.offset();
        return true;
      },
      40);
  EXPECT_EQ(p.follower.installs, 1);
  EXPECT_EQ(p.follower.store.snapshot_data(), p.data);
  EXPECT_EQ(p.follower.applied, 41u);
  EXPECT_GE(first_offset_after_restart, 200u);
}

TEST(Snapshot, ASnapshotThatFailsItsChecksumIsRefusedAndSentAgain) {
  Pair p;
  bool corrupted = false;
  p.Pump(
      [&](Message& m) {
        if (m.type() == MSG_SNAPSHOT && m.offset() == 100 && !corrupted) {
          corrupted = true;
          (*m.mutable_chunk())[3] ^= 0x20;
        }
        return true;
      },
      40);
  EXPECT_EQ(p.follower.rejections, 1);
  EXPECT_EQ(p.follower.installs, 1);
  EXPECT_EQ(p.follower.store.snapshot_data(), p.data);
  EXPECT_EQ(p.follower.applied, 41u);
}

TEST(Snapshot, AChunkFromADeposedLeaderIsFenced) {
  Rep f(2);
  f.hard_state.set_epoch(5);
  f.Start();
  Message m;
  m.set_type(MSG_SNAPSHOT);
  m.set_from(1);
  m.set_to(2);
  m.set_epoch(4);
  m.set_index(30);
  m.set_log_epoch(4);
  *m.mutable_snapshot() = MetaFor(30, 4, "abc");
  m.set_chunk("abc");
  f.node->Step(m);
  const auto out = f.Drain();
  EXPECT_TRUE(f.staged_data.empty());
  EXPECT_EQ(f.installs, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type(), MSG_APPEND_RESP);  // tells it the newer epoch
  EXPECT_EQ(out[0].epoch(), 5u);
}

TEST(Snapshot, AMalformedChunkIsDroppedAndCounted) {
  Rep f(2);
  f.Start();
  Message m;
  m.set_type(MSG_SNAPSHOT);
  m.set_from(1);
  m.set_to(2);
  m.set_epoch(1);
  m.set_index(30);
  m.set_log_epoch(1);
  *m.mutable_snapshot() = MetaFor(30, 1, "abc");
  m.set_offset(2);
  m.set_chunk("too long");  // runs past the snapshot's 3 bytes
  f.node->Step(m);
  EXPECT_EQ(f.node->malformed_messages(), 1u);
  EXPECT_TRUE(f.Drain().empty());
}

}  // namespace
}  // namespace report::consensus
