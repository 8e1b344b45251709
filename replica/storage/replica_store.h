// A replica's durable state: one LevelDB database per data dir holding the
// replica's identity, the consensus hard state, the log (DurableLog) and the
// report state machine's tables (replica/state_machine/), each under its own
// key prefix (keys.h).
//
// Destroy any LogWriter and state machine using db() before the store.
#ifndef REPORT_REPLICA_STORAGE_REPLICA_STORE_H_
#define REPORT_REPLICA_STORAGE_REPLICA_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "leveldb/db.h"
#include "leveldb/filter_policy.h"
#include "proto/consensus.pb.h"
#include "replica/storage/durable_log.h"

namespace report::storage {

class ReplicaStore {
 public:
  // Opens (creating if missing) the database in `dir` and recovers the log. The
  // first open records (cluster_id, replica_id); a later open with another
  // identity fails with InvalidArgument, so a replica can never join a cluster
  // with another replica's data.
  static absl::StatusOr<std::unique_ptr<ReplicaStore>> Open(
      const std::string& dir, const std::string& cluster_id,
      uint64_t replica_id);

  // Use Open(); the key keeps the constructor to this class.
  class ConstructionKey {
    friend class ReplicaStore;
    ConstructionKey() = default;
  };
  explicit ReplicaStore(ConstructionKey) {}
  ReplicaStore(const ReplicaStore&) = delete;
  ReplicaStore& operator=(const ReplicaStore&) = delete;
  ~ReplicaStore();

  leveldb::DB* db() { return db_.get(); }
  DurableLog& log() { return *log_; }
  SnapshotFiles& snapshots() { return *snapshots_; }
  const DurableLog& log() const { return *log_; }

  // The last saved hard state (all zero for a new replica). Corruption is
  // fatal; Open has already checked that it parses.
  consensus::HardState LoadHardState() const;
  // Durable (sync=true) before it returns.
  absl::Status SaveHardState(const consensus::HardState& hard_state);

 private:
  // Declaration order is destruction order in reverse: the log, then the
  // database, then the filter policy the database uses.
  std::unique_ptr<const leveldb::FilterPolicy> filter_policy_;
  std::unique_ptr<leveldb::DB> db_;
  std::unique_ptr<SnapshotFiles> snapshots_;
  std::unique_ptr<DurableLog> log_;
};

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_REPLICA_STORE_H_
