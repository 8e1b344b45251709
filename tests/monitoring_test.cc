// Observability of a real cluster started through deploy/cluster.sh: every
// process's admin routes, its /metrics as promtool judges them, the shipped
// alert rules, and a real Prometheus (cluster.sh up --monitoring) that scrapes
// every process and fires ReplicaDown when a replica is killed.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/local_cluster.h"

namespace report::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// curl's exit code; the body (or curl's error) in *body, the HTTP status in
// *status.
int Curl(const std::string& url, std::string* body, int* status) {
  std::string output;
  const int code = RunCommand(
      absl::StrCat("curl -sS -m 5 -w '\\n%{http_code}' '", url, "'"), &output);
  const size_t newline = output.rfind('\n');
  *status = newline == std::string::npos
                ? 0
                : std::atoi(output.c_str() + newline + 1);
  *body = newline == std::string::npos ? output : output.substr(0, newline);
  return code;
}

std::string Get(const std::string& url, int* status) {
  std::string body;
  Curl(url, &body, status);
  return body;
}

// The # TYPE lines must name these families on every process of a kind (before
// any sample, too).
const std::map<std::string, std::vector<std::string>>& RequiredFamilies() {
  static const auto* families =
      new std::map<std::string, std::vector<std::string>>{
          {"replica",
           {"report_replica_role gauge", "report_replica_epoch gauge",
            "report_replica_commit_index gauge",
            "report_replica_applied_index gauge",
            "report_replica_first_index gauge",
            "report_replica_snapshot_index gauge",
            "report_replication_lag_entries gauge",
            "report_fsync_seconds histogram", "report_requests gauge",
            "report_oldest_unfinished_age_seconds gauge",
            "report_grpc_server_started_total counter",
            "report_grpc_server_handled_total counter"}},
          {"gateway",
           {"report_gateway_requests_total counter",
            "report_gateway_submit_latency_seconds histogram",
            "report_gateway_status_latency_seconds histogram",
            "report_grpc_server_handled_total counter"}},
          {"worker", {"report_worker_effects_total counter"}},
      };
  return *families;
}

TEST(MonitoringTest,
     EveryProcessServesAdminRoutesAndPromtoolAcceptsItsMetrics) {
  LocalCluster cluster("cross-provider");
  std::string error;
  ASSERT_TRUE(cluster.Up(&error)) << error;
  std::set<std::string> kinds;
  for (const ProcessInfo& process : cluster.Processes()) {
    SCOPED_TRACE(process.name);
    ASSERT_NE(process.http_address, "-")
        << "endpoints shows no HTTP_ADDR for " << process.name;
    kinds.insert(process.kind);
    const std::string base = absl::StrCat("http://", process.http_address);
    int status = 0;
    Get(base + "/healthz", &status);
    EXPECT_EQ(status, 200);
    std::string ready;
    EXPECT_TRUE(WaitUntil(
        [&] {
          ready = Get(base + "/readyz", &status);
          return status == 200;
        },
        absl::Seconds(20)))
        << "last /readyz: " << status << " " << ready;

    const std::string metrics = Get(base + "/metrics", &status);
    ASSERT_EQ(status, 200);
    for (const char* family :
         {"process_cpu_seconds_total counter",
          "process_resident_memory_bytes gauge", "process_open_fds gauge",
          "process_start_time_seconds gauge", "report_ready gauge"}) {
      EXPECT_TRUE(absl::StrContains(metrics, absl::StrCat("# TYPE ", family)))
          << family;
    }
    for (const std::string& family : RequiredFamilies().at(process.kind)) {
      EXPECT_TRUE(absl::StrContains(metrics, "# TYPE " + family)) << family;
    }
    EXPECT_TRUE(absl::StrContains(metrics, "\nreport_ready 1\n"));
    if (process.kind == "replica") {
      EXPECT_TRUE(
          absl::StrContains(metrics, "\nreport_replica_first_index 1\n"));
      EXPECT_TRUE(
          absl::StrContains(metrics, "report_replica_role{role=\"leader\"} "));
    }
    const std::string file =
        absl::StrCat(cluster.dir(), "/", process.name, ".metrics");
    ASSERT_EQ(RunCommand(absl::StrCat("curl -fsS -m 5 -o '", file, "' ", base,
                                      "/metrics")),
              0);
    std::string verdict;
    EXPECT_EQ(RunCommand(absl::StrCat("promtool check metrics < '", file, "'"),
                         &verdict),
              0)
        << verdict;
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"replica", "gateway", "worker"}));

  // The leader alone reports replication lag, one series per follower.
  absl::StatusOr<std::string> leader = cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(leader.ok()) << leader.status();
  int status = 0;
  const std::string leader_metrics =
      Get(absl::StrCat("http://", cluster.Process(*leader).http_address,
                       "/metrics"),
          &status);
  EXPECT_TRUE(absl::StrContains(leader_metrics,
                                "report_replica_role{role=\"leader\"} 1\n"));
  for (const Member& member : cluster.config().members()) {
    if (member.name() == *leader) continue;
    EXPECT_TRUE(absl::StrContains(
        leader_metrics, absl::StrCat("report_replication_lag_entries{peer=\"",
                                     member.name(), "\"} ")))
        << member.name() << "\n"
        << leader_metrics;
  }
}

