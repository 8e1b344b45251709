// The replica's applied index and its recent changes, for those who wait on
// them: status reads wait until the state machine has applied an offset, and
// workers' watch streams follow every change applied after their catch-up scan.
//
// The apply layer calls Publish() once per applied batch. A ring keeps the
// newest changes (one per applied command with a request id), so a watcher
// that briefly fell behind replays them; one that fell further behind than the
// ring reaches is told to restart (its catch-up scan then covers the gap).
//
// Thread-safe; waiters block on one condition variable shared by all.
#ifndef REPORT_REPLICA_SERVER_WATCH_HUB_H_
#define REPORT_REPLICA_SERVER_WATCH_HUB_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/replica_service.pb.h"
#include "replica/state_machine/report_state_machine.h"

namespace report {

class WatchHub {
 public:
  // `applied`: the state machine's applied index at start. The ring keeps at
  // most `ring_size` changes.
  explicit WatchHub(uint64_t applied, size_t ring_size = 16384);
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Records the changes of one applied batch and moves the applied index to
  // `applied_index` (which covers entries that leave no change, such as
  // barriers), waking every waiter.
  void Publish(const std::vector<AppliedCommand>& applied,
               uint64_t applied_index);

  // The state machine was replaced by a snapshot at `applied_index`: the
  // changes up to it are not in the ring, so a watcher that has not seen them
  // is told to restart (its catch-up scan reads the new state).
  void Reset(uint64_t applied_index);

  // Wakes every waiter for good: Follow returns, WaitApplied stops waiting.
  void Stop();

  uint64_t applied() const;

  // Waits until the applied index reaches `min_offset`, the deadline passes or
  // the hub stops; returns the applied index then.
  uint64_t WaitApplied(uint64_t min_offset, absl::Time deadline) const;

  // Sends every change applied after `after`, in order, each with the applied
  // index it was sent at, until `send` returns false or `cancelled` returns
  // true (OK), the hub stops (NoQuorum: the replica is shutting down), or the
  // changes after `after` have left the ring (Aborted: restart the watch).
  // `cancelled` is polled at least every `poll` while nothing is applied.
  absl::Status Follow(uint64_t after,
                      const std::function<bool(const WatchEvent&)>& send,
                      const std::function<bool()>& cancelled,
                      absl::Duration poll = absl::Milliseconds(200)) const;

 private:
  const size_t ring_size_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  uint64_t applied_ = 0;
  bool stopped_ = false;
  std::deque<WatchEvent> recent_;
  // recent_ holds every change applied from this offset on.
  uint64_t recent_from_ = 1;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_WATCH_HUB_H_
