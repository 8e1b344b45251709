#include "replica/state_machine/report_state_machine.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/scoped_temp_dir.h"
#include "gtest/gtest.h"
#include "replica/storage/replica_store.h"

namespace report {
namespace {

std::string FreshDir(const std::string& name) {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("report_state_machine_test");
  const std::string dir = base.path() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

Command SubmitCommandAt(uint64_t now, const std::string& id,
                        const std::string& fingerprint = "fp") {
  Command command;
  command.set_timestamp_ms(now);
  SubmitCommand* submit = command.mutable_submit();
  submit->mutable_submission()->set_request_id(id);
  submit->mutable_submission()->set_account_id("acct-" + id);
  submit->mutable_submission()->set_month("2024-05");
  submit->set_fingerprint(fingerprint);
  submit->set_ingress_domain("aws/us-east-1/use1-az1");
  return command;
}

Command ReserveAt(uint64_t now, const std::string& id,
                  const std::string& worker, uint64_t lease_ms,
                  uint32_t max_attempts = 0) {
  Command command;
  command.set_timestamp_ms(now);
  ReserveEffectCommand* reserve = command.mutable_reserve_effect();
  reserve->set_request_id(id);
  reserve->set_effect_key("sink/" + id);
  reserve->set_worker_id(worker);
  reserve->set_worker_domain("gcp/us-central1/us-central1-a");
  reserve->set_lease_ms(lease_ms);
  reserve->set_max_attempts(max_attempts);
  return command;
}

Command ExtendAt(uint64_t now, const std::string& id, const std::string& worker,
                 uint64_t token, uint64_t lease_ms) {
  Command command;
  command.set_timestamp_ms(now);
  ExtendLeaseCommand* extend = command.mutable_extend_lease();
  extend->set_request_id(id);
  extend->set_worker_id(worker);
  extend->set_fencing_token(token);
  extend->set_lease_ms(lease_ms);
  return command;
}

Command CompleteAt(uint64_t now, const std::string& id,
                   const std::string& worker, uint64_t version,
                   uint64_t token) {
  Command command;
  command.set_timestamp_ms(now);
  CompleteCommand* complete = command.mutable_complete();
  complete->set_request_id(id);
  complete->set_expected_version(version);
  complete->set_fencing_token(token);
  complete->set_worker_id(worker);
  complete->set_worker_domain("gcp/us-central1/us-central1-a");
  complete->set_report_location("file:///sink/" + id);
  return command;
}

Command FailAt(uint64_t now, const std::string& id, const std::string& worker,
               uint64_t token, bool retryable, uint32_t max_attempts) {
  Command command;
  command.set_timestamp_ms(now);
  FailCommand* fail = command.mutable_fail();
  fail->set_request_id(id);
  fail->set_fencing_token(token);
  fail->set_worker_id(worker);
  fail->set_error("sink unavailable");
  fail->set_retryable(retryable);
  fail->set_max_attempts(max_attempts);
  return command;
}

Command CancelAt(uint64_t now, const std::string& id) {
  Command command;
  command.set_timestamp_ms(now);
  command.mutable_cancel()->set_request_id(id);
  return command;
}

Command SubmitForAccount(uint64_t now, const std::string& id,
                         const std::string& account) {
  Command command = SubmitCommandAt(now, id);
  command.mutable_submit()->mutable_submission()->set_account_id(account);
  return command;
}

// Builds a log: consecutive indices in one epoch (changeable).
class LogBuilder {
 public:
  consensus::Entry Next(const Command& command) {
    consensus::Entry entry =
        NextRaw(consensus::ENTRY_NORMAL, command.SerializeAsString());
    return entry;
  }
  consensus::Entry NextRaw(consensus::EntryType type, const std::string& data) {
    consensus::Entry entry;
    entry.set_index(next_index_++);
    entry.set_epoch(epoch_);
    entry.set_type(type);
    entry.set_data(data);
    return entry;
  }
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  uint64_t next_index() const { return next_index_; }

 private:
  uint64_t next_index_ = 1;
  uint64_t epoch_ = 1;
};

class ReportStateMachineTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        FreshDir(testing::UnitTest::GetInstance()->current_test_info()->name());
    Reopen();
  }

