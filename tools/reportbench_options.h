// reportbench's command line (docs/OPERATIONS.md) and the names it gives the
// requests it sends. Parsing is separate from the load loops so that every
// refusal of a bad flag is testable without a cluster.
#ifndef REPORT_TOOLS_REPORTBENCH_OPTIONS_H_
#define REPORT_TOOLS_REPORTBENCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/transport_security.h"

namespace report {
namespace bench {

enum class BenchMode {
  kSubmit,  // quorum-committed SubmitReport, a new request id per operation
  kStatus,  // GetReport at min_offset = receipt offset over a pre-submitted
            // pool
  kE2e,     // submit, then read until COMPLETED (needs workers)
};

// How gRPC load is driven: one completion-queue loop per polling thread
// carrying all in-flight calls, or one blocking thread per in-flight call (the
// etcd anchor's way). HTTP always uses one blocking keep-alive connection per
// in-flight call.
enum class ClientKind { kAsync, kSync };

struct BenchOptions {
  std::string host;
  std::string port;
  int concurrency = 1;
  double seconds = 10;
  double warmup_seconds = 0;
  BenchMode mode = BenchMode::kSubmit;
  bool http = false;
  ClientKind client = ClientKind::kAsync;
  std::string run_id;  // empty: DefaultRunId()
  int conns = 0;  // gRPC channels; 0: min(concurrency, 8) like the etcd client
  int poll_threads = 2;  // completion-queue threads of the async gRPC client
  int pool = 1000;       // status mode: requests submitted before measuring
  int wait_ms = 100;     // GetReport wait_ms (status, e2e)
  int e2e_timeout_ms =
      60000;  // e2e: an operation not COMPLETED by then is an error
  // gRPC mutual TLS as the operator: --tls-dir/--tls-*, else $REPORT_TLS_DIR,
  // else .cluster/tls when it exists, else plaintext.
  TlsFlags tls;
  bool help = false;
};

// Parses the flags after the program name. On success with --help, `help` is
// set and *help_text holds the usage. Errors are InvalidArgument with one line
// naming the flag.
absl::StatusOr<BenchOptions> ParseBenchOptions(
    const std::vector<std::string>& args, std::string* help_text);

absl::string_view ModeName(BenchMode mode);

// "<UTC yyyymmddThhmmss>-<pid>": distinct across runs, so a rerun never replays
// ids that an earlier run left in the cluster (which would measure duplicate
// answers instead).
std::string DefaultRunId();

// The n-th request of loop `loop`: "bench-<run>-<loop>-<n>", account
// "acct-<n%1000>", month 2026-01..12 cycling with n.
std::string BenchRequestId(absl::string_view run_id, int loop, uint64_t n);
std::string BenchAccountId(uint64_t n);
std::string BenchMonth(uint64_t n);

}  // namespace bench
}  // namespace report

#endif  // REPORT_TOOLS_REPORTBENCH_OPTIONS_H_
