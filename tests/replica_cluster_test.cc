// Replicas as real processes on loopback, started and killed through
// deploy/cluster.sh. The names read as the replica's promises
// (docs/CONSENSUS.md, docs/REPLICA.md, docs/STORAGE.md, §9).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/validation.h"
#include "gtest/gtest.h"
#include "proto/replica_service.grpc.pb.h"
#include "replica/storage/keys.h"
#include "replica/storage/replica_store.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

constexpr absl::Duration kSubmitTimeout = absl::Seconds(10);

ReportSubmission MakeSubmission(const std::string& id,
                                const std::string& account = "acct-1",
                                const std::string& month = "2026-04") {
  ReportSubmission submission;
  submission.set_request_id(id);
  submission.set_account_id(account);
  submission.set_month(month);
  return submission;
}

class ReplicaCluster {
 public:
  explicit ReplicaCluster(const std::string& profile)
      : cluster(profile, "--workers 0") {}
  LocalCluster cluster;

  std::string IngressDomain() const {
    // Every shipped profile allows ingress in the first gateway's domain.
    if (cluster.config().gateways_size() > 0)
      return cluster.config().gateways(0).domain();
    return cluster.config().members(0).domain();
  }
  absl::StatusOr<Receipt> Submit(const ReportSubmission& submission) {
    return cluster.client().Submit(submission, IngressDomain(), kSubmitTimeout);
  }
};

#define ASSERT_UP(rc)                                    \
  do {                                                   \
    std::string up_error;                                \
    ASSERT_TRUE((rc).cluster.Up(&up_error)) << up_error; \
  } while (0)

// A stub presenting `credentials` (the operator's when none: reads only).
std::unique_ptr<ReplicaService::Stub> StubFor(
    const LocalCluster& cluster, const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
  return ReplicaService::NewStub(grpc::CreateChannel(
      address, credentials ? credentials : cluster.credentials()));
}

void SubmitAndCheckOffsets(ReplicaCluster& rc, int count,
                           const std::string& prefix,
                           std::map<std::string, uint64_t>* receipts) {
  uint64_t previous = 0;
  for (int i = 0; i < count; ++i) {
    std::string id = absl::StrCat(prefix, "-", i);
    auto receipt = rc.Submit(MakeSubmission(id));
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    EXPECT_EQ(receipt->request_id(), id);
    EXPECT_EQ(receipt->status_path(), "/reports/" + id);
    EXPECT_FALSE(receipt->duplicate());
    EXPECT_GT(receipt->accepted_offset(), previous);
    EXPECT_GT(receipt->epoch(), 0u);
    previous = receipt->accepted_offset();
    (*receipts)[id] = receipt->accepted_offset();
  }
}

void ExpectReceiptsDurable(ReplicaCluster& rc,
                           const std::map<std::string, uint64_t>& receipts) {
  for (const auto& [id, offset] : receipts) {
    auto status = rc.cluster.client().ReadStatus(id, offset, absl::Seconds(5));
    ASSERT_TRUE(status.ok()) << id << ": " << status.status();
    EXPECT_EQ(status->record().accepted_offset(), offset) << id;
    EXPECT_GE(status->served_offset(), offset) << id;
  }
}

TEST(ReplicaClusterTest, ThreeReplicasElectALeaderAndCommitSubmits) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 20, "three", &receipts);
  ExpectReceiptsDurable(rc, receipts);
  auto digest = rc.cluster.WaitForConvergence(receipts.rbegin()->second,
                                              absl::Seconds(10));
  EXPECT_TRUE(digest.ok()) << digest.status();
}

