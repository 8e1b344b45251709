#include "worker/worker.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "common/error_code.h"
#include "common/scoped_temp_dir.h"
#include "worker/fake_effect_ledger.h"

namespace report {
namespace {

using std::chrono::milliseconds;
using Records = std::map<std::string, RequestRecord>;

constexpr milliseconds kDeadline(15000);
constexpr char kDomain[] = "gcp/us-central1/us-central1-a";

std::string MakeTempDir() {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("worker_test");
  return base.MakeSubdir("worker");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int CountReportFiles(const std::string& dir) {
  int count = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* entry = readdir(d)) {
    if (absl::EndsWith(entry->d_name, ".json")) ++count;
  }
  closedir(d);
  return count;
}

// Waits for a condition that the fake ledger does not signal (worker-side
// counters).
template <typename Condition>
bool Eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

std::function<bool(const Records&)> AllIn(std::vector<std::string> ids,
                                          RequestState state) {
  return [ids = std::move(ids), state](const Records& records) {
    for (const std::string& id : ids) {
      auto it = records.find(id);
      if (it == records.end() || it->second.state() != state) return false;
    }
    return true;
  };
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    auto sink = DirectoryReportSink::Open(dir_);
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = std::move(*sink);
  }

  WorkerOptions Options(const std::string& id) const {
    WorkerOptions options;
    options.worker_id = id;
    options.worker_domain = kDomain;
    options.lease = milliseconds(300);
    options.max_attempts = 3;
    options.concurrency = 2;
    options.retry_backoff = milliseconds(10);
    options.retry_backoff_max = milliseconds(50);
    options.reconnect_backoff = milliseconds(10);
    options.reconnect_backoff_max = milliseconds(50);
    return options;
  }

  std::string dir_;
  FakeEffectLedger ledger_{"gcp/"};
  std::unique_ptr<DirectoryReportSink> sink_;
};

TEST_F(WorkerTest, CompletesAnAcceptedRequestExactlyOnce) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  Worker worker(Options("worker-a"), &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  worker.Stop();

  RequestRecord record = *ledger_.Record("req-1");
  const std::string key = "file-sink:req-1";
  EXPECT_EQ(record.result().report_location(), sink_->Location(key));
  EXPECT_EQ(record.result().worker_id(), worker.holder_id());
  EXPECT_TRUE(absl::StartsWith(worker.holder_id(), "worker-a#"))
      << worker.holder_id();
  EXPECT_EQ(record.attempts(), 1u);
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 1);
  EXPECT_EQ(sink_->files_written(), 1u);
  std::string report = ReadFile(sink_->PathOf(key));
  EXPECT_TRUE(absl::StrContains(report, "\"account_id\": \"acct-1\""))
      << report;
  EXPECT_TRUE(absl::StrContains(
      report, "\"worker_id\": \"" + worker.holder_id() + "\""))
      << report;
  EXPECT_EQ(worker.stats().completed, 1u);
}

TEST_F(WorkerTest, ExtendsTheLeaseWhileLongWorkRuns) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.work_time = milliseconds(700);  // > 2 leases: only extensions keep it
  Worker worker(options, &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  worker.Stop();
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 1);
  EXPECT_EQ(ledger_.Record("req-1")->attempts(), 1u);
  EXPECT_EQ(worker.stats().abandoned, 0u);
}

