#include "replica/server/driver.h"

#include <pthread.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "glog/logging.h"
#include "replica/server/steady_deadline.h"

namespace report {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t WallMs() {
  return static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
}

}  // namespace

struct Driver::ReadWaiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;
  uint64_t index = 0;

  void Finish(absl::Status result, uint64_t read_index) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(result);
    index = read_index;
    done = true;
    cv.notify_all();
  }
};

Driver::Driver(DriverOptions options, const consensus::LogStore* log,
               LogSink* sink, MessageSink* transport, ApplyFn apply,
               AppliedFn on_applied)
    : options_(std::move(options)),
      sink_(sink),
      transport_(transport),
      apply_(std::move(apply)),
      on_applied_(std::move(on_applied)),
      own_loop_(options_.event_loop == nullptr ? new CvEventLoop : nullptr),
      loop_(options_.event_loop == nullptr ? own_loop_.get()
                                           : options_.event_loop),
      node_(std::make_unique<consensus::Node>(options_.config, log)),
      persisted_epoch_(options_.config.hard_state.epoch()),
      persisted_vote_(options_.config.hard_state.vote()) {
  // Cluster time never runs backwards, even if this replica's clock is behind
  // the leader that stamped the newest command it holds.
  clock_.Observe(options_.newest_stamp_ms);
}

Driver::~Driver() { Stop(); }

void Driver::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "driver");
    Loop();
  });
}

void Driver::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    loop_->Wake();
  }
  if (thread_.joinable()) thread_.join();
  const absl::Status stopped =
      MakeError(ErrorCode::kCommitUnknown, "replica shutting down");
  std::vector<std::shared_ptr<Proposal>> proposals;
  std::map<std::string, std::shared_ptr<ReadWaiter>> reads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    proposals = tracker_.TakeAll();
    reads.swap(read_waiters_);
  }
  for (const auto& proposal : proposals) FinishProposal(*proposal, stopped);
  for (auto& [context, waiter] : reads) waiter->Finish(stopped, 0);
}

void Driver::Step(uint64_t from, const consensus::MessageBatch& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  const uint64_t malformed = node_->malformed_messages();
  for (const consensus::Message& message : batch.messages()) {
    if (message.from() != from || message.to() != options_.config.id) continue;
    if (message.type() == consensus::MSG_APPEND) {
      clock_.ObserveEntries(message.entries());
    }
    node_->Step(message);
  }
  if (node_->malformed_messages() != malformed) {
    LOG_EVERY_N(WARNING, 100)
        << "dropped malformed consensus messages from replica " << from << " ("
        << node_->malformed_messages()
        << " so far): entries out of order, an epoch beyond the limit, a "
           "rewrite of a committed entry or an acknowledgement past the log";
  }
  loop_->Wake();
}

void Driver::RunLocked(const std::function<void()>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  fn();
  loop_->Wake();
}

void Driver::Campaign() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  node_->Campaign();
  loop_->Wake();
}

absl::Status Driver::CheckLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckLeaderLocked();
}

absl::Status Driver::TransferLeadership(uint64_t target) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_)
    return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
  if (node_->role() != consensus::Role::kLeader) return CheckLeaderLocked();
  if (!node_->TransferLeadership(target)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     absl::StrCat("member ", target, " is not a voter"));
  }
  loop_->Wake();
  return absl::OkStatus();
}

absl::Status Driver::CheckLeaderLocked() const {
  if (node_->role() == consensus::Role::kLeader) {
    const uint64_t to = node_->transferee();
    if (to == 0) return absl::OkStatus();
    // Proposals wait for the new leader: send them there.
    auto it = options_.addresses.find(to);
    return MakeNotLeader(to, it == options_.addresses.end() ? "" : it->second);
  }
  const uint64_t leader = node_->leader();
  auto it = options_.addresses.find(leader);
  if (leader == 0 || it == options_.addresses.end()) {
    return MakeNotLeader(0, "");
  }
  return MakeNotLeader(leader, it->second);
}

