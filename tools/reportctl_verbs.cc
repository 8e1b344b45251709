#include "tools/reportctl_verbs.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "boost/program_options.hpp"
#include "client/cluster_client.h"
#include "common/error_code.h"
#include "common/json_writer.h"
#include "common/placement.h"
#include "common/transport_security.h"
#include "proto/report_api.grpc.pb.h"
#include "tools/reportctl_output.h"

namespace report::reportctl {
namespace {

namespace po = boost::program_options;

constexpr char kDefaultClusterFile[] = ".cluster/cluster.textproto";

int UsageError(const std::string& message, const std::string& verb) {
  std::cerr << "error: " << message << " (see reportctl " << verb
            << " --help)\n";
  return kExitUsage;
}

absl::StatusOr<ClusterConfig> LoadCluster(const std::string& path) {
  auto placement = Placement::LoadClusterConfigFile(path);
  if (!placement.ok()) return placement.status();
  return *placement->cluster();
}

// --gateway, else $REPORT_GATEWAY, else the first gateway of the cluster file.
absl::StatusOr<std::string> ResolveGateway(const std::string& flag,
                                           const std::string& cluster_file) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("REPORT_GATEWAY");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  auto cluster = LoadCluster(cluster_file);
  if (!cluster.ok()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("no --gateway, no $REPORT_GATEWAY, and no cluster file: ",
                     cluster.status().message()));
  }
  if (cluster->gateways_size() == 0) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("cluster file ", cluster_file, " lists no gateway"));
  }
  return cluster->gateways(0).grpc_address();
}

// Mutual TLS as the operator (docs/SECURITY.md): --tls-dir or --tls-*, else
// $REPORT_TLS_DIR, else tls/ beside the cluster file, else .cluster/tls; when
// none of them holds operator.pem, plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> OperatorCredentials(
    const TlsFlags& tls, const std::string& cluster_file) {
  std::vector<std::string> dirs;
  const size_t slash = cluster_file.rfind('/');
  dirs.push_back(slash == std::string::npos
                     ? std::string("tls")
                     : cluster_file.substr(0, slash) + "/tls");
  dirs.push_back(".cluster/tls");
  auto security = TransportSecurity::ForTool(tls, "operator", dirs);
  if (!security.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, security.status().message());
  }
  return (*security)->ChannelCredentials();
}

std::unique_ptr<api::ReportApi::Stub> GatewayStub(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return api::ReportApi::NewStub(grpc::CreateChannel(address, credentials));
}

// --api-key, else $REPORT_API_KEY: sent as "authorization: Bearer KEY".
void AddApiKey(const std::string& flag, grpc::ClientContext* context) {
  std::string key = flag;
  if (key.empty()) {
    if (const char* env = std::getenv("REPORT_API_KEY"); env != nullptr) {
      key = env;
    }
  }
  if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
}

struct Parsed {
  po::variables_map vars;
  bool help = false;
};

// Parses args; on a usage error prints it and returns nullopt with *exit_code
// set.
std::optional<Parsed> Parse(
    const std::vector<std::string>& args, const std::string& verb,
    const std::string& usage, po::options_description& options,
    const po::positional_options_description& positional,
    po::options_description& hidden, int* exit_code) {
  po::options_description all;
  all.add(options).add(hidden);
  Parsed parsed;
  try {
    po::store(
        po::command_line_parser(args).options(all).positional(positional).run(),
        parsed.vars);
    if (parsed.vars.count("help")) {
      std::cout << usage << "\n" << options;
      *exit_code = kExitOk;
      return std::nullopt;
    }
    po::notify(parsed.vars);
  } catch (const po::error& error) {
    *exit_code = UsageError(error.what(), verb);
    return std::nullopt;
  }
  return parsed;
}

