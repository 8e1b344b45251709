// One test per protocol rule. The names, read in order, read as the protocol.
#include "replica/consensus/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "replica/consensus/memory_log_store.h"

namespace report::consensus {
namespace {

Config MakeConfig(uint64_t id, std::vector<uint64_t> voters) {
  Config c;
  c.id = id;
  c.voters = std::move(voters);
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  c.seed = 7;
  return c;
}

Message Msg(MessageType type, uint64_t from, uint64_t to, uint64_t epoch) {
  Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_epoch(epoch);
  return m;
}

Entry MakeEntry(uint64_t index, uint64_t epoch, std::string data = "x") {
  Entry e;
  e.set_index(index);
  e.set_epoch(epoch);
  e.set_data(std::move(data));
  return e;
}

std::vector<Entry> Payloads(std::vector<std::string> data) {
  std::vector<Entry> out;
  for (auto& d : data) {
    Entry e;
    e.set_data(std::move(d));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Message> OfType(const std::vector<Message>& msgs,
                            MessageType type) {
  std::vector<Message> out;
  for (const Message& m : msgs) {
    if (m.type() == type) out.push_back(m);
  }
  return out;
}

// A replica in a unit test: a node over an in-memory durable log, persisting
// synchronously unless told otherwise.
struct TestReplica {
  explicit TestReplica(Config config, std::vector<Entry> durable = {}) {
    store.Append(durable);
    node = std::make_unique<Node>(config, &store);
  }
  // Drains one Ready, persisting it at once. Returns it for inspection.
  Ready Persist() {
    Ready rd = node->TakeReady();
    if (rd.hard_state) hard_state = *rd.hard_state;
    if (!rd.entries.empty()) {
      store.Append(rd.entries);
      node->OnPersisted(rd.entries.back().index(), rd.entries.back().epoch());
    }
    return rd;
  }
  MemoryLogStore store;
  HardState hard_state;
  std::unique_ptr<Node> node;
};

// A whole cluster delivering messages synchronously, with persistence done
// before any after_persist message is sent. Links can be cut.
class TestCluster {
 public:
  explicit TestCluster(int n, bool pre_vote = true, bool check_quorum = true) {
    std::vector<uint64_t> voters;
    for (int i = 1; i <= n; ++i) voters.push_back(i);
    for (uint64_t id : voters) {
      Config c = MakeConfig(id, voters);
      c.pre_vote = pre_vote;
      c.check_quorum = check_quorum;
      c.seed = 100 + id;
      replicas_.emplace(id, std::make_unique<TestReplica>(c));
    }
  }
  Node& node(uint64_t id) { return *replicas_.at(id)->node; }
  const std::vector<Entry>& applied(uint64_t id) { return applied_[id]; }
  void Isolate(uint64_t id) { isolated_.insert(id); }
  void Heal() { isolated_.clear(); }

  // Processes Readys and delivers messages until nothing moves.
  void Settle() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      for (auto& [id, r] : replicas_) {
        while (r->node->HasReady()) {
          moved = true;
          Ready rd = r->Persist();
          for (Entry& e : rd.committed) applied_[id].push_back(e);
          for (Message& m : rd.messages) queue_.push_back(std::move(m));
          for (Message& m : rd.after_persist) queue_.push_back(std::move(m));
        }
      }
      std::vector<Message> batch;
      batch.swap(queue_);
      for (Message& m : batch) {
        moved = true;
        if (isolated_.count(m.from()) || isolated_.count(m.to())) continue;
        replicas_.at(m.to())->node->Step(std::move(m));
      }
      if (!moved) return;
    }
    FAIL() << "cluster did not settle";
  }
  void TickAll(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      for (auto& [id, r] : replicas_) r->node->Tick();
      Settle();
    }
  }
  uint64_t Leader() {
    uint64_t leader = 0;
    for (auto& [id, r] : replicas_) {
      if (r->node->role() == Role::kLeader && !isolated_.count(id)) leader = id;
    }
    return leader;
  }
  uint64_t ElectLeader() {
    for (int i = 0; i < 100 && Leader() == 0; ++i) TickAll(1);
    return Leader();
  }

 private:
  std::map<uint64_t, std::unique_ptr<TestReplica>> replicas_;
  std::map<uint64_t, std::vector<Entry>> applied_;
  std::vector<Message> queue_;
  std::set<uint64_t> isolated_;
};

// Makes `r` (id 1 of {1,2,3}) leader of epoch hs.epoch+1 by feeding it votes
// directly.
void ElectDirectly(TestReplica& r) {
  r.node->Campaign();
  r.Persist();
  if (r.node->role() == Role::kPreCandidate) {
    Message grant = Msg(MSG_PRE_VOTE_RESP, 2, 1, r.node->epoch() + 1);
    r.node->Step(grant);
    r.Persist();
  }
  ASSERT_EQ(r.node->role(), Role::kCandidate);
  r.node->Step(Msg(MSG_VOTE_RESP, 2, 1, r.node->epoch()));
  ASSERT_EQ(r.node->role(), Role::kLeader);
}

// ---------------------------------------------------------------- elections

TEST(ElectionTest, FollowerStartsPreVoteAfterRandomizedElectionTimeout) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  for (int i = 0; i < 9; ++i) r.node->Tick();
  EXPECT_EQ(r.node->role(), Role::kFollower);  // never before election_ticks
  for (int i = 0; i < 11; ++i) r.node->Tick();
  EXPECT_EQ(r.node->role(), Role::kPreCandidate);
  Ready rd = r.Persist();
  EXPECT_EQ(OfType(rd.messages, MSG_PRE_VOTE).size(), 2u);
}

