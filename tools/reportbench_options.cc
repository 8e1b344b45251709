#include "tools/reportbench_options.h"

#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/error_code.h"

namespace report {
namespace bench {
namespace {

namespace po = boost::program_options;

// The id charset of docs/API.md (request ids are 1..128 of A-Z a-z 0-9 . _ :
// -); the run id leaves room for "bench-" and the loop and sequence numbers.
constexpr size_t kMaxRunIdLength = 80;

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

absl::Status Invalid(absl::string_view detail) {
  return MakeError(ErrorCode::kInvalidArgument, detail);
}

absl::Status SplitTarget(const std::string& target, BenchOptions* options) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) {
    return Invalid(
        absl::StrCat("--target must be HOST:PORT, got '", target, "'"));
  }
  const std::string port = target.substr(colon + 1);
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 ||
      port_number > 65535 ||
      port.find_first_not_of("0123456789") != port.npos) {
    return Invalid(
        absl::StrCat("--target port must be 1..65535, got '", port, "'"));
  }
  options->host = target.substr(0, colon);
  options->port = port;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BenchOptions> ParseBenchOptions(
    const std::vector<std::string>& args, std::string* help_text) {
  BenchOptions options;
  std::string target, mode, client = "async", run_id;
  po::options_description desc(
      "reportbench: closed-loop load against a report-gateway.\n"
      "Prints one line: reportbench mode=M transport=T conc=C ops=N errors=E "
      "secs=S ops/s=X p50=Yus p90=..us p99=Zus max=..us\n"
      "Errors by code go to stderr. Exit 0 after a run (even with errors), "
      "1 if the target is unreachable, 2 on bad flags.\nOptions");
  AddTlsFlags(&desc, &options.tls);
  desc.add_options()("help,h", "this help")(
      "target", po::value(&target),
      "gateway HOST:PORT (its gRPC address, or its HTTP address with --http)")(
      "concurrency", po::value(&options.concurrency)->default_value(1),
      "operations in flight (closed loops)")(
      "seconds", po::value(&options.seconds)->default_value(10.0),
      "measured duration")(
      "warmup-seconds", po::value(&options.warmup_seconds)->default_value(0.0),
      "run this long first without measuring")(
      "mode", po::value(&mode)->default_value("submit"),
      "submit | status | e2e")("http", po::bool_switch(&options.http),
                               "HTTP/1.1 keep-alive instead of gRPC")(
      "client", po::value(&client)->default_value("async"),
      "gRPC driver: async (completion queues) | sync (thread per loop)")(
      "run-id", po::value(&run_id),
      "request id prefix part (default: UTC time and pid)")(
      "conns", po::value(&options.conns)->default_value(0),
      "gRPC channels (0: min(concurrency, 8))")(
      "poll-threads", po::value(&options.poll_threads)->default_value(2),
      "completion-queue threads of the async gRPC client")(
      "pool", po::value(&options.pool)->default_value(1000),
      "status mode: requests submitted before measuring")(
      "wait-ms", po::value(&options.wait_ms)->default_value(100),
      "GetReport wait_ms (status, e2e)")(
      "e2e-timeout-ms",
      po::value(&options.e2e_timeout_ms)->default_value(60000),
      "e2e: time allowed from submit to COMPLETED before it counts as an "
      "error");
  po::variables_map vm;
  try {
    // No positional arguments: a stray word is an error, not silently ignored.
    const po::positional_options_description no_positionals;
    po::store(po::command_line_parser(args)
                  .options(desc)
                  .positional(no_positionals)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Invalid(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << desc;
    *help_text = out.str();
    options.help = true;
    return options;
  }
  if (target.empty()) return Invalid("--target HOST:PORT is required");
  if (absl::Status s = SplitTarget(target, &options); !s.ok()) return s;
  if (options.concurrency < 1 || options.concurrency > 10000) {
    return Invalid("--concurrency must be 1..10000");
  }
  if (!(options.seconds > 0) || options.seconds > 86400) {
    return Invalid("--seconds must be > 0 and at most 86400");
  }
  if (!(options.warmup_seconds >= 0) || options.warmup_seconds > 3600) {
    return Invalid("--warmup-seconds must be 0..3600");
  }
  if (mode == "submit") {
    options.mode = BenchMode::kSubmit;
  } else if (mode == "status") {
    options.mode = BenchMode::kStatus;
  } else if (mode == "e2e") {
    options.mode = BenchMode::kE2e;
  } else {
    return Invalid(
        absl::StrCat("--mode must be submit, status or e2e, got '", mode, "'"));
  }
  if (client == "async") {
    options.client = ClientKind::kAsync;
  } else if (client == "sync") {
    options.client = ClientKind::kSync;
  } else {
    return Invalid(
        absl::StrCat("--client must be async or sync, got '", client, "'"));
  }
  if (options.http && vm.count("client") && !vm["client"].defaulted() &&
      options.client == ClientKind::kAsync) {
    return Invalid("--client async is gRPC only; --http uses sync connections");
  }
  if (options.http) options.client = ClientKind::kSync;
  if (vm.count("run-id")) {
    if (run_id.empty() || run_id.size() > kMaxRunIdLength) {
      return Invalid(
          absl::StrCat("--run-id must be 1..", kMaxRunIdLength, " characters"));
    }
    for (char c : run_id) {
      if (!IsIdChar(c)) {
        return Invalid("--run-id may only hold A-Z a-z 0-9 . _ : -");
      }
    }
    options.run_id = run_id;
  }
  if (options.conns < 0 || options.conns > 1024) {
    return Invalid("--conns must be 0..1024");
  }
  if (options.conns == 0) options.conns = std::min(options.concurrency, 8);
  if (options.poll_threads < 1 || options.poll_threads > 64) {
    return Invalid("--poll-threads must be 1..64");
  }
  if (options.pool < 1 || options.pool > 1000000) {
    return Invalid("--pool must be 1..1000000");
  }
  if (options.wait_ms < 0 || options.wait_ms > 30000) {
    return Invalid("--wait-ms must be 0..30000");
  }
  if (options.e2e_timeout_ms < 1)
    return Invalid("--e2e-timeout-ms must be > 0");
  return options;
}

absl::string_view ModeName(BenchMode mode) {
  switch (mode) {
    case BenchMode::kSubmit:
      return "submit";
    case BenchMode::kStatus:
      return "status";
    case BenchMode::kE2e:
      return "e2e";
  }
  return "?";
}

std::string DefaultRunId() {
  return absl::StrCat(
      absl::FormatTime("%Y%m%dT%H%M%S", absl::Now(), absl::UTCTimeZone()), "-",
      static_cast<long>(getpid()));
}

std::string BenchRequestId(absl::string_view run_id, int loop, uint64_t n) {
  return absl::StrCat("bench-", run_id, "-", loop, "-", n);
}

std::string BenchAccountId(uint64_t n) {
  return absl::StrCat("acct-", n % 1000);
}

std::string BenchMonth(uint64_t n) {
  return absl::StrFormat("2026-%02d", static_cast<int>(n % 12) + 1);
}

}  // namespace bench
}  // namespace report
