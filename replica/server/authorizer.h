// Who may do what on a replica, decided in this one place from the identity the
// caller's certificate names (docs/SECURITY.md), never from a field the caller
// sends:
//
//   consensus messages      only the member replica the certificate names, and
//   a
//                           batch's `from` must be that member's id
//   Submit, SubmitBatch     gateways whose certificate domain is an ingress
//   domain reserve/extend/complete workers whose certificate domain is a worker
//   domain; /fail, watch            a request claiming another domain than the
//                           certificate's is refused DomainUnavailable
//   cluster changes         the operator
//   reads, cluster status   any identity of this cluster
//
// An identity of another cluster may do nothing. Without TLS (a plaintext
// development cluster) every call is allowed.
#ifndef REPORT_REPLICA_SERVER_AUTHORIZER_H_
#define REPORT_REPLICA_SERVER_AUTHORIZER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"
#include "common/placement.h"

namespace grpc {
class ServerContext;
}

namespace report {

enum class ReplicaOperation {
  kSubmit,
  kEffect,  // ReserveEffect, ExtendLease, Complete, Fail
  kWatch,
  kRead,
  kClusterChange,
};

class Authorizer {
 public:
  // Every call allowed: plaintext clusters have no identities.
  static Authorizer AllowAll();
  // `placement` must hold a cluster (members, cluster id) and outlive this.
  explicit Authorizer(const Placement* placement) : placement_(placement) {}

  // OkStatus when `caller` may do `operation`. `claimed_domain` is the domain
  // the request names (ingress_domain / worker_domain; empty when it names
  // none). Refusals: PermissionDenied, or DomainUnavailable (the error code of
  // docs/API.md) for a domain that placement does not allow or that is not the
  // certificate's.
  absl::Status Check(const ProcessIdentity& caller, ReplicaOperation operation,
                     absl::string_view claimed_domain) const;
  // The member id whose consensus messages `caller` may send, or
  // PermissionDenied.
  absl::StatusOr<uint64_t> ConsensusSender(const ProcessIdentity& caller) const;

  // The identity the caller's certificate names; Unauthenticated without one.
  // Not for AllowAll.
  absl::StatusOr<ProcessIdentity> CallerOf(
      const grpc::ServerContext& context) const;
  // Check() for the caller of a server call, as its certificate names it;
  // Unauthenticated when the call carries no certificate of this cluster.
  absl::Status CheckCall(const grpc::ServerContext& context,
                         ReplicaOperation operation,
                         absl::string_view claimed_domain) const;
  // For a Deliver stream: the member id the caller may speak for (0 when
  // AllowAll: any `from` is taken as sent).
  absl::StatusOr<uint64_t> ConsensusSenderOfCall(
      const grpc::ServerContext& context) const;

  bool allows_all() const { return placement_ == nullptr; }

 private:
  Authorizer() = default;
  absl::Status CheckCluster(const ProcessIdentity& caller) const;

  const Placement* placement_ = nullptr;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_AUTHORIZER_H_
