// The consensus core: fenced-epoch quorum commit (Raft, with the epoch as its
// term) as a pure, deterministic, single-threaded state machine. It does no
// I/O: no clocks, threads, sockets or disk. Inputs are Tick(), Step(),
// Propose(), ReadIndex(), OnPersisted(); the caller drains outputs with
// TakeReady(). The replica process wraps it with LevelDB storage, gRPC
// transport and timers; consensus-sim wraps it with a simulated network, clock
// and disk.
//
// The persistence contract (what the caller must do with a Ready, in order):
//   1. If `hard_state` is set, make it durable before sending any of
//      `after_persist`.
//   2. `entries` are appended in order; an entry whose index is <= the last
//      stored index replaces that entry and everything after it. Once they
//      are durable the caller calls OnPersisted(last_index, last_epoch).
//      Appends from consecutive Readys must be made durable in order (a
//      single writer queue does this).
//   3. `messages` may be sent at once (the leader's appends and heartbeats),
//      so the leader's own fsync runs in parallel with replication.
//   4. `after_persist` may be sent only once everything the Ready asked to
//      persist (and everything before it) is durable: votes and append
//      acknowledgements.
//   5. `committed` entries are applied in order. They are committed on a
//      quorum and already durable locally.
//   6. `snapshot_chunks` are appended, in order, to the snapshot being
//      received (a chunk at offset 0 discards whatever was staged before); they
//      are durable with the rest of the Ready, before `after_persist` is sent.
//   7. `install_snapshot`, once everything before it is durable: the caller
//      checks the staged snapshot (its checksum, then the state machine's
//      digest after loading it) and replaces its state and log with it
//      atomically (after a crash at any point it holds either the old state
//      or the new one), then calls OnSnapshotInstalled(); or, when a check
//      fails, discards it and calls OnSnapshotRejected().
//
// Snapshots and compaction: the caller takes snapshots of its state machine at
// an applied index and may then drop log entries at or below that index (never
// above it): LogStore::FirstIndex() - 1 <= LogStore::Snapshot().index(). A
// follower whose next entry the leader no longer holds is sent the leader's
// newest snapshot in chunks (MSG_SNAPSHOT), resumably: it answers how many
// bytes it holds durably, and a transfer cut by a crash, a lost message or a
// new leader continues from there as long as the snapshot is the same.
#ifndef REPORT_REPLICA_CONSENSUS_NODE_H_
#define REPORT_REPLICA_CONSENSUS_NODE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/consensus.pb.h"

