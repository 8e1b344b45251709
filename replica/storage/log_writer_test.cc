#include "replica/storage/log_writer.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "replica/storage/replica_store.h"
#include "replica/storage/test_waiting.h"

namespace report::storage {
namespace {

std::string FreshDir(const std::string& name) {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("log_writer_test");
  const std::string dir = base.path() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<ReplicaStore> OpenStore(const std::string& dir) {
  auto store = ReplicaStore::Open(dir, "cluster", 1);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::vector<consensus::Entry> OneEntry(uint64_t index) {
  std::vector<consensus::Entry> entries(1);
  entries[0].set_index(index);
  entries[0].set_epoch(1);
  entries[0].set_data("x");
  return entries;
}

TEST(LogWriterTest, AppendsQueuedDuringAWriteShareTheNextFsync) {
  auto store = OpenStore(FreshDir("group"));
  LogWriter writer(store.get());
  // The first callback holds the writer thread until ten more appends are
  // queued, so the next batch must contain all ten.
  EventCounter first_durable;
  EventCounter release;
  writer.Enqueue(OneEntry(1), std::nullopt, [&] {
    first_durable.Add();
    release.WaitFor(1);
  });
  ASSERT_TRUE(first_durable.WaitFor(1));
  EventCounter counter;
  for (uint64_t index = 2; index <= 11; ++index) {
    writer.Enqueue(OneEntry(index), std::nullopt,
                   [&counter] { counter.Add(); });
  }
  release.Add();
  ASSERT_TRUE(counter.WaitFor(10));
  const LogWriter::Stats stats = writer.stats();
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.enqueues, 11u);
  EXPECT_EQ(stats.entries, 11u);
}

TEST(LogWriterTest, ConcurrentEnqueuesAreGroupCommitted) {
  auto store = OpenStore(FreshDir("concurrent"));
  LogWriter writer(store.get());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::mutex order;  // assigns indices in Enqueue order
  uint64_t next_index = 1;
  EventCounter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        std::lock_guard<std::mutex> lock(order);
        writer.Enqueue(OneEntry(next_index++), std::nullopt,
                       [&counter] { counter.Add(); });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(counter.WaitFor(kThreads * kPerThread));
  const LogWriter::Stats stats = writer.stats();
  EXPECT_EQ(stats.enqueues, uint64_t{kThreads * kPerThread});
  EXPECT_LT(stats.batches, stats.enqueues);
}

TEST(LogWriterTest, EverySyncedWriteIsTimedInTheFsyncHistogram) {
  auto store = OpenStore(FreshDir("fsync_metric"));
  metrics::Registry registry;
  LogWriter writer(store.get(), &registry);
  EventCounter durable;
  writer.Enqueue(OneEntry(1), std::nullopt, [&] { durable.Add(); });
  ASSERT_TRUE(durable.WaitFor(1));
  writer.Enqueue(OneEntry(2), std::nullopt, [&] { durable.Add(); });
  ASSERT_TRUE(durable.WaitFor(2));
  const std::string text = registry.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE report_fsync_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nreport_fsync_seconds_count 2\n"), std::string::npos)
      << text;
}

TEST(LogWriterTest, OnDurableRunsInEnqueueOrder) {
  auto store = OpenStore(FreshDir("order"));
  LogWriter writer(store.get());
  std::mutex mu;
  std::vector<int> seen;
  EventCounter counter;
  constexpr int kAppends = 300;
  for (int i = 0; i < kAppends; ++i) {
    // Every third enqueue is a hard state only, which must keep its place too.
    std::vector<consensus::Entry> entries;
    std::optional<consensus::HardState> hard_state;
    if (i % 3 == 2) {
      hard_state.emplace();
      hard_state->set_epoch(i);
    } else {
      entries = OneEntry(static_cast<uint64_t>(i - i / 3 + 1));
    }
    writer.Enqueue(std::move(entries), hard_state, [&, i] {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(i);
      counter.Add();
    });
  }
  ASSERT_TRUE(counter.WaitFor(kAppends));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), size_t{kAppends});
  for (int i = 0; i < kAppends; ++i) EXPECT_EQ(seen[i], i);
}

TEST(LogWriterTest, HardStateIsWrittenWithTheAppend) {
  const std::string dir = FreshDir("hard_state");
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    consensus::HardState hard_state;
    hard_state.set_epoch(5);
    hard_state.set_vote(2);
    EventCounter durable;
    writer.Enqueue(OneEntry(1), hard_state, [&] { durable.Add(); });
    ASSERT_TRUE(durable.WaitFor(1));
  }
  auto store = OpenStore(dir);
  EXPECT_EQ(store->LoadHardState().epoch(), 5u);
  EXPECT_EQ(store->LoadHardState().vote(), 2u);
  EXPECT_EQ(store->log().LastIndex(), 1u);
}

TEST(LogWriterTest, DestructorWritesWhatIsQueued) {
  const std::string dir = FreshDir("flush");
  int callbacks = 0;  // only touched by the writer thread, read after the join
  {
    auto store = OpenStore(dir);
    LogWriter writer(store.get());
    for (uint64_t index = 1; index <= 50; ++index) {
      writer.Enqueue(OneEntry(index), std::nullopt,
                     [&callbacks] { ++callbacks; });
    }
  }
  EXPECT_EQ(callbacks, 50);
  EXPECT_EQ(OpenStore(dir)->log().LastIndex(), 50u);
}

TEST(LogWriterDeathTest, AGapIsFatal) {
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  const std::string dir = FreshDir("gap");
  // The child runs this test again from the start, making directories of its
  // own, and dies without removing them: through TMPDIR it makes them inside
  // this process's, which go when this binary exits.
  const char* tmpdir = getenv("TMPDIR");
  const std::string saved = tmpdir == nullptr ? "" : tmpdir;
  setenv("TMPDIR", std::filesystem::path(dir).parent_path().c_str(), 1);
  EXPECT_DEATH(
      {
        auto store = OpenStore(dir);
        LogWriter writer(store.get());
        writer.Enqueue(OneEntry(3), std::nullopt, nullptr);
      },
      "leaves a gap");
  if (tmpdir == nullptr) {
    unsetenv("TMPDIR");
  } else {
    setenv("TMPDIR", saved.c_str(), 1);
  }
}

}  // namespace
}  // namespace report::storage