// `reportctl cluster` shows who each replica follows, why one is unreachable,
// and answers "is there a leader?" with its exit code.
TEST(ReplicaClusterTest, ReportctlClusterShowsTheLeaderAndFailsWithoutOne) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string command =
      absl::StrCat(BinDir(), "/reportctl cluster --timeout 1s --cluster ",
                   rc.cluster.dir(), "/cluster.textproto");
  std::string output;
  ASSERT_EQ(RunCommand(command, &output), 0) << output;
  EXPECT_NE(output.find("LEADER"), std::string::npos) << output;
  bool leader_row_names_itself = false;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(line, *leader)) continue;
    const size_t again = line.find(*leader, leader->size());
    leader_row_names_itself = again != absl::string_view::npos;
  }
  EXPECT_TRUE(leader_row_names_itself) << output;

  for (const Member& member : rc.cluster.config().members()) {
    rc.cluster.Kill(member.name());
  }
  EXPECT_EQ(RunCommand(command, &output), 1) << output;
  EXPECT_NE(output.find("error: NoQuorum: no replica is leader (0 of 3 "
                        "reachable)"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("unreachable (UNAVAILABLE: "), std::string::npos)
      << output;
  EXPECT_EQ(RunCommand(command + " --json", &output), 1) << output;
}

TEST(ReplicaClusterTest, FiveReplicasElectALeaderAndCommitSubmits) {
  ReplicaCluster rc(SourceDir() + "/tests/data/five-replica.textproto");
  ASSERT_UP(rc);
  EXPECT_EQ(rc.cluster.config().members_size(), 5);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 20, "five", &receipts);
  ExpectReceiptsDurable(rc, receipts);
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  auto digest = rc.cluster.WaitForConvergence(last, absl::Seconds(10));
  EXPECT_TRUE(digest.ok()) << digest.status();
}

// The profile's quorum is the commit quorum: with 4 of 5, losing two replicas
// stops commits (elections still work with a majority), and no submit is
// acknowledged on only three; with one of them back, submits commit again.
TEST(ReplicaClusterTest, AProfileQuorumOfFourOfFiveIsTheCommitQuorum) {
  ReplicaCluster rc(SourceDir() + "/tests/data/five-replica-quorum4.textproto");
  ASSERT_UP(rc);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 3, "four", &receipts);
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  std::vector<std::string> stopped;
  for (const Member& member : rc.cluster.config().members()) {
    if (member.name() != *leader && stopped.size() < 2) {
      rc.cluster.Kill(member.name());
      stopped.push_back(member.name());
    }
  }
  // Three of five are up: a majority, but below the commit quorum.
  auto refused = rc.cluster.client().Submit(
      MakeSubmission("four-refused"), rc.IngressDomain(), absl::Seconds(3));
  ASSERT_FALSE(refused.ok())
      << "acknowledged on 3 of 5: " << refused->ShortDebugString();
  const ErrorCode code = ErrorCodeOf(refused.status());
  EXPECT_TRUE(code == ErrorCode::kNoQuorum || code == ErrorCode::kCommitUnknown)
      << refused.status();
  rc.cluster.Start(stopped[0]);
  absl::StatusOr<Receipt> after;
  for (absl::Time until = absl::Now() + absl::Seconds(30);
       absl::Now() < until;) {
    after = rc.Submit(MakeSubmission("four-after"));
    if (after.ok()) break;
  }
  ASSERT_TRUE(after.ok()) << after.status();
  receipts["four-after"] = after->accepted_offset();
  ExpectReceiptsDurable(rc, receipts);
}

// Recovery cuts a damaged log tail; a cut below the applied index means the
// replica lost entries it acknowledged. It must not rejoin as a voter that
// claims them: it refuses to start, saying why.
TEST(ReplicaClusterTest,
     AReplicaWhoseLogWasCutBelowItsAppliedIndexRefusesToStart) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 5, "cut", &receipts);
  const uint64_t last = receipts.rbegin()->second;
  ASSERT_TRUE(rc.cluster.WaitForConvergence(last, absl::Seconds(10)).ok());
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok());
  const Member* victim = nullptr;
  for (const Member& member : rc.cluster.config().members()) {
    if (member.name() != *leader) victim = &member;
  }
  ASSERT_NE(victim, nullptr);
  auto stopped = [&] { return rc.cluster.Process(victim->name()).pid == 0; };
  rc.cluster.Kill(victim->name(), "TERM");
  ASSERT_TRUE(WaitUntil(stopped, absl::Seconds(20)));
  const std::string data_dir =
      rc.cluster.dir() + "/" + victim->name() + "/data";
  {
    auto store = storage::ReplicaStore::Open(
        data_dir, rc.cluster.config().cluster_id(), victim->id());
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(
        (*store)
            ->db()
            ->Put(leveldb::WriteOptions(), storage::LogKey(2), "\xff damaged")
            .ok());
  }
  rc.cluster.Start(victim->name());
  ASSERT_TRUE(WaitUntil(stopped, absl::Seconds(20)))
      << "a replica missing acknowledged entries started";
  std::string log;
  RunCommand("cat " + rc.cluster.dir() + "/" + victim->name() + "/log", &log);
  EXPECT_NE(log.find("refusing to start"), std::string::npos) << log;
  // The other two still commit.
  SubmitAndCheckOffsets(rc, 2, "cut-after", &receipts);
}

