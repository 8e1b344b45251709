#include "worker/worker.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/backoff.h"
#include "common/error_code.h"
#include "common/event_log.h"
#include "common/validation.h"
#include "worker/report_generator.h"

namespace report {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Slack added to a lease expiry before trying to take the lease over, so that
// the replica, judging by cluster time, has most likely seen it expire too.
constexpr milliseconds kLeaseMargin(25);
// Smallest pause before reserving again after LEASE_HELD (doubles with each
// answer).
constexpr milliseconds kRecheckDelay(50);
constexpr int kCompleteTransportRetries = 3;

// base * 2^(n-1), capped; n >= 1. Without jitter: these delays are stated in
// docs/EFFECTS.md and relied on by tests.
milliseconds Doubling(milliseconds base, milliseconds cap, uint32_t n) {
  return absl::ToChronoMilliseconds(
      ExponentialDelay(absl::FromChrono(base), absl::FromChrono(cap), n));
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One lease this worker holds, kept alive by the LeaseKeeper while the work
// runs.
struct HeldLease {
  std::string request_id;
  uint64_t fencing_token = 0;
  // Guarded by LeaseKeeper::mu_.
  uint64_t version =
      0;  // latest record version, the Complete/Fail CAS expects it
  Clock::time_point next_extend;
  Clock::time_point
      valid_until;  // conservative local estimate of the lease's end
  bool extending = false;
  bool lost = false;
  std::optional<RequestRecord>
      lost_record;  // the record when ExtendLease said CAS_FAILED
};

// Extends every held lease each lease/3 from one thread. A lease is lost when
// ExtendLease answers CAS_FAILED, or when its local estimate of the expiry
// passes without a successful extension (transport trouble): from then on the
// work must not write.
class LeaseKeeper {
 public:
  struct Released {
    uint64_t version = 0;
    bool lost = false;
    std::optional<RequestRecord> lost_record;
  };

  LeaseKeeper(EffectLedger* ledger, const WorkerOptions& options,
              const std::string& holder_id)
      : ledger_(ledger),
        options_(options),
        holder_id_(holder_id),
        thread_([this] { Loop(); }) {}
  ~LeaseKeeper() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // `requested_at`: when the Reserve that granted the lease was sent.
  std::shared_ptr<HeldLease> Hold(const std::string& request_id,
                                  uint64_t fencing_token, uint64_t version,
                                  Clock::time_point requested_at) {
    auto lease = std::make_shared<HeldLease>();
    lease->request_id = request_id;
    lease->fencing_token = fencing_token;
    lease->version = version;
    lease->valid_until = requested_at + options_.lease;
    lease->next_extend = Clock::now() + options_.lease / 3;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leases_.push_back(lease);
    }
    cv_.notify_all();
    return lease;
  }

  bool Valid(const HeldLease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    return !lease.lost && Clock::now() < lease.valid_until;
  }

  // Stops extending; waits for an extension in flight so the returned version
  // is final.
  Released Release(const std::shared_ptr<HeldLease>& lease) {
    std::unique_lock<std::mutex> lock(mu_);
    released_cv_.wait(lock, [&] { return !lease->extending; });
    leases_.erase(std::remove(leases_.begin(), leases_.end(), lease),
                  leases_.end());
    Released released;
    released.version = lease->version;
    released.lost = lease->lost || Clock::now() >= lease->valid_until;
    released.lost_record = lease->lost_record;
    return released;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      const Clock::time_point now = Clock::now();
      std::shared_ptr<HeldLease> due;
      Clock::time_point wake = Clock::time_point::max();
      for (const std::shared_ptr<HeldLease>& lease : leases_) {
        if (lease->lost) continue;
        if (now >= lease->valid_until) {
          lease->lost = true;
          LOG(WARNING) << "lease on " << lease->request_id
                       << " expired without a successful extension";
          continue;
        }
        if (lease->next_extend <= now) {
          due = lease;
          break;
        }
        wake = std::min({wake, lease->next_extend, lease->valid_until});
      }
      if (due == nullptr) {
        if (wake == Clock::time_point::max()) {
          cv_.wait(lock);
        } else {
          cv_.wait_until(lock, wake);
        }
        continue;
      }
      due->extending = true;
      ExtendLeaseRequest request;
      request.set_request_id(due->request_id);
      request.set_worker_id(holder_id_);
      request.set_worker_domain(options_.worker_domain);
      request.set_fencing_token(due->fencing_token);
      request.set_lease_ms(static_cast<uint64_t>(options_.lease.count()));
      lock.unlock();
      const Clock::time_point sent = Clock::now();
      absl::StatusOr<EffectResponse> response = ledger_->ExtendLease(request);
      lock.lock();
      due->extending = false;
      if (response.ok() && response->code() == RESULT_OK) {
        if (response->record().version() != 0)
          due->version = response->record().version();
        due->valid_until = sent + options_.lease;
        due->next_extend = Clock::now() + options_.lease / 3;
      } else if (response.ok()) {
        due->lost = true;
        due->lost_record = response->record();
        LOG(INFO) << EventLine("worker_refused",
                               {{"op", "extend_lease"},
                                {"request_id", due->request_id},
                                {"worker", holder_id_},
                                {"token", due->fencing_token},
                                {"reason", ResultCode_Name(response->code())}});
      } else {
        // Keep trying until the lease would have run out.
        due->next_extend =
            Clock::now() +
            std::max<Clock::duration>(options_.lease / 10, milliseconds(10));
        LOG(WARNING) << "extending the lease on " << due->request_id
                     << " failed: " << response.status();
      }
      released_cv_.notify_all();
    }
  }

