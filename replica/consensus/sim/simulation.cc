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
// The simulated state machine keeps the fingerprints of its last this many
// entries next to its digest, so a snapshot spans several chunks.
constexpr size_t kRecentFingerprints = 100;
// Compaction deletes at most this many entries per disk write.
constexpr uint64_t kCompactionBatch = 8;

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
    case MSG_SNAPSHOT:
      return "Snapshot";
    case MSG_SNAPSHOT_RESP:
      return "SnapshotResp";
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
  kSnapshot,
  kCompact,
  kInstall,
  kTransfer,
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
    case EventKind::kSnapshot:
      o << "node " << e.node << " snapshot at " << e.a << " (epoch " << e.b
        << ", " << e.c << " bytes) durable";
      break;
    case EventKind::kCompact:
      o << "node " << e.node << " compacted through " << e.a << " (snapshot at "
        << e.b << ")";
      break;
    case EventKind::kTransfer:
      o << "leader " << e.node << " transfers leadership to " << e.a
        << " (epoch " << e.b << ")";
      break;
    case EventKind::kInstall:
      o << "node " << e.node << (e.flag ? " installed" : " rejected")
        << " snapshot at " << e.a << " (epoch " << e.b << ")";
      break;
  }
  return o.str();
}

struct PendingWrite {
  uint64_t done_at = 0;
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<SnapshotChunk> chunks;
  std::optional<SnapshotMeta> install;
  std::optional<SnapshotMeta> snapshot;  // with snapshot_data
  std::string snapshot_data;
  uint64_t compact_to = 0;
  std::vector<Message> after_persist;
};

// The simulated state machine's durable state.
struct SmState {
  uint64_t index = 0;
  uint64_t digest = 0;
  std::deque<uint64_t> recent;  // fingerprints of the last entries
};

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}

