// A report worker (docs/EFFECTS.md): follows the committed log through an
// EffectLedger, and for each request that needs work reserves its effect key,
// generates the report, writes it to the sink once and completes the request by
// CAS.
//
// What it promises (with the sink's write-once files and the ledger's fenced
// CAS):
//   - at most one sink file per effect key, whoever and however often anyone
//     retries;
//   - it writes only while it holds an unexpired lease as far as it can tell,
//     and abandons work (writing nothing) as soon as ExtendLease reports the
//     lease lost;
//   - a request already in the sink is completed with the existing file,
//     never rewritten;
//   - it never asks for another domain: a DomainUnavailable answer stops the
//     worker.
// It keeps no checkpoint: every (re)connected watch starts from offset 0, which
// the replica serves from the lowest unfinished offset; duplicates are merged
// by request id.
#ifndef REPORT_WORKER_WORKER_H_
#define REPORT_WORKER_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/metrics.h"
#include "proto/replica_service.pb.h"
#include "worker/effect_ledger.h"
#include "worker/report_sink.h"

namespace report {

// Exit status of a worker stopped by the crash_after_sink_write fault knob.
inline constexpr int kCrashAfterSinkWriteExit = 86;
// Exit status of a worker stopped by the crash_request_prefix fault knob.
inline constexpr int kCrashOnReserveExit = 87;

// A fresh random incarnation (hex), distinct for every process start.
std::string NewIncarnation();
// "#" + the incarnation: what a lease holder adds to the worker id.
inline constexpr size_t kIncarnationSuffixLength = 1 + 12;
// The longest sink directory whose report locations (file:// URIs of escaped
// effect keys, each byte at most tripled twice) stay within
// kMaxReportLocationLength: 3*1024 + 9*256 + 13 < 8192.
inline constexpr size_t kMaxSinkDirectoryLength = 1024;

struct WorkerOptions {
  // The configured id (--id). The worker holds leases as
  // "<worker_id>#<incarnation>", so a restarted process is a new holder: it
  // cannot renew its dead predecessor's lease for free, it waits for the lease
  // to expire and spends an attempt like any other worker.
  std::string worker_id;
  std::string incarnation;  // empty: NewIncarnation()
  std::string worker_domain;
  std::chrono::milliseconds lease{
      5000};  // extended every lease / 3 while working
  uint32_t max_attempts = 3;
  int concurrency = 2;                     // requests worked on at once
  std::chrono::milliseconds work_time{0};  // simulated extra generation time
  // Fault knobs for tests: requests whose id starts with fail_request_prefix
  // always fail in the work; with fail_every = N, every Nth generation attempt
  // fails (0: never).
  std::string fail_request_prefix;
  uint32_t fail_every = 0;
  // Fault knob for tests: after the sink write succeeds and before Complete,
  // the process ends at once with kCrashAfterSinkWriteExit (a crash between
  // the effect and its record).
  bool crash_after_sink_write = false;
  // Fault knob for tests: once granted a request whose id starts with this, the
  // process ends at once with kCrashOnReserveExit, before any write (a request
  // that crashes its worker every time).
  std::string crash_request_prefix;
  // A request that failed n times is reserved again no sooner than
  // retry_backoff * 2^(n-1) (capped) after its failure, in cluster time.
  std::chrono::milliseconds retry_backoff{500};
  std::chrono::milliseconds retry_backoff_max{30000};
  // Watch reconnection and transport-error retries: same doubling, own bounds.
  std::chrono::milliseconds reconnect_backoff{100};
  std::chrono::milliseconds reconnect_backoff_max{5000};
  // Ready requests buffered ahead of the pool; the watch blocks beyond it. 0: 4
  // * concurrency.
  size_t queue_capacity = 0;
};

struct WorkerStats {
  uint64_t reserved = 0;   // reservations granted
  uint64_t completed = 0;  // Complete applied (including the next line)
  uint64_t completed_existing =
      0;                       // ... with a file already in the sink (no write)
  uint64_t abandoned = 0;      // work dropped because the lease was lost
  uint64_t work_failures = 0;  // Fail sent after a work error
  uint64_t watch_reconnects = 0;
};

class LeaseKeeper;
class Worker;

// Declares report_worker_effects_total{result} (completed: a report written
// and completed; completed_existing: completed with the file already in the
// sink; abandoned: the lease was lost; failed: a Fail was sent),
// report_worker_reservations_total and report_worker_watch_reconnects_total,
// read from `worker` at every scrape; it must outlive the registry's last
// rendering.
void ExportWorkerMetrics(const Worker* worker, metrics::Registry* registry);

class Worker {
 public:
  // `ledger` and `sink` must outlive the worker.
  Worker(WorkerOptions options, EffectLedger* ledger,
         DirectoryReportSink* sink);
  ~Worker();  // Stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the watch, scheduler, lease and pool threads.
  void Start();
  // Asks every thread to stop (cancels the watch and running work); safe from
  // any thread.
  void RequestStop();
  // RequestStop, then joins all threads. Call from the owner's thread only.
  void Stop();
  // Blocks until a stop was requested or a fatal error happened; returns that
  // error.
  absl::Status Wait();
  // Start + Wait + Stop.
  absl::Status Run();

