#include "tools/reportbench_options.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "common/error_code.h"

namespace report {
namespace bench {
namespace {

absl::StatusOr<BenchOptions> Parse(std::vector<std::string> args) {
  std::string help;
  return ParseBenchOptions(args, &help);
}

TEST(ParseBenchOptionsTest, DefaultsMatchTheEtcdClient) {
  auto o = Parse({"--target", "127.0.0.1:5000", "--concurrency", "16"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, "5000");
  EXPECT_EQ(o->concurrency, 16);
  EXPECT_DOUBLE_EQ(o->seconds, 10);
  EXPECT_EQ(o->mode, BenchMode::kSubmit);
  EXPECT_FALSE(o->http);
  EXPECT_EQ(o->client, ClientKind::kAsync);
  EXPECT_EQ(o->conns, 8);  // min(concurrency, 8)
  EXPECT_TRUE(o->run_id.empty());
}

TEST(ParseBenchOptionsTest, AcceptsEveryDocumentedFlag) {
  auto o =
      Parse({"--target=localhost:8080", "--concurrency=2", "--seconds=1.5",
             "--mode=e2e", "--http", "--run-id=r1", "--warmup-seconds=0.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, BenchMode::kE2e);
  EXPECT_TRUE(o->http);
  EXPECT_EQ(o->client,
            ClientKind::kSync);  // HTTP is always per-loop connections
  EXPECT_EQ(o->run_id, "r1");
  EXPECT_DOUBLE_EQ(o->warmup_seconds, 0.5);
  EXPECT_EQ(o->conns, 2);
}

TEST(ParseBenchOptionsTest, HelpNeedsNoTarget) {
  std::string help;
  auto o = ParseBenchOptions({"--help"}, &help);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
  EXPECT_NE(help.find("--concurrency"), std::string::npos);
}

struct BadFlags {
  std::vector<std::string> args;
  std::string names;
  // Readable test names in ctest: the flags themselves.
  friend void PrintTo(const BadFlags& bad, std::ostream* out) {
    for (const std::string& arg : bad.args) *out << arg << " ";
  }
};

class RefusesBadFlagsTest : public testing::TestWithParam<BadFlags> {};

TEST_P(RefusesBadFlagsTest, WithInvalidArgumentNamingTheFlag) {
  auto o = Parse(GetParam().args);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(ErrorCodeOf(o.status()), ErrorCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find(GetParam().names),
            absl::string_view::npos)
      << o.status();
}

INSTANTIATE_TEST_SUITE_P(
    Flags, RefusesBadFlagsTest,
    testing::Values(
        BadFlags{{"--concurrency", "4"}, "--target"},
        BadFlags{{"--target", "nohost"}, "--target"},
        BadFlags{{"--target", "h:0"}, "port"},
        BadFlags{{"--target", "h:99999"}, "port"},
        BadFlags{{"--target", "h:12x"}, "port"},
        BadFlags{{"--target", "h:1", "--concurrency", "0"}, "--concurrency"},
        BadFlags{{"--target", "h:1", "--concurrency", "many"}, "concurrency"},
        BadFlags{{"--target", "h:1", "--seconds", "0"}, "--seconds"},
        BadFlags{{"--target", "h:1", "--warmup-seconds", "-1"},
                 "--warmup-seconds"},
        BadFlags{{"--target", "h:1", "--mode", "read"}, "--mode"},
        BadFlags{{"--target", "h:1", "--client", "fast"}, "--client"},
        BadFlags{{"--target", "h:1", "--http", "--client", "async"},
                 "--client"},
        BadFlags{{"--target", "h:1", "--run-id", "a/b"}, "--run-id"},
        BadFlags{{"--target", "h:1", "--run-id", ""}, "--run-id"},
        BadFlags{{"--target", "h:1", "--bogus"}, "bogus"},
        BadFlags{{"--target", "h:1", "stray"}, "positional"}));

TEST(BenchNamesTest, RequestIdsAccountsAndMonths) {
  EXPECT_EQ(BenchRequestId("run1", 3, 17), "bench-run1-3-17");
  EXPECT_EQ(BenchAccountId(1234), "acct-234");
  EXPECT_EQ(BenchMonth(0), "2026-01");
  EXPECT_EQ(BenchMonth(11), "2026-12");
  EXPECT_EQ(BenchMonth(12), "2026-01");
}

TEST(BenchNamesTest, DefaultRunIdIsAValidIdPart) {
  const std::string id = DefaultRunId();
  auto o = Parse({"--target", "h:1", "--run-id", id});
  EXPECT_TRUE(o.ok()) << id << ": " << o.status();
}

}  // namespace
}  // namespace bench
}  // namespace report
