#include "common/error_code.h"

#include <grpcpp/support/status.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/replica_service.pb.h"

namespace report {
namespace {

struct CodeInfo {
  ErrorCode code;
  absl::string_view name;
  absl::StatusCode canonical;
  int http;
};

constexpr CodeInfo kCodes[] = {
    {ErrorCode::kOk, "Ok", absl::StatusCode::kOk, 200},
    {ErrorCode::kInvalidArgument, "InvalidArgument",
     absl::StatusCode::kInvalidArgument, 400},
    {ErrorCode::kIdempotencyConflict, "IdempotencyConflict",
     absl::StatusCode::kAlreadyExists, 422},
    {ErrorCode::kNotFound, "NotFound", absl::StatusCode::kNotFound, 404},
    {ErrorCode::kStaleRead, "StaleRead", absl::StatusCode::kUnavailable, 503},
    {ErrorCode::kDomainUnavailable, "DomainUnavailable",
     absl::StatusCode::kFailedPrecondition, 503},
    {ErrorCode::kNoQuorum, "NoQuorum", absl::StatusCode::kUnavailable, 503},
    {ErrorCode::kCommitUnknown, "CommitUnknown",
     absl::StatusCode::kDeadlineExceeded, 504},
    {ErrorCode::kOverloaded, "Overloaded", absl::StatusCode::kResourceExhausted,
     429},
    {ErrorCode::kUnauthenticated, "Unauthenticated",
     absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kPermissionDenied, "PermissionDenied",
     absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kNotLeader, "NotLeader", absl::StatusCode::kUnavailable, 503},
    {ErrorCode::kInternal, "Internal", absl::StatusCode::kInternal, 500},
};

const CodeInfo& InfoOf(ErrorCode code) {
  for (const CodeInfo& info : kCodes) {
    if (info.code == code) return info;
  }
  return kCodes[sizeof(kCodes) / sizeof(kCodes[0]) - 1];
}

}  // namespace

absl::string_view ErrorCodeName(ErrorCode code) { return InfoOf(code).name; }

absl::Status MakeError(ErrorCode code, absl::string_view detail) {
  if (code == ErrorCode::kOk) return absl::OkStatus();
  const CodeInfo& info = InfoOf(code);
  return absl::Status(info.canonical, absl::StrCat(info.name, ": ", detail));
}

ErrorCode ErrorCodeOf(const absl::Status& status) {
  if (status.ok()) return ErrorCode::kOk;
  absl::string_view message = status.message();
  size_t colon = message.find(':');
  if (colon != absl::string_view::npos) {
    absl::string_view name = message.substr(0, colon);
    for (const CodeInfo& info : kCodes) {
      if (info.name == name && info.code != ErrorCode::kOk) return info.code;
    }
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return ErrorCode::kInvalidArgument;
    case absl::StatusCode::kAlreadyExists:
      return ErrorCode::kIdempotencyConflict;
    case absl::StatusCode::kNotFound:
      return ErrorCode::kNotFound;
    case absl::StatusCode::kFailedPrecondition:
      return ErrorCode::kDomainUnavailable;
    case absl::StatusCode::kPermissionDenied:
      return ErrorCode::kPermissionDenied;
    case absl::StatusCode::kUnauthenticated:
      return ErrorCode::kUnauthenticated;
    case absl::StatusCode::kUnavailable:
      return ErrorCode::kNoQuorum;
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorCode::kCommitUnknown;
    case absl::StatusCode::kResourceExhausted:
      // gRPC's own answer to a message over the receiver's size limit ("...
      // larger than max ...") is the caller's fault and retrying cannot help;
      // anything else exhausted (ours carry the code in front) is overload.
      if (absl::StrContains(message, "larger than max")) {
        return ErrorCode::kInvalidArgument;
      }
      return ErrorCode::kOverloaded;
    default:
      return ErrorCode::kInternal;
  }
}

bool CarriesErrorCode(const absl::Status& status) {
  if (status.ok()) return false;
  absl::string_view message = status.message();
  const size_t colon = message.find(':');
  if (colon == absl::string_view::npos) return false;
  const absl::string_view name = message.substr(0, colon);
  for (const CodeInfo& info : kCodes) {
    if (info.name == name && info.code != ErrorCode::kOk) return true;
  }
  return false;
}

std::string ErrorDetail(const absl::Status& status) {
  absl::string_view message = status.message();
  absl::string_view name = ErrorCodeName(ErrorCodeOf(status));
  if (absl::StartsWith(message, name) && message.size() > name.size() &&
      message[name.size()] == ':') {
    message.remove_prefix(name.size() + 1);
    while (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  }
  return std::string(message);
}

int HttpStatusOf(ErrorCode code) { return InfoOf(code).http; }

bool IsRetryable(ErrorCode code) {
  return code == ErrorCode::kStaleRead || code == ErrorCode::kNoQuorum ||
         code == ErrorCode::kNotLeader || code == ErrorCode::kOverloaded;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status converted(static_cast<absl::StatusCode>(status.error_code()),
                         status.error_message());
  // Transport failures (no "Code:" prefix) keep their canonical code; callers
  // decide whether that means NoQuorum or CommitUnknown for the operation at
  // hand.
  return converted;
}

void SetOutcomeError(const absl::Status& refusal, SubmitOutcome* outcome) {
  outcome->set_error_code(static_cast<int32_t>(refusal.code()));
  outcome->set_error(std::string(refusal.message()));
}

absl::StatusOr<Receipt> OutcomeResult(const SubmitOutcome& outcome) {
  if (outcome.error_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(outcome.error_code()),
                        outcome.error());
  }
  return outcome.receipt();
}

absl::Status MakeNotLeader(unsigned long long leader_id,
                           absl::string_view leader_address) {
  if (leader_id == 0) return MakeError(ErrorCode::kNotLeader, "leader unknown");
  return MakeError(ErrorCode::kNotLeader,
                   absl::StrCat("leader=", leader_id, "@", leader_address));
}

bool ParseLeaderHint(const absl::Status& status, unsigned long long* leader_id,
                     std::string* leader_address) {
  if (ErrorCodeOf(status) != ErrorCode::kNotLeader) return false;
  std::string detail = ErrorDetail(status);
  if (!absl::StartsWith(detail, "leader=")) return false;
  absl::string_view rest = absl::string_view(detail).substr(7);
  size_t at = rest.find('@');
  if (at == absl::string_view::npos) return false;
  unsigned long long id = 0;
  if (!absl::SimpleAtoi(rest.substr(0, at), &id) || id == 0) return false;
  *leader_id = id;
  *leader_address = std::string(rest.substr(at + 1));
  return true;
}

}  // namespace report
