#include "gateway/report_api_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <thread>

#include "common/error_code.h"
#include "gateway/fake_report_backend.h"
#include "gtest/gtest.h"

namespace report::gateway {
namespace {

class ReportApiServiceTest : public ::testing::Test {
 protected:
  void Start(
      ReportFrontDoor::IngressCheck check = [] { return absl::OkStatus(); },
      int max_in_flight = 1024) {
    FrontDoorOptions door_options;
    door_options.domain = "aws/us-east-1/use1-az1";
    door_ = std::make_unique<ReportFrontDoor>(&backend_, std::move(check),
                                              &metrics_, door_options);
    service_ = std::make_unique<ReportApiService>(door_.get(), max_in_flight);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = report::api::ReportApi::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    backend_.HoldSubmits(false);
    if (server_) server_->Shutdown();
  }

  grpc::Status Submit(const std::string& id, const std::string& account,
                      report::Receipt* receipt) {
    report::api::SubmitReportRequest request;
    request.set_request_id(id);
    request.set_account_id(account);
    request.set_month("2026-04");
    grpc::ClientContext context;
    // A call that is never answered fails the test instead of hanging it.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    return stub_->SubmitReport(&context, request, receipt);
  }

  grpc::Status Get(const std::string& id, uint64_t min_offset,
                   report::api::ReportStatus* status) {
    report::api::GetReportRequest request;
    request.set_request_id(id);
    request.set_min_offset(min_offset);
    grpc::ClientContext context;
    // A call that is never answered fails the test instead of hanging it.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    return stub_->GetReport(&context, request, status);
  }

  FakeReportBackend backend_;
  GatewayMetrics metrics_;
  std::unique_ptr<ReportFrontDoor> door_;
  std::unique_ptr<ReportApiService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<report::api::ReportApi::Stub> stub_;
};

TEST_F(ReportApiServiceTest, SubmitNewDuplicateAndConflict) {
  Start();
  report::Receipt receipt;
  grpc::Status status = Submit("req-1", "acct-1", &receipt);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(receipt.accepted_offset(), 1u);
  EXPECT_FALSE(receipt.duplicate());
  EXPECT_EQ(receipt.status_path(), "/reports/req-1");
  EXPECT_EQ(receipt.epoch(), FakeReportBackend::kEpoch);

  report::Receipt replay;
  ASSERT_TRUE(Submit("req-1", "acct-1", &replay).ok());
  EXPECT_TRUE(replay.duplicate());
  EXPECT_EQ(replay.accepted_offset(), 1u);

  report::Receipt ignored;
  grpc::Status conflict = Submit("req-1", "acct-2", &ignored);
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(conflict)),
            ErrorCode::kIdempotencyConflict);
}

TEST_F(ReportApiServiceTest,
       InvalidInputIsInvalidArgumentAndNeverReachesTheCluster) {
  Start();
  report::Receipt receipt;
  grpc::Status status = Submit("bad id", "acct-1", &receipt);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(status)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(ReportApiServiceTest, RefusedIngressDomainIsFailedPrecondition) {
  Start([] {
    return MakeError(ErrorCode::kDomainUnavailable, "not an ingress domain");
  });
  report::Receipt receipt;
  grpc::Status status = Submit("req-1", "acct-1", &receipt);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(status)), ErrorCode::kDomainUnavailable);
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(ReportApiServiceTest, GetReportServesFoundNotFoundAndStale) {
  Start();
  report::Receipt receipt;
  ASSERT_TRUE(Submit("req-1", "acct-1", &receipt).ok());

  report::api::ReportStatus status;
  ASSERT_TRUE(Get("req-1", receipt.accepted_offset(), &status).ok());
  EXPECT_EQ(status.state(), report::ACCEPTED);
  EXPECT_EQ(status.accepted_offset(), 1u);
  EXPECT_EQ(status.served_offset(), 1u);

  grpc::Status missing = Get("nobody", 0, &status);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::Status stale = Get("req-1", 50, &status);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(stale)), ErrorCode::kStaleRead);

  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(
      text.find(
          R"(report_gateway_requests_total{transport="grpc",route="status",code="StaleRead"} 1)"),
      std::string::npos)
      << text;
}

TEST_F(ReportApiServiceTest, ClusterFailuresKeepTheirCodes) {
  Start();
  backend_.FailSubmits(
      MakeError(ErrorCode::kCommitUnknown, "no answer in 10s"));
  report::Receipt receipt;
  grpc::Status unknown = Submit("req-1", "acct-1", &receipt);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(unknown)), ErrorCode::kCommitUnknown);

  backend_.FailSubmits(MakeError(ErrorCode::kNoQuorum, "2 of 3 replicas down"));
  grpc::Status no_quorum = Submit("req-1", "acct-1", &receipt);
  EXPECT_EQ(no_quorum.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(no_quorum)), ErrorCode::kNoQuorum);
}

TEST_F(ReportApiServiceTest, BeyondTheInFlightBoundCallsAreResourceExhausted) {
  Start([] { return absl::OkStatus(); }, /*max_in_flight=*/1);
  backend_.AnswerOnOtherThreads(true);
  backend_.HoldSubmits(true);
  grpc::Status held_status;
  report::Receipt held_receipt;
  std::thread held(
      [&] { held_status = Submit("held", "acct-1", &held_receipt); });
  ASSERT_TRUE(backend_.AwaitHeldSubmits(1, absl::Seconds(10)));

  report::Receipt receipt;
  grpc::Status refused = Submit("second", "acct-1", &receipt);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(refused)), ErrorCode::kOverloaded);
  report::api::ReportStatus status;
  grpc::Status refused_read = Get("held", 0, &status);
  EXPECT_EQ(refused_read.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(backend_.submit_calls(), 1);

  backend_.HoldSubmits(false);
  held.join();
  EXPECT_TRUE(held_status.ok()) << held_status.error_message();
  // The slot is free again.
  EXPECT_TRUE(Submit("third", "acct-1", &receipt).ok());
}

}  // namespace
}  // namespace report::gateway
