#include "worker/report_sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error_code.h"
#include "common/sha256.h"

namespace report {
namespace {

// Longest file name we produce; NAME_MAX is 255 on the file systems we run on.
constexpr size_t kMaxNameBytes = 200;

absl::Status ErrnoError(absl::string_view what, const std::string& path,
                        int err) {
  return MakeError(ErrorCode::kInternal, absl::StrCat("sink: ", what, " ", path,
                                                      ": ", strerror(err)));
}

bool IsSafeNameByte(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':';
}

// Characters left as they are in a file:// URI path.
bool IsUriPathByte(char c) {
  return absl::ascii_isalnum(c) || c == '/' || c == '.' || c == '_' ||
         c == '-' || c == '~' || c == ':';
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError("fsync", path, err);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view contents,
                      const std::string& path) {
  while (!contents.empty()) {
    ssize_t n = write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// `key` with bytes outside [A-Za-z0-9._:-] (and a leading '.') as "~XX", long
// results shortened with a SHA-256 suffix: distinct keys, distinct safe names.
std::string EscapedName(absl::string_view effect_key) {
  std::string name;
  for (size_t i = 0; i < effect_key.size(); ++i) {
    char c = effect_key[i];
    if (IsSafeNameByte(c) && !(i == 0 && c == '.')) {
      name += c;
    } else {
      absl::StrAppendFormat(&name, "~%02X", static_cast<unsigned char>(c));
    }
  }
  if (name.size() > kMaxNameBytes) {
    // Distinct keys sharing a long prefix stay distinct through the digest of
    // the whole key.
    name = absl::StrCat(name.substr(0, kMaxNameBytes - 65), "~",
                        Sha256Hex(effect_key));
  }
  return name;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectoryReportSink>> DirectoryReportSink::Open(
    const std::string& directory, std::string name) {
  if (directory.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "sink directory is empty");
  }
  if (name.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "sink name is empty");
  }
  if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("mkdir", directory, errno);
  }
  char* resolved = realpath(directory.c_str(), nullptr);
  if (resolved == nullptr) return ErrnoError("realpath", directory, errno);
  std::string absolute(resolved);
  free(resolved);
  struct stat st;
  if (stat(absolute.c_str(), &st) != 0)
    return ErrnoError("stat", absolute, errno);
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("sink directory ", absolute, " is not a directory"));
  }
  if (access(absolute.c_str(), W_OK) != 0) {
    return ErrnoError("access", absolute, errno);
  }
  std::unique_ptr<DirectoryReportSink> sink(
      new DirectoryReportSink(std::move(absolute), std::move(name)));
  sink->RemoveTemps("", std::chrono::system_clock::now() - kStaleTempAge);
  return sink;
}

DirectoryReportSink::~DirectoryReportSink() {
  if (writer_lock_fd_ >= 0) close(writer_lock_fd_);  // releases the flock
}

void DirectoryReportSink::RemoveTemps(
    absl::string_view prefix,
    std::chrono::system_clock::time_point older_than) {
  const std::string start = absl::StrCat(".tmp-", prefix);
  const int64_t limit = std::chrono::duration_cast<std::chrono::seconds>(
                            older_than.time_since_epoch())
                            .count();
  DIR* dir = opendir(directory_.c_str());
  if (dir == nullptr) return;  // best effort: nothing depends on the cleanup
  while (dirent* entry = readdir(dir)) {
    if (!absl::StartsWith(entry->d_name, start)) continue;
    const std::string path = absl::StrCat(directory_, "/", entry->d_name);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_mtime >= limit) continue;
    if (unlink(path.c_str()) == 0) {
      LOG(INFO) << "sink: removed temporary file " << path
                << " left by a crashed writer";
    }
  }
  closedir(dir);
}

