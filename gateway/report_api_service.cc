#include "gateway/report_api_service.h"

#include <grpcpp/grpcpp.h>

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

grpc::ServerUnaryReactor* ReportApiService::SubmitReport(
    grpc::CallbackServerContext* context,
    const report::api::SubmitReportRequest* request, report::Receipt* receipt) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  GatewayMetrics* metrics = front_door_->metrics();
  metrics->AddInFlight(1);
  // `request` and `receipt` live until Finish.
  front_door_->SubmitAsync(
      *request,
      [metrics, reactor, receipt](absl::StatusOr<report::Receipt> result) {
        if (result.ok()) *receipt = *std::move(result);
        grpc::Status status = Answer(metrics, "submit", result.status());
        metrics->AddInFlight(-1);
        reactor->Finish(status);
      });
  return reactor;
}

grpc::Status ReportApiService::GetReport(
    grpc::ServerContext* context, const report::api::GetReportRequest* request,
    report::api::ReportStatus* status) {
  GatewayMetrics* metrics = front_door_->metrics();
  InFlightScope in_flight(metrics);
  absl::StatusOr<report::api::ReportStatus> result =
      front_door_->GetReport(*request);
  if (result.ok()) *status = *std::move(result);
  return Answer(metrics, "status", result.status());
}

}  // namespace report::gateway
