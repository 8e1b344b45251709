// The authorization table of docs/SECURITY.md, one row per rule: who the
// certificate says the caller is, what it asks, what it claims, and the answer.
#include "replica/server/authorizer.h"

#include <string>

#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

constexpr char kCluster[] = R"pb(
  cluster_id: "c1"
  placement {
    name: "cross-provider"
    replica_domains: "aws/us-east-1/use1-az1"
    replica_domains: "gcp/us-central1/us-central1-a"
    replica_domains: "azure/eastus/eastus-1"
    ingress_domains: "aws"
    worker_domains: "gcp"
    survives: PROVIDER
    quorum: 2
  }
  members {
    id: 1
    name: "replica-1"
    domain: "aws/us-east-1/use1-az1"
    grpc_address: "127.0.0.1:1"
  }
  members {
    id: 2
    name: "replica-2"
    domain: "gcp/us-central1/us-central1-a"
    grpc_address: "127.0.0.1:2"
  }
  members {
    id: 3
    name: "replica-3"
    domain: "azure/eastus/eastus-1"
    grpc_address: "127.0.0.1:3"
  }
)pb";

ProcessIdentity Id(const std::string& uri) {
  absl::StatusOr<ProcessIdentity> id = ParseSpiffeId(uri);
  EXPECT_TRUE(id.ok()) << id.status();
  return *id;
}

const std::string kAwsGateway =
    "spiffe://c1/gateway/aws/us-east-1/use1-az1/gateway-1";
const std::string kGcpGateway =
    "spiffe://c1/gateway/gcp/us-central1/us-central1-a/gateway-2";
const std::string kGcpWorker =
    "spiffe://c1/worker/gcp/us-central1/us-central1-a/worker-1";
const std::string kAwsWorker =
    "spiffe://c1/worker/aws/us-east-1/use1-az1/worker-9";
const std::string kOperator = "spiffe://c1/operator/-/-/-/operator";
const std::string kReplica2 =
    "spiffe://c1/replica/gcp/us-central1/us-central1-a/replica-2";
const std::string kOtherClusterGateway =
    "spiffe://c2/gateway/aws/us-east-1/use1-az1/gateway-1";

struct Row {
  std::string caller;
  ReplicaOperation operation;
  std::string claimed_domain;
  ErrorCode expected;
};

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest()
      : placement_(*Placement::ParseClusterConfigText(kCluster)),
        authorizer_(&placement_) {}
  Placement placement_;
  Authorizer authorizer_;
};

