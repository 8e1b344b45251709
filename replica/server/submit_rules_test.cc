#include "replica/server/submit_rules.h"

#include <memory>
#include <string>

#include "common/error_code.h"
#include "gtest/gtest.h"
#include "leveldb/db.h"
#include "leveldb/env.h"
#include "leveldb/helpers/memenv.h"
#include "replica/server/driver_test_support.h"

namespace report {
namespace {

using testing::Eventually;
using testing::MemoryLogSink;
using testing::Router;
using testing::RouterSink;

constexpr char kIngress[] = "aws/us-east-1/use1-az1";

constexpr char kClusterText[] = R"pb(
  cluster_id: "rules-test"
  placement {
    name: "cross-provider"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "gcp/us-central1/us-central1-a"
    replica_domains: "azure/eastus/eastus-1"
    ingress_domains: "aws"
    worker_domains: "gcp"
    survives: PROVIDER
    gateway_placements: "aws/us-east-1/use1-az1"
    worker_placements: "gcp/us-central1/us-central1-a"
  }
  members {
    id: 1
    name: "replica-1"
    domain: "aws/us-east-1/use1-az1"
    grpc_address: "127.0.0.1:7101"
  }
  members {
    id: 2
    name: "replica-2"
    domain: "gcp/us-central1/us-central1-a"
    grpc_address: "127.0.0.1:7102"
  }
  members {
    id: 3
    name: "replica-3"
    domain: "azure/eastus/eastus-1"
    grpc_address: "127.0.0.1:7103"
  }
)pb";

SubmitRequest Submit(const std::string& id, const std::string& account = "acct",
                     const std::string& ingress = kIngress) {
  SubmitRequest request;
  request.mutable_submission()->set_request_id(id);
  request.mutable_submission()->set_account_id(account);
  request.mutable_submission()->set_month("2026-01");
  request.set_ingress_domain(ingress);
  return request;
}

// The submit rules over a real state machine (LevelDB in memory) and a
// single-voter driver over an in-memory log: no disk, no gRPC.
class SubmitRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto placement = Placement::ParseClusterConfigText(kClusterText);
    ASSERT_TRUE(placement.ok()) << placement.status();
    placement_ = std::make_unique<Placement>(*std::move(placement));
    env_.reset(leveldb::NewMemEnv(leveldb::Env::Default()));
    leveldb::Options options;
    options.env = env_.get();
    options.create_if_missing = true;
    leveldb::DB* db = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, "/state", &db).ok());
    db_.reset(db);
    state_ = std::make_unique<ReportStateMachine>(db_.get());
    transport_ = std::make_unique<RouterSink>(&router_);
    DriverOptions driver_options;
    driver_options.config.id = 1;
    driver_options.config.voters = {1};
    driver_options.config.election_ticks = 2;
    driver_options.tick_ms = 2;
    driver_options.addresses[1] = "127.0.0.1:7101";
    driver_ = std::make_unique<Driver>(
        driver_options, sink_.store(), &sink_, transport_.get(),
        [this](const std::vector<consensus::Entry>& entries) {
          return state_->Apply(entries);
        },
        nullptr);
    rules_ = std::make_unique<SubmitRules>(placement_.get(), state_.get(),
                                           driver_.get());
  }
  void TearDown() override {
    if (driver_) driver_->Stop();
  }

  void StartLeading() {
    driver_->Start();
    ASSERT_TRUE(Eventually([&] { return driver_->CheckLeader().ok(); }));
  }

  uint64_t LastIndex() { return driver_->Status().last_index; }

  absl::StatusOr<SubmitBatchResponse> SubmitAll(
      std::vector<SubmitRequest> requests) {
    SubmitBatchRequest batch;
    for (SubmitRequest& request : requests) {
      *batch.add_requests() = std::move(request);
    }
    return rules_->SubmitBatch(batch, absl::Now() + absl::Seconds(10));
  }

  std::unique_ptr<Placement> placement_;
  std::unique_ptr<leveldb::Env> env_;
  std::unique_ptr<leveldb::DB> db_;
  std::unique_ptr<ReportStateMachine> state_;
  MemoryLogSink sink_;
  Router router_;
  std::unique_ptr<RouterSink> transport_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<SubmitRules> rules_;
};

