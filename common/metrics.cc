#include "common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace report::metrics {
namespace {

enum Type { kCounter, kGauge, kHistogram };

const char* TypeName(int type) {
  switch (type) {
    case kCounter:
      return "counter";
    case kGauge:
      return "gauge";
    default:
      return "histogram";
  }
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        (allow_colon && c == ':') ||
        (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

// Adds `delta` to an atomic double (no fetch_add for doubles before C++20).
void AtomicAdd(std::atomic<double>* target, double delta) {
  double current = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(current, current + delta,
                                        std::memory_order_relaxed)) {
  }
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The shortest text that parses back to `value` (Go's strconv 'g' style, as
// Prometheus prints).
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  for (int precision = 6; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

// {a="x",b="y"} plus an optional extra label (a histogram's le), or "" when
// there is no label at all.
std::string LabelText(const std::vector<std::string>& names,
                      const LabelValues& values,
                      const char* extra_name = nullptr,
                      const std::string& extra_value = "") {
  if (names.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (extra_name != nullptr) {
    if (!names.empty()) out.push_back(',');
    absl::StrAppend(&out, extra_name, "=\"", EscapeLabelValue(extra_value),
                    "\"");
  }
  out.push_back('}');
  return out;
}

}  // namespace

void CheckLabelCount(size_t expected, size_t got) {
  CHECK_EQ(expected, got) << "metric label values do not match its label names";
}

void Gauge::Add(double delta) { AtomicAdd(&value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  CHECK(std::is_sorted(bounds_.begin(), bounds_.end()) &&
        std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end())
      << "histogram bounds must increase strictly";
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  // The first bound >= value: a bucket's upper bound is inclusive.
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) -
      bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, value);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
}

std::vector<double> FsyncBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};
}

struct Registry::Entry {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<std::string> label_names;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
  std::vector<double> bounds;  // histograms
  std::function<std::vector<Sample>()> collect;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry* Registry::Declare(
    const std::string& name, const std::string& help, int type,
    const std::vector<std::string>& label_names) {
  CHECK(ValidName(name, /*allow_colon=*/true)) << "bad metric name " << name;
  CHECK(type != kCounter || absl::EndsWith(name, "_total"))
      << "counter " << name << " must end in _total";
  for (const std::string& label : label_names) {
    CHECK(ValidName(label, /*allow_colon=*/false) &&
          !absl::StartsWith(label, "__") &&
          !(type == kHistogram && label == "le"))
        << "bad label name " << label << " of " << name;
  }
  for (const auto& entry : entries_) {
    if (entry->name != name) continue;
    CHECK(entry->type == type && entry->label_names == label_names &&
          !entry->collect)
        << "metric " << name << " declared twice differently";
    return entry.get();
  }
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = type;
  entry->label_names = label_names;
  entries_.push_back(std::move(entry));
  return entries_.back().get();
}

Family<Counter>* Registry::AddCounter(const std::string& name,
                                      const std::string& help,
                                      std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry* entry = Declare(name, help, kCounter, label_names);
  if (entry->counters == nullptr) {
    entry->counters.reset(new Family<Counter>(std::move(label_names)));
  }
  return entry->counters.get();
}

Family<Gauge>* Registry::AddGauge(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry* entry = Declare(name, help, kGauge, label_names);
  if (entry->gauges == nullptr) {
    entry->gauges.reset(new Family<Gauge>(std::move(label_names)));
  }
  return entry->gauges.get();
}

Family<Histogram>* Registry::AddHistogram(const std::string& name,
                                          const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Entry* entry = Declare(name, help, kHistogram, label_names);
  if (entry->histograms == nullptr) {
    entry->bounds = bounds;
    entry->histograms.reset(
        new Family<Histogram>(std::move(label_names), std::move(bounds)));
  } else {
    CHECK(entry->bounds == bounds)
        << "histogram " << name << " declared twice with other buckets";
  }
  return entry->histograms.get();
}

void Registry::AddCallbackGauge(const std::string& name,
                                const std::string& help,
                                std::vector<std::string> label_names,
                                std::function<std::vector<Sample>()> collect) {
  absl::MutexLock lock(&mu_);
  Entry* entry = Declare(name, help, kGauge, label_names);
  CHECK(entry->gauges == nullptr) << "metric " << name << " declared twice";
  entry->collect = std::move(collect);
}

void Registry::AddCallbackCounter(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names,
    std::function<std::vector<Sample>()> collect) {
  absl::MutexLock lock(&mu_);
  Entry* entry = Declare(name, help, kCounter, label_names);
  CHECK(entry->counters == nullptr) << "metric " << name << " declared twice";
  entry->collect = std::move(collect);
}

std::string Registry::RenderPrometheus() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& entry : entries_) {
    absl::StrAppend(&out, "# HELP ", entry->name, " ", EscapeHelp(entry->help),
                    "\n# TYPE ", entry->name, " ", TypeName(entry->type), "\n");
    const std::vector<std::string>& names = entry->label_names;
    if (entry->collect) {
      for (const Sample& sample : entry->collect()) {
        if (sample.labels.size() != names.size()) continue;
        absl::StrAppend(&out, entry->name, LabelText(names, sample.labels), " ",
                        FormatValue(sample.value), "\n");
      }
    } else if (entry->counters != nullptr) {
      absl::MutexLock family_lock(&entry->counters->mu_);
      for (const auto& [labels, counter] : entry->counters->metrics_) {
        absl::StrAppend(&out, entry->name, LabelText(names, labels), " ",
                        counter->value(), "\n");
      }
    } else if (entry->gauges != nullptr) {
      absl::MutexLock family_lock(&entry->gauges->mu_);
      for (const auto& [labels, gauge] : entry->gauges->metrics_) {
        absl::StrAppend(&out, entry->name, LabelText(names, labels), " ",
                        FormatValue(gauge->value()), "\n");
      }
    } else if (entry->histograms != nullptr) {
      absl::MutexLock family_lock(&entry->histograms->mu_);
      for (const auto& [labels, histogram] : entry->histograms->metrics_) {
        const std::vector<uint64_t> counts = histogram->CumulativeCounts();
        for (size_t i = 0; i < entry->bounds.size(); ++i) {
          absl::StrAppend(
              &out, entry->name, "_bucket",
              LabelText(names, labels, "le", FormatValue(entry->bounds[i])),
              " ", counts[i], "\n");
        }
        absl::StrAppend(&out, entry->name, "_bucket",
                        LabelText(names, labels, "le", "+Inf"), " ",
                        counts.back(), "\n");
        absl::StrAppend(&out, entry->name, "_sum", LabelText(names, labels),
                        " ", FormatValue(histogram->sum()), "\n");
        absl::StrAppend(&out, entry->name, "_count", LabelText(names, labels),
                        " ", counts.back(), "\n");
      }
    }
  }
  return out;
}

namespace {

// Fields of /proc/self/stat after the command name: [0] is the state (field
// 3), so field N of proc(5) is at N - 3.
std::vector<std::string> ProcSelfStat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return {};
  return absl::StrSplit(line.substr(paren + 2), ' ', absl::SkipEmpty());
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

double StatField(const std::vector<std::string>& fields, size_t field) {
  double value = 0;
  if (field >= 3 && field - 3 < fields.size()) {
    (void)absl::SimpleAtod(fields[field - 3], &value);
  }
  return value;
}

std::vector<Sample> One(double value) { return {Sample{{}, value}}; }

}  // namespace

void AddProcessMetrics(Registry* registry) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  registry->AddCallbackCounter(
      "process_cpu_seconds_total", "Total user and system CPU time spent.", {},
      [ticks] {
        const std::vector<std::string> stat = ProcSelfStat();
        // utime (14) + stime (15), in clock ticks.
        return One((StatField(stat, 14) + StatField(stat, 15)) / ticks);
      });
  registry->AddCallbackGauge(
      "process_resident_memory_bytes", "Resident memory size in bytes.", {},
      [page_size] { return One(StatField(ProcSelfStat(), 24) * page_size); });
  registry->AddCallbackGauge("process_virtual_memory_bytes",
                             "Virtual memory size in bytes.", {},
                             [] { return One(StatField(ProcSelfStat(), 23)); });
  registry->AddCallbackGauge(
      "process_open_fds", "Number of open file descriptors.", {}, [] {
        double open = 0;
        if (DIR* dir = opendir("/proc/self/fd")) {
          while (dirent* entry = readdir(dir)) {
            if (entry->d_name[0] != '.') ++open;
          }
          closedir(dir);
          --open;  // the directory stream's own descriptor
        }
        return One(open);
      });
  registry->AddCallbackGauge(
      "process_max_fds", "Maximum number of open file descriptors.", {}, [] {
        rlimit files{};
        getrlimit(RLIMIT_NOFILE, &files);
        return One(static_cast<double>(files.rlim_cur));
      });
  // starttime (22) is in clock ticks since boot.
  const double start =
      BootTimeSeconds() + StatField(ProcSelfStat(), 22) / ticks;
  registry->AddCallbackGauge(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.", {},
      [start] { return One(start); });
}

}  // namespace report::metrics