  WorkerStats stats() const;
  // "<worker_id>#<incarnation>": the name this process holds leases and
  // completes requests under.
  const std::string& holder_id() const { return holder_id_; }

 private:
  using Clock = std::chrono::steady_clock;

  enum class Phase { kQueued, kDeferred, kActive };
  struct Tracked {
    Phase phase = Phase::kQueued;
    RequestRecord latest;  // newest record seen (events and our own responses)
    Clock::time_point due;
    uint32_t retries = 0;  // consecutive transport errors / LEASE_HELD answers
  };
  // What a finished attempt learnt about its request.
  struct Outcome {
    enum Kind { kRecord, kForget, kRetry } kind = kForget;
    RequestRecord record;
    Clock::duration min_delay{};
    uint32_t retries = 0;
  };

  void WatchLoop();
  void ScheduleLoop();
  void WorkLoop();

  void OnEvent(const WatchEvent& event);
  // Queues, defers or forgets a request that is not being worked on, by its
  // record.
  void TrackLocked(const RequestRecord& record, uint32_t retries,
                   Clock::duration min_delay);
  void DeferLocked(const std::string& request_id, Tracked tracked,
                   Clock::duration delay);
  void FinishLocked(const std::string& request_id, Outcome outcome);
  void RememberFinishedLocked(const RequestRecord& record);
  // How long to wait before reserving; nullopt when there is nothing to do.
  std::optional<Clock::duration> DelayBeforeReserveLocked(
      const RequestRecord& record) const;
  int64_t ClusterNowMsLocked() const;

  Outcome Process(const RequestRecord& record, uint32_t retries);
  absl::Status InjectedFault(const std::string& request_id);
  // Sleeps up to `delay`; false when a stop was requested meanwhile.
  bool SleepUnlessStopping(Clock::duration delay);
  void SetFatal(const absl::Status& status);
  void RequestStopLocked();

  const WorkerOptions options_;
  const std::string holder_id_;
  EffectLedger* const ledger_;
  DirectoryReportSink* const sink_;
  std::unique_ptr<LeaseKeeper> lease_keeper_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;      // ready_ gained an entry, or stopping
  std::condition_variable space_cv_;     // ready_ lost an entry, or stopping
  std::condition_variable schedule_cv_;  // deferred_ changed, or stopping
  std::condition_variable stop_cv_;      // stopping
  bool started_ = false;
  bool stopping_ = false;
  absl::Status fatal_;
  std::deque<std::string>
      ready_;  // may hold stale ids: checked against tracked_
  std::multimap<Clock::time_point, std::string> deferred_;  // idem
  absl::flat_hash_map<std::string, Tracked> tracked_;
  // Recently finished requests and the version that finished them, so that
  // watch events still in flight from before (a lagging stream) do not trigger
  // another Reserve. Bounded: the oldest are dropped first (a late event then
  // costs one ALREADY_DONE).
  absl::flat_hash_map<std::string, uint64_t> finished_;
  std::deque<std::string> finished_order_;
  int64_t cluster_skew_ms_ =
      0;  // cluster time minus local wall time, from live events

  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> generation_attempts_{0};
  struct AtomicStats {
    std::atomic<uint64_t> reserved{0}, completed{0}, completed_existing{0},
        abandoned{0}, work_failures{0}, watch_reconnects{0};
  } stats_;

  std::vector<std::thread> threads_;
};

}  // namespace report

#endif  // REPORT_WORKER_WORKER_H_
