#include "replica/storage/durable_log.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "glog/logging.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"

namespace report::storage {
namespace {

// Adds the entry range starting at `first_index` with `epoch` to `runs`.
void ExtendRuns(std::vector<EpochRun>* runs, uint64_t first_index,
                uint64_t epoch) {
  if (runs->empty() || runs->back().epoch != epoch) {
    runs->push_back(EpochRun{first_index, epoch});
  }
}

}  // namespace

LogSpan LogSpan::Of(const std::vector<consensus::Entry>& entries) {
  LogSpan span;
  if (entries.empty()) return span;
  span.first_index = entries.front().index();
  span.last_index = entries.back().index();
  for (const consensus::Entry& entry : entries) {
    ExtendRuns(&span.runs, entry.index(), entry.epoch());
  }
  return span;
}

absl::StatusOr<std::unique_ptr<DurableLog>> DurableLog::Recover(
    leveldb::DB* db, const SnapshotFiles* snapshots) {
  const auto started = std::chrono::steady_clock::now();
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  options.fill_cache = false;

  // Where the log starts (after compaction) and the newest snapshot.
  uint64_t first_index = 1;
  uint64_t start_epoch = 0;
  consensus::SnapshotMeta snapshot;
  {
    std::string value;
    leveldb::Status status = db->Get(
        options, leveldb::Slice(kLogStartKey.data(), kLogStartKey.size()),
        &value);
    if (status.ok()) {
      if (value.size() != 16) {
        return MakeError(ErrorCode::kInternal, "meta/log_start is corrupt");
      }
      first_index = *ReadBigEndian64(value);
      start_epoch = *ReadBigEndian64(absl::string_view(value).substr(8));
    } else if (!status.IsNotFound()) {
      return MakeError(ErrorCode::kInternal,
                       "reading meta/log_start: " + status.ToString());
    }
    status = db->Get(options,
                     leveldb::Slice(kSnapshotKey.data(), kSnapshotKey.size()),
                     &value);
    if (status.ok() && !snapshot.ParseFromString(value)) {
      return MakeError(ErrorCode::kInternal, "meta/snapshot is corrupt");
    }
  }
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(options));

  std::vector<EpochRun> runs;
  // The entry before the first one is known by its epoch only.
  if (first_index > 1) runs.push_back(EpochRun{first_index - 1, start_epoch});
  uint64_t expected = first_index;
  uint64_t damaged_from = 0;  // first index to discard; 0: none
  std::string reason;
  consensus::Entry entry;
  // Only the tail after the compaction point is read: start-up time does not
  // grow with history.
  for (it->Seek(LogKey(first_index)); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, kLogPrefix)) break;
    const std::optional<uint64_t> index = LogIndexOf(key);
    if (expected == first_index && index.has_value() && *index != first_index) {
      return MakeError(
          ErrorCode::kInternal,
          absl::StrCat("log starts at index ", *index, ", expected ",
                       first_index, " (meta/log_start)"));
    }
    if (!index.has_value() || *index != expected) {
      damaged_from = expected;
      reason = index.has_value()
                   ? absl::StrCat("gap: next stored index is ", *index)
                   : "malformed log key";
      break;
    }
    if (!entry.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size())) ||
        entry.index() != expected || entry.epoch() == 0 ||
        (!runs.empty() && entry.epoch() < runs.back().epoch)) {
      damaged_from = expected;
      reason = "entry does not parse or has the wrong index or epoch";
      break;
    }
    ExtendRuns(&runs, expected, entry.epoch());
    ++expected;
  }
  if (!it->status().ok()) {
    return MakeError(
        ErrorCode::kInternal,
        absl::StrCat("reading the log: ", it->status().ToString()));
  }
  it.reset();

  if (damaged_from != 0) {
    // LevelDB's WriteBatch atomicity rules out a torn append, so this is media
    // damage or a foreign write. Keep the longest valid prefix; quorum
    // replication refills the rest.
    leveldb::WriteBatch batch;
    uint64_t discarded = 0;
    std::unique_ptr<leveldb::Iterator> tail(
        db->NewIterator(leveldb::ReadOptions()));
    const std::string end = PrefixEnd(kLogPrefix);
    for (tail->Seek(LogKey(damaged_from));
         tail->Valid() && tail->key().compare(end) < 0; tail->Next()) {
      batch.Delete(tail->key());
      ++discarded;
    }
    leveldb::WriteOptions sync;
    sync.sync = true;
    const leveldb::Status status = db->Write(sync, &batch);
    if (!status.ok()) {
      return MakeError(
          ErrorCode::kInternal,
          absl::StrCat("truncating a damaged log tail: ", status.ToString()));
    }
    LOG(ERROR) << "log damaged at index " << damaged_from << " (" << reason
               << "): truncated to index " << damaged_from - 1 << ", discarded "
               << discarded << " keys";
  }

  const uint64_t last_index = expected - 1;
  LOG(INFO) << "recovered log: first index " << first_index << ", last index "
            << last_index << ", snapshot at " << snapshot.index() << ", "
            << runs.size() << " epoch runs, in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms";
  auto log = std::make_unique<DurableLog>(ConstructionKey(), db, first_index,
                                          last_index, std::move(runs));
  log->snapshots_ = snapshots;
  log->snapshot_ = snapshot;
  return log;
}

DurableLog::DurableLog(ConstructionKey, leveldb::DB* db, uint64_t first_index,
                       uint64_t last_index, std::vector<EpochRun> runs)
    : db_(db),
      first_index_(first_index),
      last_index_(last_index),
      runs_(std::move(runs)) {}

uint64_t DurableLog::FirstIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_index_;
}

consensus::SnapshotMeta DurableLog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

