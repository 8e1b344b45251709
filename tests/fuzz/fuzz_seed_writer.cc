// Writes the binary seed corpora of peer_batch_fuzz and state_machine_fuzz
// from real traffic: a three- or five-replica cluster run in memory (node 1 is
// the fuzzer's replica under test, driven exactly as the fuzzer drives it, so
// each seed replays the recorded run) and real report commands.
//   fuzz_seed_writer CORPUS_DIR   (writes CORPUS_DIR/peer_batch/*,
//   .../state_machine/*)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fingerprint.h"
#include "proto/consensus.pb.h"
#include "proto/report.pb.h"
#include "replica/consensus/memory_log_store.h"
#include "replica/consensus/node.h"
#include "tests/fuzz/peer_batch_input.h"

namespace report::fuzz {
namespace {

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// ------------------------------------------------------------ commands

constexpr char kGateway[] = "aws/us-east-1/use1-az1";
constexpr char kWorkerDomain[] = "gcp/us-central1/us-central1-a";

Command Submit(uint64_t now, const std::string& id, const std::string& month) {
  Command c;
  c.set_timestamp_ms(now);
  ReportSubmission* s = c.mutable_submit()->mutable_submission();
  s->set_request_id(id);
  s->set_account_id("acct-1");
  s->set_month(month);
  c.mutable_submit()->set_fingerprint(SubmissionFingerprint(*s));
  c.mutable_submit()->set_ingress_domain(kGateway);
  return c;
}

Command Reserve(uint64_t now, const std::string& id, uint64_t lease_ms) {
  Command c;
  c.set_timestamp_ms(now);
  ReserveEffectCommand* r = c.mutable_reserve_effect();
  r->set_request_id(id);
  r->set_effect_key("sink/" + id);
  r->set_worker_id("worker-1");
  r->set_worker_domain(kWorkerDomain);
  r->set_lease_ms(lease_ms);
  r->set_max_attempts(3);
  return c;
}

Command Extend(uint64_t now, const std::string& id, uint64_t token) {
  Command c;
  c.set_timestamp_ms(now);
  ExtendLeaseCommand* e = c.mutable_extend_lease();
  e->set_request_id(id);
  e->set_worker_id("worker-1");
  e->set_fencing_token(token);
  e->set_lease_ms(30000);
  return c;
}

Command Complete(uint64_t now, const std::string& id, uint64_t version,
                 uint64_t token) {
  Command c;
  c.set_timestamp_ms(now);
  CompleteCommand* k = c.mutable_complete();
  k->set_request_id(id);
  k->set_expected_version(version);
  k->set_fencing_token(token);
  k->set_worker_id("worker-1");
  k->set_worker_domain(kWorkerDomain);
  k->set_report_location("file:///sink/" + id + ".json");
  return c;
}

Command Fail(uint64_t now, const std::string& id, uint64_t token,
             bool retryable) {
  Command c;
  c.set_timestamp_ms(now);
  FailCommand* f = c.mutable_fail();
  f->set_request_id(id);
  f->set_fencing_token(token);
  f->set_worker_id("worker-1");
  f->set_error("sink unavailable");
  f->set_retryable(retryable);
  f->set_max_attempts(3);
  return c;
}

// A committed log as state_machine_fuzz reads it: a Message whose entries are
// the log; `split` goes in `index`.
std::string Log(const std::vector<Command>& commands, uint64_t split,
                bool with_barrier = true) {
  consensus::Message m;
  m.set_index(split);
  if (with_barrier) {
    consensus::Entry* barrier = m.add_entries();
    barrier->set_epoch(1);
    barrier->set_type(consensus::ENTRY_BARRIER);
  }
  for (const Command& c : commands) {
    consensus::Entry* e = m.add_entries();
    e->set_epoch(1);
    e->set_data(c.SerializeAsString());
  }
  return m.SerializeAsString();
}

void WriteStateMachineSeeds(const std::filesystem::path& dir) {
  // Offsets: 1 is the barrier, so r1's submit is 2.
  WriteFile(dir / "submit-run-complete",
            Log({Submit(1000, "r1", "2026-04"), Reserve(1100, "r1", 30000),
                 Extend(1200, "r1", 3), Complete(1300, "r1", 4, 3)},
                2));
  WriteFile(dir / "duplicate-and-conflict",
            Log({Submit(1000, "r1", "2026-04"), Submit(1001, "r1", "2026-04"),
                 Submit(1002, "r1", "2026-05")},
                1));
  WriteFile(dir / "fail-retry-expire",
            Log({Submit(1000, "r2", "2026-04"), Reserve(1100, "r2", 1000),
                 Fail(1200, "r2", 3, true), Reserve(5000, "r2", 1000),
                 Reserve(9000, "r2", 1000), Fail(9100, "r2", 5, false)},
                4));
  WriteFile(dir / "stale-token-and-version",
            Log({Submit(1000, "r3", "2026-04"), Reserve(1100, "r3", 500),
                 Reserve(2000, "r3", 500), Complete(2100, "r3", 3, 3),
                 Extend(2200, "r3", 3), Complete(2300, "r3", 4, 4)},
                3));
  consensus::Message garbage;
  garbage.add_entries()->set_data("not a command");
  garbage.add_entries()->set_data(Submit(1, "", "").SerializeAsString());
  WriteFile(dir / "garbage-and-empty", garbage.SerializeAsString());
  WriteFile(dir / "no-barrier", Log({Submit(7, "r4", "2026-01")}, 0, false));
}

// ------------------------------------------------------------ peer batches

// Nodes 2..n run plainly; node 1 is the fuzzer's ReplicaUnderTest, and every
// input it gets is recorded in the fuzzer's input language.
class RecordedCluster {
 public:
  explicit RecordedCluster(uint8_t config_bits)
      : subject_(config_bits), input_(1, static_cast<char>(config_bits)) {
    const consensus::Config base = ConfigFor(config_bits);
    const std::vector<consensus::Entry> log = RecoveredLog(config_bits);
    for (uint64_t id : base.voters) {
      if (id == 1) continue;
      consensus::Config c = base;
      c.id = id;
      c.seed = 100 + id;
      auto peer = std::make_unique<Peer>();
      peer->store.Append(log);
      peer->node = std::make_unique<consensus::Node>(c, &peer->store);
      peers_[id] = std::move(peer);
    }
    Route(subject_.Drain());
  }

