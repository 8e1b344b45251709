#include "common/transport_security.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "boost/program_options.hpp"
#include "glog/logging.h"

namespace report {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr =
    std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the ", what, " ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// What the files hold, checked as a whole.
struct LoadedFiles {
  ProcessIdentity identity;
  std::string summary;  // identity, serial, expiry
};

absl::StatusOr<LoadedFiles> LoadFiles(const std::string& ca_path,
                                      const std::string& cert_path,
                                      const std::string& key_path) {
  absl::StatusOr<std::string> ca_pem = ReadFile(ca_path, "CA certificate");
  if (!ca_pem.ok()) return ca_pem.status();
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_path, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key_path, "key");
  if (!key_pem.ok()) return key_pem.status();

  StorePtr store(X509_STORE_new());
  {
    BioPtr bio = MemoryBio(*ca_pem);
    int count = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store.get(), ca);
      X509_free(ca);
      ++count;
    }
    if (count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(ca_path, " holds no PEM certificate"));
    }
  }
  BioPtr cert_bio = MemoryBio(*cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_path, " holds no PEM certificate"));
  }
  BioPtr key_bio = MemoryBio(*key_pem);
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, " holds no PEM private key"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key ", key_path,
                     " does not belong to the certificate ", cert_path));
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate ", cert_path, " is not valid under the CA ", ca_path,
        ": ",
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  absl::StatusOr<ProcessIdentity> identity =
      IdentityOfCertificatePem(*cert_pem);
  if (!identity.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_path, ": ", identity.status().message()));
  }
  struct stat info {};
  if (stat(key_path.c_str(), &info) == 0 && (info.st_mode & 0077) != 0) {
    LOG(WARNING) << "the key " << key_path
                 << " is readable by group or others; chmod 600 it";
  }
  LoadedFiles loaded;
  loaded.identity = *identity;
  std::string serial = "?";
  if (BIGNUM* bn =
          ASN1_INTEGER_to_BN(X509_get_serialNumber(cert.get()), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  std::string not_after = "?";
  {
    BioPtr out(BIO_new(BIO_s_mem()));
    if (ASN1_TIME_print(out.get(), X509_get0_notAfter(cert.get())) == 1) {
      char* data = nullptr;
      long size = BIO_get_mem_data(out.get(), &data);
      not_after.assign(data, static_cast<size_t>(size));
    }
  }
  loaded.summary = absl::StrCat(identity->uri(), " (serial ", serial,
                                ", valid until ", not_after, ")");
  return loaded;
}

// Accepts a peer whose certificate (already verified against the CA) names one
// identity of our cluster.
class SameClusterVerifier
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit SameClusterVerifier(std::string cluster_id)
      : cluster_id_(std::move(cluster_id)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback,
              grpc::Status* sync_status) override {
    std::vector<std::string> sans;
    for (const grpc::string_ref& uri : request->uri_names()) {
      sans.emplace_back(uri.data(), uri.size());
    }
    absl::StatusOr<ProcessIdentity> identity = IdentityFromSans(sans);
    if (!identity.ok()) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  std::string(identity.status().message()));
    } else if (identity->cluster_id != cluster_id_) {
      *sync_status = grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the peer belongs to cluster '", identity->cluster_id,
                       "', not '", cluster_id_, "'"));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;  // answered synchronously
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  const std::string cluster_id_;
};

}  // namespace

void AddTlsFlags(boost::program_options::options_description* flags,
                 TlsFlags* tls) {
  namespace po = boost::program_options;
  flags->add_options()(
      "tls-dir", po::value<std::string>(&tls->dir),
      "directory with ca.pem, NAME.pem and NAME.key (deploy/cluster.sh makes "
      "DIR/tls)")("tls-ca", po::value<std::string>(&tls->ca),
                  "cluster CA certificate (instead of --tls-dir)")(
      "tls-cert", po::value<std::string>(&tls->cert),
      "this process's certificate (instead of --tls-dir)")(
      "tls-key", po::value<std::string>(&tls->key),
      "this process's private key (instead of --tls-dir)")(
      "insecure", po::bool_switch(&tls->insecure),
      "plaintext gRPC, no authentication: development only");
}

std::string CertificatePath(absl::string_view dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name, ".pem");
}

std::string KeyPath(absl::string_view dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name, ".key");
}

std::shared_ptr<const TransportSecurity> TransportSecurity::Insecure() {
  return std::shared_ptr<const TransportSecurity>(new TransportSecurity());
}

absl::StatusOr<std::shared_ptr<const TransportSecurity>>
TransportSecurity::FromFiles(std::string ca_path, std::string cert_path,
                             std::string key_path) {
  absl::StatusOr<LoadedFiles> loaded = LoadFiles(ca_path, cert_path, key_path);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<TransportSecurity> security(new TransportSecurity());
  security->secure_ = true;
  security->ca_path_ = std::move(ca_path);
  security->cert_path_ = std::move(cert_path);
  security->key_path_ = std::move(key_path);
  security->identity_ = loaded->identity;
  security->provider_ =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          security->key_path_, security->cert_path_, security->ca_path_,
          kRefreshSeconds);
  security->verifier_ = grpc::experimental::ExternalCertificateVerifier::Create<
      SameClusterVerifier>(loaded->identity.cluster_id);
  return std::shared_ptr<const TransportSecurity>(std::move(security));
}

