// The consensus driver: the one owner of the consensus core (consensus::Node),
// as etcd's raftNode is of its raft. It runs the core's clock, hands new
// entries to durable storage (the leader's fsync runs while its appends are
// already on the wire), sends messages, hands committed entries to the apply
// layer, and answers proposals and read-index requests.
//
//   proposers ──Propose──▶ ┌────────┐ ──Persist──▶ LogSink (fsync, group
//   commit) peers ─────Step──────▶ │ Driver │ ──Send─────▶ MessageSink (peer
//   streams) readers ───ReadIndex─▶ └────────┘ ──apply────▶ state machine, then
//   on_applied
//
// Everything the core does happens under the driver's mutex; the driver thread
// takes the core's output (a consensus::Ready) and acts on it outside the
// mutex. Proposals are tracked by a ProposalTracker and finished (their
// callers woken) after the mutex is released.
//
// Storage and transport are interfaces so the driver runs in unit tests over a
// consensus::MemoryLogStore and an in-process message router: no disk, no gRPC.
#ifndef REPORT_REPLICA_SERVER_DRIVER_H_
#define REPORT_REPLICA_SERVER_DRIVER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/consensus.pb.h"
#include "proto/report.pb.h"
#include "replica/consensus/node.h"
#include "replica/server/cluster_clock.h"
#include "replica/server/event_loop.h"
#include "replica/server/proposal_tracker.h"
#include "replica/state_machine/report_state_machine.h"
#include "replica/storage/durable_log.h"

namespace report {

// Where the driver's entries become durable.
class LogSink {
 public:
  virtual ~LogSink() = default;
  // Queues entries (contiguous; the first may rewrite a suffix) and/or a hard
  // state. `on_durable` runs, on any thread and in call order, once they and
  // everything queued before are durable.
  virtual void Persist(std::vector<consensus::Entry> entries,
                       std::optional<consensus::HardState> hard_state,
                       std::function<void()> on_durable) = 0;
  // Makes a durable span readable through the LogStore the core reads. The
  // driver calls it under its mutex, in Persist order, before telling the
  // core.
  virtual void MarkDurable(const storage::LogSpan& span) = 0;
};

// Where a snapshot received from the leader is staged and installed
// (docs/STORAGE.md, "Snapshots"). Null in DriverOptions: this replica never
// receives one (unit tests over an uncompacted log).
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  // Driver thread: appends chunks to the staged snapshot, durable on return.
  virtual void Stage(const std::vector<consensus::SnapshotChunk>& chunks) = 0;
  // Driver thread, every earlier write durable: checks the staged snapshot and
  // replaces state and log with it atomically. False when a check failed
  // (nothing changed).
  virtual bool Install(const consensus::SnapshotMeta& meta) = 0;
  // Under the driver's lock, right after a successful Install: make the new
  // log bounds visible to the core.
  virtual void Installed(const consensus::SnapshotMeta& meta) = 0;
};

// Where the driver's consensus messages go. Must not block.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void Send(std::vector<consensus::Message> messages) = 0;
};

struct DriverOptions {
  consensus::Config config;
  int tick_ms = 50;
  // gRPC address of each member, for NotLeader answers that name the leader.
  std::map<uint64_t, std::string> addresses;
  // The newest cluster-time stamp in the log at start (NewestStamp).
  uint64_t newest_stamp_ms = 0;
  // What the driver thread waits on (not owned; must outlive the driver);
  // null: a CvEventLoop of its own.
  EventLoop* event_loop = nullptr;
  SnapshotSink* snapshots = nullptr;
};

// What the replica reports about its core (ClusterStatus, metrics).
struct CoreStatus {
  consensus::Role role = consensus::Role::kFollower;
  uint64_t epoch = 0;
  uint64_t leader = 0;
  std::string leader_address;
  uint64_t commit_index = 0;
  uint64_t last_index = 0;
  std::vector<consensus::Progress> progress;
  uint64_t transferee = 0;  // leader: the member it is handing over to
};

class Driver {
 public:
  // Applies committed entries in order and returns their outcomes (the state
  // machine's Apply). Runs on the driver thread.
  using ApplyFn = std::function<std::vector<AppliedCommand>(
      const std::vector<consensus::Entry>&)>;
  // Told of every applied batch after its proposals are answered (the watch
  // hub's Publish). Runs on the driver thread.
  using AppliedFn = std::function<void(const std::vector<AppliedCommand>&)>;

