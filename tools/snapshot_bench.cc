// snapshot-bench: what snapshots buy at start-up, measured on this machine's
// disk with the replica's own storage code (docs/PERFORMANCE.md, "Long life").
//
// Fills a fresh replica store with N submit entries (log + applied state, as
// a replica that served N requests), then measures:
//   - recovery (ReplicaStore::Open + ReportStateMachine load) with the whole
//     log, as a replica without snapshots starts;
//   - snapshot creation (SnapshotFiles::Create) and its size;
//   - compaction behind it (--retain entries kept);
//   - recovery after compaction (snapshot metadata + log tail);
//   - installing the snapshot into another fresh store (staging + install).
//
//   snapshot-bench --entries 200000 --retain 10000 [--dir /tmp/x]
#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/scoped_temp_dir.h"
#include "leveldb/write_batch.h"
#include "proto/report.pb.h"
#include "replica/state_machine/report_state_machine.h"
#include "replica/storage/keys.h"
#include "replica/storage/log_writer.h"
#include "replica/storage/replica_store.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

std::unique_ptr<report::storage::ReplicaStore> Open(const std::string& dir) {
  auto store = report::storage::ReplicaStore::Open(dir, "bench", 1);
  if (!store.ok()) {
    std::cerr << "snapshot-bench: " << store.status() << "\n";
    std::exit(1);
  }
  return std::move(*store);
}

// Opens the store and loads the state machine: what a replica does before it
// can serve.
// Prints the time to open the store (LevelDB + log recovery) and to load the
// state machine (its applied index and the counts by state: one pass over the
// request table).
double TimeRecovery(const std::string& dir, const char* what) {
  const auto t0 = Clock::now();
  auto store = Open(dir);
  const auto t1 = Clock::now();
  report::ReportStateMachine sm(store->db());
  const auto t2 = Clock::now();
  std::cout << "recovery, " << what << ": " << Ms(t0, t2)
            << " ms (open + log recovery " << Ms(t0, t1)
            << " ms, state machine load " << Ms(t1, t2) << " ms; log "
            << store->log().FirstIndex() << ".." << store->log().LastIndex()
            << ")\n";
  return Ms(t0, t2);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 200000;
  uint64_t retain = 10000;
  std::string dir;
  po::options_description desc("snapshot-bench options");
  desc.add_options()("help", "print this help")(
      "entries", po::value<uint64_t>(&entries)->default_value(200000),
      "submit entries to fill the store with")(
      "retain", po::value<uint64_t>(&retain)->default_value(10000),
      "entries kept behind the snapshot")(
      "dir", po::value<std::string>(&dir),
      "work directory (default: a temporary one, removed at exit)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "snapshot-bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (entries == 0) {
    std::cerr << "snapshot-bench: --entries must be positive\n";
    return 2;
  }
  std::unique_ptr<report::ScopedTempDir> temp;
  if (dir.empty()) {
    temp = std::make_unique<report::ScopedTempDir>("snapshot_bench");
    dir = temp->path();
  }
  std::filesystem::create_directories(dir);
  const std::string a = dir + "/a", b = dir + "/b";
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);

  // Fill: the log and the applied state of `entries` submits.
  const auto fill0 = Clock::now();
  {
    auto store = Open(a);
    report::ReportStateMachine sm(store->db());
    const uint64_t kBatch = 1000;
    for (uint64_t first = 1; first <= entries; first += kBatch) {
      std::vector<report::consensus::Entry> batch;
      leveldb::WriteBatch log;
      for (uint64_t i = first; i < first + kBatch && i <= entries; ++i) {
        report::Command command;
        command.set_timestamp_ms(1700000000000 + i);
        auto* submit = command.mutable_submit();
        submit->mutable_submission()->set_request_id("req-" +
                                                     std::to_string(i));
        submit->mutable_submission()->set_account_id("acct-" +
                                                     std::to_string(i % 97));
        submit->mutable_submission()->set_month("2026-04");
        submit->set_fingerprint(std::string(32, 'f'));
        submit->set_ingress_domain("aws/us-east-1/use1-az1");
        auto& e = batch.emplace_back();
        e.set_index(i);
        e.set_epoch(1);
        e.set_data(command.SerializeAsString());
        log.Put(report::storage::LogKey(i), e.SerializeAsString());
      }
      if (!store->db()->Write(leveldb::WriteOptions(), &log).ok()) return 1;
      store->log().MarkDurable(report::storage::LogSpan::Of(batch));
      sm.Apply(batch);
    }
  }
  const auto fill1 = Clock::now();
  std::cout << "filled " << entries << " entries in " << Ms(fill0, fill1)
            << " ms; data dir " << DirBytes(a) / (1 << 20) << " MiB\n";

  TimeRecovery(a, "whole log");

  report::consensus::SnapshotMeta meta;
  {
    auto store = Open(a);
    const auto t0 = Clock::now();
    auto created = store->snapshots().Create(
        store->db(), [&](uint64_t i) { return store->log().EpochAt(i); });
    const auto t1 = Clock::now();
    if (!created.ok()) {
      std::cerr << "snapshot-bench: " << created.status() << "\n";
      return 1;
    }
    meta = *created;
    store->log().SetSnapshot(meta);
    const uint64_t to = meta.index() > retain ? meta.index() - retain : 0;
    store->log().CompactThrough(to);
    store->log().DeleteCompacted();
    const auto t2 = Clock::now();
    std::cout << "snapshot create:            " << Ms(t0, t1) << " ms, "
              << meta.size() / 1024 << " KiB at index " << meta.index() << "\n";
    std::cout << "compaction to " << to << ":       " << Ms(t1, t2) << " ms\n";
  }
  // The first open after compaction also replays LevelDB's write-ahead log
  // of the deletions; the second is a restart in steady state.
  TimeRecovery(a, "snapshot + tail, first open after compaction");
  TimeRecovery(a, "snapshot + tail");
  std::cout << "data dir after compaction " << DirBytes(a) / (1 << 20)
            << " MiB (snapshot files included)\n";

  {
    auto from = Open(a);
    auto to = Open(b);
    const auto t0 = Clock::now();
    if (!to->snapshots().BeginStaging(meta).ok()) return 1;
    for (uint64_t off = 0; off < meta.size(); off += 1 << 20) {
      std::string chunk;
      if (!from->snapshots().Read(meta, off, 1 << 20, &chunk)) return 1;
      if (!to->snapshots().AppendStaged(chunk).ok()) return 1;
    }
    const auto t1 = Clock::now();
    auto installed = to->snapshots().InstallStaged(to->db(), meta);
    const auto t2 = Clock::now();
    if (!installed.ok()) {
      std::cerr << "snapshot-bench: " << installed << "\n";
      return 1;
    }
    report::ReportStateMachine sm(to->db());
    std::cout << "install: staging " << Ms(t0, t1) << " ms (1 MiB chunks, "
              << "fdatasync each), install " << Ms(t1, t2) << " ms; digest "
              << (sm.digest() == meta.digest() ? "equal" : "DIFFERENT") << "\n";
    if (sm.digest() != meta.digest()) return 1;
  }
  return 0;
}
