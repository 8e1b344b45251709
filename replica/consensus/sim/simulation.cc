#include "replica/consensus/sim/simulation.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <sstream>
#include <utility>

#include "replica/consensus/invariants.h"
#include "replica/consensus/memory_log_store.h"
#include "replica/consensus/node.h"

namespace report::consensus::sim {
namespace {

// Simulated time is counted in units; a node ticks every kTickUnits.
constexpr uint64_t kTickUnits = 5;
constexpr int kElectionTicks = 10;
constexpr int kTraceLength = 30;
// Liveness: once faults stop, a leader must commit a fresh proposal on every
// replica within this much simulated time.
constexpr uint64_t kLivenessBudgetUnits = 80 * kElectionTicks * kTickUnits;
// ...plus this much per entry of replication backlog.
constexpr uint64_t kCatchUpUnitsPerEntry = 40;

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed ^ 0x6a09e667f3bcc909ULL) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  uint64_t Between(uint64_t lo, uint64_t hi) {
    return lo + Uniform(hi - lo + 1);
  }
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }
  bool Chance(double p) {
    return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p;
  }

 private:
  uint64_t state_;
};

const char* MsgName(MessageType t) {
  switch (t) {
    case MSG_PRE_VOTE:
      return "PreVote";
    case MSG_PRE_VOTE_RESP:
      return "PreVoteResp";
    case MSG_VOTE:
      return "Vote";
    case MSG_VOTE_RESP:
      return "VoteResp";
    case MSG_APPEND:
      return "Append";
    case MSG_APPEND_RESP:
      return "AppendResp";
    case MSG_HEARTBEAT:
      return "Heartbeat";
    case MSG_HEARTBEAT_RESP:
      return "HeartbeatResp";
    case MSG_TIMEOUT_NOW:
      return "TimeoutNow";
    default:
      return "Unknown";
  }
}

// A trace event is recorded cheaply and formatted only when printed.
enum class EventKind {
  kDeliver,
  kDrop,
  kPropose,
  kRole,
  kPersisted,
  kApply,
  kCrash,
  kRestart,
  kPartition,
  kCut,
  kHeal,
  kNetwork,
  kRead,
};

struct Event {
  int step = 0;
  uint64_t time = 0;
  EventKind kind = EventKind::kDeliver;
  uint64_t node = 0;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  MessageType msg = MSG_UNKNOWN;
  bool flag = false;
};

std::string Format(const Event& e) {
  std::ostringstream o;
  o << "step " << e.step << " t=" << e.time << " ";
  switch (e.kind) {
    case EventKind::kDeliver:
    case EventKind::kDrop:
      o << (e.kind == EventKind::kDrop ? "drop " : "") << MsgName(e.msg) << " "
        << e.a << "->" << e.node << " epoch=" << e.b << " index=" << e.c
        << " entries=" << e.d << (e.flag ? " reject" : "");
      break;
    case EventKind::kPropose:
      o << "propose at node " << e.node << ": index " << e.a << " epoch " << e.b
        << " (" << e.c << " entries)";
      break;
    case EventKind::kRole:
      o << "node " << e.node << " is " << RoleName(static_cast<Role>(e.a))
        << " epoch " << e.b << " leader " << e.c;
      break;
    case EventKind::kPersisted:
      o << "node " << e.node << " persisted through " << e.a << " (epoch "
        << e.b << "), hard state epoch " << e.c << " vote " << e.d;
      break;
    case EventKind::kApply:
      o << "node " << e.node << " applied " << e.a << ".." << e.b;
      break;
    case EventKind::kCrash:
      o << "crash node " << e.node << " (lost " << e.a << " pending writes)";
      break;
    case EventKind::kRestart:
      o << "restart node " << e.node << " epoch " << e.a << " vote " << e.b
        << " log " << e.c << " applied " << e.d;
      break;
    case EventKind::kPartition:
      o << "partition: group mask " << e.a;
      break;
    case EventKind::kCut:
      o << (e.flag ? "restore link " : "cut link ") << e.a << "->" << e.node;
      break;
    case EventKind::kHeal:
      o << "heal all links";
      break;
    case EventKind::kNetwork:
      o << "network: drop " << e.a << "% duplicate " << e.b << "% max delay "
        << e.c;
      break;
    case EventKind::kRead:
      o << "read at node " << e.node << " ctx " << e.a << " -> index " << e.b
        << (e.flag ? " dropped" : "");
      break;
  }
  return o.str();
}

