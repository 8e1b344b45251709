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
    leveldb::DB* db) {
  const auto started = std::chrono::steady_clock::now();
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  options.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(options));

  std::vector<EpochRun> runs;
  uint64_t expected = 1;
  uint64_t damaged_from = 0;  // first index to discard; 0: none
  std::string reason;
  consensus::Entry entry;
  for (it->Seek(leveldb::Slice(kLogPrefix.data(), kLogPrefix.size()));
       it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, kLogPrefix)) break;
    const std::optional<uint64_t> index = LogIndexOf(key);
    if (expected == 1 && index.has_value() && *index != 1) {
      return MakeError(
          ErrorCode::kInternal,
          absl::StrCat("log starts at index ", *index,
                       ", expected 1 (compacted logs are not supported)"));
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
  LOG(INFO) << "recovered log: last index " << last_index << ", " << runs.size()
            << " epoch runs, in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms";
  return std::make_unique<DurableLog>(ConstructionKey(), db, last_index,
                                      std::move(runs));
}

DurableLog::DurableLog(ConstructionKey, leveldb::DB* db, uint64_t last_index,
                       std::vector<EpochRun> runs)
    : db_(db), last_index_(last_index), runs_(std::move(runs)) {}

uint64_t DurableLog::FirstIndex() const { return 1; }

uint64_t DurableLog::LastIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_index_;
}

uint64_t DurableLog::EpochAt(uint64_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (index == 0 || index > last_index_) return 0;
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
  CHECK_GE(span.first_index, 1u);
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