TEST(MonitoringTest, ShippedAlertRulesPassPromtool) {
  std::string verdict;
  EXPECT_EQ(RunCommand(absl::StrCat("promtool check rules ", SourceDir(),
                                    "/deploy/monitoring/alerts.yml"),
                       &verdict),
            0)
      << verdict;
}

// GET `url` as JSON; an empty Struct when it does not parse.
Struct GetJson(const std::string& url) {
  int status = 0;
  const std::string body = Get(url, &status);
  Struct parsed;
  if (!google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) {
    return Struct();
  }
  return parsed;
}

const Value& Field(const Struct& object, const std::string& name) {
  static const Value* empty = new Value();
  auto it = object.fields().find(name);
  return it == object.fields().end() ? *empty : it->second;
}

TEST(MonitoringTest, PrometheusScrapesEveryProcessAndFiresReplicaDown) {
  LocalCluster cluster("cross-provider",
                       "--monitoring --scrape-interval 1s --alert-for 2s");
  std::string error;
  ASSERT_TRUE(cluster.Up(&error)) << error;
  std::string prometheus;
  std::set<std::string> scraped_names;
  for (const ProcessInfo& process : cluster.Processes()) {
    if (process.kind == "prometheus") {
      prometheus = absl::StrCat("http://", process.http_address);
      EXPECT_GT(process.pid, 0);
    }
    scraped_names.insert(process.name);
  }
  ASSERT_FALSE(prometheus.empty()) << "endpoints lists no prometheus";

  // Every process is a target, and every target is up.
  std::string last;
  EXPECT_TRUE(WaitUntil(
      [&] {
        const Struct targets = GetJson(prometheus + "/api/v1/targets");
        std::set<std::string> up;
        last.clear();
        for (const Value& target :
             Field(Field(targets, "data").struct_value(), "activeTargets")
                 .list_value()
                 .values()) {
          const Struct& fields = target.struct_value();
          const std::string name =
              Field(Field(fields, "labels").struct_value(), "name")
                  .string_value();
          const std::string health = Field(fields, "health").string_value();
          absl::StrAppend(&last, name, "=", health, " ");
          if (health == "up") up.insert(name);
        }
        return up == scraped_names;
      },
      absl::Seconds(30)))
      << "targets: " << last;

  // Prometheus's own evaluation of the shipped alerts: ReplicaDown fires for
  // the killed replica.
  const std::string victim = cluster.config().members(1).name();
  cluster.Kill(victim);
  std::string alerts_seen;
  EXPECT_TRUE(WaitUntil(
      [&] {
        const Struct alerts = GetJson(prometheus + "/api/v1/alerts");
        alerts_seen.clear();
        bool fired = false;
        for (const Value& alert :
             Field(Field(alerts, "data").struct_value(), "alerts")
                 .list_value()
                 .values()) {
          const Struct& fields = alert.struct_value();
          const Struct& labels = Field(fields, "labels").struct_value();
          const std::string name = Field(labels, "alertname").string_value();
          const std::string state = Field(fields, "state").string_value();
          const std::string who = Field(labels, "name").string_value();
          absl::StrAppend(&alerts_seen, name, "/", who, "/", state, " ");
          if (name == "ReplicaDown" && who == victim && state == "firing") {
            fired = true;
          }
        }
        return fired;
      },
      absl::Seconds(30)))
      << "alerts: " << alerts_seen;
}

}  // namespace
}  // namespace report::testing
