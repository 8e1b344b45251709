// The report state machine (docs/STORAGE.md): applies committed log entries to
// the request, effect and unfinished-work tables in the replica's LevelDB.
// Deterministic: the same log gives byte-identical tables and the same digest
// on every replica. Time is cluster time: leases are judged only against the
// timestamp the leader stamped into each command.
//
// Threading: Apply() runs on one thread (the driver). Reads (GetRequest,
// GetEffect, ForEachUnfinished, LowestUnfinishedOffset, applied_index, digest)
// are thread-safe and may run concurrently with Apply; a read sees at least the
// state as of applied_index() read before it (possibly newer).
//
// Command rules are documented in docs/STORAGE.md ("State machine rules").
#ifndef REPORT_REPLICA_STATE_MACHINE_REPORT_STATE_MACHINE_H_
#define REPORT_REPLICA_STATE_MACHINE_REPORT_STATE_MACHINE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "leveldb/db.h"
#include "proto/consensus.pb.h"
#include "proto/report.pb.h"

namespace report {

// The outcome of one applied log entry. For a barrier or an unparsable entry
// `command` is empty; the result of a barrier is RESULT_OK, of garbage
// RESULT_INVALID.
struct AppliedCommand {
  uint64_t index = 0;
  uint64_t epoch = 0;
  consensus::EntryType type = consensus::ENTRY_NORMAL;
  Command command;
  CommandResult result;
};

class ReportStateMachine {
 public:
  // Loads the applied index and digest from `db`, which must outlive the state
  // machine.
  explicit ReportStateMachine(leveldb::DB* db);
  ReportStateMachine(const ReportStateMachine&) = delete;
  ReportStateMachine& operator=(const ReportStateMachine&) = delete;

  // Re-reads the applied index, digest and counts from the database after a
  // snapshot replaced the tables (driver thread, no Apply running).
  void Reload();

  uint64_t applied_index() const;
  // Hex SHA-256 chain over every applied entry (64 zeros before the first).
  std::string digest() const;
  // The applied index and the digest at it, read together (hex digest).
  std::pair<uint64_t, std::string> applied_and_digest() const;

  // Applies committed entries in index order, skipping those at or below
  // applied_index() (replay after a restart is idempotent). All changes, the
  // new applied index and digest go into one LevelDB WriteBatch (not synced:
  // the log is durable and replaying it restores anything lost). A gap after
  // applied_index() or a failed write is fatal. Returns one AppliedCommand per
  // entry actually applied.
  std::vector<AppliedCommand> Apply(
      const std::vector<consensus::Entry>& entries);

  // NotFound (MakeError(kNotFound)) for an unknown id / key.
  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) const;
  absl::StatusOr<EffectRecord> GetEffect(const std::string& effect_key) const;
  // Visits every ACCEPTED or RUNNING request in accepted-offset order, from one
  // consistent snapshot, until `visit` returns false.
  void ForEachUnfinished(
      const std::function<bool(const RequestRecord&)>& visit) const;
  // The accepted offset of the oldest unfinished request, or applied_index()+1
  // when there is none: a worker following the log from here misses no
  // unfinished work.
  uint64_t LowestUnfinishedOffset() const;

  // One page of an account's requests, newest first, from one consistent
  // snapshot: those accepted below `before_offset` (0: from the newest), in
  // `state` unless it is REQUEST_STATE_UNSPECIFIED, at most `page_size`
  // records and at most `scan_limit` index entries looked at. The returned
  // offset is where the next page starts (0 when the index is exhausted).
  struct AccountPage {
    std::vector<RequestRecord> records;
    uint64_t next_before_offset = 0;
  };
  AccountPage ListAccount(const std::string& account_id, RequestState state,
                          uint64_t before_offset, size_t page_size,
                          size_t scan_limit) const;

  // Requests in `state` as of the last Apply (counted at construction, kept on
  // every change).
  int64_t RequestsInState(RequestState state) const;
  // When the oldest unfinished request was accepted (cluster time, ms); nullopt
  // when none is unfinished.
  std::optional<uint64_t> OldestUnfinishedAcceptedAtMs() const;
  // Declares report_requests{state} and report_oldest_unfinished_age_seconds
  // in `registry`, read from this state machine at every scrape; the state
  // machine must outlive the registry's last rendering.
  void ExportMetrics(metrics::Registry* registry) const;

 private:
  class Batch;

  CommandResult ApplyCommand(Batch& batch, uint64_t index, uint64_t epoch,
                             const Command& command);
  CommandResult Submit(Batch& batch, uint64_t index, uint64_t epoch,
                       uint64_t now, const SubmitCommand& submit);
  CommandResult ReserveEffect(Batch& batch, uint64_t index, uint64_t now,
                              const ReserveEffectCommand& reserve);
  CommandResult ExtendLease(Batch& batch, uint64_t index, uint64_t now,
                            const ExtendLeaseCommand& extend);
  CommandResult Cancel(Batch& batch, uint64_t index, uint64_t now,
                       const CancelCommand& cancel);
  CommandResult Complete(Batch& batch, uint64_t index, uint64_t now,
                         const CompleteCommand& complete);
  CommandResult Fail(Batch& batch, uint64_t index, uint64_t now,
                     const FailCommand& fail);

  leveldb::DB* const db_;
  // std::mutex rather than absl::Mutex: the system Abseil is not
  // TSan-instrumented.
  mutable std::mutex mu_;
  uint64_t applied_index_ = 0;  // guarded by mu_
  // Indexed by RequestState; written by Apply only.
  std::array<std::atomic<int64_t>, RequestState_ARRAYSIZE> requests_by_state_{};
  std::string digest_;  // 32 raw bytes, guarded by mu_
};

}  // namespace report

#endif  // REPORT_REPLICA_STATE_MACHINE_REPORT_STATE_MACHINE_H_
