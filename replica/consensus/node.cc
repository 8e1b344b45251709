#include "replica/consensus/node.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "replica/consensus/raft_log.h"

namespace report::consensus {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

const char* ProgressStateName(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

bool SameSnapshot(const SnapshotMeta& a, const SnapshotMeta& b) {
  return a.index() == b.index() && a.epoch() == b.epoch() &&
         a.size() == b.size() && a.checksum() == b.checksum() &&
         a.digest() == b.digest();
}

uint64_t SnapshotChecksum(const std::string& data, uint64_t hash) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

namespace {

// Snapshots larger than this are not something a correct leader sends.
constexpr uint64_t kMaxSnapshotBytes = uint64_t{1} << 50;

// Upper bound on the payload bytes handed out in one Ready.committed; the rest
// follows in the next Ready.
constexpr uint64_t kMaxCommittedBytesPerReady = 64u << 20;

// Why a message from the network breaks the protocol's shape, or nullptr when
// it is well formed. Checked before the message can change anything, so a
// malformed message is dropped and counted, never trusted.
const char* Malformed(const Message& m) {
  if (m.epoch() > kMaxEpoch) return "epoch beyond the limit";
  switch (m.type()) {
    case MSG_PRE_VOTE:
    case MSG_VOTE:
      if (m.log_epoch() > m.epoch()) return "last log epoch above the epoch";
      if (m.index() > kMaxIndex) return "index beyond the limit";
      return nullptr;
    case MSG_APPEND: {
      if (m.log_epoch() > m.epoch()) return "previous epoch above the epoch";
      if (m.index() > kMaxIndex ||
          static_cast<uint64_t>(m.entries_size()) > kMaxIndex - m.index()) {
        return "index beyond the limit";
      }
      if (m.index() == 0 && m.log_epoch() != 0) {
        return "previous entry 0 with an epoch";
      }
      uint64_t epoch = m.log_epoch();
      for (int i = 0; i < m.entries_size(); ++i) {
        const Entry& e = m.entries(i);
        if (e.index() != m.index() + 1 + i) return "entries not consecutive";
        if (e.epoch() < epoch || e.epoch() == 0 || e.epoch() > m.epoch()) {
          return "entry epochs out of order";
        }
        if (e.type() != ENTRY_NORMAL && e.type() != ENTRY_BARRIER) {
          return "unknown entry type";
        }
        epoch = e.epoch();
      }
      return nullptr;
    }
    case MSG_SNAPSHOT: {
      const SnapshotMeta& s = m.snapshot();
      if (s.index() == 0 || s.index() > kMaxIndex || s.epoch() == 0 ||
          s.epoch() > m.epoch() || m.index() != s.index() ||
          m.log_epoch() != s.epoch()) {
        return "snapshot index or epoch out of range";
      }
      if (s.size() > kMaxSnapshotBytes || m.offset() > s.size() ||
          m.chunk().size() > s.size() - m.offset()) {
        return "snapshot chunk outside the snapshot";
      }
      return nullptr;
    }
    case MSG_SNAPSHOT_RESP:
    case MSG_PRE_VOTE_RESP:
    case MSG_VOTE_RESP:
    case MSG_APPEND_RESP:
    case MSG_HEARTBEAT:
    case MSG_HEARTBEAT_RESP:
    case MSG_TIMEOUT_NOW:
      return nullptr;
    default:
      return "unknown message type";
  }
}

// Marks the vote requests of a campaign the leader asked for with TimeoutNow.
constexpr char kTransferContext[] = "transfer";

// splitmix64: tiny, deterministic, good enough for election jitter.
class ElectionJitter {
 public:
  explicit ElectionJitter(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

std::string EncodeRound(uint64_t round) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, round >>= 8)
    s[i] = static_cast<char>(round & 0xff);
  return s;
}

uint64_t DecodeRound(const std::string& s) {
  if (s.size() != 8) return 0;
  uint64_t round = 0;
  for (unsigned char c : s) round = (round << 8) | c;
  return round;
}

// A follower as the leader tracks it.
struct PeerProgress {
  uint64_t id = 0;
  uint64_t match = 0;
  uint64_t next = 1;
  bool replicating = false;
  // Snapshot state: the snapshot being sent, the next byte to send, the bytes
  // the follower confirmed, chunks in flight.
  bool snapshotting = false;
  SnapshotMeta snapshot;
  uint64_t snapshot_sent = 0;
  uint64_t snapshot_acked = 0;
  bool snapshot_started = false;  // a chunk was sent since the last (re)start
  int snapshot_inflight = 0;
  // Probe: one append outstanding until a response or heartbeat response
  // arrives.
  bool probe_sent = false;
  // Replicate: last index of each append in flight, in send order.
  std::deque<uint64_t> inflight;
  bool recent_active = false;   // heard from it in this check-quorum period
  uint64_t read_ack_round = 0;  // highest ReadIndex round it confirmed
  // Replicate: heartbeat responses seen in a row without the match index
  // moving.
  int stalled_heartbeats = 0;
  uint64_t match_at_heartbeat = 0;

  void BecomeProbe() {
    replicating = false;
    snapshotting = false;
    probe_sent = false;
    stalled_heartbeats = 0;
    inflight.clear();
    next = match + 1;
  }
  void BecomeReplicate() {
    replicating = true;
    snapshotting = false;
    probe_sent = false;
    stalled_heartbeats = 0;
    inflight.clear();
    next = match + 1;
  }
  void BecomeSnapshot(const SnapshotMeta& meta) {
    replicating = false;
    snapshotting = true;
    probe_sent = false;
    stalled_heartbeats = 0;
    inflight.clear();
    snapshot = meta;
    RestartSnapshot(0);
  }
  void RestartSnapshot(uint64_t offset) {
    snapshot_sent = std::min<uint64_t>(offset, snapshot.size());
    snapshot_acked = snapshot_sent;
    snapshot_started = false;
    snapshot_inflight = 0;
    stalled_heartbeats = 0;
  }
};

struct PendingRead {
  uint64_t index;
  std::string context;
  uint64_t round;
};

}  // namespace

class Node::Impl {
 public:
  Impl(const Config& config, const LogStore* store)
      : cfg_(config),
        voters_(config.voters),
        quorum_(config.voters.size() / 2 + 1),
        jitter_(config.seed * 0x100000001b3ULL ^ (config.id + 0x51ed27)),
        log_(store) {
    std::sort(voters_.begin(), voters_.end());
    voters_.erase(std::unique(voters_.begin(), voters_.end()), voters_.end());
    quorum_ = voters_.size() / 2 + 1;
    commit_quorum_ = std::clamp<size_t>(config.commit_quorum, quorum_,
                                        std::max<size_t>(voters_.size(), 1));
    epoch_ = config.hard_state.epoch();
    vote_ = config.hard_state.vote();
    // The durable commit may point past a log that lost its tail in a crash;
    // entries up to what the log holds are still committed ones
    // (hard_state.commit never exceeds what was persisted consistently when it
    // was handed out).
    commit_ = std::max(std::min(config.hard_state.commit(), log_.LastIndex()),
                       config.applied);
    applied_ = config.applied;
    last_hard_state_ = config.hard_state;
    // A transfer cut by a stop resumes; a complete one is installed now.
    if (config.staged_snapshot.index() > applied_) {
      receiving_.active = true;
      receiving_.meta = config.staged_snapshot;
      receiving_.received =
          std::min(config.staged_bytes, config.staged_snapshot.size());
      if (receiving_.received == receiving_.meta.size()) {
        receiving_.installing = true;
        install_ = receiving_.meta;
      }
    }
    ResetElectionTimeout();
  }

  // --- inputs ---

  void Tick() {
    if (role_ == Role::kLeader) {
      ++heartbeat_elapsed_;
      ++election_elapsed_;
      if (transferee_ != 0 && ++transfer_elapsed_ >= cfg_.election_ticks) {
        // The target did not take over within an election timeout (it is
        // down, cut off or too far behind): lead on and accept proposals.
        transferee_ = 0;
      }
      if (election_elapsed_ >= cfg_.election_ticks) {
        election_elapsed_ = 0;
        if (cfg_.check_quorum && !QuorumRecentlyActive()) {
          BecomeFollower(epoch_, 0);
          return;
        }
      }
      if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
        heartbeat_elapsed_ = 0;
        BroadcastHeartbeat();
      }
      return;
    }
    ++election_elapsed_;
    if (election_elapsed_ >= randomized_timeout_) {
      election_elapsed_ = 0;
      Hup();
    }
  }

  void Step(Message&& m) {
    if (m.from() == cfg_.id || !IsVoter(m.from())) return;
    if (m.to() != 0 && m.to() != cfg_.id) return;
    if (Malformed(m) != nullptr) {
      ++malformed_;
      return;
    }
    const MessageType type = m.type();
    if (m.epoch() > epoch_) {
      if (type == MSG_PRE_VOTE || type == MSG_VOTE) {
        // Leader stickiness: while we hear from a leader, a (pre)candidate
        // cannot disturb it (e.g. a replica rejoining after a partition with a
        // higher epoch).
        // A campaign the leader itself asked for (leadership transfer) is
        // the exception.
        const bool in_lease = cfg_.check_quorum && leader_ != 0 &&
                              election_elapsed_ < cfg_.election_ticks;
        if (in_lease && m.context() != kTransferContext) return;
      }
      if (type == MSG_PRE_VOTE) {
        // A pre-vote never changes our epoch.
      } else if (type == MSG_PRE_VOTE_RESP && !m.reject()) {
        // Granted pre-votes carry the epoch we would campaign in.
      } else if (type == MSG_APPEND || type == MSG_HEARTBEAT ||
                 type == MSG_SNAPSHOT) {
        BecomeFollower(m.epoch(), m.from());
      } else {
        BecomeFollower(m.epoch(), 0);
      }
    } else if (m.epoch() < epoch_) {
      if ((cfg_.check_quorum || cfg_.pre_vote) &&
          (type == MSG_APPEND || type == MSG_HEARTBEAT ||
           type == MSG_SNAPSHOT)) {
        // Fence the old leader: a response at our epoch makes it step down.
        Message resp;
        resp.set_type(MSG_APPEND_RESP);
        resp.set_to(m.from());
        resp.set_epoch(epoch_);
        Send(std::move(resp));
      } else if (type == MSG_PRE_VOTE) {
        Message resp;
        resp.set_type(MSG_PRE_VOTE_RESP);
        resp.set_to(m.from());
        resp.set_epoch(epoch_);
        resp.set_reject(true);
        Send(std::move(resp));
      }
      return;
    }

    if (type == MSG_PRE_VOTE || type == MSG_VOTE) {
      HandleVoteRequest(m);
      return;
    }
    switch (role_) {
      case Role::kLeader:
        StepLeader(m);
        break;
      case Role::kCandidate:
      case Role::kPreCandidate:
        StepCandidate(std::move(m));
        break;
      case Role::kFollower:
        StepFollower(std::move(m));
        break;
    }
  }

  std::optional<std::vector<ProposalPosition>> Propose(
      std::vector<Entry> entries) {
    if (role_ != Role::kLeader || transferee_ != 0) return std::nullopt;
    std::vector<ProposalPosition> positions;
    positions.reserve(entries.size());
    uint64_t index = log_.LastIndex();
    for (Entry& e : entries) {
      e.set_index(++index);
      e.set_epoch(epoch_);
      positions.push_back({index, epoch_});
    }
    if (entries.empty()) return positions;
    log_.TruncateAndAppend(std::move(entries));
    BroadcastAppend(/*send_if_empty=*/false);
    return positions;
  }

  void ReadIndex(std::string context) {
    if (role_ != Role::kLeader || !committed_in_current_epoch()) {
      dropped_reads_.push_back(std::move(context));
      return;
    }
    if (quorum_ == 1) {
      read_states_.push_back({commit_, std::move(context)});
      return;
    }
    pending_reads_.push_back({commit_, std::move(context), ++read_round_});
    BroadcastHeartbeat();
  }

  void OnPersisted(uint64_t index, uint64_t epoch) {
    log_.OnPersisted(index, epoch);
    if (role_ == Role::kLeader && MaybeCommit()) BroadcastCommit();
  }

  bool TransferLeadership(uint64_t target) {
    if (role_ != Role::kLeader) return false;
    if (target == cfg_.id) return true;  // already leads
    PeerProgress* pr = Peer(target);
    if (pr == nullptr) return false;
    transferee_ = target;
    transfer_elapsed_ = 0;
    if (pr->match == log_.LastIndex()) {
      SendTimeoutNow(target);
    } else {
      // Catch it up first; the acknowledgement of the last entry sends
      // TimeoutNow.
      SendAppend(*pr, true);
    }
    return true;
  }

  void SendTimeoutNow(uint64_t target) {
    Message m;
    m.set_type(MSG_TIMEOUT_NOW);
    m.set_to(target);
    m.set_epoch(epoch_);
    Send(std::move(m));
  }

  uint64_t transferee() const { return transferee_; }

  void Hup() {
    // An epoch at the limit is never raised (it cannot be reached by honest
    // elections in the life of the universe; only a poisoned hard state).
    if (role_ == Role::kLeader || epoch_ >= kMaxEpoch) return;
    // A node replacing its state with a snapshot cannot lead: its log is about
    // to change under it.
    if (receiving_.installing) return;
    if (cfg_.pre_vote) {
      BecomePreCandidate();
    } else {
      BecomeCandidate();
    }
  }

  // --- outputs ---

  bool HasReady() const {
    return !messages_.empty() || !after_persist_.empty() ||
           !read_states_.empty() || !dropped_reads_.empty() ||
           log_.HasUnhanded() || SoftStateChanged() || HardStateChanged() ||
           !chunks_.empty() || install_.has_value() ||
           applied_ < CommittedAndPersisted();
  }

  Ready TakeReady() {
    Ready rd;
    if (SoftStateChanged()) {
      last_soft_ = SoftState{leader_, role_};
      rd.soft_state = last_soft_;
    }
    if (HardStateChanged()) {
      last_hard_state_ = CurrentHardState();
      rd.hard_state = last_hard_state_;
    }
    rd.entries = log_.TakeUnhanded();
    rd.messages = std::move(messages_);
    messages_.clear();
    rd.after_persist = std::move(after_persist_);
    after_persist_.clear();
    const uint64_t hi = CommittedAndPersisted();
    if (applied_ < hi) {
      rd.committed =
          log_.Range(applied_ + 1, hi + 1, kMaxCommittedBytesPerReady);
      if (!rd.committed.empty()) applied_ = rd.committed.back().index();
    }
    rd.read_states = std::move(read_states_);
    read_states_.clear();
    rd.dropped_reads = std::move(dropped_reads_);
    dropped_reads_.clear();
    rd.snapshot_chunks = std::move(chunks_);
    chunks_.clear();
    rd.install_snapshot = std::move(install_);
    install_.reset();
    return rd;
  }

  // --- accessors ---

  uint64_t id() const { return cfg_.id; }
  uint64_t epoch() const { return epoch_; }
  uint64_t leader() const { return leader_; }
  Role role() const { return role_; }
  uint64_t commit_index() const { return commit_; }
  uint64_t last_index() const { return log_.LastIndex(); }
  uint64_t last_persisted_index() const { return log_.persisted(); }
  uint64_t malformed_messages() const { return malformed_; }
  size_t commit_quorum() const { return commit_quorum_; }
  bool committed_in_current_epoch() const {
    return role_ == Role::kLeader && log_.EpochAt(commit_) == epoch_;
  }
  std::vector<Progress> progress() const {
    std::vector<Progress> out;
    if (role_ != Role::kLeader) return out;
    for (const PeerProgress& pr : peers_) {
      Progress p;
      p.id = pr.id;
      p.match = pr.match;
      p.next = pr.next;
      p.replicating = pr.replicating;
      p.state = pr.snapshotting  ? ProgressState::kSnapshot
                : pr.replicating ? ProgressState::kReplicate
                                 : ProgressState::kProbe;
      p.snapshot_index = pr.snapshotting ? pr.snapshot.index() : 0;
      p.snapshot_acked = pr.snapshotting ? pr.snapshot_acked : 0;
      out.push_back(p);
    }
    return out;
  }

  bool installing_snapshot() const { return receiving_.installing; }

  void OnSnapshotInstalled(const SnapshotMeta& meta) {
    if (!receiving_.installing || !SameSnapshot(meta, receiving_.meta)) return;
    receiving_ = Receiving();
    log_.Restore();
    commit_ = std::max(commit_, meta.index());
    applied_ = std::max(applied_, meta.index());
    if (role_ == Role::kFollower && leader_ != 0) {
      Message resp;
      resp.set_type(MSG_APPEND_RESP);
      resp.set_to(leader_);
      resp.set_epoch(epoch_);
      resp.set_index(log_.LastIndex());
      Send(std::move(resp));
    }
  }

  void OnSnapshotRejected(const SnapshotMeta& meta) {
    if (!receiving_.installing || !SameSnapshot(meta, receiving_.meta)) return;
    receiving_ = Receiving();
    if (role_ == Role::kFollower && leader_ != 0) {
      // Ask for it again from the start.
      Message resp;
      resp.set_type(MSG_SNAPSHOT_RESP);
      resp.set_to(leader_);
      resp.set_epoch(epoch_);
      resp.set_index(meta.index());
      resp.set_log_epoch(meta.epoch());
      resp.set_offset(0);
      resp.set_reject(true);
      Send(std::move(resp));
    }
  }

 private:
  // --- role transitions ---

  void BecomeFollower(uint64_t epoch, uint64_t leader) {
    if (epoch != epoch_) {
      epoch_ = epoch;
      vote_ = 0;
    }
    role_ = Role::kFollower;
    leader_ = leader;
    transferee_ = 0;
    ResetTimers();
    peers_.clear();
    DropPendingReads();
  }

  void BecomePreCandidate() {
    role_ = Role::kPreCandidate;
    leader_ = 0;
    ResetTimers();
    DropPendingReads();
    StartPoll(MSG_PRE_VOTE, epoch_ + 1);
  }

  void BecomeCandidate() {
    role_ = Role::kCandidate;
    ++epoch_;
    vote_ = cfg_.id;
    leader_ = 0;
    ResetTimers();
    DropPendingReads();
    StartPoll(MSG_VOTE, epoch_);
  }

  void BecomeLeader() {
    role_ = Role::kLeader;
    leader_ = cfg_.id;
    transferee_ = 0;
    ResetTimers();
    peers_.clear();
    const uint64_t last = log_.LastIndex();
    for (uint64_t v : voters_) {
      if (v == cfg_.id) continue;
      PeerProgress pr;
      pr.id = v;
      pr.next = last + 1;
      peers_.push_back(std::move(pr));
    }
    // The barrier lets this leader commit (and so serve reads) in its own
    // epoch, which also commits every earlier entry it holds (Raft §5.4.2).
    Entry barrier;
    barrier.set_type(ENTRY_BARRIER);
    std::vector<Entry> entries;
    entries.push_back(std::move(barrier));
    Propose(std::move(entries));
    if (commit_quorum_ == 1) MaybeCommit();
  }

  void StartPoll(MessageType type, uint64_t epoch) {
    votes_.clear();
    votes_.push_back({cfg_.id, true});
    if (CountVotes(true) >= quorum_) {
      WinPoll();
      return;
    }
    for (uint64_t v : voters_) {
      if (v == cfg_.id) continue;
      Message m;
      m.set_type(type);
      m.set_to(v);
      m.set_epoch(epoch);
      m.set_index(log_.LastIndex());
      m.set_log_epoch(log_.LastEpoch());
      if (transfer_campaign_) m.set_context(kTransferContext);
      Send(std::move(m));
    }
  }

  void WinPoll() {
    if (role_ == Role::kPreCandidate) {
      BecomeCandidate();
    } else {
      BecomeLeader();
    }
  }

  size_t CountVotes(bool granted) const {
    size_t n = 0;
    for (const auto& [id, g] : votes_) n += (g == granted);
    return n;
  }

  // --- message handling ---

  void HandleVoteRequest(const Message& m) {
    const bool pre = m.type() == MSG_PRE_VOTE;
    const bool can_vote = vote_ == m.from() || (vote_ == 0 && leader_ == 0) ||
                          (pre && m.epoch() > epoch_);
    Message resp;
    resp.set_type(pre ? MSG_PRE_VOTE_RESP : MSG_VOTE_RESP);
    resp.set_to(m.from());
    if (can_vote && log_.IsUpToDate(m.log_epoch(), m.index())) {
      resp.set_epoch(m.epoch());
      if (!pre) {
        election_elapsed_ = 0;
        vote_ = m.from();
      }
    } else {
      resp.set_epoch(epoch_);
      resp.set_reject(true);
    }
    Send(std::move(resp));
  }

  void StepFollower(Message&& m) {
    switch (m.type()) {
      case MSG_APPEND:
        election_elapsed_ = 0;
        leader_ = m.from();
        HandleAppend(std::move(m));
        break;
      case MSG_HEARTBEAT:
        election_elapsed_ = 0;
        leader_ = m.from();
        HandleHeartbeat(m);
        break;
      case MSG_SNAPSHOT:
        election_elapsed_ = 0;
        leader_ = m.from();
        HandleSnapshot(std::move(m));
        break;
      case MSG_TIMEOUT_NOW:
        // Our leader asks us to take over: campaign now, without a pre-vote
        // (the others would refuse one while they hear from the leader), with
        // votes marked so that their lease check lets them through.
        if (m.from() != leader_ || receiving_.installing ||
            epoch_ >= kMaxEpoch) {
          break;
        }
        transfer_campaign_ = true;
        BecomeCandidate();
        transfer_campaign_ = false;
        break;
      default:
        break;  // stale responses
    }
  }

  void StepCandidate(Message&& m) {
    switch (m.type()) {
      case MSG_APPEND:
        BecomeFollower(epoch_, m.from());
        HandleAppend(std::move(m));
        return;
      case MSG_HEARTBEAT:
        BecomeFollower(epoch_, m.from());
        HandleHeartbeat(m);
        return;
      case MSG_SNAPSHOT:
        BecomeFollower(epoch_, m.from());
        HandleSnapshot(std::move(m));
        return;
      case MSG_PRE_VOTE_RESP:
      case MSG_VOTE_RESP: {
        const MessageType wanted =
            role_ == Role::kPreCandidate ? MSG_PRE_VOTE_RESP : MSG_VOTE_RESP;
        if (m.type() != wanted) return;
        bool known = false;
        for (const auto& [id, g] : votes_) known |= (id == m.from());
        if (!known) votes_.push_back({m.from(), !m.reject()});
        if (CountVotes(true) >= quorum_) {
          WinPoll();
        } else if (CountVotes(false) >= quorum_) {
          BecomeFollower(epoch_, 0);
        }
        return;
      }
      default:
        return;
    }
  }

  void HandleAppend(Message&& m) {
    // The log is about to be replaced by a snapshot: nothing appended now
    // could be kept. The leader retries after the install is acknowledged.
    if (receiving_.installing) return;
    Message resp;
    resp.set_type(MSG_APPEND_RESP);
    resp.set_to(m.from());
    resp.set_epoch(epoch_);
    if (m.index() < commit_) {
      resp.set_index(std::min(commit_, log_.LastIndex()));
      Send(std::move(resp));
      return;
    }
    if (!log_.Matches(m.index(), m.log_epoch())) {
      const auto [hint, hint_epoch] = log_.FindConflictByEpoch(
          std::min(m.index(), log_.LastIndex()), m.log_epoch());
      resp.set_index(m.index());
      resp.set_reject(true);
      resp.set_reject_hint(hint);
      resp.set_hint_epoch(hint_epoch);
      Send(std::move(resp));
      return;
    }
    const uint64_t last_new = m.index() + m.entries_size();
    int first_new = m.entries_size();
    for (int i = 0; i < m.entries_size(); ++i) {
      const Entry& e = m.entries(i);
      if (!log_.Matches(e.index(), e.epoch())) {
        first_new = i;
        break;
      }
    }
    if (first_new < m.entries_size()) {
      // A committed entry is never overwritten: a message asking for it did
      // not come from a correct leader, and is dropped unanswered.
      if (m.entries(first_new).index() <= commit_) {
        ++malformed_;
        return;
      }
      std::vector<Entry> entries;
      entries.reserve(m.entries_size() - first_new);
      auto* field = m.mutable_entries();
      for (int i = first_new; i < field->size(); ++i) {
        entries.push_back(std::move(*field->Mutable(i)));
      }
      log_.TruncateAndAppend(std::move(entries));
    }
    commit_ = std::max(commit_, std::min(m.commit(), last_new));
    if (m.commit_only() && m.entries_size() == 0) return;
    resp.set_index(last_new);
    Send(std::move(resp));
  }

  void HandleHeartbeat(const Message& m) {
    // The leader sends at most our match index as commit.
    commit_ = std::max(commit_, std::min(m.commit(), log_.LastIndex()));
    Message resp;
    resp.set_type(MSG_HEARTBEAT_RESP);
    resp.set_to(m.from());
    resp.set_epoch(epoch_);
    resp.set_context(m.context());
    Send(std::move(resp));
  }

  void HandleSnapshot(Message&& m) {
    const SnapshotMeta& meta = m.snapshot();
    if (receiving_.installing) return;  // answered once installed
    if (meta.index() <= commit_ || log_.Matches(meta.index(), meta.epoch())) {
      // Nothing to install: the log already holds (or the state already
      // reflects) every entry the snapshot covers.
      if (log_.Matches(meta.index(), meta.epoch())) {
        commit_ = std::max(commit_, meta.index());
      }
      Message resp;
      resp.set_type(MSG_APPEND_RESP);
      resp.set_to(m.from());
      resp.set_epoch(epoch_);
      resp.set_index(
          log_.Matches(meta.index(), meta.epoch())
              ? std::max(meta.index(), std::min(commit_, log_.LastIndex()))
              : std::min(commit_, log_.LastIndex()));
      Send(std::move(resp));
      return;
    }
    Message resp;
    resp.set_type(MSG_SNAPSHOT_RESP);
    resp.set_to(m.from());
    resp.set_epoch(epoch_);
    resp.set_index(meta.index());
    resp.set_log_epoch(meta.epoch());
    const bool same = receiving_.active && SameSnapshot(receiving_.meta, meta);
    if (!same) {
      if (m.offset() != 0) {
        // Another snapshot than the one staged here: start it over.
        resp.set_offset(0);
        resp.set_reject(true);
        Send(std::move(resp));
        return;
      }
      receiving_ = Receiving();
      receiving_.active = true;
      receiving_.meta = meta;
    }
    if (m.offset() != receiving_.received) {
      // A duplicate (acknowledge what is held) or a gap (resume from there).
      resp.set_offset(receiving_.received);
      resp.set_reject(m.offset() > receiving_.received);
      Send(std::move(resp));
      return;
    }
    const uint64_t len = m.chunk().size();
    chunks_.push_back({meta, m.offset(), std::move(*m.mutable_chunk())});
    receiving_.received += len;
    if (receiving_.received == meta.size()) {
      receiving_.installing = true;
      install_ = meta;
      return;  // OnSnapshotInstalled answers
    }
    resp.set_offset(receiving_.received);
    Send(std::move(resp));
  }

  void StepLeader(const Message& m) {
    PeerProgress* pr = Peer(m.from());
    if (pr == nullptr) return;
    switch (m.type()) {
      case MSG_APPEND_RESP:
        // A follower can only acknowledge entries this leader holds.
        if (!m.reject() && m.index() > log_.LastIndex()) {
          ++malformed_;
          return;
        }
        pr->recent_active = true;
        HandleAppendResponse(*pr, m);
        break;
      case MSG_SNAPSHOT_RESP:
        pr->recent_active = true;
        HandleSnapshotResponse(*pr, m);
        break;
      case MSG_HEARTBEAT_RESP:
        pr->recent_active = true;
        ResumeReplication(*pr);
        if (const uint64_t round = DecodeRound(m.context()); round > 0) {
          pr->read_ack_round = std::max(pr->read_ack_round, round);
          ReleaseConfirmedReads();
        }
        break;
      default:
        break;
    }
  }

  void HandleSnapshotResponse(PeerProgress& pr, const Message& m) {
    if (!pr.snapshotting || m.index() != pr.snapshot.index() ||
        m.log_epoch() != pr.snapshot.epoch()) {
      return;  // stale
    }
    if (m.reject()) {
      pr.RestartSnapshot(m.offset());
    } else {
      pr.snapshot_acked = std::max(pr.snapshot_acked, m.offset());
      pr.snapshot_sent = std::max(pr.snapshot_sent, pr.snapshot_acked);
      if (pr.snapshot_inflight > 0) --pr.snapshot_inflight;
      pr.stalled_heartbeats = 0;
    }
    while (SendSnapshot(pr)) {
    }
  }

  void HandleAppendResponse(PeerProgress& pr, const Message& m) {
    if (pr.snapshotting) {
      // Only an acknowledgement of the snapshot's last entry (the install is
      // done) or beyond ends the snapshot state.
      if (m.reject() || m.index() < pr.snapshot.index()) {
        if (!m.reject() && m.index() > pr.match) pr.match = m.index();
        return;
      }
      pr.match = std::max(pr.match, m.index());
      pr.BecomeReplicate();
      if (MaybeCommit()) BroadcastCommit();
      while (SendAppend(pr, false)) {
      }
      return;
    }
    if (m.reject()) {
      uint64_t hint = m.reject_hint();
      if (m.hint_epoch() > 0) {
        hint = log_.FindConflictByEpoch(hint, m.hint_epoch()).first;
      }
      const uint64_t rejected = m.index();
      if (pr.replicating) {
        if (rejected <= pr.match) return;  // stale
        pr.BecomeProbe();
      } else {
        if (pr.next == 0 || pr.next - 1 != rejected) return;  // stale
        if (hint < pr.match) {
          // The follower no longer holds entries it acknowledged (its disk
          // lost a tail): stop counting them, and refill it from its hint
          // instead of probing at the old match forever.
          pr.match = hint;
        }
        pr.next = std::max(std::min(rejected, hint + 1), pr.match + 1);
        pr.probe_sent = false;
      }
      SendAppend(pr, true);
      return;
    }
    const bool was_paused = Paused(pr);
    bool updated = false;
    if (pr.match < m.index()) {
      pr.match = m.index();
      updated = true;
    }
    pr.next = std::max(pr.next, m.index() + 1);
    if (!updated) return;
    if (!pr.replicating) {
      pr.BecomeReplicate();
    } else {
      while (!pr.inflight.empty() && pr.inflight.front() <= m.index()) {
        pr.inflight.pop_front();
      }
    }
    if (pr.id == transferee_ && pr.match == log_.LastIndex()) {
      SendTimeoutNow(pr.id);
    }
    if (MaybeCommit()) {
      BroadcastCommit();
    } else if (was_paused) {
      SendAppend(pr, false);
    }
    // Keep the pipeline full while there is more to send.
    while (SendAppend(pr, false)) {
    }
  }

  // --- replication ---

  // On a heartbeat response: restart a follower's replication if it stopped. In
  // probe state the outstanding probe may be lost, so probe again. In replicate
  // state the appends in flight are normally only slow (ordered streams, slow
  // disks), so nothing is resent while they make progress; when
  // acknowledgements stop for several heartbeats, they are presumed lost and
  // the follower is probed from its match index.
  void ResumeReplication(PeerProgress& pr) {
    const uint64_t last = log_.LastIndex();
    if (pr.snapshotting) {
      // Chunks (or the install's acknowledgement) lost: resend from what the
      // follower confirmed; once everything is confirmed, the last byte, which
      // an installed follower answers with its match.
      const bool waiting =
          pr.snapshot_started && (pr.snapshot_sent > pr.snapshot_acked ||
                                  pr.snapshot_acked >= pr.snapshot.size());
      if (waiting && pr.snapshot_acked == pr.match_at_heartbeat) {
        if (++pr.stalled_heartbeats >= std::max(2, cfg_.election_ticks / 2)) {
          const uint64_t size = pr.snapshot.size();
          pr.RestartSnapshot(pr.snapshot_acked >= size && size > 0
                                 ? size - 1
                                 : pr.snapshot_acked);
          while (SendSnapshot(pr)) {
          }
        }
      } else {
        pr.stalled_heartbeats = 0;
        while (SendSnapshot(pr)) {
        }
      }
      pr.match_at_heartbeat = pr.snapshot_acked;
      return;
    }
    if (!pr.replicating) {
      pr.probe_sent = false;
      if (pr.match < last) SendAppend(pr, true);
      return;
    }
    if (pr.inflight.empty()) {
      pr.stalled_heartbeats = 0;
      if (pr.match < last) SendAppend(pr, true);
    } else if (pr.match == pr.match_at_heartbeat) {
      if (++pr.stalled_heartbeats >= std::max(2, cfg_.election_ticks / 2)) {
        pr.BecomeProbe();
        SendAppend(pr, true);
      }
    } else {
      pr.stalled_heartbeats = 0;
    }
    pr.match_at_heartbeat = pr.match;
  }

  bool Paused(const PeerProgress& pr) const {
    if (pr.snapshotting) return true;
    if (pr.replicating) {
      return pr.inflight.size() >=
             static_cast<size_t>(cfg_.max_inflight_messages);
    }
    return pr.probe_sent;
  }

  bool SendAppend(PeerProgress& pr, bool send_if_empty,
                  bool commit_only = false) {
    if (pr.snapshotting) return SendSnapshot(pr);
    if (Paused(pr)) return false;
    const uint64_t last = log_.LastIndex();
    if (pr.next > last + 1) pr.next = last + 1;
    if (pr.next < log_.FirstIndex()) {
      // The entries it needs were compacted: send the snapshot instead.
      const SnapshotMeta snap = log_.store()->Snapshot();
      if (snap.index() == 0 || snap.index() + 1 < log_.FirstIndex()) {
        return false;  // the caller broke the LogStore contract
      }
      pr.BecomeSnapshot(snap);
      return SendSnapshot(pr);
    }
    Message m;
    m.set_type(MSG_APPEND);
    m.set_to(pr.id);
    m.set_epoch(epoch_);
    m.set_index(pr.next - 1);
    m.set_log_epoch(log_.EpochAt(pr.next - 1));
    m.set_commit(commit_);
    log_.AppendRange(pr.next, last + 1, cfg_.max_entries_per_message,
                     cfg_.max_bytes_per_message, m.mutable_entries());
    if (m.entries_size() == 0 && !send_if_empty) return false;
    if (m.entries_size() == 0 && commit_only && pr.replicating) {
      m.set_commit_only(true);
    }
    if (m.entries_size() > 0 && pr.replicating) {
      const uint64_t sent_last = m.entries(m.entries_size() - 1).index();
      pr.next = sent_last + 1;
      pr.inflight.push_back(sent_last);
    } else if (!pr.replicating) {
      pr.probe_sent = true;
    }
    Send(std::move(m));
    return true;
  }

  // Sends the next chunk of the snapshot to a follower in snapshot state,
  // within the in-flight limit. When the snapshot was replaced by a newer one,
  // that one is sent from the start.
  bool SendSnapshot(PeerProgress& pr) {
    if (!pr.snapshotting) return false;
    if (pr.snapshot_inflight >= std::min(cfg_.max_inflight_messages,
                                         cfg_.max_inflight_snapshot_chunks)) {
      return false;
    }
    if (pr.snapshot_started && pr.snapshot_sent >= pr.snapshot.size()) {
      return false;  // all sent: the follower installs, then acknowledges
    }
    std::string chunk;
    if (!log_.store()->ReadSnapshot(pr.snapshot, pr.snapshot_sent,
                                    cfg_.max_bytes_per_message, &chunk)) {
      const SnapshotMeta now = log_.store()->Snapshot();
      if (now.index() == 0 || SameSnapshot(now, pr.snapshot)) return false;
      pr.BecomeSnapshot(now);
      if (!log_.store()->ReadSnapshot(pr.snapshot, 0,
                                      cfg_.max_bytes_per_message, &chunk)) {
        return false;
      }
    }
    if (chunk.size() > pr.snapshot.size() - pr.snapshot_sent) return false;
    if (chunk.empty() && pr.snapshot_sent < pr.snapshot.size()) return false;
    Message m;
    m.set_type(MSG_SNAPSHOT);
    m.set_to(pr.id);
    m.set_epoch(epoch_);
    m.set_index(pr.snapshot.index());
    m.set_log_epoch(pr.snapshot.epoch());
    *m.mutable_snapshot() = pr.snapshot;
    m.set_offset(pr.snapshot_sent);
    pr.snapshot_sent += chunk.size();
    pr.snapshot_started = true;
    ++pr.snapshot_inflight;
    m.set_chunk(std::move(chunk));
    Send(std::move(m));
    return true;
  }

  void BroadcastAppend(bool send_if_empty) {
    for (PeerProgress& pr : peers_) SendAppend(pr, send_if_empty);
  }

  // After the commit index moved: every follower learns it, with the entries
  // it still lacks or in an empty append that needs no answer.
  void BroadcastCommit() {
    for (PeerProgress& pr : peers_) {
      SendAppend(pr, /*send_if_empty=*/true, /*commit_only=*/true);
    }
  }

  void BroadcastHeartbeat() {
    const std::string context =
        pending_reads_.empty() ? std::string() : EncodeRound(read_round_);
    for (const PeerProgress& pr : peers_) {
      Message m;
      m.set_type(MSG_HEARTBEAT);
      m.set_to(pr.id);
      m.set_epoch(epoch_);
      m.set_commit(std::min(commit_, pr.match));
      m.set_context(context);
      Send(std::move(m));
    }
  }

  bool MaybeCommit() {
    match_scratch_.clear();
    match_scratch_.push_back(log_.persisted());
    for (const PeerProgress& pr : peers_) match_scratch_.push_back(pr.match);
    std::sort(match_scratch_.begin(), match_scratch_.end(), std::greater<>());
    const uint64_t index = match_scratch_[commit_quorum_ - 1];
    // Only entries of our own epoch commit by counting (Raft §5.4.2); earlier
    // ones commit with them.
    if (index <= commit_ || log_.EpochAt(index) != epoch_) return false;
    commit_ = index;
    return true;
  }

  bool QuorumRecentlyActive() {
    size_t active = 1;
    for (PeerProgress& pr : peers_) {
      active += pr.recent_active;
      pr.recent_active = false;
    }
    return active >= quorum_;
  }

  void ReleaseConfirmedReads() {
    while (!pending_reads_.empty()) {
      const uint64_t round = pending_reads_.front().round;
      size_t acks = 1;
      for (const PeerProgress& pr : peers_) acks += pr.read_ack_round >= round;
      if (acks < quorum_) return;
      read_states_.push_back({pending_reads_.front().index,
                              std::move(pending_reads_.front().context)});
      pending_reads_.pop_front();
    }
  }

  void DropPendingReads() {
    for (PendingRead& r : pending_reads_)
      dropped_reads_.push_back(std::move(r.context));
    pending_reads_.clear();
  }

  // --- plumbing ---

  void Send(Message&& m) {
    m.set_from(cfg_.id);
    const MessageType type = m.type();
    // Votes, vote requests and append acknowledgements promise durable state;
    // so does anything sent while a new epoch or vote is not yet handed out for
    // persistence.
    const bool needs_persist =
        type == MSG_VOTE || type == MSG_VOTE_RESP || type == MSG_APPEND_RESP ||
        type == MSG_SNAPSHOT_RESP || epoch_ != last_hard_state_.epoch() ||
        vote_ != last_hard_state_.vote();
    (needs_persist ? after_persist_ : messages_).push_back(std::move(m));
  }

  PeerProgress* Peer(uint64_t id) {
    for (PeerProgress& pr : peers_) {
      if (pr.id == id) return &pr;
    }
    return nullptr;
  }

  bool IsVoter(uint64_t id) const {
    return std::binary_search(voters_.begin(), voters_.end(), id);
  }

  void ResetTimers() {
    election_elapsed_ = 0;
    heartbeat_elapsed_ = 0;
    ResetElectionTimeout();
  }

  void ResetElectionTimeout() {
    const int base = std::max(cfg_.election_ticks, 1);
    randomized_timeout_ = base + static_cast<int>(jitter_.Next() % base);
  }

  uint64_t CommittedAndPersisted() const {
    return std::min(commit_, log_.persisted());
  }

  HardState CurrentHardState() const {
    HardState hs;
    hs.set_epoch(epoch_);
    hs.set_vote(vote_);
    // Only a commit index whose entries are durable here: a restart must never
    // find a commit index pointing at entries it has not got (or has stale
    // versions of).
    hs.set_commit(std::max(last_hard_state_.commit(), CommittedAndPersisted()));
    return hs;
  }

  bool HardStateChanged() const {
    return epoch_ != last_hard_state_.epoch() ||
           vote_ != last_hard_state_.vote() ||
           CommittedAndPersisted() > last_hard_state_.commit();
  }

  bool SoftStateChanged() const {
    return last_soft_.leader != leader_ || last_soft_.role != role_;
  }

  Config cfg_;
  std::vector<uint64_t> voters_;
  size_t quorum_;         // a majority: elections, check-quorum, reads
  size_t commit_quorum_;  // entries commit once durable on this many
  ElectionJitter jitter_;
  RaftLog log_;

  uint64_t epoch_ = 0;
  uint64_t vote_ = 0;
  uint64_t commit_ = 0;
  uint64_t applied_ = 0;  // committed entries handed out through here
  uint64_t leader_ = 0;
  Role role_ = Role::kFollower;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  // Leader: the voter it hands leadership to (0: none) and for how many ticks.
  uint64_t transferee_ = 0;
  int transfer_elapsed_ = 0;
  // Candidate: this campaign was asked for by the leader (TimeoutNow).
  bool transfer_campaign_ = false;

  std::vector<std::pair<uint64_t, bool>> votes_;
  std::vector<PeerProgress> peers_;
  std::vector<uint64_t> match_scratch_;
  std::deque<PendingRead> pending_reads_;
  uint64_t read_round_ = 0;
  uint64_t malformed_ = 0;

  // Follower: the snapshot being received.
  struct Receiving {
    bool active = false;
    SnapshotMeta meta;
    uint64_t received = 0;    // bytes handed out in snapshot_chunks
    bool installing = false;  // complete, handed out for install
  };
  Receiving receiving_;
  std::vector<SnapshotChunk> chunks_;
  std::optional<SnapshotMeta> install_;

  std::vector<Message> messages_;
  std::vector<Message> after_persist_;
  std::vector<ReadState> read_states_;
  std::vector<std::string> dropped_reads_;
  HardState last_hard_state_;
  SoftState last_soft_;
};

Node::Node(const Config& config, const LogStore* log)
    : impl_(std::make_unique<Impl>(config, log)) {}
Node::~Node() = default;

void Node::Tick() { impl_->Tick(); }
void Node::Step(const Message& message) { impl_->Step(Message(message)); }
void Node::Step(Message&& message) { impl_->Step(std::move(message)); }
std::optional<std::vector<ProposalPosition>> Node::Propose(
    std::vector<Entry> entries) {
  return impl_->Propose(std::move(entries));
}
void Node::ReadIndex(std::string context) {
  impl_->ReadIndex(std::move(context));
}
void Node::OnPersisted(uint64_t index, uint64_t epoch) {
  impl_->OnPersisted(index, epoch);
}
void Node::Campaign() { impl_->Hup(); }
bool Node::TransferLeadership(uint64_t target) {
  return impl_->TransferLeadership(target);
}
uint64_t Node::transferee() const { return impl_->transferee(); }
void Node::OnSnapshotInstalled(const SnapshotMeta& meta) {
  impl_->OnSnapshotInstalled(meta);
}
void Node::OnSnapshotRejected(const SnapshotMeta& meta) {
  impl_->OnSnapshotRejected(meta);
}
bool Node::installing_snapshot() const { return impl_->installing_snapshot(); }
bool Node::HasReady() const { return impl_->HasReady(); }
Ready Node::TakeReady() { return impl_->TakeReady(); }
uint64_t Node::id() const { return impl_->id(); }
uint64_t Node::epoch() const { return impl_->epoch(); }
uint64_t Node::leader() const { return impl_->leader(); }
Role Node::role() const { return impl_->role(); }
uint64_t Node::commit_index() const { return impl_->commit_index(); }
uint64_t Node::last_index() const { return impl_->last_index(); }
uint64_t Node::last_persisted_index() const {
  return impl_->last_persisted_index();
}
size_t Node::commit_quorum() const { return impl_->commit_quorum(); }
uint64_t Node::malformed_messages() const {
  return impl_->malformed_messages();
}
std::vector<Progress> Node::progress() const { return impl_->progress(); }
bool Node::committed_in_current_epoch() const {
  return impl_->committed_in_current_epoch();
}

}  // namespace report::consensus
