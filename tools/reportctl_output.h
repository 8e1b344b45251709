// How reportctl tells its caller what happened: the exit codes every verb
// shares, the one-line error on stderr, the status line, and the progress line
// shown while `status --wait` follows a request on a terminal. The table of
// exit codes is in docs/OPERATIONS.md; keep both in step.
#ifndef REPORT_TOOLS_REPORTCTL_OUTPUT_H_
#define REPORT_TOOLS_REPORTCTL_OUTPUT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/report_api.pb.h"

namespace grpc {
class Status;
}

namespace report::reportctl {

constexpr int kExitOk = 0;
// The system answered with an error ("error: Code: detail" on stderr, the code
// from docs/API.md).
constexpr int kExitError = 1;
// Bad usage: an unknown verb or flag, a missing or malformed argument.
constexpr int kExitUsage = 2;
// `status --wait`: the request ended FAILED.
constexpr int kExitFailed = 3;
// `status --wait`: the request was still unfinished when the wait ran out.
constexpr int kExitStillRunning = 4;
// The gateway itself could not be reached (connection refused, a name that
// does not resolve, the connection lost): nothing says the cluster is down.
constexpr int kExitGatewayUnreachable = 5;

// The name of the code reportctl prints when the gateway is unreachable. It is
// reportctl's own: the API never answers with it.
inline constexpr absl::string_view kUnavailableCodeName = "Unavailable";

// What a failed call to the gateway at `address` means for the user: an error
// the gateway (or the cluster behind it) sent keeps its code; a transport
// failure of the call itself becomes "Unavailable: gateway ADDRESS unreachable
// (WHY)" rather than being read as NoQuorum.
absl::Status GatewayCallError(const grpc::Status& rpc,
                              absl::string_view address);

// True for errors GatewayCallError made from a transport failure.
bool IsGatewayUnreachable(const absl::Status& status);

// Prints the one error line on stderr and returns the exit code for it
// (kExitGatewayUnreachable or kExitError).
int ReportError(const absl::Status& status);

// "ID STATE accepted_offset=N served_offset=N attempts=N [worker=W@D]
// [report=LOC] [failure="..."]".
std::string StatusLine(const api::ReportStatus& status);

// The progress line `status --wait` keeps rewriting on a terminal: "ID STATE
// elapsed 3.2s attempt 1 worker W@D".
std::string ProgressLine(const api::ReportStatus& status,
                         absl::Duration elapsed);

}  // namespace report::reportctl

#endif  // REPORT_TOOLS_REPORTCTL_OUTPUT_H_