  // `log` is the store the core reads (what `sink` made durable); `log`,
  // `sink` and `transport` must outlive the driver.
  Driver(DriverOptions options, const consensus::LogStore* log, LogSink* sink,
         MessageSink* transport, ApplyFn apply, AppliedFn on_applied);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Starts the driver thread.
  void Start();
  // Stops the driver thread and answers every pending proposal and read with
  // CommitUnknown. Entries already handed to the sink stay there.
  void Stop();

  // Consensus messages from `from` (already checked to be a peer).
  void Step(uint64_t from, const consensus::MessageBatch& batch);
  // Starts an election now (tests; leadership transfer).
  void Campaign();
  // Runs `fn` under the driver's lock, between two steps of the core (a new
  // snapshot and compaction change what the core's LogStore reports).
  void RunLocked(const std::function<void()>& fn);

  // Leader only: hands leadership to member `target` (the core's
  // TransferLeadership). NotLeader elsewhere; InvalidArgument when `target`
  // is no other member. Returns at once; Status() shows the outcome.
  absl::Status TransferLeadership(uint64_t target);

  // OK on the leader; NotLeader naming the leader (when known) elsewhere, and
  // naming the member it hands over to while a leadership transfer runs.
  absl::Status CheckLeader() const;

  // A batch of commands being built under the driver's mutex.
  struct Batch {
    std::vector<Command> commands;
    // For each command: the request id and fingerprint it puts in flight
    // (submits), or empty.
    std::vector<std::pair<std::string, std::string>> in_flight;
  };
  // Builds and proposes one batch atomically: `build` runs under the driver's
  // mutex with the tracker (read-only: in-flight submits to join) and fills
  // the batch; then each command is stamped with cluster time, proposed as one
  // append, and tracked. Returns one Proposal per command, in order (none when
  // `build` added none). `build`'s own error is returned as is; NotLeader or
  // NoQuorum when the core does not accept proposals.
  absl::StatusOr<std::vector<std::shared_ptr<Proposal>>> Propose(
      absl::FunctionRef<absl::Status(const ProposalTracker&, Batch*)> build);
  // One command.
  absl::StatusOr<std::shared_ptr<Proposal>> ProposeOne(Command command);

  // A linearizable read index: the commit index once a quorum confirmed this
  // replica still leads. NotLeader / NoQuorum otherwise or at the deadline.
  absl::StatusOr<uint64_t> ReadIndex(absl::Time deadline);

  // The tracker's in-flight generation (see ProposalTracker).
  uint64_t in_flight_generation() const;

  CoreStatus Status() const;
  // Messages the core dropped as malformed (see consensus::Node).
  uint64_t malformed_messages() const;

 private:
  struct ReadWaiter;

  void Loop();
  void HandleReady(consensus::Ready ready);
  void OnDurable(const storage::LogSpan& span,
                 std::vector<consensus::Message> after_persist);
  void Apply(const std::vector<consensus::Entry>& committed);
  void InstallSnapshot(const consensus::SnapshotMeta& meta);
  void ResolveReads(const std::vector<consensus::ReadState>& states,
                    const std::vector<std::string>& dropped);
  absl::Status CheckLeaderLocked() const;

  const DriverOptions options_;
  LogSink* const sink_;
  MessageSink* const transport_;
  const ApplyFn apply_;
  const AppliedFn on_applied_;

  std::unique_ptr<EventLoop> own_loop_;
  EventLoop* const loop_;

  // Guards the core and the bookkeeping of proposals and reads.
  mutable std::mutex mu_;
  std::unique_ptr<consensus::Node> node_;
  bool stopping_ = false;
  consensus::Role role_ = consensus::Role::kFollower;
  ClusterClock clock_;
  ProposalTracker tracker_;
  std::map<std::string, std::shared_ptr<ReadWaiter>> read_waiters_;
  uint64_t next_read_context_ = 0;
  // A received snapshot whose earlier writes are durable, to install on the
  // driver thread.
  std::optional<consensus::SnapshotMeta> pending_install_;

  // Epoch and vote last handed to the sink (driver thread only).
  uint64_t persisted_epoch_ = 0;
  uint64_t persisted_vote_ = 0;

  std::thread thread_;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_DRIVER_H_