TEST_F(SubmitRulesTest, ANewSubmitIsAcceptedAndItsRetryAnsweredFromState) {
  StartLeading();
  auto first = rules_->Submit(Submit("r1"), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->receipt().request_id(), "r1");
  EXPECT_FALSE(first->receipt().duplicate());
  const uint64_t last = LastIndex();
  auto retry = rules_->Submit(Submit("r1"), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->receipt().duplicate());
  EXPECT_EQ(retry->receipt().accepted_offset(),
            first->receipt().accepted_offset());
  EXPECT_EQ(LastIndex(), last) << "a retry of an applied submit appends";
}

TEST_F(SubmitRulesTest, RepeatsOfOneIdInABatchShareOneEntry) {
  StartLeading();
  const uint64_t before = LastIndex();
  auto answered = SubmitAll({Submit("same"), Submit("other"), Submit("same")});
  ASSERT_TRUE(answered.ok()) << answered.status();
  ASSERT_EQ(answered->outcomes_size(), 3);
  auto a = OutcomeResult(answered->outcomes(0));
  auto c = OutcomeResult(answered->outcomes(2));
  ASSERT_TRUE(a.ok() && c.ok());
  EXPECT_EQ(a->accepted_offset(), c->accepted_offset());
  EXPECT_EQ(LastIndex(), before + 2);
}

TEST_F(SubmitRulesTest, AnotherPayloadForAKnownIdIsAConflict) {
  StartLeading();
  ASSERT_TRUE(
      rules_->Submit(Submit("k", "acct-1"), absl::Now() + absl::Seconds(10))
          .ok());
  auto applied_conflict =
      rules_->Submit(Submit("k", "acct-2"), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(ErrorCodeOf(applied_conflict.status()),
            ErrorCode::kIdempotencyConflict)
      << applied_conflict.status();
  // Within one batch: the second payload becomes its own entry, and the state
  // machine refuses it.
  auto answered = SubmitAll({Submit("n", "acct-1"), Submit("n", "acct-2")});
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_TRUE(OutcomeResult(answered->outcomes(0)).ok());
  EXPECT_EQ(ErrorCodeOf(OutcomeResult(answered->outcomes(1)).status()),
            ErrorCode::kIdempotencyConflict);
}

TEST_F(SubmitRulesTest, BadSubmitsAreRefusedInTheirOwnOutcomeAndAppendNothing) {
  StartLeading();
  const uint64_t before = LastIndex();
  SubmitRequest bad_month = Submit("m");
  bad_month.mutable_submission()->set_month("2026-13");
  SubmitRequest forged = Submit("f");
  forged.set_fingerprint("not-the-fingerprint");
  auto answered =
      SubmitAll({bad_month,
                 Submit("g", "acct", "gcp/us-central1/us-central1-a"), forged});
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_EQ(ErrorCodeOf(OutcomeResult(answered->outcomes(0)).status()),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeOf(OutcomeResult(answered->outcomes(1)).status()),
            ErrorCode::kDomainUnavailable);
  EXPECT_EQ(ErrorCodeOf(OutcomeResult(answered->outcomes(2)).status()),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(LastIndex(), before);
}

TEST_F(SubmitRulesTest, BatchSizeIsBounded) {
  StartLeading();
  EXPECT_EQ(ErrorCodeOf(SubmitAll({}).status()), ErrorCode::kInvalidArgument);
  std::vector<SubmitRequest> many(kMaxSubmitBatch + 1, Submit("x"));
  EXPECT_EQ(ErrorCodeOf(SubmitAll(many).status()), ErrorCode::kInvalidArgument);
}

TEST_F(SubmitRulesTest, WithoutLeadershipTheWholeCallIsNotLeader) {
  // The driver never started: it does not lead.
  auto answered = SubmitAll({Submit("r")});
  EXPECT_EQ(ErrorCodeOf(answered.status()), ErrorCode::kNotLeader)
      << answered.status();
}

}  // namespace
}  // namespace report