absl::StatusOr<std::vector<std::shared_ptr<Proposal>>> Driver::Propose(
    absl::FunctionRef<absl::Status(const ProposalTracker&, Batch*)> build) {
  std::vector<ProposalTracker::Finished> superseded;
  std::vector<std::shared_ptr<Proposal>> proposals;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
    }
    if (absl::Status leader = CheckLeaderLocked(); !leader.ok()) return leader;
    Batch batch;
    if (absl::Status built = build(tracker_, &batch); !built.ok()) return built;
    if (batch.commands.empty()) return proposals;
    batch.in_flight.resize(batch.commands.size());
    const uint64_t stamp = clock_.Stamp(WallMs());
    std::vector<consensus::Entry> entries;
    entries.reserve(batch.commands.size());
    for (Command& command : batch.commands) {
      command.set_timestamp_ms(stamp);
      consensus::Entry& entry = entries.emplace_back();
      entry.set_type(consensus::ENTRY_NORMAL);
      entry.set_data(command.SerializeAsString());
    }
    // One proposal for the whole batch: one append per follower carries every
    // entry.
    auto positions = node_->Propose(std::move(entries));
    if (!positions.has_value() || positions->size() != batch.commands.size()) {
      if (absl::Status leader = CheckLeaderLocked(); !leader.ok()) {
        return leader;
      }
      return MakeError(ErrorCode::kNoQuorum,
                       "the leader is not accepting proposals yet");
    }
    proposals.reserve(positions->size());
    for (size_t k = 0; k < positions->size(); ++k) {
      const consensus::ProposalPosition& position = (*positions)[k];
      proposals.push_back(
          tracker_.Track(position.index, position.epoch, &superseded));
      auto& [request_id, fingerprint] = batch.in_flight[k];
      if (!request_id.empty()) {
        tracker_.SetInFlight(proposals.back(), std::move(request_id),
                             std::move(fingerprint));
      }
    }
    loop_->Wake();
  }
  // Rare: a re-elected leader reusing indices of its truncated entries.
  for (auto& [proposal, status] : superseded) {
    FinishProposal(*proposal, std::move(status));
  }
  return proposals;
}

absl::StatusOr<std::shared_ptr<Proposal>> Driver::ProposeOne(Command command) {
  auto proposed = Propose([&](const ProposalTracker&, Batch* batch) {
    batch->commands.push_back(std::move(command));
    return absl::OkStatus();
  });
  if (!proposed.ok()) return proposed.status();
  return proposed->front();
}

absl::StatusOr<uint64_t> Driver::ReadIndex(absl::Time deadline) {
  auto waiter = std::make_shared<ReadWaiter>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
    }
    if (absl::Status leader = CheckLeaderLocked(); !leader.ok()) return leader;
    std::string context = absl::StrCat(++next_read_context_);
    read_waiters_[context] = waiter;
    node_->ReadIndex(std::move(context));
    loop_->Wake();
  }
  std::unique_lock<std::mutex> lock(waiter->mu);
  if (!waiter->cv.wait_until(lock, SteadyDeadline(deadline),
                             [&] { return waiter->done; })) {
    return MakeError(ErrorCode::kNoQuorum,
                     "leadership not confirmed by a quorum in time");
  }
  if (!waiter->status.ok()) return waiter->status;
  return waiter->index;
}

CoreStatus Driver::Status() const {
  CoreStatus status;
  std::lock_guard<std::mutex> lock(mu_);
  status.role = node_->role();
  status.epoch = node_->epoch();
  status.leader = node_->leader();
  auto leader = options_.addresses.find(status.leader);
  if (leader != options_.addresses.end()) {
    status.leader_address = leader->second;
  }
  status.commit_index = node_->commit_index();
  status.last_index = node_->last_index();
  status.progress = node_->progress();
  status.transferee = node_->transferee();
  return status;
}

uint64_t Driver::in_flight_generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tracker_.in_flight_generation();
}

uint64_t Driver::malformed_messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return node_->malformed_messages();
}

void Driver::Loop() {
  const auto tick = std::chrono::milliseconds(options_.tick_ms);
  auto next_tick = Clock::now() + tick;
  while (true) {
    consensus::Ready ready;
    bool has_ready = false;
    std::optional<consensus::SnapshotMeta> install;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      install.swap(pending_install_);
    }
    if (install.has_value()) InstallSnapshot(*install);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      const auto now = Clock::now();
      if (now >= next_tick) {
        node_->Tick();
        next_tick += tick;
        if (next_tick < now) next_tick = now + tick;
      }
      if (node_->HasReady()) {
        has_ready = true;
        ready = node_->TakeReady();
        if (ready.soft_state.has_value()) {
          if (ready.soft_state->role == consensus::Role::kLeader &&
              role_ != consensus::Role::kLeader) {
            LOG(INFO) << "event=leader_elected id=" << options_.config.id
                      << " epoch=" << node_->epoch();
          } else if (ready.soft_state->role != consensus::Role::kLeader &&
                     role_ == consensus::Role::kLeader) {
            LOG(INFO) << "event=leader_stepped_down id=" << options_.config.id
                      << " epoch=" << node_->epoch()
                      << " new_leader=" << ready.soft_state->leader;
          }
          role_ = ready.soft_state->role;
        }
      }
    }
    if (has_ready) HandleReady(std::move(ready));
    // With output handled, only look for events; else wait for one (or the
    // next tick).
    loop_->RunOnce(has_ready ? Clock::now() : next_tick);
  }
}

void Driver::InstallSnapshot(const consensus::SnapshotMeta& meta) {
  const auto started = std::chrono::steady_clock::now();
  const bool ok = options_.snapshots->Install(meta);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok) {
      options_.snapshots->Installed(meta);
      node_->OnSnapshotInstalled(meta);
    } else {
      node_->OnSnapshotRejected(meta);
    }
    loop_->Wake();
  }
  LOG(INFO) << "event=" << (ok ? "snapshot_installed" : "snapshot_rejected")
            << " id=" << options_.config.id << " index=" << meta.index()
            << " epoch=" << meta.epoch() << " bytes=" << meta.size() << " ms="
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
}

