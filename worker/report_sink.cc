#include "worker/report_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error_code.h"

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

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
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
  return std::unique_ptr<DirectoryReportSink>(
      new DirectoryReportSink(std::move(absolute), std::move(name)));
}

std::string DirectoryReportSink::EffectKey(absl::string_view request_id) const {
  return absl::StrCat(name_, ":", request_id);
}

std::string DirectoryReportSink::FileNameOf(absl::string_view effect_key) {
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
  return absl::StrCat(name, ".json");
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

absl::StatusOr<SinkWrite> DirectoryReportSink::WriteOnce(
    absl::string_view effect_key, absl::string_view contents) {
  const std::string path = PathOf(effect_key);
  SinkWrite result{Location(effect_key), false};
  absl::StatusOr<bool> exists = Exists(effect_key);
  if (!exists.ok()) return exists.status();
  if (*exists) return result;

  std::string pattern = absl::StrCat(directory_, "/.tmp-XXXXXX");
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
  status = FsyncPath(directory_, O_RDONLY | O_DIRECTORY);
  if (!status.ok()) return status;
  if (linked) {
    result.written = true;
    files_written_.fetch_add(1);
  }
  return result;
}

}  // namespace report
