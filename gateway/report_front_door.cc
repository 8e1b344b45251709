#include "gateway/report_front_door.h"

#include <future>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/error_code.h"
#include "common/receipt.h"
#include "common/sha256.h"
#include "common/validation.h"

namespace report::gateway {

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
  status.set_cancel_requested(record.cancel_requested());
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
  return report::ValidateRequestId(request_id);
}

absl::Status ReportFrontDoor::CheckApiKey(
    absl::string_view authorization) const {
  if (options_.api_keys == nullptr) return absl::OkStatus();
  return options_.api_keys->Authenticate(authorization).status();
}

absl::Status ReportFrontDoor::Admit(
    const report::api::SubmitReportRequest& request,
    absl::string_view authorization) const {
  if (options_.api_keys != nullptr) {
    absl::StatusOr<AccountGrant> grant =
        options_.api_keys->Authenticate(authorization);
    if (!grant.ok()) return grant.status();
    if (!grant->Covers(request.account_id())) {
      return MakeError(ErrorCode::kPermissionDenied,
                       "this API key may not submit for that account");
    }
  }
  // The field limits are the shared ones the replicas enforce too.
  if (absl::Status s = ValidateSubmitReportRequest(request); !s.ok()) return s;
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
    const report::api::SubmitReportRequest& request,
    absl::string_view authorization) const {
  std::promise<absl::StatusOr<report::Receipt>> answer;
  std::future<absl::StatusOr<report::Receipt>> answered = answer.get_future();
  SubmitAsync(
      request,
      [&answer](absl::StatusOr<report::Receipt> receipt) {
        answer.set_value(std::move(receipt));
      },
      authorization);
  return answered.get();
}

void ReportFrontDoor::SubmitAsync(
    const report::api::SubmitReportRequest& request, SubmitDone done,
    absl::string_view authorization) const {
  const absl::Time start = absl::Now();
  auto finish = [this, start, done = std::move(done)](
                    absl::StatusOr<report::Receipt> receipt) {
    metrics_->ObserveSubmitLatency(absl::Now() - start);
    if (receipt.ok() && receipt->status_path().empty()) {
      receipt->set_status_path(StatusPathOf(receipt->request_id()));
    }
    done(std::move(receipt));
  };
  if (absl::Status s = Admit(request, authorization); !s.ok()) {
    finish(s);
    return;
  }
  report::ReportSubmission submission;
  submission.set_request_id(request.request_id());
  submission.set_account_id(request.account_id());
  submission.set_month(request.month());
  backend_->SubmitAsync(submission, options_.submit_timeout, std::move(finish));
}

absl::StatusOr<std::optional<AccountGrant>> ReportFrontDoor::Grant(
    absl::string_view authorization) const {
  if (options_.api_keys == nullptr) return std::optional<AccountGrant>();
  absl::StatusOr<AccountGrant> granted =
      options_.api_keys->Authenticate(authorization);
  if (!granted.ok()) return granted.status();
  return std::optional<AccountGrant>(*std::move(granted));
}

absl::Status ReportFrontDoor::CheckIngress() const {
  absl::Status allowed = ingress_check_
                             ? ingress_check_()
                             : MakeError(ErrorCode::kDomainUnavailable,
                                         "no placement check configured");
  if (allowed.ok()) return allowed;
  return MakeError(ErrorCode::kDomainUnavailable, ErrorDetail(allowed));
}

absl::StatusOr<report::api::ReportStatus> ReportFrontDoor::CancelReport(
    const report::api::CancelReportRequest& request,
    absl::string_view authorization) const {
  absl::StatusOr<std::optional<AccountGrant>> grant = Grant(authorization);
  if (!grant.ok()) return grant.status();
  if (absl::Status s = ValidateCancelReportRequest(request); !s.ok()) return s;
  if (absl::Status s = CheckIngress(); !s.ok()) return s;
  if (grant->has_value()) {
    // Whose request it is decides whether this key may cancel it; an account
    // the key does not cover reads as an unknown id.
    absl::StatusOr<report::ReadStatusResponse> read = backend_->ReadStatus(
        request.request_id(), 0, absl::ZeroDuration(), report::LINEARIZABLE);
    if (!read.ok()) return read.status();
    if (!(*grant)->Covers(read->record().account_id())) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat("no request '", request.request_id(), "'"));
    }
  }
  absl::StatusOr<report::EffectResponse> cancelled =
      backend_->Cancel(request.request_id(), options_.submit_timeout);
  if (!cancelled.ok()) return cancelled.status();
  return ToReportStatus(cancelled->record(), cancelled->offset());
}