TEST(ReplicaClusterTest,
     KilledLeaderIsReplacedInAHigherEpochAndCatchesUpAfterRestart) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 5, "before", &receipts);
  auto old_leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(old_leader.ok());
  uint64_t old_epoch = 0;
  for (auto& [member, status] :
       rc.cluster.client().ClusterStatus(absl::Seconds(1))) {
    if (member.name() == *old_leader) old_epoch = status->epoch();
  }
  rc.cluster.Kill(*old_leader);
  SubmitAndCheckOffsets(rc, 5, "after", &receipts);
  auto new_leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(new_leader.ok());
  EXPECT_NE(*new_leader, *old_leader);
  for (auto& [member, status] :
       rc.cluster.client().ClusterStatus(absl::Seconds(1))) {
    if (member.name() == *new_leader) {
      EXPECT_GT(status->epoch(), old_epoch);
    }
  }
  rc.cluster.Start(*old_leader);
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  auto digest = rc.cluster.WaitForConvergence(last, absl::Seconds(15));
  EXPECT_TRUE(digest.ok()) << digest.status();
  ExpectReceiptsDurable(rc, receipts);
}

TEST(ReplicaClusterTest, EveryAnsweredSubmitSurvivesKillingEveryReplica) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  std::map<std::string, uint64_t> receipts;
  SubmitAndCheckOffsets(rc, 30, "durable", &receipts);
  for (const ProcessInfo& p : rc.cluster.Processes()) {
    if (p.kind == "replica") rc.cluster.Kill(p.name);
  }
  for (const ProcessInfo& p : rc.cluster.Processes()) {
    if (p.kind == "replica") rc.cluster.Start(p.name);
  }
  ASSERT_TRUE(rc.cluster.WaitForLeader(absl::Seconds(15)).ok());
  ExpectReceiptsDurable(rc, receipts);
  // Replays after the restart still answer with the original offsets, without
  // appending. Each is asked once every replica has re-applied the log: a
  // replay that reached the new leader before it committed in its epoch is
  // retried by the client, which then (by design) cannot tell its own first
  // attempt from an earlier submit and leaves `duplicate` unset.
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  ASSERT_TRUE(rc.cluster.WaitForConvergence(last, absl::Seconds(15)).ok());
  for (const auto& [id, offset] : receipts) {
    auto receipt = rc.Submit(MakeSubmission(id));
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    EXPECT_TRUE(receipt->duplicate());
    EXPECT_EQ(receipt->accepted_offset(), offset);
  }
}

