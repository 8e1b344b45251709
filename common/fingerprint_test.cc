#include "common/fingerprint.h"

#include <string>

#include "gtest/gtest.h"

namespace report {
namespace {

ReportSubmission Submission(const std::string& request_id,
                            const std::string& account_id,
                            const std::string& month) {
  ReportSubmission submission;
  submission.set_request_id(request_id);
  submission.set_account_id(account_id);
  submission.set_month(month);
  return submission;
}

// The pinned value: stored fingerprints in every replica's log depend on it. If
// this test fails, the canonical encoding changed, which breaks idempotency of
// every request accepted before the change.
TEST(FingerprintTest, KnownSubmissionHasPinnedFingerprint) {
  EXPECT_EQ(SubmissionFingerprint(Submission("req-1", "acct-42", "2024-03")),
            "9243a71d84156df5c01e4459e5bf5b96d54d48e5cf2cf30145050cbf7a532e8e");
}

TEST(FingerprintTest, Sha256OfKnownVector) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FingerprintTest, IsLowercaseHexOf64Characters) {
  std::string fingerprint =
      SubmissionFingerprint(Submission("r", "a", "2024-01"));
  ASSERT_EQ(fingerprint.size(), 64u);
  for (char c : fingerprint) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
  }
}

TEST(FingerprintTest, SamePayloadSameFingerprint) {
  EXPECT_EQ(SubmissionFingerprint(Submission("r1", "a1", "2024-01")),
            SubmissionFingerprint(Submission("r1", "a1", "2024-01")));
}

TEST(FingerprintTest, FieldBoundariesMatter) {
  EXPECT_NE(SubmissionFingerprint(Submission("ab", "c", "2024-01")),
            SubmissionFingerprint(Submission("a", "bc", "2024-01")));
  EXPECT_NE(SubmissionFingerprint(Submission("r", "a2024", "-01")),
            SubmissionFingerprint(Submission("r", "a", "2024-01")));
}

TEST(FingerprintTest, EveryFieldContributes) {
  const std::string base =
      SubmissionFingerprint(Submission("r", "a", "2024-01"));
  EXPECT_NE(base, SubmissionFingerprint(Submission("r2", "a", "2024-01")));
  EXPECT_NE(base, SubmissionFingerprint(Submission("r", "a2", "2024-01")));
  EXPECT_NE(base, SubmissionFingerprint(Submission("r", "a", "2024-02")));
}

TEST(FingerprintTest, CanonicalEncodingIsVersionedAndLengthPrefixed) {
  const std::string encoding =
      CanonicalSubmissionEncoding(Submission("ab", "c", "2024-01"));
  const std::string tag = "report.ReportSubmission/v1";
  const std::string expected = std::string("\0\0\0\0\0\0\0\x1a", 8) + tag +
                               std::string("\0\0\0\0\0\0\0\x02", 8) + "ab" +
                               std::string("\0\0\0\0\0\0\0\x01", 8) + "c" +
                               std::string("\0\0\0\0\0\0\0\x07", 8) + "2024-01";
  EXPECT_EQ(encoding, expected);
}

}  // namespace
}  // namespace report
