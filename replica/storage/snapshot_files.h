// Snapshot files of a replica's state machine (docs/STORAGE.md, "Snapshots").
//
// A snapshot is every key/value of the state machine's tables (prefix "sm/",
// including sm/applied: the applied index and digest) read from one LevelDB
// snapshot, so applies go on while it is written. Its file,
// DIR/snapshots/snap-INDEX-EPOCH, is a sequence of records
// be32(key length) key be32(value length) value, in key order; its
// SnapshotMeta carries the index, epoch, size, FNV-1a checksum of the bytes
// and the state machine's hex digest at the index.
//
// A snapshot being received is staged in DIR/snapshots/incoming (bytes) and
// incoming.meta (its SnapshotMeta); each chunk is appended and fdatasync'ed.
#ifndef REPORT_REPLICA_STORAGE_SNAPSHOT_FILES_H_
#define REPORT_REPLICA_STORAGE_SNAPSHOT_FILES_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "leveldb/db.h"
#include "proto/consensus.pb.h"

namespace report::storage {

class SnapshotFiles {
 public:
  // `data_dir` is the replica's data dir; files live in data_dir/snapshots.
  explicit SnapshotFiles(std::string data_dir);

  std::string PathOf(const consensus::SnapshotMeta& meta) const;

  // Writes a snapshot of the state machine tables of `db` as of now (a LevelDB
  // snapshot: concurrent applies do not block and are not included), synced
  // and renamed into place. `epoch_at` gives the epoch of the applied index.
  // Returns its metadata.
  absl::StatusOr<consensus::SnapshotMeta> Create(
      leveldb::DB* db, const std::function<uint64_t(uint64_t)>& epoch_at);

  // Reads up to max_bytes of the snapshot file `meta` names from `offset`.
  bool Read(const consensus::SnapshotMeta& meta, uint64_t offset,
            uint64_t max_bytes, std::string* out) const;

  // Staging of a snapshot being received.
  // Discards what was staged; the next Append starts `meta`'s bytes.
  absl::Status BeginStaging(const consensus::SnapshotMeta& meta);
  absl::Status AppendStaged(const std::string& data);  // durable on return
  // What is staged (index 0: nothing) and how many bytes.
  consensus::SnapshotMeta Staged(uint64_t* bytes) const;
  absl::Status DiscardStaged();

  // Checks the staged snapshot (size, checksum, records parse, only state
  // machine keys, sm/applied naming meta's index and digest) and installs it
  // into `db` in one synced WriteBatch: every state machine key and every log
  // entry is replaced, the log starts after the snapshot's index, and
  // meta/snapshot names it. A crash at any point leaves the old state or the
  // new one. The staged file becomes the snapshot file first (so the replica
  // can send it on). Returns InvalidArgument when a check fails (nothing is
  // changed then).
  absl::Status InstallStaged(leveldb::DB* db,
                             const consensus::SnapshotMeta& meta);

  // Deletes snapshot files older than the newer of these two, except these
  // two (a newer one, e.g. just installed, stays).
  void RemoveOthers(const consensus::SnapshotMeta& keep1,
                    const consensus::SnapshotMeta& keep2) const;

 private:
  std::string dir_;
};

// Hex of the 32-byte digest stored after the applied index in sm/applied.
std::string HexDigest(const std::string& raw);

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_SNAPSHOT_FILES_H_
