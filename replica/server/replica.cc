#include "replica/server/replica.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/placement.h"
#include "common/validation.h"
#include "glog/logging.h"
#include "replica/consensus/node.h"
#include "replica/server/cluster_clock.h"
#include "replica/server/driver.h"
#include "replica/server/peer_transport.h"
#include "replica/server/submit_rules.h"
#include "replica/server/watch_hub.h"
#include "replica/state_machine/report_state_machine.h"
#include "replica/storage/log_writer.h"
#include "replica/storage/replica_store.h"

namespace report {
namespace {

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

// The driver's storage: the group-committing log writer, and the durable log
// whose bounds move once the writer reports an append durable.
class StorageLogSink : public LogSink {
 public:
  StorageLogSink(storage::LogWriter* writer, storage::DurableLog* log)
      : writer_(writer), log_(log) {}
  void Persist(std::vector<consensus::Entry> entries,
               std::optional<consensus::HardState> hard_state,
               std::function<void()> on_durable) override {
    writer_->Enqueue(std::move(entries), hard_state, std::move(on_durable));
  }
  void MarkDurable(const storage::LogSpan& span) override {
    log_->MarkDurable(span);
  }

 private:
  storage::LogWriter* const writer_;
  storage::DurableLog* const log_;
};

class TransportSink : public MessageSink {
 public:
  explicit TransportSink(PeerTransport* transport) : transport_(transport) {}
  void Send(std::vector<consensus::Message> messages) override {
    transport_->Send(std::move(messages));
  }

 private:
  PeerTransport* const transport_;
};

}  // namespace

// The composition root: storage, state machine, driver, submit rules and watch
// hub, wired together; reads and effect commands are short enough to live here.
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
    const uint64_t applied = state_machine_->applied_index();
    // A received snapshot staged at or below what is applied is of no use.
    uint64_t staged_bytes = 0;
    consensus::SnapshotMeta staged = store_->snapshots().Staged(&staged_bytes);
    if (staged.index() != 0 && staged.index() <= applied) {
      (void)store_->snapshots().DiscardStaged();
      staged = consensus::SnapshotMeta();
      staged_bytes = 0;
    }
    // Recovery cuts a damaged log tail. Below the applied index that means this
    // replica lost entries it acknowledged: as a voter it would report a match
    // it no longer has (and the leader would count it), so it does not start.
    if (const uint64_t last = store_->log().LastIndex(); last < applied) {
      return MakeError(
          ErrorCode::kInternal,
          absl::StrCat(
              "refusing to start: the log in ", options_.data_dir,
              " ends at index ", last, " but the state machine applied ",
              applied,
              " (the log was damaged and cut below what this "
              "replica acknowledged); move the data dir aside and start the "
              "replica on an empty one to rejoin (docs/STORAGE.md)"));
    }
    hub_ = std::make_unique<WatchHub>(applied);

