#include "common/process.h"

#include <signal.h>

#include <iostream>

#include "absl/synchronization/mutex.h"
#include "boost/program_options.hpp"
#include "common/version.h"
#include "glog/logging.h"

namespace report {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void InitProcessLogging(const char* argv0) {
  FLAGS_logtostderr = true;
  FLAGS_colorlogtostderr = false;
  google::InitGoogleLogging(argv0);
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex (gRPC's
  // among them) would feed a deadlock-detection graph on each acquisition.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that vanished mid-write must not kill us.
  signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal(const std::function<void()>& on_hangup) {
  sigset_t set = TerminationSignals();
  while (true) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) return signal_number;
    if (on_hangup) on_hangup();
  }
}

std::optional<int> ParseDaemonFlags(
    int argc, char** argv, const char* program,
    const boost::program_options::options_description& flags,
    boost::program_options::variables_map* vars) {
  namespace po = boost::program_options;
  if (PrintVersionIfAsked(argc, argv, program)) return 0;
  try {
    po::store(po::parse_command_line(argc, argv, flags), *vars);
    if (vars->count("help")) {
      std::cout << flags
                << "  --version             print the version and exit\n"
                << std::endl;
      return 0;
    }
    po::notify(*vars);
  } catch (const std::exception& error) {
    return FailStartup(program, error.what(), 2);
  }
  return std::nullopt;
}

int FailStartup(const char* program, const std::string& line, int exit_code) {
  std::cerr << program << ": error: " << line << std::endl;
  return exit_code;
}

}  // namespace report
