#include "gateway/api_keys.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/fingerprint.h"
#include "google/protobuf/text_format.h"

namespace report::gateway {
namespace {

bool IsLowerHex64(absl::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   absl::StrCat("api keys: ", why));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ApiKeys>> ApiKeys::FromProto(
    const report::api::ApiKeyFile& file) {
  auto keys = std::shared_ptr<ApiKeys>(new ApiKeys());
  for (const report::api::ApiKey& key : file.keys()) {
    if (!IsLowerHex64(key.sha256())) {
      return Invalid(absl::StrCat("key '", key.name(),
                                  "': sha256 must be 64 lowercase hex digits"));
    }
    if (key.account_ids().empty()) {
      return Invalid(absl::StrCat("key '", key.name(),
                                  "' names no account_ids (\"*\" for all)"));
    }
    AccountGrant grant;
    grant.key_name = key.name();
    for (const std::string& account : key.account_ids()) {
      if (account == "*") {
        grant.all_accounts = true;
      } else {
        grant.accounts.insert(account);
      }
    }
    if (!keys->by_digest_.emplace(key.sha256(), std::move(grant)).second) {
      return Invalid(absl::StrCat("key '", key.name(), "' is listed twice"));
    }
  }
  if (keys->by_digest_.empty()) return Invalid("the file lists no key");
  return std::shared_ptr<const ApiKeys>(std::move(keys));
}

absl::StatusOr<std::shared_ptr<const ApiKeys>> ApiKeys::ParseText(
    absl::string_view text) {
  report::api::ApiKeyFile file;
  if (!google::protobuf::TextFormat::ParseFromString(std::string(text),
                                                     &file)) {
    return Invalid("not a text ApiKeyFile (proto/report_api.proto)");
  }
  return FromProto(file);
}

absl::StatusOr<std::shared_ptr<const ApiKeys>> ApiKeys::LoadFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return Invalid(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseText(text.str());
}

absl::StatusOr<AccountGrant> ApiKeys::Authenticate(
    absl::string_view authorization) const {
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (value.empty()) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "an API key is required: Authorization: Bearer KEY");
  }
  constexpr absl::string_view kBearer = "bearer ";
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "the Authorization header must be 'Bearer KEY'");
  }
  absl::string_view key =
      absl::StripAsciiWhitespace(value.substr(kBearer.size()));
  auto found = by_digest_.find(Sha256Hex(key));
  if (key.empty() || found == by_digest_.end()) {
    return MakeError(ErrorCode::kUnauthenticated, "unknown API key");
  }
  return found->second;
}

}  // namespace report::gateway
