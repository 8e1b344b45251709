#include "replica/server/replica.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/fingerprint.h"
#include "common/placement.h"
#include "common/receipt.h"
#include "common/validation.h"
#include "glog/logging.h"
#include "replica/consensus/node.h"
#include "replica/server/cluster_clock.h"
#include "replica/server/peer_transport.h"
#include "replica/server/proposal_tracker.h"
#include "replica/state_machine/report_state_machine.h"
#include "replica/storage/log_writer.h"
#include "replica/storage/replica_store.h"

namespace report {
namespace {

using consensus::Entry;
using Clock = std::chrono::steady_clock;

// Watchers replay at most this many recent changes; one that falls further
// behind restarts from its catch-up scan.
constexpr size_t kRecentEvents = 16384;

// Most submits one SubmitBatch call may carry.
constexpr int kMaxSubmitBatch = 1024;

uint64_t WallMs() {
  return static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
}

Clock::time_point ToSteady(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
  if (left > absl::Hours(1)) left = absl::Hours(1);
  return Clock::now() + absl::ToChronoNanoseconds(left);
}

struct ReadWaiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;
  uint64_t index = 0;
};

const char* RoleText(consensus::Role role) {
  switch (role) {
    case consensus::Role::kLeader:
      return "leader";
    case consensus::Role::kCandidate:
      return "candidate";
    case consensus::Role::kPreCandidate:
      return "pre-candidate";
    case consensus::Role::kFollower:
      break;
  }
  return "follower";
}

}  // namespace

class Replica::Impl {
 public:
  explicit Impl(ReplicaOptions options) : options_(std::move(options)) {}

  ~Impl() { Shutdown(); }