struct PendingWrite {
  uint64_t done_at = 0;
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> after_persist;
};

struct Replica {
  uint64_t id = 0;
  uint64_t tick_phase = 0;
  // Durable state: survives crashes.
  MemoryLogStore store;
  HardState hard_state;
  uint64_t applied = 0;
  // Volatile state.
  std::unique_ptr<Node> node;
  uint64_t incarnation = 0;
  std::deque<PendingWrite> disk;
  std::vector<uint64_t>
      log_epochs;  // the node's view of its log: [i-1] = epoch of i
  uint64_t restart_at = 0;
  uint64_t checked_commit =
      0;  // highest commit index already checked for durability
};

struct InFlight {
  uint64_t deliver_at;
  uint64_t seq;
  Message message;
  bool operator>(const InFlight& o) const {
    return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : seq > o.seq;
  }
};

struct Proposal {
  uint64_t node;
  uint64_t incarnation;
  uint64_t fingerprint;
};

struct Read {
  uint64_t node;
  uint64_t must_cover;  // highest acknowledged index when the read was issued
};

class Simulation {
 public:
  explicit Simulation(const SimulationOptions& options)
      : options_(options), rng_(options.seed) {
    n_ = options.replicas > 0 ? options.replicas
                              : (options.seed % 2 == 0 ? 3 : 5);
    result_.seed = options.seed;
    result_.replicas = n_;
    // Drawn from streams of their own, so the faults and proposals a seed
    // draws stay what they were before these inputs existed.
    Rng quorum_rng(options.seed ^ 0x3c6ef372fe94f82bULL);
    commit_quorum_ = options.commit_quorum > 0
                         ? std::clamp(options.commit_quorum, n_ / 2 + 1, n_)
                     : quorum_rng.OneIn(3) ? (n_ == 3 ? 3 : 4)
                                           : n_ / 2 + 1;
    result_.commit_quorum = commit_quorum_;
    for (int i = 0; i < n_; ++i) voters_.push_back(i + 1);
    replicas_.resize(n_);
    // Each seed draws its own fault intensity and replication shape, so some
    // runs churn leaders hard with one entry per message (Figure-8 territory)
    // and others pipeline.
    static constexpr std::array<uint64_t, 4> kFaultOneIn = {25, 50, 100, 200};
    fault_one_in_ = kFaultOneIn[rng_.Uniform(kFaultOneIn.size())];
    max_entries_per_message_ = 1u << rng_.Uniform(4);
    max_inflight_messages_ = 1 + rng_.Uniform(4);
    for (int i = 0; i < n_; ++i) {
      replicas_[i].id = i + 1;
      replicas_[i].tick_phase = rng_.Uniform(kTickUnits);
      Start(replicas_[i]);
    }
    for (auto& row : link_up_) row.fill(true);
  }

  SimulationResult Run() {
    for (step_ = 0; step_ < options_.steps && result_.ok; ++step_) {
      InjectFaults();
      ClientActions();
      Advance();
    }
    if (result_.ok) FinalFaultFreePeriod();
    return result_;
  }

 private:
  // ------------------------------------------------------------ lifecycle

  void Start(Replica& r) {
    Config c;
    c.id = r.id;
    c.voters = voters_;
    c.commit_quorum = commit_quorum_;
    c.election_ticks = kElectionTicks;
    c.heartbeat_ticks = 1;
    c.max_entries_per_message = max_entries_per_message_;
    c.max_bytes_per_message = 256;
    c.max_inflight_messages = max_inflight_messages_;
    c.seed = options_.seed + 1000003 * (r.incarnation + 1);
    c.hard_state = r.hard_state;
    c.applied = r.applied;
    r.node = std::make_unique<Node>(c, &r.store);
    ++r.incarnation;
    r.checked_commit = 0;
    r.log_epochs.clear();
    for (uint64_t i = 1; i <= r.store.LastIndex(); ++i) {
      r.log_epochs.push_back(r.store.EpochAt(i));
    }
  }

