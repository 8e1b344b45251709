// The cluster client against an in-process stand-in for a replica, so that an
// answer lost after the commit can be staged exactly.
#include "client/cluster_client.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

// A one-member "cluster" that commits every new id, answers a known one as a
// duplicate, and can lose the answer of its next `lose_answers` calls after
// committing (as a leader whose commit confirmation came too late).
class FakeReplica final : public ReplicaService::Service {
 public:
  grpc::Status Submit(grpc::ServerContext*, const SubmitRequest* request,
                      SubmitResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    *response->mutable_receipt() = Commit(request->submission().request_id());
    return AnswerOrLose();
  }
  grpc::Status SubmitBatch(grpc::ServerContext*,
                           const SubmitBatchRequest* request,
                           SubmitBatchResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const SubmitRequest& submit : request->requests()) {
      *response->add_outcomes()->mutable_receipt() =
          Commit(submit.submission().request_id());
    }
    return AnswerOrLose();
  }

  void LoseAnswers(int calls) {
    std::lock_guard<std::mutex> lock(mu_);
    lose_answers_ = calls;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  Receipt Commit(const std::string& id) {
    auto it = receipts_.find(id);
    if (it != receipts_.end()) {
      Receipt duplicate = it->second;
      duplicate.set_duplicate(true);
      return duplicate;
    }
    Receipt& receipt = receipts_[id];
    receipt.set_request_id(id);
    receipt.set_accepted_offset(++offset_);
    receipt.set_epoch(1);
    return receipt;
  }
  grpc::Status AnswerOrLose() {
    ++calls_;
    if (lose_answers_ > 0) {
      --lose_answers_;
      return ToGrpcStatus(MakeError(ErrorCode::kCommitUnknown,
                                    "commit not confirmed in time (test)"));
    }
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::map<std::string, Receipt> receipts_;
  uint64_t offset_ = 0;
  int lose_answers_ = 0;
  int calls_ = 0;
};

class ClusterClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&replica_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    ClusterConfig cluster;
    Member* member = cluster.add_members();
    member->set_id(1);
    member->set_name("replica-1");
    member->set_domain("aws/us-east-1/use1-az1");
    member->set_grpc_address(absl::StrCat("127.0.0.1:", port));
    client_ = std::make_unique<ClusterClient>(cluster, member->domain());
  }
  void TearDown() override { server_->Shutdown(); }

  static ReportSubmission SubmissionOf(const std::string& id) {
    ReportSubmission submission;
    submission.set_request_id(id);
    submission.set_account_id("acct-1");
    submission.set_month("2026-04");
    return submission;
  }

  FakeReplica replica_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ClusterClient> client_;
};

TEST_F(ClusterClientTest, AFirstSubmitWhoseAnswerWasLostIsStillAFreshAccept) {
  replica_.LoseAnswers(1);
  absl::StatusOr<Receipt> receipt = client_->Submit(
      SubmissionOf("r1"), "aws/us-east-1/use1-az1", absl::Seconds(5));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(replica_.calls(), 2);  // the retry found the committed record
  EXPECT_FALSE(receipt->duplicate());
  EXPECT_EQ(receipt->accepted_offset(), 1u);
}

TEST_F(ClusterClientTest, AReplayOfAnAcceptedSubmitIsStillADuplicate) {
  ASSERT_TRUE(client_
                  ->Submit(SubmissionOf("r1"), "aws/us-east-1/use1-az1",
                           absl::Seconds(5))
                  .ok());
  absl::StatusOr<Receipt> replay = client_->Submit(
      SubmissionOf("r1"), "aws/us-east-1/use1-az1", absl::Seconds(5));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->duplicate());
  EXPECT_EQ(replay->accepted_offset(), 1u);
}

TEST_F(ClusterClientTest, ABatchWhoseAnswerWasLostIsStillAFreshAccept) {
  SubmitBatchRequest request;
  for (const char* id : {"b1", "b2"}) {
    *request.add_requests()->mutable_submission() = SubmissionOf(id);
  }
  replica_.LoseAnswers(1);
  absl::StatusOr<SubmitBatchResponse> response =
      client_->SubmitBatch(request, absl::Seconds(5));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->outcomes_size(), 2);
  EXPECT_EQ(replica_.calls(), 2);
  for (const SubmitOutcome& outcome : response->outcomes()) {
    EXPECT_FALSE(outcome.receipt().duplicate())
        << outcome.receipt().request_id();
  }
}

}  // namespace
}  // namespace report
