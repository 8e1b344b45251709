// Failure domains and placement (docs/PLACEMENT.md).
//
// A failure domain is "provider/region/zone": three non-empty lowercase
// segments of [a-z0-9-], e.g. "aws/us-east-1/use1-az1". A placement profile
// (proto/cluster.proto) says where replicas live, which domains may host
// gateways (ingress) and workers, the failure level the replica set must
// survive and the quorum. Placement is authorization: a gateway or worker
// outside its allowed set is refused with DomainUnavailable, and a profile
// whose replica set cannot survive its declared level is refused at load time.
#ifndef REPORT_COMMON_PLACEMENT_H_
#define REPORT_COMMON_PLACEMENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/cluster.pb.h"

namespace report {

// A parsed failure domain. Parsing is the only way to get one, so every
// instance is well-formed.
struct FailureDomain {
  std::string provider;
  std::string region;
  std::string zone;

  // "provider/region/zone".
  std::string ToString() const;
  // The domain this one belongs to at `level`: "aws" (PROVIDER),
  // "aws/us-east-1" (REGION), the full domain (ZONE). PROCESS and UNSPECIFIED
  // give the full domain.
  std::string AtLevel(SurvivalLevel level) const;

  bool operator==(const FailureDomain& other) const;
};

// Parses "provider/region/zone"; InvalidArgument naming the offending text
// otherwise.
absl::StatusOr<FailureDomain> ParseFailureDomain(absl::string_view text);

// Validates an allowed-set entry: a full domain or a prefix of one ("aws",
// "aws/us-east-1"), i.e. one to three segments with the domain syntax.
absl::Status ValidateDomainPattern(absl::string_view entry);

// True when `domain` equals `entry` or lies under it ("aws/us-east-1/use1-az1"
// lies under "aws" and "aws/us-east-1", but not under "aw" or "aws/us-east").
// Pure string logic: callers validate both sides first.
bool DomainMatches(absl::string_view domain, absl::string_view entry);

// True when `domain` matches at least one entry of `allowed`.
bool DomainAllowed(
    absl::string_view domain,
    const google::protobuf::RepeatedPtrField<std::string>& allowed);

// "PROCESS", "ZONE", "REGION", "PROVIDER" ("UNSPECIFIED" otherwise).
std::string SurvivalLevelName(SurvivalLevel level);

// What losing every replica of one domain (at some level) does to the replica
// set.
struct DomainLoss {
  std::string
      domain;  // "aws", "aws/us-east-1", a full domain, or "replica-process"
  int replicas_lost = 0;
  int replicas_left = 0;
  bool quorum_survives = false;
};

// A validated placement: a profile, optionally with the cluster membership that
// realises it. Every instance passed validation; queries never fail on a
// malformed profile.
class Placement {
 public:
  // Validates `profile` (see docs/PLACEMENT.md for the rules). InvalidArgument
  // with a one-line reason when it is malformed or unsafe.
  static absl::StatusOr<Placement> FromProfile(const PlacementProfile& profile);
  // Validates the embedded profile and the members against it: ids non-zero and
  // unique, names and addresses unique, member domains equal to replica_domains
  // as a multiset.
  static absl::StatusOr<Placement> FromClusterConfig(
      const ClusterConfig& config);

  // Text-format (protobuf text) parsers and file loaders. Parse errors,
  // unreadable or oversized files are InvalidArgument with a one-line reason.
  static absl::StatusOr<Placement> ParseProfileText(absl::string_view text);
  static absl::StatusOr<Placement> ParseClusterConfigText(
      absl::string_view text);
  static absl::StatusOr<Placement> LoadProfileFile(const std::string& path);
  static absl::StatusOr<Placement> LoadClusterConfigFile(
      const std::string& path);
  // A file that is either: a ClusterConfig when it parses as one with members
  // or a placement, else a PlacementProfile.
  static absl::StatusOr<Placement> LoadFile(const std::string& path);
  static absl::StatusOr<Placement> ParseText(absl::string_view text);

  const PlacementProfile& profile() const { return profile_; }
  const std::string& name() const { return profile_.name(); }
  // The cluster this placement was loaded from, if it was loaded from a
  // ClusterConfig.
  const std::optional<ClusterConfig>& cluster() const { return cluster_; }
  // The member with `id`, or nullptr (always nullptr without a cluster).
  const Member* FindMember(uint64_t id) const;

  // OkStatus when a gateway in `domain` may accept requests; DomainUnavailable
  // otherwise (including a malformed domain: fail closed).
  absl::Status CheckIngress(absl::string_view domain) const;
  // OkStatus when a worker in `domain` may run; DomainUnavailable otherwise.
  absl::Status CheckWorker(absl::string_view domain) const;

  int replica_count() const { return profile_.replica_domains_size(); }
  // Replicas that must store an entry before it commits: the profile's quorum,
  // or a majority when it is 0.
  int quorum() const { return quorum_; }
  SurvivalLevel declared_level() const { return profile_.survives(); }
  // The strongest level whose single-domain losses all leave a quorum (PROVIDER
  // > REGION > ZONE > PROCESS); at least declared_level() for a validated
  // placement.
  SurvivalLevel strongest_survived_level() const;

  // One entry per distinct domain at `level` (first-appearance order of the
  // replicas); for PROCESS a single entry describing the loss of any one
  // replica.
  std::vector<DomainLoss> LossesAt(SurvivalLevel level) const;

  // One line for operators, e.g.
  // "survives: loss of any one provider (aws, gcp, azure) or of any 1 replica
  // process;
  //  quorum 2 of 3".
  std::string DescribeSurvival() const;

  // Full domains where deploy starts gateways / workers: gateway_placements
  // (worker_placements), or the full-domain entries of the allowed set when
  // empty.
  std::vector<std::string> GatewayDomains() const;
  std::vector<std::string> WorkerDomains() const;

  // Valid but questionable choices (an even replica count, an unnamed profile,
  // ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  Placement() = default;

  PlacementProfile profile_;
  std::optional<ClusterConfig> cluster_;
  int quorum_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace report

#endif  // REPORT_COMMON_PLACEMENT_H_