  // One tick everywhere, then messages until quiet.
  void Tick() {
    AppendRecord(&input_, kOpTick, std::string(1, '\0'));
    subject_.node().Tick();
    std::vector<consensus::Message> out = subject_.Drain();
    Route(std::move(out));
    for (auto& [id, peer] : peers_) peer->node->Tick();
    Settle();
  }

  // Proposes on whoever leads.
  void Propose(const std::string& data) {
    if (subject_.node().role() == consensus::Role::kLeader) {
      AppendRecord(&input_, kOpPropose, data);
      std::vector<consensus::Entry> e(1);
      e[0].set_data(data);
      subject_.node().Propose(std::move(e));
      Route(subject_.Drain());
    }
    for (auto& [id, peer] : peers_) {
      if (peer->node->role() != consensus::Role::kLeader) continue;
      std::vector<consensus::Entry> e(1);
      e[0].set_data(data);
      peer->node->Propose(std::move(e));
    }
    Settle();
  }

  void Campaign() {
    AppendRecord(&input_, kOpCampaign);
    subject_.node().Campaign();
    Route(subject_.Drain());
    Settle();
  }

  // A peer starts an election, so that replica 1 follows.
  void CampaignPeer(uint64_t id) {
    peers_.at(id)->node->Campaign();
    Settle();
  }

  void ReadIndex(const std::string& context) {
    AppendRecord(&input_, kOpReadIndex, context);
    subject_.node().ReadIndex(context);
    Route(subject_.Drain());
    Settle();
  }

  bool HasLeader() {
    if (subject_.node().role() == consensus::Role::kLeader) return true;
    for (auto& [id, peer] : peers_) {
      if (peer->node->role() == consensus::Role::kLeader) return true;
    }
    return false;
  }
  consensus::Node& subject() { return subject_.node(); }
  const std::string& input() const { return input_; }

