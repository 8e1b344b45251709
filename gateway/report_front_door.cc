#include "gateway/report_front_door.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report::gateway {
namespace {

// Input rules of DESIGN §7. Kept private to the gateway until the shared
// validation library lands; the rules are the ones the replicas enforce as
// well.
constexpr size_t kMaxIdLength = 128;

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

absl::Status ValidateId(absl::string_view field, absl::string_view value) {
  if (value.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat(field, " is required"));
  }
  if (value.size() > kMaxIdLength) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat(field, " is longer than ", kMaxIdLength, " characters"));
  }
  for (char c : value) {
    if (!IsIdChar(c)) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          absl::StrCat(field, " may contain only A-Z a-z 0-9 . _ : -"));
    }
  }
  return absl::OkStatus();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status ValidateMonth(absl::string_view month) {
  const absl::Status bad = MakeError(ErrorCode::kInvalidArgument,
                                     "month must be YYYY-MM with MM in 01..12");
  if (month.size() != 7 || month[4] != '-') return bad;
  for (size_t i : {0, 1, 2, 3, 5, 6}) {
    if (!IsDigit(month[i])) return bad;
  }
  const int mm = (month[5] - '0') * 10 + (month[6] - '0');
  if (mm < 1 || mm > 12) return bad;
  return absl::OkStatus();
}

absl::Status ValidateSubmission(
    const report::api::SubmitReportRequest& request) {
  if (absl::Status s = ValidateId("request_id", request.request_id());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateId("account_id", request.account_id());
      !s.ok()) {
    return s;
  }
  return ValidateMonth(request.month());
}

}  // namespace

report::api::ReportStatus ToReportStatus(const report::RequestRecord& record,
                                         uint64_t served_offset) {
  report::api::ReportStatus status;
  status.set_request_id(record.request_id());
  status.set_state(record.state());
  status.set_accepted_offset(record.accepted_offset());
  status.set_version(record.version());
  status.set_attempts(record.attempts());
  status.set_account_id(record.account_id());
  status.set_month(record.month());
  status.set_fingerprint(record.fingerprint());
  switch (record.state()) {
    case report::RUNNING:
      status.set_worker_id(record.lease_holder());
      status.set_worker_domain(record.lease_holder_domain());
      status.set_fencing_token(record.fencing_token());
      status.set_lease_expiry_ms(record.lease_expiry_ms());
      break;
    case report::COMPLETED: {
      const report::ReportResult& result = record.result();
      status.set_worker_id(result.worker_id());
      status.set_worker_domain(result.worker_domain());
      status.set_fencing_token(result.fencing_token());
      status.set_report_location(result.report_location());
      status.set_effect_key(result.effect_key());
      status.set_completed_offset(result.completed_offset());
      break;
    }
    case report::FAILED:
      status.set_failure(record.failure());
      break;
    default:
      break;
  }
  status.set_served_offset(served_offset);
  return status;
}

ReportFrontDoor::ReportFrontDoor(ReportBackend* backend,
                                 IngressCheck ingress_check,
                                 GatewayMetrics* metrics,
                                 FrontDoorOptions options)
    : backend_(backend),
      ingress_check_(std::move(ingress_check)),
      metrics_(metrics),
      options_(std::move(options)) {}

absl::Status ReportFrontDoor::ValidateRequestId(absl::string_view request_id) {
  return ValidateId("request_id", request_id);
}

absl::Status ReportFrontDoor::Admit(
    const report::api::SubmitReportRequest& request) const {
  if (absl::Status s = ValidateSubmission(request); !s.ok()) return s;
  if (!ingress_check_) {
    return MakeError(
        ErrorCode::kDomainUnavailable,
        absl::StrCat("no placement check configured for ingress domain ",
                     options_.domain));
  }
  absl::Status allowed = ingress_check_();
  if (allowed.ok()) return allowed;
  // Whatever went wrong, the answer is a refusal: an ingress check that cannot
  // be made must not let the submission through.
  return MakeError(ErrorCode::kDomainUnavailable, ErrorDetail(allowed));
}

absl::StatusOr<report::Receipt> ReportFrontDoor::Submit(
    const report::api::SubmitReportRequest& request) const {
  const absl::Time start = absl::Now();
  absl::StatusOr<report::Receipt> receipt =
      [&]() -> absl::StatusOr<report::Receipt> {
    if (absl::Status s = Admit(request); !s.ok()) return s;
    report::ReportSubmission submission;
    submission.set_request_id(request.request_id());
    submission.set_account_id(request.account_id());
    submission.set_month(request.month());
    return backend_->Submit(submission, options_.submit_timeout);
  }();
  metrics_->ObserveSubmitLatency(absl::Now() - start);
  if (receipt.ok() && receipt->status_path().empty()) {
    receipt->set_status_path(absl::StrCat("/reports/", receipt->request_id()));
  }
  return receipt;
}

absl::StatusOr<report::api::ReportStatus> ReportFrontDoor::GetReport(
    const report::api::GetReportRequest& request) const {
  if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok())
    return s;
  const uint64_t max_wait_ms =
      static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.max_read_wait));
  const absl::Duration wait = request.wait_ms() >= max_wait_ms
                                  ? options_.max_read_wait
                                  : absl::Milliseconds(request.wait_ms());
  absl::StatusOr<report::ReadStatusResponse> read =
      backend_->ReadStatus(request.request_id(), request.min_offset(), wait);
  if (!read.ok()) {
    if (ErrorCodeOf(read.status()) == ErrorCode::kStaleRead) {
      metrics_->CountStaleRead();
    }
    return read.status();
  }
  return ToReportStatus(read->record(), read->served_offset());
}

}  // namespace report::gateway
