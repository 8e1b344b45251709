// Trust as real processes (docs/SECURITY.md): a cluster started by
// deploy/cluster.sh is mutually authenticated end to end, and what a caller may
// do follows from its certificate. Every test here is a dishonest caller: none
// of them may change the log.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/transport_security.h"
#include "gtest/gtest.h"
#include "proto/replica_service.grpc.pb.h"
#include "proto/report_api.grpc.pb.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

constexpr char kAws[] = "aws/us-east-1/use1-az1";
constexpr char kGcp[] = "gcp/us-central1/us-central1-a";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Where every replica stands: the log must not move while dishonest callers
// knock.
struct LogPosition {
  std::map<std::string, std::pair<uint64_t, uint64_t>> last_and_epoch;
  bool operator==(const LogPosition& other) const {
    return last_and_epoch == other.last_and_epoch;
  }
};

LogPosition PositionOf(LocalCluster& cluster) {
  LogPosition position;
  for (auto& [member, status] :
       cluster.client().ClusterStatus(absl::Seconds(2))) {
    EXPECT_TRUE(status.ok()) << member.name() << ": " << status.status();
    if (status.ok()) {
      position.last_and_epoch[member.name()] = {status->last_offset(),
                                                status->epoch()};
    }
  }
  return position;
}

std::string Describe(const LogPosition& position) {
  std::string text;
  for (const auto& [name, at] : position.last_and_epoch) {
    absl::StrAppend(&text, name, " last=", at.first, " epoch=", at.second,
                    "; ");
  }
  return text;
}

// A certificate for this cluster's identity, signed by a CA the cluster never
// saw: it must be refused at the handshake.
std::shared_ptr<grpc::ChannelCredentials> ForeignCredentials(
    const LocalCluster& cluster) {
  const std::string dir = cluster.dir() + "/foreign";
  const std::string uri = absl::StrCat(
      "spiffe://", cluster.config().cluster_id(), "/operator/-/-/-/operator");
  std::string output;
  const int code = RunCommand(
      absl::StrCat(
          "set -e; mkdir -p ", dir, "; cd ", dir,
          "; echo subjectAltName=URI:", uri, " > ext.cnf",
          "; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
          "-out ca.key; openssl req -x509 -new -key ca.key -days 2 -subj "
          "'/CN=foreign' -out ca.pem; openssl genpkey -algorithm EC -pkeyopt "
          "ec_paramgen_curve:P-256 -out op.key; openssl req -new -key op.key "
          "-subj /CN=operator | openssl x509 -req -CA ca.pem -CAkey ca.key "
          "-set_serial 7 -days 2 -extfile ext.cnf -out op.pem"),
      &output);
  EXPECT_EQ(code, 0) << output;
  auto security = TransportSecurity::FromFiles(dir + "/ca.pem", dir + "/op.pem",
                                               dir + "/op.key");
  EXPECT_TRUE(security.ok()) << security.status();
  if (!security.ok()) return grpc::InsecureChannelCredentials();
  return (*security)->ChannelCredentials();
}

grpc::Status ReadClusterStatus(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto stub =
      ReplicaService::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  ClusterStatusResponse response;
  return stub->ClusterStatus(&context, ClusterStatusRequest(), &response);
}

grpc::Status SubmitTo(const std::string& address,
                      std::shared_ptr<grpc::ChannelCredentials> credentials,
                      const std::string& id, const std::string& domain) {
  auto stub =
      ReplicaService::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  SubmitRequest request;
  request.mutable_submission()->set_request_id(id);
  request.mutable_submission()->set_account_id("acct-1");
  request.mutable_submission()->set_month("2026-04");
  request.set_ingress_domain(domain);
  SubmitResponse response;
  return stub->Submit(&context, request, &response);
}

grpc::Status GatewaySubmit(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& id) {
  auto stub =
      api::ReportApi::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  api::SubmitReportRequest request;
  request.set_request_id(id);
  request.set_account_id("acct-1");
  request.set_month("2026-04");
  Receipt receipt;
  return stub->SubmitReport(&context, request, &receipt);
}

