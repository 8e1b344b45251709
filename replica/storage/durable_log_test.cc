#include "replica/storage/durable_log.h"

#include <filesystem>
#include <string>
#include <vector>

#include "common/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"
#include "replica/storage/log_writer.h"
#include "replica/storage/replica_store.h"
#include "replica/storage/test_waiting.h"

namespace report::storage {
namespace {

std::string FreshDir(const std::string& name) {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("durable_log_test");
  const std::string dir = base.path() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<ReplicaStore> OpenStore(const std::string& dir) {
  auto store = ReplicaStore::Open(dir, "cluster", 1);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::vector<consensus::Entry> MakeEntries(uint64_t first, uint64_t last,
                                          uint64_t epoch) {
  std::vector<consensus::Entry> entries;
  for (uint64_t index = first; index <= last; ++index) {
    consensus::Entry& entry = entries.emplace_back();
    entry.set_index(index);
    entry.set_epoch(epoch);
    entry.set_data("payload-" + std::to_string(index) + "-" +
                   std::to_string(epoch));
  }
  return entries;
}

// What the driver does: enqueue, wait until durable, then publish the new
// bounds.
void AppendDurably(LogWriter& writer, DurableLog& log,
                   std::vector<consensus::Entry> entries) {
  const LogSpan span = LogSpan::Of(entries);
  EventCounter durable;
  writer.Enqueue(std::move(entries), std::nullopt,
                 [&durable] { durable.Add(); });
  ASSERT_TRUE(durable.WaitFor(1));
  log.MarkDurable(span);
}

TEST(DurableLogTest, AppendedEntriesReadBack) {
  auto store = OpenStore(FreshDir("append"));
  LogWriter writer(store.get());
  DurableLog& log = store->log();
  AppendDurably(writer, log, MakeEntries(1, 3, 1));
  AppendDurably(writer, log, MakeEntries(4, 6, 2));
  EXPECT_EQ(log.LastIndex(), 6u);
  EXPECT_EQ(log.EpochAt(0), 0u);
  EXPECT_EQ(log.EpochAt(3), 1u);
  EXPECT_EQ(log.EpochAt(4), 2u);
  EXPECT_EQ(log.EpochAt(6), 2u);
  EXPECT_EQ(log.EpochAt(7), 0u);
  const std::vector<consensus::Entry> entries = log.Entries(2, 6, 1 << 20);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].index(), 2u);
  EXPECT_EQ(entries[3].index(), 5u);
  EXPECT_EQ(entries[3].data(), "payload-5-2");
}

TEST(DurableLogTest, EntriesRespectsMaxBytesButReturnsAtLeastOne) {
  auto store = OpenStore(FreshDir("max_bytes"));
  LogWriter writer(store.get());
  AppendDurably(writer, store->log(), MakeEntries(1, 10, 1));
  EXPECT_EQ(store->log().Entries(1, 11, 0).size(), 1u);
  const uint64_t one = MakeEntries(1, 1, 1)[0].ByteSizeLong();
  EXPECT_EQ(store->log().Entries(1, 11, 3 * one).size(), 3u);
}

TEST(DurableLogTest, BoundsMoveOnlyWhenMarkedDurable) {
  auto store = OpenStore(FreshDir("bounds"));
  LogWriter writer(store.get());
  std::vector<consensus::Entry> entries = MakeEntries(1, 5, 1);
  const LogSpan span = LogSpan::Of(entries);
  EventCounter durable;
  writer.Enqueue(std::move(entries), std::nullopt,
                 [&durable] { durable.Add(); });
  ASSERT_TRUE(durable.WaitFor(1));
  EXPECT_EQ(store->log().LastIndex(), 0u);
  EXPECT_EQ(store->log().EpochAt(1), 0u);
  store->log().MarkDurable(span);
  EXPECT_EQ(store->log().LastIndex(), 5u);
  EXPECT_EQ(store->log().EpochAt(1), 1u);
}

TEST(DurableLogTest, AppendBelowTheLastIndexReplacesTheSuffix) {
  const std::string dir = FreshDir("truncate");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    DurableLog& log = store->log();
    AppendDurably(writer, log, MakeEntries(1, 4, 1));
    AppendDurably(writer, log, MakeEntries(5, 10, 2));
    AppendDurably(writer, log, MakeEntries(4, 6, 3));
    EXPECT_EQ(log.LastIndex(), 6u);
    EXPECT_EQ(log.EpochAt(3), 1u);
    EXPECT_EQ(log.EpochAt(4), 3u);
    EXPECT_EQ(log.EpochAt(6), 3u);
    EXPECT_EQ(log.EpochAt(7), 0u);
    // Epoch 2 was entirely replaced.
    EXPECT_EQ(log.epoch_run_count(), 2u);
    EXPECT_EQ(log.Entries(5, 6, 1 << 20)[0].data(), "payload-5-3");
  }
  auto store = OpenStore(dir);
  EXPECT_EQ(store->log().LastIndex(), 6u);
  EXPECT_EQ(store->log().EpochAt(5), 3u);
  std::string value;
  EXPECT_TRUE(
      store->db()->Get(leveldb::ReadOptions(), LogKey(7), &value).IsNotFound());
  EXPECT_TRUE(store->db()
                  ->Get(leveldb::ReadOptions(), LogKey(10), &value)
                  .IsNotFound());
}

TEST(DurableLogTest, EpochRunsStayFewForManyEntries) {
  auto store = OpenStore(FreshDir("runs"));
  LogWriter writer(store.get());
  AppendDurably(writer, store->log(), MakeEntries(1, 3000, 1));
  AppendDurably(writer, store->log(), MakeEntries(3001, 6000, 2));
  AppendDurably(writer, store->log(), MakeEntries(6001, 9000, 2));
  EXPECT_EQ(store->log().epoch_run_count(), 2u);
  EXPECT_EQ(store->log().EpochAt(3000), 1u);
  EXPECT_EQ(store->log().EpochAt(3001), 2u);
  EXPECT_EQ(store->log().EpochAt(9000), 2u);
}

TEST(DurableLogTest, ReopenRecoversEntriesAndEpochs) {
  const std::string dir = FreshDir("reopen");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    AppendDurably(writer, store->log(), MakeEntries(1, 7, 1));
    AppendDurably(writer, store->log(), MakeEntries(8, 9, 4));
  }
  auto store = OpenStore(dir);
  const DurableLog& log = store->log();
  EXPECT_EQ(log.LastIndex(), 9u);
  EXPECT_EQ(log.EpochAt(7), 1u);
  EXPECT_EQ(log.EpochAt(8), 4u);
  EXPECT_EQ(log.epoch_run_count(), 2u);
  ASSERT_EQ(log.Entries(1, 10, 1 << 20).size(), 9u);
}

