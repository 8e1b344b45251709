#include "replica/storage/snapshot_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/hex.h"
#include "glog/logging.h"
#include "leveldb/write_batch.h"
#include "replica/consensus/node.h"
#include "replica/storage/keys.h"

namespace report::storage {
namespace {

constexpr char kIncoming[] = "incoming";
constexpr char kIncomingMeta[] = "incoming.meta";

absl::Status IoError(const std::string& what) {
  return MakeError(ErrorCode::kInternal,
                   absl::StrCat(what, ": ", std::strerror(errno)));
}

void AppendBe32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

bool ReadBe32(const std::string& s, size_t* at, uint32_t* v) {
  if (*at + 4 > s.size()) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) {
    *v = (*v << 8) | static_cast<unsigned char>(s[*at + i]);
  }
  *at += 4;
  return true;
}

absl::Status WriteAll(int fd, const std::string& data,
                      const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("writing " + path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return IoError("opening " + dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return IoError("syncing " + dir);
  return absl::OkStatus();
}

absl::Status WriteFileSynced(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return IoError("creating " + path);
  absl::Status s = WriteAll(fd, data, path);
  if (s.ok() && ::fdatasync(fd) != 0) s = IoError("syncing " + path);
  ::close(fd);
  return s;
}

bool ReadFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  out->clear();
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

}  // namespace

std::string HexDigest(const std::string& raw) { return HexEncode(raw); }

SnapshotFiles::SnapshotFiles(std::string data_dir)
    : dir_(std::move(data_dir) + "/snapshots") {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
}

std::string SnapshotFiles::PathOf(const consensus::SnapshotMeta& meta) const {
  return absl::StrCat(dir_, "/snap-", meta.index(), "-", meta.epoch());
}

absl::StatusOr<consensus::SnapshotMeta> SnapshotFiles::Create(
    leveldb::DB* db, const std::function<uint64_t(uint64_t)>& epoch_at) {
  const leveldb::Snapshot* snap = db->GetSnapshot();
  leveldb::ReadOptions read;
  read.snapshot = snap;
  read.fill_cache = false;
  std::string applied;
  leveldb::Status status = db->Get(
      read, leveldb::Slice(kAppliedKey.data(), kAppliedKey.size()), &applied);
  if (!status.ok() || applied.size() < 8) {
    db->ReleaseSnapshot(snap);
    return MakeError(ErrorCode::kInternal,
                     "no applied index to snapshot: " + status.ToString());
  }
  const uint64_t index = *ReadBigEndian64(applied);
  consensus::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_epoch(epoch_at(index));
  meta.set_digest(HexDigest(applied.substr(8)));
  if (meta.epoch() == 0) {
    db->ReleaseSnapshot(snap);
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("no epoch known for applied index ", index));
  }
  const std::string tmp = dir_ + "/creating.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    db->ReleaseSnapshot(snap);
    return IoError("creating " + tmp);
  }
  uint64_t checksum = consensus::SnapshotChecksum("");
  uint64_t size = 0;
  std::string buffer;
  absl::Status written;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(read));
  for (it->Seek(leveldb::Slice(kStateMachinePrefix.data(),
                               kStateMachinePrefix.size()));
       it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, kStateMachinePrefix)) break;
    AppendBe32(&buffer, static_cast<uint32_t>(key.size()));
    buffer.append(key.data(), key.size());
    AppendBe32(&buffer, static_cast<uint32_t>(it->value().size()));
    buffer.append(it->value().data(), it->value().size());
    if (buffer.size() >= (1 << 20)) {
      checksum = consensus::SnapshotChecksum(buffer, checksum);
      size += buffer.size();
      written = WriteAll(fd, buffer, tmp);
      buffer.clear();
      if (!written.ok()) break;
    }
  }
  const leveldb::Status iter_status = it->status();
  it.reset();
  db->ReleaseSnapshot(snap);
  if (written.ok()) {
    checksum = consensus::SnapshotChecksum(buffer, checksum);
    size += buffer.size();
    written = WriteAll(fd, buffer, tmp);
  }
  if (written.ok() && ::fdatasync(fd) != 0) written = IoError("syncing " + tmp);
  ::close(fd);
  if (!written.ok()) return written;
  if (!iter_status.ok()) {
    return MakeError(ErrorCode::kInternal,
                     "reading the state machine: " + iter_status.ToString());
  }
  meta.set_size(size);
  meta.set_checksum(checksum);
  if (::rename(tmp.c_str(), PathOf(meta).c_str()) != 0) {
    return IoError("renaming " + tmp);
  }
  if (absl::Status s = SyncDir(dir_); !s.ok()) return s;
  return meta;
}

bool SnapshotFiles::Read(const consensus::SnapshotMeta& meta, uint64_t offset,
                         uint64_t max_bytes, std::string* out) const {
  const int fd = ::open(PathOf(meta).c_str(), O_RDONLY);
  if (fd < 0) return false;
  out->resize(std::max<uint64_t>(
      1, std::min<uint64_t>(max_bytes,
                            meta.size() > offset ? meta.size() - offset : 0)));
  if (offset >= meta.size()) {
    out->clear();
    ::close(fd);
    return offset == meta.size();
  }
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = ::pread(fd, out->data() + done, out->size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out->resize(done);
  return done > 0;
}

absl::Status SnapshotFiles::BeginStaging(const consensus::SnapshotMeta& meta) {
  if (absl::Status s = WriteFileSynced(dir_ + "/" + kIncoming, ""); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          WriteFileSynced(dir_ + "/" + kIncomingMeta, meta.SerializeAsString());
      !s.ok()) {
    return s;
  }
  return SyncDir(dir_);
}

absl::Status SnapshotFiles::AppendStaged(const std::string& data) {
  const std::string path = dir_ + "/" + kIncoming;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) return IoError("opening " + path);
  absl::Status s = WriteAll(fd, data, path);
  if (s.ok() && ::fdatasync(fd) != 0) s = IoError("syncing " + path);
  ::close(fd);
  return s;
}

