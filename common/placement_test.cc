#include "common/placement.h"

#include <google/protobuf/text_format.h>

#include <string>
#include <vector>

#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

std::string ProfilePath(const std::string& name) {
  return std::string(REPORT_PROFILES_DIR) + "/" + name + ".textproto";
}

std::string TestDataPath(const std::string& name) {
  return std::string(REPORT_TEST_DATA_DIR) + "/" + name;
}

Placement LoadShipped(const std::string& name) {
  absl::StatusOr<Placement> placement =
      Placement::LoadProfileFile(ProfilePath(name));
  EXPECT_TRUE(placement.ok()) << placement.status();
  if (!placement.ok()) std::abort();
  return *placement;
}

PlacementProfile ParseProfile(const std::string& text) {
  PlacementProfile profile;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile))
      << text;
  return profile;
}

// Expects InvalidArgument whose message contains `reason`.
void ExpectRefused(const absl::StatusOr<Placement>& placement,
                   const std::string& reason) {
  ASSERT_FALSE(placement.ok()) << "expected refusal containing: " << reason;
  EXPECT_EQ(ErrorCodeOf(placement.status()), ErrorCode::kInvalidArgument);
  EXPECT_NE(placement.status().message().find(reason), absl::string_view::npos)
      << placement.status().message();
  EXPECT_EQ(placement.status().message().find('\n'), absl::string_view::npos);
}

void ExpectDomainUnavailable(const absl::Status& status) {
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kDomainUnavailable) << status;
}

constexpr char kSafeProfile[] = R"pb(
  name: "t"
  replica_domains: "aws/us-east-1/use1-az1"
  replica_domains: "gcp/us-central1/us-central1-a"
  replica_domains: "azure/eastus/eastus-1"
  ingress_domains: "aws"
  worker_domains: "gcp"
  survives: PROVIDER
)pb";

// --- Failure domains
// -------------------------------------------------------------

TEST(FailureDomainTest, ParsesThreeSegments) {
  absl::StatusOr<FailureDomain> domain =
      ParseFailureDomain("gcp/us-central1/us-central1-a");
  ASSERT_TRUE(domain.ok()) << domain.status();
  EXPECT_EQ(domain->provider, "gcp");
  EXPECT_EQ(domain->region, "us-central1");
  EXPECT_EQ(domain->zone, "us-central1-a");
  EXPECT_EQ(domain->ToString(), "gcp/us-central1/us-central1-a");
  EXPECT_EQ(domain->AtLevel(PROVIDER), "gcp");
  EXPECT_EQ(domain->AtLevel(REGION), "gcp/us-central1");
  EXPECT_EQ(domain->AtLevel(ZONE), "gcp/us-central1/us-central1-a");
}

TEST(FailureDomainTest, MalformedDomainsAreRefused) {
  for (const char* text :
       {"", "aws", "aws/us-east-1", "aws/us-east-1/use1-az1/x",
        "AWS/us-east-1/a", "aws//a", "/us-east-1/a", "aws/us-east-1/",
        "aws/us east/a", "aws/us_east/a", "aws/us-east-1/a\n",
        "aws/\xc3\xa9/a"}) {
    absl::StatusOr<FailureDomain> domain = ParseFailureDomain(text);
    EXPECT_FALSE(domain.ok()) << "'" << text << "'";
    EXPECT_EQ(ErrorCodeOf(domain.status()), ErrorCode::kInvalidArgument);
  }
}

TEST(FailureDomainTest, PatternsAreOneToThreeSegments) {
  EXPECT_TRUE(ValidateDomainPattern("aws").ok());
  EXPECT_TRUE(ValidateDomainPattern("aws/us-east-1").ok());
  EXPECT_TRUE(ValidateDomainPattern("aws/us-east-1/use1-az1").ok());
  EXPECT_FALSE(ValidateDomainPattern("").ok());
  EXPECT_FALSE(ValidateDomainPattern("aws/").ok());
  EXPECT_FALSE(ValidateDomainPattern("aws/a/b/c").ok());
  EXPECT_FALSE(ValidateDomainPattern("*").ok());
}