constexpr char kSubmitUsage[] =
    "usage: reportctl submit --request-id ID --account ACCT --month YYYY-MM "
    "[--json]\n"
    "\n"
    "Submits a report request through a gateway and prints its receipt once "
    "the\n"
    "request is committed. Submitting the same ID and payload again is safe: "
    "the\n"
    "answer is the original receipt, marked duplicate.\n"
    "\n"
    "examples:\n"
    "  reportctl submit --request-id r1 --account acct-1 --month 2026-04\n"
    "  reportctl submit --request-id r1 --account acct-1 --month 2026-04 "
    "--json\n"
    "  reportctl submit --gateway 10.0.0.5:7100 --request-id r2 --account a "
    "--month 2026-05\n"
    "\n"
    "exit status: 0 accepted (or a duplicate), 1 refused (\"error: Code: "
    "detail\"),\n"
    "2 bad usage, 5 gateway unreachable.\n";

constexpr char kStatusUsage[] =
    "usage: reportctl status ID [--min-offset N] [--wait DURATION] "
    "[--linearizable] [--json]\n"
    "\n"
    "Reads a request's status, at least as fresh as --min-offset (the "
    "receipt's\n"
    "accepted_offset). With --wait it follows the request until it ends or "
    "the\n"
    "wait runs out, printing one line per state it sees (with --json one JSON\n"
    "object per line: JSON Lines); on a terminal a progress line on stderr "
    "shows\n"
    "the state, the time waited, the attempt and the worker.\n"
    "\n"
    "examples:\n"
    "  reportctl status r1\n"
    "  reportctl status r1 --min-offset 42 --json\n"
    "  reportctl status r1 --wait 5m && echo done\n"
    "  reportctl status r1 --wait 30s --json | jq -r .state\n"
    "\n"
    "exit status: 0 read (with --wait: COMPLETED), 1 error, 2 bad usage,\n"
    "3 FAILED or CANCELLED, 4 still unfinished when the wait ran out, 5 "
    "gateway unreachable.\n";

constexpr char kCancelUsage[] =
    "usage: reportctl cancel ID [--json]\n"
    "\n"
    "Cancels a report request through a gateway in an ingress domain and "
    "prints\n"
    "its status afterwards: ACCEPTED becomes CANCELLED at once; a RUNNING one\n"
    "shows cancel_requested and ends CANCELLED when its worker next extends "
    "its\n"
    "lease (COMPLETED if the worker had already produced the report); a "
    "finished\n"
    "one answers its state. Cancelling again is harmless.\n"
    "\n"
    "examples:\n"
    "  reportctl cancel r1\n"
    "  reportctl cancel r1 && reportctl status r1 --wait 30s\n"
    "\n"
    "exit status: 0 answered, 1 error (NotFound for an unknown id), 2 bad "
    "usage,\n"
    "5 gateway unreachable.\n";

constexpr char kListUsage[] =
    "usage: reportctl list --account ACCT [--state S] [--page-size N]\n"
    "                      [--page-token T | --all] [--min-offset N] [--json]\n"
    "\n"
    "Lists an account's report requests, newest first, one page (--page-size,\n"
    "default 50) or every page (--all). Without --all, when more remain the\n"
    "token of the next page is printed on stderr. --state ACCEPTED|RUNNING|\n"
    "COMPLETED|FAILED|CANCELLED keeps only that state (e.g. the failed ones).\n"
    "\n"
    "examples:\n"
    "  reportctl list --account acct-1\n"
    "  reportctl list --account acct-1 --state FAILED --all --json | jq -r "
    ".request_id\n"
    "\n"
    "exit status: 0 listed, 1 error, 2 bad usage, 5 gateway unreachable.\n";