  void Reopen() {
    machine_.reset();
    store_.reset();
    auto store = storage::ReplicaStore::Open(dir_, "cluster", 1);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    machine_ = std::make_unique<ReportStateMachine>(store_->db());
  }

  // Appends `command` to the log and applies it alone.
  CommandResult Run(const Command& command) {
    entries_.push_back(log_.Next(command));
    std::vector<AppliedCommand> applied = machine_->Apply({entries_.back()});
    EXPECT_EQ(applied.size(), 1u);
    return applied.empty() ? CommandResult() : applied[0].result;
  }
  uint64_t last_index() const { return log_.next_index() - 1; }

  RequestRecord Request(const std::string& id) {
    absl::StatusOr<RequestRecord> record = machine_->GetRequest(id);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : RequestRecord();
  }

  std::vector<std::string> Unfinished() {
    std::vector<std::string> ids;
    machine_->ForEachUnfinished([&ids](const RequestRecord& record) {
      ids.push_back(record.request_id());
      return true;
    });
    return ids;
  }

  std::string dir_;
  std::unique_ptr<storage::ReplicaStore> store_;
  std::unique_ptr<ReportStateMachine> machine_;
  LogBuilder log_;
  std::vector<consensus::Entry> entries_;  // everything applied, in order
};

TEST_F(ReportStateMachineTest, SubmitAcceptsANewRequestAtItsOffset) {
  Run(SubmitCommandAt(1000, "a"));
  log_.set_epoch(3);
  const CommandResult result = Run(SubmitCommandAt(1001, "b"));
  EXPECT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().state(), ACCEPTED);
  EXPECT_EQ(result.record().accepted_offset(), 2u);
  EXPECT_EQ(result.record().accepted_epoch(), 3u);
  EXPECT_EQ(result.record().version(), 2u);
  EXPECT_EQ(result.record().accepted_at_ms(), 1001u);
  EXPECT_EQ(Request("b").account_id(), "acct-b");
  EXPECT_EQ(machine_->applied_index(), 2u);
  EXPECT_EQ(Unfinished(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(machine_->LowestUnfinishedOffset(), 1u);
}

TEST_F(ReportStateMachineTest,
       SubmitOfAKnownIdWithTheSameFingerprintIsADuplicate) {
  Run(SubmitCommandAt(1000, "a", "fp1"));
  const CommandResult result = Run(SubmitCommandAt(2000, "a", "fp1"));
  EXPECT_EQ(result.code(), RESULT_DUPLICATE);
  EXPECT_EQ(result.record().accepted_offset(), 1u);
  EXPECT_EQ(Request("a").version(), 1u);
  EXPECT_EQ(Request("a").accepted_at_ms(), 1000u);
  EXPECT_EQ(Unfinished().size(), 1u);
}

TEST_F(ReportStateMachineTest,
       SubmitOfAKnownIdWithAnotherFingerprintConflicts) {
  Run(SubmitCommandAt(1000, "a", "fp1"));
  const CommandResult result = Run(SubmitCommandAt(2000, "a", "fp2"));
  EXPECT_EQ(result.code(), RESULT_IDEMPOTENCY_CONFLICT);
  EXPECT_EQ(Request("a").fingerprint(), "fp1");
  EXPECT_EQ(Request("a").version(), 1u);
}

TEST_F(ReportStateMachineTest, SubmitWithoutARequestIdIsInvalid) {
  EXPECT_EQ(Run(SubmitCommandAt(1000, "")).code(), RESULT_INVALID);
  EXPECT_TRUE(Unfinished().empty());
}

TEST_F(ReportStateMachineTest, BarrierAndGarbageAreDeterministicNoOps) {
  const std::string before = machine_->digest();
  EXPECT_EQ(before, std::string(64, '0'));
  std::vector<AppliedCommand> applied = machine_->Apply(
      {log_.NextRaw(consensus::ENTRY_BARRIER, ""),
       log_.NextRaw(consensus::ENTRY_NORMAL, "\xff\xff not a command"),
       log_.NextRaw(consensus::ENTRY_NORMAL, "")});
  ASSERT_EQ(applied.size(), 3u);
  EXPECT_EQ(applied[0].result.code(), RESULT_OK);
  EXPECT_EQ(applied[1].result.code(), RESULT_INVALID);
  EXPECT_EQ(applied[2].result.code(), RESULT_INVALID);  // no command kind
  EXPECT_EQ(machine_->applied_index(), 3u);
  EXPECT_NE(machine_->digest(), before);
  EXPECT_TRUE(Unfinished().empty());
}

TEST_F(ReportStateMachineTest, UnknownRequestIsNotFound) {
  EXPECT_EQ(ErrorCodeOf(machine_->GetRequest("nope").status()),
            ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeOf(machine_->GetEffect("sink/nope").status()),
            ErrorCode::kNotFound);
  EXPECT_EQ(Run(ReserveAt(1000, "nope", "w1", 100)).code(), RESULT_NOT_FOUND);
  EXPECT_EQ(Run(CompleteAt(1000, "nope", "w1", 1, 1)).code(), RESULT_NOT_FOUND);
}

TEST_F(ReportStateMachineTest, ReserveGrantsALeaseFencedByItsOffset) {
  Run(SubmitCommandAt(1000, "a"));
  const CommandResult result = Run(ReserveAt(1500, "a", "w1", 300));
  ASSERT_EQ(result.code(), RESULT_OK);
  const RequestRecord& record = result.record();
  EXPECT_EQ(record.state(), RUNNING);
  EXPECT_EQ(record.fencing_token(), 2u);
  EXPECT_EQ(record.version(), 2u);
  EXPECT_EQ(record.lease_expiry_ms(), 1800u);
  EXPECT_EQ(record.lease_holder(), "w1");
  EXPECT_EQ(record.attempts(), 1u);
  const absl::StatusOr<EffectRecord> effect = machine_->GetEffect("sink/a");
  ASSERT_TRUE(effect.ok());
  EXPECT_EQ(effect->holder_worker(), "w1");
  EXPECT_EQ(effect->fencing_token(), 2u);
  EXPECT_EQ(effect->lease_expiry_ms(), 1800u);
  EXPECT_FALSE(effect->done());
  EXPECT_EQ(Unfinished(), std::vector<std::string>{"a"});
}

TEST_F(ReportStateMachineTest,
       AnUnexpiredLeaseOfAnotherWorkerIsHeldByEntryTime) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));  // expires at 1300
  EXPECT_EQ(Run(ReserveAt(1299, "a", "w2", 300)).code(), RESULT_LEASE_HELD);
  EXPECT_EQ(Request("a").lease_holder(), "w1");
  // Expired when expiry <= the entry's timestamp.
  const CommandResult result = Run(ReserveAt(1300, "a", "w2", 300));
  EXPECT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().lease_holder(), "w2");
  EXPECT_EQ(result.record().attempts(), 2u);
}

