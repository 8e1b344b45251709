#include "common/sha256.h"

#include "common/hex.h"
#include "gtest/gtest.h"

namespace report {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, TheRawDigestIsThirtyTwoBytesOfTheHex) {
  const std::string digest = Sha256(std::string("a\0b", 3));
  EXPECT_EQ(digest.size(), kSha256Bytes);
  EXPECT_EQ(HexEncode(digest), Sha256Hex(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace report
