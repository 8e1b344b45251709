#include "tools/reportctl_output.h"

#include <grpcpp/support/status.h>

#include "absl/strings/match.h"
#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report::reportctl {
namespace {

// gRPC's own words when nothing listens on the port.
const grpc::Status kRefused(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: "
                            "UNKNOWN: ipv4:127.0.0.1:1: Connection refused");

TEST(ReportctlOutputTest, ATransportFailureIsTheGatewayBeingUnreachable) {
  absl::Status error = GatewayCallError(kRefused, "127.0.0.1:1");
  EXPECT_TRUE(IsGatewayUnreachable(error));
  EXPECT_EQ(error.message(),
            "Unavailable: gateway 127.0.0.1:1 unreachable (failed to connect "
            "to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
            "Connection refused)");
  EXPECT_EQ(ReportError(error), kExitGatewayUnreachable);
}

TEST(ReportctlOutputTest, AnErrorTheClusterSentKeepsItsCode) {
  const absl::Status no_quorum =
      MakeError(ErrorCode::kNoQuorum, "no leader known");
  absl::Status error =
      GatewayCallError(ToGrpcStatus(no_quorum), "127.0.0.1:7100");
  EXPECT_FALSE(IsGatewayUnreachable(error));
  EXPECT_EQ(ErrorCodeOf(error), ErrorCode::kNoQuorum);
  EXPECT_EQ(ReportError(error), kExitError);

  const absl::Status stale = MakeError(ErrorCode::kStaleRead, "behind");
  EXPECT_EQ(ErrorCodeOf(GatewayCallError(ToGrpcStatus(stale), "g:1")),
            ErrorCode::kStaleRead);
  // Other transport codes are not read as unreachable.
  EXPECT_FALSE(IsGatewayUnreachable(GatewayCallError(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
      "g:1")));
}

api::ReportStatus Running() {
  api::ReportStatus status;
  status.set_request_id("r1");
  status.set_state(RUNNING);
  status.set_attempts(2);
  status.set_accepted_offset(5);
  status.set_served_offset(9);
  status.set_worker_id("w-1");
  status.set_worker_domain("aws/us-east-1/use1-az1");
  return status;
}

TEST(ReportctlOutputTest, TheProgressLineShowsStateElapsedAttemptWorker) {
  EXPECT_EQ(ProgressLine(Running(), absl::Milliseconds(3250)),
            "r1 RUNNING elapsed 3.2s attempt 2 worker w-1@aws/us-east-1/"
            "use1-az1");
  api::ReportStatus accepted;
  accepted.set_request_id("r2");
  accepted.set_state(ACCEPTED);
  EXPECT_EQ(ProgressLine(accepted, absl::Seconds(1)),
            "r2 ACCEPTED elapsed 1.0s attempt 0");
}

TEST(ReportctlOutputTest, TheStatusLineNamesTheFields) {
  api::ReportStatus status = Running();
  status.set_failure("disk \"full\"");
  EXPECT_EQ(StatusLine(status),
            "r1 RUNNING accepted_offset=5 served_offset=9 attempts=2 "
            "worker=w-1@aws/us-east-1/use1-az1 failure=\"disk \"full\"\"");
}

}  // namespace
}  // namespace report::reportctl