absl::StatusOr<ReportFrontDoor::ReportContent>
ReportFrontDoor::GetReportContent(const report::api::GetReportRequest& request,
                                  absl::string_view authorization) const {
  absl::StatusOr<report::api::ReportStatus> status =
      GetReport(request, authorization);
  if (!status.ok()) return status.status();
  if (status->state() != report::COMPLETED) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("request '", request.request_id(), "' is ",
                                  report::RequestState_Name(status->state()),
                                  " at served offset ", status->served_offset(),
                                  ": its report exists once it is COMPLETED"));
  }
  if (options_.report_store == nullptr) {
    return MakeError(ErrorCode::kNotFound,
                     "this gateway has no report store configured");
  }
  absl::StatusOr<std::string> document =
      options_.report_store->Read(status->effect_key(), kMaxReportBytes);
  if (!document.ok()) return document.status();
  ReportContent content;
  content.etag = absl::StrCat("\"", status->effect_key(), ":",
                              Sha256Hex(*document).substr(0, 16), "\"");
  content.document = *std::move(document);
  return content;
}

std::string ReportFrontDoor::PageTokenOf(uint64_t before_offset) {
  return absl::WebSafeBase64Escape(absl::StrCat("v1:", before_offset));
}

absl::StatusOr<uint64_t> ReportFrontDoor::BeforeOffsetOf(
    absl::string_view token) {
  std::string decoded;
  uint64_t offset = 0;
  absl::string_view text;
  if (absl::WebSafeBase64Unescape(token, &decoded)) text = decoded;
  if (!absl::ConsumePrefix(&text, "v1:") || !absl::SimpleAtoi(text, &offset) ||
      offset == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "page_token is not one this API returned");
  }
  return offset;
}

absl::StatusOr<report::api::ListReportsResponse> ReportFrontDoor::ListReports(
    const report::api::ListReportsRequest& request,
    absl::string_view authorization) const {
  absl::StatusOr<std::optional<AccountGrant>> grant = Grant(authorization);
  if (!grant.ok()) return grant.status();
  if (absl::Status s = ValidateListReportsRequest(request); !s.ok()) return s;
  if (grant->has_value() && !(*grant)->Covers(request.account_id())) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("no account '", request.account_id(), "'"));
  }
  report::ListRequestsRequest list;
  list.set_account_id(request.account_id());
  list.set_state(request.state());
  list.set_page_size(request.page_size() == 0 ? kDefaultPageSize
                                              : request.page_size());
  if (!request.page_token().empty()) {
    absl::StatusOr<uint64_t> before = BeforeOffsetOf(request.page_token());
    if (!before.ok()) return before.status();
    list.set_before_offset(*before);
  }
  list.set_min_offset(request.min_offset());
  const uint64_t max_wait_ms =
      static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.max_read_wait));
  const absl::Duration wait = request.wait_ms() >= max_wait_ms
                                  ? options_.max_read_wait
                                  : absl::Milliseconds(request.wait_ms());
  absl::StatusOr<report::ListRequestsResponse> page =
      backend_->ListRequests(list, wait);
  if (!page.ok()) return page.status();
  report::api::ListReportsResponse response;
  for (const report::RequestRecord& record : page->records()) {
    *response.add_reports() = ToReportStatus(record, page->served_offset());
  }
  if (page->next_before_offset() != 0) {
    response.set_next_page_token(PageTokenOf(page->next_before_offset()));
  }
  return response;
}

absl::StatusOr<report::api::ReportStatus> ReportFrontDoor::GetReport(
    const report::api::GetReportRequest& request,
    absl::string_view authorization) const {
  std::optional<AccountGrant> grant;
  if (options_.api_keys != nullptr) {
    absl::StatusOr<AccountGrant> granted =
        options_.api_keys->Authenticate(authorization);
    if (!granted.ok()) return granted.status();
    grant = *std::move(granted);
  }
  if (absl::Status s = ValidateGetReportRequest(request); !s.ok()) return s;
  const uint64_t max_wait_ms =
      static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.max_read_wait));
  const absl::Duration wait = request.wait_ms() >= max_wait_ms
                                  ? options_.max_read_wait
                                  : absl::Milliseconds(request.wait_ms());
  // Each long poll holds a thread for up to max_read_wait: bounded, so that
  // slow readers cannot take the threads quick reads and submits need.
  const bool long_poll = wait > absl::ZeroDuration();
  if (long_poll) {
    int current = long_polls_.load();
    do {
      if (current >= options_.max_long_polls) {
        return MakeError(
            ErrorCode::kOverloaded,
            absl::StrCat("gateway overloaded: ", current,
                         " status reads with wait_ms are in progress; retry "
                         "after Retry-After or read without waiting"));
      }
    } while (!long_polls_.compare_exchange_weak(current, current + 1));
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<report::ReadStatusResponse> read = backend_->ReadStatus(
      request.request_id(), request.min_offset(), wait, request.consistency());
  metrics_->ObserveStatusLatency(absl::Now() - start);
  if (long_poll) long_polls_.fetch_sub(1);
  if (!read.ok()) {
    if (ErrorCodeOf(read.status()) == ErrorCode::kStaleRead) {
      metrics_->CountStaleRead();
    }
    return read.status();
  }
  if (grant.has_value() && !grant->Covers(read->record().account_id())) {
    // Worded as the replicas word an unknown id: no existence leak.
    return MakeError(
        ErrorCode::kNotFound,
        absl::StrCat("no request '", request.request_id(),
                     "' at served offset ", read->served_offset()));
  }
  return ToReportStatus(read->record(), read->served_offset());
}

}  // namespace report::gateway
