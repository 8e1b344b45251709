// What every binary does the same way at start and stop: logging set-up and
// waiting for a termination signal without a signal handler racing the threads.
#ifndef REPORT_COMMON_PROCESS_H_
#define REPORT_COMMON_PROCESS_H_

#include <functional>
#include <optional>
#include <string>

namespace boost::program_options {
class options_description;
class variables_map;
}  // namespace boost::program_options

namespace report {

// Parses a daemon's flags. Returns nullopt to go on; otherwise the exit code:
// 0 after printing --help or --version, 2 after printing one
// "PROGRAM: error: ..." line for bad flags.
std::optional<int> ParseDaemonFlags(
    int argc, char** argv, const char* program,
    const boost::program_options::options_description& flags,
    boost::program_options::variables_map* vars);

// Prints "PROGRAM: error: LINE" on stderr and returns `exit_code`.
int FailStartup(const char* program, const std::string& line,
                int exit_code = 1);

// glog to stderr (deploy/cluster.sh sends each process's stderr to its log
// file).
void InitProcessLogging(const char* argv0);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it
// starts afterwards. Call first in main(), before any thread exists.
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives; returns the signal number. Each SIGHUP
// meanwhile calls `on_hangup` (e.g. to check rotated certificates) and waits
// on.
int WaitForTerminationSignal(const std::function<void()>& on_hangup = {});

}  // namespace report

#endif  // REPORT_COMMON_PROCESS_H_
