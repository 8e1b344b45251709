#include "common/fingerprint.h"

#include <cstdint>

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

std::string SubmissionFingerprint(const ReportSubmission& submission) {
  return Sha256Hex(CanonicalSubmissionEncoding(submission));
}

}  // namespace report
