// The key layout of a replica's single LevelDB database (docs/STORAGE.md).
// Every table is a key prefix; all prefixes are listed here so that no two
// tables can collide. Integers inside keys are big-endian so that LevelDB's
// bytewise order is numeric order.
#ifndef REPORT_REPLICA_STORAGE_KEYS_H_
#define REPORT_REPLICA_STORAGE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace report::storage {

// Replica identity: which cluster and replica id own this data dir.
inline constexpr absl::string_view kClusterIdKey = "meta/cluster_id";
inline constexpr absl::string_view kReplicaIdKey = "meta/replica_id";
// consensus::HardState (epoch, vote, commit).
inline constexpr absl::string_view kHardStateKey = "meta/hard_state";
// Log entries: prefix + big-endian index -> serialized consensus::Entry.
inline constexpr absl::string_view kLogPrefix = "log/";
// Where the log starts after compaction: big-endian first index (8 bytes) and
// the epoch of the entry before it (8 bytes). Absent: the log starts at 1.
inline constexpr absl::string_view kLogStartKey = "meta/log_start";
// The newest snapshot (serialized consensus::SnapshotMeta); its bytes are the
// file snapshots/snap-INDEX-EPOCH in the data dir.
inline constexpr absl::string_view kSnapshotKey = "meta/snapshot";
// Prefix of every state machine table: what a snapshot holds.
inline constexpr absl::string_view kStateMachinePrefix = "sm/";

// Report state machine tables (replica/state_machine/).
// Applied index and digest: big-endian index (8 bytes) followed by the raw
// SHA-256 digest.
inline constexpr absl::string_view kAppliedKey = "sm/applied";
// request id -> serialized report::RequestRecord.
inline constexpr absl::string_view kRequestPrefix = "sm/request/";
// effect key -> serialized report::EffectRecord.
inline constexpr absl::string_view kEffectPrefix = "sm/effect/";
// big-endian accepted offset -> request id, for every ACCEPTED or RUNNING
// request.
inline constexpr absl::string_view kUnfinishedPrefix = "sm/unfinished/";
// account id + "/" + big-endian (2^64-1 - accepted offset) -> request id, for
// every request: an account's requests newest first (GET /reports?account_id).
inline constexpr absl::string_view kAccountPrefix = "sm/account/";

// Appends `value` as 8 big-endian bytes.
void AppendBigEndian64(std::string* out, uint64_t value);
// Reads 8 big-endian bytes; nullopt when `bytes` is shorter than 8.
std::optional<uint64_t> ReadBigEndian64(absl::string_view bytes);

// prefix + big-endian number.
std::string NumberedKey(absl::string_view prefix, uint64_t number);
std::string LogKey(uint64_t index);
// The index of a log key; nullopt for a key outside the log table or malformed.
std::optional<uint64_t> LogIndexOf(absl::string_view key);

// The smallest key greater than every key starting with `prefix` (prefix must
// not be all 0xff bytes), for seeking to the end of a table.
std::string PrefixEnd(absl::string_view prefix);

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_KEYS_H_
