#include "worker/report_generator.h"

#include <algorithm>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error_code.h"
#include "common/json_writer.h"
#include "common/sha256.h"
#include "common/validation.h"

namespace report {
namespace {

// Generation parameters of one category. Weights are relative frequencies;
// amounts are in cents. Changing anything here changes every report: bump the
// seed tag with it.
struct CategoryModel {
  LedgerCategory category;
  int weight;
  int64_t min_cents;
  int64_t max_cents;
  std::vector<absl::string_view> merchants;
};

const std::vector<CategoryModel>& CategoryModels() {
  static const std::vector<CategoryModel>* const kModels =
      new std::vector<CategoryModel>{
          {{"salary", Direction::kCredit},
           1,
           250000,
           900000,
           {"Acme Corp Payroll", "Globex Payroll"}},
          {{"refund", Direction::kCredit},
           3,
           500,
           20000,
           {"Northwind Returns", "Contoso Store Refunds"}},
          {{"transfer_in", Direction::kCredit},
           4,
           1000,
           200000,
           {"Incoming Transfer", "Savings Sweep"}},
          {{"interest", Direction::kCredit}, 1, 1, 5000, {"Bank Interest"}},
          {{"groceries", Direction::kDebit},
           25,
           300,
           25000,
           {"FreshMart", "Corner Grocer", "Green Basket", "Harbor Foods"}},
          {{"dining", Direction::kDebit},
           18,
           500,
           12000,
           {"Blue Door Cafe", "Noodle House", "Trattoria Roma", "Taco Stand"}},
          {{"transport", Direction::kDebit},
           12,
           200,
           8000,
           {"Metro Transit", "City Cabs", "FuelStop"}},
          {{"utilities", Direction::kDebit},
           4,
           3000,
           30000,
           {"Power & Light Co", "City Water", "FiberNet"}},
          {{"rent", Direction::kDebit},
           1,
           80000,
           300000,
           {"Oakwood Properties"}},
          {{"entertainment", Direction::kDebit},
           8,
           500,
           15000,
           {"Cineplex", "StreamFlix", "Arcade Hall"}},
          {{"healthcare", Direction::kDebit},
           3,
           1000,
           50000,
           {"Main St Pharmacy", "Family Clinic"}},
          {{"shopping", Direction::kDebit},
           15,
           500,
           60000,
           {"MegaStore", "BookNook", "Gadget Hub", "Outfitters"}},
          {{"travel", Direction::kDebit},
           3,
           5000,
           150000,
           {"SkyHigh Airlines", "Grand Hotel", "RailLink"}},
          {{"transfer_out", Direction::kDebit},
           3,
           1000,
           100000,
           {"Outgoing Transfer"}},
      };
  return *kModels;
}

constexpr int kMinTransactions = 2000;
constexpr int kMaxTransactions = 5000;
constexpr size_t kLargestCount = 10;
constexpr absl::string_view kSeedTag = "report-ledger.v1\n";

uint64_t SeedOf(absl::string_view account_id, absl::string_view month) {
  const std::string digest =
      Sha256(absl::StrCat(kSeedTag, account_id, "\n", month));
  uint64_t seed = 0;
  for (int i = 0; i < 8; ++i) {  // big-endian first 8 bytes
    seed = (seed << 8) | static_cast<unsigned char>(digest[i]);
  }
  return seed;
}

std::string DateOf(absl::string_view month, int day) {
  return absl::StrFormat("%s-%02d", month, day);
}

absl::string_view DirectionName(Direction direction) {
  return direction == Direction::kCredit ? "credit" : "debit";
}

}  // namespace

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t bound) {
  // Reject the top sliver of the 2^64 range that would make some residues more
  // likely.
  const uint64_t threshold = (0 - bound) % bound;
  while (true) {
    uint64_t r = Next();
    if (r >= threshold) return r % bound;
  }
}

int64_t SplitMix64::Between(int64_t low, int64_t high) {
  return low +
         static_cast<int64_t>(Below(static_cast<uint64_t>(high - low) + 1));
}

const std::vector<LedgerCategory>& LedgerCategories() {
  static const std::vector<LedgerCategory>* const kCategories = [] {
    auto* categories = new std::vector<LedgerCategory>;
    for (const CategoryModel& model : CategoryModels()) {
      categories->push_back(model.category);
    }
    return categories;
  }();
  return *kCategories;
}

absl::StatusOr<int> DaysInMonth(absl::string_view month) {
  absl::StatusOr<absl::CivilMonth> parsed = ParseMonth(month);
  if (!parsed.ok()) return parsed.status();
  return static_cast<int>(absl::CivilDay(*parsed + 1) -
                          absl::CivilDay(*parsed));
}

absl::StatusOr<std::vector<Transaction>> SyntheticLedger(
    absl::string_view account_id, absl::string_view month) {
  absl::StatusOr<int> days = DaysInMonth(month);
  if (!days.ok()) return days.status();
  const std::vector<CategoryModel>& models = CategoryModels();
  int total_weight = 0;
  for (const CategoryModel& model : models) total_weight += model.weight;

  SplitMix64 rng(SeedOf(account_id, month));
  const int count =
      static_cast<int>(rng.Between(kMinTransactions, kMaxTransactions));
  std::vector<Transaction> ledger;
  ledger.reserve(count);
  for (int i = 0; i < count; ++i) {
    Transaction t;
    t.day = static_cast<int>(rng.Between(1, *days));
    int pick = static_cast<int>(rng.Below(total_weight));
    size_t c = 0;
    while (pick >= models[c].weight) pick -= models[c++].weight;
    const CategoryModel& model = models[c];
    t.category = static_cast<int>(c);
    t.merchant =
        std::string(model.merchants[rng.Below(model.merchants.size())]);
    t.amount_cents = rng.Between(model.min_cents, model.max_cents);
    t.direction = model.category.direction;
    ledger.push_back(std::move(t));
  }
  // Generation order breaks ties between transactions of the same day.
  std::stable_sort(
      ledger.begin(), ledger.end(),
      [](const Transaction& a, const Transaction& b) { return a.day < b.day; });
  for (int i = 0; i < count; ++i) ledger[i].index = i + 1;
  return ledger;
}

