#include "replica/server/driver.h"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/error_code.h"
#include "gtest/gtest.h"
#include "replica/server/driver_test_support.h"

namespace report {
namespace {

using testing::Eventually;
using testing::MemoryLogSink;
using testing::Router;
using testing::RouterSink;

// What one member applied, in order (a stand-in for the state machine).
class AppliedLog {
 public:
  std::vector<AppliedCommand> Apply(
      const std::vector<consensus::Entry>& entries) {
    std::vector<AppliedCommand> applied;
    std::lock_guard<std::mutex> lock(mu_);
    for (const consensus::Entry& entry : entries) {
      AppliedCommand& command = applied.emplace_back();
      command.index = entry.index();
      command.epoch = entry.epoch();
      command.type = entry.type();
      if (entry.type() == consensus::ENTRY_NORMAL) {
        command.command.ParseFromString(entry.data());
        command.result.set_code(RESULT_OK);
        command.result.mutable_record()->set_request_id(
            command.command.submit().submission().request_id());
        ids_.push_back(command.command.submit().submission().request_id());
      }
    }
    return applied;
  }
  std::vector<std::string> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ids_;
};

Command SubmitOf(const std::string& id) {
  Command command;
  command.mutable_submit()->mutable_submission()->set_request_id(id);
  return command;
}

// N drivers in one process, routed to each other.
class Cluster {
 public:
  explicit Cluster(int size) {
    std::vector<uint64_t> voters;
    for (int i = 1; i <= size; ++i) voters.push_back(i);
    for (uint64_t id : voters) {
      Member& member = members_[id];
      member.applied = std::make_unique<AppliedLog>();
      member.sink = std::make_unique<MemoryLogSink>();
      member.transport = std::make_unique<RouterSink>(&router_);
      DriverOptions options;
      options.config.id = id;
      options.config.voters = voters;
      options.config.election_ticks = 5;
      options.config.heartbeat_ticks = 1;
      options.config.seed = id;
      options.tick_ms = 5;
      for (uint64_t peer : voters) {
        options.addresses[peer] = "127.0.0.1:" + std::to_string(7100 + peer);
      }
      AppliedLog* applied = member.applied.get();
      member.driver = std::make_unique<Driver>(
          options, member.sink->store(), member.sink.get(),
          member.transport.get(),
          [applied](const std::vector<consensus::Entry>& entries) {
            return applied->Apply(entries);
          },
          nullptr);
      router_.Add(id, member.driver.get());
    }
    for (auto& [id, member] : members_) member.driver->Start();
  }
  ~Cluster() {
    for (auto& [id, member] : members_) member.driver->Stop();
  }

  Driver& driver(uint64_t id) { return *members_.at(id).driver; }
  AppliedLog& applied(uint64_t id) { return *members_.at(id).applied; }
  Router& router() { return router_; }

  // The leader once exactly one member says it leads; 0 after the timeout.
  uint64_t WaitForLeader() {
    uint64_t leader = 0;
    Eventually([&] {
      leader = 0;
      for (auto& [id, member] : members_) {
        if (member.driver->CheckLeader().ok()) {
          if (leader != 0) return false;
          leader = id;
        }
      }
      return leader != 0;
    });
    return leader;
  }

