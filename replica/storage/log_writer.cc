#include "replica/storage/log_writer.h"

#include <pthread.h>

#include <utility>

#include "absl/time/clock.h"
#include "glog/logging.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"

namespace report::storage {

LogWriter::LogWriter(ReplicaStore* store, metrics::Registry* registry)
    : db_(store->db()),
      fsync_seconds_(
          registry == nullptr
              ? nullptr
              : registry
                    ->AddHistogram("report_fsync_seconds",
                                   "Time to write one group-commit batch of "
                                   "the log with sync (one fsync).",
                                   {}, metrics::FsyncBuckets())
                    ->Get()),
      stored_last_index_(store->log().LastIndex()),
      thread_([this] {
        pthread_setname_np(pthread_self(), "log-writer");
        Run();
      }) {}

LogWriter::~LogWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  queued_.notify_one();
  thread_.join();
}

void LogWriter::Enqueue(std::vector<consensus::Entry> entries,
                        std::optional<consensus::HardState> hard_state,
                        std::function<void()> on_durable) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    CHECK(!stopping_) << "Enqueue on a stopping LogWriter";
    queue_.push_back(Pending{std::move(entries), std::move(hard_state),
                             std::move(on_durable), std::nullopt});
  }
  queued_.notify_one();
}

void LogWriter::ResetAfterSnapshot(uint64_t last_index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    CHECK(!stopping_) << "ResetAfterSnapshot on a stopping LogWriter";
    Pending pending;
    pending.reset_last = last_index;
    queue_.push_back(std::move(pending));
  }
  queued_.notify_one();
}

LogWriter::Stats LogWriter::stats() const {
  Stats stats;
  stats.batches = batches_.load(std::memory_order_relaxed);
  stats.enqueues = enqueues_.load(std::memory_order_relaxed);
  stats.entries = entries_.load(std::memory_order_relaxed);
  stats.bytes = bytes_.load(std::memory_order_relaxed);
  return stats;
}

void LogWriter::Run() {
  std::deque<Pending> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is written
      batch.swap(queue_);
    }
    WriteDurably(batch);
    for (Pending& pending : batch) {
      if (pending.on_durable) pending.on_durable();
    }
    batch.clear();
  }
}

void LogWriter::WriteDurably(std::deque<Pending>& batch) {
  leveldb::WriteBatch write;
  const std::optional<consensus::HardState>* last_hard_state = nullptr;
  uint64_t entry_count = 0;
  uint64_t bytes = 0;
  std::string value;
  for (const Pending& pending : batch) {
    if (pending.reset_last.has_value()) {
      stored_last_index_ = *pending.reset_last;
      continue;
    }
    if (pending.hard_state.has_value()) last_hard_state = &pending.hard_state;
    if (pending.entries.empty()) continue;
    const uint64_t first = pending.entries.front().index();
    const uint64_t last = pending.entries.back().index();
    CHECK(first >= 1 && first <= stored_last_index_ + 1)
        << "append at index " << first << " leaves a gap after "
        << stored_last_index_;
    CHECK_EQ(last - first + 1, pending.entries.size())
        << "append is not contiguous";
    // Replacing a suffix: keys above the new last index go; the rest are
    // overwritten.
    for (uint64_t index = last + 1; index <= stored_last_index_; ++index) {
      write.Delete(LogKey(index));
    }
    uint64_t expected = first;
    for (const consensus::Entry& entry : pending.entries) {
      CHECK_EQ(entry.index(), expected) << "append is not contiguous";
      ++expected;
      value.clear();
      CHECK(entry.SerializeToString(&value));
      write.Put(LogKey(entry.index()), value);
      bytes += value.size();
    }
    entry_count += pending.entries.size();
    stored_last_index_ = last;
  }
  if (last_hard_state != nullptr) {
    // Only the newest hard state of the batch matters; all of it lands in one
    // fsync.
    write.Put(std::string(kHardStateKey),
              (*last_hard_state)->SerializeAsString());
  }
  // Nothing to write (only callbacks waiting for earlier writes, which this
  // thread has already made durable): no fsync.
  if (entry_count == 0 && last_hard_state == nullptr) return;
  leveldb::WriteOptions sync;
  sync.sync = true;
  const absl::Time start = absl::Now();
  const leveldb::Status status = db_->Write(sync, &write);
  if (fsync_seconds_ != nullptr)
    fsync_seconds_->ObserveDuration(absl::Now() - start);
  LOG_IF(FATAL, !status.ok())
      << "durable log write failed (" << status.ToString()
      << "); stopping: a replica must not continue after losing "
         "durability";
  batches_.fetch_add(1, std::memory_order_relaxed);
  enqueues_.fetch_add(batch.size(), std::memory_order_relaxed);
  entries_.fetch_add(entry_count, std::memory_order_relaxed);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

}  // namespace report::storage
