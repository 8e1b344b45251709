#include "tools/history_checker.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace report::history {

void History::AddReceipt(ReceiptEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  receipts_.push_back(std::move(event));
}

void History::AddUnknownOutcome(UnknownOutcomeEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  unknown_outcomes_.push_back(std::move(event));
}

void History::AddRead(ReadEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  reads_.push_back(std::move(event));
}

void History::AddCancel(CancelEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(std::move(event));
}

std::vector<CancelEvent> History::cancels() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancels_;
}

std::vector<ReceiptEvent> History::receipts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return receipts_;
}

std::vector<UnknownOutcomeEvent> History::unknown_outcomes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unknown_outcomes_;
}

std::vector<ReadEvent> History::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_;
}

std::vector<Violation> CheckDurability(const History& history,
                                       const FinalState& final_state) {
  std::vector<Violation> violations;
  for (const ReceiptEvent& receipt : history.receipts()) {
    auto it = final_state.records.find(receipt.request_id);
    if (it == final_state.records.end()) {
      violations.push_back(
          {"durability",
           absl::StrCat("receipt for ", receipt.request_id, " at offset ",
                        receipt.accepted_offset, " (client ", receipt.client,
                        ") is gone afterwards")});
      continue;
    }
    const RequestRecord& record = it->second;
    if (record.accepted_offset() != receipt.accepted_offset) {
      violations.push_back(
          {"durability",
           absl::StrCat(receipt.request_id, " was receipted at offset ",
                        receipt.accepted_offset, " but is now at offset ",
                        record.accepted_offset())});
    }
    if (record.fingerprint() != receipt.fingerprint) {
      violations.push_back(
          {"durability",
           absl::StrCat(receipt.request_id, " was receipted with fingerprint ",
                        receipt.fingerprint, " but now has ",
                        record.fingerprint())});
    }
  }
  return violations;
}

std::vector<Violation> CheckUniqueness(const History& history,
                                       const FinalState& final_state) {
  std::vector<Violation> violations;
  // Every (request, offset) pair anyone was told or the cluster holds.
  std::vector<std::pair<std::string, uint64_t>> claims;
  for (const ReceiptEvent& receipt : history.receipts()) {
    claims.emplace_back(receipt.request_id, receipt.accepted_offset);
  }
  for (const auto& [id, record] : final_state.records) {
    claims.emplace_back(id, record.accepted_offset());
  }
  std::map<uint64_t, std::string> request_at;
  std::map<std::string, uint64_t> offset_of;
  std::set<std::string> reported;
  for (const auto& [id, offset] : claims) {
    auto [at, inserted_at] = request_at.emplace(offset, id);
    if (!inserted_at && at->second != id &&
        reported.insert(absl::StrCat("o", offset)).second) {
      violations.push_back(
          {"uniqueness", absl::StrCat("offset ", offset, " holds both ",
                                      at->second, " and ", id)});
    }
    auto [of, inserted_of] = offset_of.emplace(id, offset);
    if (!inserted_of && of->second != offset &&
        reported.insert("r" + id).second) {
      violations.push_back(
          {"uniqueness", absl::StrCat(id, " is at two offsets: ", of->second,
                                      " and ", offset)});
    }
  }
  return violations;
}

std::vector<Violation> CheckMonotonicReads(const History& history) {
  std::vector<Violation> violations;
  std::map<std::string, uint64_t> receipt_offset;
  for (const ReceiptEvent& receipt : history.receipts()) {
    receipt_offset.emplace(receipt.request_id, receipt.accepted_offset);
  }
  std::map<std::string, uint64_t> last_served;
  for (const ReadEvent& read : history.reads()) {
    if (read.served_offset < read.min_offset) {
      violations.push_back(
          {"monotonic-reads",
           absl::StrCat("client ", read.client, " read ", read.request_id,
                        " at min_offset ", read.min_offset,
                        " and was served from offset ", read.served_offset)});
    }
    auto last = last_served.find(read.client);
    if (last != last_served.end() && read.served_offset < last->second) {
      violations.push_back(
          {"monotonic-reads",
           absl::StrCat("client ", read.client, " was served from offset ",
                        last->second, " and later from offset ",
                        read.served_offset, " (", read.request_id, ")")});
    }
    last_served[read.client] = std::max(
        read.served_offset, last != last_served.end() ? last->second : 0);
    auto receipted = receipt_offset.find(read.request_id);
    if (receipted != receipt_offset.end() &&
        receipted->second <= read.served_offset) {
      if (!read.found) {
        violations.push_back(
            {"monotonic-reads",
             absl::StrCat("client ", read.client, " read ", read.request_id,
                          " as NotFound at offset ", read.served_offset,
                          " though it was receipted at offset ",
                          receipted->second)});
      } else if (read.accepted_offset != receipted->second) {
        violations.push_back(
            {"monotonic-reads",
             absl::StrCat("client ", read.client, " read ", read.request_id,
                          " accepted at offset ", read.accepted_offset,
                          " but it was receipted at offset ",
                          receipted->second)});
      }
    }
  }
  return violations;
}