  EffectLedger* const ledger_;
  const WorkerOptions& options_;
  const std::string& holder_id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable released_cv_;
  bool stopping_ = false;
  std::vector<std::shared_ptr<HeldLease>> leases_;
  std::thread thread_;  // last: starts after the members it uses
};

std::string NewIncarnation() {
  // Random, not the pid or a start time: a restart on another host or after a
  // reboot may reuse either.
  std::random_device random;
  const uint64_t high = random(), low = random();
  return absl::StrFormat("%012x", ((high << 32) | low) & 0xffffffffffffULL);
}

Worker::Worker(WorkerOptions options, EffectLedger* ledger,
               DirectoryReportSink* sink)
    : options_(std::move(options)),
      holder_id_(absl::StrCat(options_.worker_id, "#",
                              options_.incarnation.empty()
                                  ? NewIncarnation()
                                  : options_.incarnation)),
      ledger_(ledger),
      sink_(sink) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return;
    started_ = true;
  }
  lease_keeper_ = std::make_unique<LeaseKeeper>(ledger_, options_, holder_id_);
  threads_.emplace_back([this] { WatchLoop(); });
  threads_.emplace_back([this] { ScheduleLoop(); });
  for (int i = 0; i < std::max(1, options_.concurrency); ++i) {
    threads_.emplace_back([this] { WorkLoop(); });
  }
}

void Worker::RequestStop() {
  std::lock_guard<std::mutex> lock(mu_);
  RequestStopLocked();
}

void Worker::RequestStopLocked() {
  stopping_ = true;
  cancelled_.store(true);
  work_cv_.notify_all();
  space_cv_.notify_all();
  schedule_cv_.notify_all();
  stop_cv_.notify_all();
}

void Worker::Stop() {
  RequestStop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  // After the pool: running work may still be releasing its lease.
  if (lease_keeper_ != nullptr) lease_keeper_->Stop();
}

absl::Status Worker::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait(lock, [&] { return stopping_; });
  return fatal_;
}

absl::Status Worker::Run() {
  Start();
  absl::Status status = Wait();
  Stop();
  return status;
}

WorkerStats Worker::stats() const {
  WorkerStats stats;
  stats.reserved = stats_.reserved.load();
  stats.completed = stats_.completed.load();
  stats.completed_existing = stats_.completed_existing.load();
  stats.abandoned = stats_.abandoned.load();
  stats.work_failures = stats_.work_failures.load();
  stats.watch_reconnects = stats_.watch_reconnects.load();
  return stats;
}

void Worker::SetFatal(const absl::Status& status) {
  LOG(ERROR) << EventLine("worker_refused", {{"op", "run"},
                                             {"worker", holder_id_},
                                             {"reason", status.ToString()}})
             << "; the worker stops";
  std::lock_guard<std::mutex> lock(mu_);
  if (fatal_.ok()) fatal_ = status;
  RequestStopLocked();
}

bool Worker::SleepUnlessStopping(Clock::duration delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [&] { return stopping_; });
}