TEST_F(WorkerTest, RequestAlreadyInTheSinkIsCompletedWithoutRewriting) {
  const std::string key = sink_->EffectKey("req-1");
  ASSERT_TRUE(sink_->WriteOnce(key, "written by an earlier holder\n").ok());
  auto sink = DirectoryReportSink::Open(dir_);
  ASSERT_TRUE(sink.ok());
  ledger_.Submit("req-1", "acct-1", "2024-03");
  Worker worker(Options("worker-a"), &ledger_, sink->get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  worker.Stop();
  EXPECT_EQ((*sink)->files_written(), 0u);
  // The earlier holder may have died before its directory fsync: the file's
  // name is made durable before it is recorded.
  EXPECT_GE((*sink)->directory_syncs(), 1u);
  EXPECT_EQ(ReadFile(sink_->PathOf(key)), "written by an earlier holder\n");
  EXPECT_EQ(ledger_.Record("req-1")->result().report_location(),
            sink_->Location(key));
  EXPECT_EQ(worker.stats().completed_existing, 1u);
}

TEST_F(WorkerTest, AlwaysFailingRequestEndsFailedAfterMaxAttempts) {
  ledger_.Submit("bad-1", "acct-1", "2024-03");
  ledger_.Submit("good-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.fail_request_prefix = "bad-";
  Worker worker(options, &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(
      [](const Records& r) {
        return AllIn({"bad-1"}, FAILED)(r) && AllIn({"good-1"}, COMPLETED)(r);
      },
      kDeadline));
  worker.Stop();
  RequestRecord bad = *ledger_.Record("bad-1");
  EXPECT_EQ(bad.attempts(), 3u);
  EXPECT_TRUE(absl::StrContains(bad.failure(), "injected failure"))
      << bad.failure();
  EXPECT_FALSE(*sink_->Exists(sink_->EffectKey("bad-1")));
  EXPECT_EQ(worker.stats().work_failures, 3u);
}

TEST_F(WorkerTest, TransientFailuresAreRetriedUntilDone) {
  std::vector<std::string> ids = {"req-1", "req-2", "req-3", "req-4"};
  for (const std::string& id : ids) ledger_.Submit(id, "acct-" + id, "2024-03");
  WorkerOptions options = Options("worker-a");
  options.fail_every = 2;
  // The attempt counter is shared by both work threads, so one request can
  // draw every failing attempt. Attempts alternate ok / failing: the fourth
  // success is attempt 7 at the latest, so no request fails more than 3 times
  // (2, 4, 6) and a 4th attempt is always allowed.
  options.max_attempts = 4;
  Worker worker(options, &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn(ids, COMPLETED), kDeadline));
  worker.Stop();
  EXPECT_EQ(worker.stats().work_failures, 3u);  // attempts 2, 4 and 6
  for (const std::string& id : ids)
    EXPECT_EQ(ledger_.CompletesApplied(id), 1) << id;
  EXPECT_EQ(CountReportFiles(dir_), 4);
}

TEST_F(WorkerTest, LosingTheLeaseAbandonsTheWork) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.work_time =
      milliseconds(60000);  // would outlast the test: only abandoning ends it
  Worker worker(options, &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, RUNNING), kDeadline));
  ASSERT_TRUE(ledger_.StealLease("req-1", "thief", 60000));
  ASSERT_TRUE(Eventually([&] { return worker.stats().abandoned == 1; }));
  worker.Stop();
  EXPECT_FALSE(*sink_->Exists(sink_->EffectKey("req-1")));
  EXPECT_EQ(sink_->files_written(), 0u);
  RequestRecord record = *ledger_.Record("req-1");
  EXPECT_EQ(record.state(), RUNNING);
  EXPECT_EQ(record.lease_holder(), "thief");
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 0);
}

TEST_F(WorkerTest, TakesOverAfterADeadHoldersLeaseExpiresWithoutASecondEffect) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  // A worker reserved the request, wrote its report and died before completing.
  ReserveEffectRequest reserve;
  reserve.set_request_id("req-1");
  reserve.set_effect_key("file-sink:req-1");
  reserve.set_worker_id("dead-worker");
  reserve.set_worker_domain(kDomain);
  reserve.set_lease_ms(400);
  reserve.set_max_attempts(3);
  ASSERT_EQ(ledger_.Reserve(reserve)->code(), RESULT_OK);
  ASSERT_TRUE(sink_->WriteOnce("file-sink:req-1", "dead worker's copy\n").ok());

  auto sink = DirectoryReportSink::Open(dir_);
  ASSERT_TRUE(sink.ok());
  Worker worker(Options("worker-a"), &ledger_, sink->get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  worker.Stop();
  RequestRecord record = *ledger_.Record("req-1");
  EXPECT_EQ(record.result().worker_id(), worker.holder_id());
  EXPECT_EQ(record.attempts(), 2u);
  EXPECT_EQ((*sink)->files_written(), 0u);
  EXPECT_EQ(ReadFile(sink_->PathOf("file-sink:req-1")), "dead worker's copy\n");
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 1);
}

// A worker that dies holding a lease and is started again under the same id is
// a new holder (a new incarnation): it waits for the lease to expire and spends
// an attempt, rather than renewing the dead process's lease for free.
TEST_F(WorkerTest, ARestartedWorkerWaitsForItsOldLeaseAndSpendsAnAttempt) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.lease = milliseconds(1000);
  options.work_time = milliseconds(60000);
  {
    Worker crashed(options, &ledger_, sink_.get());
    crashed.Start();
    ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, RUNNING), kDeadline));
    crashed.Stop();  // work cancelled, lease left to expire: as a crash
  }
  const RequestRecord held = *ledger_.Record("req-1");
  ASSERT_EQ(held.attempts(), 1u);
  options.work_time = milliseconds(0);
  Worker restarted(options, &ledger_, sink_.get());
  restarted.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  restarted.Stop();
  const RequestRecord done = *ledger_.Record("req-1");
  EXPECT_EQ(done.attempts(), 2u);
  EXPECT_GT(done.fencing_token(), held.fencing_token());
  EXPECT_GE(done.updated_at_ms(), held.lease_expiry_ms())
      << "the restarted worker took the lease before it expired";
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 1);
}