TEST(ReplicaClusterTest,
     ReplayReturnsTheOriginalReceiptAndAChangedPayloadConflicts) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  auto first = rc.Submit(MakeSubmission("replay-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate());
  auto replay = rc.Submit(MakeSubmission("replay-1"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->duplicate());
  EXPECT_EQ(replay->accepted_offset(), first->accepted_offset());
  EXPECT_EQ(replay->epoch(), first->epoch());
  auto changed = rc.Submit(MakeSubmission("replay-1", "acct-2"));
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(ErrorCodeOf(changed.status()), ErrorCode::kIdempotencyConflict)
      << changed.status();
  // Neither the replay nor the conflict appended: the next new request takes
  // the next offset.
  auto next = rc.Submit(MakeSubmission("replay-2"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->accepted_offset(), first->accepted_offset() + 1);
}

// After a restart a replica's list of recent changes starts empty. If the
// first entries it then applies arrive in one batch led by a new leader's
// barrier (which carries no request), a watch opened before them must still
// follow the log, not be told it fell behind.
TEST(ReplicaClusterTest, AWatchOpenedRightAfterARestartFollowsTheLog) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  ASSERT_TRUE(rc.Submit(MakeSubmission("watch-before")).ok());
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  ProcessInfo watched;
  for (const ProcessInfo& p : rc.cluster.Processes()) {
    if (p.kind == "replica" && p.name != *leader) watched = p;
  }
  rc.cluster.Kill(watched.name);
  rc.cluster.Start(watched.name);
  WatchRequest request;
  request.set_worker_domain(rc.cluster.config().placement().worker_domains(0));
  auto stub = StubFor(rc.cluster, watched.grpc_address,
                      rc.cluster.WorkerCredentials(request.worker_domain()));
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<WatchEvent>> reader;
  WatchEvent event;
  for (absl::Time until = absl::Now() + absl::Seconds(20);
       absl::Now() < until;) {
    context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    reader = stub->WatchCommitted(context.get(), request);
    // The unfinished report comes first, in the catch-up.
    if (reader->Read(&event)) break;
    reader.reset();
  }
  ASSERT_NE(reader, nullptr) << "replica never served the watch";
  EXPECT_TRUE(event.catch_up());
  // While it is stopped, the others change leader (a barrier) and accept a
  // report; it then gets both in one append and applies them together.
  rc.cluster.Kill(watched.name, "STOP");
  rc.cluster.Kill(*leader);
  rc.cluster.Start(*leader);
  absl::StatusOr<Receipt> receipt;
  for (absl::Time until = absl::Now() + absl::Seconds(30);
       absl::Now() < until;) {
    receipt = rc.Submit(MakeSubmission("watch-after"));
    if (receipt.ok()) break;
  }
  rc.cluster.Kill(watched.name, "CONT");
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  bool seen = false;
  while (!seen && reader->Read(&event)) {
    seen = event.record().request_id() == "watch-after";
  }
  if (!seen) {
    grpc::Status status = reader->Finish();
    FAIL() << "watch ended without the new report: " << status.error_message();
  }
  EXPECT_EQ(event.offset(), receipt->accepted_offset());
  context->TryCancel();
}

TEST(ReplicaClusterTest,
     ConcurrentIdenticalSubmitsShareOneLogEntryAndOneReceipt) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  ASSERT_TRUE(rc.Submit(MakeSubmission("warm-up")).ok());
  constexpr int kClients = 16;
  std::vector<absl::StatusOr<Receipt>> results(kClients,
                                               absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      ClusterClient client(rc.cluster.config(), rc.IngressDomain(),
                           rc.cluster.client_credentials());
      results[i] = client.Submit(MakeSubmission("same-id"), rc.IngressDomain(),
                                 kSubmitTimeout);
    });
  }
  for (auto& thread : threads) thread.join();
  uint64_t offset = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    if (offset == 0) offset = result->accepted_offset();
    EXPECT_EQ(result->accepted_offset(), offset);
  }
  auto next = rc.Submit(MakeSubmission("after-same-id"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->accepted_offset(), offset + 1)
      << "duplicates appended extra entries";
}

