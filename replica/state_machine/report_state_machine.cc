#include "replica/state_machine/report_state_machine.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_code.h"
#include "common/hex.h"
#include "common/sha256.h"
#include "glog/logging.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "leveldb/write_batch.h"
#include "replica/storage/keys.h"

namespace report {
namespace {

using storage::kAccountPrefix;
using storage::kAppliedKey;
using storage::kEffectPrefix;
using storage::kRequestPrefix;
using storage::kUnfinishedPrefix;

constexpr size_t kDigestSize = kSha256Bytes;

leveldb::Slice AsSlice(absl::string_view s) {
  return leveldb::Slice(s.data(), s.size());
}
absl::string_view AsView(const leveldb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

std::string RequestKey(absl::string_view request_id) {
  return absl::StrCat(kRequestPrefix, request_id);
}
std::string EffectKeyOf(absl::string_view effect_key) {
  return absl::StrCat(kEffectPrefix, effect_key);
}
std::string UnfinishedKey(uint64_t accepted_offset) {
  return storage::NumberedKey(kUnfinishedPrefix, accepted_offset);
}
// Newest first: the offset is stored inverted, so ascending keys run from the
// highest accepted offset down. Ids hold no '/', so one account's keys never
// interleave with another's.
std::string AccountPrefixOf(absl::string_view account_id) {
  return absl::StrCat(kAccountPrefix, account_id, "/");
}
std::string AccountKey(absl::string_view account_id, uint64_t accepted_offset) {
  return storage::NumberedKey(
      AccountPrefixOf(account_id),
      std::numeric_limits<uint64_t>::max() - accepted_offset);
}

// Lease expiries never wrap around, whatever lease a command asks for.
uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

bool IsTerminal(const RequestRecord& record) {
  return record.state() == COMPLETED || record.state() == FAILED ||
         record.state() == CANCELLED;
}

void ClearLease(RequestRecord& record) {
  record.clear_lease_holder();
  record.clear_lease_holder_domain();
  record.clear_lease_expiry_ms();
}

// The byte string every replica hashes for a result: deterministic protobuf
// encoding.
std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    CHECK(message.SerializeToCodedStream(&coded));
  }
  return bytes;
}

// digest_n = SHA-256(digest_{n-1} || be64(index) || be64(epoch) || result
// bytes).
std::string ChainDigest(const std::string& previous, uint64_t index,
                        uint64_t epoch, const CommandResult& result) {
  std::string input = previous;
  storage::AppendBigEndian64(&input, index);
  storage::AppendBigEndian64(&input, epoch);
  input += DeterministicBytes(result);
  return Sha256(input);
}

CommandResult ResultOf(ResultCode code) {
  CommandResult result;
  result.set_code(code);
  return result;
}

CommandResult ResultOf(ResultCode code, const RequestRecord& record) {
  CommandResult result = ResultOf(code);
  *result.mutable_record() = record;
  return result;
}

}  // namespace

// The changes of one Apply call: a WriteBatch plus an overlay, so that a
// command sees the writes of the commands before it in the same batch.
class ReportStateMachine::Batch {
 public:
  explicit Batch(leveldb::DB* db) : db_(db) {}

  std::optional<std::string> Get(const std::string& key) const {
    if (auto it = overlay_.find(key); it != overlay_.end()) return it->second;
    std::string value;
    const leveldb::Status status =
        db_->Get(leveldb::ReadOptions(), key, &value);
    if (status.IsNotFound()) return std::nullopt;
    // Carrying on without the value would make this replica diverge from the
    // others.
    CHECK(status.ok()) << "state machine read of " << key
                       << " failed: " << status.ToString();
    return value;
  }
  void Put(const std::string& key, std::string value) {
    write_.Put(key, value);
    overlay_[key] = std::move(value);
  }
  void Delete(const std::string& key) {
    write_.Delete(key);
    overlay_[key] = std::nullopt;
  }