TEST(ElectionTest,
     ElectionTimeoutsDifferAcrossReplicasAndRepeatForTheSameSeed) {
  auto ticks_to_campaign = [](uint64_t id, uint64_t seed) {
    Config c = MakeConfig(id, {1, 2, 3, 4, 5});
    c.seed = seed;
    MemoryLogStore store;
    Node n(c, &store);
    int t = 0;
    while (n.role() == Role::kFollower) {
      n.Tick();
      ++t;
    }
    return t;
  };
  std::set<int> seen;
  for (uint64_t id = 1; id <= 5; ++id) {
    const int t = ticks_to_campaign(id, 42);
    EXPECT_GE(t, 10);
    EXPECT_LT(t, 20);
    EXPECT_EQ(t, ticks_to_campaign(id, 42));
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(ElectionTest, PreVoteDoesNotBumpEpoch) {
  TestReplica candidate(MakeConfig(1, {1, 2, 3}));
  candidate.node->Campaign();
  EXPECT_EQ(candidate.node->role(), Role::kPreCandidate);
  EXPECT_EQ(candidate.node->epoch(), 0u);
  Ready rd = candidate.Persist();
  EXPECT_FALSE(rd.hard_state.has_value());
  auto pre_votes = OfType(rd.messages, MSG_PRE_VOTE);
  ASSERT_EQ(pre_votes.size(), 2u);
  EXPECT_EQ(pre_votes[0].epoch(), 1u);  // the epoch it would campaign in

  TestReplica voter(MakeConfig(2, {1, 2, 3}));
  voter.node->Step(pre_votes[0]);
  EXPECT_EQ(voter.node->epoch(), 0u);
  Ready vr = voter.Persist();
  EXPECT_FALSE(vr.hard_state.has_value());
  auto resp = OfType(vr.messages, MSG_PRE_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject());
}

TEST(ElectionTest, CandidatePersistsVoteBeforeRequestingVotes) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  r.node->Campaign();
  r.Persist();
  r.node->Step(Msg(MSG_PRE_VOTE_RESP, 2, 1, 1));
  EXPECT_EQ(r.node->role(), Role::kCandidate);
  EXPECT_EQ(r.node->epoch(), 1u);
  Ready rd = r.node->TakeReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->epoch(), 1u);
  EXPECT_EQ(rd.hard_state->vote(), 1u);
  EXPECT_TRUE(OfType(rd.messages, MSG_VOTE).empty());
  EXPECT_EQ(OfType(rd.after_persist, MSG_VOTE).size(), 2u);
}

TEST(ElectionTest, VoterPersistsVoteBeforeAnswering) {
  TestReplica voter(MakeConfig(2, {1, 2, 3}));
  voter.node->Step(Msg(MSG_VOTE, 1, 2, 1));
  Ready rd = voter.node->TakeReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote(), 1u);
  EXPECT_EQ(rd.hard_state->epoch(), 1u);
  EXPECT_TRUE(rd.messages.empty());
  auto resp = OfType(rd.after_persist, MSG_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject());
}

TEST(ElectionTest, VoterGrantsAtMostOneVotePerEpoch) {
  TestReplica voter(MakeConfig(2, {1, 2, 3}));
  voter.node->Step(Msg(MSG_VOTE, 1, 2, 1));
  voter.Persist();
  voter.node->Step(Msg(MSG_VOTE, 3, 2, 1));
  Ready rd = voter.Persist();
  auto resp = OfType(rd.after_persist, MSG_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
  // Asking again by the same candidate is answered the same way (a lost
  // response).
  voter.node->Step(Msg(MSG_VOTE, 1, 2, 1));
  resp = OfType(voter.Persist().after_persist, MSG_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject());
}

TEST(ElectionTest, VoterRejectsCandidateWhoseLogIsLessUpToDate) {
  TestReplica voter(MakeConfig(2, {1, 2, 3}),
                    {MakeEntry(1, 1), MakeEntry(2, 2)});
  Message vote = Msg(MSG_VOTE, 1, 2, 3);
  vote.set_index(5);
  vote.set_log_epoch(1);  // longer log, but an older last epoch
  voter.node->Step(vote);
  auto resp = OfType(voter.Persist().after_persist, MSG_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
  EXPECT_EQ(voter.node->epoch(), 3u);  // the epoch is still adopted
}

TEST(ElectionTest, CandidateWinsWithQuorumAndAppendsBarrierInItsEpoch) {
  TestReplica r(MakeConfig(1, {1, 2, 3}), {MakeEntry(1, 1)});
  ElectDirectly(r);
  EXPECT_EQ(r.node->epoch(), 1u);
  Ready rd = r.Persist();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].type(), ENTRY_BARRIER);
  EXPECT_EQ(rd.entries[0].index(), 2u);
  EXPECT_EQ(rd.entries[0].epoch(), 1u);
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, Role::kLeader);
}

TEST(ElectionTest, CandidateLosesWhenAQuorumRejects) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  r.node->Campaign();
  Message reject = Msg(MSG_PRE_VOTE_RESP, 2, 1, 0);
  reject.set_reject(true);
  r.node->Step(reject);
  Message reject3 = reject;
  reject3.set_from(3);
  r.node->Step(reject3);
  EXPECT_EQ(r.node->role(), Role::kFollower);
  EXPECT_EQ(r.node->epoch(), 0u);
}

TEST(ElectionTest, SingleVoterBecomesLeaderAtOnce) {
  TestReplica r(MakeConfig(1, {1}));
  r.node->Campaign();
  EXPECT_EQ(r.node->role(), Role::kLeader);
}

TEST(ElectionTest, ClusterElectsExactlyOneLeader) {
  TestCluster c(5);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  int leaders = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    leaders += c.node(id).role() == Role::kLeader;
    EXPECT_EQ(c.node(id).leader(), leader);
  }
  EXPECT_EQ(leaders, 1);
}

// ------------------------------------------------------------- epoch fencing

TEST(FencingTest, HigherEpochMessageMakesLeaderFollower) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  r.Persist();
  r.node->Step(Msg(MSG_HEARTBEAT, 2, 1, 5));
  EXPECT_EQ(r.node->role(), Role::kFollower);
  EXPECT_EQ(r.node->epoch(), 5u);
  EXPECT_EQ(r.node->leader(), 2u);
}

TEST(FencingTest, FollowerAnswersLowerEpochAppendAtItsOwnEpoch) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->Step(Msg(MSG_HEARTBEAT, 3, 2, 4));
  r.Persist();
  Message stale = Msg(MSG_APPEND, 1, 2, 2);
  *stale.add_entries() = MakeEntry(1, 2);
  r.node->Step(stale);
  Ready rd = r.Persist();
  EXPECT_TRUE(rd.entries.empty());
  auto resp = OfType(rd.after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].epoch(), 4u);
  EXPECT_EQ(r.node->last_index(), 0u);
}

