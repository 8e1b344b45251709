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

TEST(ValidationTest, ParseMonthGivesTheCivilMonthOfAnyYear) {
  absl::StatusOr<absl::CivilMonth> month = ParseMonth("2024-02");
  ASSERT_TRUE(month.ok()) << month.status();
  EXPECT_EQ(*month, absl::CivilMonth(2024, 2));
  EXPECT_EQ(*ParseMonth("1900-12"), absl::CivilMonth(1900, 12));
  for (const char* bad :
       {"", "2024-3", "2024-13", "2024-00", "+024-03", "2024/03", "20240-3"}) {
    EXPECT_EQ(ErrorCodeOf(ParseMonth(bad).status()),
              ErrorCode::kInvalidArgument)
        << bad;
  }
  EXPECT_TRUE(ValidateMonth("1969-12").message().find("year 1970..9999") !=
              absl::string_view::npos);
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

// The detail of an InvalidArgument refusal; "" when `status` is OK or another
// code.
std::string Refusal(const absl::Status& status) {
  if (ErrorCodeOf(status) != ErrorCode::kInvalidArgument) return "";
  return ErrorDetail(status);
}

bool Mentions(const absl::Status& status, absl::string_view text) {
  return Refusal(status).find(std::string(text)) != std::string::npos;
}

TEST(ValidationTest, FingerprintIsEmptyOr64LowercaseHex) {
  EXPECT_TRUE(ValidateFingerprint("").ok());
  EXPECT_TRUE(ValidateFingerprint(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateFingerprint(std::string(32, '0') + "0123456789abcdef" +
                                  "0123456789abcdef")
                  .ok());
  EXPECT_TRUE(Mentions(ValidateFingerprint(std::string(65, 'a')),
                       "fingerprint is 65 bytes"));
  EXPECT_TRUE(Mentions(ValidateFingerprint(std::string(1 << 20, 'a')),
                       "fingerprint is 1048576 bytes"));
  EXPECT_TRUE(Mentions(ValidateFingerprint(std::string(63, 'a') + "A"),
                       "fingerprint contains 'A' at position 63"));
}

TEST(ValidationTest, DomainsHaveAtMost191BytesAnd63PerSegment) {
  const std::string segment(63, 'a');
  const std::string longest = segment + "/" + segment + "/" + segment;
  ASSERT_EQ(longest.size(), kMaxDomainLength);
  EXPECT_TRUE(ValidateDomainSize(longest, "worker_domain").ok());
  EXPECT_TRUE(ValidateDomainSize("aws/us-east-1/use1-az1", "d").ok());
  // Empty or malformed is placement's DomainUnavailable, not a size problem.
  EXPECT_TRUE(ValidateDomainSize("", "d").ok());
  EXPECT_TRUE(Mentions(ValidateDomainSize(longest + "a", "worker_domain"),
                       "worker_domain is 192 bytes; at most 191"));
  EXPECT_TRUE(Mentions(ValidateDomainSize("aws/" + segment + "b/z", "ingress"),
                       "ingress has a segment of 64 bytes; at most 63"));
  EXPECT_TRUE(
      Mentions(ValidateDomainSize(segment + "b", "d"), "segment of 64 bytes"));
}

TEST(ValidationTest, WorkerIdIs1To128Bytes) {
  EXPECT_TRUE(ValidateWorkerId("worker-1").ok());
  EXPECT_TRUE(ValidateWorkerId(std::string(128, 'w')).ok());
  EXPECT_TRUE(Mentions(ValidateWorkerId(""), "worker_id is required"));
  EXPECT_TRUE(Mentions(ValidateWorkerId(std::string(129, 'w')),
                       "worker_id is 129 bytes; at most 128"));
}

TEST(ValidationTest, EffectKeyIs1To256Bytes) {
  EXPECT_TRUE(ValidateEffectKey("file-sink:req-1").ok());
  EXPECT_TRUE(ValidateEffectKey(std::string(256, 'k')).ok());
  EXPECT_TRUE(Mentions(ValidateEffectKey(""), "effect_key is required"));
  EXPECT_TRUE(Mentions(ValidateEffectKey(std::string(257, 'k')),
                       "effect_key is 257 bytes; at most 256"));
}

TEST(ValidationTest, ReportLocationIs1To8KiB) {
  EXPECT_TRUE(ValidateReportLocation("file:///srv/sink/a.json").ok());
  EXPECT_TRUE(ValidateReportLocation(std::string(8192, 'l')).ok());
  EXPECT_TRUE(
      Mentions(ValidateReportLocation(""), "report_location is required"));
  EXPECT_TRUE(Mentions(ValidateReportLocation(std::string(8193, 'l')),
                       "report_location is 8193 bytes; at most 8192"));
  EXPECT_TRUE(Mentions(ValidateReportLocation(std::string(20 << 20, 'l')),
                       "report_location is 20971520 bytes"));
}

TEST(ValidationTest, FailureTextIsAtMost4KiB) {
  EXPECT_TRUE(ValidateFailure("").ok());
  EXPECT_TRUE(ValidateFailure(std::string(4096, 'e')).ok());
  EXPECT_TRUE(Mentions(ValidateFailure(std::string(4097, 'e')),
                       "error is 4097 bytes; at most 4096"));
}

TEST(ValidationTest, FitFailureCutsAtACharacterBoundary) {
  EXPECT_EQ(FitFailure("disk full"), "disk full");
  EXPECT_EQ(FitFailure(std::string(5000, 'e')), std::string(4096, 'e'));
  // "\xc3\xa9" (é) straddles byte 4096: it goes whole.
  const std::string text = std::string(4095, 'e') + "\xc3\xa9" + "tail";
  const std::string fitted = FitFailure(text);
  EXPECT_EQ(fitted, std::string(4095, 'e'));
  EXPECT_TRUE(ValidateFailure(fitted).ok());
  EXPECT_TRUE(ValidateFailure(FitFailure(std::string(1 << 20, 'x'))).ok());
}

TEST(ValidationTest, LeaseIs1MsToAnHour) {
  EXPECT_TRUE(ValidateLeaseMs(1).ok());
  EXPECT_TRUE(ValidateLeaseMs(3600 * 1000).ok());
  EXPECT_TRUE(Mentions(ValidateLeaseMs(0), "lease_ms is 0"));
  EXPECT_TRUE(Mentions(ValidateLeaseMs(3600 * 1000 + 1), "1..3600000"));
}

TEST(ValidationTest, MaxAttemptsIsAtMost1000) {
  EXPECT_TRUE(ValidateMaxAttempts(0).ok());
  EXPECT_TRUE(ValidateMaxAttempts(1000).ok());
  EXPECT_TRUE(Mentions(ValidateMaxAttempts(1001), "max_attempts is 1001"));
}

TEST(ValidationTest, BatchCarries1To1024Submits) {
  EXPECT_TRUE(ValidateSubmitBatchSize(1).ok());
  EXPECT_TRUE(ValidateSubmitBatchSize(1024).ok());
  EXPECT_TRUE(Mentions(ValidateSubmitBatchSize(0), "got 0"));
  EXPECT_TRUE(Mentions(ValidateSubmitBatchSize(1025), "got 1025"));
}

SubmitRequest GoodSubmit() {
  SubmitRequest request;
  request.mutable_submission()->set_request_id("req-1");
  request.mutable_submission()->set_account_id("acct-1");
  request.mutable_submission()->set_month("2024-03");
  request.set_ingress_domain("aws/us-east-1/use1-az1");
  return request;
}

TEST(ValidationTest, SubmitRequestChecksEveryField) {
  EXPECT_TRUE(ValidateSubmitRequest(GoodSubmit()).ok());
  SubmitRequest long_id = GoodSubmit();
  long_id.mutable_submission()->set_request_id(std::string(129, 'r'));
  EXPECT_TRUE(Mentions(ValidateSubmitRequest(long_id), "request_id is 129"));
  SubmitRequest long_account = GoodSubmit();
  long_account.mutable_submission()->set_account_id(std::string(200, 'a'));
  EXPECT_TRUE(
      Mentions(ValidateSubmitRequest(long_account), "account_id is 200"));
  SubmitRequest long_month = GoodSubmit();
  long_month.mutable_submission()->set_month("2024-03" + std::string(9, '1'));
  EXPECT_TRUE(Mentions(ValidateSubmitRequest(long_month), "month"));
  SubmitRequest long_domain = GoodSubmit();
  long_domain.set_ingress_domain("aws/us-east-1/" + std::string(1000, 'z'));
  EXPECT_TRUE(Mentions(ValidateSubmitRequest(long_domain), "ingress_domain"));
  SubmitRequest long_fingerprint = GoodSubmit();
  long_fingerprint.set_fingerprint(std::string(100, 'f'));
  EXPECT_TRUE(Mentions(ValidateSubmitRequest(long_fingerprint), "fingerprint"));
}

TEST(ValidationTest, ReadStatusRequestChecksIdAndConsistency) {
  ReadStatusRequest request;
  request.set_request_id("req-1");
  request.set_min_offset(~uint64_t{0});
  request.set_wait_ms(~uint64_t{0});
  EXPECT_TRUE(ValidateReadStatusRequest(request).ok());
  request.set_consistency(static_cast<ReadConsistency>(7));
  EXPECT_TRUE(Mentions(ValidateReadStatusRequest(request), "consistency 7"));
  request.set_consistency(LINEARIZABLE);
  request.set_request_id(std::string(129, 'r'));
  EXPECT_TRUE(Mentions(ValidateReadStatusRequest(request), "request_id"));
}

TEST(ValidationTest, EffectRequestsCheckEveryField) {
  ReserveEffectRequest reserve;
  reserve.set_request_id("req-1");
  reserve.set_effect_key("file-sink:req-1");
  reserve.set_worker_id("worker-1");
  reserve.set_worker_domain("aws/us-east-1/use1-az1");
  reserve.set_lease_ms(5000);
  reserve.set_max_attempts(3);
  EXPECT_TRUE(ValidateReserveEffectRequest(reserve).ok());
  {
    ReserveEffectRequest bad = reserve;
    bad.set_effect_key(std::string(257, 'k'));
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "effect_key"));
    bad = reserve;
    bad.set_worker_id(std::string(129, 'w'));
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "worker_id"));
    bad = reserve;
    bad.set_worker_domain(std::string(192, 'd'));
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "worker_domain"));
    bad = reserve;
    bad.set_lease_ms(0);
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "lease_ms"));
    bad = reserve;
    bad.set_max_attempts(5000);
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "max_attempts"));
    bad = reserve;
    bad.set_request_id("a/b");
    EXPECT_TRUE(Mentions(ValidateReserveEffectRequest(bad), "request_id"));
  }

  ExtendLeaseRequest extend;
  extend.set_request_id("req-1");
  extend.set_worker_id("worker-1");
  extend.set_worker_domain("aws/us-east-1/use1-az1");
  extend.set_fencing_token(9);
  extend.set_lease_ms(5000);
  EXPECT_TRUE(ValidateExtendLeaseRequest(extend).ok());
  {
    ExtendLeaseRequest bad = extend;
    bad.set_worker_id(std::string(129, 'w'));
    EXPECT_TRUE(Mentions(ValidateExtendLeaseRequest(bad), "worker_id"));
    bad = extend;
    bad.set_worker_domain("a/b/" + std::string(64, 'c'));
    EXPECT_TRUE(Mentions(ValidateExtendLeaseRequest(bad), "worker_domain"));
    bad = extend;
    bad.set_lease_ms(kMaxLeaseMs + 1);
    EXPECT_TRUE(Mentions(ValidateExtendLeaseRequest(bad), "lease_ms"));
  }

  CompleteRequest complete;
  complete.set_request_id("req-1");
  complete.set_worker_id("worker-1");
  complete.set_worker_domain("aws/us-east-1/use1-az1");
  complete.set_report_location("file:///srv/sink/file-sink~3Areq-1.json");
  EXPECT_TRUE(ValidateCompleteRequest(complete).ok());
  {
    CompleteRequest bad = complete;
    bad.set_report_location(std::string(kMaxReportLocationLength + 1, 'l'));
    EXPECT_TRUE(Mentions(ValidateCompleteRequest(bad), "report_location"));
    bad = complete;
    bad.set_worker_id(std::string(129, 'w'));
    EXPECT_TRUE(Mentions(ValidateCompleteRequest(bad), "worker_id"));
    bad = complete;
    bad.set_worker_domain(std::string(192, 'd'));
    EXPECT_TRUE(Mentions(ValidateCompleteRequest(bad), "worker_domain"));
  }

  FailRequest fail;
  fail.set_request_id("req-1");
  fail.set_worker_id("worker-1");
  fail.set_worker_domain("aws/us-east-1/use1-az1");
  fail.set_error("disk full");
  fail.set_max_attempts(3);
  EXPECT_TRUE(ValidateFailRequest(fail).ok());
  {
    FailRequest bad = fail;
    bad.set_error(std::string(kMaxFailureLength + 1, 'e'));
    EXPECT_TRUE(Mentions(ValidateFailRequest(bad), "error is"));
    bad = fail;
    bad.set_worker_id("");
    EXPECT_TRUE(Mentions(ValidateFailRequest(bad), "worker_id"));
    bad = fail;
    bad.set_max_attempts(1001);
    EXPECT_TRUE(Mentions(ValidateFailRequest(bad), "max_attempts"));
  }

  WatchRequest watch;
  watch.set_worker_domain("aws/us-east-1/use1-az1");
  EXPECT_TRUE(ValidateWatchRequest(watch).ok());
  watch.set_worker_domain(std::string(192, 'd'));
  EXPECT_TRUE(Mentions(ValidateWatchRequest(watch), "worker_domain"));
}