  std::optional<RequestRecord> LoadRequest(
      const std::string& request_id) const {
    return Load<RequestRecord>(RequestKey(request_id), "request", request_id);
  }
  void StoreRequest(const RequestRecord& record) {
    if (std::optional<RequestRecord> before =
            LoadRequest(record.request_id())) {
      --state_changes_[before->state()];
    }
    ++state_changes_[record.state()];
    Put(RequestKey(record.request_id()), record.SerializeAsString());
  }
  // Per RequestState: requests gained (or lost, when negative).
  const std::array<int64_t, RequestState_ARRAYSIZE>& state_changes() const {
    return state_changes_;
  }
  std::optional<EffectRecord> LoadEffect(const std::string& effect_key) const {
    if (effect_key.empty()) return std::nullopt;
    return Load<EffectRecord>(EffectKeyOf(effect_key), "effect", effect_key);
  }
  void StoreEffect(const EffectRecord& effect) {
    Put(EffectKeyOf(effect.effect_key()), effect.SerializeAsString());
  }

  leveldb::WriteBatch* write() { return &write_; }

 private:
  // A record as this batch sees it; corruption inside the state machine is
  // fatal.
  template <typename Record>
  std::optional<Record> Load(const std::string& key, const char* what,
                             const std::string& name) const {
    std::optional<std::string> value = Get(key);
    if (!value.has_value()) return std::nullopt;
    Record record;
    CHECK(record.ParseFromString(*value))
        << what << " record " << name << " is corrupt";
    return record;
  }

  leveldb::DB* const db_;
  leveldb::WriteBatch write_;
  std::map<std::string, std::optional<std::string>> overlay_;
  std::array<int64_t, RequestState_ARRAYSIZE> state_changes_{};
};

ReportStateMachine::ReportStateMachine(leveldb::DB* db)
    : db_(db), digest_(kDigestSize, '\0') {
  Reload();
}

void ReportStateMachine::Reload() {
  {
    // The counts by state are not stored: one pass over the requests at start.
    std::array<int64_t, RequestState_ARRAYSIZE> counts{};
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(AsSlice(kRequestPrefix));
         it->Valid() && absl::StartsWith(AsView(it->key()), kRequestPrefix);
         it->Next()) {
      RequestRecord record;
      CHECK(record.ParseFromArray(it->value().data(),
                                  static_cast<int>(it->value().size())))
          << "request record " << AsView(it->key()) << " is corrupt";
      ++counts[record.state()];
    }
    for (size_t i = 0; i < counts.size(); ++i) {
      requests_by_state_[i].store(counts[i], std::memory_order_relaxed);
    }
  }
  std::string value;
  const leveldb::Status status =
      db_->Get(leveldb::ReadOptions(), AsSlice(kAppliedKey), &value);
  if (status.IsNotFound()) {
    std::lock_guard<std::mutex> lock(mu_);
    applied_index_ = 0;
    digest_.assign(kDigestSize, '\0');
    return;
  }
  CHECK(status.ok()) << "reading the applied index: " << status.ToString();
  CHECK_EQ(value.size(), 8 + kDigestSize) << "applied index record is corrupt";
  std::lock_guard<std::mutex> lock(mu_);
  applied_index_ = *storage::ReadBigEndian64(value);
  digest_ = value.substr(8);
}

uint64_t ReportStateMachine::applied_index() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_index_;
}

std::string ReportStateMachine::digest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return HexEncode(digest_);
}

std::pair<uint64_t, std::string> ReportStateMachine::applied_and_digest()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return {applied_index_, HexEncode(digest_)};
}

