// API keys of the public API (docs/API.md#api-keys): who may submit and read,
// for which accounts. A request without a valid key is Unauthenticated; a read
// of another account's report answers NotFound (no existence leak) and a submit
// for it PermissionDenied. Only SHA-256 digests of keys are held.
#ifndef REPORT_GATEWAY_API_KEYS_H_
#define REPORT_GATEWAY_API_KEYS_H_

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/report_api.pb.h"

namespace report::gateway {

// What one key may do.
struct AccountGrant {
  std::string key_name;
  bool all_accounts = false;
  std::set<std::string> accounts;
  bool Covers(absl::string_view account_id) const {
    return all_accounts || accounts.count(std::string(account_id)) > 0;
  }
};

class ApiKeys {
 public:
  // InvalidArgument with a one-line reason for a malformed file.
  static absl::StatusOr<std::shared_ptr<const ApiKeys>> FromProto(
      const report::api::ApiKeyFile& file);
  static absl::StatusOr<std::shared_ptr<const ApiKeys>> ParseText(
      absl::string_view text);
  static absl::StatusOr<std::shared_ptr<const ApiKeys>> LoadFile(
      const std::string& path);

  // The grant of the key in an Authorization value ("Bearer KEY");
  // Unauthenticated when it is missing, malformed or unknown.
  absl::StatusOr<AccountGrant> Authenticate(
      absl::string_view authorization) const;

  size_t size() const { return by_digest_.size(); }

 private:
  std::map<std::string, AccountGrant> by_digest_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_API_KEYS_H_
