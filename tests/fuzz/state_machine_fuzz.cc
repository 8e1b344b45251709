// Fuzzes the report state machine's apply of arbitrary commands: the input is
// decoded as a consensus Message whose entries are the committed log (each
// entry's data a Command, or anything), renumbered into the order the
// consensus core guarantees (consecutive indices from 1, epochs never going
// down, known entry types), and applied to a fresh LevelDB in memory in two
// Apply calls split where the message's `index` says.
//
// Beyond "never crash": one result per entry; replaying the log changes
// nothing; a state machine reopened on the same database has the same applied
// index and digest; the same log applied in one call to another database gives
// the same digest (determinism); reads agree with each other.
#include <glog/logging.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/helpers/memenv.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proto/consensus.pb.h"
#include "proto/report.pb.h"
#include "replica/state_machine/report_state_machine.h"

namespace report {
namespace {

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "state machine broke a promise: %s\n", what);
  std::abort();
}

// A LevelDB that lives in memory and goes away with this object.
class MemoryDb {
 public:
  MemoryDb() : env_(leveldb::NewMemEnv(leveldb::Env::Default())) {
    leveldb::Options options;
    options.create_if_missing = true;
    options.env = env_.get();
    leveldb::DB* db = nullptr;
    if (!leveldb::DB::Open(options, "/fuzz-db", &db).ok()) {
      Violation("cannot open an in-memory LevelDB");
    }
    db_.reset(db);
  }
  ~MemoryDb() { db_.reset(); }  // before the env it lives in
  leveldb::DB* get() { return db_.get(); }

 private:
  std::unique_ptr<leveldb::Env> env_;
  std::unique_ptr<leveldb::DB> db_;
};

std::vector<consensus::Entry> CommittedLog(consensus::Message* message) {
  std::vector<consensus::Entry> log;
  uint64_t epoch = 1;
  for (consensus::Entry& e : *message->mutable_entries()) {
    if (e.epoch() > epoch) {
      epoch = e.epoch();
    }
    e.set_index(log.size() + 1);
    e.set_epoch(epoch);
    if (e.type() != consensus::ENTRY_NORMAL &&
        e.type() != consensus::ENTRY_BARRIER) {
      e.set_type(consensus::ENTRY_NORMAL);
    }
    log.push_back(std::move(e));
  }
  return log;
}

void CheckReads(const ReportStateMachine& sm,
                const std::vector<AppliedCommand>& applied) {
  uint64_t previous_offset = 0;
  uint64_t first_offset = 0;
  sm.ForEachUnfinished([&](const RequestRecord& record) {
    if (record.state() != ACCEPTED && record.state() != RUNNING) {
      Violation("a finished request listed as unfinished");
    }
    if (record.accepted_offset() < previous_offset) {
      Violation("unfinished requests out of accepted-offset order");
    }
    if (first_offset == 0) first_offset = record.accepted_offset();
    previous_offset = record.accepted_offset();
    return true;
  });
  const uint64_t lowest = sm.LowestUnfinishedOffset();
  if (first_offset != 0 ? lowest != first_offset
                        : lowest != sm.applied_index() + 1) {
    Violation("LowestUnfinishedOffset disagrees with ForEachUnfinished");
  }
  std::set<std::string> ids;
  for (const AppliedCommand& a : applied) {
    const Command& c = a.command;
    if (c.has_submit()) ids.insert(c.submit().submission().request_id());
    if (c.has_reserve_effect()) ids.insert(c.reserve_effect().request_id());
    if (c.has_complete()) ids.insert(c.complete().request_id());
    if (c.has_fail()) ids.insert(c.fail().request_id());
    if (c.has_extend_lease()) ids.insert(c.extend_lease().request_id());
    if (c.has_cancel()) ids.insert(c.cancel().request_id());
  }
  // The account index: each account's requests newest first, each one really
  // that account's, and every known request listed under its account.
  std::set<std::string> accounts;
  for (const std::string& id : ids) {
    absl::StatusOr<RequestRecord> record = sm.GetRequest(id);
    if (record.ok()) accounts.insert(record->account_id());
  }
  size_t listed = 0;
  for (const std::string& account : accounts) {
    uint64_t previous = 0;
    for (const RequestRecord& r :
         sm.ListAccount(account, REQUEST_STATE_UNSPECIFIED, 0, 100000, 100000)
             .records) {
      if (r.account_id() != account) Violation("another account's request");
      if (previous != 0 && r.accepted_offset() >= previous) {
        Violation("an account's requests not newest first");
      }
      previous = r.accepted_offset();
      listed += ids.count(r.request_id());
    }
  }
  size_t known = 0;
  for (const std::string& id : ids) known += sm.GetRequest(id).ok();
  if (listed != known) Violation("a request missing from its account's list");
  for (const std::string& id : ids) {
    absl::StatusOr<RequestRecord> record = sm.GetRequest(id);
    if (record.ok() && record->request_id() != id) {
      Violation("GetRequest answered another request");
    }
    if (record.ok() && record->accepted_offset() > sm.applied_index()) {
      Violation("a request accepted past the applied index");
    }
    if (record.ok() && !record->result().effect_key().empty()) {
      (void)sm.GetEffect(record->result().effect_key());
    }
  }
}

}  // namespace
}  // namespace report

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FLAGS_minloglevel = 2;  // the state machine's warnings are expected here
  FLAGS_logtostderr = true;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace report;
  consensus::Message message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  const std::vector<consensus::Entry> log = CommittedLog(&message);
  const size_t split = log.empty() ? 0 : message.index() % (log.size() + 1);

  MemoryDb db;
  std::vector<AppliedCommand> applied;
  {
    ReportStateMachine sm(db.get());
    const std::vector<consensus::Entry> first(log.begin(), log.begin() + split);
    const std::vector<consensus::Entry> rest(log.begin() + split, log.end());
    for (AppliedCommand& a : sm.Apply(first)) applied.push_back(std::move(a));
    for (AppliedCommand& a : sm.Apply(rest)) applied.push_back(std::move(a));
    if (applied.size() != log.size()) Violation("not one result per entry");
    for (size_t i = 0; i < applied.size(); ++i) {
      if (applied[i].index != log[i].index()) {
        Violation("results out of log order");
      }
    }
    if (sm.applied_index() != log.size()) Violation("applied index is off");
    CheckReads(sm, applied);

    const std::string digest = sm.digest();
    if (!sm.Apply(log).empty() || sm.digest() != digest) {
      Violation("replaying applied entries changed something");
    }
  }
  ReportStateMachine reopened(db.get());
  if (reopened.applied_index() != log.size()) {
    Violation("reopened state machine lost its applied index");
  }

  MemoryDb other;
  ReportStateMachine at_once(other.get());
  at_once.Apply(log);
  if (at_once.applied_and_digest() != reopened.applied_and_digest()) {
    Violation("the same log gave another digest");
  }
  return 0;
}
