// The replicated log as stored in the replica's LevelDB: one key per entry
// (kLogPrefix + big-endian index), value = serialized consensus::Entry.
// Implements the consensus core's LogStore view of what is durable.
//
// Threading (the replica's driver/writer split):
//   - The consensus core calls the const LogStore methods on the driver thread.
//   - A LogWriter appends to LevelDB on its own thread; it never changes what
//   this class
//     reports. The driver calls MarkDurable() once an append is durable (from
//     the writer's on_durable callback, posted back to the driver), and only
//     then do LastIndex() and EpochAt() move. The bounds are mutex-protected,
//     so other threads (metrics) may read them too.
//   - Entries() reads LevelDB directly. That is race-free because the core only
//   reads
//     indices below its unstable range: it keeps every entry it has handed to
//     the writer in memory until OnPersisted, and a truncating append only
//     rewrites indices at or above that unstable range. So no key Entries()
//     reads is ever being overwritten concurrently.
//
// Memory: the last index and the epochs as run-length ranges, never one item
// per entry.
#ifndef REPORT_REPLICA_STORAGE_DURABLE_LOG_H_
#define REPORT_REPLICA_STORAGE_DURABLE_LOG_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "leveldb/db.h"
#include "proto/consensus.pb.h"
#include "replica/consensus/node.h"
#include "replica/storage/snapshot_files.h"

namespace report::storage {

// Entries from `first_index` up to the next run's first index (or the last
// index) all have `epoch`.
struct EpochRun {
  uint64_t first_index = 0;
  uint64_t epoch = 0;
  bool operator==(const EpochRun& other) const {
    return first_index == other.first_index && epoch == other.epoch;
  }
};

// The index range and epochs of one append, all MarkDurable needs: take it from
// the entries before handing them to the LogWriter (which consumes them).
struct LogSpan {
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  std::vector<EpochRun> runs;  // empty for an empty append

  static LogSpan Of(const std::vector<consensus::Entry>& entries);
  bool empty() const { return runs.empty(); }
};

class DurableLog : public consensus::LogStore {
 public:
  // Rebuilds the in-memory bounds by scanning the log table of `db` (which must
  // outlive the log). Entries must be contiguous from index 1 and each must
  // parse with its own index; from the first one that does not, the tail is
  // deleted (synced) and logged. Fails when the log does not start at index 1
  // or LevelDB cannot be read.
  // A compacted log starts at meta/log_start; `snapshots` (may be null: no
  // snapshots) reads the snapshot files meta/snapshot names.
  static absl::StatusOr<std::unique_ptr<DurableLog>> Recover(
      leveldb::DB* db, const SnapshotFiles* snapshots = nullptr);

  // Use Recover(); the key keeps the constructor to this class.
  class ConstructionKey {
    friend class DurableLog;
    ConstructionKey() = default;
  };
  DurableLog(ConstructionKey, leveldb::DB* db, uint64_t first_index,
             uint64_t last_index, std::vector<EpochRun> runs);
  DurableLog(const DurableLog&) = delete;
  DurableLog& operator=(const DurableLog&) = delete;

  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  // 0 for index 0 and for an index outside [FirstIndex(), LastIndex()].
  uint64_t EpochAt(uint64_t index) const override;
  // Reads LevelDB. A missing or unparsable entry within the durable bounds is
  // fatal: the replica would otherwise serve a log it no longer has.
  std::vector<consensus::Entry> Entries(uint64_t lo, uint64_t hi,
                                        uint64_t max_bytes) const override;

  consensus::SnapshotMeta Snapshot() const override;
  bool ReadSnapshot(const consensus::SnapshotMeta& meta, uint64_t offset,
                    uint64_t max_bytes, std::string* out) const override;

  // Driver thread (under the driver's lock, between core calls): `meta` is the
  // newest snapshot (its file is written); recorded synced in meta/snapshot.
  void SetSnapshot(const consensus::SnapshotMeta& meta);
  // Driver thread: entries through `index` (at most the snapshot's index) are
  // no longer part of the log. meta/log_start moves first (synced); the keys
  // are deleted afterwards by DeleteCompacted(), so a crash in between leaves
  // stale keys below the start that recovery ignores and deletes.
  void CompactThrough(uint64_t index);
  // Any thread: deletes log keys below the first index, in batches.
  void DeleteCompacted();
  // Driver thread: a received snapshot was installed (the log is empty and
  // starts after its index).
  void ResetToSnapshot(const consensus::SnapshotMeta& meta);

  // Driver thread: the append described by `span` is durable. An append
  // starting at or below LastIndex() replaces that suffix. Appends must be
  // marked in the order they were enqueued; a gap is a caller bug and fatal.
  void MarkDurable(const LogSpan& span);

  // Number of epoch runs held in memory (bounded by the number of epoch
  // changes).
  size_t epoch_run_count() const;

 private:
  leveldb::DB* const db_;
  const SnapshotFiles* snapshots_ = nullptr;
  // std::mutex rather than absl::Mutex: the system Abseil is not
  // TSan-instrumented.
  mutable std::mutex mu_;
  uint64_t first_index_;                       // guarded by mu_
  uint64_t last_index_;                        // guarded by mu_
  consensus::SnapshotMeta snapshot_;           // guarded by mu_
  consensus::SnapshotMeta previous_snapshot_;  // guarded by mu_
  // Sorted by first_index; neighbours have different epochs. Guarded by mu_.
  std::vector<EpochRun> runs_;
};

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_DURABLE_LOG_H_