  void Crash(Replica& r) {
    Record({.kind = EventKind::kCrash, .node = r.id, .a = r.disk.size()});
    r.node.reset();
    r.disk.clear();
    r.restart_at = now_ + rng_.Between(20, 400);
    ++result_.crashes;
  }

  void Restart(Replica& r) {
    Start(r);
    Record({.kind = EventKind::kRestart,
            .node = r.id,
            .a = r.hard_state.epoch(),
            .b = r.hard_state.vote(),
            .c = r.store.LastIndex(),
            .d = r.applied});
  }

  // --------------------------------------------------------------- faults

  void InjectFaults() {
    for (Replica& r : replicas_) {
      if (!r.node && now_ >= r.restart_at) Restart(r);
    }
    if (swizzle_active_ && now_ >= swizzle_next_at_) AdvanceSwizzle();
    if (adversary_rng_.OneIn(40)) InjectMalformed();
    if (!rng_.OneIn(fault_one_in_)) return;
    switch (rng_.Uniform(11)) {
      case 0:
      case 1: {
        Replica& r = replicas_[rng_.Uniform(n_)];
        if (r.node) Crash(r);
        break;
      }
      case 2: {
        // Symmetric partition into two non-empty groups.
        const uint64_t mask = 1 + rng_.Uniform((1u << n_) - 2);
        for (int a = 0; a < n_; ++a) {
          for (int b = 0; b < n_; ++b) {
            link_up_[a][b] = ((mask >> a) & 1) == ((mask >> b) & 1);
          }
        }
        Record({.kind = EventKind::kPartition, .a = mask});
        break;
      }
      case 3: {
        // Asymmetric: one direction of one link.
        const int a = rng_.Uniform(n_), b = rng_.Uniform(n_);
        if (a != b) {
          link_up_[a][b] = false;
          Record({.kind = EventKind::kCut,
                  .node = uint64_t(b + 1),
                  .a = uint64_t(a + 1)});
        }
        break;
      }
      case 4:
      case 5:
        HealAll();
        break;
      case 6: {
        static constexpr std::array<uint64_t, 4> kDrop = {0, 2, 10, 30};
        drop_percent_ = kDrop[rng_.Uniform(kDrop.size())];
        duplicate_percent_ = rng_.OneIn(2) ? 0 : rng_.Between(1, 10);
        max_delay_ = rng_.Between(1, 3 * kTickUnits);
        Record({.kind = EventKind::kNetwork,
                .a = drop_percent_,
                .b = duplicate_percent_,
                .c = max_delay_});
        break;
      }
      case 7:
        if (!swizzle_active_) StartSwizzle();
        break;
      case 9:
      case 10: {
        // The leader crashes: the costliest fault, and the one that exposes
        // old-epoch entries left on a minority.
        for (Replica& r : replicas_) {
          if (r.node && r.node->role() == Role::kLeader) {
            Crash(r);
            break;
          }
        }
        break;
      }
      case 8: {
        // An isolated node: it hears nothing and nobody hears it.
        const int a = rng_.Uniform(n_);
        for (int b = 0; b < n_; ++b) link_up_[a][b] = link_up_[b][a] = (a == b);
        Record({.kind = EventKind::kPartition, .a = 1u << a});
        break;
      }
    }
  }

