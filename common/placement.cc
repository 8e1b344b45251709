#include "common/placement.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error_code.h"
#include "common/hex.h"

namespace report {
namespace {

// Profiles and cluster files are small; anything bigger is not one of them.
constexpr std::uintmax_t kMaxConfigFileBytes = 1 << 20;
// Keeps error lines short when they quote hostile input.
constexpr size_t kMaxQuotedChars = 120;

absl::Status Invalid(absl::string_view detail) {
  return MakeError(ErrorCode::kInvalidArgument, detail);
}

// Text made safe for a one-line message: non-printable bytes as \xNN,
// truncated.
std::string Printable(absl::string_view text) {
  if (text.size() <= kMaxQuotedChars) return EscapeUnprintable(text);
  return EscapeUnprintable(text.substr(0, kMaxQuotedChars)) + "...";
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("'", Printable(text), "'");
}

bool IsSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Checks `text` is 1..max_segments segments of [a-z0-9-]; `what` names it in
// errors.
absl::Status ValidateSegments(absl::string_view text, size_t min_segments,
                              size_t max_segments, absl::string_view what) {
  if (text.empty()) return Invalid(absl::StrCat(what, " is empty"));
  std::vector<absl::string_view> segments = absl::StrSplit(text, '/');
  if (segments.size() < min_segments || segments.size() > max_segments) {
    return Invalid(absl::StrCat(what, " ", Quote(text), " is not ",
                                min_segments == max_segments
                                    ? "provider/region/zone"
                                    : "provider[/region[/zone]]"));
  }
  for (absl::string_view segment : segments) {
    if (segment.empty()) {
      return Invalid(
          absl::StrCat(what, " ", Quote(text), " has an empty segment"));
    }
    for (char c : segment) {
      if (!IsSegmentChar(c)) {
        return Invalid(absl::StrCat(what, " ", Quote(text),
                                    " may only contain a-z, 0-9, '-' and '/'"));
      }
    }
  }
  return absl::OkStatus();
}

std::string LevelNoun(SurvivalLevel level) {
  switch (level) {
    case PROVIDER:
      return "provider";
    case REGION:
      return "region";
    case ZONE:
      return "zone";
    default:
      return "replica process";
  }
}

// The text-format parser reports errors through this; we keep the first one, on
// one line.
class FirstParseError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!message_.empty()) return;
    line_ = line;
    message_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ",
                            Printable(message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}

  int line() const { return line_; }
  const std::string& message() const { return message_; }

 private:
  int line_ = -1;
  std::string message_;
};

struct ParseOutcome {
  bool ok = false;
  int error_line = -1;
  std::string error;
};