  absl::Status Open() {
    auto placement = Placement::FromClusterConfig(options_.cluster);
    if (!placement.ok()) return placement.status();
    placement_ = std::make_unique<Placement>(*std::move(placement));
    const Member* self = nullptr;
    for (const Member& member : options_.cluster.members()) {
      if (member.id() == options_.id) self = &member;
      members_[member.id()] = member;
    }
    if (self == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat("replica id ", options_.id,
                                    " is not a member of cluster ",
                                    options_.cluster.cluster_id()));
    }
    if (self->domain() != options_.domain) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          absl::StrCat("--domain ", options_.domain, " does not match member ",
                       self->name(), "'s domain ", self->domain()));
    }
    self_ = *self;

    auto store = storage::ReplicaStore::Open(
        options_.data_dir, options_.cluster.cluster_id(), options_.id);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    state_machine_ = std::make_unique<ReportStateMachine>(store_->db());
    if (options_.metrics != nullptr)
      state_machine_->ExportMetrics(options_.metrics);
    applied_ = state_machine_->applied_index();
    recent_from_ = applied_ + 1;
    // Recovery cuts a damaged log tail. Below the applied index that means this
    // replica lost entries it acknowledged: as a voter it would report a match
    // it no longer has (and the leader would count it), so it does not start.
    if (const uint64_t last = store_->log().LastIndex(); last < applied_) {
      return MakeError(
          ErrorCode::kInternal,
          absl::StrCat(
              "refusing to start: the log in ", options_.data_dir,
              " ends at index ", last, " but the state machine applied ",
              applied_,
              " (the log was damaged and cut below what this "
              "replica acknowledged); move the data dir aside and start the "
              "replica on an empty one to rejoin (docs/STORAGE.md)"));
    }

    consensus::Config config;
    config.id = options_.id;
    for (const Member& member : options_.cluster.members()) {
      config.voters.push_back(member.id());
    }
    // The profile's quorum is the commit quorum (never below a majority: the
    // placement loader refuses one).
    config.commit_quorum = static_cast<uint32_t>(placement_->quorum());
    config.election_ticks = options_.election_ticks;
    config.heartbeat_ticks = options_.heartbeat_ticks;
    config.seed =
        std::random_device{}() ^ (options_.id * 0x9E3779B97F4A7C15ULL);
    config.hard_state = store_->LoadHardState();
    // Applied entries were committed, even if the commit index persisted with
    // the hard state lags behind the (unsynced) apply batch that covered them.
    config.hard_state.set_commit(
        std::max(config.hard_state.commit(), applied_));
    config.applied = applied_;
    persisted_epoch_ = config.hard_state.epoch();
    persisted_vote_ = config.hard_state.vote();
    node_ = std::make_unique<consensus::Node>(config, &store_->log());
    // Cluster time never runs backwards, even if this replica's clock is behind
    // the leader that stamped the newest command it holds.
    clock_.Observe(NewestStamp(store_->log()));
    LOG(INFO) << "replica " << options_.id
              << " recovered: epoch=" << config.hard_state.epoch()
              << " vote=" << config.hard_state.vote()
              << " commit=" << config.hard_state.commit()
              << " applied=" << applied_
              << " last=" << store_->log().LastIndex();

    writer_ =
        std::make_unique<storage::LogWriter>(store_.get(), options_.metrics);
    transport_ = std::make_unique<PeerTransport>(
        options_.cluster.cluster_id(), options_.id,
        std::vector<Member>(options_.cluster.members().begin(),
                            options_.cluster.members().end()));
    driver_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "driver");
      DriverLoop();
    });
    return absl::OkStatus();
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      driver_cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(applied_mu_);
      applied_cv_.notify_all();
    }
    if (driver_.joinable()) driver_.join();
    if (transport_) transport_->Stop();
    writer_.reset();  // drains and joins the writer thread
    FailAllPending(
        MakeError(ErrorCode::kCommitUnknown, "replica shutting down"));
  }

  void StepBatch(const consensus::MessageBatch& batch) {
    if (batch.cluster_id() != options_.cluster.cluster_id() ||
        members_.count(batch.from()) == 0 || batch.from() == options_.id) {
      LOG_EVERY_N(WARNING, 100)
          << "dropping messages from unknown sender " << batch.from()
          << " of cluster '" << batch.cluster_id() << "'";
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    const uint64_t malformed = node_->malformed_messages();
    for (const consensus::Message& message : batch.messages()) {
      if (message.from() != batch.from() || message.to() != options_.id)
        continue;
      if (message.type() == consensus::MSG_APPEND) {
        clock_.ObserveEntries(message.entries());
      }
      node_->Step(message);
    }
    if (node_->malformed_messages() != malformed) {
      LOG_EVERY_N(WARNING, 100)
          << "dropped malformed consensus messages from replica "
          << batch.from() << " (" << node_->malformed_messages()
          << " so far): entries out of order, an epoch beyond the limit, a "
             "rewrite of a committed entry or an acknowledgement past the log";
    }
    driver_cv_.notify_one();
  }

  absl::StatusOr<SubmitResponse> Submit(const SubmitRequest& request,
                                        absl::Time deadline) {
    SubmitBatchRequest batch;
    *batch.add_requests() = request;
    auto answered = SubmitBatch(batch, deadline);
    if (!answered.ok()) return answered.status();
    absl::StatusOr<Receipt> receipt = OutcomeResult(answered->outcomes(0));
    if (!receipt.ok()) return receipt.status();
    SubmitResponse response;
    *response.mutable_receipt() = *std::move(receipt);
    return response;
  }

  // Every submit of the batch is proposed under one lock (so the driver hands
  // them to the log writer and the peers together) and answered once all are
  // applied. Per-submit refusals are outcomes; a condition of the whole call
  // (not the leader, commit unconfirmed in time) fails the call.
  absl::StatusOr<SubmitBatchResponse> SubmitBatch(
      const SubmitBatchRequest& batch, absl::Time deadline) {
    const int count = batch.requests_size();
    if (count == 0 || count > kMaxSubmitBatch) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat("a batch carries 1..", kMaxSubmitBatch,
                                    " submits, got ", count));
    }
    uint64_t in_flight_generation = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (absl::Status leader = CheckLeaderLocked(); !leader.ok())
        return leader;
      in_flight_generation = tracker_.in_flight_generation();
    }
    SubmitBatchResponse response;
    std::vector<std::string> fingerprints(count);
    std::vector<std::shared_ptr<Proposal>> pending(count);
    std::vector<bool> answered(count, false);
    auto refuse = [&](int i, const absl::Status& status) {
      // Canonical codes are gRPC's; the message carries "Code: detail".
      SetOutcomeError(status, response.mutable_outcomes(i));
      answered[i] = true;
    };
    auto accept = [&](int i, const RequestRecord& record, bool duplicate) {
      *response.mutable_outcomes(i)->mutable_receipt() =
          ReceiptFor(record, duplicate);
      answered[i] = true;
    };
    // An already applied request is answered from state, without appending;
    // an error only when the state cannot be read.
    auto answer_from_state = [&](int i) -> absl::Status {
      auto existing = state_machine_->GetRequest(
          batch.requests(i).submission().request_id());
      if (existing.ok()) {
        if (existing->fingerprint() != fingerprints[i]) {
          refuse(i, ConflictError(*existing));
        } else {
          accept(i, *existing, /*duplicate=*/true);
        }
        return absl::OkStatus();
      }
      if (ErrorCodeOf(existing.status()) != ErrorCode::kNotFound)
        return existing.status();
      return absl::OkStatus();
    };
    for (int i = 0; i < count; ++i) {
      response.add_outcomes();
      const SubmitRequest& request = batch.requests(i);
      const ReportSubmission& submission = request.submission();
      if (absl::Status valid = ValidateSubmission(submission); !valid.ok()) {
        refuse(i, valid);
        continue;
      }
      if (absl::Status allowed =
              placement_->CheckIngress(request.ingress_domain());
          !allowed.ok()) {
        refuse(i, allowed);
        continue;
      }
      fingerprints[i] = SubmissionFingerprint(submission);
      if (!request.fingerprint().empty() &&
          request.fingerprint() != fingerprints[i]) {
        refuse(i, MakeError(ErrorCode::kInvalidArgument,
                            "fingerprint does not match the submission's "
                            "canonical fingerprint"));
        continue;
      }
      // Already applied: answer from state, without appending.
      if (absl::Status read = answer_from_state(i); !read.ok()) return read;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (absl::Status leader = CheckLeaderLocked(); !leader.ok())
        return leader;
      // One proposal for the whole batch: one append per follower carries
      // every entry (proposing them one by one sent one message each, and
      // drew one acknowledgement and one commit broadcast each).
      std::vector<Command> commands;
      std::vector<int> proposing;              // the item each command is for
      std::map<std::string, int> first_new;    // id -> item proposing it here
      std::vector<std::pair<int, int>> joins;  // (item, item it joins)
      for (int i = 0; i < count; ++i) {
        if (answered[i]) continue;
        const SubmitRequest& request = batch.requests(i);
        const std::string& request_id = request.submission().request_id();
        std::shared_ptr<Proposal> inflight = tracker_.InFlight(request_id);
        if (inflight != nullptr && inflight->fingerprint == fingerprints[i]) {
          pending[i] = std::move(inflight);  // join: the same receipt for both
          continue;
        }
        // Its entry may have been applied (and left the in-flight map) since
        // the state machine was read above: read it again rather than append
        // the request twice. Rare, so the read happens under the mutex.
        if (inflight == nullptr &&
            tracker_.in_flight_generation() != in_flight_generation) {
          if (absl::Status read = answer_from_state(i); !read.ok()) return read;
          if (answered[i]) continue;
        }
        auto same = first_new.find(request_id);
        if (same != first_new.end() &&
            fingerprints[same->second] == fingerprints[i]) {
          joins.emplace_back(i, same->second);
          continue;
        }
        Command& command = commands.emplace_back();
        SubmitCommand* submit = command.mutable_submit();
        *submit->mutable_submission() = request.submission();
        submit->set_fingerprint(fingerprints[i]);
        submit->set_ingress_domain(request.ingress_domain());
        proposing.push_back(i);
        first_new.emplace(request_id, i);
      }
      if (!commands.empty()) {
        auto proposed = ProposeLocked(commands);
        if (!proposed.ok()) return proposed.status();
        for (size_t k = 0; k < proposing.size(); ++k) {
          const int i = proposing[k];
          const std::string& request_id =
              batch.requests(i).submission().request_id();
          pending[i] = (*proposed)[k];
          tracker_.SetInFlight(pending[i], request_id, fingerprints[i]);
        }
      }
      for (const auto& [item, joined] : joins) pending[item] = pending[joined];
    }
    auto batch_wait = std::make_shared<BatchWait>();
    for (int i = 0; i < count; ++i) {
      if (!answered[i]) AddBatchWait(*pending[i], batch_wait);
    }
    {
      std::unique_lock<std::mutex> lock(batch_wait->mu);
      batch_wait->cv.wait_until(lock, ToSteady(deadline),
                                [&] { return batch_wait->remaining == 0; });
    }
    for (int i = 0; i < count; ++i) {
      if (answered[i]) continue;
      // Done by now, or the deadline passed: Wait answers without waiting.
      auto applied = AwaitProposal(*pending[i], absl::InfinitePast());
      if (!applied.ok()) return applied.status();
      const CommandResult& result = applied->result;
      switch (result.code()) {
        case RESULT_OK:
        case RESULT_DUPLICATE:
          accept(i, result.record(), result.code() == RESULT_DUPLICATE);
          break;
        case RESULT_IDEMPOTENCY_CONFLICT:
          refuse(i, ConflictError(result.record()));
          break;
        default:
          refuse(i, MakeError(ErrorCode::kInvalidArgument,
                              absl::StrCat("submit rejected by the state "
                                           "machine: ",
                                           ResultCode_Name(result.code()))));
      }
    }
    return response;
  }

  absl::StatusOr<ReadStatusResponse> ReadStatus(
      const ReadStatusRequest& request, absl::Time deadline) {
    if (absl::Status valid = ValidateRequestId(request.request_id());
        !valid.ok())
      return valid;
    uint64_t min_offset = request.min_offset();
    absl::Time wait_until =
        std::min(deadline, absl::Now() + absl::Milliseconds(request.wait_ms()));
    if (request.consistency() == LINEARIZABLE) {
      auto index = ReadIndex(deadline);
      if (!index.ok()) return index.status();
      min_offset = std::max(min_offset, *index);
      wait_until = deadline;
    }
    uint64_t served = 0;
    {
      std::unique_lock<std::mutex> lock(applied_mu_);
      applied_cv_.wait_until(lock, ToSteady(wait_until), [&] {
        return stopping_applied_ || applied_ >= min_offset;
      });
      served = applied_;
    }
    if (served < min_offset) {
      return MakeError(
          ErrorCode::kStaleRead,
          absl::StrCat("replica ", self_.name(), " has applied offset ", served,
                       " < min_offset ", min_offset));
    }
    auto record = state_machine_->GetRequest(request.request_id());
    if (!record.ok()) {
      if (ErrorCodeOf(record.status()) == ErrorCode::kNotFound) {
        return MakeError(ErrorCode::kNotFound,
                         absl::StrCat("no request '", request.request_id(),
                                      "' at served offset ", served));
      }
      return record.status();
    }
    ReadStatusResponse response;
    *response.mutable_record() = *std::move(record);
    response.set_served_offset(served);
    return response;
  }

  absl::StatusOr<EffectResponse> ReserveEffect(
      const ReserveEffectRequest& request, absl::Time deadline) {
    Command command;
    ReserveEffectCommand* reserve = command.mutable_reserve_effect();
    reserve->set_request_id(request.request_id());
    reserve->set_effect_key(request.effect_key());
    reserve->set_worker_id(request.worker_id());
    reserve->set_worker_domain(request.worker_domain());
    reserve->set_lease_ms(request.lease_ms());
    reserve->set_max_attempts(request.max_attempts());
    if (request.effect_key().empty() || request.worker_id().empty() ||
        request.lease_ms() == 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "effect_key, worker_id and lease_ms are required");
    }
    return ProposeEffect(request.request_id(), request.worker_domain(), command,
                         deadline);
  }

  absl::StatusOr<EffectResponse> ExtendLease(const ExtendLeaseRequest& request,
                                             absl::Time deadline) {
    Command command;
    ExtendLeaseCommand* extend = command.mutable_extend_lease();
    extend->set_request_id(request.request_id());
    extend->set_worker_id(request.worker_id());
    extend->set_fencing_token(request.fencing_token());
    extend->set_lease_ms(request.lease_ms());
    return ProposeEffect(request.request_id(), request.worker_domain(), command,
                         deadline);
  }

  absl::StatusOr<EffectResponse> Complete(const CompleteRequest& request,
                                          absl::Time deadline) {
    Command command;
    CompleteCommand* complete = command.mutable_complete();
    complete->set_request_id(request.request_id());
    complete->set_expected_version(request.expected_version());
    complete->set_fencing_token(request.fencing_token());
    complete->set_worker_id(request.worker_id());
    complete->set_worker_domain(request.worker_domain());
    complete->set_report_location(request.report_location());
    return ProposeEffect(request.request_id(), request.worker_domain(), command,
                         deadline);
  }

  absl::StatusOr<EffectResponse> Fail(const FailRequest& request,
                                      absl::Time deadline) {
    Command command;
    FailCommand* fail = command.mutable_fail();
    fail->set_request_id(request.request_id());
    fail->set_expected_version(request.expected_version());
    fail->set_fencing_token(request.fencing_token());
    fail->set_worker_id(request.worker_id());
    fail->set_error(request.error());
    fail->set_max_attempts(request.max_attempts());
    fail->set_retryable(request.retryable());
    return ProposeEffect(request.request_id(), request.worker_domain(), command,
                         deadline);
  }

  absl::Status Watch(const WatchRequest& request,
                     const std::function<bool(const WatchEvent&)>& send,
                     const std::function<bool()>& cancelled) {
    if (absl::Status allowed = placement_->CheckWorker(request.worker_domain());
        !allowed.ok()) {
      return allowed;
    }
    uint64_t start = 0;
    {
      std::lock_guard<std::mutex> lock(applied_mu_);
      start = applied_;
    }
    // Catch-up: everything still unfinished (from the lowest unfinished
    // offset), so a worker needs no checkpoint of its own. Changes applied
    // meanwhile follow below.
    bool open = true;
    state_machine_->ForEachUnfinished([&](const RequestRecord& record) {
      if (record.accepted_offset() < request.from_offset()) return true;
      WatchEvent event;
      event.set_offset(record.version());
      *event.mutable_record() = record;
      event.set_catch_up(true);
      event.set_applied_offset(start);
      open = send(event) && !cancelled();
      return open;
    });
    uint64_t next = start + 1;
    while (open) {
      std::vector<WatchEvent> batch;
      {
        std::unique_lock<std::mutex> lock(applied_mu_);
        applied_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
          return stopping_applied_ || applied_ >= next;
        });
        if (stopping_applied_)
          return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
        if (cancelled()) break;
        if (applied_ < next) continue;
        if (next < recent_from_) {
          return absl::AbortedError(
              "watch fell behind the replica's recent changes; restart it");
        }
        auto it =
            std::lower_bound(recent_.begin(), recent_.end(), next,
                             [](const WatchEvent& event, uint64_t offset) {
                               return event.offset() < offset;
                             });
        for (; it != recent_.end(); ++it) batch.push_back(*it);
        next = applied_ + 1;
      }
      for (WatchEvent& event : batch) {
        event.set_applied_offset(next - 1);
        if (!send(event) || cancelled()) {
          open = false;
          break;
        }
      }
    }
    return absl::OkStatus();
  }

  ClusterStatusResponse Status() const {
    ClusterStatusResponse response;
    response.set_id(options_.id);
    response.set_name(self_.name());
    response.set_domain(options_.domain);
    response.set_cluster_id(options_.cluster.cluster_id());
    {
      std::lock_guard<std::mutex> lock(mu_);
      response.set_role(RoleText(node_->role()));
      response.set_epoch(node_->epoch());
      response.set_leader_id(node_->leader());
      auto leader = members_.find(node_->leader());
      if (leader != members_.end())
        response.set_leader_address(leader->second.grpc_address());
      response.set_commit_offset(node_->commit_index());
      response.set_last_offset(node_->last_index());
      for (const consensus::Progress& progress : node_->progress()) {
        FollowerProgress* follower = response.add_followers();
        follower->set_id(progress.id);
        follower->set_match_offset(progress.match);
        follower->set_next_offset(progress.next);
        follower->set_state(progress.replicating ? "replicate" : "probe");
      }
    }
    // The digest is stored with the applied index, so the pair is consistent.
    auto [applied, digest] = state_machine_->applied_and_digest();
    response.set_applied_offset(applied);
    response.set_state_digest(digest);
    return response;
  }

 private:
  absl::Status CheckLeaderLocked() const {
    if (node_->role() == consensus::Role::kLeader) return absl::OkStatus();
    uint64_t leader = node_->leader();
    auto it = members_.find(leader);
    if (leader == 0 || it == members_.end()) return MakeNotLeader(0, "");
    return MakeNotLeader(leader, it->second.grpc_address());
  }

  // Appends `commands` as consecutive entries in one proposal; one Proposal
  // each, in order.
  absl::StatusOr<std::vector<std::shared_ptr<Proposal>>> ProposeLocked(
      std::vector<Command>& commands) {
    if (stopping_)
      return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
    const uint64_t stamp = clock_.Stamp(WallMs());
    std::vector<Entry> entries;
    entries.reserve(commands.size());
    for (Command& command : commands) {
      command.set_timestamp_ms(stamp);
      Entry& entry = entries.emplace_back();
      entry.set_type(consensus::ENTRY_NORMAL);
      entry.set_data(command.SerializeAsString());
    }
    auto positions = node_->Propose(std::move(entries));
    if (!positions.has_value() || positions->size() != commands.size()) {
      absl::Status leader = CheckLeaderLocked();
      if (!leader.ok()) return leader;
      return MakeError(ErrorCode::kNoQuorum,
                       "the leader is not accepting proposals yet");
    }
    std::vector<std::shared_ptr<Proposal>> proposals;
    proposals.reserve(positions->size());
    std::vector<ProposalTracker::Finished> superseded;
    for (const consensus::ProposalPosition& position : *positions) {
      proposals.push_back(
          tracker_.Track(position.index, position.epoch, &superseded));
    }
    // Rare (a re-elected leader reusing indices of its truncated entries), so
    // these callers are answered here, under the core mutex.
    for (auto& [proposal, status] : superseded) {
      FinishProposal(*proposal, std::move(status));
    }
    driver_cv_.notify_one();
    return proposals;
  }

  absl::StatusOr<EffectResponse> ProposeEffect(const std::string& request_id,
                                               const std::string& worker_domain,
                                               Command& command,
                                               absl::Time deadline) {
    if (absl::Status valid = ValidateRequestId(request_id); !valid.ok())
      return valid;
    if (absl::Status allowed = placement_->CheckWorker(worker_domain);
        !allowed.ok()) {
      return allowed;
    }
    std::shared_ptr<Proposal> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (absl::Status leader = CheckLeaderLocked(); !leader.ok())
        return leader;
      std::vector<Command> commands(1, command);
      auto proposed = ProposeLocked(commands);
      if (!proposed.ok()) return proposed.status();
      pending = proposed->front();
    }
    auto applied = AwaitProposal(*pending, deadline);
    if (!applied.ok()) return applied.status();
    EffectResponse response;
    response.set_code(applied->result.code());
    *response.mutable_record() = applied->result.record();
    *response.mutable_effect() = applied->result.effect();
    response.set_offset(applied->index);
    return response;
  }

  absl::StatusOr<uint64_t> ReadIndex(absl::Time deadline) {
    auto waiter = std::make_shared<ReadWaiter>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (absl::Status leader = CheckLeaderLocked(); !leader.ok())
        return leader;
      std::string context = absl::StrCat(++next_read_context_);
      read_waiters_[context] = waiter;
      node_->ReadIndex(context);
      driver_cv_.notify_one();
    }
    std::unique_lock<std::mutex> lock(waiter->mu);
    if (!waiter->cv.wait_until(lock, ToSteady(deadline),
                               [&] { return waiter->done; })) {
      return MakeError(ErrorCode::kNoQuorum,
                       "leadership not confirmed by a quorum in time");
    }
    if (!waiter->status.ok()) return waiter->status;
    return waiter->index;
  }

  static absl::Status ConflictError(const RequestRecord& record) {
    return MakeError(
        ErrorCode::kIdempotencyConflict,
        absl::StrCat("request '", record.request_id(),
                     "' was accepted at offset ", record.accepted_offset(),
                     " with a different payload"));
  }

  void DriverLoop() {
    const auto tick = std::chrono::milliseconds(options_.tick_ms);
    auto next_tick = Clock::now() + tick;
    while (true) {
      consensus::Ready ready;
      {
        std::unique_lock<std::mutex> lock(mu_);
        driver_cv_.wait_until(lock, next_tick,
                              [&] { return stopping_ || node_->HasReady(); });
        if (stopping_) return;
        auto now = Clock::now();
        if (now >= next_tick) {
          node_->Tick();
          next_tick += tick;
          if (next_tick < now) next_tick = now + tick;
        }
        if (!node_->HasReady()) continue;
        ready = node_->TakeReady();
        if (ready.soft_state.has_value()) {
          if (ready.soft_state->role == consensus::Role::kLeader &&
              role_ != consensus::Role::kLeader) {
            LOG(INFO) << "replica " << options_.id << " is leader in epoch "
                      << node_->epoch();
          }
          role_ = ready.soft_state->role;
        }
      }
      HandleReady(std::move(ready));
    }
  }

  void HandleReady(consensus::Ready ready) {
    if (!ready.entries.empty() || ready.hard_state.has_value() ||
        !ready.after_persist.empty()) {
      // Only the span is needed once durable; the writer takes the payloads.
      storage::LogSpan span = storage::LogSpan::Of(ready.entries);
      auto after = std::make_shared<std::vector<consensus::Message>>(
          std::move(ready.after_persist));
      // A hard state whose epoch and vote are unchanged only moves the commit
      // index, which need not be durable (a restart recovers it from the
      // applied index and the leader): it rides along with entries, and never
      // costs an fsync alone.
      std::optional<consensus::HardState> hard_state = ready.hard_state;
      if (hard_state.has_value()) {
        bool fencing_changed = hard_state->epoch() != persisted_epoch_ ||
                               hard_state->vote() != persisted_vote_;
        if (fencing_changed || !ready.entries.empty()) {
          persisted_epoch_ = hard_state->epoch();
          persisted_vote_ = hard_state->vote();
        } else {
          hard_state.reset();
        }
      }
      writer_->Enqueue(std::move(ready.entries), hard_state,
                       [this, span = std::move(span), after]() {
                         OnDurable(span, std::move(*after));
                       });
    }
    if (!ready.messages.empty()) transport_->Send(std::move(ready.messages));
    if (!ready.committed.empty()) ApplyCommitted(ready.committed);
    if (!ready.read_states.empty() || !ready.dropped_reads.empty()) {
      ResolveReads(ready.read_states, ready.dropped_reads);
    }
  }

  // Runs on the writer thread once the entries (and hard state) are durable.
  void OnDurable(const storage::LogSpan& span,
                 std::vector<consensus::Message> after_persist) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!span.empty()) {
        store_->log().MarkDurable(span);
        node_->OnPersisted(span.last_index, span.runs.back().epoch);
      }
      driver_cv_.notify_one();
    }
    if (!after_persist.empty()) transport_->Send(std::move(after_persist));
  }

  void ApplyCommitted(const std::vector<Entry>& committed) {
    std::vector<AppliedCommand> applied = state_machine_->Apply(committed);
    // Under the core's mutex only the bookkeeping; waking the waiters (a
    // futex call each) happens after it is released, so stream readers and
    // proposers are not kept waiting on it.
    std::vector<std::pair<std::shared_ptr<Proposal>, absl::Status>> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      absl::Status not_leader;
      for (const AppliedCommand& command : applied) {
        if (tracker_.size() == 0) break;
        if (not_leader.ok()) {
          not_leader = CheckLeaderLocked();
          if (not_leader.ok()) {
            not_leader = MakeNotLeader(options_.id, self_.grpc_address());
          }
        }
        absl::Status status;
        std::shared_ptr<Proposal> proposal = tracker_.TakeApplied(
            command.index, command.epoch, not_leader, &status);
        if (proposal != nullptr) {
          finished.emplace_back(std::move(proposal), std::move(status));
        }
      }
    }
    size_t next = 0;
    for (const AppliedCommand& command : applied) {
      if (next == finished.size()) break;
      auto& [proposal, status] = finished[next];
      if (proposal->index != command.index) continue;
      FinishProposal(*proposal, std::move(status), &command);
      ++next;
    }
    std::lock_guard<std::mutex> lock(applied_mu_);
    for (const AppliedCommand& command : applied) {
      if (command.result.record().request_id().empty()) continue;
      WatchEvent event;
      event.set_offset(command.index);
      *event.mutable_record() = command.result.record();
      recent_.push_back(std::move(event));
      if (recent_.size() > kRecentEvents) {
        recent_from_ = recent_.front().offset() + 1;
        recent_.pop_front();
      }
    }
    applied_ = state_machine_->applied_index();
    applied_cv_.notify_all();
  }

  void ResolveReads(const std::vector<consensus::ReadState>& states,
                    const std::vector<std::string>& dropped) {
    std::lock_guard<std::mutex> lock(mu_);
    auto finish = [&](const std::string& context, absl::Status status,
                      uint64_t index) {
      auto it = read_waiters_.find(context);
      if (it == read_waiters_.end()) return;
      std::shared_ptr<ReadWaiter> waiter = it->second;
      read_waiters_.erase(it);
      std::lock_guard<std::mutex> waiter_lock(waiter->mu);
      waiter->status = std::move(status);
      waiter->index = index;
      waiter->done = true;
      waiter->cv.notify_all();
    };
    for (const consensus::ReadState& state : states) {
      finish(state.context, absl::OkStatus(), state.index);
    }
    for (const std::string& context : dropped) {
      absl::Status leader = CheckLeaderLocked();
      finish(context,
             leader.ok() ? MakeError(ErrorCode::kNoQuorum,
                                     "leader not ready to serve reads")
                         : leader,
             0);
    }
  }

  void FailAllPending(const absl::Status& status) {
    std::vector<std::shared_ptr<Proposal>> proposals;
    std::map<std::string, std::shared_ptr<ReadWaiter>> reads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      proposals = tracker_.TakeAll();
      reads.swap(read_waiters_);
    }
    for (const auto& proposal : proposals) FinishProposal(*proposal, status);
    for (auto& [context, waiter] : reads) {
      std::lock_guard<std::mutex> lock(waiter->mu);
      waiter->status = status;
      waiter->done = true;
      waiter->cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(applied_mu_);
    stopping_applied_ = true;
    applied_cv_.notify_all();
  }

  const ReplicaOptions options_;
  Member self_;
  std::map<uint64_t, Member> members_;
  std::unique_ptr<Placement> placement_;
  std::unique_ptr<storage::ReplicaStore> store_;
  std::unique_ptr<ReportStateMachine> state_machine_;

  // Guards the core and the bookkeeping of proposals and reads.
  mutable std::mutex mu_;
  std::condition_variable driver_cv_;
  std::unique_ptr<consensus::Node> node_;
  bool stopping_ = false;
  consensus::Role role_ = consensus::Role::kFollower;
  ClusterClock clock_;
  // Epoch and vote last handed to the writer (driver thread only).
  uint64_t persisted_epoch_ = 0;
  uint64_t persisted_vote_ = 0;
  ProposalTracker tracker_;
  std::map<std::string, std::shared_ptr<ReadWaiter>> read_waiters_;
  uint64_t next_read_context_ = 0;

  // Guards what readers and watchers wait on.
  std::mutex applied_mu_;
  std::condition_variable applied_cv_;
  uint64_t applied_ = 0;
  bool stopping_applied_ = false;
  std::deque<WatchEvent> recent_;
  // recent_ holds every change applied from this offset on (entries without a
  // request id, such as barriers, leave no event but are covered).
  uint64_t recent_from_ = 1;

  std::unique_ptr<storage::LogWriter> writer_;
  std::unique_ptr<PeerTransport> transport_;
  std::thread driver_;
};

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() = default;

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(
    const ReplicaOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status opened = impl->Open(); !opened.ok()) return opened;
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