  // A message no correct replica sends, as a buggy or hostile peer might: the
  // receiver must drop it (and count it) without changing anything, so the
  // run goes on exactly as if it had never arrived.
  void InjectMalformed() {
    Replica& r = replicas_[adversary_rng_.Uniform(n_)];
    if (!r.node) return;
    Message m;
    m.set_from(1 + (r.id % n_));
    m.set_to(r.id);
    m.set_epoch(r.node->epoch());
    const uint64_t last = r.node->last_index();
    switch (adversary_rng_.Uniform(5)) {
      case 0:  // an epoch that would wrap the counter
        m.set_type(adversary_rng_.OneIn(2) ? MSG_HEARTBEAT : MSG_VOTE);
        m.set_epoch(UINT64_MAX - adversary_rng_.Uniform(2));
        break;
      case 1: {  // a gap in the entries
        m.set_type(MSG_APPEND);
        m.set_index(last);
        m.set_log_epoch(r.node->epoch());
        Entry* e = m.add_entries();
        e->set_index(last + 2 + adversary_rng_.Uniform(1000));
        e->set_epoch(r.node->epoch());
        break;
      }
      case 2: {  // an entry from an epoch the sender has not reached
        m.set_type(MSG_APPEND);
        m.set_index(0);
        Entry* e = m.add_entries();
        e->set_index(1);
        e->set_epoch(r.node->epoch() + 1 + adversary_rng_.Uniform(5));
        break;
      }
      case 3:  // past the end of the index space
        m.set_type(MSG_APPEND);
        m.set_index(UINT64_MAX - adversary_rng_.Uniform(3));
        m.add_entries()->set_epoch(1);
        break;
      default:  // an unknown message type
        m.set_type(static_cast<MessageType>(50 + adversary_rng_.Uniform(50)));
        break;
    }
    const uint64_t before = r.node->malformed_messages();
    r.node->Step(std::move(m));
    ++result_.malformed;
    if (r.node->malformed_messages() != before + 1) {
      Fail("node " + std::to_string(r.id) +
           " took a malformed message instead of dropping it");
    }
  }

  void HealAll() {
    for (auto& row : link_up_) row.fill(true);
    Record({.kind = EventKind::kHeal});
  }

  // Swizzle: cut nodes off one after another, then restore them in the same
  // order.
  void StartSwizzle() {
    swizzle_order_.clear();
    for (int i = 0; i < n_; ++i) swizzle_order_.push_back(i);
    for (int i = n_ - 1; i > 0; --i)
      std::swap(swizzle_order_[i], swizzle_order_[rng_.Uniform(i + 1)]);
    swizzle_count_ = 1 + rng_.Uniform(n_ - 1);
    swizzle_pos_ = 0;
    swizzle_active_ = true;
    swizzle_next_at_ = now_;
  }

  void AdvanceSwizzle() {
    const int total = 2 * swizzle_count_;
    if (swizzle_pos_ >= total) {
      swizzle_active_ = false;
      return;
    }
    const bool restore = swizzle_pos_ >= swizzle_count_;
    const int a = swizzle_order_[swizzle_pos_ % swizzle_count_];
    for (int b = 0; b < n_; ++b) {
      if (b == a) continue;
      link_up_[a][b] = link_up_[b][a] = restore;
    }
    Record({.kind = EventKind::kCut,
            .node = uint64_t(a + 1),
            .a = 0,
            .flag = restore});
    ++swizzle_pos_;
    swizzle_next_at_ = now_ + rng_.Between(kTickUnits, 20 * kTickUnits);
  }

  // --------------------------------------------------------------- client

  void ClientActions() {
    if (rng_.OneIn(6)) Propose();
    if (rng_.OneIn(25)) IssueRead();
  }

  void Propose() {
    // The client finds whoever claims leadership (there may be a stale one).
    std::vector<Replica*> leaders;
    for (Replica& r : replicas_) {
      if (r.node && r.node->role() == Role::kLeader) leaders.push_back(&r);
    }
    if (leaders.empty()) return;
    Replica& r = *leaders[rng_.Uniform(leaders.size())];
    const int count = 1 + rng_.Uniform(3);
    std::vector<Entry> entries(count);
    std::vector<uint64_t> fingerprints;
    for (Entry& e : entries) {
      e.set_data("p" + std::to_string(++proposal_counter_));
      // Now and then an entry larger than a whole append may carry
      // (max_bytes_per_message): it must still be sent, alone, and commit.
      if (adversary_rng_.OneIn(50)) {
        e.mutable_data()->append(300 + adversary_rng_.Uniform(700), 'o');
        ++result_.oversized;
      }
      fingerprints.push_back(InvariantChecker::Fingerprint(e));
    }
    auto positions = r.node->Propose(std::move(entries));
    if (!positions) return;
    for (size_t i = 0; i < positions->size(); ++i) {
      const ProposalPosition& p = (*positions)[i];
      proposals_[{p.index, p.epoch}] =
          Proposal{r.id, r.incarnation, fingerprints[i]};
    }
    result_.proposals += positions->size();
    Record({.kind = EventKind::kPropose,
            .node = r.id,
            .a = positions->front().index,
            .b = positions->front().epoch,
            .c = positions->size()});
  }

