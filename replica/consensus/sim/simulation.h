// consensus-sim's engine: one seeded run of a whole cluster of consensus cores
// in one process, under a simulated network (drop, delay, reorder, duplicate,
// symmetric and asymmetric partitions, swizzle cut-and-heal), a simulated clock
// (ticks) and a simulated disk (asynchronous writes that a crash loses). The
// invariant checker runs after every step; a final fault-free period checks
// liveness and that no acknowledged proposal was lost. Everything is a function
// of the seed: same seed, same run.
#ifndef REPORT_REPLICA_CONSENSUS_SIM_SIMULATION_H_
#define REPORT_REPLICA_CONSENSUS_SIM_SIMULATION_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace report::consensus::sim {

// Deliberate breakages of the snapshot rules, for showing that the simulator
// catches each (tests only; never in a correct build).
enum class SnapshotBug {
  kNone,
  // The receiver installs a snapshot without checking its checksum and
  // digest (chunks are sometimes corrupted in flight).
  kInstallWithoutDigestCheck,
  // Compaction drops entries past the snapshot: entries the replica
  // acknowledged (the leader's match for it) that no snapshot covers.
  kCompactPastSnapshot,
  // A snapshot is labelled with the last durable index instead of the
  // applied one: it claims entries the state machine has not applied.
  kSnapshotOfUnappliedIndex,
};

struct SimulationOptions {
  uint64_t seed = 1;
  // 0: chosen from the seed (3 for even seeds, 5 for odd ones), so a seed alone
  // replays.
  int replicas = 0;
  int steps = 2000;
  // Commit quorum: 0 draws it from the seed (a third of the seeds commit on
  // all 3 of 3 or 4 of 5 replicas, the rest on a majority).
  int commit_quorum = 0;
  // Every event is printed here as it happens (nullptr: quiet).
  std::ostream* verbose = nullptr;
  SnapshotBug bug = SnapshotBug::kNone;
};

struct SimulationResult {
  bool ok = true;
  uint64_t seed = 0;
  int replicas = 0;
  int commit_quorum = 0;
  int step = 0;                    // the step at which the failure was detected
  std::string failure;             // what was violated
  std::vector<std::string> trace;  // the last events before the failure
  std::vector<std::string> state;  // each replica's state at the failure
  // Counters, for the summary.
  uint64_t proposals = 0;
  uint64_t acknowledged = 0;
  uint64_t reads = 0;
  uint64_t crashes = 0;
  uint64_t elections = 0;
  uint64_t malformed = 0;  // malformed messages injected (and dropped)
  uint64_t oversized = 0;  // entries above the per-append byte limit proposed
  uint64_t snapshots = 0;  // snapshots taken
  uint64_t installs = 0;   // snapshots installed from a leader
  uint64_t rejected_installs = 0;  // received snapshots that failed a check
  uint64_t compactions = 0;        // compaction steps (each a disk write)
  uint64_t transfers = 0;          // leadership transfers started
  // Transfers whose target won the next epoch.
  uint64_t transfers_completed = 0;
};

SimulationResult RunSimulation(const SimulationOptions& options);
// "install-without-digest-check", "compact-past-snapshot",
// "snapshot-of-unapplied-index" (or "none").
bool ParseSnapshotBug(const std::string& name, SnapshotBug* bug);

}  // namespace report::consensus::sim

#endif  // REPORT_REPLICA_CONSENSUS_SIM_SIMULATION_H_