// Writes `value` at log key `index` behind the writer's back, as damage would.
void Corrupt(const std::string& dir, uint64_t index, const std::string& value) {
  auto store = OpenStore(dir);
  ASSERT_TRUE(
      store->db()->Put(leveldb::WriteOptions(), LogKey(index), value).ok());
}

TEST(DurableLogTest, RecoveryTruncatesAnUnparsableTail) {
  const std::string dir = FreshDir("damaged");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    AppendDurably(writer, store->log(), MakeEntries(1, 10, 1));
  }
  Corrupt(dir, 6, "\xff\xff\xff garbage");
  auto store = OpenStore(dir);
  EXPECT_EQ(store->log().LastIndex(), 5u);
  std::string value;
  EXPECT_TRUE(
      store->db()->Get(leveldb::ReadOptions(), LogKey(6), &value).IsNotFound());
  EXPECT_TRUE(store->db()
                  ->Get(leveldb::ReadOptions(), LogKey(10), &value)
                  .IsNotFound());
  // New appends continue from the good prefix.
  LogWriter writer(store.get());
  AppendDurably(writer, store->log(), MakeEntries(6, 6, 2));
  EXPECT_EQ(store->log().LastIndex(), 6u);
}

TEST(DurableLogTest, RecoveryTruncatesAfterAGap) {
  const std::string dir = FreshDir("gap");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    AppendDurably(writer, store->log(), MakeEntries(1, 10, 1));
    ASSERT_TRUE(store->db()->Delete(leveldb::WriteOptions(), LogKey(4)).ok());
  }
  auto store = OpenStore(dir);
  EXPECT_EQ(store->log().LastIndex(), 3u);
}

TEST(DurableLogTest, RecoveryTruncatesAnEntryWithTheWrongIndex) {
  const std::string dir = FreshDir("wrong_index");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    AppendDurably(writer, store->log(), MakeEntries(1, 5, 1));
  }
  Corrupt(dir, 5, MakeEntries(9, 9, 1)[0].SerializeAsString());
  EXPECT_EQ(OpenStore(dir)->log().LastIndex(), 4u);
}

TEST(DurableLogTest, RefusesALogThatDoesNotStartAtOne) {
  const std::string dir = FreshDir("no_start");
  Corrupt(dir, 3, MakeEntries(3, 3, 1)[0].SerializeAsString());
  EXPECT_FALSE(ReplicaStore::Open(dir, "cluster", 1).ok());
}

}  // namespace
}  // namespace report::storage
