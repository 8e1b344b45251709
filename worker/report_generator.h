// The real work of a worker: a deterministic synthetic ledger for (account,
// month), summarised into a JSON report.
//
// Determinism promise: the ledger depends only on (account_id, month), through
// SHA-256 and a PRNG implemented here (no std::hash, no <random>
// distributions), so every build on every machine produces the same
// transactions. The report document has two sections:
//   "report": a pure function of (request_id, account_id, month, effect_key) —
//   byte-identical
//             whoever generates it and however often;
//   "effect": who produced this copy (fencing token, worker id and domain) —
//   the only part
//             that may differ between two generations of the same request.
#ifndef REPORT_WORKER_REPORT_GENERATOR_H_
#define REPORT_WORKER_REPORT_GENERATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace report {

// SplitMix64 (Steele, Lea, Flood 2014): a tiny PRNG whose output is fixed by
// its seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, bound) without modulo bias; bound must be > 0.
  uint64_t Below(uint64_t bound);
  // Uniform in [low, high] (inclusive); requires low <= high.
  int64_t Between(int64_t low, int64_t high);

 private:
  uint64_t state_;
};

enum class Direction { kCredit, kDebit };

struct Transaction {
  int index = 0;     // 1-based position in the month's ledger (ordered by day)
  int day = 0;       // day of the month, 1-based
  int category = 0;  // index into LedgerCategories()
  std::string merchant;
  int64_t amount_cents =
      0;  // always positive; the direction says which way it moved
  Direction direction = Direction::kDebit;
};

struct LedgerCategory {
  absl::string_view name;
  Direction direction;
};

// The fixed category list, in report order.
const std::vector<LedgerCategory>& LedgerCategories();

struct ReportInput {
  std::string request_id;
  std::string account_id;
  std::string month;  // YYYY-MM
  std::string effect_key;
};

// Who produced a copy of the report; recorded in its "effect" section.
struct EffectStamp {
  uint64_t fencing_token = 0;
  std::string worker_id;
  std::string worker_domain;
};

// Days in a "YYYY-MM" month (leap years included), or InvalidArgument.
absl::StatusOr<int> DaysInMonth(absl::string_view month);

// 2000–5000 transactions, ordered by day, seeded by
// SHA-256("report-ledger.v1\n" + account_id + "\n" + month).
absl::StatusOr<std::vector<Transaction>> SyntheticLedger(
    absl::string_view account_id, absl::string_view month);

struct CategoryTotal {
  int64_t count = 0;
  int64_t total_cents = 0;
};

struct LedgerSummary {
  int64_t transaction_count = 0;
  int64_t credit_count = 0;
  int64_t debit_count = 0;
  int64_t total_credits_cents = 0;
  int64_t total_debits_cents = 0;
  int64_t net_cents = 0;                   // credits - debits
  std::vector<CategoryTotal> by_category;  // parallel to LedgerCategories()
  std::vector<Transaction> largest;        // top 10 by amount, ties by index
  int first_day = 0;                       // 0 when the ledger is empty
  int last_day = 0;
};

LedgerSummary Summarise(const std::vector<Transaction>& ledger);

// The whole JSON document (stable key order, trailing newline).
std::string ReportDocument(const ReportInput& input, int days_in_month,
                           const LedgerSummary& summary,
                           const EffectStamp& stamp);

// Generates the report for `input`, spending `work_time` on top (the simulated
// long-running part, slept in short slices). Returns Cancelled as soon as
// `cancelled()` turns true, InvalidArgument for a malformed month.
absl::StatusOr<std::string> GenerateReport(
    const ReportInput& input, const EffectStamp& stamp,
    std::chrono::milliseconds work_time,
    const std::function<bool()>& cancelled);

}  // namespace report

#endif  // REPORT_WORKER_REPORT_GENERATOR_H_
