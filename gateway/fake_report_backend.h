// Test-only: an in-memory ReportBackend with the cluster's answers (new,
// duplicate, IdempotencyConflict, NotFound, StaleRead), call counters,
// injectable errors and a gate that holds submits, so transports can be tested
// without a cluster.
#ifndef REPORT_GATEWAY_FAKE_REPORT_BACKEND_H_
#define REPORT_GATEWAY_FAKE_REPORT_BACKEND_H_

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/error_code.h"
#include "common/receipt.h"
#include "gateway/report_backend.h"

namespace report::gateway {

class FakeReportBackend : public ReportBackend {
 public:
  static constexpr uint64_t kEpoch = 3;

  ~FakeReportBackend() override {
    for (std::thread& answerer : answerers_) answerer.join();
  }

  // Answers inline, on the caller's thread; after AnswerOnOtherThreads(true),
  // from a thread of its own, as the real backend answers from its sender.
  void SubmitAsync(
      const report::ReportSubmission& submission, absl::Duration timeout,
      std::function<void(absl::StatusOr<report::Receipt>)> done) override {
    if (!answer_on_other_threads_) {
      done(Submit(submission, timeout));
      return;
    }
    absl::MutexLock lock(&answerers_mu_);
    answerers_.emplace_back(
        [this, submission, timeout, done = std::move(done)] {
          done(Submit(submission, timeout));
        });
  }
  void AnswerOnOtherThreads(bool other) { answer_on_other_threads_ = other; }