TEST(FailureDomainTest, MatchingIsByWholeSegments) {
  const std::string domain = "aws/us-east-1/use1-az1";
  EXPECT_TRUE(DomainMatches(domain, "aws"));
  EXPECT_TRUE(DomainMatches(domain, "aws/us-east-1"));
  EXPECT_TRUE(DomainMatches(domain, "aws/us-east-1/use1-az1"));
  EXPECT_FALSE(DomainMatches(domain, "aw"));
  EXPECT_FALSE(DomainMatches(domain, "aws/us-east"));
  EXPECT_FALSE(DomainMatches(domain, "aws/us-east-1/use1-az"));
  EXPECT_FALSE(DomainMatches(domain, "aws/us-east-1/use1-az1/x"));
  EXPECT_FALSE(DomainMatches(domain, ""));
  EXPECT_FALSE(DomainMatches("aws/us-east-10/a", "aws/us-east-1"));
}

// --- Shipped profiles
// ------------------------------------------------------------

TEST(ShippedProfileTest, SingleAz) {
  Placement placement = LoadShipped("single-az");
  EXPECT_EQ(placement.name(), "single-az");
  EXPECT_EQ(placement.replica_count(), 3);
  EXPECT_EQ(placement.quorum(), 2);
  EXPECT_EQ(placement.declared_level(), PROCESS);
  EXPECT_EQ(placement.strongest_survived_level(), PROCESS);
  EXPECT_TRUE(placement.warnings().empty());
  EXPECT_TRUE(placement.CheckIngress("aws/us-east-1/use1-az1").ok());
  EXPECT_TRUE(placement.CheckWorker("aws/us-east-1/use1-az1").ok());
  // A worker (or gateway) in another AZ of the same region is refused.
  ExpectDomainUnavailable(placement.CheckWorker("aws/us-east-1/use1-az2"));
  ExpectDomainUnavailable(placement.CheckIngress("aws/us-east-1/use1-az2"));
  ExpectDomainUnavailable(
      placement.CheckWorker("gcp/us-central1/us-central1-a"));
  EXPECT_EQ(placement.DescribeSurvival(),
            "survives: loss of any 1 replica process; quorum 2 of 3");
}

TEST(ShippedProfileTest, MultiAz) {
  Placement placement = LoadShipped("multi-az");
  EXPECT_EQ(placement.declared_level(), ZONE);
  EXPECT_EQ(placement.strongest_survived_level(), ZONE);
  EXPECT_EQ(placement.quorum(), 2);
  EXPECT_TRUE(placement.CheckIngress("aws/us-east-1/use1-az4").ok());
  EXPECT_TRUE(placement.CheckWorker("aws/us-east-1/use1-az2").ok());
  ExpectDomainUnavailable(placement.CheckIngress("aws/us-west-2/usw2-az1"));
  ExpectDomainUnavailable(
      placement.CheckWorker("gcp/us-central1/us-central1-a"));
  for (const DomainLoss& loss : placement.LossesAt(ZONE)) {
    EXPECT_TRUE(loss.quorum_survives) << loss.domain;
    EXPECT_EQ(loss.replicas_left, 2) << loss.domain;
  }
  // The whole region is one domain: its loss is not survived (and not
  // promised).
  ASSERT_EQ(placement.LossesAt(REGION).size(), 1u);
  EXPECT_FALSE(placement.LossesAt(REGION)[0].quorum_survives);
}

TEST(ShippedProfileTest, CrossRegion) {
  Placement placement = LoadShipped("cross-region");
  EXPECT_EQ(placement.declared_level(), REGION);
  EXPECT_EQ(placement.strongest_survived_level(), REGION);
  EXPECT_TRUE(placement.CheckIngress("aws/eu-west-1/euw1-az3").ok());
  EXPECT_TRUE(placement.CheckWorker("aws/us-west-2/usw2-az2").ok());
  ExpectDomainUnavailable(placement.CheckIngress("aws/ap-south-1/aps1-az1"));
  ExpectDomainUnavailable(
      placement.CheckWorker("gcp/us-central1/us-central1-a"));
  EXPECT_EQ(placement.LossesAt(REGION).size(), 3u);
}

