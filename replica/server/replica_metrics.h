// What a replica process exports besides the metrics of its log writer and
// state machine (docs/OPERATIONS.md): its consensus gauges, read from
// Replica::Status() at every scrape, and its readiness.
#ifndef REPORT_REPLICA_SERVER_REPLICA_METRICS_H_
#define REPORT_REPLICA_SERVER_REPLICA_METRICS_H_

#include "absl/status/status.h"
#include "common/metrics.h"
#include "proto/cluster.pb.h"
#include "proto/replica_service.pb.h"
#include "replica/server/replica.h"

namespace report {

// Declares report_replica_role{role}, report_replica_epoch,
// report_replica_commit_index, report_replica_applied_index,
// report_replica_last_index, report_replica_first_index,
// report_replica_snapshot_index, report_replica_leader_known and
// report_replication_lag_entries{peer} (leader only; peers by member name).
// `replica` must outlive the registry's last rendering.
void ExportReplicaMetrics(const Replica* replica, const ClusterConfig& cluster,
                          metrics::Registry* registry);

// Ready: a leader is known and everything known committed is applied.
// Otherwise NoQuorum with the reason.
absl::Status ReplicaReadiness(const ClusterStatusResponse& status);

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_REPLICA_METRICS_H_
