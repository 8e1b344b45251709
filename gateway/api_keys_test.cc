#include "gateway/api_keys.h"

#include "common/error_code.h"
#include "common/fingerprint.h"
#include "gtest/gtest.h"

namespace report::gateway {
namespace {

std::shared_ptr<const ApiKeys> Keys() {
  auto keys = ApiKeys::ParseText(
      "keys { name: \"acme\" sha256: \"" + Sha256Hex("acme-key") +
      "\" account_ids: \"acct-1\" account_ids: \"acct-2\" }\n"
      "keys { name: \"ops\" sha256: \"" +
      Sha256Hex("ops-key") + "\" account_ids: \"*\" }\n");
  EXPECT_TRUE(keys.ok()) << keys.status();
  return *keys;
}

TEST(ApiKeysTest, AValidBearerKeyGrantsItsAccounts) {
  auto keys = Keys();
  auto acme = keys->Authenticate("Bearer acme-key");
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_EQ(acme->key_name, "acme");
  EXPECT_TRUE(acme->Covers("acct-2"));
  EXPECT_FALSE(acme->Covers("acct-3"));
  auto ops = keys->Authenticate("bearer   ops-key ");
  ASSERT_TRUE(ops.ok()) << ops.status();
  EXPECT_TRUE(ops->Covers("anyone"));
}

TEST(ApiKeysTest, MissingMalformedAndUnknownKeysAreUnauthenticated) {
  auto keys = Keys();
  for (const char* value : {"", "acme-key", "Basic YWNtZTprZXk=", "Bearer",
                            "Bearer ", "Bearer nope", "Bearer ACME-KEY"}) {
    EXPECT_EQ(ErrorCodeOf(keys->Authenticate(value).status()),
              ErrorCode::kUnauthenticated)
        << "'" << value << "'";
  }
}

TEST(ApiKeysTest, MalformedFilesAreRefused) {
  for (const char* text : {
           "",                                                         // no key
           "keys { name: \"a\" sha256: \"abc\" account_ids: \"*\" }",  // short
           "keys { name: \"a\" sha256: "
           "\"0000000000000000000000000000000000000000000000000000000000000000"
           "\" }",
           "not a proto",
       }) {
    EXPECT_EQ(ErrorCodeOf(ApiKeys::ParseText(text).status()),
              ErrorCode::kInvalidArgument)
        << text;
  }
}

}  // namespace
}  // namespace report::gateway
