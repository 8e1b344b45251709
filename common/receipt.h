// The receipt of an accepted request (docs/API.md), built the same way wherever
// a request record is answered: the replica, and the gateway's test backend.
#ifndef REPORT_COMMON_RECEIPT_H_
#define REPORT_COMMON_RECEIPT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace report {

class Receipt;
class RequestRecord;

// "/reports/<request_id>": where the request's status is read.
std::string StatusPathOf(absl::string_view request_id);

// The receipt for `record` (its offset and epoch of acceptance); `duplicate`
// when this answer is a replay of an earlier accepted submit.
Receipt ReceiptFor(const RequestRecord& record, bool duplicate);

}  // namespace report

#endif  // REPORT_COMMON_RECEIPT_H_