TEST(ReplicaClusterTest, ABatchCommitsTogetherAndAnswersEachSubmitOnItsOwn) {
  ReplicaCluster rc("multi-az");
  ASSERT_UP(rc);
  auto earlier = rc.Submit(MakeSubmission("batch-old"));
  ASSERT_TRUE(earlier.ok()) << earlier.status();
  SubmitBatchRequest batch;
  auto add = [&](const ReportSubmission& submission) {
    SubmitRequest* request = batch.add_requests();
    *request->mutable_submission() = submission;
    request->set_ingress_domain(rc.IngressDomain());
  };
  add(MakeSubmission("batch-1"));
  add(MakeSubmission("batch-2"));
  add(MakeSubmission("batch-1"));              // same id twice: one entry
  add(MakeSubmission("batch-old"));            // applied earlier: a replay
  add(MakeSubmission("batch-old", "acct-9"));  // applied earlier, changed
  add(MakeSubmission("not valid!"));
  auto answer = rc.cluster.client().SubmitBatch(batch, kSubmitTimeout);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->outcomes_size(), 6);
  auto code = [&](int i) {
    return ErrorCodeOf(OutcomeResult(answer->outcomes(i)).status());
  };
  for (int i : {0, 1, 2, 3}) {
    EXPECT_EQ(answer->outcomes(i).error_code(), 0)
        << i << ": " << answer->outcomes(i).error();
  }
  const Receipt& first = answer->outcomes(0).receipt();
  const Receipt& second = answer->outcomes(1).receipt();
  EXPECT_EQ(first.request_id(), "batch-1");
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(second.request_id(), "batch-2");
  EXPECT_GT(first.accepted_offset(), earlier->accepted_offset());
  EXPECT_NE(second.accepted_offset(), first.accepted_offset());
  EXPECT_EQ(answer->outcomes(2).receipt().accepted_offset(),
            first.accepted_offset());
  EXPECT_TRUE(answer->outcomes(3).receipt().duplicate());
  EXPECT_EQ(answer->outcomes(3).receipt().accepted_offset(),
            earlier->accepted_offset());
  EXPECT_EQ(code(4), ErrorCode::kIdempotencyConflict);
  EXPECT_EQ(code(5), ErrorCode::kInvalidArgument);
  // Two new entries only: the next submit lands right after them.
  auto next = rc.Submit(MakeSubmission("batch-next"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->accepted_offset(),
            std::max(first.accepted_offset(), second.accepted_offset()) + 1);
  // Both are durable state, readable with the receipt's offset.
  auto read = rc.cluster.client().ReadStatus(
      "batch-2", second.accepted_offset(), absl::Seconds(5));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->record().accepted_offset(), second.accepted_offset());

  SubmitBatchRequest empty;
  auto refused = rc.cluster.client().SubmitBatch(empty, kSubmitTimeout);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorCodeOf(refused.status()), ErrorCode::kInvalidArgument);
}