absl::Status DirectoryReportSink::ClaimWriter(absl::string_view worker_id,
                                              absl::string_view incarnation) {
  if (worker_id.empty() || incarnation.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "sink: worker id and incarnation must be non-empty");
  }
  if (writer_lock_fd_ >= 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "sink: a writer is already claimed");
  }
  const std::string lock_dir = absl::StrCat(directory_, "/", kWriterLockDir);
  if (mkdir(lock_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("mkdir", lock_dir, errno);
  }
  const std::string tag = EscapedName(worker_id);
  const std::string lock_path = absl::StrCat(lock_dir, "/", tag, ".lock");
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open", lock_path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      close(fd);
      return ErrnoError("flock", lock_path, err);
    }
    char pid[32] = {0};
    ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
    close(fd);
    std::string holder(pid, n > 0 ? static_cast<size_t>(n) : 0);
    absl::StripAsciiWhitespace(&holder);
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("worker id '", worker_id,
                     "' is already in use by a live process (pid ",
                     holder.empty() ? "unknown" : holder, ", lock ", lock_path,
                     "); every worker process needs its own --id"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    LOG(WARNING) << "sink: could not record our pid in " << lock_path << ": "
                 << strerror(errno);
  }
  writer_lock_fd_ = fd;
  // Every earlier process with this id is dead (it would hold the lock), so
  // its temporary files are garbage whatever their age.
  RemoveTemps(absl::StrCat(tag, "#"),
              std::chrono::system_clock::time_point::max());
  temp_tag_ = absl::StrCat(tag, "#", incarnation);
  return absl::OkStatus();
}

absl::Status DirectoryReportSink::SyncDirectory() {
  absl::Status status = FsyncPath(directory_, O_RDONLY | O_DIRECTORY);
  if (status.ok()) directory_syncs_.fetch_add(1);
  return status;
}

std::string DirectoryReportSink::EffectKey(absl::string_view request_id) const {
  return absl::StrCat(name_, ":", request_id);
}

std::string DirectoryReportSink::FileNameOf(absl::string_view effect_key) {
  return absl::StrCat(EscapedName(effect_key), ".json");
}

std::string DirectoryReportSink::PathOf(absl::string_view effect_key) const {
  return absl::StrCat(directory_, "/", FileNameOf(effect_key));
}

std::string DirectoryReportSink::Location(absl::string_view effect_key) const {
  std::string uri = "file://";
  for (char c : PathOf(effect_key)) {
    if (IsUriPathByte(c)) {
      uri += c;
    } else {
      absl::StrAppendFormat(&uri, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return uri;
}

absl::StatusOr<bool> DirectoryReportSink::Exists(
    absl::string_view effect_key) const {
  std::string path = PathOf(effect_key);
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoError("stat", path, errno);
}

absl::StatusOr<bool> DirectoryReportSink::ExistsDurably(
    absl::string_view effect_key) {
  absl::StatusOr<bool> exists = Exists(effect_key);
  if (!exists.ok() || !*exists) return exists;
  // The writer fsyncs the directory after link(2), but may have died in
  // between: the name must not be lost after we record it as the effect.
  absl::Status synced = SyncDirectory();
  if (!synced.ok()) return synced;
  return true;
}

absl::StatusOr<SinkWrite> DirectoryReportSink::WriteOnce(
    absl::string_view effect_key, absl::string_view contents) {
  const std::string path = PathOf(effect_key);
  SinkWrite result{Location(effect_key), false};
  absl::StatusOr<bool> exists = ExistsDurably(effect_key);
  if (!exists.ok()) return exists.status();
  if (*exists) return result;

  std::string pattern = absl::StrCat(directory_, "/.tmp-", temp_tag_,
                                     temp_tag_.empty() ? "" : "-", "XXXXXX");
  std::vector<char> temp(pattern.begin(), pattern.end());
  temp.push_back('\0');
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("mkstemp", pattern, errno);
  const std::string temp_path(temp.data());
  absl::Status status = WriteAll(fd, contents, temp_path);
  if (status.ok() && fchmod(fd, 0644) != 0)
    status = ErrnoError("fchmod", temp_path, errno);
  if (status.ok() && fsync(fd) != 0)
    status = ErrnoError("fsync", temp_path, errno);
  if (close(fd) != 0 && status.ok())
    status = ErrnoError("close", temp_path, errno);
  if (!status.ok()) {
    unlink(temp_path.c_str());
    return status;
  }
  // link(2), unlike rename(2), fails when the target exists: of two racing
  // writers, exactly one creates the file and the other leaves it untouched.
  bool linked = link(temp_path.c_str(), path.c_str()) == 0;
  int link_errno = errno;
  unlink(temp_path.c_str());
  if (!linked && link_errno != EEXIST)
    return ErrnoError("link", path, link_errno);
  // Make the name durable before anyone records it as the effect (also when
  // another writer won the race: its fsync of the directory may not have
  // happened yet).
  status = SyncDirectory();
  if (!status.ok()) return status;
  if (linked) {
    result.written = true;
    files_written_.fetch_add(1);
  }
  return result;
}

}  // namespace report
