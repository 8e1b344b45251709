#include "tools/reportctl_output.h"

#include <grpcpp/support/status.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error_code.h"

namespace report::reportctl {
namespace {

constexpr absl::string_view kUnreachablePrefix = "gateway ";

}  // namespace

absl::Status GatewayCallError(const grpc::Status& rpc,
                              absl::string_view address) {
  absl::Status error = FromGrpcStatus(rpc);
  if (error.code() != absl::StatusCode::kUnavailable ||
      CarriesErrorCode(error)) {
    return error;
  }
  return absl::UnavailableError(
      absl::StrCat(kUnavailableCodeName, ": ", kUnreachablePrefix, address,
                   " unreachable (", error.message(), ")"));
}

bool IsGatewayUnreachable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         absl::StartsWith(
             status.message(),
             absl::StrCat(kUnavailableCodeName, ": ", kUnreachablePrefix));
}

int ReportError(const absl::Status& status) {
  if (IsGatewayUnreachable(status)) {
    std::cerr << "error: " << status.message() << "\n";
    return kExitGatewayUnreachable;
  }
  std::cerr << "error: " << ErrorCodeName(ErrorCodeOf(status)) << ": "
            << ErrorDetail(status) << "\n";
  return kExitError;
}

std::string StatusLine(const api::ReportStatus& status) {
  std::string line =
      absl::StrCat(status.request_id(), " ", RequestState_Name(status.state()),
                   " accepted_offset=", status.accepted_offset(),
                   " served_offset=", status.served_offset(),
                   " attempts=", status.attempts());
  if (!status.worker_id().empty()) {
    absl::StrAppend(&line, " worker=", status.worker_id(), "@",
                    status.worker_domain());
  }
  if (!status.report_location().empty()) {
    absl::StrAppend(&line, " report=", status.report_location());
  }
  if (!status.failure().empty()) {
    absl::StrAppend(&line, " failure=\"", status.failure(), "\"");
  }
  if (status.cancel_requested()) absl::StrAppend(&line, " cancel_requested");
  return line;
}

std::string ProgressLine(const api::ReportStatus& status,
                         absl::Duration elapsed) {
  std::string line =
      absl::StrFormat("%s %s elapsed %.1fs attempt %d", status.request_id(),
                      RequestState_Name(status.state()),
                      absl::ToDoubleSeconds(elapsed), status.attempts());
  if (!status.worker_id().empty()) {
    absl::StrAppend(&line, " worker ", status.worker_id(), "@",
                    status.worker_domain());
  }
  return line;
}

}  // namespace report::reportctl