// A field past its limit is refused before anything is proposed. Before the
// limits, a 20 MiB report_location was accepted and proposed; no peer frame
// could carry that entry, so nothing committed again while heartbeats kept the
// leader in place.
TEST(ReplicaClusterTest,
     OversizedFieldsAreRefusedAndTheClusterKeepsCommitting) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  auto first = rc.Submit(MakeSubmission("sized-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string worker_domain = rc.cluster.config().members(0).domain();
  auto stub = StubFor(rc.cluster, rc.cluster.Process(*leader).grpc_address,
                      rc.cluster.WorkerCredentials(worker_domain));
  auto call = [](auto method) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    EffectResponse response;
    return FromGrpcStatus(method(&context, &response));
  };
  auto complete = [&](const std::string& location) {
    CompleteRequest request;
    request.set_request_id("sized-1");
    request.set_worker_id("worker-1");
    request.set_worker_domain(worker_domain);
    request.set_report_location(location);
    return call([&](grpc::ClientContext* context, EffectResponse* response) {
      return stub->Complete(context, request, response);
    });
  };
  absl::Status just_over =
      complete(std::string(kMaxReportLocationLength + 1, 'l'));
  EXPECT_EQ(ErrorCodeOf(just_over), ErrorCode::kInvalidArgument) << just_over;
  EXPECT_NE(just_over.message().find("report_location"), std::string::npos)
      << just_over;
  absl::Status huge = complete(std::string(20 << 20, 'l'));
  EXPECT_EQ(ErrorCodeOf(huge), ErrorCode::kInvalidArgument) << huge;

  ReserveEffectRequest reserve;
  reserve.set_request_id("sized-1");
  reserve.set_effect_key("file-sink:sized-1");
  reserve.set_worker_id(std::string(kMaxWorkerIdLength + 1, 'w'));
  reserve.set_worker_domain(worker_domain);
  reserve.set_lease_ms(5000);
  absl::Status long_worker =
      call([&](grpc::ClientContext* context, EffectResponse* response) {
        return stub->ReserveEffect(context, reserve, response);
      });
  EXPECT_EQ(ErrorCodeOf(long_worker), ErrorCode::kInvalidArgument)
      << long_worker;
  FailRequest fail;
  fail.set_request_id("sized-1");
  fail.set_worker_id("worker-1");
  fail.set_worker_domain(worker_domain + std::string(100, 'z'));
  absl::Status long_domain =
      call([&](grpc::ClientContext* context, EffectResponse* response) {
        return stub->Fail(context, fail, response);
      });
  EXPECT_EQ(ErrorCodeOf(long_domain), ErrorCode::kInvalidArgument)
      << long_domain;

  // Nothing was proposed: the next submit takes the very next offset, and
  // every replica gets there.
  auto next = rc.Submit(MakeSubmission("sized-2"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->accepted_offset(), first->accepted_offset() + 1);
  auto digest =
      rc.cluster.WaitForConvergence(next->accepted_offset(), absl::Seconds(10));
  EXPECT_TRUE(digest.ok()) << digest.status();
  auto read = rc.cluster.client().ReadStatus("sized-1", next->accepted_offset(),
                                             absl::Seconds(5));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->record().state(), ACCEPTED);

  // In a batch, an oversized submit is refused in its own outcome; the others
  // commit.
  SubmitBatchRequest batch;
  auto add = [&](const std::string& id) {
    SubmitRequest* request = batch.add_requests();
    *request->mutable_submission() = MakeSubmission(id);
    request->set_ingress_domain(rc.IngressDomain());
    return request;
  };
  add("sized-3");
  add("sized-4")->set_ingress_domain(rc.IngressDomain() +
                                     std::string(200, 'z'));
  add("sized-5")->set_fingerprint(std::string(1 << 20, 'f'));
  auto answer = rc.cluster.client().SubmitBatch(batch, kSubmitTimeout);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->outcomes_size(), 3);
  auto outcome = [&](int i) { return OutcomeResult(answer->outcomes(i)); };
  ASSERT_TRUE(outcome(0).ok()) << outcome(0).status();
  EXPECT_EQ(outcome(0)->request_id(), "sized-3");
  EXPECT_EQ(outcome(0)->accepted_offset(), next->accepted_offset() + 1);
  EXPECT_EQ(ErrorCodeOf(outcome(1).status()), ErrorCode::kInvalidArgument)
      << outcome(1).status();
  EXPECT_NE(outcome(1).status().message().find("ingress_domain"),
            std::string::npos);
  EXPECT_EQ(ErrorCodeOf(outcome(2).status()), ErrorCode::kInvalidArgument)
      << outcome(2).status();
}

TEST(ReplicaClusterTest,
     WatchStreamsBeyondAReplicasBoundAreRefusedAsOverloaded) {
  LocalCluster cluster("multi-az",
                       "--workers 0 --replica-args '--max-watch-streams 2'");
  std::string up_error;
  ASSERT_TRUE(cluster.Up(&up_error)) << up_error;
  // One unfinished request, so that every stream's catch-up sends an event
  // (proof that the replica holds the stream open).
  ASSERT_TRUE(cluster.client()
                  .Submit(MakeSubmission("watched"),
                          cluster.config().gateways_size() > 0
                              ? cluster.config().gateways(0).domain()
                              : cluster.config().members(0).domain(),
                          kSubmitTimeout)
                  .ok());
  std::unique_ptr<ReplicaService::Stub> stub =
      StubFor(cluster, cluster.config().members(0).grpc_address(),
              cluster.WorkerCredentials(cluster.config().members(0).domain()));
  WatchRequest request;
  // Watching is for workers in an allowed worker domain.
  request.set_worker_domain(cluster.config().members(0).domain());
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<WatchEvent>> reader;
  };
  auto open = [&] {
    auto stream = std::make_unique<Stream>();
    stream->context.set_deadline(std::chrono::system_clock::now() +
                                 std::chrono::seconds(20));
    stream->reader = stub->WatchCommitted(&stream->context, request);
    return stream;
  };
  auto close = [](Stream& stream) {
    stream.context.TryCancel();
    WatchEvent ignored;
    while (stream.reader->Read(&ignored)) {
    }
    return stream.reader->Finish();
  };
  WatchEvent event;
  std::unique_ptr<Stream> first = open();
  ASSERT_TRUE(first->reader->Read(&event));
  std::unique_ptr<Stream> second = open();
  ASSERT_TRUE(second->reader->Read(&event));

  std::unique_ptr<Stream> third = open();
  EXPECT_FALSE(third->reader->Read(&event));
  grpc::Status refused = third->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(refused)), ErrorCode::kOverloaded)
      << refused.error_message();

  close(*first);
  close(*second);
  // Closed streams free their places (once the replica has seen them end).
  bool served = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!served && absl::Now() < deadline) {
    std::unique_ptr<Stream> next = open();
    served = next->reader->Read(&event);
    close(*next);
  }
  EXPECT_TRUE(served);
}

