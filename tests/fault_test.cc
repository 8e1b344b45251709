// Fault tests: real processes, real faults (kill -9, SIGSTOP, a whole failure
// domain, packet drops), while clients keep submitting and reading. Every
// answer the clients get is recorded and judged afterwards by
// tools/history_checker: no receipt lost or moved, no two requests at one
// offset, reads never older than asked or than the client already saw, one
// effect per request, and every replica converges to one state digest.
#include <dirent.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/fingerprint.h"
#include "gtest/gtest.h"
#include "proto/report_api.grpc.pb.h"
#include "tests/local_cluster.h"
#include "tools/history_checker.h"

namespace report::testing {
namespace {

using history::History;

// Short work and leases, and clients that pause between requests (kThinkTime),
// keep the workers' backlog small, so every test ends with all accepted work
// done.
constexpr char kWorkerArgs[] =
    "--worker-args \"--work-ms 5 --lease-ms 1500 --concurrency 8 "
    "--retry-backoff-ms 100\"";
constexpr absl::Duration kThinkTime = absl::Milliseconds(20);
// How long a read may wait for its replica to apply the offset asked for.
// Short, because a cluster client whose nearest replica is cut off or stopped
// spends it (plus an attempt timeout) on that replica before asking the next
// one.
constexpr absl::Duration kReadWait = absl::Milliseconds(500);
constexpr absl::Duration kSubmitTimeout = absl::Seconds(3);

ReportSubmission MakeSubmission(const std::string& id, int client) {
  ReportSubmission submission;
  submission.set_request_id(id);
  submission.set_account_id(absl::StrCat("acct-", client));
  submission.set_month("2026-04");
  return submission;
}

// The first `segments` segments of a failure-domain path: 1 is the provider,
// 2 the region ("aws/us-east-1/use1-az1" -> "aws", "aws/us-east-1").
std::string DomainPrefix(const std::string& domain, size_t segments) {
  std::vector<std::string> parts = absl::StrSplit(domain, '/');
  if (parts.size() > segments) parts.resize(segments);
  return absl::StrJoin(parts, "/");
}

// Whether `domain` is `prefix` or lies inside it (as cluster.sh kill-domain
// matches).
bool InDomain(const std::string& domain, const std::string& prefix) {
  return domain == prefix || absl::StartsWith(domain, prefix + "/");
}

// What a read told the client.
struct ReadAnswer {
  uint64_t served_offset = 0;
  RequestState state = REQUEST_STATE_UNSPECIFIED;
  uint64_t accepted_offset = 0;
};

// One client's way into the system: the cluster client (as a gateway or worker
// uses it) or a gateway's public gRPC API.
class SubmitPath {
 public:
  virtual ~SubmitPath() = default;
  virtual absl::StatusOr<Receipt> Submit(
      const ReportSubmission& submission) = 0;
  virtual absl::StatusOr<ReadAnswer> Read(const std::string& id,
                                          uint64_t min_offset) = 0;
};

class ClusterClientPath : public SubmitPath {
 public:
  ClusterClientPath(const ClusterConfig& config, std::string ingress,
                    std::shared_ptr<grpc::ChannelCredentials> credentials)
      : client_(config, ingress, std::move(credentials)),
        ingress_(std::move(ingress)) {}
  absl::StatusOr<Receipt> Submit(const ReportSubmission& submission) override {
    return client_.Submit(submission, ingress_, kSubmitTimeout);
  }
  absl::StatusOr<ReadAnswer> Read(const std::string& id,
                                  uint64_t min_offset) override {
    auto read = client_.ReadStatus(id, min_offset, kReadWait);
    if (!read.ok()) return read.status();
    return ReadAnswer{read->served_offset(), read->record().state(),
                      read->record().accepted_offset()};
  }

 private:
  ClusterClient client_;
  const std::string ingress_;
};

class GatewayPath : public SubmitPath {
 public:
  GatewayPath(const std::string& address,
              std::shared_ptr<grpc::ChannelCredentials> credentials)
      : stub_(api::ReportApi::NewStub(
            grpc::CreateChannel(address, std::move(credentials)))) {}
  absl::StatusOr<Receipt> Submit(const ReportSubmission& submission) override {
    api::SubmitReportRequest request;
    request.set_request_id(submission.request_id());
    request.set_account_id(submission.account_id());
    request.set_month(submission.month());
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + kSubmitTimeout + absl::Seconds(1)));
    Receipt receipt;
    grpc::Status status = stub_->SubmitReport(&context, request, &receipt);
    if (!status.ok()) return FromGrpcStatus(status);
    return receipt;
  }
  absl::StatusOr<ReadAnswer> Read(const std::string& id,
                                  uint64_t min_offset) override {
    api::GetReportRequest request;
    request.set_request_id(id);
    request.set_min_offset(min_offset);
    request.set_wait_ms(absl::ToInt64Milliseconds(kReadWait));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(4)));
    api::ReportStatus status_reply;
    grpc::Status status = stub_->GetReport(&context, request, &status_reply);
    if (!status.ok()) return FromGrpcStatus(status);
    return ReadAnswer{status_reply.served_offset(), status_reply.state(),
                      status_reply.accepted_offset()};
  }

 private:
  std::unique_ptr<api::ReportApi::Stub> stub_;
};

