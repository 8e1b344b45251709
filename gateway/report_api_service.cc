#include "gateway/report_api_service.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report::gateway {
namespace {

constexpr char kTransport[] = "grpc";

grpc::Status Answer(GatewayMetrics* metrics, absl::string_view route,
                    const absl::Status& status) {
  metrics->CountRequest(kTransport, route, ErrorCodeName(ErrorCodeOf(status)));
  return ToGrpcStatus(status);
}

}  // namespace

bool ReportApiService::TryAcquireSlot() {
  int current = in_flight_.load();
  while (current < max_in_flight_) {
    if (in_flight_.compare_exchange_weak(current, current + 1)) return true;
  }
  return false;
}

absl::Status ReportApiService::OverloadedError() const {
  return MakeError(ErrorCode::kOverloaded,
                   absl::StrCat("gateway overloaded: ", max_in_flight_,
                                " gRPC calls in flight; nothing was accepted, "
                                "retry later"));
}

namespace {
// The "authorization" metadata ("Bearer KEY"): the API key, as HTTP's
// Authorization header carries it.
std::string AuthorizationOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto found = metadata.find("authorization");
  if (found == metadata.end()) return "";
  return std::string(found->second.data(), found->second.size());
}
}  // namespace

grpc::ServerUnaryReactor* ReportApiService::SubmitReport(
    grpc::CallbackServerContext* context,
    const report::api::SubmitReportRequest* request, report::Receipt* receipt) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  GatewayMetrics* metrics = front_door_->metrics();
  if (!TryAcquireSlot()) {
    reactor->Finish(Answer(metrics, "submit", OverloadedError()));
    return reactor;
  }
  metrics->AddInFlight(1);
  // `request` and `receipt` live until Finish.
  front_door_->SubmitAsync(
      *request,
      [this, metrics, reactor,
       receipt](absl::StatusOr<report::Receipt> result) {
        if (result.ok()) *receipt = *std::move(result);
        grpc::Status status = Answer(metrics, "submit", result.status());
        metrics->AddInFlight(-1);
        in_flight_.fetch_sub(1);
        reactor->Finish(status);
      },
      AuthorizationOf(*context));
  return reactor;
}

grpc::Status ReportApiService::GetReport(
    grpc::ServerContext* context, const report::api::GetReportRequest* request,
    report::api::ReportStatus* status) {
  GatewayMetrics* metrics = front_door_->metrics();
  if (!TryAcquireSlot()) return Answer(metrics, "status", OverloadedError());
  InFlightScope in_flight(metrics);
  absl::StatusOr<report::api::ReportStatus> result =
      front_door_->GetReport(*request, AuthorizationOf(*context));
  in_flight_.fetch_sub(1);
  if (result.ok()) *status = *std::move(result);
  return Answer(metrics, "status", result.status());
}

grpc::Status ReportApiService::CancelReport(
    grpc::ServerContext* context,
    const report::api::CancelReportRequest* request,
    report::api::ReportStatus* status) {
  GatewayMetrics* metrics = front_door_->metrics();
  if (!TryAcquireSlot()) return Answer(metrics, "cancel", OverloadedError());
  InFlightScope in_flight(metrics);
  absl::StatusOr<report::api::ReportStatus> result =
      front_door_->CancelReport(*request, AuthorizationOf(*context));
  in_flight_.fetch_sub(1);
  if (result.ok()) *status = *std::move(result);
  return Answer(metrics, "cancel", result.status());
}

grpc::Status ReportApiService::ListReports(
    grpc::ServerContext* context,
    const report::api::ListReportsRequest* request,
    report::api::ListReportsResponse* page) {
  GatewayMetrics* metrics = front_door_->metrics();
  if (!TryAcquireSlot()) return Answer(metrics, "list", OverloadedError());
  InFlightScope in_flight(metrics);
  absl::StatusOr<report::api::ListReportsResponse> result =
      front_door_->ListReports(*request, AuthorizationOf(*context));
  in_flight_.fetch_sub(1);
  if (result.ok()) *page = *std::move(result);
  return Answer(metrics, "list", result.status());
}

}  // namespace report::gateway