    DriverOptions driver_options;
    consensus::Config& config = driver_options.config;
    config.id = options_.id;
    for (const Member& member : options_.cluster.members()) {
      config.voters.push_back(member.id());
      driver_options.addresses[member.id()] = member.grpc_address();
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
    config.hard_state.set_commit(std::max(config.hard_state.commit(), applied));
    config.applied = applied;
    config.staged_snapshot = staged;
    config.staged_bytes = staged_bytes;
    snapshot_sink_ = std::make_unique<ReplicaSnapshotSink>(this);
    driver_options.snapshots = snapshot_sink_.get();
    driver_options.tick_ms = options_.tick_ms;
    driver_options.newest_stamp_ms = NewestStamp(store_->log());
    driver_options.event_loop = options_.event_loop;
    LOG(INFO) << "event=replica_recovered id=" << options_.id
              << " epoch=" << config.hard_state.epoch()
              << " vote=" << config.hard_state.vote()
              << " commit=" << config.hard_state.commit()
              << " applied=" << applied
              << " first=" << store_->log().FirstIndex()
              << " last=" << store_->log().LastIndex()
              << " snapshot=" << store_->log().Snapshot().index()
              << " staged_snapshot=" << staged.index() << " (" << staged_bytes
              << " bytes)";

    writer_ =
        std::make_unique<storage::LogWriter>(store_.get(), options_.metrics);
    log_sink_ = std::make_unique<StorageLogSink>(writer_.get(), &store_->log());
    transport_ = std::make_unique<PeerTransport>(
        options_.cluster.cluster_id(), options_.id,
        std::vector<Member>(options_.cluster.members().begin(),
                            options_.cluster.members().end()));
    transport_sink_ = std::make_unique<TransportSink>(transport_.get());
    driver_ = std::make_unique<Driver>(
        std::move(driver_options), &store_->log(), log_sink_.get(),
        transport_sink_.get(),
        [this](const std::vector<consensus::Entry>& committed) {
          return state_machine_->Apply(committed);
        },
        [this](const std::vector<AppliedCommand>& applied_commands) {
          const uint64_t applied_index = state_machine_->applied_index();
          hub_->Publish(applied_commands, applied_index);
          MaybeSnapshot(applied_index);
        });
    rules_ = std::make_unique<SubmitRules>(placement_.get(),
                                           state_machine_.get(), driver_.get());
    driver_->Start();
    snapshotter_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "snapshotter");
      SnapshotLoop();
    });
    return absl::OkStatus();
  }

  // --- snapshots (docs/STORAGE.md, "Snapshots and compaction") ---

  // Driver thread, after each applied batch.
  void MaybeSnapshot(uint64_t applied_index) {
    if (options_.snapshot_entries == 0) return;
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    if (snapshot_wanted_ ||
        applied_index < snapshot_base_ + options_.snapshot_entries) {
      return;
    }
    snapshot_wanted_ = true;
    snapshot_cv_.notify_all();
  }

  // The snapshotter thread: takes snapshots from a LevelDB snapshot while
  // applies go on, then compacts the log behind them.
  void SnapshotLoop() {
    {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      snapshot_base_ = store_->log().Snapshot().index();
    }
    // Entries a crash left below the log's start (mid-compaction).
    store_->log().DeleteCompacted();
    while (true) {
      {
        std::unique_lock<std::mutex> lock(snapshot_mu_);
        snapshot_cv_.wait(lock,
                          [&] { return snapshot_stop_ || snapshot_wanted_; });
        if (snapshot_stop_) return;
      }
      TakeSnapshot();
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      snapshot_wanted_ = false;
    }
  }

  void TakeSnapshot() {
    const auto started = std::chrono::steady_clock::now();
    auto meta = store_->snapshots().Create(
        store_->db(), [this](uint64_t i) { return store_->log().EpochAt(i); });
    if (!meta.ok()) {
      LOG(ERROR) << "event=snapshot_failed id=" << options_.id << " "
                 << meta.status();
      return;
    }
    const auto written = std::chrono::steady_clock::now();
    const uint64_t retain = options_.retain_entries;
    const uint64_t compact_to =
        meta->index() > retain ? meta->index() - retain : 0;
    // Serialized with installs: a snapshot received from the leader meanwhile
    // is newer, and its log start must not be overwritten by this older one.
    std::lock_guard<std::mutex> io(snapshot_io_mu_);
    if (installed_index_ >= meta->index()) return;
    driver_->RunLocked([&] {
      if (store_->log().Snapshot().index() >= meta->index()) return;
      store_->log().SetSnapshot(*meta);
      store_->log().CompactThrough(compact_to);
    });
    {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      snapshot_base_ = std::max(snapshot_base_, meta->index());
    }
    store_->log().DeleteCompacted();
    store_->snapshots().RemoveOthers(store_->log().Snapshot(), *meta);
    const auto done = std::chrono::steady_clock::now();
    LOG(INFO) << "event=snapshot_taken id=" << options_.id
              << " index=" << meta->index() << " epoch=" << meta->epoch()
              << " bytes=" << meta->size() << " write_ms="
              << std::chrono::duration_cast<std::chrono::milliseconds>(written -
                                                                       started)
                     .count()
              << " first_index=" << store_->log().FirstIndex() << " total_ms="
              << std::chrono::duration_cast<std::chrono::milliseconds>(done -
                                                                       started)
                     .count();
  }

  // What the driver calls to stage and install a snapshot from the leader.
  class ReplicaSnapshotSink : public SnapshotSink {
   public:
    explicit ReplicaSnapshotSink(Impl* impl) : impl_(impl) {}
    void Stage(const std::vector<consensus::SnapshotChunk>& chunks) override {
      storage::SnapshotFiles& files = impl_->store_->snapshots();
      for (const consensus::SnapshotChunk& chunk : chunks) {
        if (chunk.offset == 0) {
          absl::Status begun = files.BeginStaging(chunk.meta);
          CHECK(begun.ok()) << "staging a snapshot: " << begun;
        }
        absl::Status appended = files.AppendStaged(chunk.data);
        CHECK(appended.ok()) << "staging a snapshot: " << appended;
      }
    }
    bool Install(const consensus::SnapshotMeta& meta) override {
      std::lock_guard<std::mutex> io(impl_->snapshot_io_mu_);
      storage::SnapshotFiles& files = impl_->store_->snapshots();
      const absl::Status installed =
          files.InstallStaged(impl_->store_->db(), meta);
      if (!installed.ok()) {
        LOG(ERROR) << "event=snapshot_refused id=" << impl_->options_.id
                   << " index=" << meta.index() << ": " << installed;
        (void)files.DiscardStaged();
        return false;
      }
      impl_->state_machine_->Reload();
      const auto [applied, digest] =
          impl_->state_machine_->applied_and_digest();
      CHECK_EQ(applied, meta.index());
      CHECK_EQ(digest, meta.digest());
      impl_->hub_->Reset(applied);
      impl_->installed_index_ = meta.index();
      std::lock_guard<std::mutex> lock(impl_->snapshot_mu_);
      impl_->snapshot_base_ = std::max(impl_->snapshot_base_, meta.index());
      return true;
    }
    void Installed(const consensus::SnapshotMeta& meta) override {
      impl_->store_->log().ResetToSnapshot(meta);
      impl_->writer_->ResetAfterSnapshot(meta.index());
    }

   private:
    Impl* const impl_;
  };

  void Shutdown() {
    if (driver_ == nullptr) return;
    // The driver first (its thread stops, pending callers are answered), then
    // the waiters, the transport, and the writer, which drains its queue and
    // reports to the still existing driver.
    {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      snapshot_stop_ = true;
      snapshot_cv_.notify_all();
    }
    if (snapshotter_.joinable()) snapshotter_.join();
    driver_->Stop();
    hub_->Stop();
    if (transport_) transport_->Stop();
    writer_.reset();
  }

  void StepBatch(const consensus::MessageBatch& batch) {
    if (batch.cluster_id() != options_.cluster.cluster_id() ||
        members_.count(batch.from()) == 0 || batch.from() == options_.id) {
      LOG_EVERY_N(WARNING, 100)
          << "dropping messages from unknown sender " << batch.from()
          << " of cluster '" << batch.cluster_id() << "'";
      return;
    }
    driver_->Step(batch.from(), batch);
  }

  absl::StatusOr<SubmitResponse> Submit(const SubmitRequest& request,
                                        absl::Time deadline) {
    return rules_->Submit(request, deadline);
  }

  absl::StatusOr<SubmitBatchResponse> SubmitBatch(
      const SubmitBatchRequest& batch, absl::Time deadline) {
    return rules_->SubmitBatch(batch, deadline);
  }

  std::shared_ptr<PendingSubmit> StartSubmitBatch(
      const SubmitBatchRequest& batch, SubmitRules::Done done) {
    return rules_->Start(batch, std::move(done));
  }

  // Waits until this replica has applied what a read asks for: at least
  // `min_offset` (waiting up to `wait_ms`), and with LINEARIZABLE everything
  // the leader had committed when the read arrived (ReadIndex). Returns the
  // applied offset the read is served at; StaleRead when it is not there in
  // time.
  template <typename Request>
  absl::StatusOr<uint64_t> WaitFresh(const Request& request,
                                     absl::Time deadline) {
    uint64_t min_offset = request.min_offset();
    absl::Time wait_until =
        std::min(deadline, absl::Now() + absl::Milliseconds(request.wait_ms()));
    if (request.consistency() == LINEARIZABLE) {
      auto index = driver_->ReadIndex(deadline);
      if (!index.ok()) return index.status();
      min_offset = std::max(min_offset, *index);
      wait_until = deadline;
    }
    const uint64_t served = hub_->WaitApplied(min_offset, wait_until);
    if (served < min_offset) {
      return MakeError(
          ErrorCode::kStaleRead,
          absl::StrCat("replica ", self_.name(), " has applied offset ", served,
                       " < min_offset ", min_offset));
    }
    return served;
  }

  absl::StatusOr<ReadStatusResponse> ReadStatus(
      const ReadStatusRequest& request, absl::Time deadline) {
    if (absl::Status valid = ValidateRequestId(request.request_id());
        !valid.ok())
      return valid;
    absl::StatusOr<uint64_t> fresh = WaitFresh(request, deadline);
    if (!fresh.ok()) return fresh.status();
    const uint64_t served = *fresh;
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

  absl::StatusOr<EffectResponse> Cancel(const CancelRequest& request,
                                        absl::Time deadline) {
    if (absl::Status allowed =
            placement_->CheckIngress(request.ingress_domain());
        !allowed.ok()) {
      return allowed;
    }
    Command command;
    command.mutable_cancel()->set_request_id(request.request_id());
    auto pending = driver_->ProposeOne(std::move(command));
    if (!pending.ok()) return pending.status();
    auto applied = AwaitProposal(**pending, deadline);
    if (!applied.ok()) return applied.status();
    if (applied->result.code() == RESULT_NOT_FOUND) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat("no request '", request.request_id(),
                                    "' at offset ", applied->index));
    }
    EffectResponse response;
    response.set_code(applied->result.code());
    *response.mutable_record() = applied->result.record();
    response.set_offset(applied->index);
    return response;
  }

  absl::StatusOr<ListRequestsResponse> ListRequests(
      const ListRequestsRequest& request, absl::Time deadline) {
    absl::StatusOr<uint64_t> fresh = WaitFresh(request, deadline);
    if (!fresh.ok()) return fresh.status();
    const uint64_t served = *fresh;
    // A state filter may skip many entries: the scan is bounded too, and a
    // short page says where to go on.
    const size_t scan_limit =
        std::min<size_t>(10000, 20 * static_cast<size_t>(request.page_size()));
    ReportStateMachine::AccountPage page = state_machine_->ListAccount(
        request.account_id(), request.state(), request.before_offset(),
        request.page_size(), scan_limit);
    ListRequestsResponse response;
    for (RequestRecord& record : page.records) {
      *response.add_records() = std::move(record);
    }
    response.set_next_before_offset(page.next_before_offset);
    response.set_served_offset(served);
    return response;
  }

  absl::Status Watch(const WatchRequest& request,
                     const std::function<bool(const WatchEvent&)>& send,
                     const std::function<bool()>& cancelled) {
    if (absl::Status allowed = placement_->CheckWorker(request.worker_domain());
        !allowed.ok()) {
      return allowed;
    }
    const uint64_t start = hub_->applied();
    // Catch-up: everything still unfinished (from the lowest unfinished
    // offset), so a worker needs no checkpoint of its own. Changes applied
    // meanwhile follow from the hub.
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
    if (!open) return absl::OkStatus();
    return hub_->Follow(start, send, cancelled);
  }

  ClusterStatusResponse Status() const {
    ClusterStatusResponse response;
    response.set_id(options_.id);
    response.set_name(self_.name());
    response.set_domain(options_.domain);
    response.set_cluster_id(options_.cluster.cluster_id());
    const CoreStatus core = driver_->Status();
    response.set_role(RoleText(core.role));
    response.set_epoch(core.epoch);
    response.set_leader_id(core.leader);
    response.set_leader_address(core.leader_address);
    response.set_commit_offset(core.commit_index);
    response.set_last_offset(core.last_index);
    response.set_first_index(store_->log().FirstIndex());
    response.set_snapshot_index(store_->log().Snapshot().index());
    for (const consensus::Progress& progress : core.progress) {
      FollowerProgress* follower = response.add_followers();
      follower->set_id(progress.id);
      follower->set_match_offset(progress.match);
      follower->set_next_offset(progress.next);
      follower->set_state(consensus::ProgressStateName(progress.state));
    }
    // The digest is stored with the applied index, so the pair is consistent.
    auto [applied, digest] = state_machine_->applied_and_digest();
    response.set_applied_offset(applied);
    response.set_state_digest(digest);
    response.set_transfer_to(core.transferee);
    return response;
  }

  absl::StatusOr<ClusterStatusResponse> TransferLeader(
      const TransferLeaderRequest& request, absl::Time deadline) {
    uint64_t target = 0;
    for (const auto& [id, member] : members_) {
      if (member.name() == request.target()) target = id;
    }
    if (target == 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat("no member named '", request.target(),
                                    "' in the cluster"));
    }
    if (absl::Status started = driver_->TransferLeadership(target);
        !started.ok()) {
      return started;
    }
    // The core answers within an election timeout: the target leads (this
    // replica hears from it), or the transfer is abandoned. Polled: an
    // operator's call, rare, and the status is cheap.
    for (;;) {
      const CoreStatus core = driver_->Status();
      if (core.leader == target && core.role != consensus::Role::kLeader) {
        return Status();
      }
      if (target == options_.id && core.role == consensus::Role::kLeader) {
        return Status();
      }
      if (core.role == consensus::Role::kLeader && core.transferee == 0) {
        return MakeError(ErrorCode::kNoQuorum,
                         absl::StrCat(request.target(),
                                      " did not take over within an election "
                                      "timeout (down, cut off or behind); "
                                      "this replica still leads"));
      }
      if (absl::Now() >= deadline) {
        return MakeError(
            ErrorCode::kNoQuorum,
            absl::StrCat("no answer on the transfer to ", request.target(),
                         " before the deadline"));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

 private:
  // Reserve, extend, complete and fail: one command each, from a worker in a
  // worker domain, answered with the state machine's result.
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
    auto pending = driver_->ProposeOne(std::move(command));
    if (!pending.ok()) return pending.status();
    auto applied = AwaitProposal(**pending, deadline);
    if (!applied.ok()) return applied.status();
    EffectResponse response;
    response.set_code(applied->result.code());
    *response.mutable_record() = applied->result.record();
    *response.mutable_effect() = applied->result.effect();
    response.set_offset(applied->index);
    return response;
  }

  const ReplicaOptions options_;
  Member self_;
  std::map<uint64_t, Member> members_;
  std::unique_ptr<Placement> placement_;
  std::unique_ptr<storage::ReplicaStore> store_;
  std::unique_ptr<ReportStateMachine> state_machine_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<TransportSink> transport_sink_;
  std::unique_ptr<StorageLogSink> log_sink_;
  // Declared before the writer, so the writer (whose callbacks reach the
  // driver and the sink) is destroyed first.
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<SubmitRules> rules_;
  std::unique_ptr<storage::LogWriter> writer_;
  std::unique_ptr<SnapshotSink> snapshot_sink_;
  // The snapshotter thread and what it waits on.
  std::mutex snapshot_mu_;
  std::condition_variable snapshot_cv_;
  bool snapshot_wanted_ = false;  // guarded by snapshot_mu_
  bool snapshot_stop_ = false;    // guarded by snapshot_mu_
  uint64_t snapshot_base_ = 0;    // index of the newest snapshot; guarded
  std::thread snapshotter_;
  // Held while a snapshot is recorded and the log compacted, and while a
  // received one is installed (lock order: before the driver's lock).
  std::mutex snapshot_io_mu_;
  uint64_t installed_index_ = 0;  // newest installed; guarded by the above
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
std::shared_ptr<PendingSubmit> Replica::StartSubmitBatch(
    const SubmitBatchRequest& batch,
    std::function<void(absl::StatusOr<SubmitBatchResponse>)> done) {
  return impl_->StartSubmitBatch(batch, std::move(done));
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
absl::StatusOr<EffectResponse> Replica::Cancel(const CancelRequest& request,
                                               absl::Time deadline) {
  return impl_->Cancel(request, deadline);
}
absl::StatusOr<ListRequestsResponse> Replica::ListRequests(
    const ListRequestsRequest& request, absl::Time deadline) {
  return impl_->ListRequests(request, deadline);
}
absl::Status Replica::Watch(const WatchRequest& request,
                            const std::function<bool(const WatchEvent&)>& send,
                            const std::function<bool()>& cancelled) {
  return impl_->Watch(request, send, cancelled);
}
ClusterStatusResponse Replica::Status() const { return impl_->Status(); }

absl::StatusOr<ClusterStatusResponse> Replica::TransferLeader(
    const TransferLeaderRequest& request, absl::Time deadline) {
  return impl_->TransferLeader(request, deadline);
}
void Replica::Shutdown() { impl_->Shutdown(); }

}  // namespace report