uint64_t DecodeU64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (size_t i = at; i < at + 8 && i < s.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string EncodeState(const SmState& st) {
  std::string out = EncodeU64(st.index) + EncodeU64(st.digest);
  for (uint64_t fp : st.recent) out += EncodeU64(fp);
  return out;
}

// Lenient on purpose: a corrupted snapshot installed without checks must
// load (and then be caught by the state comparison).
SmState DecodeState(const std::string& data) {
  SmState st;
  st.index = DecodeU64(data, 0);
  st.digest = DecodeU64(data, 8);
  for (size_t at = 16; at + 8 <= data.size(); at += 8) {
    st.recent.push_back(DecodeU64(data, at));
  }
  return st;
}

struct Replica {
  uint64_t id = 0;
  uint64_t tick_phase = 0;
  // Durable state: survives crashes.
  MemoryLogStore store;
  HardState hard_state;
  uint64_t applied = 0;
  SmState sm;           // applied through `applied`
  SnapshotMeta staged;  // a snapshot being received, and its bytes so far
  std::string staged_data;
  // Volatile state.
  std::unique_ptr<Node> node;
  uint64_t incarnation = 0;
  std::deque<PendingWrite> disk;
  // The node's view of its log: log_epochs[i] = epoch of log_base+1+i; the
  // entry at log_base has base_epoch, those below are in a snapshot.
  std::vector<uint64_t> log_epochs;
  uint64_t log_base = 0;
  uint64_t base_epoch = 0;
  bool snapshot_pending = false;    // a snapshot write is queued
  bool compaction_pending = false;  // a compaction write is queued
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
    // Snapshot policy, from a stream of its own: a quarter of the seeds never
    // snapshot; the others every 8..60 applied entries, keeping 0..20 entries
    // behind the snapshot.
    static constexpr std::array<uint64_t, 4> kSnapshotEvery = {0, 8, 25, 60};
    static constexpr std::array<uint64_t, 3> kRetain = {0, 3, 20};
    snapshot_every_ = kSnapshotEvery[snap_rng_.Uniform(kSnapshotEvery.size())];
    retain_ = kRetain[snap_rng_.Uniform(kRetain.size())];
    if (options.bug != SnapshotBug::kNone && snapshot_every_ == 0) {
      snapshot_every_ = 8;
    }
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
    c.staged_snapshot = r.staged;
    c.staged_bytes = r.staged_data.size();
    r.node = std::make_unique<Node>(c, &r.store);
    ++r.incarnation;
    r.checked_commit = 0;
    r.snapshot_pending = false;
    r.compaction_pending = false;
    r.log_epochs.clear();
    r.log_base = r.store.FirstIndex() - 1;
    r.base_epoch = r.store.EpochAt(r.log_base);
    for (uint64_t i = r.store.FirstIndex(); i <= r.store.LastIndex(); ++i) {
      r.log_epochs.push_back(r.store.EpochAt(i));
    }
  }

  uint64_t ViewLast(const Replica& r) const {
    return r.log_base + r.log_epochs.size();
  }

  // Epoch of entry `i` in the node's view of its log. Below the view's base
  // the entries are in a snapshot of committed state (each snapshot's digest
  // is checked against the history), so they are the committed ones.
  uint64_t ViewEpoch(const Replica& r, uint64_t i) const {
    if (i == 0) return 0;
    if (i == r.log_base) return r.base_epoch;
    if (i < r.log_base) return checker_.AppliedAt(i).first;
    if (i > ViewLast(r)) return 0;
    return r.log_epochs[i - r.log_base - 1];
  }

  // The replica holds the entry (index, epoch) durably: in its log, or
  // covered by its snapshot.
  static bool Holds(const Replica& r, uint64_t index, uint64_t epoch) {
    if (index <= r.store.Snapshot().index()) return true;
    return index + 1 >= r.store.FirstIndex() && index <= r.store.LastIndex() &&
           r.store.EpochAt(index) == epoch;
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

  // An operator asks the leader (if any) to hand over to a random other voter,
  // as before maintenance; the transfer races every fault.
  void TransferLeadership() {
    const uint64_t target = 1 + transfer_rng_.Uniform(n_);
    for (Replica& r : replicas_) {
      if (r.node && r.node->role() == Role::kLeader && r.id != target) {
        if (r.node->TransferLeadership(target)) {
          ++result_.transfers;
          transfer_target_ = target;
          transfer_epoch_ = r.node->epoch();
          Record({.kind = EventKind::kTransfer,
                  .node = r.id,
                  .a = target,
                  .b = r.node->epoch()});
        }
        return;
      }
    }
  }

  void InjectFaults() {
    for (Replica& r : replicas_) {
      if (!r.node && now_ >= r.restart_at) Restart(r);
    }
    if (swizzle_active_ && now_ >= swizzle_next_at_) AdvanceSwizzle();
    if (adversary_rng_.OneIn(40)) InjectMalformed();
    if (transfer_rng_.OneIn(150)) TransferLeadership();
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
    switch (adversary_rng_.Uniform(6)) {
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
      case 4: {  // a snapshot chunk that runs past the snapshot's end
        m.set_type(MSG_SNAPSHOT);
        m.set_index(last + 1);
        m.set_log_epoch(std::max<uint64_t>(r.node->epoch(), 1));
        m.set_epoch(std::max<uint64_t>(r.node->epoch(), 1));
        SnapshotMeta* meta = m.mutable_snapshot();
        meta->set_index(last + 1);
        meta->set_epoch(m.log_epoch());
        meta->set_size(1 + adversary_rng_.Uniform(100));
        m.set_offset(meta->size() - 1);
        m.set_chunk(std::string(2 + adversary_rng_.Uniform(10), 'x'));
        break;
      }
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
      while (r.node && !r.disk.empty() && r.disk.front().done_at <= now_ &&
             result_.ok) {
        CompleteWrite(r);
        ProcessAllReadys();
      }
    }
    for (Replica& r : replicas_) SnapshotPolicy(r);
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
    // Now and then a snapshot chunk arrives damaged: the receiver's checks
    // must refuse the snapshot it belongs to.
    if (m.type() == MSG_SNAPSHOT && !m.chunk().empty() && !calm_ &&
        adversary_rng_.OneIn(30)) {
      std::string& chunk = *m.mutable_chunk();
      chunk[adversary_rng_.Uniform(chunk.size())] ^=
          static_cast<char>(1 + adversary_rng_.Uniform(255));
    }
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
      if (w.entries.front().index() < r.store.FirstIndex()) {
        Fail("node " + std::to_string(r.id) + " rewrote compacted entry " +
             std::to_string(w.entries.front().index()));
        return;
      }
      r.store.Append(w.entries);
      r.node->OnPersisted(w.entries.back().index(), w.entries.back().epoch());
    }
    for (SnapshotChunk& c : w.chunks) {
      if (c.offset == 0) {
        r.staged = c.meta;
        r.staged_data = std::move(c.data);
      } else if (SameSnapshot(r.staged, c.meta) &&
                 c.offset == r.staged_data.size()) {
        r.staged_data += c.data;
      } else {
        Fail("node " + std::to_string(r.id) +
             " handed out a snapshot chunk at offset " +
             std::to_string(c.offset) + " that does not continue its staged " +
             std::to_string(r.staged_data.size()) + " bytes");
        return;
      }
    }
    if (w.install) Install(r, *w.install);
    if (w.snapshot) {
      r.store.SetSnapshot(*w.snapshot, std::move(w.snapshot_data));
      r.snapshot_pending = false;
      ++result_.snapshots;
      Record({.kind = EventKind::kSnapshot,
              .node = r.id,
              .a = w.snapshot->index(),
              .b = w.snapshot->epoch(),
              .c = w.snapshot->size()});
    }
    if (w.compact_to > 0) {
      r.compaction_pending = false;
      if (w.compact_to > r.store.Snapshot().index() &&
          options_.bug != SnapshotBug::kCompactPastSnapshot) {
        Fail("node " + std::to_string(r.id) + " compacted through " +
             std::to_string(w.compact_to) + " above its snapshot at " +
             std::to_string(r.store.Snapshot().index()));
        return;
      }
      r.store.Compact(w.compact_to);
      ++result_.compactions;
      Record({.kind = EventKind::kCompact,
              .node = r.id,
              .a = r.store.FirstIndex() - 1,
              .b = r.store.Snapshot().index()});
    }
    if (!result_.ok) return;
    Record({.kind = EventKind::kPersisted,
            .node = r.id,
            .a = w.entries.empty() ? 0 : w.entries.back().index(),
            .b = w.entries.empty() ? 0 : w.entries.back().epoch(),
            .c = r.hard_state.epoch(),
            .d = r.hard_state.vote()});
    for (Message& m : w.after_persist) Send(std::move(m));
  }

  // The receiver's side of a snapshot install: check the staged bytes, then
  // replace state and log at once (one disk write: a crash before it leaves
  // the old state, after it the new one).
  void Install(Replica& r, const SnapshotMeta& meta) {
    bool ok =
        SameSnapshot(r.staged, meta) && r.staged_data.size() == meta.size();
    SmState st = DecodeState(r.staged_data);
    if (options_.bug != SnapshotBug::kInstallWithoutDigestCheck) {
      ok = ok && SnapshotChecksum(r.staged_data) == meta.checksum() &&
           st.index == meta.index() && EncodeU64(st.digest) == meta.digest();
    }
    Record({.kind = EventKind::kInstall,
            .node = r.id,
            .a = meta.index(),
            .b = meta.epoch(),
            .flag = ok});
    if (!ok) {
      r.staged = SnapshotMeta();
      r.staged_data.clear();
      ++result_.rejected_installs;
      r.node->OnSnapshotRejected(meta);
      return;
    }
    if (meta.index() <= r.applied) {
      Fail("node " + std::to_string(r.id) + " asked to install snapshot " +
           std::to_string(meta.index()) + " at or below its applied index " +
           std::to_string(r.applied));
      return;
    }
    st.index = meta.index();
    r.store.Restore(meta, std::move(r.staged_data));
    r.staged = SnapshotMeta();
    r.staged_data.clear();
    r.sm = std::move(st);
    r.applied = meta.index();
    r.log_base = meta.index();
    r.base_epoch = meta.epoch();
    r.log_epochs.clear();
    ++result_.installs;
    CheckState(r, "after installing a snapshot");
    r.node->OnSnapshotInstalled(meta);
  }

  // The state machine equals the committed history at its applied index:
  // same digest, same recent entries.
  void CheckState(const Replica& r, const char* when) {
    const uint64_t want = checker_.DigestAt(r.sm.index);
    bool same = want != 0 && r.sm.digest == want;
    for (size_t i = 0; same && i < r.sm.recent.size(); ++i) {
      const uint64_t index = r.sm.index - r.sm.recent.size() + 1 + i;
      same = checker_.AppliedAt(index).second == r.sm.recent[i];
    }
    if (!same) {
      Fail("state-machine equality: node " + std::to_string(r.id) + " " + when +
           " at index " + std::to_string(r.sm.index) +
           " holds a state that differs from the committed history");
    }
  }

  // Takes snapshots every snapshot_every_ applied entries and compacts the
  // log behind them (retain_ entries kept), each a disk write that a crash
  // may lose.
  void SnapshotPolicy(Replica& r) {
    if (!r.node || snapshot_every_ == 0 || !result_.ok) return;
    const SnapshotMeta current = r.store.Snapshot();
    if (!r.snapshot_pending && r.applied >= current.index() + snapshot_every_ &&
        snap_rng_.OneIn(3)) {
      SnapshotMeta meta;
      uint64_t index = r.applied;
      if (options_.bug == SnapshotBug::kSnapshotOfUnappliedIndex) {
        index = std::max(index, r.node->last_persisted_index());
      }
      meta.set_index(index);
      meta.set_epoch(r.store.EpochAt(index));
      std::string data = EncodeState(r.sm);
      if (index != r.sm.index) {
        // What the bug claims: the state "at" the labelled index.
        data.replace(0, 8, EncodeU64(index));
      }
      meta.set_size(data.size());
      meta.set_checksum(SnapshotChecksum(data));
      meta.set_digest(EncodeU64(r.sm.digest));
      if (const uint64_t known = checker_.DigestAt(index);
          known != 0 && known != r.sm.digest) {
        Fail("snapshot: node " + std::to_string(r.id) + " labelled a " +
             "snapshot with index " + std::to_string(index) +
             " whose state differs from the committed history there");
        return;
      }
      PendingWrite w;
      w.snapshot = meta;
      w.snapshot_data = std::move(data);
      Enqueue(r, std::move(w));
      r.snapshot_pending = true;
    }
    uint64_t floor = current.index() > retain_ ? current.index() - retain_ : 0;
    if (options_.bug == SnapshotBug::kCompactPastSnapshot &&
        current.index() > 0) {
      floor = std::max(floor, r.node->last_persisted_index());
    }
    if (!r.compaction_pending && r.store.FirstIndex() <= floor) {
      PendingWrite w;
      w.compact_to =
          std::min(floor, r.store.FirstIndex() - 1 + kCompactionBatch);
      Enqueue(r, std::move(w));
      r.compaction_pending = true;
    }
  }

  void Enqueue(Replica& r, PendingWrite w) {
    w.done_at =
        now_ + (rng_.OneIn(10) ? rng_.Between(10, 40) : rng_.Between(0, 6));
    if (!r.disk.empty()) w.done_at = std::max(w.done_at, r.disk.back().done_at);
    r.disk.push_back(std::move(w));
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
      if (first <= r.log_base || first > ViewLast(r) + 1) {
        Fail("node " + std::to_string(r.id) +
             " handed out entries with a gap (or below its snapshot) at " +
             std::to_string(first));
        return;
      }
      r.log_epochs.resize(first - 1 - r.log_base);
      for (const Entry& e : rd.entries) {
        const uint64_t prev = ViewEpoch(r, e.index() - 1);
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
        if (r.id == transfer_target_ &&
            r.node->epoch() == transfer_epoch_ + 1) {
          ++result_.transfers_completed;
        }
        checker_.ObserveLeader(r.id, r.node->epoch());
        checker_.ObserveLeaderLog(
            r.id, r.node->epoch(), ViewLast(r),
            [this, &r](uint64_t i) { return ViewEpoch(r, i); });
      }
    }
    for (Message& m : rd.messages) Send(std::move(m));
    if (rd.hard_state || !rd.entries.empty() || !rd.snapshot_chunks.empty() ||
        rd.install_snapshot) {
      PendingWrite w;
      w.hard_state = std::move(rd.hard_state);
      w.entries = std::move(rd.entries);
      w.chunks = std::move(rd.snapshot_chunks);
      w.install = std::move(rd.install_snapshot);
      w.after_persist = std::move(rd.after_persist);
      Enqueue(r, std::move(w));
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
      const uint64_t fp = InvariantChecker::Fingerprint(e);
      r.sm.index = e.index();
      r.sm.digest = InvariantChecker::MixDigest(r.sm.digest, fp);
      r.sm.recent.push_back(fp);
      if (r.sm.recent.size() > kRecentFingerprints) r.sm.recent.pop_front();
      if (r.sm.digest != checker_.DigestAt(e.index())) {
        CheckState(r, "after applying");
        return;
      }
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
      for (const Replica& r : replicas_) durable += Holds(r, top, epoch);
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
    if (commit > ViewLast(r)) {
      Fail("node " + std::to_string(r.id) + " committed " +
           std::to_string(commit) + " beyond its log");
      return;
    }
    const uint64_t epoch = ViewEpoch(r, commit);
    int durable = 0;
    for (const Replica& other : replicas_) {
      durable += Holds(other, commit, epoch);
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
            auto positions = r.node->Propose(std::move(e));
            // A leader handing over (leadership transfer) proposes nothing:
            // propose at whoever leads next.
            if (!positions.has_value()) break;
            marker = positions->front();
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
          << r.node->commit_index() << " applied " << r.applied << " first "
          << r.store.FirstIndex() << " snapshot " << r.store.Snapshot().index()
          << (r.node->installing_snapshot() ? " installing" : "");
        for (const Progress& p : r.node->progress()) {
          o << " [" << p.id << " match " << p.match << " next " << p.next << " "
            << ProgressStateName(p.state);
          if (p.state == ProgressState::kSnapshot) {
            o << " " << p.snapshot_index << " acked " << p.snapshot_acked;
          }
          o << "]";
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
  Rng snap_rng_{options_.seed ^ 0xa54ff53a5f1d36f1ULL};
  // Leadership transfers, from a stream of their own (seeds recorded before
  // transfers existed keep their faults and proposals).
  Rng transfer_rng_{options_.seed ^ 0x510e527fade682d1ULL};
  uint64_t transfer_target_ = 0;  // the last transfer's target and epoch
  uint64_t transfer_epoch_ = 0;
  uint64_t snapshot_every_ = 0;
  uint64_t retain_ = 0;
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

bool ParseSnapshotBug(const std::string& name, SnapshotBug* bug) {
  if (name == "none") {
    *bug = SnapshotBug::kNone;
  } else if (name == "install-without-digest-check") {
    *bug = SnapshotBug::kInstallWithoutDigestCheck;
  } else if (name == "compact-past-snapshot") {
    *bug = SnapshotBug::kCompactPastSnapshot;
  } else if (name == "snapshot-of-unapplied-index") {
    *bug = SnapshotBug::kSnapshotOfUnappliedIndex;
  } else {
    return false;
  }
  return true;
}

}  // namespace report::consensus::sim