TEST_F(ReportStateMachineTest,
       TheHolderMayReReserveItsLiveLeaseWithoutSpendingAnAttempt) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const CommandResult result = Run(ReserveAt(1100, "a", "w1", 300));
  EXPECT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().fencing_token(), 3u);
  EXPECT_EQ(result.record().attempts(), 1u);
  EXPECT_EQ(result.record().lease_expiry_ms(), 1400u);
}

TEST_F(ReportStateMachineTest, ReserveBeyondMaxAttemptsFailsTheRequest) {
  Run(SubmitCommandAt(1000, "a"));
  EXPECT_EQ(Run(ReserveAt(1000, "a", "w1", 100, 2)).code(), RESULT_OK);
  EXPECT_EQ(Run(ReserveAt(1100, "a", "w2", 100, 2)).code(), RESULT_OK);
  const CommandResult result = Run(ReserveAt(1200, "a", "w3", 100, 2));
  EXPECT_EQ(result.code(), RESULT_ALREADY_DONE);
  EXPECT_EQ(result.record().state(), FAILED);
  EXPECT_EQ(result.record().failure(), "exceeded 2 attempts");
  EXPECT_TRUE(Unfinished().empty());
  EXPECT_EQ(Run(ReserveAt(1300, "a", "w3", 100)).code(), RESULT_ALREADY_DONE);
}