 private:
  struct Member {
    std::unique_ptr<AppliedLog> applied;
    std::unique_ptr<MemoryLogSink> sink;
    std::unique_ptr<RouterSink> transport;
    std::unique_ptr<Driver> driver;
  };
  Router router_;
  std::map<uint64_t, Member> members_;
};

TEST(DriverTest, ASingleVoterLeadsAndAnswersItsProposalsWhenApplied) {
  Cluster cluster(1);
  ASSERT_EQ(cluster.WaitForLeader(), 1u);
  auto proposal = cluster.driver(1).ProposeOne(SubmitOf("r1"));
  ASSERT_TRUE(proposal.ok()) << proposal.status();
  auto applied = AwaitProposal(**proposal, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->index, (*proposal)->index);
  EXPECT_EQ(applied->result.record().request_id(), "r1");
  // Cluster time: the command carries a stamp.
  EXPECT_GT(applied->command.timestamp_ms(), 0u);
}

TEST(DriverTest, ABatchIsOneAppendAndEveryMemberAppliesItInOrder) {
  Cluster cluster(3);
  const uint64_t leader = cluster.WaitForLeader();
  ASSERT_NE(leader, 0u);
  auto proposals = cluster.driver(leader).Propose(
      [](const ProposalTracker&, Driver::Batch* batch) {
        for (const char* id : {"a", "b", "c"}) {
          batch->commands.push_back(SubmitOf(id));
          batch->in_flight.emplace_back(id, std::string("fp-") + id);
        }
        return absl::OkStatus();
      });
  ASSERT_TRUE(proposals.ok()) << proposals.status();
  ASSERT_EQ(proposals->size(), 3u);
  EXPECT_EQ((*proposals)[1]->index, (*proposals)[0]->index + 1);
  EXPECT_EQ((*proposals)[2]->index, (*proposals)[0]->index + 2);
  for (const auto& proposal : *proposals) {
    auto applied = AwaitProposal(*proposal, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(applied.ok()) << applied.status();
  }
  const std::vector<std::string> want = {"a", "b", "c"};
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(Eventually([&] { return cluster.applied(id).ids() == want; }))
        << "member " << id;
  }
  // Applied submits left the in-flight map.
  EXPECT_EQ(cluster.driver(leader).in_flight_generation(), 3u);
}

TEST(DriverTest, InFlightSubmitsAreVisibleToTheNextBuilder) {
  Cluster cluster(3);
  const uint64_t leader = cluster.WaitForLeader();
  ASSERT_NE(leader, 0u);
  // With the followers cut off nothing commits, so the entry stays in flight.
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader) cluster.router().CutOff(id, true);
  }
  auto first = cluster.driver(leader).Propose(
      [](const ProposalTracker&, Driver::Batch* batch) {
        batch->commands.push_back(SubmitOf("x"));
        batch->in_flight.emplace_back("x", "fp");
        return absl::OkStatus();
      });
  ASSERT_TRUE(first.ok()) << first.status();
  std::shared_ptr<Proposal> seen;
  auto second = cluster.driver(leader).Propose(
      [&](const ProposalTracker& tracker, Driver::Batch*) {
        seen = tracker.InFlight("x");
        return absl::OkStatus();
      });
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  EXPECT_EQ(seen, first->front());
  EXPECT_EQ(seen->fingerprint, "fp");
  // Stopping answers the unfinished proposal: it may still commit.
  cluster.driver(leader).Stop();
  auto applied = AwaitProposal(*seen, absl::Now() + absl::Seconds(1));
  EXPECT_EQ(ErrorCodeOf(applied.status()), ErrorCode::kCommitUnknown)
      << applied.status();
}

TEST(DriverTest, AFollowerRefusesProposalsNamingTheLeader) {
  Cluster cluster(3);
  const uint64_t leader = cluster.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = leader == 1 ? 2 : 1;
  ASSERT_TRUE(Eventually(
      [&] { return cluster.driver(follower).Status().leader == leader; }));
  auto refused = cluster.driver(follower).ProposeOne(SubmitOf("r"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorCodeOf(refused.status()), ErrorCode::kNotLeader);
  EXPECT_NE(refused.status().message().find(std::to_string(7100 + leader)),
            std::string::npos)
      << refused.status();
}

TEST(DriverTest, ABuilderErrorProposesNothing) {
  Cluster cluster(1);
  ASSERT_EQ(cluster.WaitForLeader(), 1u);
  const uint64_t before = cluster.driver(1).Status().last_index;
  auto refused = cluster.driver(1).Propose(
      [](const ProposalTracker&, Driver::Batch* batch) {
        batch->commands.push_back(SubmitOf("never"));
        return MakeError(ErrorCode::kInvalidArgument, "no");
      });
  EXPECT_EQ(ErrorCodeOf(refused.status()), ErrorCode::kInvalidArgument);
  EXPECT_EQ(cluster.driver(1).Status().last_index, before);
}

TEST(DriverTest, ReadIndexNeedsAQuorumAndCoversWhatWasCommitted) {
  Cluster cluster(3);
  const uint64_t leader = cluster.WaitForLeader();
  ASSERT_NE(leader, 0u);
  auto proposal = cluster.driver(leader).ProposeOne(SubmitOf("r"));
  ASSERT_TRUE(proposal.ok());
  ASSERT_TRUE(AwaitProposal(**proposal, absl::Now() + absl::Seconds(10)).ok());
  auto index = cluster.driver(leader).ReadIndex(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_GE(*index, (*proposal)->index);

  // Cut off from both followers the leader cannot confirm it still leads.
  cluster.router().CutOff(leader, true);
  auto lost =
      cluster.driver(leader).ReadIndex(absl::Now() + absl::Milliseconds(300));
  EXPECT_FALSE(lost.ok());
}

}  // namespace
}  // namespace report
