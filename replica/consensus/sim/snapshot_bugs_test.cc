// The simulator has teeth for the snapshot rules: each deliberate breakage
// (a test-only knob) is reported as a violation within a few hundred seeds,
// while the same seeds pass unbroken.
#include <gtest/gtest.h>

#include <string>

#include "replica/consensus/sim/simulation.h"

namespace report::consensus::sim {
namespace {

// The first failing result among seeds 1..max_seeds, or an ok result.
SimulationResult FirstFailure(SnapshotBug bug, int max_seeds) {
  SimulationResult last;
  for (int seed = 1; seed <= max_seeds; ++seed) {
    SimulationOptions options;
    options.seed = seed;
    options.steps = 2000;
    options.bug = bug;
    last = RunSimulation(options);
    if (!last.ok) return last;
  }
  return last;
}

TEST(SimulatorCatchesSnapshotBugs, AnInstallWithoutTheDigestCheck) {
  const SimulationResult r =
      FirstFailure(SnapshotBug::kInstallWithoutDigestCheck, 300);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("state-machine equality"), std::string::npos)
      << r.failure;
}

TEST(SimulatorCatchesSnapshotBugs, CompactionPastTheSnapshot) {
  const SimulationResult r =
      FirstFailure(SnapshotBug::kCompactPastSnapshot, 300);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("durab"), std::string::npos) << r.failure;
}

TEST(SimulatorCatchesSnapshotBugs, ASnapshotOfAnUnappliedIndex) {
  const SimulationResult r =
      FirstFailure(SnapshotBug::kSnapshotOfUnappliedIndex, 300);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("differs from the committed history"),
            std::string::npos)
      << r.failure;
}

TEST(SimulatorCatchesSnapshotBugs, TheSameSeedsPassUnbroken) {
  const SimulationResult r = FirstFailure(SnapshotBug::kNone, 30);
  EXPECT_TRUE(r.ok) << "seed " << r.seed << ": " << r.failure;
}

}  // namespace
}  // namespace report::consensus::sim