// A request that kills its worker every time ends FAILED after max_attempts
// lives of the worker, instead of being renewed for free forever.
TEST_F(WorkerTest, ACrashLoopEndsTheRequestFailedAtMaxAttempts) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.work_time = milliseconds(60000);
  for (uint32_t life = 1; life <= options.max_attempts; ++life) {
    Worker worker(options, &ledger_, sink_.get());
    worker.Start();
    ASSERT_TRUE(ledger_.WaitFor(
        [&](const Records& records) {
          auto it = records.find("req-1");
          return it != records.end() && it->second.state() == RUNNING &&
                 it->second.attempts() == life;
        },
        kDeadline))
        << "life " << life << ": " << ledger_.Record("req-1")->DebugString();
    worker.Stop();
  }
  Worker last(options, &ledger_, sink_.get());
  last.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, FAILED), kDeadline));
  last.Stop();
  EXPECT_EQ(ledger_.Record("req-1")->attempts(), options.max_attempts);
  EXPECT_FALSE(*sink_->Exists(sink_->EffectKey("req-1")));
}

TEST_F(WorkerTest, TwoWorkersProduceOneEffectPerRequest) {
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) {
    ids.push_back("req-" + std::to_string(i));
    ledger_.Submit(ids.back(), "acct-" + std::to_string(i % 5),
                   "2024-0" + std::to_string(1 + i % 9));
  }
  auto sink_b = DirectoryReportSink::Open(dir_);
  ASSERT_TRUE(sink_b.ok());
  WorkerOptions a = Options("worker-a");
  WorkerOptions b = Options("worker-b");
  a.work_time = b.work_time = milliseconds(20);
  Worker worker_a(a, &ledger_, sink_.get());
  Worker worker_b(b, &ledger_, sink_b->get());
  worker_a.Start();
  worker_b.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn(ids, COMPLETED), kDeadline));
  worker_a.Stop();
  worker_b.Stop();
  for (const std::string& id : ids)
    EXPECT_EQ(ledger_.CompletesApplied(id), 1) << id;
  EXPECT_EQ(sink_->files_written() + (*sink_b)->files_written(), ids.size());
  EXPECT_EQ(CountReportFiles(dir_), static_cast<int>(ids.size()));
  EXPECT_EQ(worker_a.stats().completed + worker_b.stats().completed,
            ids.size());
}

TEST_F(WorkerTest, ReconnectsAfterTheWatchBreaks) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  Worker worker(Options("worker-a"), &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, COMPLETED), kDeadline));
  ledger_.BreakWatches();
  ASSERT_TRUE(Eventually([&] { return worker.stats().watch_reconnects >= 1; }));
  ledger_.Submit("req-2", "acct-2", "2024-03");
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-2"}, COMPLETED), kDeadline));
  worker.Stop();
  EXPECT_EQ(ledger_.CompletesApplied("req-1"), 1);
  EXPECT_EQ(ledger_.CompletesApplied("req-2"), 1);
}

TEST_F(WorkerTest, RefusedDomainStopsTheWorkerWithDomainUnavailable) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.worker_domain = "aws/us-east-1/use1-az1";
  Worker worker(options, &ledger_, sink_.get());
  absl::Status status = worker.Run();
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kDomainUnavailable) << status;
  EXPECT_EQ(ledger_.Record("req-1")->state(), ACCEPTED);
}

TEST_F(WorkerTest, StopCancelsRunningWork) {
  ledger_.Submit("req-1", "acct-1", "2024-03");
  WorkerOptions options = Options("worker-a");
  options.work_time = milliseconds(60000);
  Worker worker(options, &ledger_, sink_.get());
  worker.Start();
  ASSERT_TRUE(ledger_.WaitFor(AllIn({"req-1"}, RUNNING), kDeadline));
  const auto start = std::chrono::steady_clock::now();
  worker.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(sink_->files_written(), 0u);
}

}  // namespace
}  // namespace report
