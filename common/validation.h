// Input validation: every field of every request a process accepts has a
// limit here (the table in docs/API.md#field-limits lists them). Checked
// before anything is proposed, on the gateway and again by the replica's
// service, so bad input changes nothing: the answer is InvalidArgument with the
// reason.
//
// The limits also bound the size of one log entry, which is what keeps every
// entry replicable: see kMaxCommandBytes and kMaxMessageBytes below.
#ifndef REPORT_COMMON_VALIDATION_H_
#define REPORT_COMMON_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "proto/replica_service.pb.h"
#include "proto/report.pb.h"
#include "proto/report_api.pb.h"

namespace report {

// request_id, account_id: 1..128 characters of [A-Za-z0-9._:-].
inline constexpr size_t kMaxIdLength = 128;
// month: exactly "YYYY-MM".
inline constexpr size_t kMonthLength = 7;
// fingerprint: empty or the 64 lowercase hex characters of a SHA-256.
inline constexpr size_t kFingerprintLength = 64;
// A failure domain is provider/region/zone (common/placement.h); each segment
// at most 63 bytes (a DNS label), so the whole at most 3*63+2.
inline constexpr size_t kMaxDomainSegmentLength = 63;
inline constexpr size_t kMaxDomainLength = 3 * kMaxDomainSegmentLength + 2;
// worker_id: 1..128 bytes.
inline constexpr size_t kMaxWorkerIdLength = 128;
// effect_key: 1..256 bytes (sink name, ':', request id).
inline constexpr size_t kMaxEffectKeyLength = 256;
// report_location: 1..8 KiB (a file:// URI: a path, percent-encoded).
inline constexpr size_t kMaxReportLocationLength = 8 << 10;
// A Fail's error text: at most 4 KiB (workers cut longer messages).
inline constexpr size_t kMaxFailureLength = 4 << 10;
// lease_ms: 1 ms .. 1 hour.
inline constexpr uint64_t kMaxLeaseMs = 3600 * 1000;
// max_attempts: 0 (no limit) .. 1000.
inline constexpr uint32_t kMaxAttempts = 1000;
// A SubmitBatch carries 1..1024 submits.
inline constexpr int kMaxSubmitsPerBatch = 1024;

namespace internal {
// Upper bound of a length-delimited field's encoding: tag, length, payload.
constexpr size_t StringFieldBytes(size_t length) { return 1 + 5 + length; }
// Upper bound of a varint field's encoding: tag and 10 bytes.
constexpr size_t kVarintFieldBytes = 1 + 10;
constexpr size_t Max(size_t a, size_t b) { return a > b ? a : b; }
}  // namespace internal

// The largest encoded report.Command the field limits allow: timestamp, the
// oneof's tag and length, and the largest kind. A CompleteCommand is the
// largest (8 KiB location + two ids + a domain + two varints), about 8.7 KiB.
inline constexpr size_t kMaxCommandBytes =
    internal::kVarintFieldBytes +
    internal::StringFieldBytes(internal::Max(
        internal::Max(
            // SubmitCommand
            internal::StringFieldBytes(
                internal::StringFieldBytes(kMaxIdLength) * 2 +
                internal::StringFieldBytes(kMonthLength)) +
                internal::StringFieldBytes(kFingerprintLength) +
                internal::StringFieldBytes(kMaxDomainLength),
            // ReserveEffectCommand
            internal::StringFieldBytes(kMaxIdLength) +
                internal::StringFieldBytes(kMaxEffectKeyLength) +
                internal::StringFieldBytes(kMaxWorkerIdLength) +
                internal::StringFieldBytes(kMaxDomainLength) +
                2 * internal::kVarintFieldBytes),
        internal::Max(
            // CompleteCommand (ExtendLeaseCommand is smaller)
            internal::StringFieldBytes(kMaxIdLength) +
                2 * internal::kVarintFieldBytes +
                internal::StringFieldBytes(kMaxWorkerIdLength) +
                internal::StringFieldBytes(kMaxDomainLength) +
                internal::StringFieldBytes(kMaxReportLocationLength),
            // FailCommand
            internal::StringFieldBytes(kMaxIdLength) +
                4 * internal::kVarintFieldBytes +
                internal::StringFieldBytes(kMaxWorkerIdLength) +
                internal::StringFieldBytes(kMaxFailureLength))));

// The largest gRPC message a replica sends to or accepts from anyone: the
// peer transport's frame limit, its channels' send limit and the replica
// server's receive limit are all this one constant.
//
// Why one append always fits: the consensus core fills an append with at most
// 1 MiB of entry data (Config::max_bytes_per_message) and 512 entries, except
// that one entry larger than 1 MiB would travel alone. No entry is: an entry
// is one Command (<= kMaxCommandBytes, about 8.7 KiB) or a barrier, plus at
// most 36 bytes of framing (index, epoch, type, tags and lengths). So an
// append is at most 1 MiB + 512 * 36 bytes + its header (~100 bytes), about
// 1.02 MiB, well under 4 MiB, and the transport splits batches of messages by
// bytes so no frame exceeds this limit.
inline constexpr size_t kMaxMessageBytes = 4 << 20;
static_assert(kMaxCommandBytes < (1 << 20),
              "no entry may exceed the append byte budget and travel alone");
static_assert((1 << 20) + 512 * 36 + 1024 < kMaxMessageBytes,
              "a full append must fit one frame");

// WatchCommitted: the initial-metadata key a replica sends as soon as it has
// taken a watch stream, so that the watcher knows it is open (a worker's
// readiness) before any event.
inline constexpr char kWatchOpenMetadata[] = "report-watch-open";

// request_id: 1..128 characters of [A-Za-z0-9._:-]. It appears in URLs
// (/reports/{id}) and sink file names, so "/", spaces, control characters and
// non-ASCII are refused. InvalidArgument with the reason otherwise.
absl::Status ValidateRequestId(absl::string_view request_id);
// account_id: same rules as request_id.
absl::Status ValidateAccountId(absl::string_view account_id);
// month: "YYYY-MM", year 1970..9999, month 01..12.
absl::Status ValidateMonth(absl::string_view month);
// "YYYY-MM" (exactly four and two digits, month 01..12, any year) as a civil
// month; the same InvalidArgument messages as ValidateMonth otherwise.
absl::StatusOr<absl::CivilMonth> ParseMonth(absl::string_view month);
// fingerprint: "" (not given) or 64 lowercase hex characters.
absl::Status ValidateFingerprint(absl::string_view fingerprint);
// A failure domain field (`field` names it): at most kMaxDomainLength bytes,
// no segment longer than kMaxDomainSegmentLength. Only the size: whether it is
// a well-formed, allowed domain is placement's answer (DomainUnavailable).
absl::Status ValidateDomainSize(absl::string_view domain,
                                absl::string_view field);
// worker_id: 1..kMaxWorkerIdLength bytes.
absl::Status ValidateWorkerId(absl::string_view worker_id);
// effect_key: 1..kMaxEffectKeyLength bytes.
absl::Status ValidateEffectKey(absl::string_view effect_key);
// report_location: 1..kMaxReportLocationLength bytes.
absl::Status ValidateReportLocation(absl::string_view report_location);
// A Fail's error text: at most kMaxFailureLength bytes.
absl::Status ValidateFailure(absl::string_view error);
// `error` cut to at most kMaxFailureLength bytes at a UTF-8 character
// boundary: what a worker sends, since losing the tail of a failure's text is
// better than having the Fail refused.
std::string FitFailure(absl::string_view error);
// lease_ms: 1..kMaxLeaseMs.
absl::Status ValidateLeaseMs(uint64_t lease_ms);
// max_attempts: 0..kMaxAttempts.
absl::Status ValidateMaxAttempts(uint32_t max_attempts);

// Whole requests: the first problem found, as InvalidArgument.
absl::Status ValidateSubmission(const ReportSubmission& submission);
absl::Status ValidateSubmitRequest(const SubmitRequest& request);
// Only the number of submits: each submit is judged on its own
// (ValidateSubmitRequest) and refused in its own outcome.
absl::Status ValidateSubmitBatchSize(int submits);
absl::Status ValidateReadStatusRequest(const ReadStatusRequest& request);
absl::Status ValidateReserveEffectRequest(const ReserveEffectRequest& request);
absl::Status ValidateExtendLeaseRequest(const ExtendLeaseRequest& request);
absl::Status ValidateCompleteRequest(const CompleteRequest& request);
absl::Status ValidateFailRequest(const FailRequest& request);
absl::Status ValidateWatchRequest(const WatchRequest& request);
// The public ReportApi.
absl::Status ValidateSubmitReportRequest(
    const api::SubmitReportRequest& request);
absl::Status ValidateGetReportRequest(const api::GetReportRequest& request);
// Pages of an account's requests hold 1..kMaxPageSize (0 on the public API
// means kDefaultPageSize).
inline constexpr uint32_t kDefaultPageSize = 50;
inline constexpr uint32_t kMaxPageSize = 500;
absl::Status ValidateCancelRequest(const CancelRequest& request);
absl::Status ValidateListRequestsRequest(const ListRequestsRequest& request);
absl::Status ValidateCancelReportRequest(
    const api::CancelReportRequest& request);
absl::Status ValidateListReportsRequest(const api::ListReportsRequest& request);

}  // namespace report

#endif  // REPORT_COMMON_VALIDATION_H_