// One consensus frame claiming to come from member `from` with a heartbeat at
// an absurd epoch: taken as sent, it would depose every leader.
grpc::Status DeliverTo(const std::string& address,
                       std::shared_ptr<grpc::ChannelCredentials> credentials,
                       const std::string& cluster_id, uint64_t from,
                       uint64_t to) {
  auto stub = Peer::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  DeliverAck ack;
  auto writer = stub->Deliver(&context, &ack);
  consensus::MessageBatch batch;
  batch.set_cluster_id(cluster_id);
  batch.set_from(from);
  consensus::Message* message = batch.add_messages();
  message->set_type(consensus::MSG_HEARTBEAT);
  message->set_from(from);
  message->set_to(to);
  message->set_epoch(uint64_t{1} << 40);
  writer->Write(batch);
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status CompleteAt(const std::string& address,
                        std::shared_ptr<grpc::ChannelCredentials> credentials,
                        const std::string& worker_domain) {
  auto stub =
      ReplicaService::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  CompleteRequest request;
  request.set_request_id("nobody-1");
  request.set_worker_id("worker-1");
  request.set_worker_domain(worker_domain);
  request.set_report_location("file:///tmp/forged");
  EffectResponse response;
  return stub->Complete(&context, request, &response);
}

grpc::Status ReserveAt(const std::string& address,
                       std::shared_ptr<grpc::ChannelCredentials> credentials,
                       const std::string& worker_domain) {
  auto stub =
      ReplicaService::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  ReserveEffectRequest request;
  request.set_request_id("nobody-1");
  request.set_effect_key("file-sink:nobody-1");
  request.set_worker_id("rogue");
  request.set_worker_domain(worker_domain);
  request.set_lease_ms(5000);
  request.set_max_attempts(3);
  EffectResponse response;
  return stub->ReserveEffect(&context, request, &response);
}

class TrustTest : public ::testing::Test {
 protected:
  TrustTest() : cluster_("cross-provider") {}
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(cluster_.Up(&error)) << error;
    ASSERT_TRUE(cluster_.WaitForLeader(absl::Seconds(10)).ok());
    for (const ProcessInfo& p : cluster_.Processes()) {
      if (p.kind == "replica") replicas_.push_back(p);
      if (p.kind == "gateway") gateways_.push_back(p);
    }
    ASSERT_EQ(replicas_.size(), 3u);
    // The AWS ingress gateway, then the read gateway in GCP.
    ASSERT_EQ(gateways_.size(), 2u);
  }
  // Every gRPC port a replica listens on: its own and one per peer link.
  std::vector<std::string> ReplicaPorts() const {
    std::vector<std::string> ports;
    for (const Member& member : cluster_.config().members()) {
      ports.push_back(member.grpc_address());
      for (const PeerLink& link : member.peer_links()) {
        ports.push_back(link.address());
      }
    }
    return ports;
  }
  uint64_t LeaderId() {
    for (auto& [member, status] :
         cluster_.client().ClusterStatus(absl::Seconds(2))) {
      if (status.ok() && status->role() == "leader") return member.id();
    }
    return 0;
  }

  LocalCluster cluster_;
  std::vector<ProcessInfo> replicas_;
  std::vector<ProcessInfo> gateways_;
};

TEST_F(TrustTest, PlaintextAndForeignCaClientsCannotTalkToAnyPort) {
  const LogPosition before = PositionOf(cluster_);
  const auto plaintext = grpc::InsecureChannelCredentials();
  const auto foreign = ForeignCredentials(cluster_);
  for (const std::string& address : ReplicaPorts()) {
    for (const auto& [what, credentials] : std::vector<
             std::pair<std::string, std::shared_ptr<grpc::ChannelCredentials>>>{
             {"plaintext", plaintext}, {"foreign CA", foreign}}) {
      grpc::Status read = ReadClusterStatus(address, credentials);
      EXPECT_EQ(read.error_code(), grpc::StatusCode::UNAVAILABLE)
          << what << " read " << address << ": " << read.error_message();
      grpc::Status submit = SubmitTo(address, credentials, "plain-1", kAws);
      EXPECT_EQ(submit.error_code(), grpc::StatusCode::UNAVAILABLE)
          << what << " submit " << address << ": " << submit.error_message();
      grpc::Status deliver =
          DeliverTo(address, credentials, cluster_.config().cluster_id(), 1, 2);
      EXPECT_EQ(deliver.error_code(), grpc::StatusCode::UNAVAILABLE)
          << what << " consensus " << address << ": "
          << deliver.error_message();
    }
  }
  for (const ProcessInfo& gateway : gateways_) {
    for (const auto& credentials : {plaintext, foreign}) {
      grpc::Status submit =
          GatewaySubmit(gateway.grpc_address, credentials, "plain-2");
      EXPECT_EQ(submit.error_code(), grpc::StatusCode::UNAVAILABLE)
          << gateway.grpc_address << ": " << submit.error_message();
    }
  }
  // The operator's own certificate works, and nothing moved.
  EXPECT_TRUE(
      ReadClusterStatus(replicas_[0].grpc_address, cluster_.credentials())
          .ok());
  const LogPosition after = PositionOf(cluster_);
  EXPECT_EQ(after, before) << Describe(before) << " became " << Describe(after);
}

