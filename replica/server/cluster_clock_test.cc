#include "replica/server/cluster_clock.h"

#include <gtest/gtest.h>

#include "proto/report.pb.h"
#include "replica/consensus/memory_log_store.h"

namespace report {
namespace {

consensus::Entry CommandEntry(uint64_t index, uint64_t stamp_ms) {
  Command command;
  command.set_timestamp_ms(stamp_ms);
  consensus::Entry entry;
  entry.set_index(index);
  entry.set_epoch(1);
  entry.set_type(consensus::ENTRY_NORMAL);
  entry.set_data(command.SerializeAsString());
  return entry;
}

consensus::Entry Barrier(uint64_t index) {
  consensus::Entry entry;
  entry.set_index(index);
  entry.set_epoch(2);
  entry.set_type(consensus::ENTRY_BARRIER);
  return entry;
}

// A restart after an election whose barrier is the last entry must still find
// the newest command's stamp (reading only the last entry found none, and the
// next leader could stamp below it).
TEST(ClusterClockTest, NewestStampLooksBackPastTrailingBarriers) {
  consensus::MemoryLogStore log;
  log.Append(
      {CommandEntry(1, 500), CommandEntry(2, 900), Barrier(3), Barrier(4)});
  EXPECT_EQ(NewestStamp(log), 900u);
}

TEST(ClusterClockTest, NewestStampOfALogWithoutCommandsIsZero) {
  consensus::MemoryLogStore log;
  EXPECT_EQ(NewestStamp(log), 0u);
  log.Append({Barrier(1)});
  EXPECT_EQ(NewestStamp(log), 0u);
}

TEST(ClusterClockTest, StampsNeverFallBehindWhatThisReplicaHasSeen) {
  ClusterClock clock;
  clock.Observe(10'000);  // an entry from a leader whose clock is ahead
  EXPECT_EQ(clock.Stamp(4'000), 10'000u);  // our wall clock is behind
  EXPECT_EQ(clock.Stamp(12'000), 12'000u);
  EXPECT_EQ(clock.Stamp(11'000), 12'000u);  // the wall clock stepped back
}

// A replica that has received entries but not yet handed them to its driver
// when it wins an election stamps its first proposal after them.
TEST(ClusterClockTest, ReceivedEntriesRaiseTheFloorBeforeAnyElection) {
  consensus::Message append;
  *append.add_entries() = CommandEntry(1, 7'000);
  *append.add_entries() = CommandEntry(2, 8'000);
  *append.add_entries() = Barrier(3);
  ClusterClock clock;
  clock.ObserveEntries(append.entries());
  EXPECT_EQ(clock.floor_ms(), 8'000u);
  EXPECT_EQ(clock.Stamp(1'000), 8'000u);
}

}  // namespace
}  // namespace report