TEST(FencingTest, OldLeaderStepsDownOnResponseFromHigherEpoch) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  r.Persist();
  r.node->Step(Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch() + 1));
  EXPECT_EQ(r.node->role(), Role::kFollower);
}

TEST(FencingTest, NewEpochIsPersistedBeforeAnyReplyAtIt) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->Step(Msg(MSG_HEARTBEAT, 1, 2, 3));
  Ready rd = r.node->TakeReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->epoch(), 3u);
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(OfType(rd.after_persist, MSG_HEARTBEAT_RESP).size(), 1u);
}

TEST(FencingTest, MessagesFromNonMembersAreIgnored) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->Step(Msg(MSG_HEARTBEAT, 9, 2, 3));
  EXPECT_EQ(r.node->epoch(), 0u);
  EXPECT_FALSE(r.node->HasReady());
}

// ------------------------------------------------------------------ the log

TEST(ReplicationTest, FollowerRejectsAppendWhosePrevEpochDoesNotMatch) {
  TestReplica r(MakeConfig(2, {1, 2, 3}),
                {MakeEntry(1, 1), MakeEntry(2, 1), MakeEntry(3, 1)});
  Message app = Msg(MSG_APPEND, 1, 2, 3);
  app.set_index(3);
  app.set_log_epoch(2);
  *app.add_entries() = MakeEntry(4, 3);
  r.node->Step(app);
  Ready rd = r.Persist();
  EXPECT_TRUE(rd.entries.empty());
  auto resp = OfType(rd.after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
  EXPECT_EQ(resp[0].index(), 3u);
  // Hint: the last index whose epoch is <= the leader's prev epoch, and its
  // epoch.
  EXPECT_EQ(resp[0].reject_hint(), 3u);
  EXPECT_EQ(resp[0].hint_epoch(), 1u);
}

TEST(ReplicationTest, FollowerRejectsAppendBeyondItsLogWithItsLastIndexAsHint) {
  TestReplica r(MakeConfig(2, {1, 2, 3}), {MakeEntry(1, 1)});
  Message app = Msg(MSG_APPEND, 1, 2, 2);
  app.set_index(7);
  app.set_log_epoch(2);
  r.node->Step(app);
  auto resp = OfType(r.Persist().after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
  EXPECT_EQ(resp[0].reject_hint(), 1u);
}

TEST(ReplicationTest, FollowerTruncatesConflictingSuffixFromTheConflictIndex) {
  TestReplica r(
      MakeConfig(2, {1, 2, 3}),
      {MakeEntry(1, 1), MakeEntry(2, 1, "old"), MakeEntry(3, 1, "old")});
  Message app = Msg(MSG_APPEND, 1, 2, 2);
  app.set_index(1);
  app.set_log_epoch(1);
  *app.add_entries() = MakeEntry(2, 2, "new");
  r.node->Step(app);
  EXPECT_EQ(r.node->last_index(), 2u);
  EXPECT_EQ(r.node->last_persisted_index(), 1u);
  Ready rd = r.node->TakeReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].index(), 2u);
  EXPECT_EQ(rd.entries[0].data(), "new");
}

TEST(ReplicationTest, FollowerSkipsEntriesItAlreadyHas) {
  TestReplica r(MakeConfig(2, {1, 2, 3}), {MakeEntry(1, 1), MakeEntry(2, 1)});
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  *app.add_entries() = MakeEntry(1, 1);
  *app.add_entries() = MakeEntry(2, 1);
  r.node->Step(app);
  Ready rd = r.Persist();
  EXPECT_TRUE(rd.entries.empty());
  auto resp = OfType(rd.after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].index(), 2u);
}

TEST(ReplicationTest, FollowerAcknowledgesAppendOnlyAfterPersist) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  *app.add_entries() = MakeEntry(1, 1);
  r.node->Step(app);
  r.Persist();
  r.node->Step(Msg(MSG_HEARTBEAT, 1, 2, 1));  // keeps epoch stable
  r.Persist();
  Message app2 = Msg(MSG_APPEND, 1, 2, 1);
  app2.set_index(1);
  app2.set_log_epoch(1);
  *app2.add_entries() = MakeEntry(2, 1);
  r.node->Step(app2);
  Ready rd = r.node->TakeReady();
  EXPECT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(OfType(rd.messages, MSG_APPEND_RESP).empty());
  EXPECT_EQ(OfType(rd.after_persist, MSG_APPEND_RESP).size(), 1u);
}

TEST(ReplicationTest, FollowerCommitIsCappedAtTheLastEntryItGotFromTheLeader) {
  TestReplica r(MakeConfig(2, {1, 2, 3}),
                {MakeEntry(1, 1), MakeEntry(2, 1, "stale")});
  Message app = Msg(MSG_APPEND, 1, 2, 2);
  *app.add_entries() = MakeEntry(1, 1);
  app.set_commit(9);
  r.node->Step(app);
  EXPECT_EQ(r.node->commit_index(), 1u);
}

TEST(ReplicationTest, ProposeOnFollowerReturnsNothing) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  EXPECT_FALSE(r.node->Propose(Payloads({"a"})).has_value());
}

TEST(ReplicationTest, ProposeReturnsIndexAndEpochOfEachEntry) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  auto pos = r.node->Propose(Payloads({"a", "b"}));
  ASSERT_TRUE(pos.has_value());
  ASSERT_EQ(pos->size(), 2u);
  EXPECT_EQ((*pos)[0].index, 2u);  // after the barrier
  EXPECT_EQ((*pos)[1].index, 3u);
  EXPECT_EQ((*pos)[1].epoch, r.node->epoch());
}

TEST(ReplicationTest, LeaderSendsAppendsBeforeItsOwnPersistence) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  Ready rd = r.node->TakeReady();
  EXPECT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(OfType(rd.messages, MSG_APPEND).size(), 2u);
}

// Leader of {1,2,3} in epoch 1 whose followers are in replicate state at
// `match`.
void MakeReplicating(TestReplica& r) {
  ElectDirectly(r);
  r.Persist();
  for (uint64_t f : {2, 3}) {
    Message ack = Msg(MSG_APPEND_RESP, f, 1, r.node->epoch());
    ack.set_index(1);
    r.node->Step(ack);
  }
  r.Persist();
}

