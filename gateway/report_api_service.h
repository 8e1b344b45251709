// The public gRPC ReportApi (proto/report_api.proto) over the front door: the
// same validation, placement check and cluster calls as HTTP, with errors
// carried as the "Code: detail" status of common/error_code.h
// (INVALID_ARGUMENT, ALREADY_EXISTS, ...).
#ifndef REPORT_GATEWAY_REPORT_API_SERVICE_H_
#define REPORT_GATEWAY_REPORT_API_SERVICE_H_

#include <atomic>

#include "gateway/report_front_door.h"
#include "proto/report_api.grpc.pb.h"

namespace report::gateway {

// SubmitReport uses gRPC's callback API: no thread waits while a submit is
// being committed (the answer is sent from the batcher's thread). GetReport,
// whose reads may wait for a replica to catch up, stays on the sync pool.
// Beyond `max_in_flight` calls of either kind in progress, a call is refused
// at once with RESOURCE_EXHAUSTED ("Overloaded: ...").
class ReportApiService final
    : public report::api::ReportApi::WithCallbackMethod_SubmitReport<
          report::api::ReportApi::Service> {
 public:
  // `front_door` must outlive the service.
  ReportApiService(const ReportFrontDoor* front_door, int max_in_flight = 1024)
      : front_door_(front_door), max_in_flight_(max_in_flight) {}

  grpc::ServerUnaryReactor* SubmitReport(
      grpc::CallbackServerContext* context,
      const report::api::SubmitReportRequest* request,
      report::Receipt* receipt) override;
  grpc::Status GetReport(grpc::ServerContext* context,
                         const report::api::GetReportRequest* request,
                         report::api::ReportStatus* status) override;
  grpc::Status CancelReport(grpc::ServerContext* context,
                            const report::api::CancelReportRequest* request,
                            report::api::ReportStatus* status) override;
  grpc::Status ListReports(grpc::ServerContext* context,
                           const report::api::ListReportsRequest* request,
                           report::api::ListReportsResponse* page) override;

 private:
  bool TryAcquireSlot();
  absl::Status OverloadedError() const;

  const ReportFrontDoor* front_door_;
  const int max_in_flight_;
  std::atomic<int> in_flight_{0};
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_REPORT_API_SERVICE_H_