TEST(ShippedProfileTest, CrossProvider) {
  Placement placement = LoadShipped("cross-provider");
  EXPECT_EQ(placement.declared_level(), PROVIDER);
  EXPECT_EQ(placement.strongest_survived_level(), PROVIDER);
  // AWS ingress, GCP workers, as the seed's program.
  EXPECT_TRUE(placement.CheckIngress("aws/us-east-1/use1-az1").ok());
  EXPECT_TRUE(placement.CheckIngress("aws/eu-west-1/euw1-az2").ok());
  ExpectDomainUnavailable(
      placement.CheckIngress("gcp/us-central1/us-central1-a"));
  EXPECT_TRUE(placement.CheckWorker("gcp/us-central1/us-central1-a").ok());
  EXPECT_TRUE(placement.CheckWorker("gcp/europe-west1/europe-west1-b").ok());
  ExpectDomainUnavailable(placement.CheckWorker("aws/us-east-1/use1-az1"));
  ExpectDomainUnavailable(placement.CheckWorker("azure/eastus/eastus-1"));
  EXPECT_EQ(placement.DescribeSurvival(),
            "survives: loss of any one provider (aws, gcp, azure) or of any 1 "
            "replica process; quorum 2 of 3");
  EXPECT_EQ(placement.GatewayDomains(),
            std::vector<std::string>{"aws/us-east-1/use1-az1"});
  EXPECT_EQ(placement.WorkerDomains(),
            std::vector<std::string>{"gcp/us-central1/us-central1-a"});
}

TEST(ShippedProfileTest, RefusalNamesTheDomainAndProfile) {
  Placement placement = LoadShipped("cross-provider");
  absl::Status status = placement.CheckIngress("gcp/us-central1/us-central1-a");
  EXPECT_NE(status.message().find("gcp/us-central1/us-central1-a"),
            absl::string_view::npos);
  EXPECT_NE(status.message().find("profile cross-provider"),
            absl::string_view::npos);
  ExpectDomainUnavailable(placement.CheckIngress("not a domain"));
  ExpectDomainUnavailable(placement.CheckWorker(""));
}

TEST(ShippedProfileTest, EveryPlacementIsAllowed) {
  for (const char* name :
       {"single-az", "multi-az", "cross-region", "cross-provider"}) {
    Placement placement = LoadShipped(name);
    EXPECT_FALSE(placement.GatewayDomains().empty()) << name;
    EXPECT_FALSE(placement.WorkerDomains().empty()) << name;
    EXPECT_LE(placement.GatewayDomains().size(), 2u) << name;
    EXPECT_LE(placement.WorkerDomains().size(), 2u) << name;
    for (const std::string& domain : placement.GatewayDomains()) {
      EXPECT_TRUE(placement.CheckIngress(domain).ok()) << name << " " << domain;
    }
    for (const std::string& domain : placement.WorkerDomains()) {
      EXPECT_TRUE(placement.CheckWorker(domain).ok()) << name << " " << domain;
    }
  }
}

// --- Validation of profiles
// ------------------------------------------------------

TEST(ProfileValidationTest, TwoProvidersCannotSurviveAProviderLoss) {
  ExpectRefused(
      Placement::LoadProfileFile(TestDataPath("unsafe-two-provider.textproto")),
      "unsafe: losing provider aws removes 2 of 3 replicas; 1 left < "
      "quorum 2");
}

TEST(ProfileValidationTest, SingleZoneCannotSurviveAZoneLoss) {
  PlacementProfile profile = ParseProfile(R"pb(
    name: "t"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "aws/us-east-1/use1-az2"
    ingress_domains: "aws"
    worker_domains: "aws"
    survives: ZONE
  )pb");
  ExpectRefused(Placement::FromProfile(profile),
                "losing zone aws/us-east-1/use1-az1 removes 2 of 3");
  profile.set_survives(PROCESS);
  EXPECT_TRUE(Placement::FromProfile(profile).ok());
}

TEST(ProfileValidationTest, SafeProfileLoadsFromText) {
  absl::StatusOr<Placement> placement =
      Placement::ParseProfileText(kSafeProfile);
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->quorum(), 2);
  EXPECT_FALSE(placement->cluster().has_value());
}