std::vector<AppliedCommand> ReportStateMachine::Apply(
    const std::vector<consensus::Entry>& entries) {
  std::vector<AppliedCommand> applied;
  uint64_t applied_index;
  std::string digest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_index = applied_index_;
    digest = digest_;
  }
  Batch batch(db_);
  for (const consensus::Entry& entry : entries) {
    if (entry.index() <= applied_index) continue;
    CHECK_EQ(entry.index(), applied_index + 1)
        << "committed entries applied out of order";
    AppliedCommand& out = applied.emplace_back();
    out.index = entry.index();
    out.epoch = entry.epoch();
    out.type = entry.type();
    if (entry.type() == consensus::ENTRY_BARRIER) {
      out.result = ResultOf(RESULT_OK);
    } else if (entry.type() == consensus::ENTRY_NORMAL &&
               out.command.ParseFromString(entry.data()) &&
               out.command.kind_case() != Command::KIND_NOT_SET) {
      out.result =
          ApplyCommand(batch, entry.index(), entry.epoch(), out.command);
    } else {
      out.command.Clear();
      out.result = ResultOf(RESULT_INVALID);
    }
    digest = ChainDigest(digest, entry.index(), entry.epoch(), out.result);
    applied_index = entry.index();
  }
  if (applied.empty()) return applied;

  std::string meta;
  storage::AppendBigEndian64(&meta, applied_index);
  meta += digest;
  batch.Put(std::string(kAppliedKey), std::move(meta));
  const leveldb::Status status =
      db_->Write(leveldb::WriteOptions(), batch.write());
  LOG_IF(FATAL, !status.ok()) << "state machine write failed at index "
                              << applied_index << ": " << status.ToString();
  for (size_t i = 0; i < batch.state_changes().size(); ++i) {
    requests_by_state_[i].fetch_add(batch.state_changes()[i],
                                    std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  applied_index_ = applied_index;
  digest_ = std::move(digest);
  return applied;
}

CommandResult ReportStateMachine::ApplyCommand(Batch& batch, uint64_t index,
                                               uint64_t epoch,
                                               const Command& command) {
  const uint64_t now = command.timestamp_ms();
  switch (command.kind_case()) {
    case Command::kSubmit:
      return Submit(batch, index, epoch, now, command.submit());
    case Command::kReserveEffect:
      return ReserveEffect(batch, index, now, command.reserve_effect());
    case Command::kExtendLease:
      return ExtendLease(batch, index, now, command.extend_lease());
    case Command::kCancel:
      return Cancel(batch, index, now, command.cancel());
    case Command::kComplete:
      return Complete(batch, index, now, command.complete());
    case Command::kFail:
      return Fail(batch, index, now, command.fail());
    case Command::KIND_NOT_SET:
      break;
  }
  return ResultOf(RESULT_INVALID);
}

CommandResult ReportStateMachine::Submit(Batch& batch, uint64_t index,
                                         uint64_t epoch, uint64_t now,
                                         const SubmitCommand& submit) {
  const ReportSubmission& submission = submit.submission();
  if (submission.request_id().empty()) return ResultOf(RESULT_INVALID);
  if (std::optional<RequestRecord> existing =
          batch.LoadRequest(submission.request_id())) {
    return ResultOf(existing->fingerprint() == submit.fingerprint()
                        ? RESULT_DUPLICATE
                        : RESULT_IDEMPOTENCY_CONFLICT,
                    *existing);
  }
  RequestRecord record;
  record.set_request_id(submission.request_id());
  record.set_account_id(submission.account_id());
  record.set_month(submission.month());
  record.set_fingerprint(submit.fingerprint());
  record.set_state(ACCEPTED);
  record.set_accepted_offset(index);
  record.set_accepted_epoch(epoch);
  record.set_version(index);
  record.set_ingress_domain(submit.ingress_domain());
  record.set_accepted_at_ms(now);
  record.set_updated_at_ms(now);
  batch.StoreRequest(record);
  batch.Put(UnfinishedKey(index), record.request_id());
  batch.Put(AccountKey(record.account_id(), index), record.request_id());
  return ResultOf(RESULT_OK, record);
}

CommandResult ReportStateMachine::ReserveEffect(
    Batch& batch, uint64_t index, uint64_t now,
    const ReserveEffectCommand& reserve) {
  if (reserve.request_id().empty() || reserve.effect_key().empty() ||
      reserve.worker_id().empty() || reserve.lease_ms() == 0) {
    return ResultOf(RESULT_INVALID);
  }
  std::optional<RequestRecord> record = batch.LoadRequest(reserve.request_id());
  if (!record.has_value()) return ResultOf(RESULT_NOT_FOUND);
  if (IsTerminal(*record)) return ResultOf(RESULT_ALREADY_DONE, *record);

  std::optional<EffectRecord> effect = batch.LoadEffect(reserve.effect_key());
  if (effect.has_value() && effect->request_id() != reserve.request_id()) {
    CommandResult result = ResultOf(RESULT_INVALID, *record);
    *result.mutable_effect() = *effect;
    return result;
  }
  if (effect.has_value() && effect->done()) {
    // The effect already happened (its result is recorded): the request is
    // complete.
    record->set_state(COMPLETED);
    *record->mutable_result() = effect->result();
    record->clear_failure();
    record->set_version(index);
    record->set_updated_at_ms(now);
    ClearLease(*record);
    batch.StoreRequest(*record);
    batch.Delete(UnfinishedKey(record->accepted_offset()));
    CommandResult result = ResultOf(RESULT_ALREADY_DONE, *record);
    *result.mutable_effect() = *effect;
    return result;
  }

  const bool lease_live =
      record->state() == RUNNING && record->lease_expiry_ms() > now;
  if (lease_live && record->lease_holder() != reserve.worker_id()) {
    CommandResult result = ResultOf(RESULT_LEASE_HELD, *record);
    if (effect.has_value()) *result.mutable_effect() = *effect;
    return result;
  }
  // A holder re-reserving its own live lease (e.g. retrying after
  // CommitUnknown) gets a fresh token without spending an attempt.
  const bool renewal = lease_live;
  if (!renewal && reserve.max_attempts() > 0 &&
      record->attempts() >= reserve.max_attempts()) {
    record->set_state(FAILED);
    record->set_failure(
        absl::StrCat("exceeded ", reserve.max_attempts(), " attempts"));
    record->set_version(index);
    record->set_updated_at_ms(now);
    ClearLease(*record);
    batch.StoreRequest(*record);
    batch.Delete(UnfinishedKey(record->accepted_offset()));
    return ResultOf(RESULT_ALREADY_DONE, *record);
  }

  const uint64_t expiry = SaturatingAdd(now, reserve.lease_ms());
  if (!renewal) record->set_attempts(record->attempts() + 1);
  record->set_state(RUNNING);
  record->set_lease_holder(reserve.worker_id());
  record->set_lease_holder_domain(reserve.worker_domain());
  record->set_fencing_token(index);
  record->set_lease_expiry_ms(expiry);
  record->set_version(index);
  record->set_updated_at_ms(now);
  // While RUNNING, result.effect_key names the effect the lease is for.
  record->mutable_result()->set_effect_key(reserve.effect_key());
  batch.StoreRequest(*record);

  EffectRecord granted;
  granted.set_effect_key(reserve.effect_key());
  granted.set_request_id(reserve.request_id());
  granted.set_holder_worker(reserve.worker_id());
  granted.set_holder_domain(reserve.worker_domain());
  granted.set_fencing_token(index);
  granted.set_lease_expiry_ms(expiry);
  batch.StoreEffect(granted);

  CommandResult result = ResultOf(RESULT_OK, *record);
  *result.mutable_effect() = granted;
  return result;
}

// A RUNNING request whose cancellation its holder learns of now: CANCELLED,
// the lease ended. Holder and token stay in the record so that the holder may
// still record an effect it had already produced (Complete).
void EndCancelled(RequestRecord& record, uint64_t index, uint64_t now) {
  record.set_state(CANCELLED);
  record.set_cancel_requested(false);
  record.clear_lease_expiry_ms();
  record.set_version(index);
  record.set_updated_at_ms(now);
}

CommandResult ReportStateMachine::Cancel(Batch& batch, uint64_t index,
                                         uint64_t now,
                                         const CancelCommand& cancel) {
  if (cancel.request_id().empty()) return ResultOf(RESULT_INVALID);
  std::optional<RequestRecord> record = batch.LoadRequest(cancel.request_id());
  if (!record.has_value()) return ResultOf(RESULT_NOT_FOUND);
  if (IsTerminal(*record)) return ResultOf(RESULT_ALREADY_DONE, *record);
  if (record->state() == RUNNING) {
    // The version stays: the holder's Complete CAS must still hold if its
    // effect is already made. Its next ExtendLease ends the request.
    if (!record->cancel_requested()) {
      record->set_cancel_requested(true);
      record->set_updated_at_ms(now);
      batch.StoreRequest(*record);
    }
    return ResultOf(RESULT_OK, *record);
  }
  record->set_state(CANCELLED);
  record->set_version(index);
  record->set_updated_at_ms(now);
  ClearLease(*record);
  batch.StoreRequest(*record);
  batch.Delete(UnfinishedKey(record->accepted_offset()));
  return ResultOf(RESULT_OK, *record);
}

CommandResult ReportStateMachine::ExtendLease(
    Batch& batch, uint64_t index, uint64_t now,
    const ExtendLeaseCommand& extend) {
  if (extend.request_id().empty() || extend.worker_id().empty() ||
      extend.lease_ms() == 0) {
    return ResultOf(RESULT_INVALID);
  }
  std::optional<RequestRecord> record = batch.LoadRequest(extend.request_id());
  if (!record.has_value()) return ResultOf(RESULT_NOT_FOUND);
  if (IsTerminal(*record)) return ResultOf(RESULT_ALREADY_DONE, *record);
  if (record->state() != RUNNING ||
      record->lease_holder() != extend.worker_id() ||
      record->fencing_token() != extend.fencing_token() ||
      record->lease_expiry_ms() <= now) {
    return ResultOf(RESULT_CAS_FAILED, *record);
  }
  if (record->cancel_requested()) {
    EndCancelled(*record, index, now);
    batch.StoreRequest(*record);
    batch.Delete(UnfinishedKey(record->accepted_offset()));
    CommandResult result = ResultOf(RESULT_ALREADY_DONE, *record);
    if (std::optional<EffectRecord> effect =
            batch.LoadEffect(record->result().effect_key());
        effect.has_value() &&
        effect->fencing_token() == extend.fencing_token()) {
      effect->clear_holder_worker();
      effect->clear_holder_domain();
      effect->clear_lease_expiry_ms();
      batch.StoreEffect(*effect);
      *result.mutable_effect() = *effect;
    }
    return result;
  }
  // The version is deliberately unchanged: the holder's Complete CAS
  // (expected_version from its grant) stays valid however often it extends.
  const uint64_t expiry = SaturatingAdd(now, extend.lease_ms());
  record->set_lease_expiry_ms(expiry);
  record->set_updated_at_ms(now);
  batch.StoreRequest(*record);
  CommandResult result = ResultOf(RESULT_OK, *record);
  if (std::optional<EffectRecord> effect =
          batch.LoadEffect(record->result().effect_key());
      effect.has_value() && effect->fencing_token() == extend.fencing_token()) {
    effect->set_lease_expiry_ms(expiry);
    batch.StoreEffect(*effect);
    *result.mutable_effect() = *effect;
  }
  return result;
}

CommandResult ReportStateMachine::Complete(Batch& batch, uint64_t index,
                                           uint64_t now,
                                           const CompleteCommand& complete) {
  if (complete.request_id().empty() || complete.report_location().empty()) {
    return ResultOf(RESULT_INVALID);
  }
  std::optional<RequestRecord> record =
      batch.LoadRequest(complete.request_id());
  if (!record.has_value()) return ResultOf(RESULT_NOT_FOUND);
  // Effects are never undone: the holder whose lease a cancellation ended may
  // still record the effect it had produced.
  const bool cancelled_holder =
      record->state() == CANCELLED && record->fencing_token() != 0 &&
      record->fencing_token() == complete.fencing_token() &&
      record->lease_holder() == complete.worker_id();
  // A retried Complete that already applied lands here; result.fencing_token
  // tells the worker whether the completion was its own.
  if (IsTerminal(*record) && !cancelled_holder) {
    return ResultOf(RESULT_ALREADY_DONE, *record);
  }
  // The lease may have expired by this entry's time: that is fine as long as
  // the token is still the current one, i.e. nobody else was granted the effect
  // since. A later grant would change the token and fail this CAS; and the sink
  // file is keyed by the effect key, so even two workers racing produce one
  // effect.
  if (!cancelled_holder &&
      (record->state() != RUNNING ||
       record->version() != complete.expected_version() ||
       record->fencing_token() != complete.fencing_token() ||
       record->lease_holder() != complete.worker_id())) {
    return ResultOf(RESULT_CAS_FAILED, *record);
  }
  ReportResult report;
  report.set_report_location(complete.report_location());
  report.set_effect_key(record->result().effect_key());
  report.set_worker_id(complete.worker_id());
  report.set_worker_domain(complete.worker_domain());
  report.set_completed_offset(index);
  report.set_fencing_token(complete.fencing_token());

  record->set_state(COMPLETED);
  *record->mutable_result() = report;
  record->clear_failure();
  record->set_cancel_requested(false);
  record->set_version(index);
  record->set_updated_at_ms(now);
  ClearLease(*record);
  batch.StoreRequest(*record);
  batch.Delete(UnfinishedKey(record->accepted_offset()));

  EffectRecord effect =
      batch.LoadEffect(report.effect_key()).value_or(EffectRecord());
  effect.set_effect_key(report.effect_key());
  effect.set_request_id(record->request_id());
  effect.set_done(true);
  effect.clear_lease_expiry_ms();
  *effect.mutable_result() = report;
  batch.StoreEffect(effect);

  CommandResult result = ResultOf(RESULT_OK, *record);
  *result.mutable_effect() = effect;
  return result;
}

CommandResult ReportStateMachine::Fail(Batch& batch, uint64_t index,
                                       uint64_t now, const FailCommand& fail) {
  if (fail.request_id().empty()) return ResultOf(RESULT_INVALID);
  std::optional<RequestRecord> record = batch.LoadRequest(fail.request_id());
  if (!record.has_value()) return ResultOf(RESULT_NOT_FOUND);
  if (IsTerminal(*record)) return ResultOf(RESULT_ALREADY_DONE, *record);
  if (record->state() != RUNNING ||
      record->fencing_token() != fail.fencing_token() ||
      record->lease_holder() != fail.worker_id() ||
      (fail.expected_version() != 0 &&
       fail.expected_version() != record->version())) {
    return ResultOf(RESULT_CAS_FAILED, *record);
  }
  // A request asked to cancel is not tried again.
  const bool retry =
      fail.retryable() && !record->cancel_requested() &&
      (fail.max_attempts() == 0 || record->attempts() < fail.max_attempts());
  record->set_state(retry                        ? ACCEPTED
                    : record->cancel_requested() ? CANCELLED
                                                 : FAILED);
  record->set_cancel_requested(false);
  record->set_failure(fail.error());
  record->set_version(index);
  record->set_updated_at_ms(now);
  ClearLease(*record);
  record->clear_fencing_token();
  batch.StoreRequest(*record);
  if (!retry) batch.Delete(UnfinishedKey(record->accepted_offset()));

  CommandResult result = ResultOf(RESULT_OK, *record);
  // Release the effect's lease so its record does not claim a holder any more.
  if (std::optional<EffectRecord> effect =
          batch.LoadEffect(record->result().effect_key());
      effect.has_value() && effect->fencing_token() == fail.fencing_token()) {
    effect->clear_holder_worker();
    effect->clear_holder_domain();
    effect->clear_lease_expiry_ms();
    batch.StoreEffect(*effect);
    *result.mutable_effect() = *effect;
  }
  return result;
}

namespace {

// One stored record by key: NotFound when absent, Internal when unreadable.
template <typename Record>
absl::StatusOr<Record> LoadRecord(leveldb::DB* db, const std::string& key,
                                  absl::string_view what,
                                  absl::string_view name) {
  std::string value;
  const leveldb::Status status = db->Get(leveldb::ReadOptions(), key, &value);
  if (status.IsNotFound()) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat(what, " '", name, "' not found"));
  }
  if (!status.ok()) return MakeError(ErrorCode::kInternal, status.ToString());
  Record record;
  if (!record.ParseFromString(value)) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat(what, " '", name, "' is corrupt"));
  }
  return record;
}

}  // namespace