// A read at a receipt's offset from a replica that really lags behind it:
// StaleRead (never NotFound or an older record) until the replica has the
// entry, then the record. The lag is made real, not asked for with an offset
// beyond the log: the follower is stopped while the entry commits on the other
// two, then killed (what its kernel had buffered for it dies with it) and
// restarted while those two are stopped, so nothing can bring it the entry
// until they are continued.
TEST(ReplicaClusterTest, StoppedReplicaServesStaleReadUntilItCatchesUp) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  ASSERT_TRUE(rc.Submit(MakeSubmission("before-1")).ok());
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok());
  ProcessInfo follower;
  std::vector<std::string> holders;  // the two that will hold the entry
  for (const ProcessInfo& p : rc.cluster.Processes()) {
    if (p.kind != "replica") continue;
    if (p.name != *leader && follower.name.empty()) {
      follower = p;
    } else {
      holders.push_back(p.name);
    }
  }
  ASSERT_EQ(holders.size(), 2u);
  rc.cluster.Kill(follower.name, "STOP");
  auto receipt = rc.Submit(MakeSubmission("fresh-1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  const uint64_t offset = receipt->accepted_offset();

  // The stopped replica cannot answer at all.
  auto stub = StubFor(rc.cluster, follower.grpc_address);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(300));
    ReadStatusRequest request;
    request.set_request_id("fresh-1");
    request.set_min_offset(offset);
    ReadStatusResponse response;
    grpc::Status status = stub->ReadStatus(&context, request, &response);
    EXPECT_FALSE(status.ok()) << "a stopped replica answered";
  }

  // Make it lag for as long as the test wants: kill it, stop the two holders,
  // restart it on its own data, which ends before `offset`.
  rc.cluster.Kill(follower.name);
  for (const std::string& name : holders) rc.cluster.Kill(name, "STOP");
  rc.cluster.Start(follower.name);
  stub = StubFor(rc.cluster, follower.grpc_address);
  absl::StatusOr<ClusterStatusResponse> lagging =
      absl::UnavailableError("not asked");
  for (absl::Time until = absl::Now() + absl::Seconds(15);
       absl::Now() < until;) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
    ClusterStatusResponse response;
    grpc::Status status =
        stub->ClusterStatus(&context, ClusterStatusRequest(), &response);
    if (status.ok()) {
      lagging = response;
      break;
    }
    lagging = FromGrpcStatus(status);
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(lagging.ok())
      << "the restarted follower never answered: " << lagging.status();
  ASSERT_LT(lagging->applied_offset(), offset)
      << "the follower is not behind the receipt; nothing to test";

  // Behind the receipt: StaleRead after the wait, not NotFound.
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    ReadStatusRequest request;
    request.set_request_id("fresh-1");
    request.set_min_offset(offset);
    request.set_wait_ms(300);
    ReadStatusResponse response;
    const absl::Time started = absl::Now();
    grpc::Status status = stub->ReadStatus(&context, request, &response);
    const absl::Duration took = absl::Now() - started;
    ASSERT_FALSE(status.ok())
        << "a replica at applied offset " << lagging->applied_offset()
        << " answered a read at " << offset << ": "
        << response.ShortDebugString();
    EXPECT_EQ(ErrorCodeOf(FromGrpcStatus(status)), ErrorCode::kStaleRead)
        << status.error_message();
    EXPECT_GE(took, absl::Milliseconds(250))
        << "the replica did not wait for the offset";
  }
  // The holders continue; the follower catches up and serves the record.
  for (const std::string& name : holders) rc.cluster.Kill(name, "CONT");
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    ReadStatusRequest request;
    request.set_request_id("fresh-1");
    request.set_min_offset(offset);
    request.set_wait_ms(15000);
    ReadStatusResponse response;
    grpc::Status status = stub->ReadStatus(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_GE(response.served_offset(), offset);
    EXPECT_EQ(response.record().accepted_offset(), offset);
  }
}