TEST_F(ReportStateMachineTest, ExtendLeaseMovesTheExpiryButNotTheVersion) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const CommandResult result = Run(ExtendAt(1200, "a", "w1", 2, 500));
  ASSERT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().lease_expiry_ms(), 1700u);
  EXPECT_EQ(result.record().version(), 2u);
  EXPECT_EQ(machine_->GetEffect("sink/a")->lease_expiry_ms(), 1700u);
  // Still completes with the version of its grant.
  EXPECT_EQ(Run(CompleteAt(1600, "a", "w1", 2, 2)).code(), RESULT_OK);
}

TEST_F(ReportStateMachineTest, ExtendLeaseNeedsTheCurrentTokenAndALiveLease) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  EXPECT_EQ(Run(ExtendAt(1100, "a", "w1", 99, 300)).code(), RESULT_CAS_FAILED);
  EXPECT_EQ(Run(ExtendAt(1100, "a", "w2", 2, 300)).code(), RESULT_CAS_FAILED);
  EXPECT_EQ(Run(ExtendAt(1300, "a", "w1", 2, 300)).code(), RESULT_CAS_FAILED);
  EXPECT_EQ(Request("a").lease_expiry_ms(), 1300u);
}

TEST_F(ReportStateMachineTest, CompleteRecordsTheResultAndTheEffect) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const CommandResult result = Run(CompleteAt(1200, "a", "w1", 2, 2));
  ASSERT_EQ(result.code(), RESULT_OK);
  const RequestRecord record = Request("a");
  EXPECT_EQ(record.state(), COMPLETED);
  EXPECT_EQ(record.version(), 3u);
  EXPECT_EQ(record.result().report_location(), "file:///sink/a");
  EXPECT_EQ(record.result().effect_key(), "sink/a");
  EXPECT_EQ(record.result().worker_id(), "w1");
  EXPECT_EQ(record.result().completed_offset(), 3u);
  EXPECT_EQ(record.result().fencing_token(), 2u);
  const absl::StatusOr<EffectRecord> effect = machine_->GetEffect("sink/a");
  ASSERT_TRUE(effect.ok());
  EXPECT_TRUE(effect->done());
  EXPECT_EQ(effect->result().report_location(), "file:///sink/a");
  EXPECT_TRUE(Unfinished().empty());
  EXPECT_EQ(machine_->LowestUnfinishedOffset(), 4u);
  // A completed request is never processed again; a retried Complete sees
  // ALREADY_DONE.
  EXPECT_EQ(Run(ReserveAt(5000, "a", "w2", 300)).code(), RESULT_ALREADY_DONE);
  EXPECT_EQ(Run(CompleteAt(1300, "a", "w1", 2, 2)).code(), RESULT_ALREADY_DONE);
}

TEST_F(ReportStateMachineTest, CompleteIsACompareAndSet) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  EXPECT_EQ(Run(CompleteAt(1100, "a", "w1", 1, 2)).code(),
            RESULT_CAS_FAILED);  // version
  EXPECT_EQ(Run(CompleteAt(1100, "a", "w1", 2, 1)).code(),
            RESULT_CAS_FAILED);  // token
  EXPECT_EQ(Run(CompleteAt(1100, "a", "w2", 2, 2)).code(),
            RESULT_CAS_FAILED);  // holder
  EXPECT_EQ(Request("a").state(), RUNNING);
  EXPECT_FALSE(machine_->GetEffect("sink/a")->done());
}

TEST_F(ReportStateMachineTest, CompleteAfterExpiryWithTheCurrentTokenSucceeds) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  EXPECT_EQ(Run(CompleteAt(9000, "a", "w1", 2, 2)).code(), RESULT_OK);
}

TEST_F(ReportStateMachineTest, RetryableFailureReturnsTheRequestToAccepted) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const CommandResult result = Run(FailAt(1100, "a", "w1", 2, true, 3));
  ASSERT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().state(), ACCEPTED);
  EXPECT_EQ(result.record().failure(), "sink unavailable");
  EXPECT_EQ(result.record().lease_holder(), "");
  EXPECT_EQ(result.record().version(), 3u);
  EXPECT_EQ(Unfinished(), std::vector<std::string>{"a"});
  // Another worker may reserve at once: the lease was released.
  EXPECT_EQ(Run(ReserveAt(1101, "a", "w2", 300)).code(), RESULT_OK);
  EXPECT_EQ(Request("a").attempts(), 2u);
}