  absl::StatusOr<report::Receipt> Submit(
      const report::ReportSubmission& submission, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    ++submit_calls_;
    ++submits_waiting_;
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &hold_submits_));
    --submits_waiting_;
    last_submit_timeout_ = timeout;
    if (submit_error_) return *submit_error_;
    auto it = records_.find(submission.request_id());
    if (it != records_.end()) {
      const report::RequestRecord& record = it->second;
      if (record.account_id() != submission.account_id() ||
          record.month() != submission.month()) {
        return MakeError(ErrorCode::kIdempotencyConflict,
                         "request id already used with another payload");
      }
      return report::ReceiptFor(record, /*duplicate=*/true);
    }
    report::RequestRecord& record = records_[submission.request_id()];
    record.set_request_id(submission.request_id());
    record.set_account_id(submission.account_id());
    record.set_month(submission.month());
    record.set_fingerprint("f1ngerpr1nt");
    record.set_state(report::ACCEPTED);
    record.set_accepted_offset(++last_offset_);
    record.set_accepted_epoch(kEpoch);
    record.set_version(last_offset_);
    applied_offset_ = last_offset_;
    return report::ReceiptFor(record, /*duplicate=*/false);
  }

  absl::StatusOr<report::ReadStatusResponse> ReadStatus(
      const std::string& request_id, uint64_t min_offset, absl::Duration wait,
      report::ReadConsistency consistency) override {
    absl::MutexLock lock(&mu_);
    ++read_calls_;
    last_read_wait_ = wait;
    last_read_consistency_ = consistency;
    if (wait > absl::ZeroDuration()) {
      // A long poll: held like a replica that has not reached min_offset.
      ++long_polls_waiting_;
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &hold_long_polls_));
      --long_polls_waiting_;
    }
    if (min_offset > applied_offset_) {
      return MakeError(
          ErrorCode::kStaleRead,
          absl::StrCat("applied offset ", applied_offset_, " < ", min_offset));
    }
    auto it = records_.find(request_id);
    if (it == records_.end()) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat("no request ", request_id));
    }
    report::ReadStatusResponse response;
    *response.mutable_record() = it->second;
    response.set_served_offset(applied_offset_);
    return response;
  }

  // Newest first over every record of the account (no paging beyond one
  // page: tests hold few records).
  absl::StatusOr<report::ListRequestsResponse> ListRequests(
      const report::ListRequestsRequest& request,
      absl::Duration wait) override {
    absl::MutexLock lock(&mu_);
    last_list_ = request;
    report::ListRequestsResponse response;
    std::vector<report::RequestRecord> records;
    for (const auto& [id, record] : records_) {
      if (record.account_id() != request.account_id()) continue;
      if (request.before_offset() != 0 &&
          record.accepted_offset() >= request.before_offset()) {
        continue;
      }
      if (request.state() != report::REQUEST_STATE_UNSPECIFIED &&
          record.state() != request.state()) {
        continue;
      }
      records.push_back(record);
    }
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return a.accepted_offset() > b.accepted_offset();
    });
    for (const report::RequestRecord& record : records) {
      if (response.records_size() == static_cast<int>(request.page_size())) {
        response.set_next_before_offset(record.accepted_offset() + 1);
        break;
      }
      *response.add_records() = record;
    }
    response.set_served_offset(applied_offset_);
    return response;
  }
  report::ListRequestsRequest last_list() const {
    absl::MutexLock lock(&mu_);
    return last_list_;
  }

  absl::StatusOr<report::EffectResponse> Cancel(const std::string& request_id,
                                                absl::Duration) override {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(request_id);
    if (it == records_.end()) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat("no request ", request_id));
    }
    report::EffectResponse response;
    report::RequestRecord& record = it->second;
    if (record.state() == report::ACCEPTED) {
      record.set_state(report::CANCELLED);
      record.set_version(++last_offset_);
      applied_offset_ = last_offset_;
    } else if (record.state() == report::RUNNING) {
      record.set_cancel_requested(true);
    } else {
      response.set_code(report::RESULT_ALREADY_DONE);
    }
    *response.mutable_record() = record;
    return response;
  }

  // Replaces (or adds) a record, e.g. to show a RUNNING or COMPLETED status.
  void PutRecord(const report::RequestRecord& record) {
    absl::MutexLock lock(&mu_);
    records_[record.request_id()] = record;
  }
  void SetAppliedOffset(uint64_t offset) {
    absl::MutexLock lock(&mu_);
    applied_offset_ = offset;
  }
  void FailSubmits(std::optional<absl::Status> error) {
    absl::MutexLock lock(&mu_);
    submit_error_ = std::move(error);
  }
  void HoldSubmits(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_submits_ = hold;
  }
  // Holds status reads that may wait (wait > 0) until released.
  void HoldLongPolls(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_long_polls_ = hold;
  }
  // Waits (up to `deadline`) until `n` long polls are held at the gate.
  bool AwaitHeldLongPolls(int n, absl::Duration deadline) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return long_polls_waiting_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), deadline);
  }
  // Waits (up to `deadline`) until `n` submits are held at the gate.
  bool AwaitHeldSubmits(int n, absl::Duration deadline) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return submits_waiting_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), deadline);
  }

  int submit_calls() const {
    absl::MutexLock lock(&mu_);
    return submit_calls_;
  }
  int read_calls() const {
    absl::MutexLock lock(&mu_);
    return read_calls_;
  }
  size_t record_count() const {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  report::ReadConsistency last_read_consistency() const {
    absl::MutexLock lock(&mu_);
    return last_read_consistency_;
  }
  absl::Duration last_read_wait() const {
    absl::MutexLock lock(&mu_);
    return last_read_wait_;
  }
  absl::Duration last_submit_timeout() const {
    absl::MutexLock lock(&mu_);
    return last_submit_timeout_;
  }

 private:
  std::atomic<bool> answer_on_other_threads_{false};
  absl::Mutex answerers_mu_;
  std::vector<std::thread> answerers_ ABSL_GUARDED_BY(answerers_mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, report::RequestRecord> records_ ABSL_GUARDED_BY(mu_);
  uint64_t last_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t applied_offset_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> submit_error_ ABSL_GUARDED_BY(mu_);
  bool hold_submits_ ABSL_GUARDED_BY(mu_) = false;
  int submits_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_long_polls_ ABSL_GUARDED_BY(mu_) = false;
  int long_polls_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int submit_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int read_calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration last_read_wait_ ABSL_GUARDED_BY(mu_);
  report::ListRequestsRequest last_list_ ABSL_GUARDED_BY(mu_);
  report::ReadConsistency last_read_consistency_ ABSL_GUARDED_BY(mu_) =
      report::AT_LEAST_OFFSET;
  absl::Duration last_submit_timeout_ ABSL_GUARDED_BY(mu_);
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_FAKE_REPORT_BACKEND_H_