TEST(ProfileValidationTest, MalformedDomainsAreRefused) {
  PlacementProfile profile = ParseProfile(kSafeProfile);
  profile.set_replica_domains(1, "gcp/us-central1");
  ExpectRefused(Placement::FromProfile(profile), "'gcp/us-central1'");

  profile = ParseProfile(kSafeProfile);
  profile.set_ingress_domains(0, "AWS");
  ExpectRefused(Placement::FromProfile(profile), "ingress_domains entry 'AWS'");

  profile = ParseProfile(kSafeProfile);
  profile.add_worker_domains("gcp/");
  ExpectRefused(Placement::FromProfile(profile), "worker_domains entry 'gcp/'");
}

TEST(ProfileValidationTest, EmptySetsAreRefused) {
  PlacementProfile profile = ParseProfile(kSafeProfile);
  profile.clear_replica_domains();
  ExpectRefused(Placement::FromProfile(profile), "replica_domains is empty");

  profile = ParseProfile(kSafeProfile);
  profile.clear_ingress_domains();
  ExpectRefused(Placement::FromProfile(profile), "ingress_domains is empty");

  profile = ParseProfile(kSafeProfile);
  profile.clear_worker_domains();
  ExpectRefused(Placement::FromProfile(profile), "worker_domains is empty");
}

TEST(ProfileValidationTest, QuorumMustBeAMajorityAndAtMostTheReplicas) {
  PlacementProfile profile = ParseProfile(kSafeProfile);
  profile.set_quorum(4);
  ExpectRefused(Placement::FromProfile(profile), "quorum 4 > 3 replicas");
  profile.set_quorum(1);
  ExpectRefused(Placement::FromProfile(profile), "two disjoint quorums");
  // Quorum 3 of 3 is consistent but cannot survive losing anything.
  profile.set_quorum(3);
  ExpectRefused(Placement::FromProfile(profile), "2 left < quorum 3");
  profile.set_quorum(2);
  EXPECT_TRUE(Placement::FromProfile(profile).ok());
}

TEST(ProfileValidationTest, SurvivalLevelIsRequired) {
  PlacementProfile profile = ParseProfile(kSafeProfile);
  profile.clear_survives();
  ExpectRefused(Placement::FromProfile(profile), "survives is not set");
}

TEST(ProfileValidationTest, PlacementsMustBeAllowedFullDomains) {
  PlacementProfile profile = ParseProfile(kSafeProfile);
  profile.add_gateway_placements("gcp/us-central1/us-central1-a");
  ExpectRefused(Placement::FromProfile(profile),
                "gateway_placements entry 'gcp/us-central1/us-central1-a' is "
                "not allowed");
  profile = ParseProfile(kSafeProfile);
  profile.add_worker_placements("gcp");
  ExpectRefused(Placement::FromProfile(profile),
                "worker_placements entry 'gcp'");
}

TEST(ProfileValidationTest, EvenReplicaCountIsValidWithAWarning) {
  PlacementProfile profile = ParseProfile(R"pb(
    name: "four"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "aws/us-east-1/use1-az2"
    replica_domains: "aws/us-east-1/use1-az4"
    replica_domains: "aws/us-east-1/use1-az6"
    ingress_domains: "aws/us-east-1/use1-az1"
    worker_domains: "aws/us-east-1/use1-az1"
    survives: ZONE
  )pb");
  absl::StatusOr<Placement> placement = Placement::FromProfile(profile);
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->quorum(), 3);
  ASSERT_EQ(placement->warnings().size(), 1u);
  EXPECT_NE(placement->warnings()[0].find("even replica count 4"),
            std::string::npos);
}

TEST(ProfileValidationTest, FiveReplicasSurviveTwoProcesses) {
  PlacementProfile profile = ParseProfile(R"pb(
    name: "five"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "aws/us-east-1/use1-az2"
    replica_domains: "gcp/us-central1/us-central1-a"
    replica_domains: "gcp/us-central1/us-central1-b"
    replica_domains: "azure/eastus/eastus-1"
    ingress_domains: "aws"
    worker_domains: "gcp"
    survives: PROVIDER
  )pb");
  absl::StatusOr<Placement> placement = Placement::FromProfile(profile);
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->quorum(), 3);
  EXPECT_NE(placement->DescribeSurvival().find("any 2 replica processes"),
            std::string::npos)
      << placement->DescribeSurvival();
}

