// Long life with real processes through deploy/cluster.sh: replicas snapshot
// and compact their logs, and a follower that fell behind the leader's first
// index catches up by snapshot transfer (docs/STORAGE.md, "Snapshots and
// compaction").
#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "gtest/gtest.h"
#include "proto/replica_service.grpc.pb.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

constexpr absl::Duration kSubmitTimeout = absl::Seconds(10);

// Small numbers so a test compacts many times: a snapshot every 40 applied
// entries, 5 entries kept behind it.
constexpr char kLongLifeArgs[] =
    "--workers 0 --replica-args '--snapshot-entries 40 --retain-entries 5'";

ReportSubmission MakeSubmission(const std::string& id) {
  ReportSubmission submission;
  submission.set_request_id(id);
  submission.set_account_id("acct-1");
  submission.set_month("2026-04");
  return submission;
}

struct Cluster {
  Cluster() : cluster("single-az", kLongLifeArgs) {}
  LocalCluster cluster;
  std::string Ingress() const {
    return cluster.config().gateways_size() > 0
               ? cluster.config().gateways(0).domain()
               : cluster.config().members(0).domain();
  }
  // Submits `count` requests; records each receipt's offset.
  void Submit(int count, const std::string& prefix,
              std::map<std::string, uint64_t>* receipts) {
    for (int i = 0; i < count; ++i) {
      const std::string id = absl::StrCat(prefix, "-", i);
      auto receipt = cluster.client().Submit(MakeSubmission(id), Ingress(),
                                             kSubmitTimeout);
      ASSERT_TRUE(receipt.ok()) << id << ": " << receipt.status();
      (*receipts)[id] = receipt->accepted_offset();
    }
  }
  absl::StatusOr<ClusterStatusResponse> StatusOf(const std::string& name) {
    auto stub = ReplicaService::NewStub(grpc::CreateChannel(
        cluster.Process(name).grpc_address, cluster.credentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
    ClusterStatusResponse response;
    grpc::Status status =
        stub->ClusterStatus(&context, ClusterStatusRequest(), &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }
  // Every receipt is readable from `name` itself at its offset.
  void ExpectReceiptsOn(const std::string& name,
                        const std::map<std::string, uint64_t>& receipts) {
    auto stub = ReplicaService::NewStub(grpc::CreateChannel(
        cluster.Process(name).grpc_address, cluster.credentials()));
    for (const auto& [id, offset] : receipts) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(5));
      ReadStatusRequest request;
      request.set_request_id(id);
      request.set_min_offset(offset);
      request.set_wait_ms(2000);
      ReadStatusResponse response;
      grpc::Status status = stub->ReadStatus(&context, request, &response);
      ASSERT_TRUE(status.ok())
          << id << " on " << name << ": " << status.error_message();
      EXPECT_EQ(response.record().accepted_offset(), offset) << id;
    }
  }
};

#define ASSERT_UP(c)                                    \
  do {                                                  \
    std::string up_error;                               \
    ASSERT_TRUE((c).cluster.Up(&up_error)) << up_error; \
  } while (0)

// Stops a follower, makes the leader snapshot and compact far past it, and
// returns the follower's name and the last index it held.
void LeaveAFollowerBehind(Cluster& c, std::map<std::string, uint64_t>* receipts,
                          std::string* follower, uint64_t* follower_last) {
  c.Submit(5, "before", receipts);
  auto leader = c.cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  for (const ProcessInfo& p : c.cluster.Processes()) {
    if (p.kind == "replica" && p.name != *leader) {
      *follower = p.name;
      break;
    }
  }
  ASSERT_FALSE(follower->empty());
  auto before = c.StatusOf(*follower);
  ASSERT_TRUE(before.ok()) << before.status();
  c.cluster.Kill(*follower);
  *follower_last = before->last_offset();
  c.Submit(150, "while-down", receipts);
  // The leader compacted past everything the follower holds.
  uint64_t leader_first = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto status = c.StatusOf(*leader);
        if (status.ok()) leader_first = status->first_index();
        return status.ok() && status->first_index() > *follower_last + 1 &&
               status->snapshot_index() > 0;
      },
      absl::Seconds(20)))
      << "the leader never compacted past " << *follower_last
      << " (first index " << leader_first << ")";
}

TEST(SnapshotTest, AFollowerBehindTheLeadersFirstIndexCatchesUpBySnapshot) {
  Cluster c;
  ASSERT_UP(c);
  std::map<std::string, uint64_t> receipts;
  std::string follower;
  uint64_t follower_last = 0;
  LeaveAFollowerBehind(c, &receipts, &follower, &follower_last);
  if (HasFatalFailure()) return;
  c.cluster.Start(follower);
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  auto digest = c.cluster.WaitForConvergence(last, absl::Seconds(30));
  ASSERT_TRUE(digest.ok()) << digest.status();
  // Its log was replaced by the snapshot: it starts after what it held.
  auto status = c.StatusOf(follower);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_GT(status->first_index(), follower_last + 1);
  EXPECT_GT(status->snapshot_index(), follower_last);
  EXPECT_EQ(status->state_digest(), *digest);
  c.ExpectReceiptsOn(follower, receipts);
  // And the log goes on from the snapshot.
  c.Submit(10, "after", &receipts);
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  ASSERT_TRUE(c.cluster.WaitForConvergence(last, absl::Seconds(15)).ok());
}

TEST(SnapshotTest, KillNineDuringSnapshotTransferAndInstallConverges) {
  Cluster c;
  ASSERT_UP(c);
  std::map<std::string, uint64_t> receipts;
  std::string follower;
  uint64_t follower_last = 0;
  LeaveAFollowerBehind(c, &receipts, &follower, &follower_last);
  if (HasFatalFailure()) return;
  // Killed at different moments after it starts: while it connects, stages
  // chunks, installs, or applies after the install.
  for (int delay_ms : {150, 300, 500, 800}) {
    c.cluster.Start(follower);
    absl::SleepFor(
        absl::Milliseconds(delay_ms));  // a moment to be hit, not a wait
    c.cluster.Kill(follower);
  }
  c.cluster.Start(follower);
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  auto digest = c.cluster.WaitForConvergence(last, absl::Seconds(30));
  ASSERT_TRUE(digest.ok()) << digest.status();
  c.ExpectReceiptsOn(follower, receipts);
}

TEST(SnapshotTest, ReplicasRestartFromSnapshotAndLogTail) {
  Cluster c;
  ASSERT_UP(c);
  std::map<std::string, uint64_t> receipts;
  c.Submit(120, "r", &receipts);
  uint64_t last = 0;
  for (const auto& [id, offset] : receipts) last = std::max(last, offset);
  ASSERT_TRUE(c.cluster.WaitForConvergence(last, absl::Seconds(15)).ok());
  // Every replica compacted; kill -9 all of them and restart.
  std::vector<std::string> names;
  for (const ProcessInfo& p : c.cluster.Processes()) {
    if (p.kind != "replica") continue;
    names.push_back(p.name);
    auto status = c.StatusOf(p.name);
    ASSERT_TRUE(status.ok());
    EXPECT_GT(status->first_index(), 1u) << p.name;
  }
  for (const std::string& name : names) c.cluster.Kill(name);
  for (const std::string& name : names) c.cluster.Start(name);
  auto digest = c.cluster.WaitForConvergence(last, absl::Seconds(30));
  ASSERT_TRUE(digest.ok()) << digest.status();
  for (const std::string& name : names) c.ExpectReceiptsOn(name, receipts);
}

}  // namespace
}  // namespace report::testing