// A reader whose nearest replica is frozen pays for it once: the next reads go
// straight to a replica that answers.
TEST(ReplicaClusterTest, AReplicaThatLeftAReadUnansweredIsAskedLast) {
  ReplicaCluster rc("multi-az");
  ASSERT_UP(rc);
  auto receipt = rc.Submit(MakeSubmission("near-1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto leader = rc.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  ProcessInfo frozen;
  for (const ProcessInfo& p : rc.cluster.Processes()) {
    if (p.kind == "replica" && p.name != *leader) frozen = p;
  }
  ASSERT_FALSE(frozen.name.empty());
  // Reads from the frozen follower's own domain ask it first.
  ClusterClient reader(rc.cluster.config(), frozen.domain,
                       rc.cluster.credentials());
  const absl::Duration wait = absl::Milliseconds(300);
  auto read = reader.ReadStatus("near-1", receipt->accepted_offset(), wait);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(reader.unanswered_reads(), 0u);

  rc.cluster.Kill(frozen.name, "STOP");
  read = reader.ReadStatus("near-1", receipt->accepted_offset(), wait);
  EXPECT_TRUE(read.ok()) << read.status();  // served by the next replica
  EXPECT_EQ(reader.unanswered_reads(), 1u);
  for (int i = 0; i < 3; ++i) {
    read = reader.ReadStatus("near-1", receipt->accepted_offset(), wait);
    EXPECT_TRUE(read.ok()) << read.status();
  }
  EXPECT_EQ(reader.unanswered_reads(), 1u);  // not asked again
  rc.cluster.Kill(frozen.name, "CONT");
}

TEST(ReplicaClusterTest, RandomKillsUnderLoadNeverLoseOrMoveAnAnsweredSubmit) {
  ReplicaCluster rc("single-az");
  ASSERT_UP(rc);
  std::mutex mu;
  std::map<std::string, uint64_t> receipts;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      ClusterClient client(rc.cluster.config(), rc.IngressDomain(),
                           rc.cluster.client_credentials());
      for (int i = 0; !stop.load(); ++i) {
        std::string id = absl::StrCat("load-", c, "-", i);
        auto receipt = client.Submit(MakeSubmission(id), rc.IngressDomain(),
                                     absl::Seconds(3));
        if (receipt.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          receipts[id] = receipt->accepted_offset();
        }
      }
    });
  }
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  for (int round = 0; round < 6; ++round) {
    std::string victim = absl::StrCat("replica-", 1 + rng() % 3);
    absl::SleepFor(absl::Milliseconds(200 + rng() % 400));
    rc.cluster.Kill(victim);
    absl::SleepFor(absl::Milliseconds(100 + rng() % 300));
    rc.cluster.Start(victim);
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop.store(true);
  for (auto& thread : clients) thread.join();
  ASSERT_GT(receipts.size(), 10u) << "load made no progress";
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  auto digest = rc.cluster.WaitForConvergence(last, absl::Seconds(20));
  EXPECT_TRUE(digest.ok()) << digest.status();
  ExpectReceiptsDurable(rc, receipts);
}

}  // namespace
}  // namespace report::testing