TEST(ProfileValidationTest, GarbageTextIsRefused) {
  ExpectRefused(Placement::ParseProfileText("replica_domains: [unterminated"),
                "not a placement profile: line 1");
  ExpectRefused(Placement::ParseText(std::string("\0\x01\xff\xfe garbage", 12)),
                "not a placement profile");
  ExpectRefused(Placement::ParseProfileText("unknown_field: 1"),
                "unknown_field");
  ExpectRefused(Placement::LoadFile(TestDataPath("no-such-file.textproto")),
                "no such file");
  ExpectRefused(Placement::LoadFile(REPORT_TEST_DATA_DIR),
                "not a regular file");
}

// --- Cluster configs
// -------------------------------------------------------------

ClusterConfig LoadTestCluster() {
  ClusterConfig config;
  absl::StatusOr<Placement> placement = Placement::LoadClusterConfigFile(
      TestDataPath("cluster-cross-provider.textproto"));
  EXPECT_TRUE(placement.ok()) << placement.status();
  if (placement.ok() && placement->cluster().has_value()) {
    config = *placement->cluster();
  }
  return config;
}

TEST(ClusterConfigTest, LoadsAndFindsMembers) {
  absl::StatusOr<Placement> placement =
      Placement::LoadFile(TestDataPath("cluster-cross-provider.textproto"));
  ASSERT_TRUE(placement.ok()) << placement.status();
  ASSERT_TRUE(placement->cluster().has_value());
  ASSERT_NE(placement->FindMember(2), nullptr);
  EXPECT_EQ(placement->FindMember(2)->domain(),
            "gcp/us-central1/us-central1-a");
  EXPECT_EQ(placement->FindMember(9), nullptr);
  EXPECT_TRUE(placement->CheckIngress("aws/us-east-1/use1-az1").ok());
}

TEST(ClusterConfigTest, DuplicateMemberIdsAreRefused) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_members(2)->set_id(1);
  ExpectRefused(Placement::FromClusterConfig(config), "duplicate member id 1");
}

TEST(ClusterConfigTest, MemberIdZeroIsRefused) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_members(0)->set_id(0);
  ExpectRefused(Placement::FromClusterConfig(config), "id 0 is reserved");
}

TEST(ClusterConfigTest, DuplicateNamesAndAddressesAreRefused) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_members(1)->set_name("replica-1");
  ExpectRefused(Placement::FromClusterConfig(config),
                "duplicate member name 'replica-1'");
  config = LoadTestCluster();
  config.mutable_members(1)->set_grpc_address("127.0.0.1:7101");
  ExpectRefused(Placement::FromClusterConfig(config),
                "duplicate grpc_address '127.0.0.1:7101'");
}

TEST(ClusterConfigTest, MemberDomainsMustMatchTheProfile) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_members(2)->set_domain("aws/us-west-2/usw2-az1");
  ExpectRefused(Placement::FromClusterConfig(config),
                "do not match the profile's replica_domains");
  config = LoadTestCluster();
  config.mutable_members()->RemoveLast();
  ExpectRefused(Placement::FromClusterConfig(config),
                "do not match the profile's replica_domains");
}

TEST(ClusterConfigTest, UnsafePlacementInsideAClusterIsRefused) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_placement()->set_replica_domains(1, "aws/us-west-2/usw2-az1");
  config.mutable_members(1)->set_domain("aws/us-west-2/usw2-az1");
  ExpectRefused(Placement::FromClusterConfig(config), "losing provider aws");
}

TEST(ClusterConfigTest, GatewayOutsideIngressIsAWarning) {
  ClusterConfig config = LoadTestCluster();
  config.mutable_gateways(0)->set_domain("gcp/us-central1/us-central1-a");
  absl::StatusOr<Placement> placement = Placement::FromClusterConfig(config);
  ASSERT_TRUE(placement.ok()) << placement.status();
  ASSERT_EQ(placement->warnings().size(), 1u);
  EXPECT_NE(placement->warnings()[0].find("outside ingress_domains"),
            std::string::npos);
}

}  // namespace
}  // namespace report
