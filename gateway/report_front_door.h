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
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/api_keys.h"
#include "gateway/gateway_metrics.h"
#include "gateway/report_backend.h"
#include "gateway/report_store.h"
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
  // Where COMPLETED reports are read from (GET /reports/{id}/content); none:
  // every content read is NotFound.
  std::shared_ptr<const ReportStore> report_store = nullptr;
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

  // Cancels (docs/API.md, "Cancel"): a write, so only at a gateway in an
  // ingress domain (else DomainUnavailable, nothing sent). Answers the status
  // after the cancel: CANCELLED, RUNNING with cancel_requested, or the
  // terminal state the request already had. NotFound for an unknown id (or,
  // with API keys, an account the key does not cover).
  absl::StatusOr<report::api::ReportStatus> CancelReport(
      const report::api::CancelReportRequest& request,
      absl::string_view authorization = {}) const;

  // One page of an account's requests, newest first; next_page_token is
  // opaque and valid on any gateway, across leader changes. With API keys, an
  // account the key does not cover is NotFound.
  absl::StatusOr<report::api::ListReportsResponse> ListReports(
      const report::api::ListReportsRequest& request,
      absl::string_view authorization = {}) const;

  // The page token for "requests accepted below `before_offset`" and back
  // (InvalidArgument for a token this gateway did not make).
  static std::string PageTokenOf(uint64_t before_offset);
  static absl::StatusOr<uint64_t> BeforeOffsetOf(absl::string_view token);

  // The report document of a COMPLETED request, read through the report store
  // (freshness, keys and long polls as GetReport), and its strong ETag
  // ("<effect key>:<SHA-256 of the document, 16 hex>"). NotFound while the
  // request is not COMPLETED.
  struct ReportContent {
    std::string document;
    std::string etag;
  };
  static constexpr size_t kMaxReportBytes = 16 << 20;
  absl::StatusOr<ReportContent> GetReportContent(
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
  // The grant of the caller's key (nullopt without API keys), or
  // Unauthenticated.
  absl::StatusOr<std::optional<AccountGrant>> Grant(
      absl::string_view authorization) const;
  // Ingress check for writes other than submits; DomainUnavailable.
  absl::Status CheckIngress() const;

  ReportBackend* backend_;
  IngressCheck ingress_check_;
  GatewayMetrics* metrics_;
  FrontDoorOptions options_;
  // Long polls in progress (bounded by options_.max_long_polls).
  mutable std::atomic<int> long_polls_{0};
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_REPORT_FRONT_DOOR_H_
