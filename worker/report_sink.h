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
//   - Locations are absolute file:// URIs, the same for every worker sharing
//   the directory.
#ifndef REPORT_WORKER_REPORT_SINK_H_
#define REPORT_WORKER_REPORT_SINK_H_

#include <atomic>
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

  // Creates `directory` when missing; `name` is the sink's part of every effect
  // key.
  static absl::StatusOr<std::unique_ptr<DirectoryReportSink>> Open(
      const std::string& directory,
      std::string name = std::string(kDefaultName));

  const std::string& name() const { return name_; }
  const std::string& directory() const { return directory_; }

  // "<sink name>:<request id>", e.g. "file-sink:req-1".
  std::string EffectKey(absl::string_view request_id) const;

  // The file name of a key: bytes outside [A-Za-z0-9._:-] (and a leading '.')
  // become
  // "~XX" (hex), so every key maps to a distinct, safe name; very long keys are
  // shortened with a SHA-256 suffix. Plus ".json".
  static std::string FileNameOf(absl::string_view effect_key);

  std::string PathOf(absl::string_view effect_key) const;
  std::string Location(absl::string_view effect_key) const;
  absl::StatusOr<bool> Exists(absl::string_view effect_key) const;

  // Writes `contents` as the key's file unless a file for the key already
  // exists.
  absl::StatusOr<SinkWrite> WriteOnce(absl::string_view effect_key,
                                      absl::string_view contents);

  // Files this instance created (for tests and metrics).
  uint64_t files_written() const { return files_written_.load(); }

 private:
  DirectoryReportSink(std::string directory, std::string name)
      : directory_(std::move(directory)), name_(std::move(name)) {}

  const std::string directory_;  // absolute, no trailing slash
  const std::string name_;
  std::atomic<uint64_t> files_written_{0};
};

}  // namespace report

#endif  // REPORT_WORKER_REPORT_SINK_H_