void Worker::WatchLoop() {
  // Jittered: every worker of a cluster reconnects when a replica restarts.
  Backoff reconnect(absl::FromChrono(options_.reconnect_backoff),
                    absl::FromChrono(options_.reconnect_backoff_max));
  while (!cancelled_.load()) {
    bool received = false;
    absl::Status status = ledger_->Watch(
        0,
        [&](const WatchEvent& event) {
          received = true;
          OnEvent(event);
        },
        cancelled_);
    if (cancelled_.load()) break;
    if (ErrorCodeOf(status) == ErrorCode::kDomainUnavailable) {
      SetFatal(status);
      break;
    }
    if (received) reconnect.Reset();
    stats_.watch_reconnects.fetch_add(1);
    const milliseconds delay = absl::ToChronoMilliseconds(reconnect.Next());
    LOG(WARNING) << EventLine("watch_dropped",
                              {{"worker", holder_id_},
                               {"reason", status.ToString()},
                               {"reconnect_ms", delay.count()}});
    if (!SleepUnlessStopping(delay)) break;
  }
}

void Worker::OnEvent(const WatchEvent& event) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!event.catch_up() && event.record().updated_at_ms() != 0) {
    cluster_skew_ms_ =
        static_cast<int64_t>(event.record().updated_at_ms()) - WallNowMs();
  }
  // Back-pressure: the watch stream waits while the pool is saturated, so a
  // large backlog stays in the replicas rather than in this process.
  const size_t capacity =
      options_.queue_capacity != 0
          ? options_.queue_capacity
          : 4 * static_cast<size_t>(std::max(1, options_.concurrency));
  space_cv_.wait(lock, [&] { return stopping_ || ready_.size() < capacity; });
  if (stopping_) return;
  auto it = tracked_.find(event.record().request_id());
  TrackLocked(event.record(), it == tracked_.end() ? 0 : it->second.retries,
              Clock::duration::zero());
}

int64_t Worker::ClusterNowMsLocked() const {
  return WallNowMs() + cluster_skew_ms_;
}

std::optional<Clock::duration> Worker::DelayBeforeReserveLocked(
    const RequestRecord& record) const {
  switch (record.state()) {
    case ACCEPTED: {
      if (record.attempts() == 0) return Clock::duration::zero();
      const int64_t retry_at_ms =
          static_cast<int64_t>(record.updated_at_ms()) +
          Doubling(options_.retry_backoff, options_.retry_backoff_max,
                   record.attempts())
              .count();
      return milliseconds(
          std::max<int64_t>(0, retry_at_ms - ClusterNowMsLocked()));
    }
    case RUNNING: {
      // Our own lease (this process's: a lost answer or race): let the
      // replica decide now. An earlier process with our id is another holder.
      if (record.lease_holder() == holder_id_) return Clock::duration::zero();
      const int64_t left_ms =
          static_cast<int64_t>(record.lease_expiry_ms()) - ClusterNowMsLocked();
      return milliseconds(std::max<int64_t>(0, left_ms)) + kLeaseMargin;
    }
    default:
      return std::nullopt;  // COMPLETED / FAILED: never processed again
  }
}

void Worker::TrackLocked(const RequestRecord& record, uint32_t retries,
                         Clock::duration min_delay) {
  const std::string& id = record.request_id();
  if (id.empty()) return;
  auto it = tracked_.find(id);
  if (it == tracked_.end()) {
    auto done = finished_.find(id);
    if (done != finished_.end() && done->second >= record.version()) return;
  } else {
    if (it->second.latest.version() > record.version()) return;  // older news
    if (it->second.phase == Phase::kActive) {
      it->second.latest = record;  // judged when the attempt finishes
      return;
    }
  }
  std::optional<Clock::duration> delay = DelayBeforeReserveLocked(record);
  if (!delay.has_value()) {
    if (it != tracked_.end()) tracked_.erase(it);  // queue entries go stale
    RememberFinishedLocked(record);
    return;
  }
  Tracked tracked;
  tracked.latest = record;
  tracked.retries = retries;
  const Clock::duration wait = std::max(*delay, min_delay);
  if (wait > Clock::duration::zero()) {
    DeferLocked(id, std::move(tracked), wait);
    return;
  }
  const bool already_queued =
      it != tracked_.end() && it->second.phase == Phase::kQueued;
  tracked.phase = Phase::kQueued;
  tracked_[id] = std::move(tracked);
  if (!already_queued) {
    ready_.push_back(id);
    work_cv_.notify_one();
  }
}

