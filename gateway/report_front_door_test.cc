#include "gateway/report_front_door.h"

#include <string>

#include "common/error_code.h"
#include "gateway/fake_report_backend.h"
#include "gtest/gtest.h"

namespace report::gateway {
namespace {

report::api::SubmitReportRequest Submission(std::string id, std::string account,
                                            std::string month) {
  report::api::SubmitReportRequest request;
  request.set_request_id(std::move(id));
  request.set_account_id(std::move(account));
  request.set_month(std::move(month));
  return request;
}

class ReportFrontDoorTest : public ::testing::Test {
 protected:
  ReportFrontDoor MakeFrontDoor(ReportFrontDoor::IngressCheck check) {
    FrontDoorOptions options;
    options.domain = "aws/us-east-1/use1-az1";
    options.submit_timeout = absl::Seconds(7);
    options.max_read_wait = absl::Seconds(30);
    return ReportFrontDoor(&backend_, std::move(check), &metrics_, options);
  }
  static absl::Status Allowed() { return absl::OkStatus(); }

  FakeReportBackend backend_;
  GatewayMetrics metrics_;
};

struct InvalidCase {
  const char* name;
  report::api::SubmitReportRequest request;
};

TEST_F(ReportFrontDoorTest, RejectsInvalidSubmissionsWithoutCallingTheCluster) {
  const std::string id128(128, 'a');
  const std::string id129(129, 'a');
  const InvalidCase cases[] = {
      {"missing request_id", Submission("", "acct-1", "2026-04")},
      {"missing account_id", Submission("r1", "", "2026-04")},
      {"missing month", Submission("r1", "acct-1", "")},
      {"request_id too long", Submission(id129, "acct-1", "2026-04")},
      {"account_id too long", Submission("r1", id129, "2026-04")},
      {"space in request_id", Submission("r 1", "acct-1", "2026-04")},
      {"slash in request_id", Submission("r/1", "acct-1", "2026-04")},
      {"non-ascii account_id", Submission("r1", "acct-\xc3\xa9", "2026-04")},
      {"month 13", Submission("r1", "acct-1", "2026-13")},
      {"month 00", Submission("r1", "acct-1", "2026-00")},
      {"one-digit month", Submission("r1", "acct-1", "2026-4")},
      {"two-digit year", Submission("r1", "acct-1", "26-04")},
      {"slash separator", Submission("r1", "acct-1", "2026/04")},
      {"trailing text", Submission("r1", "acct-1", "2026-04-01")},
      {"letters", Submission("r1", "acct-1", "20x6-04")},
  };
  ReportFrontDoor door = MakeFrontDoor(&Allowed);
  for (const InvalidCase& c : cases) {
    absl::StatusOr<report::Receipt> receipt = door.Submit(c.request);
    EXPECT_EQ(ErrorCodeOf(receipt.status()), ErrorCode::kInvalidArgument)
        << c.name << ": " << receipt.status();
  }
  EXPECT_EQ(backend_.submit_calls(), 0);
  // The longest id and every allowed character are accepted.
  EXPECT_TRUE(door.Submit(Submission(id128, "Acct_1.a:b-c", "2026-12")).ok());
  EXPECT_EQ(backend_.submit_calls(), 1);
}

TEST_F(ReportFrontDoorTest,
       SubmitPassesTheConfiguredTimeoutAndReturnsTheReceipt) {
  ReportFrontDoor door = MakeFrontDoor(&Allowed);
  absl::StatusOr<report::Receipt> first =
      door.Submit(Submission("req-1", "acct-1", "2026-04"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate());
  EXPECT_EQ(first->accepted_offset(), 1u);
  EXPECT_EQ(first->status_path(), "/reports/req-1");
  EXPECT_EQ(backend_.last_submit_timeout(), absl::Seconds(7));

  absl::StatusOr<report::Receipt> replay =
      door.Submit(Submission("req-1", "acct-1", "2026-04"));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->duplicate());
  EXPECT_EQ(replay->accepted_offset(), 1u);

  EXPECT_EQ(ErrorCodeOf(
                door.Submit(Submission("req-1", "acct-2", "2026-04")).status()),
            ErrorCode::kIdempotencyConflict);
}

TEST_F(ReportFrontDoorTest,
       RefusedIngressDomainFailsClosedWithoutCallingTheCluster) {
  ReportFrontDoor door = MakeFrontDoor([] {
    return MakeError(ErrorCode::kDomainUnavailable,
                     "gcp/us-central1/us-central1-a is not an ingress domain");
  });
  absl::StatusOr<report::Receipt> receipt =
      door.Submit(Submission("req-1", "acct-1", "2026-04"));
  EXPECT_EQ(ErrorCodeOf(receipt.status()), ErrorCode::kDomainUnavailable);
  EXPECT_EQ(ErrorDetail(receipt.status()),
            "gcp/us-central1/us-central1-a is not an ingress domain");
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(ReportFrontDoorTest, AnIngressCheckThatCannotBeMadeRefuses) {
  ReportFrontDoor broken =
      MakeFrontDoor([] { return absl::InternalError("profile not loaded"); });
  EXPECT_EQ(
      ErrorCodeOf(broken.Submit(Submission("r1", "a", "2026-04")).status()),
      ErrorCode::kDomainUnavailable);
  ReportFrontDoor missing = MakeFrontDoor(nullptr);
  EXPECT_EQ(
      ErrorCodeOf(missing.Submit(Submission("r1", "a", "2026-04")).status()),
      ErrorCode::kDomainUnavailable);
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(ReportFrontDoorTest, InvalidInputIsReportedBeforeThePlacementRefusal) {
  ReportFrontDoor door = MakeFrontDoor(
      [] { return MakeError(ErrorCode::kDomainUnavailable, "refused"); });
  EXPECT_EQ(ErrorCodeOf(door.Admit(Submission("", "a", "2026-04"))),
            ErrorCode::kInvalidArgument);
}

TEST_F(ReportFrontDoorTest, GetReportCapsTheWaitAndCountsStaleReads) {
  ReportFrontDoor door = MakeFrontDoor(&Allowed);
  ASSERT_TRUE(door.Submit(Submission("req-1", "acct-1", "2026-04")).ok());

  report::api::GetReportRequest get;
  get.set_request_id("req-1");
  get.set_min_offset(1);
  get.set_wait_ms(~uint64_t{0});
  absl::StatusOr<report::api::ReportStatus> status = door.GetReport(get);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(backend_.last_read_wait(), absl::Seconds(30));
  EXPECT_EQ(status->state(), report::ACCEPTED);
  EXPECT_EQ(status->served_offset(), 1u);

  get.set_wait_ms(250);
  get.set_min_offset(5);
  EXPECT_EQ(ErrorCodeOf(door.GetReport(get).status()), ErrorCode::kStaleRead);
  EXPECT_EQ(backend_.last_read_wait(), absl::Milliseconds(250));
  EXPECT_NE(
      metrics_.RenderPrometheus().find("report_gateway_stale_reads_total 1\n"),
      std::string::npos);

  get.set_request_id("bad id");
  const int reads = backend_.read_calls();
  EXPECT_EQ(ErrorCodeOf(door.GetReport(get).status()),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(backend_.read_calls(), reads);
}

TEST(ToReportStatusTest, RunningShowsTheLeaseHolder) {
  report::RequestRecord record;
  record.set_request_id("r1");
  record.set_state(report::RUNNING);
  record.set_accepted_offset(4);
  record.set_version(9);
  record.set_attempts(2);
  record.set_lease_holder("worker-a");
  record.set_lease_holder_domain("gcp/us-central1/us-central1-a");
  record.set_fencing_token(9);
  record.set_lease_expiry_ms(12345);
  report::api::ReportStatus status = ToReportStatus(record, 11);
  EXPECT_EQ(status.state(), report::RUNNING);
  EXPECT_EQ(status.worker_id(), "worker-a");
  EXPECT_EQ(status.worker_domain(), "gcp/us-central1/us-central1-a");
  EXPECT_EQ(status.fencing_token(), 9u);
  EXPECT_EQ(status.lease_expiry_ms(), 12345u);
  EXPECT_EQ(status.attempts(), 2u);
  EXPECT_EQ(status.version(), 9u);
  EXPECT_EQ(status.served_offset(), 11u);
  EXPECT_TRUE(status.report_location().empty());
}

TEST(ToReportStatusTest, CompletedNamesTheReportAndFailedItsError) {
  report::RequestRecord record;
  record.set_request_id("r1");
  record.set_state(report::COMPLETED);
  record.set_lease_holder("stale-holder");
  record.mutable_result()->set_report_location("file:///sink/reports-r1.json");
  record.mutable_result()->set_effect_key("reports:r1");
  record.mutable_result()->set_worker_id("worker-b");
  record.mutable_result()->set_completed_offset(20);
  report::api::ReportStatus completed = ToReportStatus(record, 21);
  EXPECT_EQ(completed.report_location(), "file:///sink/reports-r1.json");
  EXPECT_EQ(completed.effect_key(), "reports:r1");
  EXPECT_EQ(completed.worker_id(), "worker-b");
  EXPECT_EQ(completed.completed_offset(), 20u);

  record.set_state(report::FAILED);
  record.set_failure("sink unwritable");
  report::api::ReportStatus failed = ToReportStatus(record, 22);
  EXPECT_EQ(failed.failure(), "sink unwritable");
  EXPECT_TRUE(failed.report_location().empty());
}

}  // namespace
}  // namespace report::gateway