absl::StatusOr<RequestRecord> ReportStateMachine::GetRequest(
    const std::string& request_id) const {
  return LoadRecord<RequestRecord>(db_, RequestKey(request_id), "request",
                                   request_id);
}

absl::StatusOr<EffectRecord> ReportStateMachine::GetEffect(
    const std::string& effect_key) const {
  return LoadRecord<EffectRecord>(db_, EffectKeyOf(effect_key), "effect",
                                  effect_key);
}

void ReportStateMachine::ForEachUnfinished(
    const std::function<bool(const RequestRecord&)>& visit) const {
  // One snapshot, so the index and the records agree even while Apply runs.
  const leveldb::Snapshot* snapshot = db_->GetSnapshot();
  leveldb::ReadOptions options;
  options.snapshot = snapshot;
  {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(options));
    for (it->Seek(AsSlice(kUnfinishedPrefix));
         it->Valid() && absl::StartsWith(AsView(it->key()), kUnfinishedPrefix);
         it->Next()) {
      std::string value;
      RequestRecord record;
      const leveldb::Status status =
          db_->Get(options, RequestKey(AsView(it->value())), &value);
      if (!status.ok() || !record.ParseFromString(value)) {
        LOG(ERROR) << "unfinished index names request '" << AsView(it->value())
                   << "' which cannot be read: " << status.ToString();
        continue;
      }
      if (!visit(record)) break;
    }
  }
  db_->ReleaseSnapshot(snapshot);
}

