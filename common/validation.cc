#include "common/validation.h"

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

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
    static constexpr char kHex[] = "0123456789abcdef";
    return absl::StrCat("byte 0x", std::string(1, kHex[u >> 4]),
                        std::string(1, kHex[u & 0xf]));
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

}  // namespace

absl::Status ValidateRequestId(absl::string_view request_id) {
  return ValidateId(request_id, "request_id");
}

absl::Status ValidateAccountId(absl::string_view account_id) {
  return ValidateId(account_id, "account_id");
}

absl::Status ValidateMonth(absl::string_view month) {
  if (month.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "month is required");
  }
  auto bad = [](absl::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("month must be YYYY-MM (", why, ")"));
  };
  if (month.size() != 7 || month[4] != '-') return bad("e.g. 2024-03");
  for (size_t i : {0, 1, 2, 3, 5, 6}) {
    if (!IsDigit(month[i])) return bad("e.g. 2024-03");
  }
  int year = (month[0] - '0') * 1000 + (month[1] - '0') * 100 +
             (month[2] - '0') * 10 + (month[3] - '0');
  int month_number = (month[5] - '0') * 10 + (month[6] - '0');
  if (year < 1970) return bad("year 1970..9999");
  if (month_number < 1 || month_number > 12) return bad("month 01..12");
  return absl::OkStatus();
}

absl::Status ValidateSubmission(const ReportSubmission& submission) {
  absl::Status status = ValidateRequestId(submission.request_id());
  if (!status.ok()) return status;
  status = ValidateAccountId(submission.account_id());
  if (!status.ok()) return status;
  return ValidateMonth(submission.month());
}

}  // namespace report
