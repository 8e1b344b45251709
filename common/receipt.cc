#include "common/receipt.h"

#include "absl/strings/str_cat.h"
#include "proto/replica_service.pb.h"
#include "proto/report.pb.h"

namespace report {

std::string StatusPathOf(absl::string_view request_id) {
  return absl::StrCat("/reports/", request_id);
}

Receipt ReceiptFor(const RequestRecord& record, bool duplicate) {
  Receipt receipt;
  receipt.set_request_id(record.request_id());
  receipt.set_accepted_offset(record.accepted_offset());
  receipt.set_duplicate(duplicate);
  receipt.set_status_path(StatusPathOf(record.request_id()));
  receipt.set_epoch(record.accepted_epoch());
  return receipt;
}

}  // namespace report
