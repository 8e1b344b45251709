// Input validation of submissions (DESIGN §7: InvalidArgument). Done before
// anything touches the log, on the gateway and again on the leader, so bad
// input never changes state and never reaches the state machine.
#ifndef REPORT_COMMON_VALIDATION_H_
#define REPORT_COMMON_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/report.pb.h"

namespace report {

// Longest request_id / account_id accepted.
inline constexpr size_t kMaxIdLength = 128;

// request_id: 1..128 characters of [A-Za-z0-9._:-]. It appears in URLs
// (/reports/{id}) and sink file names, so "/", spaces, control characters and
// non-ASCII are refused. InvalidArgument with the reason otherwise.
absl::Status ValidateRequestId(absl::string_view request_id);
// account_id: same rules as request_id.
absl::Status ValidateAccountId(absl::string_view account_id);
// month: "YYYY-MM", year 1970..9999, month 01..12.
absl::Status ValidateMonth(absl::string_view month);

// All three fields; the first problem found, as InvalidArgument.
absl::Status ValidateSubmission(const ReportSubmission& submission);

}  // namespace report

#endif  // REPORT_COMMON_VALIDATION_H_
