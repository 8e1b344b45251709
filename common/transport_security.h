// Mutual TLS for every gRPC server and channel of the cluster
// (docs/SECURITY.md). A process holds one TransportSecurity: the cluster CA,
// its own certificate and key, and the identity its certificate names. Servers
// it builds require a client certificate signed by the CA of a caller of the
// same cluster; channels it builds present its certificate and accept only a
// server whose certificate the CA signed for the same cluster. Certificates and
// keys are re-read from their files while the process runs, so replacing the
// files (and sending SIGHUP, which checks them and logs what is now served)
// rotates them without a restart.
//
// Without TLS (`--insecure`, development only) everything is plaintext and the
// process says so loudly at start.
#ifndef REPORT_COMMON_TRANSPORT_SECURITY_H_
#define REPORT_COMMON_TRANSPORT_SECURITY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"

namespace boost::program_options {
class options_description;
}  // namespace boost::program_options

namespace grpc {
class AuthContext;
class ChannelCredentials;
class ServerCredentials;
namespace experimental {
class CertificateProviderInterface;
class CertificateVerifier;
}  // namespace experimental
}  // namespace grpc

namespace report {

// --tls-dir DIR (DIR/ca.pem, DIR/NAME.pem, DIR/NAME.key) or
// --tls-ca/--tls-cert/--tls-key, or --insecure.
struct TlsFlags {
  std::string dir;
  std::string ca;
  std::string cert;
  std::string key;
  bool insecure = false;
};

// Adds the TLS flags to a program's flags.
void AddTlsFlags(boost::program_options::options_description* flags,
                 TlsFlags* tls);

class TransportSecurity {
 public:
  // Plaintext everywhere.
  static std::shared_ptr<const TransportSecurity> Insecure();
  // Loads and checks the files: the CA and certificate parse, the key matches
  // the certificate, the CA signed it, and it names one SPIFFE identity.
  static absl::StatusOr<std::shared_ptr<const TransportSecurity>> FromFiles(
      std::string ca_path, std::string cert_path, std::string key_path);
  // From the flags; `name` picks DIR/NAME.pem and DIR/NAME.key with --tls-dir.
  // An error when no flag says how (neither TLS files nor --insecure), or when
  // both do.
  static absl::StatusOr<std::shared_ptr<const TransportSecurity>> FromFlags(
      const TlsFlags& flags, absl::string_view name);

  // For tools: --tls-dir, else $REPORT_TLS_DIR, else each of `default_dirs`
  // that holds NAME.pem, else (none found) plaintext.
  static absl::StatusOr<std::shared_ptr<const TransportSecurity>> ForTool(
      const TlsFlags& flags, absl::string_view name,
      const std::vector<std::string>& default_dirs);

  ~TransportSecurity();

  bool secure() const { return secure_; }
  // The identity this process's certificate names (secure() only).
  const ProcessIdentity& identity() const { return identity_; }

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;

  // Checks the files as they are now (what the running process serves within
  // a second) and returns a line describing them; an error when they would not
  // be accepted at start, or name another identity.
  absl::StatusOr<std::string> CheckFiles() const;

  // At start: one line saying what the process presents, or a loud warning
  // when plaintext.
  void LogAtStart(absl::string_view program) const;

  // How often the files are re-read.
  static constexpr unsigned kRefreshSeconds = 1;

 private:
  TransportSecurity() = default;

  bool secure_ = false;
  std::string ca_path_, cert_path_, key_path_;
  ProcessIdentity identity_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider_;
  std::shared_ptr<grpc::experimental::CertificateVerifier> verifier_;
};

// What SIGHUP does: checks the certificate files as they are now and logs what
// the process serves (or why the new files are refused and the old kept).
void LogCertificateReload(const TransportSecurity& security);

// The identity of the caller of a server call, from its TLS certificate.
// Unauthenticated when the call did not come over TLS with a certificate.
absl::StatusOr<ProcessIdentity> IdentityOfPeer(const grpc::AuthContext& auth);

// The files a certificate issued for `name` lives in under `dir`.
std::string CertificatePath(absl::string_view dir, absl::string_view name);
std::string KeyPath(absl::string_view dir, absl::string_view name);

}  // namespace report

#endif  // REPORT_COMMON_TRANSPORT_SECURITY_H_