TEST(ReplicationTest, LeaderPipelinesUpToMaxInflightAppendsPerFollower) {
  Config c = MakeConfig(1, {1, 2, 3});
  c.max_inflight_messages = 3;
  TestReplica r(c);
  MakeReplicating(r);
  int appends_to_2 = 0;
  for (int i = 0; i < 5; ++i) {
    r.node->Propose(Payloads({"p"}));
    for (const Message& m : r.Persist().messages) {
      appends_to_2 +=
          m.type() == MSG_APPEND && m.to() == 2 && m.entries_size() > 0;
    }
  }
  EXPECT_EQ(appends_to_2, 3);
  // An acknowledgement frees slots and the rest goes out.
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  ack.set_index(4);
  r.node->Step(ack);
  int more = 0;
  for (const Message& m : r.Persist().messages) {
    if (m.type() == MSG_APPEND && m.to() == 2) more += m.entries_size();
  }
  EXPECT_EQ(more, 2);
}

TEST(ReplicationTest, LeaderBatchesAtMostMaxEntriesPerMessage) {
  Config c = MakeConfig(1, {1, 2, 3});
  c.max_entries_per_message = 2;
  TestReplica r(c, {MakeEntry(1, 1), MakeEntry(2, 1), MakeEntry(3, 1),
                    MakeEntry(4, 1), MakeEntry(5, 1)});
  ElectDirectly(r);
  r.Persist();
  // Probe from the start: follower 2 says its log is empty.
  Message reject = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  reject.set_reject(true);
  reject.set_index(5);
  reject.set_reject_hint(0);
  r.node->Step(reject);
  auto apps = OfType(r.Persist().messages, MSG_APPEND);
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].index(), 0u);
  EXPECT_EQ(apps[0].entries_size(), 2);
}

TEST(ReplicationTest, LeaderBacksOffToTheFollowersHintInOneStep) {
  std::vector<Entry> log;
  for (uint64_t i = 1; i <= 50; ++i) log.push_back(MakeEntry(i, 1));
  TestReplica r(MakeConfig(1, {1, 2, 3}), log);
  ElectDirectly(r);
  r.Persist();
  Message reject = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  reject.set_reject(true);
  reject.set_index(50);
  reject.set_reject_hint(10);  // the follower has only 10 entries
  reject.set_hint_epoch(1);
  r.node->Step(reject);
  auto apps = OfType(r.Persist().messages, MSG_APPEND);
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].to(), 2u);
  EXPECT_EQ(apps[0].index(), 10u);
}

TEST(ReplicationTest, LeaderSkipsAWholeConflictingEpochUsingHintEpoch) {
  // Leader: 1..10 in epoch 1, 11..20 in epoch 3. Follower: ..., 11..30 in
  // epoch 2.
  std::vector<Entry> log;
  for (uint64_t i = 1; i <= 10; ++i) log.push_back(MakeEntry(i, 1));
  for (uint64_t i = 11; i <= 20; ++i) log.push_back(MakeEntry(i, 3));
  Config c = MakeConfig(1, {1, 2, 3});
  c.hard_state.set_epoch(3);
  TestReplica r(c, log);
  ElectDirectly(r);
  r.Persist();
  Message reject = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  reject.set_reject(true);
  reject.set_index(20);
  reject.set_reject_hint(20);
  reject.set_hint_epoch(2);
  r.node->Step(reject);
  auto apps = OfType(r.Persist().messages, MSG_APPEND);
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].index(),
            10u);  // the last index of epoch <= 2 in the leader's log
}

TEST(ReplicationTest, StaleRejectionIsIgnored) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  MakeReplicating(r);
  r.node->Propose(Payloads({"a"}));
  r.Persist();
  Message reject = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  reject.set_reject(true);
  reject.set_index(1);  // at or below match: a delayed duplicate
  r.node->Step(reject);
  auto progress = r.node->progress();
  for (const Progress& p : progress) {
    if (p.id == 2) {
      EXPECT_TRUE(p.replicating);
    }
  }
}

// A follower whose disk lost a tail it had acknowledged rejects the probe at
// its old match. The leader stops counting those entries and refills it from
// its hint, instead of probing at the old match forever.
TEST(ReplicationTest, FollowerThatLostAcknowledgedEntriesIsRefilledNotCounted) {
  std::vector<Entry> log;
  for (uint64_t i = 1; i <= 20; ++i) log.push_back(MakeEntry(i, 1));
  Config c = MakeConfig(1, {1, 2, 3});
  c.hard_state.set_epoch(1);
  TestReplica r(c, log);
  ElectDirectly(r);  // barrier at 21 in epoch 2
  r.Persist();
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  ack.set_index(21);
  r.node->Step(ack);
  r.node->Propose(Payloads({"a"}));  // 22, in flight to 2
  r.Persist();
  // Follower 2 restarts holding only 1..10 and never acknowledges 22; its
  // heartbeat answers show the pipeline stalled, so the leader probes at its
  // match (prev 21), which the follower rejects.
  std::vector<Message> probes;
  for (int i = 0; i < c.election_ticks && probes.empty(); ++i) {
    r.node->Step(Msg(MSG_HEARTBEAT_RESP, 2, 1, r.node->epoch()));
    for (const Message& m : OfType(r.Persist().messages, MSG_APPEND)) {
      if (m.to() == 2) probes.push_back(m);
    }
  }
  ASSERT_EQ(probes.size(), 1u);
  ASSERT_EQ(probes[0].index(), 21u);
  Message reject = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  reject.set_reject(true);
  reject.set_index(21);
  reject.set_reject_hint(10);
  reject.set_hint_epoch(1);
  r.node->Step(reject);
  auto apps = OfType(r.Persist().messages, MSG_APPEND);
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].index(), 10u) << "refilled from the follower's hint";
  for (const Progress& p : r.node->progress()) {
    if (p.id == 2) {
      EXPECT_EQ(p.match, 10u) << "entries the follower lost are not counted";
    }
  }
}

// ------------------------------------------------------------------- commit

TEST(CommitTest, LeaderCommitsOnlyEntriesOfItsOwnEpochByCounting) {
  Config c = MakeConfig(1, {1, 2, 3});
  c.hard_state.set_epoch(2);
  TestReplica r(c, {MakeEntry(1, 1), MakeEntry(2, 2)});
  ElectDirectly(r);  // epoch 3, barrier at index 3
  r.Persist();
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, 3);
  ack.set_index(2);  // replicated the old-epoch entry only
  r.node->Step(ack);
  ack.set_from(3);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 0u);
  ack.set_index(3);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 3u);
}