absl::StatusOr<std::shared_ptr<const TransportSecurity>>
TransportSecurity::FromFlags(const TlsFlags& flags, absl::string_view name) {
  const bool any_file = !flags.dir.empty() || !flags.ca.empty() ||
                        !flags.cert.empty() || !flags.key.empty();
  if (flags.insecure) {
    if (any_file) {
      return absl::InvalidArgumentError(
          "--insecure and --tls-* flags exclude each other");
    }
    return Insecure();
  }
  if (!any_file) {
    return absl::InvalidArgumentError(
        "no TLS configured: pass --tls-dir DIR (or --tls-ca, --tls-cert and "
        "--tls-key), or --insecure for plaintext development clusters");
  }
  std::string ca = flags.ca, cert = flags.cert, key = flags.key;
  if (!flags.dir.empty()) {
    if (ca.empty()) ca = flags.dir + "/ca.pem";
    if (cert.empty()) cert = CertificatePath(flags.dir, name);
    if (key.empty()) key = KeyPath(flags.dir, name);
  }
  if (ca.empty() || cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-ca, --tls-cert and --tls-key go together (or use --tls-dir)");
  }
  return FromFiles(ca, cert, key);
}

absl::StatusOr<std::shared_ptr<const TransportSecurity>>
TransportSecurity::ForTool(const TlsFlags& flags, absl::string_view name,
                           const std::vector<std::string>& default_dirs) {
  if (flags.insecure || !flags.dir.empty() || !flags.ca.empty() ||
      !flags.cert.empty() || !flags.key.empty()) {
    return FromFlags(flags, name);
  }
  TlsFlags found = flags;
  if (const char* env = getenv("REPORT_TLS_DIR"); env != nullptr && *env) {
    found.dir = env;
    return FromFlags(found, name);
  }
  for (const std::string& dir : default_dirs) {
    struct stat info {};
    if (stat(CertificatePath(dir, name).c_str(), &info) == 0) {
      found.dir = dir;
      return FromFlags(found, name);
    }
  }
  return Insecure();
}

TransportSecurity::~TransportSecurity() = default;

std::shared_ptr<grpc::ServerCredentials> TransportSecurity::ServerCredentials()
    const {
  if (!secure_) return grpc::InsecureServerCredentials();
  grpc::experimental::TlsServerCredentialsOptions options(provider_);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.set_certificate_verifier(verifier_);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials>
TransportSecurity::ChannelCredentials() const {
  if (!secure_) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider_);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  // Identities are URI SANs, not host names: the verifier checks them.
  options.set_check_call_host(false);
  options.set_certificate_verifier(verifier_);
  return grpc::experimental::TlsCredentials(options);
}

absl::StatusOr<std::string> TransportSecurity::CheckFiles() const {
  if (!secure_) return std::string("plaintext (--insecure): nothing to reload");
  absl::StatusOr<LoadedFiles> loaded =
      LoadFiles(ca_path_, cert_path_, key_path_);
  if (!loaded.ok()) return loaded.status();
  if (loaded->identity.uri() != identity_.uri()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the certificate now names ", loaded->identity.uri(),
                     ", not ", identity_.uri()));
  }
  return loaded->summary;
}

void TransportSecurity::LogAtStart(absl::string_view program) const {
  if (!secure_) {
    LOG(WARNING) << "*** " << program
                 << " runs INSECURE (--insecure): plaintext gRPC, no "
                    "authentication, any caller may act as any member. "
                    "Development only. ***";
    return;
  }
  absl::StatusOr<std::string> files = CheckFiles();
  LOG(INFO) << program << " mutual TLS as "
            << (files.ok() ? *files : identity_.uri()) << ", CA " << ca_path_;
}

void LogCertificateReload(const TransportSecurity& security) {
  if (!security.secure()) {
    LOG(WARNING) << "SIGHUP: plaintext (--insecure), no certificates to reload";
    return;
  }
  absl::StatusOr<std::string> files = security.CheckFiles();
  if (files.ok()) {
    LOG(INFO) << "SIGHUP: serving " << *files << " (files are re-read every "
              << TransportSecurity::kRefreshSeconds << " s)";
  } else {
    LOG(ERROR) << "SIGHUP: the certificate files are not usable: "
               << files.status()
               << "; connections keep the last good certificate";
  }
}

absl::StatusOr<ProcessIdentity> IdentityOfPeer(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the caller presented no certificate");
  }
  std::vector<std::string> sans;
  for (const grpc::string_ref& san :
       auth.FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    sans.emplace_back(san.data(), san.size());
  }
  if (!sans.empty()) return IdentityFromSans(sans);
  for (const grpc::string_ref& pem :
       auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
    absl::StatusOr<ProcessIdentity> identity =
        IdentityOfCertificatePem(absl::string_view(pem.data(), pem.size()));
    if (!identity.ok()) {
      return absl::UnauthenticatedError(identity.status().message());
    }
    return identity;
  }
  return absl::UnauthenticatedError("the caller's certificate names no one");
}

}  // namespace report
