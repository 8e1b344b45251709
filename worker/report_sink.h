// The external effect of a report: one file per effect key in a directory.
//
// Promises:
//   - A file appears under its final name only complete and durable: it is
//   written to a
//     unique temporary name in the same directory, fsync'd, then hard-linked to
//     the final name (link(2) never replaces an existing file) and the
//     directory is fsync'd.
//   - A file, once there, is never written again: WriteOnce of an existing key
//   writes
//     nothing, even when two writers race for the same key (one link wins).
//   - A file found already in place is made durable too (the directory is
//     fsync'd) before the caller records it: its writer may have died between
//     link(2) and its own fsync of the directory.
//   - Locations are absolute file:// URIs, the same for every worker sharing
//   the directory.
//   - Temporary files are named ".tmp-<writer tag>-XXXXXX". A crash between
//     creating one and linking it leaves it behind; Open removes ".tmp-*" files
//     older than kStaleTempAge (no live writer keeps one that long: it lives
//     for one write, fsync and link), and ClaimWriter removes every temporary
//     file of earlier processes with the claimed worker id at once.
//   - ClaimWriter holds a lock file per worker id under
//   "<directory>/.workers/",
//     so two live processes sharing the directory cannot use one worker id.
#ifndef REPORT_WORKER_REPORT_SINK_H_
#define REPORT_WORKER_REPORT_SINK_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace report {

struct SinkWrite {
  std::string location;  // file:// URI of the key's file
  bool written =
      false;  // false: the file was already there and was left untouched
};

class DirectoryReportSink {
 public:
  static constexpr absl::string_view kDefaultName = "file-sink";
  // Age after which a temporary file counts as left by a crash.
  static constexpr std::chrono::minutes kStaleTempAge{10};
  // Subdirectory holding one lock file per claimed worker id.
  static constexpr absl::string_view kWriterLockDir = ".workers";

  // Creates `directory` when missing; `name` is the sink's part of every effect
  // key. Removes temporary files older than kStaleTempAge.
  static absl::StatusOr<std::unique_ptr<DirectoryReportSink>> Open(
      const std::string& directory,
      std::string name = std::string(kDefaultName));
  ~DirectoryReportSink();  // releases the writer claim, if any

  // Claims `worker_id` for this process while the sink lives: takes an
  // exclusive lock (flock) on "<directory>/.workers/<escaped id>.lock", records
  // our pid in it, removes the temporary files earlier processes with this id
  // left (they are dead: they would hold the lock), and tags our temporary
  // files with "<escaped id>#<incarnation>". kInvalidArgument, naming the lock
  // file and the holder's pid, when another live process holds the id. Call
  // once, before the first WriteOnce.
  absl::Status ClaimWriter(absl::string_view worker_id,
                           absl::string_view incarnation);

  const std::string& name() const { return name_; }
  const std::string& directory() const { return directory_; }

  // "<sink name>:<request id>", e.g. "file-sink:req-1".
  std::string EffectKey(absl::string_view request_id) const;

  // The file name of a key: bytes outside [A-Za-z0-9._:-] (and a leading '.')
  // become "~XX" (hex), so every key maps to a distinct, safe name; very long
  // keys are shortened with a SHA-256 suffix. Plus ".json".
  static std::string FileNameOf(absl::string_view effect_key);

  std::string PathOf(absl::string_view effect_key) const;
  std::string Location(absl::string_view effect_key) const;
  absl::StatusOr<bool> Exists(absl::string_view effect_key) const;
  // Exists, and when the file is there, fsyncs the directory so that its name
  // is durable before the caller records it as the effect.
  absl::StatusOr<bool> ExistsDurably(absl::string_view effect_key);

  // Writes `contents` as the key's file unless a file for the key already
  // exists.
  absl::StatusOr<SinkWrite> WriteOnce(absl::string_view effect_key,
                                      absl::string_view contents);

  // Files this instance created (for tests and metrics).
  uint64_t files_written() const { return files_written_.load(); }
  // fsyncs of the directory this instance made (for tests).
  uint64_t directory_syncs() const { return directory_syncs_.load(); }

 private:
  DirectoryReportSink(std::string directory, std::string name)
      : directory_(std::move(directory)), name_(std::move(name)) {}

  absl::Status SyncDirectory();
  // Unlinks the ".tmp-<prefix>*" files of the directory (every one when
  // `prefix` is empty) whose mtime is before `older_than`.
  void RemoveTemps(absl::string_view prefix,
                   std::chrono::system_clock::time_point older_than);

  const std::string directory_;  // absolute, no trailing slash
  const std::string name_;
  std::string temp_tag_;  // set by ClaimWriter before any write
  int writer_lock_fd_ = -1;
  std::atomic<uint64_t> files_written_{0};
  std::atomic<uint64_t> directory_syncs_{0};
};

}  // namespace report

#endif  // REPORT_WORKER_REPORT_SINK_H_