TEST_F(TrustTest, CertificatesDecideWhatACallerMayDo) {
  const uint64_t leader = LeaderId();
  ASSERT_NE(leader, 0u);
  std::string leader_address;
  for (const Member& member : cluster_.config().members()) {
    if (member.id() == leader) leader_address = member.grpc_address();
  }
  const LogPosition before = PositionOf(cluster_);

  // A worker whose certificate says AWS, claiming GCP (the worker domain).
  const auto aws_worker = cluster_.CredentialsAs("rogue-aws", "worker", kAws);
  grpc::Status claimed = ReserveAt(leader_address, aws_worker, kGcp);
  EXPECT_EQ(claimed.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << claimed.error_message();
  EXPECT_TRUE(absl::StartsWith(claimed.error_message(), "DomainUnavailable"))
      << claimed.error_message();
  // The same valid certificate, honest about its domain: AWS is no worker
  // domain.
  grpc::Status disallowed = ReserveAt(leader_address, aws_worker, kAws);
  EXPECT_TRUE(absl::StartsWith(disallowed.error_message(), "DomainUnavailable"))
      << disallowed.error_message();

  // A gateway certificate may submit, but neither complete a report nor speak
  // consensus.
  const auto gateway = cluster_.CredentialsOf("gateway-1");
  grpc::Status complete = CompleteAt(leader_address, gateway, kAws);
  EXPECT_EQ(complete.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << complete.error_message();
  for (const std::string& address : ReplicaPorts()) {
    grpc::Status deliver =
        DeliverTo(address, gateway, cluster_.config().cluster_id(), leader, 2);
    EXPECT_EQ(deliver.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << address << ": " << deliver.error_message();
  }
  // A worker may not submit, the operator neither.
  const auto gcp_worker = cluster_.CredentialsOf("worker-1");
  EXPECT_EQ(
      SubmitTo(leader_address, gcp_worker, "by-worker", kGcp).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      SubmitTo(leader_address, cluster_.credentials(), "by-operator", kAws)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // A member's certificate speaks for that member only.
  const auto replica2 = cluster_.CredentialsOf("replica-2");
  grpc::Status impersonated =
      DeliverTo(cluster_.config().members(2).grpc_address(), replica2,
                cluster_.config().cluster_id(), 1, 3);
  EXPECT_EQ(impersonated.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << impersonated.error_message();
  // A replica certificate of another cluster, even from this CA.
  std::string output;
  ASSERT_EQ(cluster_.Script(
                absl::StrCat("cert other-replica-2 --kind replica --domain ",
                             kGcp, " --cluster-id other-cluster"),
                &output),
            0)
      << output;
  const auto other_cluster = cluster_.CredentialsOf("other-replica-2");
  for (const std::string& address : ReplicaPorts()) {
    grpc::Status deliver =
        DeliverTo(address, other_cluster, "other-cluster", 2, 1);
    EXPECT_FALSE(deliver.ok()) << address;
    EXPECT_FALSE(ReadClusterStatus(address, other_cluster).ok()) << address;
  }

  const LogPosition after = PositionOf(cluster_);
  EXPECT_EQ(after, before) << Describe(before) << " became " << Describe(after);
  // The honest path still works.
  auto receipt = cluster_.client().Submit(
      [] {
        ReportSubmission s;
        s.set_request_id("honest-1");
        s.set_account_id("acct-1");
        s.set_month("2026-04");
        return s;
      }(),
      kAws, absl::Seconds(10));
  EXPECT_TRUE(receipt.ok()) << receipt.status();
}

TEST_F(TrustTest, AProcessWhoseDomainDiffersFromItsCertificateRefusesToStart) {
  const std::string cluster_file = cluster_.dir() + "/cluster.textproto";
  std::string output;
  // A worker certificate for us-central1-a; GCP would allow -b.
  cluster_.CredentialsAs("worker-a", "worker", kGcp);
  int code = RunCommand(absl::StrCat("timeout 20 ", BinDir(),
                                     "/report-worker --id worker-a --domain ",
                                     "gcp/us-central1/us-central1-b --cluster ",
                                     cluster_file, " ", cluster_.TlsArgs()),
                        &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, 124) << "the worker ran with a domain its certificate denies";
  EXPECT_TRUE(absl::StrContains(output, "DomainUnavailable")) << output;
  EXPECT_TRUE(absl::StrContains(output, "the certificate names")) << output;
  code = RunCommand(
      absl::StrCat("timeout 20 ", BinDir(), "/report-gateway --name gateway-1 ",
                   "--domain aws/us-east-1/use1-az2 --cluster ", cluster_file,
                   " --http-listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 ",
                   cluster_.TlsArgs()),
      &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, 124)
      << "the gateway ran with a domain its certificate denies";
  EXPECT_TRUE(absl::StrContains(output, "the certificate names")) << output;
  // No TLS flags at all is refused too: plaintext must be asked for.
  code = RunCommand(
      absl::StrCat("timeout 20 ", BinDir(), "/report-gateway --name gateway-1 ",
                   "--domain ", kAws, " --cluster ", cluster_file,
                   " --http-listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0"),
      &output);
  EXPECT_EQ(code, 2) << output;
  EXPECT_TRUE(absl::StrContains(output, "no TLS configured")) << output;
}

// The serial number of the certificate a TLS port serves now (empty when the
// handshake fails), asked with the operator's certificate.
std::string ServedSerial(const LocalCluster& cluster,
                         const std::string& address) {
  std::string output;
  const std::string tls = cluster.tls_dir();
  RunCommand(
      absl::StrCat("timeout 5 openssl s_client -connect ", address, " -CAfile ",
                   tls, "/ca.pem -cert ", tls, "/operator.pem -key ", tls,
                   "/operator.key </dev/null ",
                   "2>/dev/null | openssl x509 -noout -serial"),
      &output);
  return absl::StrContains(output, "serial=") ? output : "";
}

std::string FileSerial(const std::string& pem) {
  std::string output;
  RunCommand("openssl x509 -noout -serial -in " + pem, &output);
  return output;
}

TEST_F(TrustTest, RotatingEveryCertificateUnderLoadLosesNoSubmit) {
  std::atomic<bool> stop{false};
  std::atomic<int> lost{0};
  std::mutex mu;
  std::vector<Receipt> receipts;
  const auto operator_credentials = cluster_.credentials();
  const std::string gateway = gateways_[0].grpc_address;
  // Two clients: through the gateway (gateway to replicas, replicas to each
  // other) and straight to the replicas as the gateway's identity.
  auto load = [&](int client) {
    auto stub = api::ReportApi::NewStub(
        grpc::CreateChannel(gateway, operator_credentials));
    for (int n = 0; !stop.load(); ++n) {
      const std::string id = absl::StrCat("rot-", client, "-", n);
      absl::StatusOr<Receipt> receipt = absl::UnavailableError("not tried");
      for (absl::Time until = absl::Now() + absl::Seconds(15);
           !receipt.ok() && absl::Now() < until;) {
        if (client == 0) {
          grpc::ClientContext context;
          context.set_deadline(
              absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
          api::SubmitReportRequest request;
          request.set_request_id(id);
          request.set_account_id("acct-1");
          request.set_month("2026-04");
          Receipt answer;
          grpc::Status status = stub->SubmitReport(&context, request, &answer);
          receipt = status.ok()
                        ? absl::StatusOr<Receipt>(answer)
                        : absl::StatusOr<Receipt>(FromGrpcStatus(status));
        } else {
          ReportSubmission submission;
          submission.set_request_id(id);
          submission.set_account_id("acct-1");
          submission.set_month("2026-04");
          receipt =
              cluster_.client().Submit(submission, kAws, absl::Seconds(5));
        }
      }
      if (!receipt.ok()) {
        ++lost;
        ADD_FAILURE() << id << " never accepted: " << receipt.status();
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      receipts.push_back(*receipt);
    }
  };
  std::thread through_gateway(load, 0), direct(load, 1);
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return receipts.size();
  };
  ASSERT_TRUE(WaitUntil([&] { return count() >= 20; }, absl::Seconds(20)));

  std::map<std::string, std::string> old_serials;
  for (const ProcessInfo& p : cluster_.Processes()) {
    old_serials[p.name] =
        FileSerial(cluster_.tls_dir() + "/" + p.name + ".pem");
    std::string output;
    ASSERT_EQ(cluster_.Script("cert " + p.name, &output), 0) << output;
    cluster_.Kill(p.name, "HUP");
  }
  // Every listening port serves its new certificate, and no process died.
  for (const ProcessInfo& p : cluster_.Processes()) {
    EXPECT_NE(p.pid, 0) << p.name << " died on SIGHUP";
    const std::string fresh =
        FileSerial(cluster_.tls_dir() + "/" + p.name + ".pem");
    EXPECT_NE(fresh, old_serials[p.name]);
    if (p.grpc_address == "-") continue;
    EXPECT_TRUE(WaitUntil(
        [&] { return ServedSerial(cluster_, p.grpc_address) == fresh; },
        absl::Seconds(10)))
        << p.name << " still serves " << ServedSerial(cluster_, p.grpc_address)
        << " instead of " << fresh;
  }
  const size_t at_rotation = count();
  ASSERT_TRUE(
      WaitUntil([&] { return count() >= at_rotation + 20; }, absl::Seconds(20)))
      << "submits stopped after the rotation";
  stop = true;
  through_gateway.join();
  direct.join();
  EXPECT_EQ(lost.load(), 0);
  // Every receipt handed out is in the log at its offset.
  for (const Receipt& receipt : receipts) {
    auto status = cluster_.client().ReadStatus(
        receipt.request_id(), receipt.accepted_offset(), absl::Seconds(5));
    ASSERT_TRUE(status.ok()) << receipt.request_id() << ": " << status.status();
    EXPECT_EQ(status->record().accepted_offset(), receipt.accepted_offset());
  }
  for (const ProcessInfo& p : cluster_.Processes()) {
    EXPECT_TRUE(absl::StrContains(
        ReadFile(cluster_.dir() + "/" + p.name + "/log"), "SIGHUP: serving"))
        << p.name << " did not log the reloaded certificate";
  }
}

// curl against the gateway's HTTP port: "STATUS BODY".
std::string Curl(const std::string& args) {
  std::string output;
  RunCommand("curl -sS -m 10 -w ' %{http_code}' " + args, &output);
  return output;
}

TEST(TrustApiKeysTest, KeysDecideWhoMaySubmitAndReadWhichAccounts) {
  // Keys are stored only as SHA-256 digests.
  char path[] = "/tmp/report-api-keys-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string digests;
  RunCommand("printf %s acme-secret | sha256sum | cut -c1-64", &digests);
  std::string ops_digest;
  RunCommand("printf %s ops-secret | sha256sum | cut -c1-64", &ops_digest);
  std::ofstream(path) << "keys { name: \"acme\" sha256: \""
                      << digests.substr(0, 64)
                      << "\" account_ids: \"acct-acme\" }\n"
                      << "keys { name: \"ops\" sha256: \""
                      << ops_digest.substr(0, 64)
                      << "\" account_ids: \"*\" }\n";
  LocalCluster cluster(
      "single-az",
      absl::StrCat("--workers 0 --gateway-args '--api-keys ", path, "'"));
  std::string error;
  ASSERT_TRUE(cluster.Up(&error)) << error;
  unlink(path);
  std::string http;
  std::string grpc_address;
  for (const ProcessInfo& p : cluster.Processes()) {
    if (p.kind == "gateway") {
      http = p.http_address;
      grpc_address = p.grpc_address;
    }
  }
  ASSERT_FALSE(http.empty());
  const std::string post = "-X POST http://" + http +
                           "/reports -H 'Content-Type: application/json' ";
  auto body = [](const std::string& id, const std::string& account) {
    return absl::StrCat("-d '{\"request_id\":\"", id, "\",\"account_id\":\"",
                        account, "\",\"month\":\"2026-04\"}' ");
  };
  // No key, a wrong key, a malformed header: 401 problem+json.
  for (const std::string& header :
       {std::string(""), std::string("-H 'Authorization: Bearer wrong' "),
        std::string("-H 'Authorization: acme-secret' ")}) {
    std::string answer = Curl(post + header + body("k-1", "acct-acme"));
    EXPECT_TRUE(absl::EndsWith(answer, " 401")) << header << answer;
    EXPECT_TRUE(absl::StrContains(answer, "Unauthenticated")) << answer;
    answer = Curl(header + "http://" + http + "/reports/k-1");
    EXPECT_TRUE(absl::EndsWith(answer, " 401")) << header << answer;
  }
  // The right key for its account: accepted, then readable.
  const std::string acme = "-H 'Authorization: Bearer acme-secret' ";
  std::string answer = Curl(post + acme + body("k-1", "acct-acme"));
  EXPECT_TRUE(absl::EndsWith(answer, " 202")) << answer;
  answer = Curl(acme + "'http://" + http +
                "/reports/k-1?min_offset=1&wait_ms=2000'");
  EXPECT_TRUE(absl::EndsWith(answer, " 200")) << answer;
  // Another account: a submit is 403, a read of its report 404, as if unknown.
  answer = Curl(post + acme + body("k-2", "acct-other"));
  EXPECT_TRUE(absl::EndsWith(answer, " 403")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "PermissionDenied")) << answer;
  const std::string ops = "-H 'Authorization: Bearer ops-secret' ";
  answer = Curl(post + ops + body("k-3", "acct-other"));
  EXPECT_TRUE(absl::EndsWith(answer, " 202")) << answer;
  answer = Curl(acme + "'http://" + http +
                "/reports/k-3?min_offset=1&wait_ms=2000'");
  EXPECT_TRUE(absl::EndsWith(answer, " 404")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "NotFound")) << answer;
  answer =
      Curl(ops + "'http://" + http + "/reports/k-3?min_offset=1&wait_ms=2000'");
  EXPECT_TRUE(absl::EndsWith(answer, " 200")) << answer;

  // The same over gRPC metadata.
  auto stub = api::ReportApi::NewStub(
      grpc::CreateChannel(grpc_address, cluster.credentials()));
  auto submit = [&](const std::string& key, const std::string& id,
                    const std::string& account) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    api::SubmitReportRequest request;
    request.set_request_id(id);
    request.set_account_id(account);
    request.set_month("2026-04");
    Receipt receipt;
    return stub->SubmitReport(&context, request, &receipt).error_code();
  };
  EXPECT_EQ(submit("", "g-1", "acct-acme"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(submit("acme-secret", "g-1", "acct-other"),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(submit("acme-secret", "g-1", "acct-acme"), grpc::StatusCode::OK);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer acme-secret");
  api::GetReportRequest read;
  read.set_request_id("k-3");
  read.set_min_offset(1);
  api::ReportStatus status;
  EXPECT_EQ(stub->GetReport(&context, read, &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // reportctl takes the key from $REPORT_API_KEY.
  std::string output;
  EXPECT_EQ(
      RunCommand(absl::StrCat(
                     "REPORT_API_KEY=acme-secret ", BinDir(),
                     "/reportctl submit --request-id ctl-k --account acct-acme "
                     "--month 2026-04 --cluster ",
                     cluster.dir(), "/cluster.textproto"),
                 &output),
      0)
      << output;
  EXPECT_EQ(RunCommand(
                absl::StrCat(
                    BinDir(),
                    "/reportctl submit --request-id ctl-k2 --account acct-acme "
                    "--month 2026-04 --cluster ",
                    cluster.dir(), "/cluster.textproto"),
                &output),
            1)
      << output;
  EXPECT_TRUE(absl::StrContains(output, "Unauthenticated")) << output;
}

// The serial number of the certificate an HTTPS server presents, "" when the
// handshake fails.
std::string PresentedSerial(const std::string& address, const std::string& ca) {
  std::string output;
  if (RunCommand("openssl s_client -connect " + address + " -CAfile " + ca +
                     " -verify_return_error </dev/null 2>/dev/null | "
                     "openssl x509 -noout -serial",
                 &output) != 0) {
    return "";
  }
  return output;
}

TEST(TrustHttpsTest, GatewayServesHttpsAndRotatesItsCertificateOnSighup) {
  LocalCluster cluster("single-az", "--workers 1 --https");
  std::string error;
  ASSERT_TRUE(cluster.Up(&error)) << error;
  const std::string http = cluster.Process("gateway-1").http_address;
  const std::string ca = cluster.dir() + "/tls/ca.pem";
  const std::string post =
      "-X POST -H 'Content-Type: application/json' -d "
      "'{\"request_id\":\"tls-1\",\"account_id\":\"acct-1\","
      "\"month\":\"2026-04\"}' ";
  // A client that trusts the cluster CA submits and reads over HTTPS.
  std::string answer =
      Curl("--cacert " + ca + " " + post + "https://" + http + "/reports");
  EXPECT_TRUE(absl::EndsWith(answer, " 202")) << answer;
  answer = Curl("--cacert " + ca + " 'https://" + http +
                "/reports/tls-1?min_offset=1&wait_ms=2000'");
  EXPECT_TRUE(absl::EndsWith(answer, " 200")) << answer;
  // One that does not trust it, and plain HTTP, get no answer at all.
  answer = Curl(post + "https://" + http + "/reports");
  EXPECT_TRUE(absl::EndsWith(answer, " 000")) << answer;
  answer = Curl(post + "http://" + http + "/reports");
  EXPECT_TRUE(absl::EndsWith(answer, " 000")) << answer;

  // Rotation: new files, SIGHUP, and new connections present the new
  // certificate.
  const std::string before = PresentedSerial(http, ca);
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(cluster.Script("cert gateway-1"), 0);
  cluster.Kill("gateway-1", "HUP");
  std::string after = before;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (after == before && absl::Now() < deadline) {
    after = PresentedSerial(http, ca);
  }
  EXPECT_NE(after, before) << "the gateway still presents " << before;
  EXPECT_FALSE(after.empty());
  answer = Curl("--cacert " + ca + " 'https://" + http + "/reports/tls-1'");
  EXPECT_TRUE(absl::EndsWith(answer, " 200")) << answer;

  // A key that does not load is refused and the served certificate kept.
  const std::string log_path = cluster.dir() + "/gateway-1/log";
  std::ofstream(cluster.dir() + "/tls/gateway-1.key") << "not a key\n";
  cluster.Kill("gateway-1", "HUP");
  const absl::Time refused_by = absl::Now() + absl::Seconds(10);
  while (!absl::StrContains(ReadFile(log_path),
                            "keeping the old HTTPS certificate") &&
         absl::Now() < refused_by) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(absl::StrContains(ReadFile(log_path),
                                "keeping the old HTTPS certificate"));
  EXPECT_EQ(PresentedSerial(http, ca), after);
  answer = Curl("--cacert " + ca + " 'https://" + http + "/reports/tls-1'");
  EXPECT_TRUE(absl::EndsWith(answer, " 200")) << answer;
}

TEST(TrustInsecureTest, UpInsecureRunsPlaintextAndEveryProcessSaysSo) {
  LocalCluster cluster("single-az", "--insecure --workers 1");
  std::string error;
  ASSERT_TRUE(cluster.Up(&error)) << error;
  EXPECT_EQ(access((cluster.dir() + "/tls").c_str(), F_OK), -1)
      << "an insecure cluster made certificates";
  auto receipt = cluster.client().Submit(
      [] {
        ReportSubmission s;
        s.set_request_id("plain-1");
        s.set_account_id("acct-1");
        s.set_month("2026-04");
        return s;
      }(),
      cluster.config().gateways(0).domain(), absl::Seconds(10));
  EXPECT_TRUE(receipt.ok()) << receipt.status();
  for (const ProcessInfo& p : cluster.Processes()) {
    EXPECT_TRUE(absl::StrContains(
        ReadFile(cluster.dir() + "/" + p.name + "/log"), "INSECURE"))
        << p.name << " did not warn that it runs without TLS";
  }
}

}  // namespace
}  // namespace report::testing
