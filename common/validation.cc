#include "common/validation.h"

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/hex.h"

namespace report {
namespace {

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

// A character as it can be shown in a one-line message.
std::string Describe(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u == ' ') return "a space";
  if (u < 0x20 || u >= 0x7f) {
    return absl::StrCat("byte 0x", HexByte(u));
  }
  return absl::StrCat("'", std::string(1, c), "'");
}

absl::Status ValidateId(absl::string_view id, absl::string_view field) {
  if (id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat(field, " is required"));
  }
  if (id.size() > kMaxIdLength) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat(field, " is ", id.size(), " characters; at most ",
                     kMaxIdLength, " are allowed"));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IsIdChar(id[i])) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          absl::StrCat(field, " contains ", Describe(id[i]), " at position ", i,
                       "; allowed characters are A-Z a-z 0-9 . _ : -"));
    }
  }
  return absl::OkStatus();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A byte-string field of bounded size; `required` refuses "".
absl::Status ValidateLength(absl::string_view value, absl::string_view field,
                            size_t max_length, bool required) {
  if (required && value.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat(field, " is required"));
  }
  if (value.size() > max_length) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat(field, " is ", value.size(), " bytes; at most ",
                     max_length, " are allowed"));
  }
  return absl::OkStatus();
}

bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

}  // namespace

absl::Status ValidateRequestId(absl::string_view request_id) {
  return ValidateId(request_id, "request_id");
}

absl::Status ValidateAccountId(absl::string_view account_id) {
  return ValidateId(account_id, "account_id");
}

namespace {

absl::Status BadMonth(absl::string_view why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   absl::StrCat("month must be YYYY-MM (", why, ")"));
}

}  // namespace

absl::StatusOr<absl::CivilMonth> ParseMonth(absl::string_view month) {
  if (month.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "month is required");
  }
  // absl::ParseCivilTime alone would also take "2024-3" or "+2024-03".
  if (month.size() != 7 || month[4] != '-') return BadMonth("e.g. 2024-03");
  for (size_t i : {0, 1, 2, 3, 5, 6}) {
    if (!IsDigit(month[i])) return BadMonth("e.g. 2024-03");
  }
  const int month_number = (month[5] - '0') * 10 + (month[6] - '0');
  if (month_number < 1 || month_number > 12) return BadMonth("month 01..12");
  absl::CivilMonth parsed;
  if (!absl::ParseCivilTime(month, &parsed)) return BadMonth("e.g. 2024-03");
  return parsed;
}

absl::Status ValidateMonth(absl::string_view month) {
  absl::StatusOr<absl::CivilMonth> parsed = ParseMonth(month);
  if (!parsed.ok()) return parsed.status();
  if (parsed->year() < 1970) return BadMonth("year 1970..9999");
  return absl::OkStatus();
}

absl::Status ValidateFingerprint(absl::string_view fingerprint) {
  if (fingerprint.empty()) return absl::OkStatus();
  if (fingerprint.size() != kFingerprintLength) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("fingerprint is ", fingerprint.size(),
                                  " bytes; a fingerprint is ",
                                  kFingerprintLength, " hex characters"));
  }
  for (size_t i = 0; i < fingerprint.size(); ++i) {
    if (!IsLowerHex(fingerprint[i])) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          absl::StrCat("fingerprint contains ", Describe(fingerprint[i]),
                       " at position ", i, "; allowed characters are 0-9 a-f"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDomainSize(absl::string_view domain,
                                absl::string_view field) {
  if (absl::Status s = ValidateLength(domain, field, kMaxDomainLength,
                                      /*required=*/false);
      !s.ok()) {
    return s;
  }
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('/', start);
    if (end == absl::string_view::npos) end = domain.size();
    if (end - start > kMaxDomainSegmentLength) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat(field, " has a segment of ", end - start,
                                    " bytes; at most ", kMaxDomainSegmentLength,
                                    " are allowed"));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateWorkerId(absl::string_view worker_id) {
  return ValidateLength(worker_id, "worker_id", kMaxWorkerIdLength,
                        /*required=*/true);
}

absl::Status ValidateEffectKey(absl::string_view effect_key) {
  return ValidateLength(effect_key, "effect_key", kMaxEffectKeyLength,
                        /*required=*/true);
}

absl::Status ValidateReportLocation(absl::string_view report_location) {
  return ValidateLength(report_location, "report_location",
                        kMaxReportLocationLength, /*required=*/true);
}

absl::Status ValidateFailure(absl::string_view error) {
  return ValidateLength(error, "error", kMaxFailureLength,
                        /*required=*/false);
}

std::string FitFailure(absl::string_view error) {
  if (error.size() <= kMaxFailureLength) return std::string(error);
  size_t end = kMaxFailureLength;
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (static_cast<unsigned char>(error[end]) & 0xc0) == 0x80) {
    --end;
  }
  return std::string(error.substr(0, end));
}

absl::Status ValidateLeaseMs(uint64_t lease_ms) {
  if (lease_ms == 0 || lease_ms > kMaxLeaseMs) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("lease_ms is ", lease_ms, "; it must be 1..",
                                  kMaxLeaseMs));
  }
  return absl::OkStatus();
}

absl::Status ValidateMaxAttempts(uint32_t max_attempts) {
  if (max_attempts > kMaxAttempts) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("max_attempts is ", max_attempts,
                                  "; it must be 0 (no limit)..", kMaxAttempts));
  }
  return absl::OkStatus();
}

