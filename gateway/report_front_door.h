// The gateway's transport-independent front door (docs/API.md): what POST
// /reports, GET /reports/{id} and the gRPC ReportApi all do, whatever carried
// the request.
//
// A submission is validated, then admitted only when this gateway's own domain
// is an allowed ingress domain (placement is authorization: when the check
// fails, or cannot be made, the submission fails closed with DomainUnavailable
// and the cluster is never asked), then handed to the cluster, which answers
// once it is quorum-committed. Status reads are served from replicated state at
// an applied offset >= min_offset.
#ifndef REPORT_GATEWAY_REPORT_FRONT_DOOR_H_
#define REPORT_GATEWAY_REPORT_FRONT_DOOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/api_keys.h"
#include "gateway/gateway_metrics.h"
#include "gateway/report_backend.h"
#include "proto/report_api.pb.h"

namespace report::gateway {

struct FrontDoorOptions {
  // This gateway's failure domain, provider/region/zone.
  std::string domain;
  // How long a submit may wait for its quorum commit before answering
  // CommitUnknown.
  absl::Duration submit_timeout = absl::Seconds(10);
  // Longest wait a status read may ask for; larger wait_ms values are capped to
  // it.
  absl::Duration max_read_wait = absl::Seconds(30);
  // Status reads that may wait (wait_ms > 0) in progress at once, over both
  // transports; beyond it a long poll is refused at once with Overloaded.
  int max_long_polls = 128;
  // With keys (--api-keys), every call needs a valid one (Authorization:
  // Bearer KEY) and sees only the accounts it covers; without, the API is open.
  std::shared_ptr<const ApiKeys> api_keys = nullptr;
};

// Maps a replicated record, served at `served_offset`, to the public status
// shape.
report::api::ReportStatus ToReportStatus(const report::RequestRecord& record,
                                         uint64_t served_offset);

class ReportFrontDoor {
 public:
  // OK when this gateway's domain may accept submissions under the placement
  // profile, else DomainUnavailable. Called for every submission, so it may
  // follow a reloaded profile; it must be cheap and thread-safe.
  using IngressCheck = std::function<absl::Status()>;

  // `backend` and `metrics` must outlive the front door. An empty
  // `ingress_check` admits nothing (fail closed).
  ReportFrontDoor(ReportBackend* backend, IngressCheck ingress_check,
                  GatewayMetrics* metrics, FrontDoorOptions options);

  // Validation and the ingress check, without touching the cluster:
  // InvalidArgument or DomainUnavailable. Transports call it before queueing
  // work so that malformed or unauthorized requests never take a worker slot;
  // Submit() calls it again.
  // `authorization` is the caller's Authorization value ("Bearer KEY"), used
  // when API keys are configured: Unauthenticated without a valid key,
  // PermissionDenied for an account the key does not cover.
  absl::Status Admit(const report::api::SubmitReportRequest& request,
                     absl::string_view authorization = {}) const;

  // Blocks until the submission is quorum-committed (or known to be a
  // duplicate) or fails. The receipt's duplicate flag tells a replay from a new
  // acceptance.
  absl::StatusOr<report::Receipt> Submit(
      const report::api::SubmitReportRequest& request,
      absl::string_view authorization = {}) const;

  // Submit without holding the calling thread: `done` gets the same answer,
  // exactly once, possibly on another thread (inline for a refusal).
  using SubmitDone = std::function<void(absl::StatusOr<report::Receipt>)>;
  void SubmitAsync(const report::api::SubmitReportRequest& request,
                   SubmitDone done, absl::string_view authorization = {}) const;

  // Validates the request (InvalidArgument) and blocks up to min(wait_ms,
  // max_read_wait) for a replica to reach min_offset: NotFound or StaleRead
  // otherwise. A read that may wait is a long poll: beyond max_long_polls of
  // them in progress it is refused at once with Overloaded.
  // OK without API keys or with a valid key in `authorization`; else
  // Unauthenticated. Transports call it first, before parsing a request.
  absl::Status CheckApiKey(absl::string_view authorization) const;
  // With API keys, a report of an account the key does not cover reads as
  // NotFound, exactly as an unknown id does.
  absl::StatusOr<report::api::ReportStatus> GetReport(
      const report::api::GetReportRequest& request,
      absl::string_view authorization = {}) const;

  // InvalidArgument unless `request_id` is 1..128 characters of
  // [A-Za-z0-9._:-].
  static absl::Status ValidateRequestId(absl::string_view request_id);

  const std::string& domain() const { return options_.domain; }
  absl::Duration max_read_wait() const { return options_.max_read_wait; }
  int max_long_polls() const { return options_.max_long_polls; }
  GatewayMetrics* metrics() const { return metrics_; }

 private:
  ReportBackend* backend_;
  IngressCheck ingress_check_;
  GatewayMetrics* metrics_;
  FrontDoorOptions options_;
  // Long polls in progress (bounded by options_.max_long_polls).
  mutable std::atomic<int> long_polls_{0};
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_REPORT_FRONT_DOOR_H_
