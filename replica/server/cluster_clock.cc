#include "replica/server/cluster_clock.h"

#include <algorithm>

#include "proto/report.pb.h"

namespace report {

void ClusterClock::Observe(uint64_t stamp_ms) {
  floor_ms_ = std::max(floor_ms_, stamp_ms);
}

uint64_t ClusterClock::Stamp(uint64_t wall_ms) {
  floor_ms_ = std::max(floor_ms_, wall_ms);
  return floor_ms_;
}

uint64_t ClusterClock::StampOf(const consensus::Entry& entry) {
  if (entry.type() != consensus::ENTRY_NORMAL) return 0;
  Command command;
  if (!command.ParseFromString(entry.data())) return 0;
  return command.timestamp_ms();
}

uint64_t NewestStamp(const consensus::LogStore& log) {
  // Barriers are one per election, so this walks back a few entries at most.
  for (uint64_t index = log.LastIndex(); index >= log.FirstIndex() && index > 0;
       --index) {
    for (const consensus::Entry& entry : log.Entries(index, index + 1, 1)) {
      if (entry.type() == consensus::ENTRY_NORMAL) {
        return ClusterClock::StampOf(entry);
      }
    }
  }
  return 0;
}

}  // namespace report
