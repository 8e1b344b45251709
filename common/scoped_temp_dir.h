// A fresh directory under the system temp dir ($TMPDIR, else /tmp), removed
// with everything in it when the object goes. Tests keep one as a function-
// local static and make their directories inside it, so a test binary leaves
// nothing behind when it exits, whether its tests passed or failed.
#ifndef REPORT_COMMON_SCOPED_TEMP_DIR_H_
#define REPORT_COMMON_SCOPED_TEMP_DIR_H_

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace report {

class ScopedTempDir {
 public:
  // Makes <temp dir>/<prefix>-XXXXXX; aborts when that is impossible (a test
  // cannot run without it).
  explicit ScopedTempDir(const std::string& prefix) {
    std::error_code error;
    std::filesystem::path base = std::filesystem::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror(("mkdtemp " + pattern).c_str());
      std::abort();
    }
    path_ = pattern;
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

  // A new, empty directory inside this one.
  std::string MakeSubdir(const std::string& prefix) const {
    std::string pattern = path_ + "/" + prefix + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror(("mkdtemp " + pattern).c_str());
      std::abort();
    }
    return pattern;
  }

 private:
  std::string path_;
};

}  // namespace report

#endif  // REPORT_COMMON_SCOPED_TEMP_DIR_H_