TEST(CommitTest, CommitAdvanceReachesFollowersInAppendsThatNeedNoAnswer) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  r.Persist();  // the barrier at index 1, sent to both followers
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  r.node->Step(ack);  // follower 2 now replicating; 3 not yet heard from
  ASSERT_EQ(r.node->commit_index(), 1u);
  Ready rd = r.node->TakeReady();
  std::map<uint64_t, Message> sent;
  for (const Message& m : OfType(rd.messages, MSG_APPEND)) sent[m.to()] = m;
  ASSERT_EQ(sent.count(2), 1u);
  EXPECT_EQ(sent[2].entries_size(), 0);
  EXPECT_EQ(sent[2].commit(), 1u);
  EXPECT_TRUE(sent[2].commit_only());
  // A follower still being probed (3) must answer: it gets no commit-only
  // append.
  EXPECT_TRUE(sent.count(3) == 0 || !sent[3].commit_only());
}

TEST(CommitTest,
     FollowerTakesACommitOnlyAppendWithoutAnsweringButAnswersARejection) {
  TestReplica r(MakeConfig(2, {1, 2, 3}), {MakeEntry(1, 1), MakeEntry(2, 1)});
  Message commit = Msg(MSG_APPEND, 1, 2, 1);
  commit.set_index(2);
  commit.set_log_epoch(1);
  commit.set_commit(2);
  commit.set_commit_only(true);
  r.node->Step(commit);
  EXPECT_EQ(r.node->commit_index(), 2u);
  Ready rd = r.Persist();
  EXPECT_TRUE(OfType(rd.after_persist, MSG_APPEND_RESP).empty());
  EXPECT_TRUE(OfType(rd.messages, MSG_APPEND_RESP).empty());
  ASSERT_EQ(rd.committed.size(), 2u);

  Message beyond = commit;
  beyond.set_index(5);  // entries this follower lacks: the leader must learn
  beyond.set_commit(5);
  r.node->Step(beyond);
  auto resp = OfType(r.Persist().after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
}

TEST(CommitTest, LeaderOwnPersistCountsOnlyAfterOnPersisted) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  Ready rd = r.node->TakeReady();  // not persisted yet
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 0u);
  r.store.Append(rd.entries);
  r.node->OnPersisted(1, 1);
  EXPECT_EQ(r.node->commit_index(), 1u);
}

TEST(CommitTest, QuorumOfFollowersCommitsWhileTheLeaderIsStillPersisting) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  Ready rd = r.node->TakeReady();
  for (uint64_t f : {2, 3}) {
    Message ack = Msg(MSG_APPEND_RESP, f, 1, 1);
    ack.set_index(1);
    r.node->Step(ack);
  }
  EXPECT_EQ(r.node->commit_index(), 1u);
  // ...but nothing is handed out to apply before it is durable here.
  EXPECT_TRUE(r.node->TakeReady().committed.empty());
  r.store.Append(rd.entries);
  r.node->OnPersisted(1, 1);
  Ready after = r.node->TakeReady();
  ASSERT_EQ(after.committed.size(), 1u);
  EXPECT_EQ(after.committed[0].index(), 1u);
}

TEST(CommitTest, LeaderAppliesNothingThatIsOnlyDurableLocally) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  Ready rd = r.Persist();  // durable here, acknowledged by nobody
  EXPECT_TRUE(rd.committed.empty());
  EXPECT_EQ(r.node->commit_index(), 0u);
  EXPECT_TRUE(r.node->TakeReady().committed.empty());
}

TEST(CommitTest, FollowerAppliesOnlyUpToTheLeadersCommitIndex) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  *app.add_entries() = MakeEntry(1, 1);
  *app.add_entries() = MakeEntry(2, 1);
  app.set_commit(1);
  r.node->Step(app);
  Ready first = r.Persist();
  Ready rd = r.Persist();
  first.committed.insert(first.committed.end(), rd.committed.begin(),
                         rd.committed.end());
  ASSERT_EQ(first.committed.size(), 1u);
  EXPECT_EQ(first.committed[0].index(), 1u);
}

TEST(CommitTest, CommittedEntriesAreHandedOutOnceAndInOrder) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  for (int i = 0; i < 5; ++i) {
    c.node(leader).Propose(Payloads({"e" + std::to_string(i)}));
    c.TickAll(1);
  }
  c.TickAll(3);
  for (uint64_t id = 1; id <= 3; ++id) {
    const auto& applied = c.applied(id);
    ASSERT_EQ(applied.size(), 6u) << "node " << id;
    for (size_t i = 0; i < applied.size(); ++i)
      EXPECT_EQ(applied[i].index(), i + 1);
  }
}

TEST(CommitTest, HeartbeatCommitIsCappedAtTheFollowersMatch) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  MakeReplicating(r);
  r.node->Propose(Payloads({"a"}));
  r.Persist();
  Message ack = Msg(MSG_APPEND_RESP, 3, 1, 1);
  ack.set_index(2);
  r.node->Step(ack);
  ASSERT_EQ(r.node->commit_index(), 2u);
  r.Persist();
  r.node->Tick();
  for (const Message& m : OfType(r.Persist().messages, MSG_HEARTBEAT)) {
    EXPECT_EQ(m.commit(), m.to() == 2 ? 1u : 2u);
  }
}

// ------------------------------------------------------------------ restart

TEST(RestartTest, RestartedNodeResumesCommittedEntriesAfterApplied) {
  Config c = MakeConfig(2, {1, 2, 3});
  c.hard_state.set_epoch(1);
  c.hard_state.set_vote(1);
  c.hard_state.set_commit(4);
  c.applied = 2;
  TestReplica r(c, {MakeEntry(1, 1), MakeEntry(2, 1), MakeEntry(3, 1),
                    MakeEntry(4, 1), MakeEntry(5, 1)});
  EXPECT_EQ(r.node->epoch(), 1u);
  EXPECT_EQ(r.node->commit_index(), 4u);
  Ready rd = r.node->TakeReady();
  ASSERT_EQ(rd.committed.size(), 2u);
  EXPECT_EQ(rd.committed[0].index(), 3u);
  EXPECT_EQ(rd.committed[1].index(), 4u);
  EXPECT_FALSE(rd.hard_state.has_value());
}

