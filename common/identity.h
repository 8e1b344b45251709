// Who a process is, as its certificate says: the URI SAN
// spiffe://CLUSTER_ID/KIND/PROVIDER/REGION/ZONE/NAME (docs/SECURITY.md). What a
// caller may do follows from this identity, never from a field it sends.
#ifndef REPORT_COMMON_IDENTITY_H_
#define REPORT_COMMON_IDENTITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace report {

enum class ProcessKind { kReplica, kGateway, kWorker, kOperator };

// "replica", "gateway", "worker", "operator".
absl::string_view ProcessKindName(ProcessKind kind);

struct ProcessIdentity {
  std::string cluster_id;
  ProcessKind kind = ProcessKind::kOperator;
  std::string provider;
  std::string region;
  std::string zone;
  std::string name;

  // "provider/region/zone", the failure domain the certificate places it in.
  std::string domain() const;
  // The SPIFFE URI this identity parses from.
  std::string uri() const;
};

// Parses "spiffe://CLUSTER_ID/KIND/PROVIDER/REGION/ZONE/NAME": six non-empty
// segments of [A-Za-z0-9._-] (the cluster id may also hold ':'), KIND one of
// the four kinds. InvalidArgument otherwise.
absl::StatusOr<ProcessIdentity> ParseSpiffeId(absl::string_view uri);

// The one SPIFFE identity among a certificate's subject alternative names
// (other SANs are ignored); an error when there is none or more than one.
absl::StatusOr<ProcessIdentity> IdentityFromSans(
    const std::vector<std::string>& sans);

// The identity of a PEM certificate (its first certificate).
absl::StatusOr<ProcessIdentity> IdentityOfCertificatePem(absl::string_view pem);

}  // namespace report

#endif  // REPORT_COMMON_IDENTITY_H_
