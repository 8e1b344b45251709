#include "gateway/report_store.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "worker/report_sink.h"

namespace report::gateway {

absl::StatusOr<std::string> FileReportStore::Read(absl::string_view effect_key,
                                                  size_t max_bytes) const {
  const std::string path = absl::StrCat(
      directory_, "/", DirectoryReportSink::FileNameOf(effect_key));
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("no report stored under ", effect_key));
  }
  if (size > max_bytes) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("the report under ", effect_key, " is ", size,
                                  " bytes, more than ", max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("no report stored under ", effect_key));
  }
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

}  // namespace report::gateway