  void IssueRead() {
    Replica& r = replicas_[rng_.Uniform(n_)];
    if (!r.node) return;
    const uint64_t ctx = ++read_counter_;
    reads_[ctx] = Read{r.id, highest_acknowledged_};
    r.node->ReadIndex(std::to_string(ctx));
    ++result_.reads;
  }

  // ------------------------------------------------------------ the world

  // One unit of simulated time: ticks, message deliveries, disk completions,
  // Readys, checks.
  void Advance() {
    for (Replica& r : replicas_) {
      if (r.node && now_ % kTickUnits == r.tick_phase) r.node->Tick();
    }
    ProcessAllReadys();
    while (!network_.empty() && network_.top().deliver_at <= now_ &&
           result_.ok) {
      InFlight f = std::move(const_cast<InFlight&>(network_.top()));
      network_.pop();
      Deliver(std::move(f.message));
      ProcessAllReadys();
    }
    for (Replica& r : replicas_) {
      while (r.node && !r.disk.empty() && r.disk.front().done_at <= now_) {
        CompleteWrite(r);
        ProcessAllReadys();
      }
    }
    CheckAfterStep();
    ++now_;
  }

  void Deliver(Message&& m) {
    Replica& to = replicas_[m.to() - 1];
    Event e{.kind = EventKind::kDeliver,
            .node = m.to(),
            .a = m.from(),
            .b = m.epoch(),
            .c = m.index(),
            .d = uint64_t(m.entries_size()),
            .msg = m.type(),
            .flag = m.reject()};
    if (!to.node || !link_up_[m.from() - 1][m.to() - 1]) {
      e.kind = EventKind::kDrop;
      Record(e);
      return;
    }
    Record(e);
    to.node->Step(std::move(m));
  }

  void Send(Message&& m) {
    if (m.to() < 1 || m.to() > uint64_t(n_)) {
      Fail("message to unknown node " + std::to_string(m.to()));
      return;
    }
    if (rng_.Uniform(100) < drop_percent_) return;
    if (rng_.Uniform(100) < duplicate_percent_) {
      network_.push({now_ + rng_.Between(1, max_delay_ + 1), ++seq_, m});
    }
    // A few messages straggle far behind the rest: stale appends from deposed
    // leaders and votes from finished elections arrive when nobody expects
    // them.
    const uint64_t delay = calm_            ? kTickUnits / 2
                           : rng_.OneIn(50) ? rng_.Between(1, 40 * kTickUnits)
                                            : rng_.Between(1, max_delay_);
    network_.push({now_ + delay, ++seq_, std::move(m)});
  }

  void CompleteWrite(Replica& r) {
    PendingWrite w = std::move(r.disk.front());
    r.disk.pop_front();
    if (w.hard_state) r.hard_state = *w.hard_state;
    if (!w.entries.empty()) {
      r.store.Append(w.entries);
      r.node->OnPersisted(w.entries.back().index(), w.entries.back().epoch());
    }
    Record({.kind = EventKind::kPersisted,
            .node = r.id,
            .a = w.entries.empty() ? 0 : w.entries.back().index(),
            .b = w.entries.empty() ? 0 : w.entries.back().epoch(),
            .c = r.hard_state.epoch(),
            .d = r.hard_state.vote()});
    for (Message& m : w.after_persist) Send(std::move(m));
  }

  void ProcessAllReadys() {
    bool any = true;
    while (any && result_.ok) {
      any = false;
      for (Replica& r : replicas_) {
        if (r.node && r.node->HasReady()) {
          any = true;
          HandleReady(r, r.node->TakeReady());
        }
      }
    }
  }

