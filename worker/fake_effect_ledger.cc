#include "worker/fake_effect_ledger.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {

uint64_t FakeEffectLedger::NowMsLocked() {
  const uint64_t wall = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  last_ms_ = std::max(last_ms_, wall);
  return last_ms_;
}

void FakeEffectLedger::AppendLocked(RequestRecord* record) {
  ++offset_;
  record->set_version(offset_);
  record->set_updated_at_ms(NowMsLocked());
  records_[record->request_id()] = *record;
  WatchEvent event;
  event.set_offset(offset_);
  *event.mutable_record() = *record;
  event.set_applied_offset(offset_);
  events_.push_back(std::move(event));
  changed_.notify_all();
}

EffectResponse FakeEffectLedger::ResponseLocked(ResultCode code,
                                                const std::string& request_id) {
  EffectResponse response;
  response.set_code(code);
  auto it = records_.find(request_id);
  if (it != records_.end()) *response.mutable_record() = it->second;
  response.set_offset(offset_);
  return response;
}

absl::Status FakeEffectLedger::CheckDomain(const std::string& domain) const {
  if (absl::StartsWith(domain, allowed_worker_domains_))
    return absl::OkStatus();
  return MakeError(ErrorCode::kDomainUnavailable,
                   absl::StrCat("worker domain ", domain, " is not allowed"));
}

void FakeEffectLedger::Submit(const std::string& request_id,
                              const std::string& account_id,
                              const std::string& month) {
  std::lock_guard<std::mutex> lock(mu_);
  RequestRecord record;
  record.set_request_id(request_id);
  record.set_account_id(account_id);
  record.set_month(month);
  record.set_state(ACCEPTED);
  record.set_accepted_offset(offset_ + 1);
  record.set_accepted_at_ms(NowMsLocked());
  AppendLocked(&record);
}

std::optional<RequestRecord> FakeEffectLedger::Record(
    const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(request_id);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

int FakeEffectLedger::CompletesApplied(const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = completes_.find(request_id);
  return it == completes_.end() ? 0 : it->second;
}

int FakeEffectLedger::ReserveCalls(const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reserves_.find(request_id);
  return it == reserves_.end() ? 0 : it->second;
}

void FakeEffectLedger::BreakWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  ++watch_generation_;
  changed_.notify_all();
}

bool FakeEffectLedger::StealLease(const std::string& request_id,
                                  const std::string& thief, uint64_t lease_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(request_id);
  if (it == records_.end() || it->second.state() != RUNNING) return false;
  RequestRecord record = it->second;
  record.set_lease_holder(thief);
  record.set_fencing_token(offset_ + 1);
  record.set_lease_expiry_ms(NowMsLocked() + lease_ms);
  record.set_attempts(record.attempts() + 1);
  AppendLocked(&record);
  return true;
}

bool FakeEffectLedger::WaitFor(
    const std::function<bool(const std::map<std::string, RequestRecord>&)>&
        done,
    std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return done(records_); });
}

absl::Status FakeEffectLedger::Watch(
    uint64_t from_offset,
    const std::function<void(const WatchEvent&)>& on_event,
    const std::atomic<bool>& cancelled) {
  std::vector<WatchEvent> batch;
  size_t cursor = 0;
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = watch_generation_;
    // Catch-up: unfinished requests in version order, then everything after.
    std::vector<const RequestRecord*> unfinished;
    for (const auto& [id, record] : records_) {
      if (record.state() == ACCEPTED || record.state() == RUNNING) {
        unfinished.push_back(&record);
      }
    }
    std::sort(unfinished.begin(), unfinished.end(),
              [](const RequestRecord* a, const RequestRecord* b) {
                return a->version() < b->version();
              });
    for (const RequestRecord* record : unfinished) {
      WatchEvent event;
      event.set_offset(record->version());
      *event.mutable_record() = *record;
      event.set_catch_up(true);
      event.set_applied_offset(offset_);
      batch.push_back(std::move(event));
    }
    cursor = events_.size();
  }
  while (true) {
    for (const WatchEvent& event : batch) {
      if (cancelled.load()) return absl::OkStatus();
      on_event(event);
    }
    batch.clear();
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(20), [&] {
      return events_.size() > cursor || watch_generation_ != generation;
    });
    if (cancelled.load()) return absl::OkStatus();
    if (watch_generation_ != generation) {
      return MakeError(ErrorCode::kNoQuorum, "watch stream broken (test)");
    }
    batch.assign(events_.begin() + cursor, events_.end());
    cursor = events_.size();
  }
}

