#include "common/identity.h"

#include "gtest/gtest.h"

namespace report {
namespace {

TEST(IdentityTest, ParsesEveryPartOfTheSpiffeId) {
  auto id = ParseSpiffeId(
      "spiffe://local-x-123/worker/gcp/us-central1/usc1-a/worker-2");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->cluster_id, "local-x-123");
  EXPECT_EQ(id->kind, ProcessKind::kWorker);
  EXPECT_EQ(id->domain(), "gcp/us-central1/usc1-a");
  EXPECT_EQ(id->name, "worker-2");
  EXPECT_EQ(id->uri(),
            "spiffe://local-x-123/worker/gcp/us-central1/usc1-a/worker-2");
}

TEST(IdentityTest, RefusesMalformedIds) {
  for (const char* bad : {
           "",
           "https://c/replica/a/b/c/r1",
           "spiffe://c/replica/a/b/c",           // five segments
           "spiffe://c/replica/a/b/c/r1/extra",  // seven
           "spiffe://c/admin/a/b/c/r1",          // unknown kind
           "spiffe://c/replica/a//c/r1",         // empty segment
           "spiffe://c/replica/a/b/c/r 1",       // space
           "spiffe://c/replica/a/b/c/r1?x=1",
           "spiffe://c/replica/../b/c/r1/x",
       }) {
    EXPECT_FALSE(ParseSpiffeId(bad).ok()) << bad;
  }
}

TEST(IdentityTest, TheOneSpiffeSanIsTheIdentity) {
  auto id = IdentityFromSans(
      {"localhost", "spiffe://c/gateway/aws/r/z/gateway-1", "127.0.0.1"});
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->kind, ProcessKind::kGateway);
  EXPECT_EQ(IdentityFromSans({"localhost"}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(IdentityFromSans({"spiffe://c/gateway/aws/r/z/g1",
                              "spiffe://c/replica/aws/r/z/r1"})
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(IdentityTest, NotACertificateIsAnError) {
  EXPECT_FALSE(IdentityOfCertificatePem("hello").ok());
}

}  // namespace
}  // namespace report
