// The round trip between two failure domains under a profile's latency table,
// and the consensus timing that fits the slowest replica pair: what `reportctl
// placement latency` prints and `deploy/cluster.sh up --wan` applies
// (docs/PERFORMANCE.md "Across hosts and WANs").
#ifndef REPORT_TOOLS_WAN_LATENCY_H_
#define REPORT_TOOLS_WAN_LATENCY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/cluster.pb.h"

namespace report::wan {

// InvalidArgument for a negative or non-finite figure, or a region_rtt entry
// whose regions are not "provider/region".
absl::Status ValidateLatencyTable(const LatencyTable& table);

// The round trip between hosts in domains `a` and `b` ("provider/region/zone").
double RoundTripMs(const LatencyTable& table, const std::string& a,
                   const std::string& b);

// Replica flags: --tick-ms, --election-ticks, --heartbeat-ticks.
struct ConsensusTiming {
  int tick_ms = 50;
  int heartbeat_ticks = 2;
  int election_ticks = 10;
  double slowest_replica_rtt_ms = 0;
};

// The table's heartbeat_ms / election_timeout_ms when set; otherwise a
// heartbeat of about one round trip of the slowest replica pair and an election
// timeout of at least ten (the replica randomizes it up to twice that), never
// below the replica's defaults (100 ms, 500 ms).
ConsensusTiming DeriveTiming(const PlacementProfile& profile);

// The one-way delay each direction of a pair gets: half the round trip.
inline double OneWayMs(double rtt_ms) { return rtt_ms / 2; }

// The smallest commit latency the placement allows a leader in `leader_domain`:
// the round trip to the (quorum-1)-th nearest other replica (0 for a quorum of
// one).
double QuorumRoundTripMs(const PlacementProfile& profile,
                         const std::string& leader_domain);

}  // namespace report::wan

#endif  // REPORT_TOOLS_WAN_LATENCY_H_
