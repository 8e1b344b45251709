#include "replica/server/replica_metrics.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {
namespace {

using metrics::Sample;

// The roles Status() reports; each gets a sample (1 for the current one) so
// that a role change shows as one series going to 0 and another to 1.
constexpr const char* kRoles[] = {"leader", "follower", "candidate",
                                  "pre-candidate"};

std::vector<Sample> One(double value) { return {Sample{{}, value}}; }

}  // namespace

void ExportReplicaMetrics(const Replica* replica, const ClusterConfig& cluster,
                          metrics::Registry* registry) {
  std::map<uint64_t, std::string> names;
  for (const Member& member : cluster.members()) {
    names[member.id()] = member.name();
  }
  registry->AddCallbackGauge(
      "report_replica_role",
      "1 for this replica's current consensus role, 0 for the others.",
      {"role"}, [replica] {
        const std::string role = replica->Status().role();
        std::vector<Sample> samples;
        bool known = false;
        for (const char* name : kRoles) {
          samples.push_back({{name}, role == name ? 1.0 : 0.0});
          known = known || role == name;
        }
        if (!known) samples.push_back({{role}, 1});
        return samples;
      });
  registry->AddCallbackGauge(
      "report_replica_epoch", "This replica's current epoch (term).", {},
      [replica] {
        return One(static_cast<double>(replica->Status().epoch()));
      });
  registry->AddCallbackGauge(
      "report_replica_leader_known",
      "1 when this replica knows a leader of its current epoch, else 0.", {},
      [replica] { return One(replica->Status().leader_id() != 0 ? 1 : 0); });
  registry->AddCallbackGauge(
      "report_replica_commit_index",
      "Highest log index this replica knows to be committed.", {}, [replica] {
        return One(static_cast<double>(replica->Status().commit_offset()));
      });
  registry->AddCallbackGauge(
      "report_replica_applied_index",
      "Highest log index applied to this replica's state machine.", {},
      [replica] {
        return One(static_cast<double>(replica->Status().applied_offset()));
      });
  registry->AddCallbackGauge(
      "report_replica_last_index", "Highest log index this replica holds.", {},
      [replica] {
        return One(static_cast<double>(replica->Status().last_offset()));
      });
  registry->AddCallbackGauge(
      "report_replica_first_index",
      "First log index this replica still holds (entries below it were "
      "compacted into a snapshot).",
      {}, [replica] {
        return One(static_cast<double>(replica->Status().first_index()));
      });
  registry->AddCallbackGauge(
      "report_replica_snapshot_index",
      "Log index of this replica's latest snapshot (0: none).", {}, [replica] {
        return One(static_cast<double>(replica->Status().snapshot_index()));
      });
  registry->AddCallbackGauge(
      "report_replication_lag_entries",
      "On the leader: entries each follower's log is behind the leader's.",
      {"peer"}, [replica, names, self = replica->Status().id()] {
        const ClusterStatusResponse status = replica->Status();
        std::vector<Sample> samples;
        if (status.role() != "leader") return samples;
        for (const FollowerProgress& follower : status.followers()) {
          if (follower.id() == self) continue;
          auto name = names.find(follower.id());
          const double lag = status.last_offset() > follower.match_offset()
                                 ? static_cast<double>(status.last_offset() -
                                                       follower.match_offset())
                                 : 0.0;
          samples.push_back(
              {{name != names.end() ? name->second
                                    : absl::StrCat(follower.id())},
               lag});
        }
        return samples;
      });
}

absl::Status ReplicaReadiness(const ClusterStatusResponse& status) {
  if (status.leader_id() == 0) {
    return MakeError(ErrorCode::kNoQuorum,
                     absl::StrCat("no leader known in epoch ", status.epoch()));
  }
  if (status.applied_offset() < status.commit_offset()) {
    return MakeError(ErrorCode::kNoQuorum,
                     absl::StrCat("applied ", status.applied_offset(),
                                  " of committed ", status.commit_offset()));
  }
  return absl::OkStatus();
}

}  // namespace report