constexpr char kClusterUsage[] =
    "usage: reportctl cluster [--cluster FILE] [--timeout D] [--json]\n"
    "\n"
    "Asks every replica of the cluster file for its view: role, the leader it\n"
    "follows, epoch, commit and applied offsets, lag behind the leader, state\n"
    "digest; and why a replica did not answer.\n"
    "\n"
    "examples:\n"
    "  reportctl cluster\n"
    "  reportctl cluster --cluster /tmp/c/cluster.textproto --timeout 3s\n"
    "  reportctl cluster >/dev/null || echo 'no leader'\n"
    "  reportctl cluster --json | jq '.replicas[] | {name, role}'\n"
    "\n"
    "exit status: 0 a replica is leader, 1 none is (or the file is bad), 2 bad "
    "usage.\n"
    "\n"
    "  reportctl cluster transfer-leader NAME   hand leadership to NAME (see "
    "reportctl cluster transfer-leader --help)\n";

constexpr char kTransferLeaderUsage[] =
    "usage: reportctl cluster transfer-leader NAME [--cluster FILE] "
    "[--timeout D] [--json]\n"
    "\n"
    "Asks the leader to hand leadership to replica NAME (operator "
    "certificate)\n"
    "and returns once NAME leads. Meanwhile the leader accepts no new entries\n"
    "and brings NAME up to its last one; NAME then takes over at once, in the\n"
    "next epoch, without waiting for an election timeout. Use it before\n"
    "stopping the leader for maintenance.\n"
    "\n"
    "examples:\n"
    "  reportctl cluster transfer-leader replica-2\n"
    "  reportctl cluster transfer-leader replica-3 --cluster /tmp/c/"
    "cluster.textproto\n"
    "\n"
    "exit status: 0 NAME leads, 1 it did not take over (down, cut off, or not\n"
    "caught up within an election timeout: the old leader leads on; or no\n"
    "leader answered within --timeout), 2 bad usage.\n";

int RunTransferLeader(const std::vector<std::string>& args) {
  std::string cluster_file, timeout_text, target;
  po::options_description options("transfer-leader options");
  options.add_options()("help,h", "print this help")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file (written by deploy/cluster.sh up)")(
      "timeout", po::value<std::string>(&timeout_text)->default_value("10s"),
      "how long to try")("json", "print the new leader's status as JSON");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  hidden.add_options()("target", po::value<std::string>(&target));
  po::positional_options_description positional;
  positional.add("target", 1);
  int exit_code = 0;
  auto parsed = Parse(args, "cluster transfer-leader", kTransferLeaderUsage,
                      options, positional, hidden, &exit_code);
  if (!parsed) return exit_code;
  if (target.empty()) {
    return UsageError("transfer-leader needs the NAME of a replica",
                      "cluster transfer-leader");
  }
  absl::Duration timeout;
  if (!absl::ParseDuration(timeout_text, &timeout) ||
      timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be a positive duration like 10s",
                      "cluster transfer-leader");
  }
  auto cluster = LoadCluster(cluster_file);
  if (!cluster.ok()) return ReportError(cluster.status());
  bool known = false;
  for (const Member& member : cluster->members()) {
    known |= member.name() == target;
  }
  if (!known) {
    return ReportError(MakeError(
        ErrorCode::kInvalidArgument,
        absl::StrCat("no replica named '", target, "' in ", cluster_file)));
  }
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  ClusterClient client(*cluster, "", *credentials);
  const absl::Time start = absl::Now();
  auto answer = client.TransferLeader(target, timeout);
  if (!answer.ok()) return ReportError(answer.status());
  if (parsed->vars.count("json")) {
    std::cout << MessageToJsonLine(*answer) << std::endl;
  } else {
    std::cout << target << " leads (epoch " << answer->epoch() << ", after "
              << absl::FormatDuration(absl::Now() - start) << ")\n";
  }
  return kExitOk;
}

}  // namespace

