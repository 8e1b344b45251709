#include "replica/storage/snapshot_files.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"
#include "replica/storage/replica_store.h"

namespace report::storage {
namespace {

std::string FreshDir(const std::string& name) {
  static const ScopedTempDir base("snapshot_files_test");
  const std::string dir = base.path() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<ReplicaStore> OpenStore(const std::string& dir) {
  auto store = ReplicaStore::Open(dir, "cluster", 1);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Writes entries 1..last (epoch 2) and a state machine "applied" at `applied`
// with a few table rows, directly (as the writer and Apply would).
void Fill(ReplicaStore& store, uint64_t last, uint64_t applied) {
  leveldb::WriteBatch batch;
  LogSpan span;
  std::vector<consensus::Entry> entries;
  for (uint64_t i = 1; i <= last; ++i) {
    consensus::Entry& e = entries.emplace_back();
    e.set_index(i);
    e.set_epoch(2);
    e.set_data("entry-" + std::to_string(i));
    batch.Put(LogKey(i), e.SerializeAsString());
  }
  std::string value;
  AppendBigEndian64(&value, applied);
  value += std::string(32, '\x5a');
  batch.Put(std::string(kAppliedKey), value);
  for (int i = 0; i < 50; ++i) {
    batch.Put(std::string(kRequestPrefix) + "r" + std::to_string(i),
              std::string(100, static_cast<char>('a' + i % 26)));
  }
  ASSERT_TRUE(store.db()->Write(leveldb::WriteOptions(), &batch).ok());
  store.log().MarkDurable(LogSpan::Of(entries));
}

std::map<std::string, std::string> StateMachineKeys(leveldb::DB* db) {
  std::map<std::string, std::string> out;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator({}));
  for (it->Seek("sm/"); it->Valid() && it->key().starts_with("sm/");
       it->Next()) {
    out[it->key().ToString()] = it->value().ToString();
  }
  return out;
}

TEST(Snapshots, ASnapshotHoldsTheStateMachineAtItsAppliedIndex) {
  const std::string dir = FreshDir("create");
  auto store = OpenStore(dir);
  Fill(*store, 100, 90);
  auto meta = store->snapshots().Create(
      store->db(), [&](uint64_t i) { return store->log().EpochAt(i); });
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->index(), 90u);
  EXPECT_EQ(meta->epoch(), 2u);
  EXPECT_EQ(meta->digest(), HexDigest(std::string(32, '\x5a')));
  EXPECT_EQ(meta->size(),
            std::filesystem::file_size(store->snapshots().PathOf(*meta)));
  std::string chunk;
  ASSERT_TRUE(store->snapshots().Read(*meta, 0, 64, &chunk));
  EXPECT_EQ(chunk.size(), 64u);
}

TEST(Snapshots, CompactionKeepsTheTailAndRecoveryReadsOnlyIt) {
  const std::string dir = FreshDir("compact");
  {
    auto store = OpenStore(dir);
    Fill(*store, 100, 90);
    auto meta = store->snapshots().Create(
        store->db(), [&](uint64_t i) { return store->log().EpochAt(i); });
    ASSERT_TRUE(meta.ok());
    store->log().SetSnapshot(*meta);
    store->log().CompactThrough(80);
    EXPECT_EQ(store->log().FirstIndex(), 81u);
    EXPECT_EQ(store->log().EpochAt(80), 2u);
    EXPECT_EQ(store->log().EpochAt(79), 0u);
    // Killed before the keys are deleted: recovery ignores them.
  }
  {
    auto store = OpenStore(dir);
    EXPECT_EQ(store->log().FirstIndex(), 81u);
    EXPECT_EQ(store->log().LastIndex(), 100u);
    EXPECT_EQ(store->log().EpochAt(80), 2u);
    EXPECT_EQ(store->log().Snapshot().index(), 90u);
    EXPECT_EQ(store->log().Entries(81, 83, 1 << 20).size(), 2u);
    store->log().DeleteCompacted();
    std::unique_ptr<leveldb::Iterator> it(store->db()->NewIterator({}));
    it->Seek(std::string(kLogPrefix));
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(LogIndexOf(absl::string_view(it->key().data(), it->key().size())),
              81u);
    std::string chunk;
    EXPECT_TRUE(
        store->log().ReadSnapshot(store->log().Snapshot(), 0, 10, &chunk));
  }
}

TEST(Snapshots, AnInstalledSnapshotReplacesStateAndLogAtOnce) {
  const std::string from_dir = FreshDir("install-from");
  const std::string to_dir = FreshDir("install-to");
  auto from = OpenStore(from_dir);
  Fill(*from, 100, 90);
  auto meta = from->snapshots().Create(
      from->db(), [&](uint64_t i) { return from->log().EpochAt(i); });
  ASSERT_TRUE(meta.ok());
  auto to = OpenStore(to_dir);
  Fill(*to, 10, 10);
  leveldb::WriteBatch junk;
  junk.Put(std::string(kRequestPrefix) + "only-here", "x");
  ASSERT_TRUE(to->db()->Write({}, &junk).ok());
  // Transfer in chunks through the staging files.
  ASSERT_TRUE(to->snapshots().BeginStaging(*meta).ok());
  for (uint64_t off = 0; off < meta->size(); off += 1000) {
    std::string chunk;
    ASSERT_TRUE(from->snapshots().Read(*meta, off, 1000, &chunk));
    ASSERT_TRUE(to->snapshots().AppendStaged(chunk).ok());
  }
  uint64_t staged = 0;
  EXPECT_TRUE(consensus::SameSnapshot(to->snapshots().Staged(&staged), *meta));
  EXPECT_EQ(staged, meta->size());
  ASSERT_TRUE(to->snapshots().InstallStaged(to->db(), *meta).ok());
  EXPECT_EQ(StateMachineKeys(to->db()), StateMachineKeys(from->db()));
  to.reset();
  auto reopened = OpenStore(to_dir);
  EXPECT_EQ(reopened->log().FirstIndex(), 91u);
  EXPECT_EQ(reopened->log().LastIndex(), 90u);
  EXPECT_EQ(reopened->log().EpochAt(90), 2u);
  EXPECT_TRUE(consensus::SameSnapshot(reopened->log().Snapshot(), *meta));
  EXPECT_EQ(reopened->snapshots().Staged(&staged).index(), 0u);
}

TEST(Snapshots, ADamagedStagedSnapshotIsRefusedAndChangesNothing) {
  const std::string from_dir = FreshDir("damaged-from");
  const std::string to_dir = FreshDir("damaged-to");
  auto from = OpenStore(from_dir);
  Fill(*from, 100, 90);
  auto meta = from->snapshots().Create(
      from->db(), [&](uint64_t i) { return from->log().EpochAt(i); });
  ASSERT_TRUE(meta.ok());
  auto to = OpenStore(to_dir);
  Fill(*to, 10, 10);
  const auto before = StateMachineKeys(to->db());
  std::string all;
  ASSERT_TRUE(from->snapshots().Read(*meta, 0, meta->size(), &all));
  all[all.size() / 2] ^= 0x01;
  ASSERT_TRUE(to->snapshots().BeginStaging(*meta).ok());
  ASSERT_TRUE(to->snapshots().AppendStaged(all).ok());
  const absl::Status s = to->snapshots().InstallStaged(to->db(), *meta);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(StateMachineKeys(to->db()), before);
  EXPECT_EQ(to->log().LastIndex(), 10u);
}

}  // namespace
}  // namespace report::storage