TEST_F(ReportStateMachineTest, FailureAtMaxAttemptsIsTerminal) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const CommandResult result = Run(FailAt(1100, "a", "w1", 2, true, 1));
  EXPECT_EQ(result.record().state(), FAILED);
  EXPECT_TRUE(Unfinished().empty());
}

TEST_F(ReportStateMachineTest, NonRetryableFailureIsTerminal) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  EXPECT_EQ(Run(FailAt(1100, "a", "w1", 2, false, 0)).record().state(), FAILED);
}

TEST_F(ReportStateMachineTest, FailNeedsTheCurrentToken) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  EXPECT_EQ(Run(FailAt(1100, "a", "w1", 7, false, 0)).code(),
            RESULT_CAS_FAILED);
  EXPECT_EQ(Request("a").state(), RUNNING);
}

// A worker dies holding a lease; another takes over after expiry. The first
// one's late Complete (old token) must fail and the second one's succeed: one
// effect.
TEST_F(ReportStateMachineTest, ACrashedWorkersLateCompleteIsFencedOff) {
  Run(SubmitCommandAt(1000, "a"));
  const CommandResult first = Run(ReserveAt(1000, "a", "w1", 300));
  ASSERT_EQ(first.code(), RESULT_OK);
  EXPECT_EQ(Run(ReserveAt(1200, "a", "w2", 300)).code(), RESULT_LEASE_HELD);
  const CommandResult second = Run(ReserveAt(1400, "a", "w2", 300));
  ASSERT_EQ(second.code(), RESULT_OK);
  EXPECT_EQ(Run(CompleteAt(1450, "a", "w1", first.record().version(),
                           first.record().fencing_token()))
                .code(),
            RESULT_CAS_FAILED);
  EXPECT_EQ(Run(ExtendAt(1450, "a", "w1", first.record().fencing_token(), 300))
                .code(),
            RESULT_CAS_FAILED);
  const CommandResult done =
      Run(CompleteAt(1500, "a", "w2", second.record().version(),
                     second.record().fencing_token()));
  ASSERT_EQ(done.code(), RESULT_OK);
  EXPECT_EQ(Request("a").result().worker_id(), "w2");
  EXPECT_EQ(Request("a").attempts(), 2u);
}

TEST_F(ReportStateMachineTest, CommandsInOneBatchSeeEachOther) {
  std::vector<consensus::Entry> batch = {
      log_.Next(SubmitCommandAt(1000, "a")),
      log_.Next(ReserveAt(1000, "a", "w1", 300)),
      log_.Next(CompleteAt(1100, "a", "w1", 2, 2)),
      log_.Next(SubmitCommandAt(1100, "a"))};
  const std::vector<AppliedCommand> applied = machine_->Apply(batch);
  ASSERT_EQ(applied.size(), 4u);
  EXPECT_EQ(applied[1].result.code(), RESULT_OK);
  EXPECT_EQ(applied[2].result.code(), RESULT_OK);
  EXPECT_EQ(applied[3].result.code(), RESULT_DUPLICATE);
  EXPECT_EQ(applied[3].result.record().state(), COMPLETED);
  EXPECT_EQ(Request("a").state(), COMPLETED);
}

TEST_F(ReportStateMachineTest, ReplayingAppliedEntriesChangesNothing) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const std::string digest = machine_->digest();
  const RequestRecord record = Request("a");
  EXPECT_TRUE(machine_->Apply(entries_).empty());
  EXPECT_EQ(machine_->digest(), digest);
  EXPECT_EQ(machine_->applied_index(), 2u);
  EXPECT_EQ(Request("a").SerializeAsString(), record.SerializeAsString());
  // A batch overlapping the applied prefix applies only the new tail.
  entries_.push_back(log_.Next(SubmitCommandAt(1001, "b")));
  const std::vector<AppliedCommand> applied = machine_->Apply(entries_);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].index, 3u);
}