void Replica::StepBatch(const consensus::MessageBatch& batch) {
  impl_->StepBatch(batch);
}
absl::StatusOr<SubmitResponse> Replica::Submit(const SubmitRequest& request,
                                               absl::Time deadline) {
  return impl_->Submit(request, deadline);
}
absl::StatusOr<SubmitBatchResponse> Replica::SubmitBatch(
    const SubmitBatchRequest& batch, absl::Time deadline) {
  return impl_->SubmitBatch(batch, deadline);
}
absl::StatusOr<ReadStatusResponse> Replica::ReadStatus(
    const ReadStatusRequest& request, absl::Time deadline) {
  return impl_->ReadStatus(request, deadline);
}
absl::StatusOr<EffectResponse> Replica::ReserveEffect(
    const ReserveEffectRequest& request, absl::Time deadline) {
  return impl_->ReserveEffect(request, deadline);
}
absl::StatusOr<EffectResponse> Replica::ExtendLease(
    const ExtendLeaseRequest& request, absl::Time deadline) {
  return impl_->ExtendLease(request, deadline);
}
absl::StatusOr<EffectResponse> Replica::Complete(const CompleteRequest& request,
                                                 absl::Time deadline) {
  return impl_->Complete(request, deadline);
}
absl::StatusOr<EffectResponse> Replica::Fail(const FailRequest& request,
                                             absl::Time deadline) {
  return impl_->Fail(request, deadline);
}
absl::Status Replica::Watch(const WatchRequest& request,
                            const std::function<bool(const WatchEvent&)>& send,
                            const std::function<bool()>& cancelled) {
  return impl_->Watch(request, send, cancelled);
}
ClusterStatusResponse Replica::Status() const { return impl_->Status(); }
void Replica::Shutdown() { impl_->Shutdown(); }

}  // namespace report