void Driver::HandleReady(consensus::Ready ready) {
  // Snapshot chunks are durable before anything of this Ready is
  // acknowledged (the acknowledgements wait for the sink's callback below).
  if (!ready.snapshot_chunks.empty()) {
    CHECK(options_.snapshots != nullptr)
        << "a snapshot arrived but this replica cannot stage one";
    options_.snapshots->Stage(ready.snapshot_chunks);
  }
  if (ready.install_snapshot.has_value()) {
    CHECK(options_.snapshots != nullptr)
        << "a snapshot arrived but this replica cannot install one";
    // Once everything handed to the sink before is durable.
    sink_->Persist({}, std::nullopt, [this, meta = *ready.install_snapshot] {
      std::lock_guard<std::mutex> lock(mu_);
      pending_install_ = meta;
      loop_->Wake();
    });
  }
  if (!ready.entries.empty() || ready.hard_state.has_value() ||
      !ready.after_persist.empty()) {
    // Only the span is needed once durable; the sink takes the payloads.
    storage::LogSpan span = storage::LogSpan::Of(ready.entries);
    auto after = std::make_shared<std::vector<consensus::Message>>(
        std::move(ready.after_persist));
    // A hard state whose epoch and vote are unchanged only moves the commit
    // index, which need not be durable (a restart recovers it from the applied
    // index and the leader): it rides along with entries, and never costs an
    // fsync alone.
    std::optional<consensus::HardState> hard_state = ready.hard_state;
    if (hard_state.has_value()) {
      const bool fencing_changed = hard_state->epoch() != persisted_epoch_ ||
                                   hard_state->vote() != persisted_vote_;
      if (fencing_changed || !ready.entries.empty()) {
        persisted_epoch_ = hard_state->epoch();
        persisted_vote_ = hard_state->vote();
      } else {
        hard_state.reset();
      }
    }
    sink_->Persist(std::move(ready.entries), hard_state,
                   [this, span = std::move(span), after]() {
                     OnDurable(span, std::move(*after));
                   });
  }
  if (!ready.messages.empty()) transport_->Send(std::move(ready.messages));
  if (!ready.committed.empty()) Apply(ready.committed);
  if (!ready.read_states.empty() || !ready.dropped_reads.empty()) {
    ResolveReads(ready.read_states, ready.dropped_reads);
  }
}

void Driver::OnDurable(const storage::LogSpan& span,
                       std::vector<consensus::Message> after_persist) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!span.empty()) {
      sink_->MarkDurable(span);
      node_->OnPersisted(span.last_index, span.runs.back().epoch);
    }
    loop_->Wake();
  }
  if (!after_persist.empty()) transport_->Send(std::move(after_persist));
}

void Driver::Apply(const std::vector<consensus::Entry>& committed) {
  std::vector<AppliedCommand> applied = apply_(committed);
  // Under the mutex only the bookkeeping; waking the waiters (a futex call
  // each) happens after it is released, so stream readers and proposers are
  // not kept waiting on it.
  std::vector<ProposalTracker::Finished> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status not_leader;
    for (const AppliedCommand& command : applied) {
      if (tracker_.size() == 0) break;
      if (not_leader.ok()) {
        not_leader = CheckLeaderLocked();
        if (not_leader.ok()) {
          auto self = options_.addresses.find(options_.config.id);
          not_leader = MakeNotLeader(
              options_.config.id,
              self == options_.addresses.end() ? "" : self->second);
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
  if (on_applied_) on_applied_(applied);
}

void Driver::ResolveReads(const std::vector<consensus::ReadState>& states,
                          const std::vector<std::string>& dropped) {
  std::vector<std::pair<std::shared_ptr<ReadWaiter>, uint64_t>> served;
  std::vector<std::shared_ptr<ReadWaiter>> refused;
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto take = [&](const std::string& context) {
      std::shared_ptr<ReadWaiter> waiter;
      auto it = read_waiters_.find(context);
      if (it != read_waiters_.end()) {
        waiter = std::move(it->second);
        read_waiters_.erase(it);
      }
      return waiter;
    };
    for (const consensus::ReadState& state : states) {
      if (auto waiter = take(state.context)) {
        served.emplace_back(std::move(waiter), state.index);
      }
    }
    for (const std::string& context : dropped) {
      if (auto waiter = take(context)) refused.push_back(std::move(waiter));
    }
    if (!refused.empty()) {
      refusal = CheckLeaderLocked();
      if (refusal.ok()) {
        refusal =
            MakeError(ErrorCode::kNoQuorum, "leader not ready to serve reads");
      }
    }
  }
  for (auto& [waiter, index] : served) waiter->Finish(absl::OkStatus(), index);
  for (auto& waiter : refused) waiter->Finish(refusal, 0);
}

}  // namespace report