TEST_F(ReportStateMachineTest, RestartRecoversAppliedIndexDigestAndRecords) {
  Run(SubmitCommandAt(1000, "a"));
  Run(SubmitCommandAt(1000, "b"));
  Run(ReserveAt(1000, "a", "w1", 300));
  const std::string digest = machine_->digest();
  const RequestRecord record = Request("a");
  Reopen();
  EXPECT_EQ(machine_->applied_index(), 3u);
  EXPECT_EQ(machine_->digest(), digest);
  EXPECT_EQ(Request("a").SerializeAsString(), record.SerializeAsString());
  EXPECT_EQ(Unfinished(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(machine_->Apply(entries_).empty());
  EXPECT_EQ(Run(CompleteAt(1100, "a", "w1", 3, 3)).code(), RESULT_OK);
}

TEST_F(ReportStateMachineTest, CountsRequestsByStateAndRecoversThemAtRestart) {
  auto counts = [this] {
    return std::vector<int64_t>{machine_->RequestsInState(ACCEPTED),
                                machine_->RequestsInState(RUNNING),
                                machine_->RequestsInState(COMPLETED),
                                machine_->RequestsInState(FAILED)};
  };
  EXPECT_EQ(counts(), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(machine_->OldestUnfinishedAcceptedAtMs(), std::nullopt);
  // In one batch: a, b and c accepted; a reserved and completed; b reserved,
  // failed back to ACCEPTED; a duplicate of a changes nothing.
  const std::vector<consensus::Entry> batch = {
      log_.Next(SubmitCommandAt(1000, "a")),
      log_.Next(SubmitCommandAt(1001, "b")),
      log_.Next(SubmitCommandAt(1002, "c")),
      log_.Next(ReserveAt(1003, "a", "w1", 300)),
      log_.Next(CompleteAt(1004, "a", "w1", 4, 4)),
      log_.Next(ReserveAt(1005, "b", "w1", 300)),
      log_.Next(FailAt(1006, "b", "w1", 6, /*retryable=*/true, 3)),
      log_.Next(SubmitCommandAt(1007, "a"))};
  machine_->Apply(batch);
  EXPECT_EQ(counts(), (std::vector<int64_t>{2, 0, 1, 0}));
  EXPECT_EQ(machine_->OldestUnfinishedAcceptedAtMs(), 1001u);
  Run(ReserveAt(1010, "c", "w2", 300));
  Run(FailAt(1011, "c", "w2", last_index(), /*retryable=*/false, 3));
  EXPECT_EQ(counts(), (std::vector<int64_t>{1, 0, 1, 1}));
  Run(ReserveAt(1012, "b", "w2", 300));
  EXPECT_EQ(counts(), (std::vector<int64_t>{0, 1, 1, 1}));
  Reopen();
  EXPECT_EQ(counts(), (std::vector<int64_t>{0, 1, 1, 1}));

  metrics::Registry registry;
  machine_->ExportMetrics(&registry);
  const std::string text = registry.RenderPrometheus();
  EXPECT_NE(text.find("report_requests{state=\"RUNNING\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("report_requests{state=\"ACCEPTED\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nreport_oldest_unfinished_age_seconds "),
            std::string::npos);
}

// Service threads read while the driver applies: a reader that sees applied
// index k also sees the request submitted at k.
TEST_F(ReportStateMachineTest, ReadsSeeAtLeastTheAppliedIndexWhileApplyRuns) {
  constexpr uint64_t kRequests = 300;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> violations{0};
  std::thread reader([&] {
    uint64_t last_seen = 0;
    while (!done.load()) {
      const uint64_t applied = machine_->applied_index();
      if (applied < last_seen) violations.fetch_add(1);
      last_seen = applied;
      if (applied > 0 &&
          !machine_->GetRequest("r" + std::to_string(applied)).ok()) {
        violations.fetch_add(1);
      }
      machine_->ForEachUnfinished([](const RequestRecord&) { return true; });
      if (machine_->digest().size() != 64) violations.fetch_add(1);
    }
  });
  for (uint64_t i = 1; i <= kRequests; ++i) {
    Run(SubmitCommandAt(1000 + i, "r" + std::to_string(i)));
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_EQ(machine_->applied_index(), kRequests);
}

TEST_F(ReportStateMachineTest, CancelEndsAnAcceptedRequestAtOnce) {
  Run(SubmitCommandAt(1000, "a"));
  const CommandResult result = Run(CancelAt(1001, "a"));
  ASSERT_EQ(result.code(), RESULT_OK);
  EXPECT_EQ(result.record().state(), CANCELLED);
  EXPECT_EQ(result.record().version(), 2u);
  EXPECT_TRUE(Unfinished().empty());
  EXPECT_EQ(machine_->RequestsInState(CANCELLED), 1);
  // Idempotent, and nothing can start it afterwards.
  EXPECT_EQ(Run(CancelAt(1002, "a")).code(), RESULT_ALREADY_DONE);
  EXPECT_EQ(Run(ReserveAt(1003, "a", "w1", 300)).code(), RESULT_ALREADY_DONE);
  EXPECT_EQ(Request("a").state(), CANCELLED);
  EXPECT_EQ(Run(CancelAt(1004, "nobody")).code(), RESULT_NOT_FOUND);
}

TEST_F(ReportStateMachineTest, ARunningRequestEndsCancelledAtItsNextExtension) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 3000));  // token 2, version 2
  const CommandResult asked = Run(CancelAt(1100, "a"));
  ASSERT_EQ(asked.code(), RESULT_OK);
  EXPECT_EQ(asked.record().state(), RUNNING);
  EXPECT_TRUE(asked.record().cancel_requested());
  EXPECT_EQ(asked.record().version(), 2u);
  EXPECT_EQ(Run(CancelAt(1150, "a")).code(), RESULT_OK);  // idempotent
  const CommandResult extended = Run(ExtendAt(1200, "a", "w1", 2, 3000));
  EXPECT_EQ(extended.code(), RESULT_ALREADY_DONE);
  EXPECT_EQ(extended.record().state(), CANCELLED);
  EXPECT_TRUE(Unfinished().empty());
  EXPECT_EQ(Run(CancelAt(1300, "a")).code(), RESULT_ALREADY_DONE);
}

TEST_F(ReportStateMachineTest, AnEffectMadeBeforeTheCancelIsStillRecorded) {
  // The holder completes before extending: COMPLETED, the cancel notwith-
  // standing (effects are never undone).
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 3000));
  Run(CancelAt(1100, "a"));
  const CommandResult done = Run(CompleteAt(1200, "a", "w1", 2, 2));
  ASSERT_EQ(done.code(), RESULT_OK);
  EXPECT_EQ(done.record().state(), COMPLETED);
  EXPECT_FALSE(done.record().cancel_requested());

  // The holder learned of the cancel at an extension after writing its
  // effect: its Complete still records it; nobody else's does.
  Run(SubmitCommandAt(1300, "b"));
  Run(ReserveAt(1300, "b", "w1", 3000));  // token 6
  Run(CancelAt(1400, "b"));
  ASSERT_EQ(Run(ExtendAt(1500, "b", "w1", 6, 3000)).record().state(),
            CANCELLED);
  EXPECT_EQ(Run(CompleteAt(1600, "b", "w2", 6, 6)).code(), RESULT_ALREADY_DONE);
  const CommandResult late = Run(CompleteAt(1700, "b", "w1", 6, 6));
  ASSERT_EQ(late.code(), RESULT_OK);
  EXPECT_EQ(late.record().state(), COMPLETED);
}