// Client threads that submit new requests (retrying one with the same id until
// it gets an answer, as a careful client does after CommitUnknown) and read
// each back at max(its offset, the newest offset this client has seen),
// recording everything.
class Workload {
 public:
  using PathFactory = std::function<std::unique_ptr<SubmitPath>()>;
  Workload(History* history, PathFactory make_path, std::string prefix,
           int clients = 3)
      : history_(history),
        make_path_(std::move(make_path)),
        prefix_(std::move(prefix)),
        clients_(clients) {}
  ~Workload() { Stop(); }

  void Start() {
    for (int c = 0; c < clients_; ++c)
      threads_.emplace_back([this, c] { Run(c); });
  }
  void Stop() {
    stop_.store(true);
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

  size_t receipts() const { return receipts_.load(); }
  // When the first receipt of an entry accepted in an epoch above `epoch`
  // arrived (InfinitePast if none yet): the moment a new leader served.
  absl::Time FirstReceiptAfterEpoch(uint64_t epoch) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = first_receipt_in_epoch_.upper_bound(epoch);
    return it == first_receipt_in_epoch_.end() ? absl::InfinitePast()
                                               : it->second;
  }
  std::set<std::string> attempted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return attempted_;
  }

  // Waits until `more` receipts beyond `base` have arrived.
  bool WaitForReceipts(size_t base, size_t more, absl::Duration timeout) const {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (receipts_.load() >= base + more) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

 private:
  void Run(int c) {
    std::unique_ptr<SubmitPath> path = make_path_();
    const std::string client = absl::StrCat(prefix_, "-client-", c);
    uint64_t seen = 0;
    for (int i = 0; !stop_.load(); ++i) {
      const std::string id = absl::StrCat(prefix_, "-", c, "-", i);
      const ReportSubmission submission = MakeSubmission(id, c);
      const std::string fingerprint = SubmissionFingerprint(submission);
      {
        std::lock_guard<std::mutex> lock(mu_);
        attempted_.insert(id);
      }
      absl::StatusOr<Receipt> receipt = absl::UnknownError("not sent");
      do {
        receipt = path->Submit(submission);
        if (!receipt.ok()) {
          history_->AddUnknownOutcome(
              {client, id, fingerprint,
               std::string(ErrorCodeName(ErrorCodeOf(receipt.status())))});
        }
      } while (!receipt.ok() && !stop_.load());
      if (!receipt.ok()) break;
      history_->AddReceipt({client, id, receipt->accepted_offset(), fingerprint,
                            receipt->duplicate()});
      {
        std::lock_guard<std::mutex> lock(mu_);
        first_receipt_in_epoch_.emplace(receipt->epoch(), absl::Now());
      }
      receipts_++;
      const uint64_t min_offset = std::max(seen, receipt->accepted_offset());
      auto read = path->Read(id, min_offset);
      if (read.ok()) {
        history_->AddRead({client, id, min_offset, read->served_offset, true,
                           read->state, read->accepted_offset});
        seen = std::max(seen, read->served_offset);
      } else if (ErrorCodeOf(read.status()) == ErrorCode::kNotFound) {
        // NotFound is only ever answered from an offset >= min_offset.
        history_->AddRead({client, id, min_offset, min_offset, false});
      }
      // StaleRead / unreachable: no answer, nothing to judge.
      absl::SleepFor(kThinkTime);
    }
  }

  History* const history_;
  const PathFactory make_path_;
  const std::string prefix_;
  const int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> receipts_{0};
  mutable std::mutex mu_;
  std::set<std::string> attempted_;
  std::map<uint64_t, absl::Time> first_receipt_in_epoch_;
  std::vector<std::thread> threads_;
};

// The fixture of every fault test: a cluster, its history and the final
// judgement.
class FaultCluster {
 public:
  FaultCluster(const std::string& profile, const std::string& up_args)
      : cluster(profile, up_args) {}
  LocalCluster cluster;
  History history;

  std::string IngressDomain() const {
    if (cluster.config().gateways_size() > 0)
      return cluster.config().gateways(0).domain();
    return cluster.config().members(0).domain();
  }
  Workload::PathFactory ClientPath() {
    return [this] {
      return std::make_unique<ClusterClientPath>(
          cluster.config(), IngressDomain(), cluster.client_credentials());
    };
  }

  // Status of every reachable replica, by member name.
  std::map<std::string, ClusterStatusResponse> Statuses() {
    std::map<std::string, ClusterStatusResponse> out;
    for (auto& [member, status] :
         cluster.client().ClusterStatus(absl::Milliseconds(300))) {
      if (status.ok()) out[member.name()] = *status;
    }
    return out;
  }