void Worker::RememberFinishedLocked(const RequestRecord& record) {
  constexpr size_t kRemembered = 16384;
  if (record.version() == 0) return;
  auto [it, inserted] =
      finished_.try_emplace(record.request_id(), record.version());
  if (!inserted) {
    it->second = std::max(it->second, record.version());
    return;
  }
  finished_order_.push_back(record.request_id());
  if (finished_order_.size() > kRemembered) {
    finished_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

void Worker::DeferLocked(const std::string& request_id, Tracked tracked,
                         Clock::duration delay) {
  tracked.phase = Phase::kDeferred;
  tracked.due = Clock::now() + delay;
  deferred_.emplace(tracked.due, request_id);
  tracked_[request_id] = std::move(tracked);
  schedule_cv_.notify_one();
}

void Worker::ScheduleLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (deferred_.empty()) {
      schedule_cv_.wait(lock);
      continue;
    }
    auto first = deferred_.begin();
    if (first->first > Clock::now()) {
      schedule_cv_.wait_until(lock, first->first);
      continue;
    }
    const Clock::time_point due = first->first;
    const std::string id = std::move(first->second);
    deferred_.erase(first);
    auto it = tracked_.find(id);
    if (it == tracked_.end() || it->second.phase != Phase::kDeferred ||
        it->second.due != due) {
      continue;  // superseded
    }
    it->second.phase = Phase::kQueued;
    ready_.push_back(id);
    work_cv_.notify_one();
  }
}

void Worker::WorkLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    const std::string id = std::move(ready_.front());
    ready_.pop_front();
    space_cv_.notify_one();
    auto it = tracked_.find(id);
    if (it == tracked_.end() || it->second.phase != Phase::kQueued) continue;
    it->second.phase = Phase::kActive;
    const RequestRecord record = it->second.latest;
    const uint32_t retries = it->second.retries;
    lock.unlock();
    Outcome outcome = Process(record, retries);
    lock.lock();
    FinishLocked(id, std::move(outcome));
  }
}

void Worker::FinishLocked(const std::string& request_id, Outcome outcome) {
  auto it = tracked_.find(request_id);
  if (it == tracked_.end()) return;
  RequestRecord latest = std::move(it->second.latest);
  tracked_.erase(it);
  if (stopping_) return;
  switch (outcome.kind) {
    case Outcome::kForget:
      return;
    case Outcome::kRetry: {
      Tracked tracked;
      tracked.latest = std::move(latest);
      tracked.retries = outcome.retries;
      DeferLocked(
          request_id, std::move(tracked),
          Doubling(options_.reconnect_backoff, options_.reconnect_backoff_max,
                   std::max<uint32_t>(1, outcome.retries)));
      return;
    }
    case Outcome::kRecord: {
      // Whichever is newer: what our last command answered, or what the watch
      // said since.
      const RequestRecord& record =
          latest.version() > outcome.record.version() ? latest : outcome.record;
      TrackLocked(record, outcome.retries, outcome.min_delay);
      return;
    }
  }
}

absl::Status Worker::InjectedFault(const std::string& request_id) {
  if (!options_.fail_request_prefix.empty() &&
      absl::StartsWith(request_id, options_.fail_request_prefix)) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("injected failure: request id starts with '",
                                  options_.fail_request_prefix, "'"));
  }
  const uint64_t attempt = generation_attempts_.fetch_add(1) + 1;
  if (options_.fail_every != 0 && attempt % options_.fail_every == 0) {
    return MakeError(
        ErrorCode::kInternal,
        absl::StrCat("injected failure: generation attempt ", attempt,
                     " (every ", options_.fail_every, ")"));
  }
  return absl::OkStatus();
}