  void HandleReady(Replica& r, Ready rd) {
    // The node's view of its log, for log matching and leader completeness.
    if (!rd.entries.empty()) {
      const uint64_t first = rd.entries.front().index();
      if (first == 0 || first > r.log_epochs.size() + 1) {
        Fail("node " + std::to_string(r.id) +
             " handed out entries with a gap at " + std::to_string(first));
        return;
      }
      r.log_epochs.resize(first - 1);
      for (const Entry& e : rd.entries) {
        const uint64_t prev = r.log_epochs.empty() ? 0 : r.log_epochs.back();
        checker_.ObserveAppend(r.id, e, prev);
        r.log_epochs.push_back(e.epoch());
      }
    }
    if (rd.soft_state) {
      Record({.kind = EventKind::kRole,
              .node = r.id,
              .a = uint64_t(rd.soft_state->role),
              .b = r.node->epoch(),
              .c = rd.soft_state->leader});
      if (rd.soft_state->role == Role::kLeader) {
        ++result_.elections;
        checker_.ObserveLeader(r.id, r.node->epoch());
        checker_.ObserveLeaderLog(
            r.id, r.node->epoch(), r.log_epochs.size(), [&r](uint64_t i) {
              return i == 0 || i > r.log_epochs.size() ? 0
                                                       : r.log_epochs[i - 1];
            });
      }
    }
    for (Message& m : rd.messages) Send(std::move(m));
    if (rd.hard_state || !rd.entries.empty()) {
      PendingWrite w;
      w.done_at =
          now_ + (rng_.OneIn(10) ? rng_.Between(10, 40) : rng_.Between(0, 6));
      if (!r.disk.empty())
        w.done_at = std::max(w.done_at, r.disk.back().done_at);
      w.hard_state = std::move(rd.hard_state);
      w.entries = std::move(rd.entries);
      w.after_persist = std::move(rd.after_persist);
      r.disk.push_back(std::move(w));
    } else if (!rd.after_persist.empty()) {
      if (r.disk.empty()) {
        for (Message& m : rd.after_persist) Send(std::move(m));
      } else {
        auto& after = r.disk.back().after_persist;
        for (Message& m : rd.after_persist) after.push_back(std::move(m));
      }
    }
    if (!rd.committed.empty()) Apply(r, rd.committed);
    for (const ReadState& rs : rd.read_states) CheckRead(r, rs);
    for (const std::string& ctx : rd.dropped_reads) {
      reads_.erase(std::stoull(ctx));
    }
  }

  void Apply(Replica& r, const std::vector<Entry>& committed) {
    Record({.kind = EventKind::kApply,
            .node = r.id,
            .a = committed.front().index(),
            .b = committed.back().index()});
    for (const Entry& e : committed) {
      if (e.index() > r.store.LastIndex() ||
          r.store.EpochAt(e.index()) != e.epoch()) {
        Fail("node " + std::to_string(r.id) + " applied entry " +
             std::to_string(e.index()) + " that is not durable locally");
        return;
      }
      checker_.ObserveApply(r.id, r.applied, e);
      r.applied = e.index();
      auto it = proposals_.find({e.index(), e.epoch()});
      if (it != proposals_.end() && it->second.node == r.id) {
        if (it->second.incarnation == r.incarnation) {
          if (it->second.fingerprint != InvariantChecker::Fingerprint(e)) {
            Fail("proposal at index " + std::to_string(e.index()) +
                 " applied with another payload");
            return;
          }
          highest_acknowledged_ = std::max(highest_acknowledged_, e.index());
          ++result_.acknowledged;
        }
        proposals_.erase(it);
      }
    }
  }

  void CheckRead(Replica& r, const ReadState& rs) {
    const uint64_t ctx = std::stoull(rs.context);
    auto it = reads_.find(ctx);
    if (it == reads_.end()) {
      Fail("read state for unknown or already answered context " + rs.context);
      return;
    }
    Record({.kind = EventKind::kRead, .node = r.id, .a = ctx, .b = rs.index});
    if (rs.index < it->second.must_cover) {
      Fail("linearizability: read " + rs.context + " got index " +
           std::to_string(rs.index) + " below acknowledged index " +
           std::to_string(it->second.must_cover));
    }
    reads_.erase(it);
  }