  // Waits for a leader other than `excluded` whose epoch exceeds `epoch`.
  absl::StatusOr<ClusterStatusResponse> WaitForNewLeader(
      const std::string& excluded, uint64_t epoch, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (auto& [name, status] : Statuses()) {
        if (name != excluded && status.role() == "leader" &&
            status.epoch() > epoch) {
          return status;
        }
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat(
        "no leader other than ", excluded, " above epoch ", epoch));
  }

  // Waits until `name` answers as a follower in an epoch >= `epoch`.
  absl::StatusOr<ClusterStatusResponse> WaitForFollower(
      const std::string& name, uint64_t epoch, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    std::string last = "no answer";
    while (absl::Now() < deadline) {
      auto statuses = Statuses();
      auto it = statuses.find(name);
      if (it != statuses.end()) {
        last =
            absl::StrCat(it->second.role(), " in epoch ", it->second.epoch());
        if (it->second.role() == "follower" && it->second.epoch() >= epoch)
          return it->second;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat(
        name, " is not a follower in epoch >= ", epoch, " (last: ", last, ")"));
  }

  std::string LeaderName() {
    auto leader = cluster.WaitForLeader(absl::Seconds(15));
    EXPECT_TRUE(leader.ok()) << leader.status();
    return leader.ok() ? *leader : "";
  }

  std::vector<std::string> ReplicaNames() const {
    std::vector<std::string> names;
    for (const Member& member : cluster.config().members())
      names.push_back(member.name());
    return names;
  }

  // Request ids of the sink's effect files ("<sink>:<request id>.json").
  std::vector<std::string> EffectRequestIds() const {
    std::vector<std::string> ids;
    DIR* dir = opendir((cluster.dir() + "/sink").c_str());
    if (dir == nullptr) return ids;
    while (dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name.empty() || name[0] == '.' || !absl::EndsWith(name, ".json"))
        continue;
      size_t colon = name.find(':');
      if (colon == std::string::npos) continue;
      ids.push_back(name.substr(colon + 1, name.size() - colon - 1 - 5));
    }
    closedir(dir);
    return ids;
  }

  // An ingress gateway outside `domain` (a domain or a prefix of one); empty
  // if none. Read gateways (cluster.sh's gateway-read-N) take no submits.
  ProcessInfo GatewayOutside(const std::string& domain) const {
    for (const ProcessInfo& p : cluster.Processes()) {
      if (p.kind == "gateway" && !InDomain(p.domain, domain) &&
          !absl::StartsWith(p.name, "gateway-read")) {
        return p;
      }
    }
    return ProcessInfo{};
  }

  // Takes out every process in `domain` (an AZ, or a prefix: a region, a
  // provider) with cluster.sh kill-domain while `workload` runs, and expects
  // `more` receipts while they are down, and (when `new_epoch`: the lost
  // domain held the leader) some from a leader in an epoch above `epoch`.
  // Then checks each of them really died and restarts them on their data.
  void LoseDomainUnderLoad(const Workload& workload, const std::string& domain,
                           size_t more, uint64_t epoch, bool new_epoch) {
    std::vector<std::string> victims;
    for (const ProcessInfo& p : cluster.Processes()) {
      if (InDomain(p.domain, domain) && p.pid != 0) victims.push_back(p.name);
    }
    ASSERT_FALSE(victims.empty()) << "nothing runs in " << domain;
    std::string output;
    ASSERT_EQ(cluster.Script("kill-domain " + domain, &output), 0) << output;
    const absl::Time killed = absl::Now();
    const size_t before = workload.receipts();
    ASSERT_TRUE(workload.WaitForReceipts(before, more, absl::Seconds(20)))
        << "the rest of the cluster did not keep accepting without " << domain
        << " (" << workload.receipts() - before << " receipts of " << more
        << ")";
    if (new_epoch) {
      const absl::Time served = workload.FirstReceiptAfterEpoch(epoch);
      ASSERT_NE(served, absl::InfinitePast())
          << "no receipt from a leader above epoch " << epoch;
      std::cout << "lost " << domain << " (" << absl::StrJoin(victims, ", ")
                << "): first receipt of a later epoch after "
                << absl::FormatDuration(served - killed) << "\n";
    }
    for (const std::string& victim : victims) {
      EXPECT_EQ(cluster.Process(victim).pid, 0)
          << victim << " survived kill-domain " << domain;
      cluster.Start(victim);
    }
  }