LedgerSummary Summarise(const std::vector<Transaction>& ledger) {
  LedgerSummary summary;
  summary.by_category.resize(LedgerCategories().size());
  for (const Transaction& t : ledger) {
    ++summary.transaction_count;
    if (t.direction == Direction::kCredit) {
      ++summary.credit_count;
      summary.total_credits_cents += t.amount_cents;
    } else {
      ++summary.debit_count;
      summary.total_debits_cents += t.amount_cents;
    }
    CategoryTotal& total = summary.by_category[t.category];
    ++total.count;
    total.total_cents += t.amount_cents;
  }
  summary.net_cents = summary.total_credits_cents - summary.total_debits_cents;
  if (!ledger.empty()) {
    summary.first_day = ledger.front().day;
    summary.last_day = ledger.back().day;
  }
  std::vector<Transaction> by_amount = ledger;
  size_t top = std::min(kLargestCount, by_amount.size());
  std::partial_sort(by_amount.begin(), by_amount.begin() + top, by_amount.end(),
                    [](const Transaction& a, const Transaction& b) {
                      if (a.amount_cents != b.amount_cents) {
                        return a.amount_cents > b.amount_cents;
                      }
                      return a.index < b.index;
                    });
  by_amount.resize(top);
  summary.largest = std::move(by_amount);
  return summary;
}

std::string ReportDocument(const ReportInput& input, int days_in_month,
                           const LedgerSummary& summary,
                           const EffectStamp& stamp) {
  // A fixed layout: two-space indentation, keys in the order written.
  JsonWriter json(JsonWriter::Layout::kIndented);
  json.BeginObject();
  json.Key("report");
  json.BeginObject();
  json.Key("schema");
  json.String("report.v1");
  json.Key("request_id");
  json.String(input.request_id);
  json.Key("account_id");
  json.String(input.account_id);
  json.Key("month");
  json.String(input.month);
  json.Key("effect_key");
  json.String(input.effect_key);
  json.Key("currency");
  json.String("USD");
  json.Key("period");
  json.BeginObject();
  json.Key("start");
  json.String(DateOf(input.month, 1));
  json.Key("end");
  json.String(DateOf(input.month, days_in_month));
  json.Key("first_transaction_day");
  json.String(summary.first_day ? DateOf(input.month, summary.first_day) : "");
  json.Key("last_transaction_day");
  json.String(summary.last_day ? DateOf(input.month, summary.last_day) : "");
  json.EndObject();
  json.Key("totals");
  json.BeginObject();
  json.Key("transaction_count");
  json.Int(summary.transaction_count);
  json.Key("credit_count");
  json.Int(summary.credit_count);
  json.Key("debit_count");
  json.Int(summary.debit_count);
  json.Key("credits_cents");
  json.Int(summary.total_credits_cents);
  json.Key("debits_cents");
  json.Int(summary.total_debits_cents);
  json.Key("net_cents");
  json.Int(summary.net_cents);
  json.EndObject();
  json.Key("by_category");
  json.BeginArray();
  const std::vector<LedgerCategory>& categories = LedgerCategories();
  for (size_t i = 0; i < categories.size(); ++i) {
    json.BeginObject();
    json.Key("category");
    json.String(categories[i].name);
    json.Key("direction");
    json.String(DirectionName(categories[i].direction));
    json.Key("count");
    json.Int(summary.by_category[i].count);
    json.Key("total_cents");
    json.Int(summary.by_category[i].total_cents);
    json.EndObject();
  }
  json.EndArray();
  json.Key("largest");
  json.BeginArray();
  for (const Transaction& t : summary.largest) {
    json.BeginObject();
    json.Key("index");
    json.Int(t.index);
    json.Key("date");
    json.String(DateOf(input.month, t.day));
    json.Key("category");
    json.String(categories[t.category].name);
    json.Key("merchant");
    json.String(t.merchant);
    json.Key("direction");
    json.String(DirectionName(t.direction));
    json.Key("amount_cents");
    json.Int(t.amount_cents);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  // Kept last and separate: the only part that depends on who produced this
  // copy.
  json.Key("effect");
  json.BeginObject();
  json.Key("fencing_token");
  json.Int(static_cast<int64_t>(stamp.fencing_token));
  json.Key("worker_id");
  json.String(stamp.worker_id);
  json.Key("worker_domain");
  json.String(stamp.worker_domain);
  json.EndObject();
  json.EndObject();
  return json.Finish();
}

absl::StatusOr<std::string> GenerateReport(
    const ReportInput& input, const EffectStamp& stamp,
    std::chrono::milliseconds work_time,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<int> days = DaysInMonth(input.month);
  if (!days.ok()) return days.status();
  absl::StatusOr<std::vector<Transaction>> ledger =
      SyntheticLedger(input.account_id, input.month);
  if (!ledger.ok()) return ledger.status();

  // The simulated long-running part: short slices so cancellation (shutdown,
  // lost lease) is noticed within a few milliseconds.
  constexpr std::chrono::milliseconds kSlice(5);
  const auto deadline = std::chrono::steady_clock::now() + work_time;
  while (true) {
    if (cancelled()) return absl::CancelledError("report generation cancelled");
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, kSlice));
  }
  return ReportDocument(input, *days, Summarise(*ledger), stamp);
}

}  // namespace report