int RunSubmit(const std::vector<std::string>& args) {
  std::string gateway, cluster_file, request_id, account, month, timeout_text,
      api_key;
  po::options_description options("submit options");
  options.add_options()("help,h", "print this help")(
      "request-id", po::value<std::string>(&request_id)->required(),
      "idempotency key")(
      "account", po::value<std::string>(&account)->required(), "account id")(
      "month", po::value<std::string>(&month)->required(),
      "report month YYYY-MM")("gateway", po::value<std::string>(&gateway),
                              "gateway gRPC HOST:PORT")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file used to find a gateway")(
      "timeout", po::value<std::string>(&timeout_text)->default_value("15s"),
      "how long to wait for the commit")("json", "print the receipt as JSON")(
      "api-key", po::value<std::string>(&api_key),
      "API key for a gateway started with --api-keys (default "
      "$REPORT_API_KEY)");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  po::positional_options_description positional;
  int exit_code = 0;
  auto parsed = Parse(args, "submit", kSubmitUsage, options, positional, hidden,
                      &exit_code);
  if (!parsed) return exit_code;
  absl::Duration timeout;
  if (!absl::ParseDuration(timeout_text, &timeout) ||
      timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be a positive duration like 15s",
                      "submit");
  }
  auto address = ResolveGateway(gateway, cluster_file);
  if (!address.ok()) return ReportError(address.status());
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  api::SubmitReportRequest request;
  request.set_request_id(request_id);
  request.set_account_id(account);
  request.set_month(month);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  AddApiKey(api_key, &context);
  Receipt receipt;
  grpc::Status status = GatewayStub(*address, *credentials)
                            ->SubmitReport(&context, request, &receipt);
  if (!status.ok()) return ReportError(GatewayCallError(status, *address));
  if (parsed->vars.count("json")) {
    std::cout << MessageToJsonLine(receipt) << std::endl;
  } else {
    std::cout << (receipt.duplicate() ? "duplicate of " : "accepted ")
              << receipt.request_id() << " at offset "
              << receipt.accepted_offset() << " (epoch " << receipt.epoch()
              << "); status: " << receipt.status_path() << std::endl;
  }
  return kExitOk;
}

