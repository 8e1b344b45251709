#include "common/validation.h"

#include <string>
#include <vector>

#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

struct IdCase {
  std::string id;
  bool valid;
  std::string reason;  // substring of the error detail when invalid
};

std::vector<IdCase> IdCases() {
  return {
      {"req-1", true, ""},
      {"a", true, ""},
      {"A.b_c:d-9", true, ""},
      {std::string(128, 'x'), true, ""},
      {"", false, "is required"},
      {std::string(129, 'x'), false, "is 129 characters; at most 128"},
      {"a/b", false, "contains '/' at position 1"},
      {"a b", false, "contains a space at position 1"},
      {"tab\there", false, "contains byte 0x09 at position 3"},
      {std::string("nul\0x", 5), false, "contains byte 0x00 at position 3"},
      {"caf\xc3\xa9", false, "contains byte 0xc3 at position 3"},
      {"..%2f", false, "contains '%'"},
      {"q?x=1", false, "contains '?'"},
      {"del\x7f", false, "contains byte 0x7f"},
  };
}

TEST(ValidationTest, RequestIds) {
  for (const IdCase& c : IdCases()) {
    absl::Status status = ValidateRequestId(c.id);
    EXPECT_EQ(status.ok(), c.valid) << "id=" << c.id << " " << status;
    if (!c.valid) {
      EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidArgument) << c.id;
      EXPECT_NE(ErrorDetail(status).find("request_id " + c.reason),
                std::string::npos)
          << ErrorDetail(status);
    }
  }
}

TEST(ValidationTest, AccountIdsFollowTheSameRules) {
  for (const IdCase& c : IdCases()) {
    absl::Status status = ValidateAccountId(c.id);
    EXPECT_EQ(status.ok(), c.valid) << "id=" << c.id << " " << status;
    if (!c.valid) {
      EXPECT_NE(ErrorDetail(status).find("account_id " + c.reason),
                std::string::npos)
          << ErrorDetail(status);
    }
  }
}

TEST(ValidationTest, Months) {
  struct MonthCase {
    std::string month;
    bool valid;
  };
  const std::vector<MonthCase> cases = {
      {"2024-03", true},  {"1970-01", true},  {"9999-12", true},
      {"2024-12", true},  {"", false},        {"1969-12", false},
      {"2024-00", false}, {"2024-13", false}, {"2024-3", false},
      {"24-03", false},   {"2024/03", false}, {"2024-03-01", false},
      {"abcd-ef", false}, {"2024-1a", false}, {" 2024-03", false},
      {"0000-01", false}, {"+024-03", false}, {"2024--3", false},
  };
  for (const MonthCase& c : cases) {
    absl::Status status = ValidateMonth(c.month);
    EXPECT_EQ(status.ok(), c.valid) << "month='" << c.month << "' " << status;
    if (!c.valid) {
      EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidArgument);
      EXPECT_NE(status.message().find("month"), absl::string_view::npos);
    }
  }
}

TEST(ValidationTest, SubmissionReportsTheFirstBadField) {
  ReportSubmission submission;
  submission.set_request_id("req-1");
  submission.set_account_id("acct-1");
  submission.set_month("2024-03");
  EXPECT_TRUE(ValidateSubmission(submission).ok());

  ReportSubmission no_request = submission;
  no_request.clear_request_id();
  EXPECT_EQ(ErrorDetail(ValidateSubmission(no_request)),
            "request_id is required");

  ReportSubmission no_account = submission;
  no_account.clear_account_id();
  EXPECT_EQ(ErrorDetail(ValidateSubmission(no_account)),
            "account_id is required");

  ReportSubmission bad_month = submission;
  bad_month.set_month("2024-13");
  absl::Status status = ValidateSubmission(bad_month);
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidArgument);
  EXPECT_NE(ErrorDetail(status).find("month 01..12"), std::string::npos);
}

}  // namespace
}  // namespace report
