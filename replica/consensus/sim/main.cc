// consensus-sim: runs K seeded simulations of a 3- or 5-replica cluster of
// consensus cores under network, clock, disk and crash faults, checking safety
// after every step and liveness at the end. Exits non-zero on the first failing
// seed, printing it, the step and the last events. Same seed, same run.
#include <boost/program_options.hpp>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "replica/consensus/sim/simulation.h"

namespace po = boost::program_options;
using report::consensus::sim::RunSimulation;
using report::consensus::sim::SimulationOptions;
using report::consensus::sim::SimulationResult;

namespace {

// Seeds listed one per line ('#' starts a comment).
bool ReadSeedList(const std::string& path, std::vector<uint64_t>* seeds) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    uint64_t seed;
    if (words >> seed) seeds->push_back(seed);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  uint64_t seeds = 1;
  int steps = 2000;
  int replicas = 0;
  int commit_quorum = 0;
  std::string seed_list;
  std::string inject_bug;
  po::options_description desc(
      "consensus-sim: deterministic simulation of the consensus core under "
      "faults.\n"
      "Runs seeds S..S+K-1 (3 replicas for even seeds, 5 for odd ones unless "
      "--replicas)"
      ".\nOptions");
  desc.add_options()("help", "print this help")(
      "seed", po::value<uint64_t>(&seed)->default_value(1), "first seed")(
      "seeds", po::value<uint64_t>(&seeds)->default_value(1),
      "number of seeds to run")(
      "steps", po::value<int>(&steps)->default_value(2000),
      "simulated steps per seed (one step = one time unit; a node ticks every "
      "5)")("replicas", po::value<int>(&replicas),
            "cluster size: 3 or 5 (default: by seed)")(
      "commit-quorum", po::value<int>(&commit_quorum),
      "voters that must hold an entry before it commits (a majority .. all; "
      "default: by seed, a third of the seeds above a majority)")(
      "seed-list", po::value<std::string>(&seed_list),
      "run the seeds listed in this file (one per line) instead of "
      "--seed/--seeds")("verbose", "print every event of every run")(
      "inject-bug", po::value<std::string>(&inject_bug),
      "break a snapshot rule on purpose, to see the simulator catch it: "
      "install-without-digest-check, compact-past-snapshot, "
      "snapshot-of-unapplied-index");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "consensus-sim: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (vm.count("replicas") && replicas != 3 && replicas != 5) {
    std::cerr << "consensus-sim: --replicas must be 3 or 5, got " << replicas
              << "\n";
    return 2;
  }
  if (vm.count("commit-quorum") && (commit_quorum < 1 || commit_quorum > 5)) {
    std::cerr << "consensus-sim: --commit-quorum must be 1..5 (clamped to a "
                 "majority..all of the cluster), got "
              << commit_quorum << "\n";
    return 2;
  }
  report::consensus::sim::SnapshotBug bug =
      report::consensus::sim::SnapshotBug::kNone;
  if (!inject_bug.empty()) {
    if (!report::consensus::sim::ParseSnapshotBug(inject_bug, &bug)) {
      std::cerr << "consensus-sim: unknown --inject-bug " << inject_bug
                << " (see --help)\n";
      return 2;
    }
  }
  if (steps <= 0 || seeds == 0) {
    std::cerr << "consensus-sim: --steps and --seeds must be positive\n";
    return 2;
  }
  std::vector<uint64_t> run;
  if (!seed_list.empty()) {
    if (!ReadSeedList(seed_list, &run)) {
      std::cerr << "consensus-sim: cannot read seed list " << seed_list << "\n";
      return 2;
    }
  } else {
    for (uint64_t i = 0; i < seeds; ++i) run.push_back(seed + i);
  }

  uint64_t proposals = 0, acknowledged = 0, reads = 0, crashes = 0,
           elections = 0, malformed = 0, oversized = 0, above_majority = 0,
           snapshots = 0, installs = 0, rejected_installs = 0, compactions = 0,
           transfers = 0, transfers_completed = 0;
  for (uint64_t s : run) {
    SimulationOptions options;
    options.seed = s;
    options.replicas = replicas;
    options.commit_quorum = commit_quorum;
    options.steps = steps;
    options.bug = bug;
    if (vm.count("verbose")) options.verbose = &std::cout;
    const SimulationResult r = RunSimulation(options);
    if (!r.ok) {
      std::cout << "consensus-sim: FAILED seed=" << r.seed
                << " replicas=" << r.replicas
                << " commit_quorum=" << r.commit_quorum << " step=" << r.step
                << ": " << r.failure << "\n";
      std::cout << "replicas:\n";
      for (const std::string& line : r.state) std::cout << "  " << line << "\n";
      std::cout << "last events:\n";
      for (const std::string& line : r.trace) std::cout << "  " << line << "\n";
      std::cout << "replay: consensus-sim --seed " << r.seed
                << " --seeds 1 --steps " << steps
                << (replicas ? " --replicas " + std::to_string(replicas) : "")
                << (inject_bug.empty() ? "" : " --inject-bug " + inject_bug)
                << " --verbose\n";
      return 1;
    }
    proposals += r.proposals;
    acknowledged += r.acknowledged;
    reads += r.reads;
    crashes += r.crashes;
    elections += r.elections;
    malformed += r.malformed;
    oversized += r.oversized;
    above_majority += r.commit_quorum > r.replicas / 2 + 1;
    snapshots += r.snapshots;
    installs += r.installs;
    rejected_installs += r.rejected_installs;
    compactions += r.compactions;
    transfers += r.transfers;
    transfers_completed += r.transfers_completed;
  }
  std::cout << "consensus-sim: seeds=" << run.size() << " steps=" << steps
            << " proposals=" << proposals << " acknowledged=" << acknowledged
            << " reads=" << reads << " crashes=" << crashes
            << " elections=" << elections << " malformed=" << malformed
            << " oversized=" << oversized
            << " commit_quorum_above_majority=" << above_majority
            << " snapshots=" << snapshots << " installs=" << installs
            << " rejected_installs=" << rejected_installs
            << " compactions=" << compactions << " transfers=" << transfers
            << " (completed " << transfers_completed << ") ok\n";
  return 0;
}
