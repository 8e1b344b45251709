// What every binary does the same way at start and stop: logging set-up and
// waiting for a termination signal without a signal handler racing the threads.
#ifndef REPORT_COMMON_PROCESS_H_
#define REPORT_COMMON_PROCESS_H_

namespace report {

// glog to stderr (deploy/cluster.sh sends each process's stderr to its log
// file).
void InitProcessLogging(const char* argv0);

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards. Call first in main(), before any thread exists.
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace report

#endif  // REPORT_COMMON_PROCESS_H_