absl::Status ValidateSubmission(const ReportSubmission& submission) {
  absl::Status status = ValidateRequestId(submission.request_id());
  if (!status.ok()) return status;
  status = ValidateAccountId(submission.account_id());
  if (!status.ok()) return status;
  return ValidateMonth(submission.month());
}

absl::Status ValidateSubmitRequest(const SubmitRequest& request) {
  if (absl::Status s = ValidateSubmission(request.submission()); !s.ok())
    return s;
  if (absl::Status s =
          ValidateDomainSize(request.ingress_domain(), "ingress_domain");
      !s.ok()) {
    return s;
  }
  return ValidateFingerprint(request.fingerprint());
}

absl::Status ValidateSubmitBatchSize(int submits) {
  if (submits < 1 || submits > kMaxSubmitsPerBatch) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("a batch carries 1..", kMaxSubmitsPerBatch,
                                  " submits, got ", submits));
  }
  return absl::OkStatus();
}

absl::Status ValidateReadStatusRequest(const ReadStatusRequest& request) {
  if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok())
    return s;
  if (!ReadConsistency_IsValid(request.consistency())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("consistency ", request.consistency(),
                                  " is not AT_LEAST_OFFSET or LINEARIZABLE"));
  }
  return absl::OkStatus();
}

namespace {

// The fields every worker call carries: which request, which holder, from
// which domain.
template <typename WorkerCall>
absl::Status ValidateWorkerCall(const WorkerCall& request) {
  if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok())
    return s;
  if (absl::Status s = ValidateWorkerId(request.worker_id()); !s.ok()) return s;
  return ValidateDomainSize(request.worker_domain(), "worker_domain");
}

}  // namespace

absl::Status ValidateReserveEffectRequest(const ReserveEffectRequest& request) {
  if (absl::Status s = ValidateWorkerCall(request); !s.ok()) return s;
  if (absl::Status s = ValidateEffectKey(request.effect_key()); !s.ok())
    return s;
  if (absl::Status s = ValidateLeaseMs(request.lease_ms()); !s.ok()) return s;
  return ValidateMaxAttempts(request.max_attempts());
}

absl::Status ValidateExtendLeaseRequest(const ExtendLeaseRequest& request) {
  if (absl::Status s = ValidateWorkerCall(request); !s.ok()) return s;
  return ValidateLeaseMs(request.lease_ms());
}

absl::Status ValidateCompleteRequest(const CompleteRequest& request) {
  if (absl::Status s = ValidateWorkerCall(request); !s.ok()) return s;
  return ValidateReportLocation(request.report_location());
}

absl::Status ValidateFailRequest(const FailRequest& request) {
  if (absl::Status s = ValidateWorkerCall(request); !s.ok()) return s;
  if (absl::Status s = ValidateFailure(request.error()); !s.ok()) return s;
  return ValidateMaxAttempts(request.max_attempts());
}

absl::Status ValidateWatchRequest(const WatchRequest& request) {
  return ValidateDomainSize(request.worker_domain(), "worker_domain");
}

absl::Status ValidateSubmitReportRequest(
    const api::SubmitReportRequest& request) {
  ReportSubmission submission;
  submission.set_request_id(request.request_id());
  submission.set_account_id(request.account_id());
  submission.set_month(request.month());
  return ValidateSubmission(submission);
}

absl::Status ValidateCancelRequest(const CancelRequest& request) {
  if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok())
    return s;
  return ValidateDomainSize(request.ingress_domain(), "ingress_domain");
}

namespace {

absl::Status ValidateListFields(absl::string_view account_id,
                                RequestState state) {
  if (absl::Status s = ValidateAccountId(account_id); !s.ok()) return s;
  if (!RequestState_IsValid(state)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "state must be ACCEPTED, RUNNING, COMPLETED, FAILED or "
                     "CANCELLED");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateListRequestsRequest(const ListRequestsRequest& request) {
  if (absl::Status s =
          ValidateListFields(request.account_id(), request.state());
      !s.ok()) {
    return s;
  }
  if (request.page_size() < 1 || request.page_size() > kMaxPageSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("page_size must be 1..", kMaxPageSize));
  }
  if (!ReadConsistency_IsValid(request.consistency())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "consistency must be AT_LEAST_OFFSET or LINEARIZABLE");
  }
  return absl::OkStatus();
}

absl::Status ValidateCancelReportRequest(
    const api::CancelReportRequest& request) {
  return ValidateRequestId(request.request_id());
}

absl::Status ValidateListReportsRequest(
    const api::ListReportsRequest& request) {
  if (absl::Status s =
          ValidateListFields(request.account_id(), request.state());
      !s.ok()) {
    return s;
  }
  if (request.page_size() > kMaxPageSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("page_size must be 0..", kMaxPageSize));
  }
  if (request.page_token().size() > 64) {
    return MakeError(ErrorCode::kInvalidArgument, "page_token is malformed");
  }
  return absl::OkStatus();
}

absl::Status ValidateGetReportRequest(const api::GetReportRequest& request) {
  if (!ReadConsistency_IsValid(request.consistency())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "consistency must be AT_LEAST_OFFSET or LINEARIZABLE");
  }
  return ValidateRequestId(request.request_id());
}

}  // namespace report