absl::StatusOr<EffectResponse> FakeEffectLedger::Reserve(
    const ReserveEffectRequest& request) {
  if (absl::Status s = CheckDomain(request.worker_domain()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  ++reserves_[request.request_id()];
  auto it = records_.find(request.request_id());
  if (it == records_.end())
    return ResponseLocked(RESULT_NOT_FOUND, request.request_id());
  RequestRecord record = it->second;
  if (record.state() == COMPLETED || record.state() == FAILED) {
    return ResponseLocked(RESULT_ALREADY_DONE, request.request_id());
  }
  const uint64_t now = NowMsLocked();
  const bool lease_live =
      record.state() == RUNNING && record.lease_expiry_ms() > now;
  if (lease_live && record.lease_holder() != request.worker_id()) {
    return ResponseLocked(RESULT_LEASE_HELD, request.request_id());
  }
  // As in the state machine: the holder re-reserving its own live lease gets a
  // fresh token without spending an attempt.
  const bool renewal = lease_live;
  if (!renewal && request.max_attempts() != 0 &&
      record.attempts() >= request.max_attempts()) {
    record.set_state(FAILED);
    record.set_failure("leases expired too many times");
    AppendLocked(&record);
    return ResponseLocked(RESULT_ALREADY_DONE, request.request_id());
  }
  record.set_state(RUNNING);
  if (!renewal) record.set_attempts(record.attempts() + 1);
  record.set_lease_holder(request.worker_id());
  record.set_lease_holder_domain(request.worker_domain());
  record.set_fencing_token(offset_ + 1);
  record.set_lease_expiry_ms(now + request.lease_ms());
  AppendLocked(&record);
  EffectResponse response = ResponseLocked(RESULT_OK, request.request_id());
  response.mutable_effect()->set_effect_key(request.effect_key());
  response.mutable_effect()->set_request_id(request.request_id());
  response.mutable_effect()->set_holder_worker(request.worker_id());
  response.mutable_effect()->set_fencing_token(record.fencing_token());
  response.mutable_effect()->set_lease_expiry_ms(record.lease_expiry_ms());
  return response;
}

absl::StatusOr<EffectResponse> FakeEffectLedger::ExtendLease(
    const ExtendLeaseRequest& request) {
  if (absl::Status s = CheckDomain(request.worker_domain()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(request.request_id());
  if (it == records_.end() || it->second.state() != RUNNING ||
      it->second.lease_holder() != request.worker_id() ||
      it->second.fencing_token() != request.fencing_token()) {
    return ResponseLocked(RESULT_CAS_FAILED, request.request_id());
  }
  RequestRecord record = it->second;
  record.set_lease_expiry_ms(NowMsLocked() + request.lease_ms());
  AppendLocked(
      &record);  // bumps the version: Complete must CAS on the newest one
  return ResponseLocked(RESULT_OK, request.request_id());
}

absl::StatusOr<EffectResponse> FakeEffectLedger::Complete(
    const CompleteRequest& request) {
  if (absl::Status s = CheckDomain(request.worker_domain()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(request.request_id());
  if (it == records_.end() || it->second.state() != RUNNING ||
      it->second.version() != request.expected_version() ||
      it->second.fencing_token() != request.fencing_token()) {
    return ResponseLocked(RESULT_CAS_FAILED, request.request_id());
  }
  RequestRecord record = it->second;
  record.set_state(COMPLETED);
  ReportResult* result = record.mutable_result();
  result->set_report_location(request.report_location());
  result->set_worker_id(request.worker_id());
  result->set_worker_domain(request.worker_domain());
  result->set_completed_offset(offset_ + 1);
  result->set_fencing_token(request.fencing_token());
  ++completes_[request.request_id()];
  AppendLocked(&record);
  return ResponseLocked(RESULT_OK, request.request_id());
}

absl::StatusOr<EffectResponse> FakeEffectLedger::Fail(
    const FailRequest& request) {
  if (absl::Status s = CheckDomain(request.worker_domain()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(request.request_id());
  if (it == records_.end() || it->second.state() != RUNNING ||
      it->second.version() != request.expected_version() ||
      it->second.fencing_token() != request.fencing_token()) {
    return ResponseLocked(RESULT_CAS_FAILED, request.request_id());
  }
  RequestRecord record = it->second;
  record.set_failure(request.error());
  if (!request.retryable() || record.attempts() >= request.max_attempts()) {
    record.set_state(FAILED);
  } else {
    record.set_state(ACCEPTED);
  }
  record.clear_lease_holder();
  record.clear_lease_holder_domain();
  record.clear_lease_expiry_ms();
  AppendLocked(&record);
  return ResponseLocked(RESULT_OK, request.request_id());
}

}  // namespace report