  // The whole-domain scenario at any level (an AZ, a region, a provider):
  // `domain` holds `leader` (of `epoch`); a workload through a gateway outside
  // it runs while the domain is lost and restarted; the old leader rejoins as
  // a follower of a later epoch, acceptance goes on, and the history holds.
  void LoseTheLeadersDomainUnderLoad(const std::string& leader, uint64_t epoch,
                                     const std::string& domain,
                                     const std::string& id_prefix) {
    const ProcessInfo gateway = GatewayOutside(domain);
    ASSERT_FALSE(gateway.name.empty()) << "no gateway outside " << domain;
    Workload workload(
        &history,
        [&] {
          return std::make_unique<GatewayPath>(gateway.grpc_address,
                                               cluster.credentials());
        },
        id_prefix);
    workload.Start();
    ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
    LoseDomainUnderLoad(workload, domain, 40, epoch, /*new_epoch=*/true);
    if (::testing::Test::HasFatalFailure()) return;
    auto rejoined = WaitForFollower(leader, epoch + 1, absl::Seconds(15));
    EXPECT_TRUE(rejoined.ok()) << rejoined.status();
    ASSERT_TRUE(
        workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
    workload.Stop();
    ExpectHistoryHolds(workload, 70, /*expect_work_done=*/true);
  }

  // After the faults: every process running again, the work done, the history
  // judged and every replica at one digest.
  void ExpectHistoryHolds(const Workload& workload, size_t min_receipts,
                          bool expect_work_done) {
    ASSERT_GE(workload.receipts(), min_receipts)
        << "the workload made too little progress";
    ASSERT_TRUE(cluster.WaitForLeader(absl::Seconds(15)).ok());
    uint64_t last_offset = 0;
    for (const auto& receipt : history.receipts()) {
      last_offset = std::max(last_offset, receipt.accepted_offset);
    }
    std::set<std::string> ids = workload.attempted();
    for (const auto& receipt : history.receipts())
      ids.insert(receipt.request_id);
    for (const auto& unknown : history.unknown_outcomes())
      ids.insert(unknown.request_id);
    history::FinalState final_state;
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (true) {
      final_state.records.clear();
      size_t unfinished = 0;
      for (const std::string& id : ids) {
        auto read =
            cluster.client().ReadStatus(id, last_offset, absl::Seconds(5));
        if (read.ok()) {
          final_state.records[id] = read->record();
          unfinished += read->record().state() != COMPLETED;
        } else {
          ASSERT_EQ(ErrorCodeOf(read.status()), ErrorCode::kNotFound)
              << id << ": " << read.status();
        }
      }
      if (!expect_work_done || unfinished == 0) break;
      if (absl::Now() >= deadline) {
        for (const auto& [id, record] : final_state.records) {
          if (record.state() != COMPLETED) {
            ADD_FAILURE() << "e.g. " << record.ShortDebugString();
            break;
          }
        }
        std::string logs;
        RunCommand("tail -n 15 " + cluster.dir() + "/worker-*/log", &logs);
        FAIL() << unfinished
               << " accepted requests never completed; worker logs:\n"
               << logs;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    final_state.effect_request_ids = EffectRequestIds();
    auto violations = history::CheckHistory(history, final_state);
    EXPECT_TRUE(violations.empty()) << history::Describe(violations);
    auto statuses = Statuses();
    uint64_t applied = 0;
    for (const auto& [name, status] : statuses)
      applied = std::max(applied, status.commit_offset());
    auto digest = cluster.WaitForConvergence(std::max(applied, last_offset),
                                             absl::Seconds(20));
    EXPECT_TRUE(digest.ok()) << digest.status();
    std::cout << "history: " << history.receipts().size() << " receipts, "
              << history.unknown_outcomes().size() << " unanswered submits, "
              << history.reads().size() << " reads, "
              << final_state.records.size() << " requests, "
              << final_state.effect_request_ids.size() << " effects\n";
  }
};

#define ASSERT_UP(fc)                                    \
  do {                                                   \
    std::string up_error;                                \
    ASSERT_TRUE((fc).cluster.Up(&up_error)) << up_error; \
  } while (0)

uint64_t EpochOf(FaultCluster& fc, const std::string& name) {
  auto statuses = fc.Statuses();
  auto it = statuses.find(name);
  return it == statuses.end() ? 0 : it->second.epoch();
}

TEST(FaultTest, LeaderKilledRepeatedlyUnderLoadLosesNothing) {
  FaultCluster fc("single-az", kWorkerArgs);
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "lk");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  for (int round = 0; round < 3; ++round) {
    std::string leader = fc.LeaderName();
    ASSERT_FALSE(leader.empty());
    uint64_t epoch = EpochOf(fc, leader);
    size_t before = workload.receipts();
    absl::Time killed = absl::Now();
    fc.cluster.Kill(leader);
    ASSERT_TRUE(workload.WaitForReceipts(before, 1, absl::Seconds(15)))
        << "no submit accepted after killing " << leader;
    ASSERT_TRUE(fc.WaitForNewLeader(leader, epoch, absl::Seconds(10)).ok());
    absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (workload.FirstReceiptAfterEpoch(epoch) == absl::InfinitePast() &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    absl::Time served = workload.FirstReceiptAfterEpoch(epoch);
    ASSERT_NE(served, absl::InfinitePast())
        << "no submit accepted in an epoch after " << epoch;
    std::cout << "round " << round << ": killed leader " << leader << " (epoch "
              << epoch << "), first receipt of a later epoch after "
              << absl::FormatDuration(served - killed) << "\n";
    ASSERT_TRUE(workload.WaitForReceipts(before, 20, absl::Seconds(15)));
    fc.cluster.Start(leader);
    ASSERT_TRUE(fc.WaitForFollower(leader, epoch + 1, absl::Seconds(15)).ok());
  }
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 60, /*expect_work_done=*/true);
}

TEST(FaultTest, EachFollowerKilledUnderLoadLosesNothing) {
  FaultCluster fc("single-az", kWorkerArgs);
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "fk");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  std::string leader = fc.LeaderName();
  for (const std::string& follower : fc.ReplicaNames()) {
    if (follower == leader) continue;
    fc.cluster.Kill(follower);
    size_t before = workload.receipts();
    ASSERT_TRUE(workload.WaitForReceipts(before, 30, absl::Seconds(15)))
        << "no progress with " << follower << " down";
    fc.cluster.Start(follower);
    ASSERT_TRUE(fc.WaitForFollower(follower, 1, absl::Seconds(15)).ok());
  }
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 80, /*expect_work_done=*/true);
}

