#include "replica/storage/replica_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "glog/logging.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"

namespace report::storage {
namespace {

leveldb::Slice AsSlice(absl::string_view s) {
  return leveldb::Slice(s.data(), s.size());
}

absl::Status LevelDbError(absl::string_view what,
                          const leveldb::Status& status) {
  return MakeError(ErrorCode::kInternal,
                   absl::StrCat(what, ": ", status.ToString()));
}

// Reads `key`; nullopt when absent, error on any other failure.
absl::StatusOr<std::optional<std::string>> ReadKey(leveldb::DB* db,
                                                   absl::string_view key) {
  std::string value;
  const leveldb::Status status =
      db->Get(leveldb::ReadOptions(), AsSlice(key), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return LevelDbError(absl::StrCat("reading ", key), status);
  return std::optional<std::string>(std::move(value));
}

// Records the identity on first open, else checks it.
absl::Status CheckIdentity(leveldb::DB* db, const std::string& dir,
                           const std::string& cluster_id, uint64_t replica_id) {
  absl::StatusOr<std::optional<std::string>> stored_cluster =
      ReadKey(db, kClusterIdKey);
  if (!stored_cluster.ok()) return stored_cluster.status();
  absl::StatusOr<std::optional<std::string>> stored_replica =
      ReadKey(db, kReplicaIdKey);
  if (!stored_replica.ok()) return stored_replica.status();
  const std::string replica_text = absl::StrCat(replica_id);
  if (!stored_cluster->has_value() && !stored_replica->has_value()) {
    leveldb::WriteBatch batch;
    batch.Put(AsSlice(kClusterIdKey), cluster_id);
    batch.Put(AsSlice(kReplicaIdKey), replica_text);
    leveldb::WriteOptions sync;
    sync.sync = true;
    const leveldb::Status status = db->Write(sync, &batch);
    if (!status.ok())
      return LevelDbError("recording the replica identity", status);
    return absl::OkStatus();
  }
  const std::string have_cluster = stored_cluster->value_or("?");
  const std::string have_replica = stored_replica->value_or("?");
  if (have_cluster != cluster_id || have_replica != replica_text) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("data dir ", dir, " belongs to cluster '", have_cluster,
                     "' replica ", have_replica, ", not cluster '", cluster_id,
                     "' replica ", replica_text));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(
    const std::string& dir, const std::string& cluster_id,
    uint64_t replica_id) {
  if (cluster_id.empty() || replica_id == 0) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "a replica store needs a cluster id and a non-zero replica id");
  }
  auto store = std::make_unique<ReplicaStore>(ConstructionKey());
  store->filter_policy_.reset(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Point lookups of request ids mostly miss (new submissions): bloom filters
  // avoid disk reads for them.
  options.filter_policy = store->filter_policy_.get();
  options.write_buffer_size = 16 << 20;
  leveldb::DB* db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(options, dir, &db);
  if (!status.ok()) return LevelDbError(absl::StrCat("opening ", dir), status);
  store->db_.reset(db);

  if (absl::Status identity = CheckIdentity(db, dir, cluster_id, replica_id);
      !identity.ok()) {
    return identity;
  }
  absl::StatusOr<std::optional<std::string>> hard_state =
      ReadKey(db, kHardStateKey);
  if (!hard_state.ok()) return hard_state.status();
  if (hard_state->has_value() &&
      !consensus::HardState().ParseFromString(**hard_state)) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("hard state in ", dir, " is corrupt"));
  }
  store->snapshots_ = std::make_unique<SnapshotFiles>(dir);
  absl::StatusOr<std::unique_ptr<DurableLog>> log =
      DurableLog::Recover(db, store->snapshots_.get());
  if (!log.ok()) return log.status();
  store->log_ = std::move(*log);
  return store;
}

ReplicaStore::~ReplicaStore() = default;

consensus::HardState ReplicaStore::LoadHardState() const {
  consensus::HardState hard_state;
  absl::StatusOr<std::optional<std::string>> value =
      ReadKey(db_.get(), kHardStateKey);
  CHECK(value.ok()) << value.status();
  if (value->has_value()) {
    CHECK(hard_state.ParseFromString(**value)) << "hard state is corrupt";
  }
  return hard_state;
}

absl::Status ReplicaStore::SaveHardState(
    const consensus::HardState& hard_state) {
  leveldb::WriteOptions sync;
  sync.sync = true;
  const leveldb::Status status =
      db_->Put(sync, AsSlice(kHardStateKey), hard_state.SerializeAsString());
  if (!status.ok()) return LevelDbError("saving the hard state", status);
  return absl::OkStatus();
}

}  // namespace report::storage
