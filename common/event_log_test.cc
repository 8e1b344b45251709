#include "common/event_log.h"

#include "gtest/gtest.h"

namespace report {
namespace {

TEST(EventLogTest, FieldsFollowTheEventNameInOrder) {
  EXPECT_EQ(EventLine("leader_elected", {{"epoch", 7}, {"id", 2}}),
            "event=leader_elected epoch=7 id=2");
  EXPECT_EQ(EventLine("started", {}), "event=started");
}

TEST(EventLogTest, PlainTokensStayBare) {
  EXPECT_EQ(EventValue("aws/us-east-1/use1-az1"), "aws/us-east-1/use1-az1");
  EXPECT_EQ(EventValue("127.0.0.1:7100"), "127.0.0.1:7100");
  EXPECT_EQ(EventValue("-12.5"), "-12.5");
}

TEST(EventLogTest, ValuesWithSpacesQuotesOrEqualsAreQuoted) {
  EXPECT_EQ(EventValue("lease lost"), "\"lease lost\"");
  EXPECT_EQ(EventValue("a=b"), "\"a=b\"");
  EXPECT_EQ(EventValue("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(EventValue("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(EventValue(""), "\"\"");
}

// A value never breaks the line or smuggles in a field of its own.
TEST(EventLogTest, ControlAndNonAsciiBytesAreEscaped) {
  EXPECT_EQ(EventValue("a\nevent=forged"), "\"a\\nevent=forged\"");
  EXPECT_EQ(EventValue("tab\there"), "\"tab\\there\"");
  EXPECT_EQ(EventValue(std::string("\x01\xff", 2)), "\"\\x01\\xff\"");
  EXPECT_EQ(EventLine("request_failed",
                      {{"request_id", "r 1"}, {"reason", "disk full\n"}}),
            "event=request_failed request_id=\"r 1\" reason=\"disk full\\n\"");
}

}  // namespace
}  // namespace report