TEST(FaultTest, WholeDomainKilledKeepsAcceptingWithTheRemainingMajority) {
  // multi-az: a replica in each of three AZs, gateways and workers in two of
  // them.
  FaultCluster fc("multi-az", kWorkerArgs);
  ASSERT_UP(fc);
  // Lose the leader's whole AZ: its replica, and its gateway and worker if it
  // has them.
  std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  const uint64_t epoch = EpochOf(fc, leader);
  fc.LoseTheLeadersDomainUnderLoad(leader, epoch,
                                   fc.cluster.Process(leader).domain, "dk");
}

// The cross-region profile as a whole: three replicas in three AWS regions,
// gateways in two of them, workers in two (one only in eu-west-1, where no
// gateway runs). Clients submit through both gateways; every report is
// accepted once, completed once, and every replica converges.
TEST(FaultTest,
     CrossRegionClusterAcceptsAndCompletesReportsThroughEachGateway) {
  FaultCluster fc("cross-region", kWorkerArgs);
  ASSERT_UP(fc);
  std::set<std::string> regions;
  for (const Member& member : fc.cluster.config().members())
    regions.insert(DomainPrefix(member.domain(), 2));
  ASSERT_EQ(regions.size(), 3u) << "cross-region must place a replica in each "
                                   "of three regions";
  std::vector<ProcessInfo> gateways;
  size_t workers = 0;
  for (const ProcessInfo& p : fc.cluster.Processes()) {
    if (p.kind == "gateway") gateways.push_back(p);
    workers += p.kind == "worker";
  }
  ASSERT_EQ(gateways.size(), 2u);
  ASSERT_EQ(workers, 2u);
  // Client c submits and reads through gateway c % 2.
  auto next_client = std::make_shared<std::atomic<size_t>>(0);
  Workload workload(
      &fc.history,
      [&gateways, next_client, credentials = fc.cluster.credentials()] {
        return std::make_unique<GatewayPath>(
            gateways[(*next_client)++ % gateways.size()].grpc_address,
            credentials);
      },
      "xr", /*clients=*/4);
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 60, absl::Seconds(20)))
      << "the cross-region cluster accepted only " << workload.receipts();
  workload.Stop();
  std::set<std::string> clients;
  for (const auto& receipt : fc.history.receipts())
    clients.insert(receipt.client);
  EXPECT_EQ(clients.size(), 4u) << "a gateway's clients got no receipt";
  fc.ExpectHistoryHolds(workload, 60, /*expect_work_done=*/true);
  EXPECT_GE(fc.EffectRequestIds().size(), 60u);
}

// The product's premise, one level up: cross-region loses the leader's whole
// region (its replica and whatever gateway or worker runs there) under load,
// and keeps accepting through a gateway in another region.
TEST(FaultTest, WholeRegionKilledKeepsAcceptingWithTheRemainingRegions) {
  FaultCluster fc("cross-region", kWorkerArgs);
  ASSERT_UP(fc);
  const std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  const uint64_t epoch = EpochOf(fc, leader);
  const std::string region = DomainPrefix(fc.cluster.Process(leader).domain, 2);
  fc.LoseTheLeadersDomainUnderLoad(leader, epoch, region, "rk");
}

// And at the top: cross-provider (the default profile) loses the leader's
// whole provider under load. Ingress is AWS-only, so the one gateway must
// survive: leadership is first moved off AWS (kill -9 of the AWS replica,
// which then rejoins), so the provider lost is GCP or Azure and holds the
// leader. Losing GCP also loses the only allowed workers: accepted work waits,
// and completes once they are back.
TEST(FaultTest, WholeProviderKilledKeepsAcceptingWithTheRemainingProviders) {
  FaultCluster fc("cross-provider", kWorkerArgs);
  ASSERT_UP(fc);
  std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  uint64_t epoch = EpochOf(fc, leader);
  if (DomainPrefix(fc.cluster.Process(leader).domain, 1) == "aws") {
    fc.cluster.Kill(leader);
    auto moved = fc.WaitForNewLeader(leader, epoch, absl::Seconds(10));
    ASSERT_TRUE(moved.ok()) << moved.status();
    fc.cluster.Start(leader);
    ASSERT_TRUE(
        fc.WaitForFollower(leader, moved->epoch(), absl::Seconds(15)).ok());
    leader = moved->name();
    epoch = moved->epoch();
  }
  const std::string provider =
      DomainPrefix(fc.cluster.Process(leader).domain, 1);
  ASSERT_NE(provider, "aws");
  fc.LoseTheLeadersDomainUnderLoad(leader, epoch, provider, "pk");
}

