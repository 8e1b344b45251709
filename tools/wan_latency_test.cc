#include "tools/wan_latency.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace report::wan {
namespace {

PlacementProfile Profile(const std::string& text) {
  PlacementProfile profile;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile));
  return profile;
}

constexpr char kLatency[] = R"pb(
  latency {
    same_zone_rtt_ms: 0.3
    cross_zone_rtt_ms: 1
    cross_region_rtt_ms: 60
    cross_provider_rtt_ms: 40
    region_rtt { a: "aws/us-east-1" b: "aws/eu-west-1" rtt_ms: 70 }
    region_rtt { a: "gcp/us-central1" b: "aws/us-east-1" rtt_ms: 30 }
  }
)pb";

TEST(WanLatencyTest, EachLevelTakesItsFigureAndNamedRegionPairsTheirs) {
  const LatencyTable table = Profile(kLatency).latency();
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/us-east-1/a", "aws/us-east-1/a"),
                   0.3);
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/us-east-1/a", "aws/us-east-1/b"), 1);
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/us-east-1/a", "aws/us-west-2/a"),
                   60);
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/eu-west-1/a", "aws/us-east-1/b"),
                   70);  // either order
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/us-east-1/a", "gcp/us-central1/a"),
                   30);
  EXPECT_DOUBLE_EQ(RoundTripMs(table, "aws/us-east-1/a", "azure/eastus/1"), 40);
}

TEST(WanLatencyTest, TimingFitsTheSlowestReplicaPair) {
  PlacementProfile profile = Profile(kLatency);
  for (const char* domain :
       {"aws/us-east-1/a", "aws/eu-west-1/a", "gcp/us-central1/a"}) {
    profile.add_replica_domains(domain);
  }
  const ConsensusTiming timing = DeriveTiming(profile);
  EXPECT_DOUBLE_EQ(timing.slowest_replica_rtt_ms, 70);
  EXPECT_EQ(timing.tick_ms, 50);
  EXPECT_EQ(timing.heartbeat_ticks, 2);  // 70 ms -> 2 ticks (100 ms)
  EXPECT_EQ(timing.election_ticks, 14);  // 10 x 70 ms = 700 ms
}

TEST(WanLatencyTest, TimingNeverBelowTheDefaultsAndTakesTheProfilesOwn) {
  PlacementProfile profile = Profile(kLatency);
  for (int i = 0; i < 3; ++i) profile.add_replica_domains("aws/us-east-1/a");
  ConsensusTiming timing = DeriveTiming(profile);
  EXPECT_EQ(timing.heartbeat_ticks, 2);
  EXPECT_EQ(timing.election_ticks, 10);
  profile.mutable_latency()->set_heartbeat_ms(300);
  profile.mutable_latency()->set_election_timeout_ms(2000);
  timing = DeriveTiming(profile);
  EXPECT_EQ(timing.heartbeat_ticks, 6);
  EXPECT_EQ(timing.election_ticks, 40);
}

TEST(WanLatencyTest, QuorumRoundTripIsTheNearestQuorum) {
  PlacementProfile profile = Profile(kLatency);
  for (const char* domain :
       {"aws/us-east-1/a", "aws/eu-west-1/a", "gcp/us-central1/a"}) {
    profile.add_replica_domains(domain);
  }
  profile.set_quorum(2);
  EXPECT_DOUBLE_EQ(QuorumRoundTripMs(profile, "aws/us-east-1/a"), 30);
  EXPECT_DOUBLE_EQ(QuorumRoundTripMs(profile, "aws/eu-west-1/a"), 40);
  profile.set_quorum(3);
  EXPECT_DOUBLE_EQ(QuorumRoundTripMs(profile, "aws/us-east-1/a"), 70);
}

TEST(WanLatencyTest, BadFiguresAreRefused) {
  LatencyTable table = Profile(kLatency).latency();
  EXPECT_TRUE(ValidateLatencyTable(table).ok());
  table.set_cross_zone_rtt_ms(-1);
  EXPECT_EQ(ValidateLatencyTable(table).code(),
            absl::StatusCode::kInvalidArgument);
  table = Profile(kLatency).latency();
  table.mutable_region_rtt(0)->set_a("aws");
  EXPECT_EQ(ValidateLatencyTable(table).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace report::wan