TEST(RestartTest, RestartedNodeKeepsItsVote) {
  Config c = MakeConfig(2, {1, 2, 3});
  c.hard_state.set_epoch(4);
  c.hard_state.set_vote(1);
  TestReplica r(c);
  r.node->Step(Msg(MSG_VOTE, 3, 2, 4));
  auto resp = OfType(r.Persist().after_persist, MSG_VOTE_RESP);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject());
}

TEST(RestartTest, DurableCommitIndexNeverPointsPastLocallyPersistedEntries) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  *app.add_entries() = MakeEntry(1, 1);
  *app.add_entries() = MakeEntry(2, 1);
  app.set_commit(2);
  r.node->Step(app);
  EXPECT_EQ(r.node->commit_index(), 2u);
  Ready rd = r.node->TakeReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit(), 0u);
  EXPECT_TRUE(rd.committed.empty());
  r.store.Append(rd.entries);
  r.node->OnPersisted(2, 1);
  Ready after = r.node->TakeReady();
  ASSERT_TRUE(after.hard_state.has_value());
  EXPECT_EQ(after.hard_state->commit(), 2u);
  EXPECT_EQ(after.committed.size(), 2u);
}

// ------------------------------------------------- check-quorum, stickiness

TEST(CheckQuorumTest, PartitionedLeaderStepsDownWithCheckQuorum) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  c.Isolate(leader);
  c.TickAll(21);
  EXPECT_NE(c.node(leader).role(), Role::kLeader);
}

TEST(CheckQuorumTest, FollowerThatHearsFromALeaderIgnoresHigherEpochVotes) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->Step(Msg(MSG_HEARTBEAT, 1, 2, 1));
  r.Persist();
  r.node->Step(Msg(MSG_VOTE, 3, 2, 2));
  EXPECT_EQ(r.node->epoch(), 1u);
  Ready rd = r.Persist();
  EXPECT_TRUE(OfType(rd.after_persist, MSG_VOTE_RESP).empty());
  EXPECT_TRUE(OfType(rd.messages, MSG_VOTE_RESP).empty());
}

TEST(CheckQuorumTest, RejoiningReplicaDoesNotDisruptHealthyLeader) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t epoch = c.node(leader).epoch();
  const uint64_t other = leader == 3 ? 2 : 3;
  c.Isolate(other);
  c.TickAll(100);  // it keeps campaigning on its own
  c.Heal();
  c.TickAll(30);
  EXPECT_EQ(c.node(leader).role(), Role::kLeader);
  EXPECT_EQ(c.node(leader).epoch(), epoch);
  EXPECT_EQ(c.node(other).leader(), leader);
}

TEST(CheckQuorumTest, RejoiningReplicaWithoutPreVoteIsStillFencedByStickiness) {
  TestCluster c(3, /*pre_vote=*/false, /*check_quorum=*/true);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t epoch = c.node(leader).epoch();
  const uint64_t other = leader == 3 ? 2 : 3;
  c.Isolate(other);
  c.TickAll(60);
  EXPECT_GT(c.node(other).epoch(), epoch);  // it bumped its epoch alone
  c.Heal();
  c.TickAll(3);
  // Its votes are ignored, but the leader itself learns of the higher epoch
  // from its responses and steps down; a new leader emerges among the
  // up-to-date replicas.
  c.TickAll(60);
  const uint64_t now = c.Leader();
  ASSERT_NE(now, 0u);
  EXPECT_NE(now, other);
}

// ------------------------------------------------------------------ reads

TEST(ReadIndexTest, ReadIndexRequiresQuorumConfirmation) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  MakeReplicating(r);
  ASSERT_TRUE(r.node->committed_in_current_epoch());
  r.node->ReadIndex("ctx");
  Ready rd = r.Persist();
  EXPECT_TRUE(rd.read_states.empty());
  auto hbs = OfType(rd.messages, MSG_HEARTBEAT);
  ASSERT_EQ(hbs.size(), 2u);
  Message resp = Msg(MSG_HEARTBEAT_RESP, hbs[0].to(), 1, 1);
  resp.set_context(hbs[0].context());
  r.node->Step(resp);
  rd = r.Persist();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].context, "ctx");
  EXPECT_EQ(rd.read_states[0].index, 1u);
}

TEST(ReadIndexTest, HeartbeatResponseToAnOlderRoundDoesNotConfirmANewerRead) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  MakeReplicating(r);
  r.node->ReadIndex("a");
  auto first = OfType(r.Persist().messages, MSG_HEARTBEAT);
  r.node->ReadIndex("b");
  r.Persist();
  Message resp = Msg(MSG_HEARTBEAT_RESP, 2, 1, 1);
  resp.set_context(first[0].context());
  r.node->Step(resp);
  Ready rd = r.Persist();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].context, "a");
}

TEST(ReadIndexTest, SingleNodeClusterAnswersAtOnce) {
  TestReplica r(MakeConfig(1, {1}));
  r.node->Campaign();
  r.Persist();
  ASSERT_TRUE(r.node->committed_in_current_epoch());
  r.node->ReadIndex("ctx");
  Ready rd = r.Persist();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].index, 1u);
}

TEST(ReadIndexTest, FollowerDropsReads) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->ReadIndex("ctx");
  Ready rd = r.Persist();
  ASSERT_EQ(rd.dropped_reads.size(), 1u);
  EXPECT_EQ(rd.dropped_reads[0], "ctx");
}

TEST(ReadIndexTest, LeaderDropsReadsUntilItCommitsInItsEpoch) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);
  r.Persist();
  EXPECT_FALSE(r.node->committed_in_current_epoch());
  r.node->ReadIndex("ctx");
  EXPECT_EQ(r.Persist().dropped_reads.size(), 1u);
}

TEST(ReadIndexTest, PendingReadsAreDroppedWhenLeaderStepsDown) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  MakeReplicating(r);
  r.node->ReadIndex("ctx");
  r.Persist();
  r.node->Step(Msg(MSG_HEARTBEAT, 2, 1, 9));
  Ready rd = r.Persist();
  ASSERT_EQ(rd.dropped_reads.size(), 1u);
}