uint64_t ReportStateMachine::LowestUnfinishedOffset() const {
  // Read first: anything accepted after this point has a larger offset.
  const uint64_t applied = applied_index();
  std::unique_ptr<leveldb::Iterator> it(
      db_->NewIterator(leveldb::ReadOptions()));
  it->Seek(AsSlice(kUnfinishedPrefix));
  if (it->Valid() && absl::StartsWith(AsView(it->key()), kUnfinishedPrefix)) {
    if (std::optional<uint64_t> offset = storage::ReadBigEndian64(
            AsView(it->key()).substr(kUnfinishedPrefix.size()))) {
      return *offset;
    }
  }
  return applied + 1;
}

ReportStateMachine::AccountPage ReportStateMachine::ListAccount(
    const std::string& account_id, RequestState state, uint64_t before_offset,
    size_t page_size, size_t scan_limit) const {
  AccountPage page;
  const std::string prefix = AccountPrefixOf(account_id);
  const leveldb::Snapshot* snapshot = db_->GetSnapshot();
  leveldb::ReadOptions options;
  options.snapshot = snapshot;
  {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(options));
    // Offsets strictly below before_offset: keys from inverted(before - 1).
    it->Seek(before_offset == 0 ? prefix
                                : AccountKey(account_id, before_offset - 1));
    size_t scanned = 0;
    for (; it->Valid() && absl::StartsWith(AsView(it->key()), prefix);
         it->Next()) {
      // Exactly 8 bytes after the prefix: a longer rest is another account's
      // whose id starts with this one's and a '/' (ids from the log are not
      // re-validated here).
      const absl::string_view rest = AsView(it->key()).substr(prefix.size());
      const std::optional<uint64_t> inverted = storage::ReadBigEndian64(rest);
      if (rest.size() != 8 || !inverted.has_value()) continue;
      const uint64_t offset = std::numeric_limits<uint64_t>::max() - *inverted;
      if (page.records.size() >= page_size || scanned >= scan_limit) {
        // More remain: the next page starts at the one not taken.
        page.next_before_offset = offset + 1;
        break;
      }
      ++scanned;
      std::string value;
      RequestRecord record;
      const leveldb::Status status =
          db_->Get(options, RequestKey(AsView(it->value())), &value);
      if (!status.ok() || !record.ParseFromString(value)) {
        LOG(ERROR) << "account index names request '" << AsView(it->value())
                   << "' which cannot be read: " << status.ToString();
        continue;
      }
      if (record.account_id() != account_id) continue;
      if (state == REQUEST_STATE_UNSPECIFIED || record.state() == state) {
        page.records.push_back(std::move(record));
      }
    }
  }
  db_->ReleaseSnapshot(snapshot);
  return page;
}