  void CheckAfterStep() {
    for (Replica& r : replicas_) {
      if (!r.node) continue;
      const uint64_t commit = r.node->commit_index();
      if (commit > r.checked_commit) {
        CheckDurableOnQuorum(r, commit);
        r.checked_commit = commit;
      }
      checker_.ObserveCommitIndex(r.id, r.incarnation, commit);
    }
    // Whatever was applied anywhere is committed, so it must stay durable on a
    // quorum: no correct replica ever removes a committed entry from its log.
    const uint64_t top = checker_.highest_applied();
    if (top > 0 && result_.ok) {
      const uint64_t epoch = checker_.AppliedAt(top).first;
      int durable = 0;
      for (const Replica& r : replicas_) {
        durable += r.store.LastIndex() >= top && r.store.EpochAt(top) == epoch;
      }
      if (durable < commit_quorum_) {
        Fail("durability: applied entry " + std::to_string(top) + " (epoch " +
             std::to_string(epoch) + ") is durable on only " +
             std::to_string(durable) + " replicas");
      }
    }
    if (!checker_.ok()) Fail(checker_.violation());
  }

  // A committed entry is durable on a quorum (by log matching, so is everything
  // before it). Checked when a node's commit index advances.
  void CheckDurableOnQuorum(const Replica& r, uint64_t commit) {
    if (commit > r.log_epochs.size()) {
      Fail("node " + std::to_string(r.id) + " committed " +
           std::to_string(commit) + " beyond its log");
      return;
    }
    const uint64_t epoch = r.log_epochs[commit - 1];
    int durable = 0;
    for (const Replica& other : replicas_) {
      durable += other.store.LastIndex() >= commit &&
                 other.store.EpochAt(commit) == epoch;
    }
    if (durable < commit_quorum_) {
      Fail("durability: node " + std::to_string(r.id) + " has commit index " +
           std::to_string(commit) + " (epoch " + std::to_string(epoch) +
           ") but only " + std::to_string(durable) +
           " replicas hold it durably");
    }
  }

  // ------------------------------------------------------------ liveness

  void FinalFaultFreePeriod() {
    HealAll();
    swizzle_active_ = false;
    drop_percent_ = 0;
    duplicate_percent_ = 0;
    max_delay_ = kTickUnits;
    calm_ = true;  // in-order delivery, no stragglers
    for (Replica& r : replicas_) {
      if (!r.node) Restart(r);
    }
    // 1. Liveness: a leader commits (and acknowledges) a fresh proposal in
    // bounded time.
    // The bound grows with the replication backlog left by the faults: with one
    // entry per message a replica far behind needs time proportional to its lag
    // to catch up.
    uint64_t longest = 0, lowest_applied = UINT64_MAX;
    for (const Replica& r : replicas_) {
      longest = std::max(longest, r.node->last_index());
      lowest_applied = std::min(lowest_applied, r.applied);
    }
    const uint64_t deadline =
        now_ + kLivenessBudgetUnits +
        kCatchUpUnitsPerEntry * (longest - lowest_applied);
    const uint64_t start = now_;
    bool has_marker = false;
    ProposalPosition marker;
    uint64_t marker_node = 0;
    while (result_.ok &&
           !(has_marker && highest_acknowledged_ >= marker.index)) {
      if (now_ >= deadline) {
        Fail(std::string("liveness: no proposal committed within ") +
             std::to_string(deadline - start) +
             " time units of the faults ending (" +
             (has_marker
                  ? "a leader proposed at index " + std::to_string(marker.index)
                  : std::string("no leader committed in its epoch")) +
             ")");
        return;
      }
      if (has_marker) {
        const Node& proposer = *replicas_[marker_node - 1].node;
        if (proposer.role() != Role::kLeader ||
            proposer.epoch() != marker.epoch) {
          has_marker =
              false;  // that leader was deposed: propose again with the next
        }
      }
      if (!has_marker) {
        for (Replica& r : replicas_) {
          if (r.node->role() == Role::kLeader &&
              r.node->committed_in_current_epoch()) {
            std::vector<Entry> e(1);
            e[0].set_data("liveness-marker");
            const uint64_t fingerprint = InvariantChecker::Fingerprint(e[0]);
            marker = r.node->Propose(std::move(e))->front();
            has_marker = true;
            marker_node = r.id;
            proposals_[{marker.index, marker.epoch}] =
                Proposal{r.id, r.incarnation, fingerprint};
            break;
          }
        }
      }
      ++step_;
      Advance();
    }
    if (!result_.ok) return;
    // 2. No acknowledged proposal is lost: every replica applies through the
    // highest acknowledged index. Lagging replicas catch up at a bounded rate.
    uint64_t min_applied = UINT64_MAX;
    for (Replica& r : replicas_) min_applied = std::min(min_applied, r.applied);
    const uint64_t catch_up_deadline =
        now_ + kLivenessBudgetUnits +
        40 * (highest_acknowledged_ - min_applied);
    while (result_.ok) {
      min_applied = UINT64_MAX;
      for (Replica& r : replicas_)
        min_applied = std::min(min_applied, r.applied);
      if (min_applied >= highest_acknowledged_) return;
      if (now_ >= catch_up_deadline) {
        Fail("acknowledged proposals not applied everywhere: lowest applied " +
             std::to_string(min_applied) + ", highest acknowledged " +
             std::to_string(highest_acknowledged_));
        return;
      }
      ++step_;
      Advance();
    }
  }