std::vector<Violation> CheckEffects(const FinalState& final_state) {
  std::vector<Violation> violations;
  std::map<std::string, int> files;
  for (const std::string& id : final_state.effect_request_ids) files[id]++;
  for (const auto& [id, count] : files) {
    if (count > 1) {
      violations.push_back(
          {"effects",
           absl::StrCat(id, " has ", count, " effect files (two effects)")});
    }
    if (final_state.records.count(id) == 0) {
      violations.push_back(
          {"effects",
           absl::StrCat("effect file for ", id, ", which was never accepted")});
    }
  }
  for (const auto& [id, record] : final_state.records) {
    if (record.state() == COMPLETED && files.count(id) == 0) {
      violations.push_back(
          {"effects", absl::StrCat(id, " is COMPLETED at offset ",
                                   record.result().completed_offset(),
                                   " but has no effect file")});
    }
  }
  return violations;
}

std::vector<Violation> CheckUnknownOutcomes(const History& history,
                                            const FinalState& final_state) {
  std::vector<Violation> violations;
  for (const UnknownOutcomeEvent& unknown : history.unknown_outcomes()) {
    auto it = final_state.records.find(unknown.request_id);
    if (it != final_state.records.end() &&
        it->second.fingerprint() != unknown.fingerprint) {
      violations.push_back(
          {"unknown-outcome",
           absl::StrCat(unknown.request_id, " (", unknown.error_code,
                        " to client ", unknown.client,
                        ") is present with fingerprint ",
                        it->second.fingerprint(),
                        ", not the one sent: ", unknown.fingerprint)});
    }
  }
  return violations;
}

std::vector<Violation> CheckCancels(const History& history,
                                    const FinalState& final_state) {
  std::vector<Violation> violations;
  std::set<std::string> files(final_state.effect_request_ids.begin(),
                              final_state.effect_request_ids.end());
  for (const CancelEvent& cancel : history.cancels()) {
    auto it = final_state.records.find(cancel.request_id);
    if (it == final_state.records.end()) {
      violations.push_back(
          {"cancels",
           absl::StrCat("client ", cancel.client, " cancelled ",
                        cancel.request_id, ", which is gone afterwards")});
      continue;
    }
    // Cancelled before any worker held it: nobody can have produced or
    // recorded its effect.
    if (cancel.state == CANCELLED && cancel.attempts == 0) {
      if (it->second.state() != CANCELLED) {
        violations.push_back(
            {"cancels",
             absl::StrCat(cancel.request_id, " was answered CANCELLED (client ",
                          cancel.client, ") but ended ",
                          RequestState_Name(it->second.state()))});
      }
      if (files.count(cancel.request_id) != 0) {
        violations.push_back(
            {"cancels", absl::StrCat(cancel.request_id,
                                     " was cancelled before any work but has "
                                     "an effect file")});
      }
    }
  }
  return violations;
}

std::vector<Violation> CheckHistory(const History& history,
                                    const FinalState& final_state) {
  std::vector<Violation> all;
  for (auto part :
       {CheckDurability(history, final_state),
        CheckUniqueness(history, final_state), CheckMonotonicReads(history),
        CheckEffects(final_state), CheckUnknownOutcomes(history, final_state),
        CheckCancels(history, final_state)}) {
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

std::string Describe(const std::vector<Violation>& violations) {
  std::string text;
  for (const Violation& violation : violations) {
    absl::StrAppend(&text, violation.check, ": ", violation.detail, "\n");
  }
  return text;
}

}  // namespace report::history