bool DurableLog::ReadSnapshot(const consensus::SnapshotMeta& meta,
                              uint64_t offset, uint64_t max_bytes,
                              std::string* out) const {
  if (snapshots_ == nullptr) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!consensus::SameSnapshot(meta, snapshot_) &&
        !consensus::SameSnapshot(meta, previous_snapshot_)) {
      return false;
    }
  }
  return snapshots_->Read(meta, offset, max_bytes, out);
}

void DurableLog::SetSnapshot(const consensus::SnapshotMeta& meta) {
  leveldb::WriteOptions sync;
  sync.sync = true;
  const leveldb::Status status =
      db_->Put(sync, leveldb::Slice(kSnapshotKey.data(), kSnapshotKey.size()),
               meta.SerializeAsString());
  CHECK(status.ok()) << "recording snapshot " << meta.index() << ": "
                     << status.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  previous_snapshot_ = snapshot_;
  snapshot_ = meta;
}

void DurableLog::CompactThrough(uint64_t index) {
  uint64_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CHECK_LE(index, snapshot_.index())
        << "compaction past the snapshot: entries no snapshot covers";
    index = std::min(index, last_index_);
    if (index < first_index_) return;
    auto after = std::upper_bound(
        runs_.begin(), runs_.end(), index,
        [](uint64_t i, const EpochRun& run) { return i < run.first_index; });
    epoch = std::prev(after)->epoch;
  }
  std::string start;
  AppendBigEndian64(&start, index + 1);
  AppendBigEndian64(&start, epoch);
  leveldb::WriteOptions sync;
  sync.sync = true;
  const leveldb::Status status = db_->Put(
      sync, leveldb::Slice(kLogStartKey.data(), kLogStartKey.size()), start);
  CHECK(status.ok()) << "moving the log start: " << status.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  first_index_ = index + 1;
  // Runs entirely below the new start go; the one covering `index` stays,
  // starting at `index`.
  std::vector<EpochRun> kept;
  kept.push_back(EpochRun{index, epoch});
  for (const EpochRun& run : runs_) {
    if (run.first_index > index) kept.push_back(run);
  }
  runs_ = std::move(kept);
}

void DurableLog::DeleteCompacted() {
  const uint64_t first = FirstIndex();
  while (true) {
    leveldb::WriteBatch batch;
    int count = 0;
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    const std::string end = LogKey(first);
    for (it->Seek(leveldb::Slice(kLogPrefix.data(), kLogPrefix.size()));
         it->Valid() && it->key().compare(end) < 0 && count < 10000;
         it->Next(), ++count) {
      batch.Delete(it->key());
    }
    it.reset();
    if (count == 0) return;
    const leveldb::Status status = db_->Write(leveldb::WriteOptions(), &batch);
    if (!status.ok()) {
      LOG(ERROR) << "deleting compacted log entries: " << status.ToString();
      return;
    }
  }
}

void DurableLog::ResetToSnapshot(const consensus::SnapshotMeta& meta) {
  std::lock_guard<std::mutex> lock(mu_);
  first_index_ = meta.index() + 1;
  last_index_ = meta.index();
  runs_.clear();
  runs_.push_back(EpochRun{meta.index(), meta.epoch()});
  previous_snapshot_ = snapshot_;
  snapshot_ = meta;
}

uint64_t DurableLog::LastIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_index_;
}

uint64_t DurableLog::EpochAt(uint64_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (index == 0 || index > last_index_ || index + 1 < first_index_) return 0;
  // The last run starting at or before `index`.
  auto after = std::upper_bound(
      runs_.begin(), runs_.end(), index,
      [](uint64_t i, const EpochRun& run) { return i < run.first_index; });
  if (after == runs_.begin()) return 0;
  return std::prev(after)->epoch;
}

std::vector<consensus::Entry> DurableLog::Entries(uint64_t lo, uint64_t hi,
                                                  uint64_t max_bytes) const {
  std::vector<consensus::Entry> entries;
  if (lo >= hi) return entries;
  CHECK_GE(lo, FirstIndex());
  CHECK_LE(hi, LastIndex() + 1)
      << "Entries(" << lo << ", " << hi << ") beyond the log";
  std::unique_ptr<leveldb::Iterator> it(
      db_->NewIterator(leveldb::ReadOptions()));
  uint64_t bytes = 0;
  uint64_t index = lo;
  for (it->Seek(LogKey(lo)); index < hi; it->Next(), ++index) {
    CHECK(it->Valid() && LogIndexOf(absl::string_view(
                             it->key().data(), it->key().size())) == index)
        << "durable log entry " << index
        << " is missing: " << it->status().ToString();
    const uint64_t size = it->value().size();
    if (!entries.empty() && bytes + size > max_bytes) break;
    consensus::Entry& entry = entries.emplace_back();
    CHECK(entry.ParseFromArray(it->value().data(), static_cast<int>(size)))
        << "durable log entry " << index << " does not parse";
    bytes += size;
  }
  return entries;
}

void DurableLog::MarkDurable(const LogSpan& span) {
  if (span.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  CHECK_LE(span.first_index, last_index_ + 1)
      << "MarkDurable leaves a gap after index " << last_index_;
  CHECK_GE(span.first_index, first_index_)
      << "MarkDurable rewrites compacted entries";
  // Drop the epochs of the replaced suffix.
  while (!runs_.empty() && runs_.back().first_index >= span.first_index)
    runs_.pop_back();
  for (const EpochRun& run : span.runs)
    ExtendRuns(&runs_, run.first_index, run.epoch);
  last_index_ = span.last_index;
}

size_t DurableLog::epoch_run_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.size();
}

}  // namespace report::storage