  // ------------------------------------------------------------- plumbing

  void Record(Event e) {
    e.step = step_;
    e.time = now_;
    if (options_.verbose != nullptr) *options_.verbose << Format(e) << "\n";
    trace_[trace_pos_++ % kTraceLength] = e;
  }

  void Fail(const std::string& what) {
    if (!result_.ok) return;
    result_.ok = false;
    result_.step = step_;
    result_.failure = what;
    // The state of every replica, and the leader's view of its followers.
    for (const Replica& r : replicas_) {
      std::ostringstream o;
      o << "node " << r.id << ": ";
      if (!r.node) {
        o << "down";
      } else {
        o << RoleName(r.node->role()) << " epoch " << r.node->epoch()
          << " last " << r.node->last_index() << " persisted "
          << r.node->last_persisted_index() << " commit "
          << r.node->commit_index() << " applied " << r.applied;
        for (const Progress& p : r.node->progress()) {
          o << " [" << p.id << " match " << p.match << " next " << p.next
            << (p.replicating ? " replicate]" : " probe]");
        }
      }
      result_.state.push_back(o.str());
    }
    const size_t count = std::min<size_t>(trace_pos_, kTraceLength);
    for (size_t i = trace_pos_ - count; i < trace_pos_; ++i) {
      result_.trace.push_back(Format(trace_[i % kTraceLength]));
    }
  }

  SimulationOptions options_;
  Rng rng_;
  Rng adversary_rng_{options_.seed ^ 0xbb67ae8584caa73bULL};
  int n_ = 3;
  std::vector<uint64_t> voters_;
  int commit_quorum_ = 0;
  std::vector<Replica> replicas_;
  InvariantChecker checker_;
  SimulationResult result_;

  uint64_t now_ = 0;
  int step_ = 0;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> network_;
  uint64_t seq_ = 0;
  std::array<std::array<bool, 8>, 8> link_up_{};
  uint64_t fault_one_in_ = 100;
  uint64_t max_entries_per_message_ = 4;
  int max_inflight_messages_ = 4;
  uint64_t drop_percent_ = 0;
  bool calm_ = false;
  uint64_t duplicate_percent_ = 0;
  uint64_t max_delay_ = kTickUnits;

  bool swizzle_active_ = false;
  std::vector<int> swizzle_order_;
  int swizzle_count_ = 0;
  int swizzle_pos_ = 0;
  uint64_t swizzle_next_at_ = 0;

  uint64_t proposal_counter_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, Proposal> proposals_;
  uint64_t highest_acknowledged_ = 0;
  uint64_t read_counter_ = 0;
  std::map<uint64_t, Read> reads_;

  std::array<Event, kTraceLength> trace_{};
  size_t trace_pos_ = 0;
};

}  // namespace

SimulationResult RunSimulation(const SimulationOptions& options) {
  return Simulation(options).Run();
}

}  // namespace report::consensus::sim