// Two of three replicas killed: the minority acknowledges nothing; run on
// loopback and with every process on a host of its own.
void MajorityDownAnswersNoQuorumAndAcknowledgesNothing(
    const std::string& up_args) {
  FaultCluster fc("single-az", up_args);
  ASSERT_UP(fc);
  ClusterClientPath client(fc.cluster.config(), fc.IngressDomain(),
                           fc.cluster.client_credentials());
  for (int i = 0; i < 5; ++i) {
    auto receipt = client.Submit(MakeSubmission(absl::StrCat("before-", i), 0));
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    fc.history.AddReceipt(
        {"setup", receipt->request_id(), receipt->accepted_offset(),
         SubmissionFingerprint(MakeSubmission(receipt->request_id(), 0))});
  }
  // Kill the leader and one follower: one replica is left, a minority.
  std::string leader = fc.LeaderName();
  std::vector<std::string> down = {leader};
  for (const std::string& name : fc.ReplicaNames()) {
    if (name != leader && down.size() < 2) down.push_back(name);
  }
  for (const std::string& name : down) fc.cluster.Kill(name);

  constexpr int kClients = 3, kPerClient = 3;
  std::vector<std::thread> threads;
  std::atomic<int> receipts{0}, refused{0};
  std::mutex mu;
  std::vector<std::string> unexpected;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      ClusterClientPath path(fc.cluster.config(), fc.IngressDomain(),
                             fc.cluster.client_credentials());
      for (int i = 0; i < kPerClient; ++i) {
        ReportSubmission submission =
            MakeSubmission(absl::StrCat("minority-", c, "-", i), c);
        absl::Time start = absl::Now();
        auto receipt = path.Submit(submission);
        absl::Duration took = absl::Now() - start;
        if (receipt.ok()) {
          receipts++;
          continue;
        }
        ErrorCode code = ErrorCodeOf(receipt.status());
        fc.history.AddUnknownOutcome({"minority", submission.request_id(),
                                      SubmissionFingerprint(submission),
                                      std::string(ErrorCodeName(code))});
        std::lock_guard<std::mutex> lock(mu);
        if (code != ErrorCode::kNoQuorum && code != ErrorCode::kCommitUnknown) {
          unexpected.push_back(absl::StrCat(submission.request_id(), ": ",
                                            receipt.status().ToString()));
        } else if (took > kSubmitTimeout + absl::Seconds(2)) {
          unexpected.push_back(absl::StrCat(submission.request_id(), " took ",
                                            absl::FormatDuration(took)));
        } else {
          refused++;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(receipts.load(), 0) << "a minority acknowledged a submit";
  EXPECT_EQ(refused.load(), kClients * kPerClient);
  for (const std::string& line : unexpected) ADD_FAILURE() << line;

  std::map<std::string, int> codes;
  for (const auto& unknown : fc.history.unknown_outcomes())
    codes[unknown.error_code]++;
  for (const auto& [code, count] : codes)
    std::cout << "minority answered " << code << " x" << count << "\n";

  for (const std::string& name : down) fc.cluster.Start(name);
  ASSERT_TRUE(fc.cluster.WaitForLeader(absl::Seconds(15)).ok());
  // Back at a majority, each unanswered request is either absent or present
  // with exactly the payload that was sent.
  uint64_t commit = 0;
  for (const auto& [name, status] : fc.Statuses())
    commit = std::max(commit, status.commit_offset());
  for (const auto& unknown : fc.history.unknown_outcomes()) {
    auto read = fc.cluster.client().ReadStatus(unknown.request_id, commit,
                                               absl::Seconds(5));
    if (read.ok()) {
      EXPECT_EQ(read->record().fingerprint(), unknown.fingerprint)
          << unknown.request_id;
    } else {
      EXPECT_EQ(ErrorCodeOf(read.status()), ErrorCode::kNotFound)
          << read.status();
    }
  }
  // The cluster accepts again, and a retry of an unanswered request is safe: it
  // returns the request's one receipt, whether or not the minority had appended
  // it.
  Workload workload(&fc.history, fc.ClientPath(), "after", 2);
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  workload.Stop();
  for (const auto& unknown : fc.history.unknown_outcomes()) {
    int c = unknown.request_id[std::string("minority-").size()] - '0';
    auto receipt = client.Submit(MakeSubmission(unknown.request_id, c));
    ASSERT_TRUE(receipt.ok()) << unknown.request_id << ": " << receipt.status();
    fc.history.AddReceipt({"retry", unknown.request_id,
                           receipt->accepted_offset(), unknown.fingerprint,
                           receipt->duplicate()});
  }
  fc.ExpectHistoryHolds(workload, 20, /*expect_work_done=*/false);
}

TEST(FaultTest, MajorityDownAnswersNoQuorumAndAcknowledgesNothing) {
  MajorityDownAnswersNoQuorumAndAcknowledgesNothing("--workers 0");
}

TEST(FaultTest, OnHostsMajorityDownAnswersNoQuorumAndAcknowledgesNothing) {
  MajorityDownAnswersNoQuorumAndAcknowledgesNothing("--hosts --workers 0");
}

TEST(FaultTest, PartitionedLeaderCannotCommitAndRejoinsAsFollower) {
  FaultCluster fc("single-az", kWorkerArgs);
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "pl");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  std::string leader = fc.LeaderName();
  uint64_t epoch = EpochOf(fc, leader);
  std::string output;
  ASSERT_EQ(fc.cluster.Script("partition " + leader, &output), 0) << output;
  // The majority elects a leader in a higher epoch and keeps accepting.
  auto new_leader = fc.WaitForNewLeader(leader, epoch, absl::Seconds(10));
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  size_t before = workload.receipts();
  EXPECT_TRUE(workload.WaitForReceipts(before, 15, absl::Seconds(20)))
      << "the majority did not keep accepting while " << leader
      << " was cut off";
  ASSERT_EQ(fc.cluster.Script("heal", &output), 0) << output;
  // The old leader learns the new epoch, steps down and takes the new leader's
  // log.
  auto rejoined =
      fc.WaitForFollower(leader, new_leader->epoch(), absl::Seconds(15));
  EXPECT_TRUE(rejoined.ok()) << rejoined.status();
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 45, /*expect_work_done=*/true);
}

