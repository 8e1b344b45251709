#include "common/fingerprint.h"

#include <openssl/evp.h>

#include <cstdint>

#include "glog/logging.h"

namespace report {
namespace {

// Bumped (to "/v2", ...) only together with a migration of stored fingerprints.
constexpr absl::string_view kSubmissionTag = "report.ReportSubmission/v1";

void AppendLengthPrefixed(absl::string_view field, std::string* out) {
  uint64_t size = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((size >> shift) & 0xff));
  }
  out->append(field.data(), field.size());
}

}  // namespace

std::string CanonicalSubmissionEncoding(const ReportSubmission& submission) {
  std::string out;
  AppendLengthPrefixed(kSubmissionTag, &out);
  AppendLengthPrefixed(submission.request_id(), &out);
  AppendLengthPrefixed(submission.account_id(), &out);
  AppendLengthPrefixed(submission.month(), &out);
  return out;
}

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  // EVP_Digest only fails on allocation failure or a broken OpenSSL install; a
  // wrong fingerprint would silently break idempotency, so that is fatal.
  CHECK_EQ(EVP_Digest(bytes.data(), bytes.size(), digest, &digest_size,
                      EVP_sha256(), nullptr),
           1)
      << "SHA-256 via OpenSSL EVP failed";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest_size * 2);
  for (unsigned int i = 0; i < digest_size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::string SubmissionFingerprint(const ReportSubmission& submission) {
  return Sha256Hex(CanonicalSubmissionEncoding(submission));
}

}  // namespace report
