// The single error vocabulary of the product (docs/API.md), from the replica to
// the HTTP response. Errors travel as absl::Status whose message starts with
// the stable machine code ("IdempotencyConflict: ..."); the same text crosses
// gRPC unchanged, so every hop can recover the code without a second shape.
#ifndef REPORT_COMMON_ERROR_CODE_H_
#define REPORT_COMMON_ERROR_CODE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class Status;
}

namespace report {

class Receipt;
class SubmitOutcome;

enum class ErrorCode {
  kOk,
  kInvalidArgument,
  kIdempotencyConflict,
  kNotFound,
  kStaleRead,
  kDomainUnavailable,
  kNoQuorum,
  kCommitUnknown,
  // A bound of the gateway (or of a replica's streams) is reached: nothing was
  // accepted; retry after the Retry-After delay.
  kOverloaded,
  // The caller proved no identity (no valid certificate or API key).
  kUnauthenticated,
  // The caller's identity may not do this (docs/SECURITY.md).
  kPermissionDenied,
  // Internal to the cluster: a follower answered; the message carries
  // "leader=ID@ADDR".
  kNotLeader,
  kInternal,
};

// "InvalidArgument", "IdempotencyConflict", ... ("Ok" for kOk).
absl::string_view ErrorCodeName(ErrorCode code);

// A status carrying `code`, with message "Name: detail".
absl::Status MakeError(ErrorCode code, absl::string_view detail);

// The code a status carries: parsed from its "Name:" prefix, else derived from
// its canonical code (so statuses from libraries still map to something
// sensible).
ErrorCode ErrorCodeOf(const absl::Status& status);

// True when the status's message starts with a code of the vocabulary
// ("NoQuorum: ..."): one of our processes made it. False for errors the
// transport made on its own (a connection refused, a name that does not
// resolve, a deadline that ran out before any answer).
bool CarriesErrorCode(const absl::Status& status);

// The detail part of a status made by MakeError (the message without the "Name:
// " prefix).
std::string ErrorDetail(const absl::Status& status);

// HTTP status of docs/API.md's error table; 500 for kInternal.
int HttpStatusOf(ErrorCode code);
// True for codes whose HTTP answer carries Retry-After.
bool IsRetryable(ErrorCode code);

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// One submit's answer in a SubmitBatch response: a refusal travels as its
// canonical code and message, so the error code survives the batch unchanged.
void SetOutcomeError(const absl::Status& refusal, SubmitOutcome* outcome);
// The receipt, or the refusal as the status it was made from.
absl::StatusOr<Receipt> OutcomeResult(const SubmitOutcome& outcome);

// For kNotLeader errors: the leader hint "ID@ADDR" ("" when unknown).
absl::Status MakeNotLeader(unsigned long long leader_id,
                           absl::string_view leader_address);
bool ParseLeaderHint(const absl::Status& status, unsigned long long* leader_id,
                     std::string* leader_address);

}  // namespace report

#endif  // REPORT_COMMON_ERROR_CODE_H_