TEST(FaultTest, StoppedLeaderDoesNotActOnItsOldEpochAfterContinue) {
  FaultCluster fc("single-az", kWorkerArgs);
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "sl");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  std::string leader = fc.LeaderName();
  uint64_t epoch = EpochOf(fc, leader);
  fc.cluster.Kill(leader, "STOP");
  auto new_leader = fc.WaitForNewLeader(leader, epoch, absl::Seconds(10));
  if (!new_leader.ok()) fc.cluster.Kill(leader, "CONT");
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  size_t before = workload.receipts();
  bool progressed = workload.WaitForReceipts(before, 15, absl::Seconds(20));
  fc.cluster.Kill(leader, "CONT");
  EXPECT_TRUE(progressed) << "the majority did not keep accepting while "
                          << leader << " was stopped";
  auto rejoined =
      fc.WaitForFollower(leader, new_leader->epoch(), absl::Seconds(15));
  EXPECT_TRUE(rejoined.ok()) << rejoined.status();
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 45, /*expect_work_done=*/true);
}

TEST(FaultTest, RandomRestartsUnderLoadSoak) {
  int seconds = 30;
  if (const char* env = std::getenv("REPORT_SOAK_SECONDS"))
    seconds = std::max(5, std::atoi(env));
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::cout << "soak: " << seconds << " s, seed " << seed
            << " (rerun with --gtest_random_seed)\n";
  std::mt19937 rng(seed);
  FaultCluster fc("single-az", kWorkerArgs);
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "soak");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  std::vector<ProcessInfo> processes = fc.cluster.Processes();
  absl::Time end = absl::Now() + absl::Seconds(seconds);
  int restarts = 0;
  while (absl::Now() < end) {
    // One process at a time (replica, gateway or worker), so a majority always
    // stays up.
    const ProcessInfo& victim = processes[rng() % processes.size()];
    fc.cluster.Kill(victim.name, rng() % 4 == 0 ? "TERM" : "KILL");
    absl::SleepFor(absl::Milliseconds(100 + rng() % 900));
    fc.cluster.Start(victim.name);
    ++restarts;
    if (victim.kind == "replica") {
      ASSERT_TRUE(fc.cluster.WaitForLeader(absl::Seconds(15)).ok());
    }
    absl::SleepFor(absl::Milliseconds(200 + rng() % 800));
  }
  std::cout << "soak: " << restarts << " restarts\n";
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 100, /*expect_work_done=*/true);
}

// --- Hosts: every process in a network namespace of its own (cluster.sh up
// --hosts), reached at its own address; partitions drop packets by address.

// The addresses of the cluster file are the hosts' own, none on loopback.
void ExpectOnHosts(const LocalCluster& cluster) {
  for (const ProcessInfo& p : cluster.Processes()) {
    EXPECT_FALSE(absl::StartsWith(p.http_address, "127.")) << p.name;
    EXPECT_FALSE(absl::StartsWith(p.grpc_address, "127.")) << p.name;
  }
}