ParseOutcome ParseTextProto(absl::string_view text,
                            google::protobuf::Message* message) {
  google::protobuf::TextFormat::Parser parser;
  FirstParseError errors;
  parser.RecordErrorsTo(&errors);
  ParseOutcome outcome;
  outcome.ok = parser.ParseFromString(std::string(text), message);
  if (!outcome.ok) {
    outcome.error_line = errors.line();
    outcome.error = errors.message().empty() ? std::string("unparsable text")
                                             : errors.message();
  }
  return outcome;
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return Invalid(absl::StrCat("cannot read ", Quote(path), ": no such file"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Invalid(
        absl::StrCat("cannot read ", Quote(path), ": not a regular file"));
  }
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return Invalid(
        absl::StrCat("cannot read ", Quote(path), ": ", ec.message()));
  }
  if (size > kMaxConfigFileBytes) {
    return Invalid(absl::StrCat("cannot read ", Quote(path), ": ", size,
                                " bytes is too large for a placement file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Invalid(absl::StrCat("cannot read ", Quote(path),
                                ": open failed (permission?)"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return Invalid(absl::StrCat("cannot read ", Quote(path), ": read failed"));
  }
  return contents.str();
}

// Prefixes a load error with the file it came from, keeping the error code.
absl::Status InFile(const std::string& path, const absl::Status& status) {
  if (status.ok()) return status;
  return Invalid(absl::StrCat(Quote(path), ": ", ErrorDetail(status)));
}

absl::Status ValidateAllowedSet(
    const google::protobuf::RepeatedPtrField<std::string>& entries,
    absl::string_view field) {
  if (entries.empty()) return Invalid(absl::StrCat(field, " is empty"));
  for (const std::string& entry : entries) {
    absl::Status status =
        ValidateSegments(entry, 1, 3, absl::StrCat(field, " entry"));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidatePlacements(
    const google::protobuf::RepeatedPtrField<std::string>& placements,
    const google::protobuf::RepeatedPtrField<std::string>& allowed,
    absl::string_view field, absl::string_view allowed_field) {
  for (const std::string& domain : placements) {
    absl::Status status =
        ValidateSegments(domain, 3, 3, absl::StrCat(field, " entry"));
    if (!status.ok()) return status;
    if (!DomainAllowed(domain, allowed)) {
      return Invalid(absl::StrCat(field, " entry ", Quote(domain),
                                  " is not allowed by ", allowed_field));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> PlacementsOrFullEntries(
    const google::protobuf::RepeatedPtrField<std::string>& placements,
    const google::protobuf::RepeatedPtrField<std::string>& allowed) {
  std::vector<std::string> domains(placements.begin(), placements.end());
  if (!domains.empty()) return domains;
  for (const std::string& entry : allowed) {
    if (ParseFailureDomain(entry).ok()) domains.push_back(entry);
  }
  return domains;
}

}  // namespace

std::string FailureDomain::ToString() const {
  return absl::StrCat(provider, "/", region, "/", zone);
}

std::string FailureDomain::AtLevel(SurvivalLevel level) const {
  switch (level) {
    case PROVIDER:
      return provider;
    case REGION:
      return absl::StrCat(provider, "/", region);
    default:
      return ToString();
  }
}

bool FailureDomain::operator==(const FailureDomain& other) const {
  return provider == other.provider && region == other.region &&
         zone == other.zone;
}

absl::StatusOr<FailureDomain> ParseFailureDomain(absl::string_view text) {
  absl::Status status = ValidateSegments(text, 3, 3, "failure domain");
  if (!status.ok()) return status;
  std::vector<std::string> segments = absl::StrSplit(text, '/');
  return FailureDomain{segments[0], segments[1], segments[2]};
}

absl::Status ValidateDomainPattern(absl::string_view entry) {
  return ValidateSegments(entry, 1, 3, "domain entry");
}

bool DomainMatches(absl::string_view domain, absl::string_view entry) {
  if (entry.empty()) return false;
  if (domain == entry) return true;
  return domain.size() > entry.size() && absl::StartsWith(domain, entry) &&
         domain[entry.size()] == '/';
}

bool DomainAllowed(
    absl::string_view domain,
    const google::protobuf::RepeatedPtrField<std::string>& allowed) {
  for (const std::string& entry : allowed) {
    if (DomainMatches(domain, entry)) return true;
  }
  return false;
}

std::string SurvivalLevelName(SurvivalLevel level) {
  switch (level) {
    case PROCESS:
      return "PROCESS";
    case ZONE:
      return "ZONE";
    case REGION:
      return "REGION";
    case PROVIDER:
      return "PROVIDER";
    default:
      return "UNSPECIFIED";
  }
}

absl::StatusOr<Placement> Placement::FromProfile(
    const PlacementProfile& profile) {
  Placement placement;
  placement.profile_ = profile;
  const std::string label = profile.name().empty()
                                ? std::string("profile (unnamed)")
                                : absl::StrCat("profile ", profile.name());
  auto refuse = [&label](const absl::Status& status) {
    return Invalid(absl::StrCat(label, ": ", ErrorDetail(status)));
  };
  if (profile.name().empty()) {
    placement.warnings_.push_back("profile has no name");
  }

  const int replicas = profile.replica_domains_size();
  if (replicas == 0) return refuse(Invalid("replica_domains is empty"));
  for (const std::string& domain : profile.replica_domains()) {
    absl::StatusOr<FailureDomain> parsed = ParseFailureDomain(domain);
    if (!parsed.ok()) {
      return refuse(Invalid(
          absl::StrCat("replica_domains: ", ErrorDetail(parsed.status()))));
    }
  }
  absl::Status status =
      ValidateAllowedSet(profile.ingress_domains(), "ingress_domains");
  if (!status.ok()) return refuse(status);
  status = ValidateAllowedSet(profile.worker_domains(), "worker_domains");
  if (!status.ok()) return refuse(status);
  status = ValidatePlacements(profile.gateway_placements(),
                              profile.ingress_domains(), "gateway_placements",
                              "ingress_domains");
  if (!status.ok()) return refuse(status);
  status =
      ValidatePlacements(profile.worker_placements(), profile.worker_domains(),
                         "worker_placements", "worker_domains");
  if (!status.ok()) return refuse(status);

  if (profile.survives() != PROCESS && profile.survives() != ZONE &&
      profile.survives() != REGION && profile.survives() != PROVIDER) {
    return refuse(
        Invalid("survives is not set (PROCESS, ZONE, REGION or PROVIDER)"));
  }

  const int majority = replicas / 2 + 1;
  const int quorum =
      profile.quorum() == 0 ? majority : static_cast<int>(profile.quorum());
  if (profile.quorum() > static_cast<uint32_t>(replicas)) {
    return refuse(Invalid(absl::StrCat("quorum ", profile.quorum(), " > ",
                                       replicas, " replicas")));
  }
  if (quorum < majority) {
    return refuse(Invalid(absl::StrCat(
        "quorum ", quorum, " of ", replicas,
        " replicas allows two disjoint quorums; it must be at least ",
        majority)));
  }
  placement.quorum_ = quorum;

  for (const DomainLoss& loss : placement.LossesAt(profile.survives())) {
    if (loss.quorum_survives) continue;
    const std::string what =
        profile.survives() == PROCESS
            ? std::string("any one replica process")
            : absl::StrCat(LevelNoun(profile.survives()), " ", loss.domain);
    return refuse(Invalid(
        absl::StrCat("unsafe: losing ", what, " removes ", loss.replicas_lost,
                     " of ", replicas, " replicas; ", loss.replicas_left,
                     " left < quorum ", quorum, " (profile must survive ",
                     SurvivalLevelName(profile.survives()), ")")));
  }

  if (replicas % 2 == 0) {
    placement.warnings_.push_back(absl::StrCat(
        "even replica count ", replicas, ": quorum ", quorum, " tolerates ",
        replicas - quorum, " failure(s), no more than ", replicas - 1,
        " replicas would"));
  }
  if (placement.GatewayDomains().empty()) {
    placement.warnings_.push_back(
        "no gateway placement: gateway_placements is empty and ingress_domains "
        "has no full domain, so deploy starts no gateway");
  }
  if (placement.WorkerDomains().empty()) {
    placement.warnings_.push_back(
        "no worker placement: worker_placements is empty and worker_domains "
        "has no full domain, so deploy starts no worker");
  }
  return placement;
}

absl::StatusOr<Placement> Placement::FromClusterConfig(
    const ClusterConfig& config) {
  if (!config.has_placement()) {
    return Invalid("cluster config has no placement");
  }
  absl::StatusOr<Placement> placement = FromProfile(config.placement());
  if (!placement.ok()) return placement.status();

  const std::string label = absl::StrCat("cluster ", config.cluster_id().empty()
                                                         ? "(unnamed)"
                                                         : config.cluster_id());
  auto refuse = [&label](absl::string_view detail) {
    return Invalid(absl::StrCat(label, ": ", detail));
  };
  if (config.members().empty()) return refuse("members is empty");

  std::set<uint64_t> ids;
  std::set<std::string> names;
  std::set<std::string> addresses;
  std::multiset<std::string> member_domains;
  for (const Member& member : config.members()) {
    const std::string who =
        absl::StrCat("member ", member.id(), " (", Quote(member.name()), ")");
    if (member.id() == 0) {
      return refuse(absl::StrCat(who, ": id 0 is reserved (ids are non-zero)"));
    }
    if (!ids.insert(member.id()).second) {
      return refuse(absl::StrCat(who, ": duplicate member id ", member.id()));
    }
    if (member.name().empty())
      return refuse(absl::StrCat(who, ": name is empty"));
    if (!names.insert(member.name()).second) {
      return refuse(
          absl::StrCat(who, ": duplicate member name ", Quote(member.name())));
    }
    if (member.grpc_address().empty()) {
      return refuse(absl::StrCat(who, ": grpc_address is empty"));
    }
    if (!addresses.insert(member.grpc_address()).second) {
      return refuse(absl::StrCat(who, ": duplicate grpc_address ",
                                 Quote(member.grpc_address())));
    }
    absl::StatusOr<FailureDomain> domain = ParseFailureDomain(member.domain());
    if (!domain.ok()) {
      return refuse(absl::StrCat(who, ": ", ErrorDetail(domain.status())));
    }
    member_domains.insert(member.domain());
  }
  std::multiset<std::string> replica_domains(
      config.placement().replica_domains().begin(),
      config.placement().replica_domains().end());
  if (member_domains != replica_domains) {
    std::vector<std::string> members_sorted(member_domains.begin(),
                                            member_domains.end());
    std::vector<std::string> replicas_sorted(replica_domains.begin(),
                                             replica_domains.end());
    return refuse(absl::StrCat("member domains [",
                               absl::StrJoin(members_sorted, ", "),
                               "] do not match the profile's replica_domains [",
                               absl::StrJoin(replicas_sorted, ", "), "]"));
  }

  std::set<std::string> gateway_names;
  for (const GatewayEndpoint& gateway : config.gateways()) {
    const std::string who = absl::StrCat("gateway ", Quote(gateway.name()));
    if (!gateway.name().empty() &&
        !gateway_names.insert(gateway.name()).second) {
      return refuse(absl::StrCat(who, ": duplicate gateway name"));
    }
    absl::StatusOr<FailureDomain> domain = ParseFailureDomain(gateway.domain());
    if (!domain.ok()) {
      return refuse(absl::StrCat(who, ": ", ErrorDetail(domain.status())));
    }
    if (!DomainAllowed(gateway.domain(),
                       config.placement().ingress_domains())) {
      // Not an error: a read gateway serves reads and refuses every write.
      placement->warnings_.push_back(absl::StrCat(
          who, " in ", gateway.domain(),
          " is outside ingress_domains: it serves reads and answers submits "
          "and cancels DomainUnavailable"));
    }
  }
  placement->cluster_ = config;
  return placement;
}

absl::StatusOr<Placement> Placement::ParseProfileText(absl::string_view text) {
  PlacementProfile profile;
  ParseOutcome outcome = ParseTextProto(text, &profile);
  if (!outcome.ok) {
    return Invalid(absl::StrCat("not a placement profile: ", outcome.error));
  }
  return FromProfile(profile);
}

absl::StatusOr<Placement> Placement::ParseClusterConfigText(
    absl::string_view text) {
  ClusterConfig config;
  ParseOutcome outcome = ParseTextProto(text, &config);
  if (!outcome.ok) {
    return Invalid(absl::StrCat("not a cluster config: ", outcome.error));
  }
  return FromClusterConfig(config);
}

absl::StatusOr<Placement> Placement::ParseText(absl::string_view text) {
  ClusterConfig config;
  ParseOutcome as_cluster = ParseTextProto(text, &config);
  if (as_cluster.ok && (config.members_size() > 0 || config.has_placement() ||
                        !config.cluster_id().empty())) {
    return FromClusterConfig(config);
  }
  PlacementProfile profile;
  ParseOutcome as_profile = ParseTextProto(text, &profile);
  if (as_profile.ok) return FromProfile(profile);
  // Neither parses: report the error of the reading that got further, which is
  // the one the author most likely meant.
  if (!as_cluster.ok && as_cluster.error_line > as_profile.error_line) {
    return Invalid(absl::StrCat("not a cluster config: ", as_cluster.error));
  }
  return Invalid(absl::StrCat("not a placement profile or cluster config: ",
                              as_profile.error));
}

absl::StatusOr<Placement> Placement::LoadProfileFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Placement> placement = ParseProfileText(*text);
  if (!placement.ok()) return InFile(path, placement.status());
  return placement;
}

absl::StatusOr<Placement> Placement::LoadClusterConfigFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Placement> placement = ParseClusterConfigText(*text);
  if (!placement.ok()) return InFile(path, placement.status());
  return placement;
}

absl::StatusOr<Placement> Placement::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Placement> placement = ParseText(*text);
  if (!placement.ok()) return InFile(path, placement.status());
  return placement;
}

const Member* Placement::FindMember(uint64_t id) const {
  if (!cluster_.has_value()) return nullptr;
  for (const Member& member : cluster_->members()) {
    if (member.id() == id) return &member;
  }
  return nullptr;
}

absl::Status Placement::CheckIngress(absl::string_view domain) const {
  if (!ParseFailureDomain(domain).ok()) {
    return MakeError(ErrorCode::kDomainUnavailable,
                     absl::StrCat("ingress domain ", Quote(domain),
                                  " is not a valid failure domain"));
  }
  if (DomainAllowed(domain, profile_.ingress_domains()))
    return absl::OkStatus();
  return MakeError(
      ErrorCode::kDomainUnavailable,
      absl::StrCat(
          "domain ", domain, " is not an allowed ingress domain of profile ",
          name(),
          " (allowed: ", absl::StrJoin(profile_.ingress_domains(), ", "), ")"));
}

absl::Status Placement::CheckWorker(absl::string_view domain) const {
  if (!ParseFailureDomain(domain).ok()) {
    return MakeError(ErrorCode::kDomainUnavailable,
                     absl::StrCat("worker domain ", Quote(domain),
                                  " is not a valid failure domain"));
  }
  if (DomainAllowed(domain, profile_.worker_domains())) return absl::OkStatus();
  return MakeError(
      ErrorCode::kDomainUnavailable,
      absl::StrCat(
          "domain ", domain, " is not an allowed worker domain of profile ",
          name(), " (allowed: ", absl::StrJoin(profile_.worker_domains(), ", "),
          ")"));
}

std::vector<DomainLoss> Placement::LossesAt(SurvivalLevel level) const {
  const int replicas = replica_count();
  std::vector<DomainLoss> losses;
  if (level != ZONE && level != REGION && level != PROVIDER) {
    DomainLoss loss;
    loss.domain = "replica-process";
    loss.replicas_lost = replicas > 0 ? 1 : 0;
    loss.replicas_left = replicas - loss.replicas_lost;
    loss.quorum_survives = loss.replicas_left >= quorum_;
    losses.push_back(loss);
    return losses;
  }
  std::map<std::string, size_t> index_of;
  for (const std::string& text : profile_.replica_domains()) {
    absl::StatusOr<FailureDomain> domain = ParseFailureDomain(text);
    if (!domain.ok()) continue;  // unreachable for a validated placement
    std::string key = domain->AtLevel(level);
    auto [it, inserted] = index_of.emplace(key, losses.size());
    if (inserted) {
      DomainLoss loss;
      loss.domain = key;
      losses.push_back(loss);
    }
    ++losses[it->second].replicas_lost;
  }
  for (DomainLoss& loss : losses) {
    loss.replicas_left = replicas - loss.replicas_lost;
    loss.quorum_survives = loss.replicas_left >= quorum_;
  }
  return losses;
}

SurvivalLevel Placement::strongest_survived_level() const {
  for (SurvivalLevel level : {PROVIDER, REGION, ZONE, PROCESS}) {
    std::vector<DomainLoss> losses = LossesAt(level);
    bool survives = std::all_of(
        losses.begin(), losses.end(),
        [](const DomainLoss& loss) { return loss.quorum_survives; });
    if (survives) return level;
  }
  return SURVIVAL_LEVEL_UNSPECIFIED;
}

std::string Placement::DescribeSurvival() const {
  const int replicas = replica_count();
  const int tolerated = replicas - quorum_;
  const std::string quorum_text =
      absl::StrCat("quorum ", quorum_, " of ", replicas);
  const SurvivalLevel level = strongest_survived_level();
  if (level == SURVIVAL_LEVEL_UNSPECIFIED) {
    return absl::StrCat("survives: no single replica loss; ", quorum_text);
  }
  const std::string processes = absl::StrCat(
      "any ", tolerated, " replica process", tolerated == 1 ? "" : "es");
  if (level == PROCESS) {
    return absl::StrCat("survives: loss of ", processes, "; ", quorum_text);
  }
  std::vector<std::string> domains;
  for (const DomainLoss& loss : LossesAt(level)) domains.push_back(loss.domain);
  return absl::StrCat("survives: loss of any one ", LevelNoun(level), " (",
                      absl::StrJoin(domains, ", "), ") or of ", processes, "; ",
                      quorum_text);
}

std::vector<std::string> Placement::GatewayDomains() const {
  return PlacementsOrFullEntries(profile_.gateway_placements(),
                                 profile_.ingress_domains());
}

std::vector<std::string> Placement::WorkerDomains() const {
  return PlacementsOrFullEntries(profile_.worker_placements(),
                                 profile_.worker_domains());
}

}  // namespace report