consensus::SnapshotMeta SnapshotFiles::Staged(uint64_t* bytes) const {
  *bytes = 0;
  std::string raw;
  consensus::SnapshotMeta meta;
  if (!ReadFile(dir_ + "/" + kIncomingMeta, &raw) ||
      !meta.ParseFromString(raw)) {
    return consensus::SnapshotMeta();
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(dir_ + "/" + kIncoming, ec);
  if (ec) return consensus::SnapshotMeta();
  *bytes = std::min<uint64_t>(size, meta.size());
  return meta;
}

absl::Status SnapshotFiles::DiscardStaged() {
  ::unlink((dir_ + "/" + kIncomingMeta).c_str());
  ::unlink((dir_ + "/" + kIncoming).c_str());
  return SyncDir(dir_);
}

absl::Status SnapshotFiles::InstallStaged(leveldb::DB* db,
                                          const consensus::SnapshotMeta& meta) {
  std::string data;
  if (!ReadFile(dir_ + "/" + kIncoming, &data)) {
    return MakeError(ErrorCode::kInvalidArgument, "no staged snapshot");
  }
  if (data.size() != meta.size() ||
      consensus::SnapshotChecksum(data) != meta.checksum()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("staged snapshot at ", meta.index(),
                                  " fails its size or checksum"));
  }
  leveldb::WriteBatch batch;
  // Every current state machine key and log entry goes.
  {
    std::unique_ptr<leveldb::Iterator> it(
        db->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(leveldb::Slice(kStateMachinePrefix.data(),
                                 kStateMachinePrefix.size()));
         it->Valid() &&
         absl::StartsWith(absl::string_view(it->key().data(), it->key().size()),
                          kStateMachinePrefix);
         it->Next()) {
      batch.Delete(it->key());
    }
    for (it->Seek(leveldb::Slice(kLogPrefix.data(), kLogPrefix.size()));
         it->Valid() &&
         absl::StartsWith(absl::string_view(it->key().data(), it->key().size()),
                          kLogPrefix);
         it->Next()) {
      batch.Delete(it->key());
    }
  }
  size_t at = 0;
  bool applied_ok = false;
  while (at < data.size()) {
    uint32_t klen = 0, vlen = 0;
    if (!ReadBe32(data, &at, &klen) || at + klen > data.size()) break;
    const std::string key = data.substr(at, klen);
    at += klen;
    if (!ReadBe32(data, &at, &vlen) || at + vlen > data.size()) {
      at = data.size() + 1;
      break;
    }
    const std::string value = data.substr(at, vlen);
    at += vlen;
    if (!absl::StartsWith(key, kStateMachinePrefix)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "staged snapshot holds a key outside the state machine");
    }
    if (key == kAppliedKey) {
      applied_ok = value.size() > 8 &&
                   *ReadBigEndian64(value) == meta.index() &&
                   HexDigest(value.substr(8)) == meta.digest();
    }
    batch.Put(key, value);
  }
  if (at != data.size() || !applied_ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("staged snapshot at ", meta.index(),
                                  " does not parse or its applied index and "
                                  "digest differ from its metadata"));
  }
  std::string start;
  AppendBigEndian64(&start, meta.index() + 1);
  AppendBigEndian64(&start, meta.epoch());
  batch.Put(leveldb::Slice(kLogStartKey.data(), kLogStartKey.size()), start);
  batch.Put(leveldb::Slice(kSnapshotKey.data(), kSnapshotKey.size()),
            meta.SerializeAsString());
  // The bytes become the snapshot file before the state refers to them.
  if (::rename((dir_ + "/" + kIncoming).c_str(), PathOf(meta).c_str()) != 0) {
    return IoError("renaming the staged snapshot");
  }
  if (absl::Status s = SyncDir(dir_); !s.ok()) return s;
  leveldb::WriteOptions sync;
  sync.sync = true;
  const leveldb::Status status = db->Write(sync, &batch);
  CHECK(status.ok()) << "installing snapshot " << meta.index() << ": "
                     << status.ToString();
  ::unlink((dir_ + "/" + kIncomingMeta).c_str());
  return absl::OkStatus();
}

void SnapshotFiles::RemoveOthers(const consensus::SnapshotMeta& keep1,
                                 const consensus::SnapshotMeta& keep2) const {
  std::error_code ec;
  const uint64_t newest = std::max(keep1.index(), keep2.index());
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, "snap-")) continue;
    uint64_t index = 0;
    if (!absl::SimpleAtoi(
            absl::string_view(name).substr(5, name.find('-', 5) - 5), &index) ||
        index >= newest) {
      continue;
    }
    if ((keep1.index() != 0 && entry.path().string() == PathOf(keep1)) ||
        (keep2.index() != 0 && entry.path().string() == PathOf(keep2))) {
      continue;
    }
    std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace report::storage
