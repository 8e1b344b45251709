// Where the gateway reads finished reports from (GET /reports/{id}/content):
// the cluster's report store, by effect key. The file store reads the sink
// directory the workers write (a path every host of the cluster sees); an
// object store is one more implementation of the same two calls.
#ifndef REPORT_GATEWAY_REPORT_STORE_H_
#define REPORT_GATEWAY_REPORT_STORE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace report::gateway {

class ReportStore {
 public:
  virtual ~ReportStore() = default;
  // The report document stored under `effect_key`; NotFound when there is
  // none, Internal (nothing read) when it is larger than `max_bytes`.
  virtual absl::StatusOr<std::string> Read(absl::string_view effect_key,
                                           size_t max_bytes) const = 0;
};

// The sink directory of the cluster file (one file per effect key, named as
// the workers name it).
class FileReportStore final : public ReportStore {
 public:
  explicit FileReportStore(std::string directory)
      : directory_(std::move(directory)) {}
  absl::StatusOr<std::string> Read(absl::string_view effect_key,
                                   size_t max_bytes) const override;

 private:
  const std::string directory_;
};

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_REPORT_STORE_H_