int RunStatus(const std::vector<std::string>& args) {
  std::string gateway, cluster_file, request_id, wait_text, api_key;
  uint64_t min_offset = 0;
  po::options_description options("status options");
  options.add_options()("help,h", "print this help")(
      "min-offset", po::value<uint64_t>(&min_offset)->default_value(0),
      "read state at an applied offset >= this (a receipt's accepted_offset)")(
      "wait", po::value<std::string>(&wait_text),
      "follow the request until COMPLETED/FAILED or this long (e.g. 30s); "
      "exits 0 on COMPLETED, 3 on FAILED or CANCELLED, 4 if still "
      "unfinished")("linearizable",
                    "confirm through the leader (ReadIndex): the answer "
                    "reflects every commit made before the read")(
      "gateway", po::value<std::string>(&gateway), "gateway gRPC HOST:PORT")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file used to find a gateway")("json",
                                             "print the status as JSON")(
      "api-key", po::value<std::string>(&api_key),
      "API key for a gateway started with --api-keys (default "
      "$REPORT_API_KEY)");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  hidden.add_options()("id", po::value<std::string>(&request_id));
  po::positional_options_description positional;
  positional.add("id", 1);
  int exit_code = 0;
  auto parsed = Parse(args, "status", kStatusUsage, options, positional, hidden,
                      &exit_code);
  if (!parsed) return exit_code;
  if (request_id.empty())
    return UsageError("status needs a request ID", "status");
  absl::Duration wait = absl::ZeroDuration();
  if (!wait_text.empty() &&
      (!absl::ParseDuration(wait_text, &wait) || wait < absl::ZeroDuration())) {
    return UsageError("--wait must be a duration like 30s", "status");
  }
  auto address = ResolveGateway(gateway, cluster_file);
  if (!address.ok()) return ReportError(address.status());
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  auto stub = GatewayStub(*address, *credentials);
  const bool json = parsed->vars.count("json") > 0;
  const bool waiting = !wait_text.empty();
  // The live progress line is for a person at a terminal: never in --json
  // output, never when stderr goes to a file or a pipe.
  const bool progress = waiting && !json && isatty(STDERR_FILENO) == 1;
  bool progress_shown = false;
  auto clear_progress = [&] {
    if (progress_shown) std::cerr << "\r\033[K" << std::flush;
    progress_shown = false;
  };
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + wait;
  bool printed_any = false;
  RequestState last_state = REQUEST_STATE_UNSPECIFIED;
  while (true) {
    api::GetReportRequest request;
    request.set_request_id(request_id);
    request.set_min_offset(min_offset);
    if (parsed->vars.count("linearizable")) {
      request.set_consistency(LINEARIZABLE);
    }
    absl::Duration left =
        std::max(absl::ZeroDuration(), deadline - absl::Now());
    // On a terminal the progress line is redrawn at least once a second.
    const absl::Duration longest_poll =
        progress ? absl::Seconds(1) : absl::Seconds(5);
    request.set_wait_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(
        std::min(std::max(left, absl::Seconds(1)), longest_poll))));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    AddApiKey(api_key, &context);
    api::ReportStatus status;
    grpc::Status rpc = stub->GetReport(&context, request, &status);
    if (!rpc.ok()) {
      absl::Status error = GatewayCallError(rpc, *address);
      ErrorCode code = ErrorCodeOf(error);
      // While waiting, a gateway that restarts or a cluster between leaders
      // is waited out; a plain read reports it at once.
      bool retry =
          waiting &&
          (code == ErrorCode::kStaleRead || code == ErrorCode::kNoQuorum ||
           code == ErrorCode::kOverloaded || IsGatewayUnreachable(error));
      if (!retry || absl::Now() >= deadline) {
        clear_progress();
        return ReportError(error);
      }
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    // Reads never go back in time: later reads ask for at least what we have
    // seen.
    min_offset = std::max(min_offset, status.served_offset());
    const bool terminal = status.state() == COMPLETED ||
                          status.state() == FAILED ||
                          status.state() == CANCELLED;
    // One line (or one JSON object: JSON Lines) per observed state.
    if (!printed_any || status.state() != last_state) {
      clear_progress();
      if (json) {
        std::cout << MessageToJsonLine(status) << std::endl;
      } else {
        std::cout << StatusLine(status) << std::endl;
      }
      printed_any = true;
      last_state = status.state();
    }
    if (!waiting) return kExitOk;  // a plain read: any state is fine
    if (terminal || absl::Now() >= deadline) {
      clear_progress();
      if (status.state() == COMPLETED) return kExitOk;
      return status.state() == FAILED || status.state() == CANCELLED
                 ? kExitFailed
                 : kExitStillRunning;
    }
    if (progress) {
      std::cerr << "\r\033[K" << ProgressLine(status, absl::Now() - start)
                << std::flush;
      progress_shown = true;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

int RunCancel(const std::vector<std::string>& args) {
  std::string gateway, cluster_file, request_id, api_key;
  po::options_description options("cancel options");
  options.add_options()("help,h", "print this help")(
      "gateway", po::value<std::string>(&gateway), "gateway gRPC HOST:PORT")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file used to find a gateway")("json",
                                             "print the status as JSON")(
      "api-key", po::value<std::string>(&api_key),
      "API key for a gateway started with --api-keys (default "
      "$REPORT_API_KEY)");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  hidden.add_options()("id", po::value<std::string>(&request_id));
  po::positional_options_description positional;
  positional.add("id", 1);
  int exit_code = 0;
  auto parsed = Parse(args, "cancel", kCancelUsage, options, positional, hidden,
                      &exit_code);
  if (!parsed) return exit_code;
  if (request_id.empty())
    return UsageError("cancel needs a request ID", "cancel");
  auto address = ResolveGateway(gateway, cluster_file);
  if (!address.ok()) return ReportError(address.status());
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  api::CancelReportRequest request;
  request.set_request_id(request_id);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
  AddApiKey(api_key, &context);
  api::ReportStatus status;
  grpc::Status rpc = GatewayStub(*address, *credentials)
                         ->CancelReport(&context, request, &status);
  if (!rpc.ok()) return ReportError(GatewayCallError(rpc, *address));
  if (parsed->vars.count("json")) {
    std::cout << MessageToJsonLine(status) << std::endl;
  } else {
    std::cout << StatusLine(status) << std::endl;
  }
  return kExitOk;
}

int RunList(const std::vector<std::string>& args) {
  std::string gateway, cluster_file, account, state_text, page_token, api_key;
  uint32_t page_size = 0;
  uint64_t min_offset = 0;
  po::options_description options("list options");
  options.add_options()("help,h", "print this help")(
      "account", po::value<std::string>(&account)->required(), "account id")(
      "state", po::value<std::string>(&state_text),
      "only this state: ACCEPTED, RUNNING, COMPLETED, FAILED or CANCELLED")(
      "page-size", po::value<uint32_t>(&page_size)->default_value(0),
      "reports per page (0: the gateway's default, 50; at most 500)")(
      "page-token", po::value<std::string>(&page_token),
      "start at this page (the token a previous page gave)")(
      "all", "follow every page to the end")(
      "min-offset", po::value<uint64_t>(&min_offset)->default_value(0),
      "list from state at an applied offset >= this")(
      "gateway", po::value<std::string>(&gateway), "gateway gRPC HOST:PORT")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file used to find a gateway")(
      "json", "one JSON object per report (JSON Lines)")(
      "api-key", po::value<std::string>(&api_key),
      "API key for a gateway started with --api-keys (default "
      "$REPORT_API_KEY)");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  po::positional_options_description positional;
  int exit_code = 0;
  auto parsed =
      Parse(args, "list", kListUsage, options, positional, hidden, &exit_code);
  if (!parsed) return exit_code;
  RequestState state = REQUEST_STATE_UNSPECIFIED;
  if (!state_text.empty() && (!RequestState_Parse(state_text, &state) ||
                              state == REQUEST_STATE_UNSPECIFIED)) {
    return UsageError(
        "--state must be ACCEPTED, RUNNING, COMPLETED, FAILED or CANCELLED",
        "list");
  }
  auto address = ResolveGateway(gateway, cluster_file);
  if (!address.ok()) return ReportError(address.status());
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  auto stub = GatewayStub(*address, *credentials);
  const bool json = parsed->vars.count("json") > 0;
  const bool all = parsed->vars.count("all") > 0;
  while (true) {
    api::ListReportsRequest request;
    request.set_account_id(account);
    request.set_state(state);
    request.set_page_size(page_size);
    request.set_page_token(page_token);
    request.set_min_offset(min_offset);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
    AddApiKey(api_key, &context);
    api::ListReportsResponse page;
    grpc::Status rpc = stub->ListReports(&context, request, &page);
    if (!rpc.ok()) return ReportError(GatewayCallError(rpc, *address));
    for (const api::ReportStatus& status : page.reports()) {
      // Later pages are read no older than this one.
      min_offset = std::max(min_offset, status.served_offset());
      std::cout << (json ? MessageToJsonLine(status) : StatusLine(status))
                << "\n";
    }
    std::cout << std::flush;
    page_token = page.next_page_token();
    if (page_token.empty()) return kExitOk;
    if (!all) {
      std::cerr << "next page: --page-token " << page_token << "\n";
      return kExitOk;
    }
  }
}

