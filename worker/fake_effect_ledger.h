// An in-memory EffectLedger for unit tests: the effect rules of the report
// state machine (docs/STORAGE.md) kept minimal, one process, one lock,
// wall-clock "cluster time". Every change bumps the offset, becomes the
// record's version and is published to watchers.
#ifndef REPORT_WORKER_FAKE_EFFECT_LEDGER_H_
#define REPORT_WORKER_FAKE_EFFECT_LEDGER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "worker/effect_ledger.h"

namespace report {

class FakeEffectLedger : public EffectLedger {
 public:
  // Workers whose domain does not start with `allowed_worker_domains` get
  // DomainUnavailable.
  explicit FakeEffectLedger(std::string allowed_worker_domains = "")
      : allowed_worker_domains_(std::move(allowed_worker_domains)) {}

  void Submit(const std::string& request_id, const std::string& account_id,
              const std::string& month);
  std::optional<RequestRecord> Record(const std::string& request_id) const;
  // Complete commands applied (RESULT_OK) for the request: exactly-once
  // means 1.
  int CompletesApplied(const std::string& request_id) const;
  // Reserve calls made for the request, whatever their result.
  int ReserveCalls(const std::string& request_id) const;
  // Makes every Watch in progress return Unavailable (a broken stream).
  void BreakWatches();
  // As if the holder's lease expired and `thief` reserved the request: the
  // holder's fencing token is stale from now on. False unless the request is
  // RUNNING.
  bool StealLease(const std::string& request_id, const std::string& thief,
                  uint64_t lease_ms);
  // Waits until `done` holds over the records (checked after each change) or
  // the timeout.
  bool WaitFor(const std::function<
                   bool(const std::map<std::string, RequestRecord>&)>& done,
               std::chrono::milliseconds timeout) const;

  absl::Status Watch(uint64_t from_offset,
                     const std::function<void(const WatchEvent&)>& on_event,
                     const std::atomic<bool>& cancelled) override;
  absl::StatusOr<EffectResponse> Reserve(
      const ReserveEffectRequest& request) override;
  absl::StatusOr<EffectResponse> ExtendLease(
      const ExtendLeaseRequest& request) override;
  absl::StatusOr<EffectResponse> Complete(
      const CompleteRequest& request) override;
  absl::StatusOr<EffectResponse> Fail(const FailRequest& request) override;

 private:
  uint64_t NowMsLocked();
  // Stamps the change (offset, version, time), stores it and publishes it.
  void AppendLocked(RequestRecord* record);
  EffectResponse ResponseLocked(ResultCode code, const std::string& request_id);
  absl::Status CheckDomain(const std::string& domain) const;

  const std::string allowed_worker_domains_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t offset_ = 0;
  uint64_t last_ms_ = 0;
  uint64_t watch_generation_ = 0;
  std::map<std::string, RequestRecord> records_;
  std::map<std::string, int> completes_;
  std::map<std::string, int> reserves_;
  std::vector<WatchEvent> events_;
};

}  // namespace report

#endif  // REPORT_WORKER_FAKE_EFFECT_LEDGER_H_
