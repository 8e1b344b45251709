#include "replica/server/authorizer.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/transport_security.h"

namespace report {
namespace {

absl::Status Denied(const ProcessIdentity& caller, absl::string_view what) {
  return MakeError(ErrorCode::kPermissionDenied,
                   absl::StrCat(ProcessKindName(caller.kind), " '", caller.name,
                                "' may not ", what));
}

}  // namespace

Authorizer Authorizer::AllowAll() { return Authorizer(); }

absl::Status Authorizer::CheckCluster(const ProcessIdentity& caller) const {
  const std::string& ours = placement_->cluster()->cluster_id();
  if (caller.cluster_id != ours) {
    return MakeError(ErrorCode::kUnauthenticated,
                     absl::StrCat("the certificate belongs to cluster '",
                                  caller.cluster_id, "', not '", ours, "'"));
  }
  return absl::OkStatus();
}

absl::Status Authorizer::Check(const ProcessIdentity& caller,
                               ReplicaOperation operation,
                               absl::string_view claimed_domain) const {
  if (allows_all()) return absl::OkStatus();
  if (absl::Status same = CheckCluster(caller); !same.ok()) return same;
  // A domain a request claims must be the certificate's; placement then judges
  // the certificate's domain, never the claim.
  auto claim_matches = [&]() -> absl::Status {
    if (claimed_domain != caller.domain()) {
      return MakeError(
          ErrorCode::kDomainUnavailable,
          absl::StrCat("the request claims domain '", claimed_domain,
                       "' but the caller's certificate places it in '",
                       caller.domain(), "'"));
    }
    return absl::OkStatus();
  };
  switch (operation) {
    case ReplicaOperation::kRead:
      return absl::OkStatus();
    case ReplicaOperation::kSubmit:
      if (caller.kind != ProcessKind::kGateway) {
        return Denied(caller, "submit (gateways only)");
      }
      if (absl::Status claim = claim_matches(); !claim.ok()) return claim;
      return placement_->CheckIngress(caller.domain());
    case ReplicaOperation::kEffect:
    case ReplicaOperation::kWatch:
      if (caller.kind != ProcessKind::kWorker) {
        return Denied(caller, operation == ReplicaOperation::kWatch
                                  ? "watch committed work (workers only)"
                                  : "reserve, extend, complete or fail "
                                    "effects (workers only)");
      }
      // A watch may leave its domain empty (it names none).
      if (operation == ReplicaOperation::kEffect || !claimed_domain.empty()) {
        if (absl::Status claim = claim_matches(); !claim.ok()) return claim;
      }
      return placement_->CheckWorker(caller.domain());
    case ReplicaOperation::kClusterChange:
      if (caller.kind != ProcessKind::kOperator) {
        return Denied(caller, "change the cluster (operator only)");
      }
      return absl::OkStatus();
  }
  return Denied(caller, "do this");
}

absl::StatusOr<uint64_t> Authorizer::ConsensusSender(
    const ProcessIdentity& caller) const {
  if (allows_all()) return 0;
  if (absl::Status same = CheckCluster(caller); !same.ok()) return same;
  if (caller.kind != ProcessKind::kReplica) {
    return Denied(caller, "send consensus messages (member replicas only)");
  }
  for (const Member& member : placement_->cluster()->members()) {
    if (member.name() != caller.name) continue;
    if (member.domain() != caller.domain()) {
      return Denied(caller,
                    absl::StrCat("send consensus messages: member ",
                                 member.name(), " lives in ", member.domain(),
                                 ", the certificate "
                                 "says ",
                                 caller.domain()));
    }
    return member.id();
  }
  return Denied(caller, "send consensus messages (not a member)");
}

absl::StatusOr<ProcessIdentity> Authorizer::CallerOf(
    const grpc::ServerContext& context) const {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) {
    return MakeError(ErrorCode::kUnauthenticated, "no TLS identity");
  }
  absl::StatusOr<ProcessIdentity> caller = IdentityOfPeer(*auth);
  if (!caller.ok()) {
    return MakeError(ErrorCode::kUnauthenticated, caller.status().message());
  }
  return caller;
}

absl::Status Authorizer::CheckCall(const grpc::ServerContext& context,
                                   ReplicaOperation operation,
                                   absl::string_view claimed_domain) const {
  if (allows_all()) return absl::OkStatus();
  absl::StatusOr<ProcessIdentity> caller = CallerOf(context);
  if (!caller.ok()) return caller.status();
  return Check(*caller, operation, claimed_domain);
}

absl::StatusOr<uint64_t> Authorizer::ConsensusSenderOfCall(
    const grpc::ServerContext& context) const {
  if (allows_all()) return 0;
  absl::StatusOr<ProcessIdentity> caller = CallerOf(context);
  if (!caller.ok()) return caller.status();
  return ConsensusSender(*caller);
}

}  // namespace report