// ------------------------------------------------------------ commit quorum

// Makes node 1 of {1..5} leader with the votes of 2 and 3: a majority.
void ElectWithMajorityOfFive(TestReplica& r) {
  r.node->Campaign();
  r.Persist();
  for (uint64_t from : {2, 3}) {
    r.node->Step(Msg(MSG_PRE_VOTE_RESP, from, 1, r.node->epoch() + 1));
  }
  r.Persist();
  ASSERT_EQ(r.node->role(), Role::kCandidate);
  for (uint64_t from : {2, 3}) {
    r.node->Step(Msg(MSG_VOTE_RESP, from, 1, r.node->epoch()));
  }
  ASSERT_EQ(r.node->role(), Role::kLeader);
  r.Persist();  // the barrier at index 1, durable on the leader
}

TEST(CommitQuorumTest, ElectionsNeedOnlyAMajorityWhenTheCommitQuorumIsLarger) {
  Config c = MakeConfig(1, {1, 2, 3, 4, 5});
  c.commit_quorum = 4;
  TestReplica r(c);
  ElectWithMajorityOfFive(r);
  EXPECT_EQ(r.node->commit_quorum(), 4u);
}

TEST(CommitQuorumTest, EntriesCommitOnlyOnceDurableOnTheCommitQuorum) {
  Config c = MakeConfig(1, {1, 2, 3, 4, 5});
  c.commit_quorum = 4;
  TestReplica r(c);
  ElectWithMajorityOfFive(r);
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  ack.set_index(1);
  r.node->Step(ack);
  ack.set_from(3);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 0u) << "a majority is not 4 of 5";
  ack.set_from(4);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 1u);
}

TEST(CommitQuorumTest, ACommitQuorumBelowAMajorityMeansAMajority) {
  Config c = MakeConfig(1, {1, 2, 3, 4, 5});
  MemoryLogStore store;
  c.commit_quorum = 1;
  EXPECT_EQ(Node(c, &store).commit_quorum(), 3u);
  c.commit_quorum = 9;
  EXPECT_EQ(Node(c, &store).commit_quorum(), 5u);
}

// ------------------------------------------------------------ malformed input

// A follower holding entries 1..3 of epoch 1, all committed.
std::unique_ptr<TestReplica> CommittedFollower() {
  auto r = std::make_unique<TestReplica>(MakeConfig(2, {1, 2, 3}));
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  for (uint64_t i = 1; i <= 3; ++i) *app.add_entries() = MakeEntry(i, 1);
  app.set_commit(3);
  r->node->Step(app);
  r->Persist();
  r->Persist();  // the commit index, durable once the entries are
  return r;
}

// A committed entry is never rewritten. An append reaching below the commit
// index is answered with what the follower holds committed; one whose entries
// do not follow its previous index (so could land on a committed entry) is
// dropped as malformed. Before, that second one aborted the process.
TEST(MalformedInputTest, AppendConflictingWithACommittedEntryIsDropped) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  ASSERT_EQ(r.node->commit_index(), 3u);
  Message below = Msg(MSG_APPEND, 1, 2, 2);
  below.set_index(1);
  below.set_log_epoch(1);
  *below.add_entries() = MakeEntry(2, 2, "rewrite");
  r.node->Step(below);
  Ready rd = r.Persist();
  // At a new epoch: answered once the epoch is durable.
  auto answers = OfType(rd.after_persist, MSG_APPEND_RESP);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].index(), 3u);
  EXPECT_FALSE(answers[0].reject());

  Message overlapping = Msg(MSG_APPEND, 1, 2, 2);
  overlapping.set_index(3);
  overlapping.set_log_epoch(1);
  *overlapping.add_entries() = MakeEntry(2, 2, "rewrite");
  r.node->Step(overlapping);
  rd = r.Persist();
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_TRUE(OfType(rd.after_persist, MSG_APPEND_RESP).empty());
  EXPECT_EQ(r.node->last_index(), 3u);
  EXPECT_EQ(r.store.EpochAt(2), 1u);
  EXPECT_EQ(r.node->malformed_messages(), 1u);
}

TEST(MalformedInputTest, AppendWithAGapInItsEntriesIsDropped) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  app.set_index(3);
  app.set_log_epoch(1);
  *app.add_entries() = MakeEntry(9, 1);  // should be 4
  r.node->Step(app);
  EXPECT_TRUE(r.Persist().entries.empty());
  EXPECT_EQ(r.node->last_index(), 3u);
  EXPECT_EQ(r.node->malformed_messages(), 1u);
}

TEST(MalformedInputTest, AppendWithEntriesOutOfEpochOrderIsDropped) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  Message app = Msg(MSG_APPEND, 1, 2, 2);
  app.set_index(3);
  app.set_log_epoch(1);
  *app.add_entries() = MakeEntry(4, 2);
  *app.add_entries() = MakeEntry(5, 1);  // epochs never decrease
  r.node->Step(app);
  Message above = Msg(MSG_APPEND, 1, 2, 2);
  above.set_index(3);
  above.set_log_epoch(1);
  *above.add_entries() = MakeEntry(4, 7);  // above the sender's epoch
  r.node->Step(above);
  EXPECT_TRUE(r.Persist().entries.empty());
  EXPECT_EQ(r.node->last_index(), 3u);
  EXPECT_EQ(r.node->malformed_messages(), 2u);
}

TEST(MalformedInputTest, AppendNearTheIndexLimitIsDropped) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  app.set_index(UINT64_MAX);
  *app.add_entries() = MakeEntry(0, 1);  // index + 1 wraps to 0
  r.node->Step(app);
  EXPECT_TRUE(r.Persist().entries.empty());
  EXPECT_EQ(r.node->malformed_messages(), 1u);
}

TEST(MalformedInputTest, EpochBeyondTheLimitNeverReachesTheHardState) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  for (MessageType type :
       {MSG_HEARTBEAT, MSG_APPEND, MSG_VOTE, MSG_PRE_VOTE, MSG_APPEND_RESP}) {
    r.node->Step(Msg(type, 1, 2, UINT64_MAX));
  }
  Ready rd = r.Persist();
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_EQ(r.node->epoch(), 1u);
  EXPECT_EQ(r.node->malformed_messages(), 5u);
}