TEST_F(ReportStateMachineTest,
       AFailingWorkerOfACancelledRequestEndsItCancelled) {
  Run(SubmitCommandAt(1000, "a"));
  Run(ReserveAt(1000, "a", "w1", 3000));
  Run(CancelAt(1100, "a"));
  const CommandResult failed =
      Run(FailAt(1200, "a", "w1", 2, /*retryable=*/true, 0));
  ASSERT_EQ(failed.code(), RESULT_OK);
  EXPECT_EQ(failed.record().state(), CANCELLED);
  EXPECT_TRUE(Unfinished().empty());
}

TEST_F(ReportStateMachineTest, AnAccountListsNewestFirstInPages) {
  for (int i = 1; i <= 7; ++i) {
    Run(SubmitForAccount(1000 + i, absl::StrCat("r", i),
                         i % 2 == 0 ? "even" : "odd"));
  }
  Run(SubmitForAccount(2000, "x", "odd-x"));  // shares a prefix, not an account
  Run(CancelAt(2001, "r3"));
  auto ids = [](const ReportStateMachine::AccountPage& page) {
    std::vector<std::string> out;
    for (const RequestRecord& r : page.records) out.push_back(r.request_id());
    return out;
  };
  auto first =
      machine_->ListAccount("odd", REQUEST_STATE_UNSPECIFIED, 0, 2, 100);
  EXPECT_EQ(ids(first), (std::vector<std::string>{"r7", "r5"}));
  ASSERT_EQ(first.next_before_offset, 4u);  // r3, the next, is at offset 3
  auto second = machine_->ListAccount("odd", REQUEST_STATE_UNSPECIFIED,
                                      first.next_before_offset, 2, 100);
  EXPECT_EQ(ids(second), (std::vector<std::string>{"r3", "r1"}));
  EXPECT_EQ(second.next_before_offset, 0u);
  auto cancelled = machine_->ListAccount("odd", CANCELLED, 0, 10, 100);
  EXPECT_EQ(ids(cancelled), (std::vector<std::string>{"r3"}));
  // A bounded scan returns a short page and where to go on.
  auto bounded = machine_->ListAccount("odd", CANCELLED, 0, 10, 1);
  EXPECT_TRUE(bounded.records.empty());
  EXPECT_EQ(bounded.next_before_offset, 6u);
  EXPECT_EQ(
      ids(machine_->ListAccount("even", REQUEST_STATE_UNSPECIFIED, 0, 10, 100)),
      (std::vector<std::string>{"r6", "r4", "r2"}));
  EXPECT_TRUE(
      machine_->ListAccount("nobody", REQUEST_STATE_UNSPECIFIED, 0, 10, 100)
          .records.empty());
}

