#include "tools/wan_latency.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace report::wan {
namespace {

std::vector<std::string> Segments(const std::string& domain) {
  return absl::StrSplit(domain, '/');
}

std::string Region(const std::string& domain) {
  std::vector<std::string> parts = Segments(domain);
  if (parts.size() < 2) return domain;
  return absl::StrCat(parts[0], "/", parts[1]);
}

bool Usable(double ms) { return std::isfinite(ms) && ms >= 0 && ms < 60000; }

int CeilTicks(double ms, int tick_ms) {
  return static_cast<int>(std::ceil(ms / tick_ms - 1e-9));
}

}  // namespace

absl::Status ValidateLatencyTable(const LatencyTable& table) {
  const std::pair<const char*, double> levels[] = {
      {"same_zone_rtt_ms", table.same_zone_rtt_ms()},
      {"cross_zone_rtt_ms", table.cross_zone_rtt_ms()},
      {"cross_region_rtt_ms", table.cross_region_rtt_ms()},
      {"cross_provider_rtt_ms", table.cross_provider_rtt_ms()},
      {"jitter_ms", table.jitter_ms()}};
  for (const auto& [name, ms] : levels) {
    if (!Usable(ms)) {
      return absl::InvalidArgumentError(
          absl::StrCat("latency.", name, " must be in [0, 60000) ms"));
    }
  }
  for (const RegionRtt& pair : table.region_rtt()) {
    for (const std::string& region : {pair.a(), pair.b()}) {
      std::vector<std::string> parts = Segments(region);
      if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "latency.region_rtt: '", region, "' is not provider/region"));
      }
    }
    if (!Usable(pair.rtt_ms())) {
      return absl::InvalidArgumentError(
          absl::StrCat("latency.region_rtt ", pair.a(), " ", pair.b(),
                       ": rtt_ms must be in [0, 60000)"));
    }
  }
  return absl::OkStatus();
}

double RoundTripMs(const LatencyTable& table, const std::string& a,
                   const std::string& b) {
  if (a == b) return table.same_zone_rtt_ms();
  const std::string region_a = Region(a), region_b = Region(b);
  if (region_a == region_b) return table.cross_zone_rtt_ms();
  for (const RegionRtt& pair : table.region_rtt()) {
    if ((pair.a() == region_a && pair.b() == region_b) ||
        (pair.a() == region_b && pair.b() == region_a)) {
      return pair.rtt_ms();
    }
  }
  if (Segments(a)[0] == Segments(b)[0]) return table.cross_region_rtt_ms();
  return table.cross_provider_rtt_ms();
}

ConsensusTiming DeriveTiming(const PlacementProfile& profile) {
  ConsensusTiming timing;
  const LatencyTable& table = profile.latency();
  for (int i = 0; i < profile.replica_domains_size(); ++i) {
    for (int j = i + 1; j < profile.replica_domains_size(); ++j) {
      timing.slowest_replica_rtt_ms =
          std::max(timing.slowest_replica_rtt_ms,
                   RoundTripMs(table, profile.replica_domains(i),
                               profile.replica_domains(j)));
    }
  }
  const double rtt = timing.slowest_replica_rtt_ms;
  const double heartbeat_ms =
      table.heartbeat_ms() > 0 ? table.heartbeat_ms() : rtt;
  const double election_ms =
      table.election_timeout_ms() > 0 ? table.election_timeout_ms() : 10 * rtt;
  timing.heartbeat_ticks = std::max(2, CeilTicks(heartbeat_ms, timing.tick_ms));
  timing.election_ticks = std::max(
      {10, CeilTicks(election_ms, timing.tick_ms), timing.heartbeat_ticks + 1});
  return timing;
}

double QuorumRoundTripMs(const PlacementProfile& profile,
                         const std::string& leader_domain) {
  const int replicas = profile.replica_domains_size();
  const int quorum = profile.quorum() > 0 ? static_cast<int>(profile.quorum())
                                          : replicas / 2 + 1;
  std::vector<double> others;
  bool skipped_self = false;
  for (const std::string& domain : profile.replica_domains()) {
    if (!skipped_self && domain == leader_domain) {
      skipped_self = true;
      continue;
    }
    others.push_back(RoundTripMs(profile.latency(), leader_domain, domain));
  }
  std::sort(others.begin(), others.end());
  if (quorum <= 1 || others.empty()) return 0;
  return others[std::min<size_t>(quorum - 2, others.size() - 1)];
}

}  // namespace report::wan