TEST(FaultTest, OnHostsLeaderKilledUnderLoadLosesNothing) {
  FaultCluster fc("multi-az", absl::StrCat("--hosts ", kWorkerArgs));
  ASSERT_UP(fc);
  ExpectOnHosts(fc.cluster);
  Workload workload(&fc.history, fc.ClientPath(), "hk");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  const std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  const uint64_t epoch = EpochOf(fc, leader);
  const absl::Time killed = absl::Now();
  fc.cluster.Kill(leader);
  ASSERT_TRUE(fc.WaitForNewLeader(leader, epoch, absl::Seconds(10)).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (workload.FirstReceiptAfterEpoch(epoch) == absl::InfinitePast() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time served = workload.FirstReceiptAfterEpoch(epoch);
  ASSERT_NE(served, absl::InfinitePast())
      << "no submit accepted in an epoch after " << epoch;
  std::cout << "killed leader " << leader << " on its host: first receipt of "
            << "a later epoch after " << absl::FormatDuration(served - killed)
            << "\n";
  fc.cluster.Start(leader);
  ASSERT_TRUE(fc.WaitForFollower(leader, epoch + 1, absl::Seconds(15)).ok());
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 20, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 40, /*expect_work_done=*/true);
}

// The leader's whole AZ (its replica, gateway and worker) is cut off from
// every other host and from the clients by packet drops, then healed.
TEST(FaultTest, OnHostsPartitionedDomainLosesNothing) {
  FaultCluster fc("multi-az", absl::StrCat("--hosts ", kWorkerArgs));
  ASSERT_UP(fc);
  const std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  const uint64_t epoch = EpochOf(fc, leader);
  const std::string domain = fc.cluster.Process(leader).domain;
  std::vector<std::string> cut;
  for (const ProcessInfo& p : fc.cluster.Processes()) {
    if (p.domain == domain) cut.push_back(p.name);
  }
  const ProcessInfo gateway = fc.GatewayOutside(domain);
  ASSERT_FALSE(gateway.name.empty()) << "no gateway outside " << domain;
  Workload workload(
      &fc.history,
      [&] {
        return std::make_unique<GatewayPath>(gateway.grpc_address,
                                             fc.cluster.credentials());
      },
      "hp");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  std::string output;
  ASSERT_EQ(fc.cluster.Script("partition " + absl::StrJoin(cut, " "), &output),
            0)
      << output;
  auto new_leader = fc.WaitForNewLeader(leader, epoch, absl::Seconds(10));
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  EXPECT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 15, absl::Seconds(20)))
      << "the other AZs did not keep accepting while " << domain
      << " was cut off";
  ASSERT_EQ(fc.cluster.Script("heal", &output), 0) << output;
  auto rejoined =
      fc.WaitForFollower(leader, new_leader->epoch(), absl::Seconds(15));
  EXPECT_TRUE(rejoined.ok()) << rejoined.status();
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 45, /*expect_work_done=*/true);
}

// A one-way cut between two replica hosts (A's packets to B dropped, B's to A
// delivered) leaves a majority that still commits; after heal both converge.
TEST(FaultTest, OnHostsOneWayCutBetweenReplicasLosesNothing) {
  FaultCluster fc("single-az", absl::StrCat("--hosts ", kWorkerArgs));
  ASSERT_UP(fc);
  Workload workload(&fc.history, fc.ClientPath(), "h1");
  workload.Start();
  ASSERT_TRUE(workload.WaitForReceipts(0, 20, absl::Seconds(15)));
  const std::string leader = fc.LeaderName();
  std::string follower;
  for (const std::string& name : fc.ReplicaNames()) {
    if (name != leader) follower = name;
  }
  std::string output;
  ASSERT_EQ(fc.cluster.Script(
                "partition " + leader + " " + follower + " --oneway", &output),
            0)
      << output;
  EXPECT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 20, absl::Seconds(20)))
      << "no progress with " << leader << " -> " << follower << " cut";
  ASSERT_EQ(fc.cluster.Script("heal", &output), 0) << output;
  ASSERT_TRUE(
      workload.WaitForReceipts(workload.receipts(), 10, absl::Seconds(15)));
  workload.Stop();
  fc.ExpectHistoryHolds(workload, 40, /*expect_work_done=*/true);
}

// Cross-region over emulated WAN round trips (cluster.sh up --hosts --wan: 65,
// 70 and 125 ms between the three regions, timing derived from them): the
// leader's whole region is lost under load through a gateway in another
// region, and nothing acknowledged is lost.
TEST(FaultTest, OnHostsOverWanCrossRegionLosesTheLeadersRegionLosesNothing) {
  FaultCluster fc("cross-region", absl::StrCat("--hosts --wan ", kWorkerArgs));
  ASSERT_UP(fc);
  ExpectOnHosts(fc.cluster);
  const std::string leader = fc.LeaderName();
  ASSERT_FALSE(leader.empty());
  const uint64_t epoch = EpochOf(fc, leader);
  const std::string region = DomainPrefix(fc.cluster.Process(leader).domain, 2);
  fc.LoseTheLeadersDomainUnderLoad(leader, epoch, region, "wr");
}

}  // namespace
}  // namespace report::testing