TEST_F(AuthorizerTest, EachRuleOfTheTable) {
  const std::string aws = "aws/us-east-1/use1-az1";
  const std::string gcp = "gcp/us-central1/us-central1-a";
  const Row rows[] = {
      // Submits: gateways in an ingress domain, claiming their own domain.
      {kAwsGateway, ReplicaOperation::kSubmit, aws, ErrorCode::kOk},
      {kAwsGateway, ReplicaOperation::kSubmit, gcp,
       ErrorCode::kDomainUnavailable},
      {kGcpGateway, ReplicaOperation::kSubmit, gcp,
       ErrorCode::kDomainUnavailable},
      {kGcpGateway, ReplicaOperation::kSubmit, aws,
       ErrorCode::kDomainUnavailable},
      {kGcpWorker, ReplicaOperation::kSubmit, gcp,
       ErrorCode::kPermissionDenied},
      {kOperator, ReplicaOperation::kSubmit, aws, ErrorCode::kPermissionDenied},
      {kReplica2, ReplicaOperation::kSubmit, gcp, ErrorCode::kPermissionDenied},
      // Effects and watches: workers in a worker domain, claiming their own.
      {kGcpWorker, ReplicaOperation::kEffect, gcp, ErrorCode::kOk},
      {kGcpWorker, ReplicaOperation::kEffect, aws,
       ErrorCode::kDomainUnavailable},
      {kGcpWorker, ReplicaOperation::kEffect, "",
       ErrorCode::kDomainUnavailable},
      {kAwsWorker, ReplicaOperation::kEffect, aws,
       ErrorCode::kDomainUnavailable},
      {kAwsWorker, ReplicaOperation::kEffect, gcp,
       ErrorCode::kDomainUnavailable},
      {kAwsGateway, ReplicaOperation::kEffect, aws,
       ErrorCode::kPermissionDenied},
      {kOperator, ReplicaOperation::kEffect, gcp, ErrorCode::kPermissionDenied},
      {kGcpWorker, ReplicaOperation::kWatch, gcp, ErrorCode::kOk},
      {kGcpWorker, ReplicaOperation::kWatch, "", ErrorCode::kOk},
      {kGcpWorker, ReplicaOperation::kWatch, aws,
       ErrorCode::kDomainUnavailable},
      {kAwsWorker, ReplicaOperation::kWatch, "", ErrorCode::kDomainUnavailable},
      {kAwsGateway, ReplicaOperation::kWatch, "", ErrorCode::kPermissionDenied},
      // Cluster changes: the operator only.
      {kOperator, ReplicaOperation::kClusterChange, "", ErrorCode::kOk},
      {kReplica2, ReplicaOperation::kClusterChange, "",
       ErrorCode::kPermissionDenied},
      {kAwsGateway, ReplicaOperation::kClusterChange, "",
       ErrorCode::kPermissionDenied},
      // Reads: anyone of this cluster.
      {kAwsGateway, ReplicaOperation::kRead, "", ErrorCode::kOk},
      {kGcpWorker, ReplicaOperation::kRead, "", ErrorCode::kOk},
      {kOperator, ReplicaOperation::kRead, "", ErrorCode::kOk},
      {kReplica2, ReplicaOperation::kRead, "", ErrorCode::kOk},
      // Another cluster: nothing, not even reads.
      {kOtherClusterGateway, ReplicaOperation::kRead, "",
       ErrorCode::kUnauthenticated},
      {kOtherClusterGateway, ReplicaOperation::kSubmit, aws,
       ErrorCode::kUnauthenticated},
  };
  for (const Row& row : rows) {
    absl::Status answer =
        authorizer_.Check(Id(row.caller), row.operation, row.claimed_domain);
    EXPECT_EQ(ErrorCodeOf(answer), row.expected)
        << row.caller << " op " << static_cast<int>(row.operation)
        << " claiming '" << row.claimed_domain << "': " << answer;
  }
}

TEST_F(AuthorizerTest, ConsensusOnlyFromTheMemberTheCertificateNames) {
  absl::StatusOr<uint64_t> member = authorizer_.ConsensusSender(Id(kReplica2));
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ(*member, 2u);
  for (const std::string& caller :
       {kAwsGateway, kGcpWorker, kOperator,
        // A replica certificate for a name that is no member.
        std::string(
            "spiffe://c1/replica/gcp/us-central1/us-central1-a/replica-9"),
        // A member's name in another domain than the member's.
        std::string("spiffe://c1/replica/aws/us-east-1/use1-az1/replica-2")}) {
    EXPECT_EQ(ErrorCodeOf(authorizer_.ConsensusSender(Id(caller)).status()),
              ErrorCode::kPermissionDenied)
        << caller;
  }
  EXPECT_EQ(
      ErrorCodeOf(authorizer_
                      .ConsensusSender(Id("spiffe://c2/replica/gcp/us-central1/"
                                          "us-central1-a/replica-2"))
                      .status()),
      ErrorCode::kUnauthenticated);
}

TEST(AuthorizerAllowAllTest, PlaintextClustersAllowEverything) {
  Authorizer all = Authorizer::AllowAll();
  EXPECT_TRUE(all.allows_all());
  EXPECT_TRUE(all.Check(Id(kGcpWorker), ReplicaOperation::kSubmit, "x").ok());
}

}  // namespace
}  // namespace report
