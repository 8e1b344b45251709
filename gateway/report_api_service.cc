#include "gateway/report_api_service.h"

#include <grpcpp/server_context.h>

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

grpc::Status ReportApiService::SubmitReport(
    grpc::ServerContext* context,
    const report::api::SubmitReportRequest* request, report::Receipt* receipt) {
  GatewayMetrics* metrics = front_door_->metrics();
  InFlightScope in_flight(metrics);
  absl::StatusOr<report::Receipt> result = front_door_->Submit(*request);
  if (result.ok()) *receipt = *std::move(result);
  return Answer(metrics, "submit", result.status());
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