TEST(ValidationTest, PublicRequestsCheckEveryField) {
  api::SubmitReportRequest submit;
  submit.set_request_id("req-1");
  submit.set_account_id("acct-1");
  submit.set_month("2024-03");
  EXPECT_TRUE(ValidateSubmitReportRequest(submit).ok());
  submit.set_account_id(std::string(129, 'a'));
  EXPECT_TRUE(Mentions(ValidateSubmitReportRequest(submit), "account_id"));

  api::GetReportRequest get;
  get.set_request_id("req-1");
  get.set_wait_ms(~uint64_t{0});
  EXPECT_TRUE(ValidateGetReportRequest(get).ok());
  get.set_request_id(std::string(129, 'r'));
  EXPECT_TRUE(Mentions(ValidateGetReportRequest(get), "request_id"));
}

// What keeps every entry replicable: the field limits bound a command, and a
// full append of them fits the frame limit with room to spare.
TEST(ValidationTest, TheLargestCommandFitsTheBoundAndTheFrame) {
  Command command;
  command.set_timestamp_ms(~uint64_t{0});
  CompleteCommand* complete = command.mutable_complete();
  complete->set_request_id(std::string(kMaxIdLength, 'r'));
  complete->set_expected_version(~uint64_t{0});
  complete->set_fencing_token(~uint64_t{0});
  complete->set_worker_id(std::string(kMaxWorkerIdLength, 'w'));
  complete->set_worker_domain(std::string(kMaxDomainLength, 'd'));
  complete->set_report_location(std::string(kMaxReportLocationLength, 'l'));
  EXPECT_LE(command.ByteSizeLong(), kMaxCommandBytes);

  Command fail_command;
  fail_command.set_timestamp_ms(~uint64_t{0});
  FailCommand* fail = fail_command.mutable_fail();
  fail->set_request_id(std::string(kMaxIdLength, 'r'));
  fail->set_expected_version(~uint64_t{0});
  fail->set_fencing_token(~uint64_t{0});
  fail->set_worker_id(std::string(kMaxWorkerIdLength, 'w'));
  fail->set_error(std::string(kMaxFailureLength, 'e'));
  fail->set_max_attempts(kMaxAttempts);
  fail->set_retryable(true);
  EXPECT_LE(fail_command.ByteSizeLong(), kMaxCommandBytes);

  Command reserve_command;
  reserve_command.set_timestamp_ms(~uint64_t{0});
  ReserveEffectCommand* reserve = reserve_command.mutable_reserve_effect();
  reserve->set_request_id(std::string(kMaxIdLength, 'r'));
  reserve->set_effect_key(std::string(kMaxEffectKeyLength, 'k'));
  reserve->set_worker_id(std::string(kMaxWorkerIdLength, 'w'));
  reserve->set_worker_domain(std::string(kMaxDomainLength, 'd'));
  reserve->set_lease_ms(kMaxLeaseMs);
  reserve->set_max_attempts(kMaxAttempts);
  EXPECT_LE(reserve_command.ByteSizeLong(), kMaxCommandBytes);

  Command submit_command;
  submit_command.set_timestamp_ms(~uint64_t{0});
  SubmitCommand* submit = submit_command.mutable_submit();
  submit->mutable_submission()->set_request_id(std::string(kMaxIdLength, 'r'));
  submit->mutable_submission()->set_account_id(std::string(kMaxIdLength, 'a'));
  submit->mutable_submission()->set_month("2024-03");
  submit->set_fingerprint(std::string(kFingerprintLength, 'f'));
  submit->set_ingress_domain(std::string(kMaxDomainLength, 'd'));
  EXPECT_LE(submit_command.ByteSizeLong(), kMaxCommandBytes);

  EXPECT_LT(kMaxCommandBytes, 16u << 10);
}

}  // namespace
}  // namespace report