TEST(MalformedInputTest, AnEpochAtTheLimitIsNeverRaisedSoItCannotWrap) {
  Config c = MakeConfig(1, {1, 2, 3});
  c.hard_state.set_epoch(kMaxEpoch);
  TestReplica r(c);
  r.node->Campaign();
  for (int i = 0; i < 100; ++i) r.node->Tick();
  r.Persist();
  EXPECT_EQ(r.node->epoch(), kMaxEpoch);
  EXPECT_EQ(r.node->role(), Role::kFollower);
}

TEST(MalformedInputTest, LeaderIgnoresAcknowledgementsPastItsLog) {
  TestReplica r(MakeConfig(1, {1, 2, 3}));
  ElectDirectly(r);  // barrier at index 1, not yet persisted anywhere
  r.node->TakeReady();
  Message ack = Msg(MSG_APPEND_RESP, 2, 1, r.node->epoch());
  ack.set_index(1000);
  r.node->Step(ack);
  ack.set_from(3);
  r.node->Step(ack);
  EXPECT_EQ(r.node->commit_index(), 0u);
  EXPECT_EQ(r.node->malformed_messages(), 2u);
}

TEST(MalformedInputTest, UnknownMessageAndEntryTypesAreDropped) {
  std::unique_ptr<TestReplica> follower = CommittedFollower();
  TestReplica& r = *follower;
  Message unknown = Msg(static_cast<MessageType>(77), 1, 2, 1);
  r.node->Step(unknown);
  Message app = Msg(MSG_APPEND, 1, 2, 1);
  app.set_index(3);
  app.set_log_epoch(1);
  Entry odd = MakeEntry(4, 1);
  odd.set_type(static_cast<EntryType>(9));
  *app.add_entries() = odd;
  r.node->Step(app);
  EXPECT_TRUE(r.Persist().entries.empty());
  EXPECT_EQ(r.node->malformed_messages(), 2u);
}

// ------------------------------------------------------- leadership transfer

uint64_t OtherThan(uint64_t a, uint64_t b = 0) {
  for (uint64_t id = 1;; ++id) {
    if (id != a && id != b) return id;
  }
}

TEST(TransferTest, CaughtUpFollowerTakesOverInOneRoundWithoutAnElection) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  ASSERT_TRUE(c.node(leader).Propose(Payloads({"a", "b"})).has_value());
  c.Settle();
  const uint64_t epoch = c.node(leader).epoch();
  const uint64_t target = OtherThan(leader);
  ASSERT_TRUE(c.node(leader).TransferLeadership(target));
  EXPECT_EQ(c.node(leader).transferee(), target);
  // No tick passes: TimeoutNow, the votes and the win are one round trip,
  // although every follower still hears from the old leader (its lease).
  c.Settle();
  EXPECT_EQ(c.node(target).role(), Role::kLeader);
  EXPECT_EQ(c.node(target).epoch(), epoch + 1);
  EXPECT_EQ(c.node(leader).role(), Role::kFollower);
  EXPECT_EQ(c.node(leader).transferee(), 0u);
  EXPECT_EQ(c.node(leader).leader(), target);
  // The new leader accepts proposals and nothing was lost.
  ASSERT_TRUE(c.node(target).Propose(Payloads({"c"})).has_value());
  c.Settle();
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_GE(c.applied(id).size(), 3u) << id;
  }
}

TEST(TransferTest, LaggingFollowerIsCaughtUpFirstAndProposalsWaitMeanwhile) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t target = OtherThan(leader);
  c.Isolate(target);
  ASSERT_TRUE(c.node(leader).Propose(Payloads({"a", "b", "c"})).has_value());
  c.Settle();
  const uint64_t last = c.node(leader).last_index();
  ASSERT_LT(c.node(target).last_index(), last);
  ASSERT_TRUE(c.node(leader).TransferLeadership(target));
  // While the transfer runs the leader proposes nothing more, so that the
  // target can catch up to a fixed end.
  EXPECT_FALSE(c.node(leader).Propose(Payloads({"refused"})).has_value());
  c.Heal();
  c.TickAll(1);  // the heartbeat that resumes replication
  EXPECT_EQ(c.node(target).role(), Role::kLeader);
  EXPECT_GE(c.node(target).last_index(), last);
}

TEST(TransferTest, UnreachableTargetIsAbandonedAfterAnElectionTimeout) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t epoch = c.node(leader).epoch();
  const uint64_t target = OtherThan(leader);
  c.Isolate(target);
  ASSERT_TRUE(c.node(leader).TransferLeadership(target));
  EXPECT_FALSE(c.node(leader).Propose(Payloads({"x"})).has_value());
  c.TickAll(10);  // election_ticks
  EXPECT_EQ(c.node(leader).role(), Role::kLeader);
  EXPECT_EQ(c.node(leader).epoch(), epoch);
  EXPECT_EQ(c.node(leader).transferee(), 0u);
  EXPECT_TRUE(c.node(leader).Propose(Payloads({"y"})).has_value());
}

TEST(TransferTest, OnlyALeaderTransfersAndOnlyToAnotherVoter) {
  TestCluster c(3);
  const uint64_t leader = c.ElectLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = OtherThan(leader);
  EXPECT_FALSE(c.node(follower).TransferLeadership(leader));
  EXPECT_FALSE(c.node(leader).TransferLeadership(42));
  EXPECT_TRUE(c.node(leader).TransferLeadership(leader));
  EXPECT_EQ(c.node(leader).transferee(), 0u);
  EXPECT_TRUE(c.node(leader).Propose(Payloads({"x"})).has_value());
}

TEST(TransferTest, TimeoutNowFromAnyoneButTheLeaderIsIgnored) {
  TestReplica r(MakeConfig(2, {1, 2, 3}));
  r.node->Step(Msg(MSG_HEARTBEAT, 1, 2, 1));
  r.Persist();
  r.node->Step(Msg(MSG_TIMEOUT_NOW, 3, 2, 1));
  EXPECT_EQ(r.node->role(), Role::kFollower);
  EXPECT_EQ(r.node->epoch(), 1u);
  r.node->Step(Msg(MSG_TIMEOUT_NOW, 1, 2, 1));
  EXPECT_EQ(r.node->role(), Role::kCandidate);
  EXPECT_EQ(r.node->epoch(), 2u);
}

}  // namespace
}  // namespace report::consensus
