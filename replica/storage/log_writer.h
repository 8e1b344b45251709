// The single writer of the log: a thread that makes appends (and hard states)
// durable with group commit. Everything queued while one fsync runs is written
// by the next one, as ONE LevelDB WriteBatch with sync=true, so many proposals
// share an fsync.
//
// Promises:
//   - Appends become durable in enqueue order, and each on_durable runs (on the
//   writer
//     thread) after its append and everything enqueued before it is durable, in
//     enqueue order. A callback should only post work elsewhere; while it runs
//     the writer waits.
//   - An append whose first index is <= the last index written so far replaces
//   that suffix
//     (the keys above its last index are deleted in the same batch), as
//     node.h's persistence contract asks.
//   - A failed write is fatal (LOG(FATAL)): a replica must not continue after
//   losing
//     durability.
//   - The writer never changes what DurableLog reports; call
//   DurableLog::MarkDurable from
//     on_durable's handling on the driver thread.
// The destructor writes what is still queued, runs its callbacks and joins the
// thread.
#ifndef REPORT_REPLICA_STORAGE_LOG_WRITER_H_
#define REPORT_REPLICA_STORAGE_LOG_WRITER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "leveldb/db.h"
#include "proto/consensus.pb.h"
#include "replica/storage/replica_store.h"

namespace report::storage {

class LogWriter {
 public:
  // Group commit effectiveness: enqueues / batches is the mean number of
  // appends that shared an fsync.
  struct Stats {
    uint64_t batches = 0;  // synced WriteBatches (= fsyncs)
    uint64_t enqueues = 0;
    uint64_t entries = 0;
    uint64_t bytes = 0;  // serialized entries written
  };

  // Starts the writer thread. `store` must outlive the writer, and nothing else
  // may write the log while it runs; it starts from store->log().LastIndex().
  // With a `registry` (which must outlive the writer), every synced write is
  // timed in report_fsync_seconds.
  explicit LogWriter(ReplicaStore* store,
                     metrics::Registry* registry = nullptr);
  // Ordered with appends: a snapshot install (done outside the writer, with
  // nothing queued) replaced the log, which now ends at `last_index`.
  void ResetAfterSnapshot(uint64_t last_index);
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;
  ~LogWriter();

  // Queues an append (entries contiguous, the first at most one past the last
  // index written so far) and/or a hard state. Either may be empty.
  // Thread-safe; appends from several threads are ordered by their Enqueue
  // calls.
  void Enqueue(std::vector<consensus::Entry> entries,
               std::optional<consensus::HardState> hard_state,
               std::function<void()> on_durable);

  Stats stats() const;

 private:
  struct Pending {
    std::vector<consensus::Entry> entries;
    std::optional<consensus::HardState> hard_state;
    std::function<void()> on_durable;
    // A snapshot install replaced the log: it now ends at this index.
    std::optional<uint64_t> reset_last;
  };

  void Run();
  // Writes `batch` with one fsync (writer thread only).
  void WriteDurably(std::deque<Pending>& batch);

  leveldb::DB* const db_;
  metrics::Histogram* const fsync_seconds_;  // null without a registry
  uint64_t stored_last_index_;  // writer thread only (and the constructor)

  // std::mutex rather than absl::Mutex: the system Abseil is not
  // TSan-instrumented.
  std::mutex mu_;
  std::condition_variable queued_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_

  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> enqueues_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> bytes_{0};

  std::thread thread_;  // last: starts after every member above is ready
};

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_LOG_WRITER_H_
