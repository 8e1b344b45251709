#include "common/hex.h"

#include "gtest/gtest.h"

namespace report {
namespace {

TEST(HexTest, EncodesEveryByteAsTwoLowercaseDigits) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x7a\x10", 4)), "00ff7a10");
  EXPECT_EQ(HexByte(0x1f), "1f");
  EXPECT_EQ(HexByte(0xa0), "a0");
}

TEST(HexTest, UnprintableBytesAreShownAsBackslashX) {
  EXPECT_EQ(EscapeUnprintable("plain text ~!"), "plain text ~!");
  EXPECT_EQ(EscapeUnprintable("a\nb\tc"), "a\\x0ab\\x09c");
  EXPECT_EQ(EscapeUnprintable(std::string("\x7f\x80\xff\0", 4)),
            "\\x7f\\x80\\xff\\x00");
  EXPECT_EQ(EscapeUnprintable("caf\xc3\xa9"), "caf\\xc3\\xa9");
}

}  // namespace
}  // namespace report
