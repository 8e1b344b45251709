// Cluster time: the leader stamps every command it proposes with its wall
// clock, raised so that it is never behind any stamp this replica has seen —
// entries in its log at start-up, entries received from other leaders, its own
// earlier proposals. Leases are judged against these stamps, never against a
// replica's local clock, so cluster time must not run backwards across
// restarts and elections even when the leaders' clocks disagree.
//
// Not thread-safe: the replica guards it with its core mutex.
#ifndef REPORT_REPLICA_SERVER_CLUSTER_CLOCK_H_
#define REPORT_REPLICA_SERVER_CLUSTER_CLOCK_H_

#include <cstdint>

#include "proto/consensus.pb.h"
#include "replica/consensus/node.h"

namespace report {

class ClusterClock {
 public:
  // Raises the floor to a stamp this replica holds or has received.
  void Observe(uint64_t stamp_ms);
  // Raises the floor to the newest stamp among `entries` (in log order; only
  // the last command entry is decoded: stamps never decrease along a log).
  template <typename Entries>
  void ObserveEntries(const Entries& entries) {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      if (it->type() == consensus::ENTRY_NORMAL) {
        Observe(StampOf(*it));
        return;
      }
    }
  }
  // The stamp for a new proposal: the wall clock, but never below the floor.
  // The floor becomes it, so stamps never decrease.
  uint64_t Stamp(uint64_t wall_ms);
  uint64_t floor_ms() const { return floor_ms_; }

  // The stamp a command entry carries (0 when it carries none).
  static uint64_t StampOf(const consensus::Entry& entry);

 private:
  uint64_t floor_ms_ = 0;
};

// The newest stamp in `log`: the last command entry's, looking back past
// barriers (which carry none). 0 for a log without commands.
uint64_t NewestStamp(const consensus::LogStore& log);

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_CLUSTER_CLOCK_H_