int RunCluster(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "transfer-leader") {
    return RunTransferLeader(
        std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::string cluster_file, timeout_text;
  po::options_description options("cluster options");
  options.add_options()("help,h", "print this help")(
      "cluster",
      po::value<std::string>(&cluster_file)->default_value(kDefaultClusterFile),
      "cluster file (written by deploy/cluster.sh up)")(
      "timeout", po::value<std::string>(&timeout_text)->default_value("1s"),
      "per-replica timeout")("json", "print every replica's status as JSON");
  TlsFlags tls;
  AddTlsFlags(&options, &tls);
  po::options_description hidden;
  po::positional_options_description positional;
  int exit_code = 0;
  auto parsed = Parse(args, "cluster", kClusterUsage, options, positional,
                      hidden, &exit_code);
  if (!parsed) return exit_code;
  absl::Duration timeout;
  if (!absl::ParseDuration(timeout_text, &timeout) ||
      timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be a positive duration like 1s",
                      "cluster");
  }
  auto cluster = LoadCluster(cluster_file);
  if (!cluster.ok()) return ReportError(cluster.status());
  auto credentials = OperatorCredentials(tls, cluster_file);
  if (!credentials.ok()) return ReportError(credentials.status());
  ClusterClient client(*cluster, "", *credentials);
  auto views = client.ClusterStatus(timeout);
  uint64_t leader_commit = 0;
  bool leader_known = false;
  int reachable = 0;
  std::map<uint64_t, std::string> names;  // replica id -> name
  for (const Member& member : cluster->members()) {
    names[member.id()] = member.name();
  }
  for (const auto& [member, view] : views) {
    if (!view.ok()) continue;
    ++reachable;
    if (view->role() == "leader") {
      leader_commit = view->commit_offset();
      leader_known = true;
    }
  }
  // A script asking "is the cluster up?" gets its answer from the exit code.
  auto verdict = [&] {
    if (leader_known) return kExitOk;
    return ReportError(
        MakeError(ErrorCode::kNoQuorum,
                  absl::StrCat("no replica is leader (", reachable, " of ",
                               views.size(), " reachable)")));
  };
  if (parsed->vars.count("json")) {
    JsonWriter out;
    out.BeginObject().Key("cluster_id").String(cluster->cluster_id());
    out.Key("replicas").BeginArray();
    for (const auto& [member, view] : views) {
      if (view.ok()) {
        out.Message(*view);
      } else {
        ClusterStatusResponse down;
        down.set_id(member.id());
        down.set_name(member.name());
        down.set_domain(member.domain());
        down.set_role("unreachable");
        out.Message(down);
      }
    }
    out.EndArray().EndObject();
    std::cout << out.Finish() << std::flush;
    return verdict();
  }
  std::cout << std::left << std::setw(11) << "REPLICA" << std::setw(34)
            << "DOMAIN" << std::setw(14) << "ROLE" << std::setw(11) << "LEADER"
            << std::setw(7) << "EPOCH" << std::setw(9) << "COMMIT"
            << std::setw(9) << "APPLIED" << std::setw(7) << "LAG"
            << std::setw(9) << "FIRST" << std::setw(9) << "SNAPSHOT"
            << "DIGEST\n";
  for (const auto& [member, view] : views) {
    std::cout << std::left << std::setw(11) << member.name() << std::setw(34)
              << member.domain();
    if (!view.ok()) {
      // Why, in a few words (gRPC's own code: the replica never answered).
      std::string why(view.status().message());
      if (why.size() > 80) why = why.substr(0, 77) + "...";
      std::cout << "unreachable ("
                << absl::StatusCodeToString(view.status().code()) << ": " << why
                << ")\n";
      continue;
    }
    auto leader = names.find(view->leader_id());
    uint64_t lag = leader_commit > view->applied_offset()
                       ? leader_commit - view->applied_offset()
                       : 0;
    std::cout << std::setw(14) << view->role() << std::setw(11)
              << (leader == names.end() ? "-" : leader->second) << std::setw(7)
              << view->epoch() << std::setw(9) << view->commit_offset()
              << std::setw(9) << view->applied_offset() << std::setw(7) << lag
              << std::setw(9) << view->first_index() << std::setw(9)
              << view->snapshot_index() << view->state_digest().substr(0, 16)
              << "\n";
  }
  return verdict();
}

}  // namespace report::reportctl
