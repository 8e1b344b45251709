// A recorded client history of a fault test and the checks that judge it
// (docs/PERFORMANCE.md).
//
// Clients record what the system told them while faults happened: every receipt
// (request id
// -> accepted offset, payload fingerprint), every submit whose outcome they
// could not learn (CommitUnknown, NoQuorum, ...) and every status read
// (min_offset asked, served_offset answered). After the run the test collects
// the final state (every request's record and the sink's effect files) and
// CheckHistory says which promises were broken:
//   durability      every receipt is present afterwards with the same offset
//   and fingerprint; uniqueness      no two requests at one offset, no request
//   at two offsets; monotonic reads per client, served_offset never goes
//   backwards, and a read at min_offset
//                   N never answers from an offset below N (nor misses a
//                   receipt it covers);
//   effects         at most one sink file per request, only for accepted
//   requests, and every
//                   COMPLETED request has exactly one;
//   unknown outcome a submit without an answer is afterwards either absent or
//   present with
//                   the payload that was sent, never another one;
//   cancels         a cancel that was answered names a request that exists
//                   afterwards; one answered CANCELLED before any work was
//                   granted (attempts 0) ends CANCELLED with no effect file.
#ifndef REPORT_TOOLS_HISTORY_CHECKER_H_
#define REPORT_TOOLS_HISTORY_CHECKER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "proto/report.pb.h"

namespace report::history {

struct ReceiptEvent {
  std::string client;
  std::string request_id;
  uint64_t accepted_offset = 0;
  std::string fingerprint;  // of the payload the client sent
  bool duplicate = false;
};

// A submit that ended without a receipt; `error_code` is the ErrorCode name.
struct UnknownOutcomeEvent {
  std::string client;
  std::string request_id;
  std::string fingerprint;
  std::string error_code;
};

struct ReadEvent {
  std::string client;
  std::string request_id;
  uint64_t min_offset = 0;
  uint64_t served_offset = 0;
  bool found = false;  // false: the replica answered NotFound at served_offset
  RequestState state = REQUEST_STATE_UNSPECIFIED;
  uint64_t accepted_offset = 0;
};

// A cancel the cluster answered, with the state it answered.
struct CancelEvent {
  std::string client;
  std::string request_id;
  RequestState state = REQUEST_STATE_UNSPECIFIED;
  uint32_t attempts = 0;
};

// What clients observed, in the order each client observed it. Thread-safe.
class History {
 public:
  void AddReceipt(ReceiptEvent event);
  void AddUnknownOutcome(UnknownOutcomeEvent event);
  void AddRead(ReadEvent event);
  void AddCancel(CancelEvent event);

  std::vector<ReceiptEvent> receipts() const;
  std::vector<UnknownOutcomeEvent> unknown_outcomes() const;
  std::vector<ReadEvent> reads() const;
  std::vector<CancelEvent> cancels() const;

 private:
  mutable std::mutex mu_;
  std::vector<ReceiptEvent> receipts_;
  std::vector<UnknownOutcomeEvent> unknown_outcomes_;
  std::vector<ReadEvent> reads_;
  std::vector<CancelEvent> cancels_;
};

// The system's state after the run, read once every replica has converged.
struct FinalState {
  // Every request the history mentions that the cluster knows, by request id.
  std::map<std::string, RequestRecord> records;
  // Request ids of the sink's effect files, one entry per file (so a request
  // with two files appears twice).
  std::vector<std::string> effect_request_ids;
};

struct Violation {
  std::string check;  // durability | uniqueness | monotonic-reads | effects |
                      // unknown-outcome | cancels
  std::string detail;
};

std::vector<Violation> CheckDurability(const History& history,
                                       const FinalState& final_state);
std::vector<Violation> CheckUniqueness(const History& history,
                                       const FinalState& final_state);
std::vector<Violation> CheckMonotonicReads(const History& history);
std::vector<Violation> CheckEffects(const FinalState& final_state);
std::vector<Violation> CheckUnknownOutcomes(const History& history,
                                            const FinalState& final_state);
std::vector<Violation> CheckCancels(const History& history,
                                    const FinalState& final_state);
// All of the above.
std::vector<Violation> CheckHistory(const History& history,
                                    const FinalState& final_state);

// One line per violation, for test failure messages.
std::string Describe(const std::vector<Violation>& violations);

}  // namespace report::history

#endif  // REPORT_TOOLS_HISTORY_CHECKER_H_