namespace report::consensus {

// What the core may read of the durable log. Reflects only entries the caller
// has made durable (and reported with OnPersisted); entries still in flight are
// kept by the core. Reads are synchronous and must be deterministic.
class LogStore {
 public:
  virtual ~LogStore() = default;
  // Index of the first stored entry (1 for a log that was never compacted).
  virtual uint64_t FirstIndex() const = 0;
  // Index of the last stored entry; FirstIndex()-1 when empty.
  virtual uint64_t LastIndex() const = 0;
  // Epoch of the entry at `index`, FirstIndex()-1 <= index <= LastIndex(); 0
  // for index 0.
  virtual uint64_t EpochAt(uint64_t index) const = 0;
  // Entries [lo, hi) (FirstIndex() <= lo < hi <= LastIndex()+1), at most
  // max_bytes of data but always at least one entry.
  virtual std::vector<Entry> Entries(uint64_t lo, uint64_t hi,
                                     uint64_t max_bytes) const = 0;
  // The newest snapshot the caller holds (index 0: none). Every entry at or
  // below FirstIndex()-1 is covered by it.
  virtual SnapshotMeta Snapshot() const { return SnapshotMeta(); }
  // Up to max_bytes (at least one byte unless at the end) of the snapshot
  // `meta` names, from `offset`; false when that snapshot is no longer held.
  virtual bool ReadSnapshot(const SnapshotMeta& meta, uint64_t offset,
                            uint64_t max_bytes, std::string* out) const {
    (void)meta;
    (void)offset;
    (void)max_bytes;
    (void)out;
    return false;
  }
};

// Same snapshot (index, epoch, size, checksum and digest all equal).
bool SameSnapshot(const SnapshotMeta& a, const SnapshotMeta& b);
// FNV-1a 64 over `data`, continuing from `hash` (a snapshot's checksum).
uint64_t SnapshotChecksum(const std::string& data,
                          uint64_t hash = 0xcbf29ce484222325ULL);

// Epochs and indices above these limits never occur in a correct cluster (a
// new epoch every microsecond would take 146,000 years to reach 2^62); a
// message carrying one is malformed, and an epoch at the limit is never raised,
// so no input can wrap a counter.
inline constexpr uint64_t kMaxEpoch = uint64_t{1} << 62;
inline constexpr uint64_t kMaxIndex = uint64_t{1} << 62;

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

struct Config {
  uint64_t id = 0;               // this replica, non-zero
  std::vector<uint64_t> voters;  // every member, including id
  // Replicas (the leader included) that must hold an entry durably before it
  // commits; 0 or anything below a majority means a majority. Elections,
  // check-quorum and ReadIndex always need a majority, which every commit
  // quorum of at least a majority intersects.
  uint32_t commit_quorum = 0;
  // Follower/candidate: campaign after a random timeout in [election_ticks,
  // 2*election_ticks).
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  // Leader steps down when it has not heard from a quorum within
  // election_ticks.
  bool check_quorum = true;
  uint64_t max_entries_per_message = 512;
  uint64_t max_bytes_per_message = 1 << 20;
  int max_inflight_messages = 64;  // per follower, in replicate state
  // Snapshot chunks (each up to max_bytes_per_message) in flight per follower
  // (also bounded by max_inflight_messages).
  int max_inflight_snapshot_chunks = 4;
  uint64_t seed = 1;  // seeds the randomized election timeout
  // State recovered from durable storage at start.
  HardState hard_state;
  uint64_t applied = 0;  // highest index already applied by the state machine
  // A snapshot being received when the node stopped (index 0: none) and how
  // many of its bytes are durable: the transfer resumes from there, and a
  // complete one is installed at once.
  SnapshotMeta staged_snapshot;
  uint64_t staged_bytes = 0;
};

struct SoftState {
  uint64_t leader = 0;
  Role role = Role::kFollower;
};

// Answer to a ReadIndex request: once the state machine has applied `index`, a
// read issued with `context` is linearizable.
struct ReadState {
  uint64_t index = 0;
  std::string context;
};

// Bytes of a snapshot being received, to append to the staged copy.
struct SnapshotChunk {
  SnapshotMeta meta;
  uint64_t offset = 0;
  std::string data;
};

struct Ready {
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Message> after_persist;
  std::vector<Entry> committed;
  std::vector<ReadState> read_states;
  // ReadIndex requests that cannot be served here (not leader / no leader /
  // leader not yet committed in its epoch): their contexts, so the caller can
  // fail or retry them.
  std::vector<std::string> dropped_reads;
  std::optional<SoftState> soft_state;
  std::vector<SnapshotChunk> snapshot_chunks;
  std::optional<SnapshotMeta> install_snapshot;
};

// Where a proposal landed. It is committed when an entry with this index *and
// epoch* is applied; an applied entry at this index with another epoch means it
// was superseded.
struct ProposalPosition {
  uint64_t index = 0;
  uint64_t epoch = 0;
};

// How the leader sends to a follower (as etcd/raft's tracker): probe (one
// append at a time until the logs agree), replicate (pipelined appends) or
// snapshot (the follower needs entries the leader compacted: chunks of a
// snapshot until the follower has installed it).
enum class ProgressState { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState state);

struct Progress {
  uint64_t id = 0;
  uint64_t match = 0;
  uint64_t next = 0;
  bool replicating = false;  // state == kReplicate
  ProgressState state = ProgressState::kProbe;
  uint64_t snapshot_index = 0;  // kSnapshot: the snapshot being sent
  uint64_t snapshot_acked = 0;  // kSnapshot: its bytes the follower holds
};

class Node {
 public:
  // `log` must outlive the node and reflect what is durable (see LogStore).
  Node(const Config& config, const LogStore* log);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Advances logical time by one tick.
  void Tick();
  // Handles a message from a peer. Messages from lower epochs are rejected
  // (answered or dropped as Raft says); messages from non-members are ignored;
  // malformed ones (see malformed_messages) are dropped before they can change
  // anything: input from the network never stops the process.
  void Step(const Message& message);
  // Same, taking ownership so appended entry payloads are moved, not copied.
  void Step(Message&& message);
  // Leader only: appends entries (their index/epoch are assigned here, type and
  // data kept). Returns the position of each, or nullopt when this node is not
  // the leader.
  std::optional<std::vector<ProposalPosition>> Propose(
      std::vector<Entry> entries);
  // Requests a linearizable read index; the answer comes back as a ReadState
  // (or in dropped_reads) with the same context.
  void ReadIndex(std::string context);
  // The caller made entries through `index` (of `epoch`) durable.
  void OnPersisted(uint64_t index, uint64_t epoch);
  // Starts an election now (tests).
  void Campaign();
  // Leader only: hands leadership to voter `target` (Raft's leadership
  // transfer). From now on Propose refuses (returns nullopt) while the leader
  // brings `target` up to its last entry and then sends it TimeoutNow, on
  // which `target` campaigns at once, in the next epoch, without a pre-vote;
  // the other voters grant it although they still hear from this leader. The
  // transfer ends when this node steps down (the target won), or is abandoned
  // after an election timeout (this node leads on, proposals accepted again).
  // False when this node does not lead or `target` is no other voter; true
  // (and nothing happens) when `target` is this node.
  bool TransferLeadership(uint64_t target);
  // Leader: the voter a transfer in progress hands over to; 0 when none.
  uint64_t transferee() const;
  // The caller installed the snapshot a Ready asked for (the LogStore now
  // ends at its index, with its epoch), or discarded it after a failed check.
  void OnSnapshotInstalled(const SnapshotMeta& meta);
  void OnSnapshotRejected(const SnapshotMeta& meta);
  // True while a received snapshot waits for the caller to install it; the
  // node then answers no appends and starts no election.
  bool installing_snapshot() const;

  bool HasReady() const;
  Ready TakeReady();

  uint64_t id() const;
  uint64_t epoch() const;
  uint64_t leader() const;
  Role role() const;
  uint64_t commit_index() const;
  uint64_t last_index() const;
  uint64_t last_persisted_index() const;
  // Messages dropped because they break the protocol's shape (entries not
  // consecutive or out of epoch order, an epoch beyond kMaxEpoch, a conflict
  // with a committed entry, an acknowledgement past the leader's log).
  uint64_t malformed_messages() const;
  // Leader only (empty otherwise): progress of every other voter.
  std::vector<Progress> progress() const;
  // True when the leader has committed an entry of its own epoch.
  bool committed_in_current_epoch() const;
  // The commit quorum in force (see Config::commit_quorum).
  size_t commit_quorum() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace report::consensus

#endif  // REPORT_REPLICA_CONSENSUS_NODE_H_
