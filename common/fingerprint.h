// Payload fingerprints for idempotent acceptance (docs/STORAGE.md). A
// fingerprint is the lowercase hex SHA-256 of a canonical, versioned encoding
// of a submission. It is stable across builds, machines and releases (unlike
// std::hash / absl::Hash), because replicas compare fingerprints stored in the
// log with fingerprints computed later.
#ifndef REPORT_COMMON_FINGERPRINT_H_
#define REPORT_COMMON_FINGERPRINT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "proto/report.pb.h"

namespace report {

// The canonical encoding: a version tag and then request_id, account_id and
// month, each as an 8-byte big-endian length followed by its bytes, so field
// boundaries are part of the hash. Changing it changes every stored
// fingerprint: never do it without a new tag.
std::string CanonicalSubmissionEncoding(const ReportSubmission& submission);

// Lowercase hex SHA-256 of CanonicalSubmissionEncoding(submission): 64
// characters.
std::string SubmissionFingerprint(const ReportSubmission& submission);

}  // namespace report

#endif  // REPORT_COMMON_FINGERPRINT_H_