int64_t ReportStateMachine::RequestsInState(RequestState state) const {
  const size_t index = static_cast<size_t>(state);
  if (index >= requests_by_state_.size()) return 0;
  return requests_by_state_[index].load(std::memory_order_relaxed);
}

std::optional<uint64_t> ReportStateMachine::OldestUnfinishedAcceptedAtMs()
    const {
  std::optional<uint64_t> oldest;
  // Unfinished requests are visited in accepted-offset order: the first one is
  // the oldest.
  ForEachUnfinished([&oldest](const RequestRecord& record) {
    oldest = record.accepted_at_ms();
    return false;
  });
  return oldest;
}

void ReportStateMachine::ExportMetrics(metrics::Registry* registry) const {
  registry->AddCallbackGauge(
      "report_requests",
      "Requests in the replicated state, by state, as of this replica's "
      "applied offset.",
      {"state"}, [this] {
        std::vector<metrics::Sample> samples;
        for (RequestState state :
             {ACCEPTED, RUNNING, COMPLETED, FAILED, CANCELLED}) {
          samples.push_back({{RequestState_Name(state)},
                             static_cast<double>(RequestsInState(state))});
        }
        return samples;
      });
  registry->AddCallbackGauge(
      "report_oldest_unfinished_age_seconds",
      "Age of the oldest ACCEPTED or RUNNING request (0 when there is none), "
      "from its acceptance in cluster time to this replica's clock.",
      {}, [this] {
        double age = 0;
        if (std::optional<uint64_t> accepted = OldestUnfinishedAcceptedAtMs()) {
          const int64_t now_ms = absl::ToUnixMillis(absl::Now());
          age = std::max<int64_t>(0, now_ms - static_cast<int64_t>(*accepted)) /
                1000.0;
        }
        return std::vector<metrics::Sample>{{{}, age}};
      });
}

}  // namespace report
