#include "common/sha256.h"

#include <openssl/evp.h>

#include "common/hex.h"
#include "glog/logging.h"

namespace report {

std::string Sha256(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  CHECK_EQ(EVP_Digest(bytes.data(), bytes.size(), digest, &digest_size,
                      EVP_sha256(), nullptr),
           1)
      << "SHA-256 via OpenSSL EVP failed";
  CHECK_EQ(digest_size, kSha256Bytes);
  return std::string(reinterpret_cast<const char*>(digest), digest_size);
}

std::string Sha256Hex(absl::string_view bytes) {
  return HexEncode(Sha256(bytes));
}

}  // namespace report
