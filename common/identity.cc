#include "common/identity.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace report {
namespace {

constexpr absl::string_view kScheme = "spiffe://";

bool ValidSegment(absl::string_view segment, bool allow_colon) {
  if (segment.empty() || segment.size() > 128 || segment == "." ||
      segment == "..") {
    return false;
  }
  for (char c : segment) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
              (allow_colon && c == ':');
    if (!ok) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "not a cluster identity '", uri.substr(0, 200), "': ", why,
      " (want spiffe://CLUSTER_ID/KIND/PROVIDER/REGION/ZONE/NAME)"));
}

}  // namespace

absl::string_view ProcessKindName(ProcessKind kind) {
  switch (kind) {
    case ProcessKind::kReplica:
      return "replica";
    case ProcessKind::kGateway:
      return "gateway";
    case ProcessKind::kWorker:
      return "worker";
    case ProcessKind::kOperator:
      return "operator";
  }
  return "unknown";
}

std::string ProcessIdentity::domain() const {
  return absl::StrCat(provider, "/", region, "/", zone);
}

std::string ProcessIdentity::uri() const {
  return absl::StrCat(kScheme, cluster_id, "/", ProcessKindName(kind), "/",
                      domain(), "/", name);
}

absl::StatusOr<ProcessIdentity> ParseSpiffeId(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) return Invalid(uri, "not spiffe://");
  std::vector<absl::string_view> parts =
      absl::StrSplit(uri.substr(kScheme.size()), '/');
  if (parts.size() != 6) return Invalid(uri, "needs six path segments");
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!ValidSegment(parts[i], i == 0)) {
      return Invalid(uri, absl::StrCat("segment ", i + 1,
                                       " is empty or holds "
                                       "a character outside [A-Za-z0-9._-]"));
    }
  }
  ProcessIdentity identity;
  identity.cluster_id = std::string(parts[0]);
  if (parts[1] == "replica") {
    identity.kind = ProcessKind::kReplica;
  } else if (parts[1] == "gateway") {
    identity.kind = ProcessKind::kGateway;
  } else if (parts[1] == "worker") {
    identity.kind = ProcessKind::kWorker;
  } else if (parts[1] == "operator") {
    identity.kind = ProcessKind::kOperator;
  } else {
    return Invalid(uri, "unknown kind");
  }
  identity.provider = std::string(parts[2]);
  identity.region = std::string(parts[3]);
  identity.zone = std::string(parts[4]);
  identity.name = std::string(parts[5]);
  return identity;
}

absl::StatusOr<ProcessIdentity> IdentityFromSans(
    const std::vector<std::string>& sans) {
  std::vector<std::string> spiffe;
  for (const std::string& san : sans) {
    if (absl::StartsWith(san, kScheme)) spiffe.push_back(san);
  }
  if (spiffe.empty()) {
    return absl::UnauthenticatedError(
        "the certificate carries no spiffe:// identity");
  }
  if (spiffe.size() > 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the certificate carries ", spiffe.size(), " spiffe:// identities"));
  }
  absl::StatusOr<ProcessIdentity> identity = ParseSpiffeId(spiffe[0]);
  if (!identity.ok()) {
    return absl::UnauthenticatedError(identity.status().message());
  }
  return identity;
}

absl::StatusOr<ProcessIdentity> IdentityOfCertificatePem(
    absl::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("out of memory");
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (cert == nullptr) {
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  std::vector<std::string> sans;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* text = name->d.uniformResourceIdentifier;
      sans.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
          static_cast<size_t>(ASN1_STRING_length(text)));
    }
    GENERAL_NAMES_free(names);
  }
  return IdentityFromSans(sans);
}

}  // namespace report