TEST(ReportStateMachineDeterminismTest, TheSameLogGivesTheSameDigest) {
  LogBuilder log;
  std::vector<consensus::Entry> entries;
  entries.push_back(log.NextRaw(consensus::ENTRY_BARRIER, ""));
  for (int i = 0; i < 20; ++i) {
    const std::string id = "r" + std::to_string(i);
    const uint64_t now = 1000 + 10 * i;
    entries.push_back(log.Next(SubmitCommandAt(now, id)));
    entries.push_back(
        log.Next(ReserveAt(now, id, "w" + std::to_string(i % 3), 50, 3)));
    const uint64_t token = entries.back().index();
    if (i % 2 == 0)
      entries.push_back(log.Next(CompleteAt(now + 1, id, "w0", token, token)));
    if (i % 3 == 0)
      entries.push_back(log.Next(FailAt(now + 2, id, "w0", token, true, 3)));
    if (i == 7) log.set_epoch(2);
  }
  entries.push_back(log.NextRaw(consensus::ENTRY_NORMAL, "garbage"));

  auto first_store =
      storage::ReplicaStore::Open(FreshDir("determinism_1"), "c", 1);
  auto second_store =
      storage::ReplicaStore::Open(FreshDir("determinism_2"), "c", 2);
  ASSERT_TRUE(first_store.ok() && second_store.ok());
  ReportStateMachine first((*first_store)->db());
  ReportStateMachine second((*second_store)->db());
  // Same log, different batching.
  first.Apply(entries);
  for (const consensus::Entry& entry : entries) second.Apply({entry});
  EXPECT_EQ(first.applied_index(), entries.back().index());
  EXPECT_EQ(first.digest(), second.digest());
  for (int i = 0; i < 20; ++i) {
    const std::string id = "r" + std::to_string(i);
    EXPECT_EQ(first.GetRequest(id)->SerializeAsString(),
              second.GetRequest(id)->SerializeAsString())
        << id;
  }
  EXPECT_EQ(first.LowestUnfinishedOffset(), second.LowestUnfinishedOffset());
}

}  // namespace
}  // namespace report