Worker::Outcome Worker::Process(const RequestRecord& record, uint32_t retries) {
  ReserveEffectRequest request;
  request.set_request_id(record.request_id());
  request.set_effect_key(sink_->EffectKey(record.request_id()));
  request.set_worker_id(holder_id_);
  request.set_worker_domain(options_.worker_domain);
  request.set_lease_ms(static_cast<uint64_t>(options_.lease.count()));
  request.set_max_attempts(options_.max_attempts);
  const Clock::time_point sent = Clock::now();
  absl::StatusOr<EffectResponse> response = ledger_->Reserve(request);
  Outcome outcome;
  if (!response.ok()) {
    if (ErrorCodeOf(response.status()) == ErrorCode::kDomainUnavailable) {
      SetFatal(response.status());
      return outcome;
    }
    LOG(WARNING) << "reserve " << record.request_id()
                 << " failed: " << response.status();
    outcome.kind = Outcome::kRetry;
    outcome.retries = retries + 1;
    return outcome;
  }
  switch (response->code()) {
    case RESULT_OK:
      break;
    case RESULT_LEASE_HELD:
      outcome.kind = Outcome::kRecord;
      outcome.record = response->record();
      outcome.retries = retries + 1;
      outcome.min_delay = Doubling(kRecheckDelay, options_.lease, retries + 1);
      return outcome;
    case RESULT_ALREADY_DONE:
      outcome.kind = Outcome::kRecord;  // remembered as finished
      outcome.record = response->record();
      return outcome;
    case RESULT_NOT_FOUND:
    case RESULT_INVALID:
      VLOG(1) << "nothing to do for " << record.request_id() << ": "
              << ResultCode_Name(response->code());
      return outcome;
    default:
      outcome.kind = Outcome::kRecord;
      outcome.record = response->record();
      outcome.min_delay = Doubling(kRecheckDelay, options_.lease, retries + 1);
      outcome.retries = retries + 1;
      return outcome;
  }
  stats_.reserved.fetch_add(1);
  if (!options_.crash_request_prefix.empty() &&
      absl::StartsWith(record.request_id(), options_.crash_request_prefix)) {
    LOG(ERROR) << "crash-request-prefix: exiting holding the lease on "
               << record.request_id();
    _exit(kCrashOnReserveExit);
  }
  const RequestRecord& granted = response->record();
  uint64_t token = granted.fencing_token();
  if (token == 0) token = response->effect().fencing_token();
  std::shared_ptr<HeldLease> lease =
      lease_keeper_->Hold(record.request_id(), token, granted.version(), sent);

  const std::string& id = record.request_id();
  const std::string key = sink_->EffectKey(id);
  auto cancelled = [&] {
    return cancelled_.load() || !lease_keeper_->Valid(*lease);
  };
  std::string location;
  bool abandon = false;
  absl::Status work_status;
  // Durably: the file may be an earlier holder's that died before its fsync
  // of the directory, and we are about to record it as the effect.
  absl::StatusOr<bool> exists = sink_->ExistsDurably(key);
  if (!exists.ok()) {
    work_status = exists.status();
  } else if (*exists) {
    location = sink_->Location(
        key);  // the effect already happened: record it, no write
  } else {
    work_status = InjectedFault(id);
    if (work_status.ok()) {
      ReportInput input{
          id,
          granted.account_id().empty() ? record.account_id()
                                       : granted.account_id(),
          granted.month().empty() ? record.month() : granted.month(), key};
      EffectStamp stamp{token, holder_id_, options_.worker_domain};
      absl::StatusOr<std::string> report =
          GenerateReport(input, stamp, options_.work_time, cancelled);
      if (report.ok() && cancelled())
        report = absl::CancelledError("lease lost");
      if (absl::IsCancelled(report.status())) {
        abandon = true;
      } else if (!report.ok()) {
        work_status = report.status();
      } else {
        absl::StatusOr<SinkWrite> written = sink_->WriteOnce(key, *report);
        if (!written.ok()) {
          work_status = written.status();
        } else {
          location = written->location;
          if (!written->written)
            *exists = true;  // someone else's copy won the race
          if (written->written && options_.crash_after_sink_write) {
            // Fault injection: die between the effect and its record, as a
            // crash would (no flush, no lease release, no Complete).
            LOG(ERROR) << "crash-after-sink-write: exiting after writing "
                       << location;
            _exit(kCrashAfterSinkWriteExit);
          }
        }
      }
    }
  }
  LeaseKeeper::Released released = lease_keeper_->Release(lease);

  if (abandon) {
    if (cancelled_.load())
      return outcome;  // shutting down: the lease simply expires
    stats_.abandoned.fetch_add(1);
    LOG(INFO) << "abandoned " << id << " (token " << token
              << "): lease lost, nothing written";
    outcome.kind = Outcome::kRecord;
    outcome.record = released.lost_record.value_or(granted);
    outcome.min_delay = kRecheckDelay;
    outcome.retries = 1;
    return outcome;
  }

  if (!work_status.ok()) {
    stats_.work_failures.fetch_add(1);
    LOG(WARNING) << "work on " << id << " failed: " << work_status;
    FailRequest fail;
    fail.set_request_id(id);
    fail.set_expected_version(released.version);
    fail.set_fencing_token(token);
    fail.set_worker_id(holder_id_);
    fail.set_worker_domain(options_.worker_domain);
    fail.set_error(FitFailure(work_status.message()));
    fail.set_max_attempts(options_.max_attempts);
    // Bad input stays bad: fail at once rather than burning the remaining
    // attempts.
    fail.set_retryable(ErrorCodeOf(work_status) != ErrorCode::kInvalidArgument);
    absl::StatusOr<EffectResponse> failed = ledger_->Fail(fail);
    if (!failed.ok()) {
      LOG(WARNING) << "fail " << id << " not recorded: " << failed.status();
      outcome.kind =
          Outcome::kRetry;  // the lease expires and the request comes back
      outcome.retries = 1;
      return outcome;
    }
    if (failed->record().state() == FAILED) {
      LOG(WARNING) << EventLine("request_failed",
                                {{"request_id", id},
                                 {"attempts", failed->record().attempts()},
                                 {"worker", holder_id_},
                                 {"domain", options_.worker_domain},
                                 {"reason", work_status.ToString()}});
    }
    outcome.kind = Outcome::kRecord;
    outcome.record = failed->record();
    return outcome;
  }

  // Even with the lease lost after the write, try: the CAS decides, and the
  // file is keyed, so whoever completes later records this same file instead of
  // writing another.
  CompleteRequest complete;
  complete.set_request_id(id);
  complete.set_expected_version(released.version);
  complete.set_fencing_token(token);
  complete.set_worker_id(holder_id_);
  complete.set_worker_domain(options_.worker_domain);
  complete.set_report_location(location);
  absl::StatusOr<EffectResponse> completed = ledger_->Complete(complete);
  for (int i = 1; !completed.ok() && i <= kCompleteTransportRetries; ++i) {
    LOG(WARNING) << "complete " << id << " failed: " << completed.status();
    if (!SleepUnlessStopping(Doubling(options_.reconnect_backoff,
                                      options_.reconnect_backoff_max, i))) {
      return outcome;
    }
    completed = ledger_->Complete(complete);
  }
  if (!completed.ok()) {
    outcome.kind = Outcome::kRetry;
    outcome.retries = 1;
    return outcome;
  }
  // A retried Complete whose first copy was applied answers CAS_FAILED with our
  // own result.
  const bool ours =
      completed->code() == RESULT_OK ||
      (completed->record().state() == COMPLETED &&
       completed->record().result().fencing_token() == token && token != 0);
  if (ours) {
    stats_.completed.fetch_add(1);
    if (*exists) stats_.completed_existing.fetch_add(1);
    LOG(INFO) << "completed " << id << " -> " << location << " (token " << token
              << ")";
  } else {
    LOG(INFO) << EventLine("worker_refused",
                           {{"op", "complete"},
                            {"request_id", id},
                            {"worker", holder_id_},
                            {"token", token},
                            {"reason", ResultCode_Name(completed->code())}});
  }
  outcome.kind = Outcome::kRecord;
  outcome.record = completed->record();
  return outcome;
}

void ExportWorkerMetrics(const Worker* worker, metrics::Registry* registry) {
  registry->AddCallbackCounter(
      "report_worker_effects_total",
      "Requests this worker finished working on, by result.", {"result"},
      [worker] {
        const WorkerStats stats = worker->stats();
        return std::vector<metrics::Sample>{
            {{"completed"},
             static_cast<double>(stats.completed - stats.completed_existing)},
            {{"completed_existing"},
             static_cast<double>(stats.completed_existing)},
            {{"abandoned"}, static_cast<double>(stats.abandoned)},
            {{"failed"}, static_cast<double>(stats.work_failures)}};
      });
  registry->AddCallbackCounter(
      "report_worker_reservations_total",
      "Effect reservations granted to this worker.", {}, [worker] {
        return std::vector<metrics::Sample>{
            {{}, static_cast<double>(worker->stats().reserved)}};
      });
  registry->AddCallbackCounter(
      "report_worker_watch_reconnects_total",
      "Times this worker's watch stream ended and was reopened.", {}, [worker] {
        return std::vector<metrics::Sample>{
            {{}, static_cast<double>(worker->stats().watch_reconnects)}};
      });
}

}  // namespace report