 private:
  struct Peer {
    consensus::MemoryLogStore store;
    std::unique_ptr<consensus::Node> node;
  };

  void Route(std::vector<consensus::Message> messages) {
    for (consensus::Message& m : messages) queue_.push_back(std::move(m));
  }

  void Settle() {
    for (int round = 0; round < 200; ++round) {
      bool moved = false;
      for (auto& [id, peer] : peers_) {
        while (peer->node->HasReady()) {
          moved = true;
          consensus::Ready rd = peer->node->TakeReady();
          if (!rd.entries.empty()) {
            peer->store.Append(rd.entries);
            peer->node->OnPersisted(rd.entries.back().index(),
                                    rd.entries.back().epoch());
          }
          Route(std::move(rd.messages));
          Route(std::move(rd.after_persist));
        }
      }
      std::vector<consensus::Message> batch;
      batch.swap(queue_);
      // Messages to node 1 go in one frame per sender, as the transport
      // batches them.
      std::map<uint64_t, consensus::MessageBatch> frames;
      for (consensus::Message& m : batch) {
        moved = true;
        if (m.to() == 1) {
          consensus::MessageBatch& frame = frames[m.from()];
          frame.set_cluster_id("fuzz");
          frame.set_from(m.from());
          *frame.add_messages() = std::move(m);
        } else if (peers_.count(m.to())) {
          peers_[m.to()]->node->Step(std::move(m));
        }
      }
      for (auto& [from, frame] : frames) {
        AppendRecord(&input_, kOpBatch, frame.SerializeAsString());
        for (const consensus::Message& m : frame.messages()) {
          subject_.node().Step(m);
        }
        Route(subject_.Drain());
      }
      if (!moved) return;
    }
  }

  ReplicaUnderTest subject_;
  std::string input_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;
  std::vector<consensus::Message> queue_;
};

std::string RunCluster(uint8_t bits, int proposals, bool subject_campaigns) {
  RecordedCluster cluster(bits);
  if (subject_campaigns) {
    cluster.Campaign();
  } else {
    cluster.CampaignPeer(2);
  }
  for (int i = 0; i < 60 && !cluster.HasLeader(); ++i) cluster.Tick();
  for (int i = 0; i < proposals; ++i) {
    cluster.Propose(Submit(1000 + i, "r" + std::to_string(i), "2026-04")
                        .SerializeAsString());
    cluster.Tick();
  }
  cluster.ReadIndex("read-1");
  cluster.Tick();
  // What the seed reaches, so that a change that makes seeds useless shows.
  std::printf(
      "config %2u: replica 1 is %s in epoch %llu, commit %llu\n", bits,
      consensus::RoleName(cluster.subject().role()),
      static_cast<unsigned long long>(cluster.subject().epoch()),
      static_cast<unsigned long long>(cluster.subject().commit_index()));
  return cluster.input();
}

void WritePeerBatchSeeds(const std::filesystem::path& dir) {
  // bits: 1 five voters, 2 pre-vote, 4 check-quorum, 8 quorum 4, 16 recovered.
  WriteFile(dir / "three-follower", RunCluster(2 | 4, 3, false));
  WriteFile(dir / "three-leader", RunCluster(2 | 4, 3, true));
  WriteFile(dir / "three-no-prevote-leader", RunCluster(0, 2, true));
  WriteFile(dir / "five-quorum4-leader", RunCluster(1 | 2 | 4 | 8, 3, true));
  WriteFile(dir / "five-follower-recovered",
            RunCluster(1 | 2 | 4 | 16, 2, false));
  WriteFile(dir / "three-leader-recovered", RunCluster(2 | 4 | 16, 2, true));
}

}  // namespace
}  // namespace report::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path corpus(argv[1]);
  report::fuzz::WriteStateMachineSeeds(corpus / "state_machine");
  report::fuzz::WritePeerBatchSeeds(corpus / "peer_batch");
  return 0;
}
