// Fuzzes the cluster / profile loader that report-replica, report-gateway and
// reportctl run on their --cluster and profile files: the input is the file's
// text, parsed as a cluster config, as a placement profile and as either
// (Placement::ParseText, what LoadFile does).
//
// Beyond "never crash": a placement that loads keeps the rules of
// docs/PLACEMENT.md — the quorum is a majority at most the replica count, the
// declared survival level is met (every loss at that level leaves a quorum),
// every domain where deploy starts a gateway or worker passes the ingress or
// worker check, members are found by id — and printing its profile back to
// text loads the same placement.
#include <google/protobuf/text_format.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/placement.h"
#include "proto/cluster.pb.h"

namespace report {
namespace {

[[noreturn]] void Violation(const char* what, const Placement& placement) {
  std::fprintf(stderr, "placement broke a rule: %s\nprofile:\n%s\n", what,
               placement.profile().DebugString().c_str());
  std::abort();
}

void CheckPlacement(const Placement& placement, absl::string_view input) {
  const int replicas = placement.replica_count();
  if (placement.quorum() <= replicas / 2 || placement.quorum() > replicas) {
    Violation("quorum is not a majority within the replica count", placement);
  }
  if (placement.strongest_survived_level() < placement.declared_level()) {
    Violation("declared survival level not met", placement);
  }
  for (SurvivalLevel level : {PROCESS, ZONE, REGION, PROVIDER}) {
    for (const DomainLoss& loss : placement.LossesAt(level)) {
      if (loss.replicas_lost + loss.replicas_left != replicas) {
        Violation("a loss does not add up to the replica count", placement);
      }
      if (loss.quorum_survives != (loss.replicas_left >= placement.quorum())) {
        Violation("quorum_survives disagrees with the counts", placement);
      }
      if (level <= placement.declared_level() && !loss.quorum_survives) {
        Violation("a loss at the declared level loses the quorum", placement);
      }
    }
  }
  for (const std::string& domain : placement.GatewayDomains()) {
    if (!placement.CheckIngress(domain).ok()) {
      Violation("a gateway domain fails the ingress check", placement);
    }
  }
  for (const std::string& domain : placement.WorkerDomains()) {
    if (!placement.CheckWorker(domain).ok()) {
      Violation("a worker domain fails the worker check", placement);
    }
  }
  // Arbitrary text as a domain: refused or not, never a crash.
  (void)placement.CheckIngress(input.substr(0, 64));
  (void)placement.CheckWorker(input.substr(0, 64));
  (void)placement.DescribeSurvival();
  if (placement.cluster()) {
    for (const Member& member : placement.cluster()->members()) {
      const Member* found = placement.FindMember(member.id());
      if (found == nullptr || found->name() != member.name()) {
        Violation("a member is not found by its id", placement);
      }
    }
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(placement.profile(),
                                                   &text)) {
    Violation("profile does not print", placement);
  }
  absl::StatusOr<Placement> again = Placement::ParseProfileText(text);
  if (!again.ok() || again->quorum() != placement.quorum() ||
      again->strongest_survived_level() !=
          placement.strongest_survived_level()) {
    Violation("the printed profile loads differently", placement);
  }
}

}  // namespace
}  // namespace report

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using report::Placement;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (const absl::StatusOr<Placement>& placement :
       {Placement::ParseText(text), Placement::ParseProfileText(text),
        Placement::ParseClusterConfigText(text)}) {
    if (placement.ok()) {
      report::CheckPlacement(*placement, text);
    } else if (placement.status().message().empty()) {
      std::fprintf(stderr, "a refusal without a reason\n");
      std::abort();
    }
  }
  return 0;
}
