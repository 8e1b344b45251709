#include "replica/consensus/raft_log.h"

#include <gtest/gtest.h>

#include "replica/consensus/memory_log_store.h"

namespace report::consensus {
namespace {

Entry E(uint64_t index, uint64_t epoch) {
  Entry e;
  e.set_index(index);
  e.set_epoch(epoch);
  return e;
}

std::vector<Entry> Es(
    std::initializer_list<std::pair<uint64_t, uint64_t>> list) {
  std::vector<Entry> out;
  for (auto [i, e] : list) out.push_back(E(i, e));
  return out;
}

TEST(RaftLogTest, ReadsUnstableEntriesFromTheBufferAndDurableOnesFromTheStore) {
  MemoryLogStore store;
  store.Append(Es({{1, 1}, {2, 1}}));
  RaftLog log(&store);
  log.TruncateAndAppend(Es({{3, 2}}));
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(log.EpochAt(2), 1u);
  EXPECT_EQ(log.EpochAt(3), 2u);
  EXPECT_EQ(log.persisted(), 2u);
  auto range = log.Range(1, 4, 1 << 20);
  ASSERT_EQ(range.size(), 3u);
  EXPECT_EQ(range[2].epoch(), 2u);
}

TEST(RaftLogTest, TruncationShadowsTheDurableSuffixUntilOverwritten) {
  MemoryLogStore store;
  store.Append(Es({{1, 1}, {2, 1}, {3, 1}}));
  RaftLog log(&store);
  log.TruncateAndAppend(Es({{2, 2}}));
  EXPECT_EQ(log.LastIndex(), 2u);
  EXPECT_EQ(log.EpochAt(2), 2u);
  EXPECT_EQ(log.EpochAt(3), 0u);
  EXPECT_EQ(log.persisted(), 1u);
  auto unhanded = log.TakeUnhanded();
  ASSERT_EQ(unhanded.size(), 1u);
  EXPECT_EQ(unhanded[0].index(), 2u);
  store.Append(unhanded);
  log.OnPersisted(2, 2);
  EXPECT_EQ(log.persisted(), 2u);
  EXPECT_EQ(log.EpochAt(2), 2u);
}

TEST(RaftLogTest, StaleOnPersistedForReplacedEntriesIsIgnored) {
  MemoryLogStore store;
  RaftLog log(&store);
  log.TruncateAndAppend(Es({{1, 1}, {2, 1}}));
  auto first_write = log.TakeUnhanded();
  log.TruncateAndAppend(Es({{2, 2}}));
  auto second_write = log.TakeUnhanded();
  store.Append(first_write);
  log.OnPersisted(2, 1);  // entry 2 is epoch 2 now
  EXPECT_EQ(log.persisted(), 0u);
  EXPECT_EQ(log.EpochAt(2), 2u);
  store.Append(second_write);
  log.OnPersisted(2, 2);
  EXPECT_EQ(log.persisted(), 2u);
}

TEST(RaftLogTest,
     FindConflictByEpochReturnsLastIndexWithEpochAtMostTheGivenOne) {
  MemoryLogStore store;
  store.Append(Es({{1, 1}, {2, 1}, {3, 3}, {4, 3}, {5, 5}}));
  RaftLog log(&store);
  EXPECT_EQ(log.FindConflictByEpoch(5, 4),
            (std::pair<uint64_t, uint64_t>{4, 3}));
  EXPECT_EQ(log.FindConflictByEpoch(5, 2),
            (std::pair<uint64_t, uint64_t>{2, 1}));
  EXPECT_EQ(log.FindConflictByEpoch(9, 9),
            (std::pair<uint64_t, uint64_t>{5, 5}));
  EXPECT_EQ(log.FindConflictByEpoch(5, 0),
            (std::pair<uint64_t, uint64_t>{0, 0}));
}

TEST(RaftLogTest, EntriesAreHandedOutForPersistenceOnce) {
  MemoryLogStore store;
  RaftLog log(&store);
  log.TruncateAndAppend(Es({{1, 1}}));
  EXPECT_EQ(log.TakeUnhanded().size(), 1u);
  EXPECT_TRUE(log.TakeUnhanded().empty());
  log.TruncateAndAppend(Es({{2, 1}}));
  auto next = log.TakeUnhanded();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].index(), 2u);
}

}  // namespace
}  // namespace report::consensus
