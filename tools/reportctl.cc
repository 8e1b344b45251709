// reportctl: the operator and user CLI (docs/OPERATIONS.md).
//
//   reportctl VERB [ARGS...]
//
// Each verb is a function taking the arguments after the verb and returning the
// exit code; it parses its own flags with Boost.Program_options. Exit codes are
// shared by all verbs: 0 success, 1 an error reported by the system (one line
// "error: Code: detail" on stderr, the code from docs/API.md), 2 bad usage.
#include <algorithm>
#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_code.h"
#include "common/json_writer.h"
#include "common/placement.h"
#include "common/version.h"
#include "glog/logging.h"
#include "tools/reportctl_output.h"
#include "tools/reportctl_verbs.h"
#include "tools/wan_latency.h"

namespace report {
namespace {

namespace po = boost::program_options;

using reportctl::kExitOk;
using reportctl::kExitUsage;
using reportctl::ReportError;

using Args = std::vector<std::string>;

struct Verb {
  const char* name;
  const char* synopsis;
  int (*run)(const Args& args);
};

int UsageError(absl::string_view message, absl::string_view help_hint) {
  std::cerr << "error: " << message << " (see " << help_hint << ")\n";
  return kExitUsage;
}

// --- placement ---------------------------------------------------------------

std::vector<std::string> LossLines(const Placement& placement) {
  std::vector<std::string> lines;
  const SurvivalLevel level = placement.declared_level();
  for (const DomainLoss& loss : placement.LossesAt(level)) {
    const std::string what =
        level == PROCESS
            ? std::string("any one replica process")
            : absl::StrCat(absl::AsciiStrToLower(SurvivalLevelName(level)), " ",
                           loss.domain);
    lines.push_back(absl::StrCat(
        "losing ", what, " removes ", loss.replicas_lost, " of ",
        placement.replica_count(), " replicas; ", loss.replicas_left, " left ",
        loss.quorum_survives ? ">=" : "<", " quorum ", placement.quorum(),
        loss.quorum_survives ? ": ok" : ": UNSAFE"));
  }
  return lines;
}

void PrintPlacementText(const std::string& file, const Placement& placement) {
  const PlacementProfile& profile = placement.profile();
  std::cout << "profile:   "
            << (profile.name().empty() ? "(unnamed)" : profile.name());
  if (!profile.description().empty())
    std::cout << " - " << profile.description();
  std::cout << "\n";
  if (placement.cluster().has_value()) {
    const ClusterConfig& cluster = *placement.cluster();
    std::cout << "cluster:   "
              << (cluster.cluster_id().empty() ? "(unnamed)"
                                               : cluster.cluster_id())
              << " (" << cluster.members_size() << " members, "
              << cluster.gateways_size() << " gateways) from " << file << "\n";
    std::cout << "replicas:  " << placement.replica_count() << "\n";
    for (const Member& member : cluster.members()) {
      std::cout << "  " << member.id() << "  " << member.name() << "  "
                << member.domain() << "  " << member.grpc_address() << "\n";
    }
  } else {
    std::cout << "file:      " << file << "\n";
    std::cout << "replicas:  " << placement.replica_count() << "\n";
    int index = 1;
    for (const std::string& domain : profile.replica_domains()) {
      std::cout << "  " << index++ << "  " << domain << "\n";
    }
  }
  std::cout << "quorum:    " << placement.quorum() << " of "
            << placement.replica_count()
            << (profile.quorum() == 0 ? " (majority)" : "") << "\n";
  std::cout << "ingress:   " << absl::StrJoin(profile.ingress_domains(), ", ")
            << "\n";
  std::cout << "workers:   " << absl::StrJoin(profile.worker_domains(), ", ")
            << "\n";
  std::cout << "gateways placed in: "
            << absl::StrJoin(placement.GatewayDomains(), ", ") << "\n";
  std::cout << "workers placed in:  "
            << absl::StrJoin(placement.WorkerDomains(), ", ") << "\n";
  std::cout << "must survive: " << SurvivalLevelName(placement.declared_level())
            << "\n";
  for (const std::string& line : LossLines(placement))
    std::cout << "  " << line << "\n";
  std::cout << placement.DescribeSurvival() << "\n";
  for (const std::string& warning : placement.warnings()) {
    std::cout << "warning: " << warning << "\n";
  }
  std::cout << "ok: placement is safe\n";
}

int PrintPlacementJson(const std::string& file, const Placement& placement) {
  JsonWriter json;
  json.BeginObject();
  json.Key("ok").Bool(true);
  json.Key("file").String(file);
  json.Key("kind").String(placement.cluster().has_value() ? "cluster"
                                                          : "profile");
  json.Key("profile").Message(placement.profile());
  if (placement.cluster().has_value()) {
    json.Key("cluster").Message(*placement.cluster());
  }
  json.Key("replicas").Int(placement.replica_count());
  json.Key("quorum").Int(placement.quorum());
  json.Key("must_survive")
      .String(SurvivalLevelName(placement.declared_level()));
  json.Key("strongest_survived")
      .String(SurvivalLevelName(placement.strongest_survived_level()));
  json.Key("losses").BeginArray();
  for (const DomainLoss& loss :
       placement.LossesAt(placement.declared_level())) {
    json.BeginObject();
    json.Key("domain").String(loss.domain);
    json.Key("replicas_lost").Int(loss.replicas_lost);
    json.Key("replicas_left").Int(loss.replicas_left);
    json.Key("quorum_survives").Bool(loss.quorum_survives);
    json.EndObject();
  }
  json.EndArray();
  json.Key("gateway_domains").StringList(placement.GatewayDomains());
  json.Key("worker_domains").StringList(placement.WorkerDomains());
  json.Key("survives").String(placement.DescribeSurvival());
  json.Key("warnings").StringList(placement.warnings());
  json.EndObject();
  std::cout << json.Finish() << std::flush;
  return kExitOk;
}

int RunPlacementCheck(const std::string& file, bool json) {
  absl::StatusOr<Placement> placement = Placement::LoadFile(file);
  if (!placement.ok()) {
    if (json) {
      JsonWriter out;
      out.BeginObject();
      out.Key("ok").Bool(false);
      out.Key("file").String(file);
      out.Key("code").String(ErrorCodeName(ErrorCodeOf(placement.status())));
      out.Key("error").String(ErrorDetail(placement.status()));
      out.EndObject();
      std::cout << out.Finish() << std::flush;
    }
    return ReportError(placement.status());
  }
  if (json) return PrintPlacementJson(file, *placement);
  PrintPlacementText(file, *placement);
  return kExitOk;
}

// Round trips between the domains (the profile's placed ones unless given), the
// consensus timing and the commit floor per leader domain
// (tools/wan_latency.h).
int RunPlacementLatency(const std::string& file,
                        std::vector<std::string> domains) {
  absl::StatusOr<Placement> placement = Placement::LoadFile(file);
  if (!placement.ok()) return ReportError(placement.status());
  const PlacementProfile& profile = placement->profile();
  if (absl::Status valid = wan::ValidateLatencyTable(profile.latency());
      !valid.ok()) {
    return ReportError(valid);
  }
  if (domains.empty()) {
    for (const auto* list :
         {&profile.replica_domains(), &profile.gateway_placements(),
          &profile.worker_placements()}) {
      for (const std::string& domain : *list) {
        if (std::find(domains.begin(), domains.end(), domain) == domains.end())
          domains.push_back(domain);
      }
    }
  }
  for (const std::string& domain : domains) {
    if (std::count(domain.begin(), domain.end(), '/') != 2) {
      return ReportError(absl::InvalidArgumentError(
          absl::StrCat("'", domain, "' is not a domain provider/region/zone")));
    }
  }
  for (const std::string& a : domains) {
    for (const std::string& b : domains) {
      std::cout << "rtt " << a << " " << b << " "
                << wan::RoundTripMs(profile.latency(), a, b) << "\n";
    }
  }
  const wan::ConsensusTiming timing = wan::DeriveTiming(profile);
  std::cout << "timing --tick-ms " << timing.tick_ms << " --heartbeat-ticks "
            << timing.heartbeat_ticks << " --election-ticks "
            << timing.election_ticks << "\n";
  std::cout << "jitter " << profile.latency().jitter_ms() << "\n";
  for (const std::string& domain : profile.replica_domains()) {
    std::cout << "quorum_rtt " << domain << " "
              << wan::QuorumRoundTripMs(profile, domain) << "\n";
  }
  return kExitOk;
}

constexpr char kPlacementUsage[] =
    "usage: reportctl placement check FILE [--json]\n"
    "       reportctl placement latency FILE [DOMAIN...]\n"
    "\n"
    "Validates a placement profile (deploy/profiles/*.textproto) or a cluster "
    "file\n"
    "(cluster.textproto written by deploy/cluster.sh): prints the replicas, "
    "quorum,\n"
    "allowed ingress and worker domains, and which failures the replica set "
    "survives.\n"
    "\n"
    "examples:\n"
    "  reportctl placement check deploy/profiles/cross-provider.textproto\n"
    "  reportctl placement check .cluster/cluster.textproto --json\n"
    "\n"
    "latency prints, from the profile's latency table, one line per pair of\n"
    "DOMAINs (default: every domain the profile places) \"rtt A B MS\", then\n"
    "\"timing --tick-ms T --heartbeat-ticks H --election-ticks E\" (replica "
    "flags\n"
    "that fit the slowest replica pair), \"jitter MS\" and, per replica "
    "domain,\n"
    "\"quorum_rtt DOMAIN MS\" (a leader there waits at least this per "
    "commit).\n"
    "\n"
    "exit status: 0 the placement is safe, 1 it is invalid or unsafe (one "
    "line\n"
    "\"error: InvalidArgument: <reason>\" on stderr), 2 bad usage.\n";

int RunPlacement(const Args& args) {
  po::options_description options("placement options");
  options.add_options()("help,h", "print this help")(
      "json", po::bool_switch(), "print the result as JSON on stdout");
  po::options_description hidden;
  hidden.add_options()("action", po::value<std::string>())(
      "file", po::value<std::string>())("domains",
                                        po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("action", 1).add("file", 1).add("domains", -1);
  po::variables_map vars;
  try {
    po::store(
        po::command_line_parser(args).options(all).positional(positional).run(),
        vars);
    po::notify(vars);
  } catch (const po::error& e) {
    return UsageError(e.what(), "reportctl placement --help");
  }
  if (vars.count("help")) {
    std::cout << kPlacementUsage << "\n" << options;
    return kExitOk;
  }
  if (!vars.count("action")) {
    return UsageError("placement needs an action: check or latency",
                      "reportctl placement --help");
  }
  const std::string action = vars["action"].as<std::string>();
  if (action == "latency" && vars.count("file")) {
    return RunPlacementLatency(
        vars["file"].as<std::string>(),
        vars.count("domains") ? vars["domains"].as<std::vector<std::string>>()
                              : std::vector<std::string>{});
  }
  if (vars.count("domains")) {
    return UsageError("placement check takes one FILE",
                      "reportctl placement --help");
  }
  if (action != "check") {
    return UsageError(absl::StrCat("unknown placement action '", action, "'"),
                      "reportctl placement --help");
  }
  if (!vars.count("file")) {
    return UsageError("placement check needs a FILE",
                      "reportctl placement --help");
  }
  return RunPlacementCheck(vars["file"].as<std::string>(),
                           vars["json"].as<bool>());
}

// --- dispatch ----------------------------------------------------------------

// One row per verb; `submit`, `status` and `cluster` join here.
constexpr Verb kVerbs[] = {
    {"submit",
     "submit --request-id ID --account ACCT --month YYYY-MM [--json]   submit "
     "a report",
     reportctl::RunSubmit},
    {"status",
     "status ID [--min-offset N] [--wait DURATION] [--json]   read or follow a "
     "report",
     reportctl::RunStatus},
    {"cancel", "cancel ID [--json]   cancel a report (answers its state)",
     reportctl::RunCancel},
    {"list",
     "list --account ACCT [--state S] [--page-size N] [--all] [--json]   an "
     "account's reports, newest first",
     reportctl::RunList},
    {"cluster",
     "cluster [--cluster FILE] [--json]   each replica's role, leader, epoch, "
     "offsets, digest (exit 1 when no replica is leader)",
     reportctl::RunCluster},
    {"placement",
     "placement check FILE [--json]   validate a profile or cluster file",
     RunPlacement},
};

void PrintUsage(std::ostream& out) {
  out << "usage: reportctl VERB [ARGS...]   (reportctl VERB --help for a "
         "verb's flags)\n"
      << "\nverbs:\n";
  for (const Verb& verb : kVerbs) out << "  " << verb.synopsis << "\n";
  out << "\nThe gateway is --gateway HOST:PORT, else $REPORT_GATEWAY, else "
         "the first\ngateway of --cluster FILE (default "
         ".cluster/cluster.textproto).\n"
      << "\nexamples:\n"
         "  reportctl submit --request-id r1 --account acct-1 --month "
         "2026-04\n"
         "  reportctl status r1 --wait 5m\n"
         "  reportctl cluster --json\n"
         "  reportctl placement check deploy/profiles/multi-az.textproto\n"
      << "\nexit status (docs/OPERATIONS.md): 0 success, 1 error (\"error: "
         "Code: detail\"\non stderr), 2 bad usage, 3 status --wait: FAILED, 4 "
         "status --wait: still\nunfinished when the wait ran out, 5 the "
         "gateway is unreachable; cluster exits 1\nwhen no replica is "
         "leader.\n";
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  const std::string verb_name = argv[1];
  if (verb_name == "--version" || verb_name == "version") {
    std::cout << "reportctl " << VersionString() << std::endl;
    return kExitOk;
  }
  if (verb_name == "--help" || verb_name == "-h" || verb_name == "help") {
    PrintUsage(std::cout);
    return kExitOk;
  }
  for (const Verb& verb : kVerbs) {
    if (verb_name == verb.name) return verb.run(Args(argv + 2, argv + argc));
  }
  return UsageError(absl::StrCat("unknown verb '", verb_name, "'"),
                    "reportctl --help");
}

}  // namespace
}  // namespace report

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  google::InitGoogleLogging(argv[0]);
  return report::Main(argc, argv);
}
