// SHA-256, computed one way everywhere it matters that the bytes agree across
// processes and releases: fingerprints, the state digest, sink file names, the
// report generator's seed.
#ifndef REPORT_COMMON_SHA256_H_
#define REPORT_COMMON_SHA256_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace report {

inline constexpr size_t kSha256Bytes = 32;

// The 32-byte digest of `bytes`. A failure of OpenSSL (allocation, a broken
// install) is fatal: a wrong digest would silently break idempotency and the
// replicas' agreement.
std::string Sha256(absl::string_view bytes);

// Lowercase hex of Sha256(bytes): 64 characters.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace report

#endif  // REPORT_COMMON_SHA256_H_
