#include "common/error_code.h"

#include <gtest/gtest.h>

namespace report {
namespace {

TEST(ErrorCodeTest, OurCodesTravelInFrontOfTheMessage) {
  for (ErrorCode code : {ErrorCode::kOverloaded, ErrorCode::kNoQuorum,
                         ErrorCode::kInvalidArgument}) {
    absl::Status status = MakeError(code, "detail");
    EXPECT_EQ(ErrorCodeOf(status), code) << status;
    EXPECT_EQ(ErrorDetail(status), "detail");
  }
}

// gRPC's own RESOURCE_EXHAUSTED carries no code of ours: a message over the
// size limit is the caller's mistake (retrying cannot help), anything else is
// overload (retrying later can).
TEST(ErrorCodeTest,
     GrpcsOwnResourceExhaustedIsOverloadUnlessTheMessageIsTooLarge) {
  EXPECT_EQ(ErrorCodeOf(absl::ResourceExhaustedError(
                "Received message larger than max (5242880 vs. 4194304)")),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeOf(absl::ResourceExhaustedError("memory quota exceeded")),
            ErrorCode::kOverloaded);
  EXPECT_EQ(ErrorCodeOf(MakeError(ErrorCode::kOverloaded, "queue full")),
            ErrorCode::kOverloaded);
}

// A transport failure (nothing of ours answered) is told apart from an error
// one of our processes sent, whatever canonical code both share.
TEST(ErrorCodeTest, OnlyOurOwnErrorsCarryACode) {
  EXPECT_TRUE(CarriesErrorCode(MakeError(ErrorCode::kNoQuorum, "x")));
  EXPECT_FALSE(CarriesErrorCode(absl::UnavailableError(
      "failed to connect to all addresses; last error: UNKNOWN: "
      "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection "
      "refused")));
  EXPECT_FALSE(CarriesErrorCode(absl::UnavailableError("Unknown: x")));
  EXPECT_FALSE(CarriesErrorCode(absl::OkStatus()));
}

}  // namespace
}  // namespace report
