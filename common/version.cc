#include "common/version.h"

#include <cstring>
#include <iostream>

// Both set by common/CMakeLists.txt on this file alone.
#ifndef REPORT_PROJECT_VERSION
#define REPORT_PROJECT_VERSION "unknown"
#endif
#ifndef REPORT_GIT_DESCRIBE
#define REPORT_GIT_DESCRIBE ""
#endif

namespace report {

std::string VersionString() {
  std::string version = REPORT_PROJECT_VERSION;
  const char* git = REPORT_GIT_DESCRIBE;
  if (*git != '\0') version += std::string(" (git ") + git + ")";
  return version;
}

bool PrintVersionIfAsked(int argc, char** argv, const char* program) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::cout << program << " " << VersionString() << std::endl;
      return true;
    }
  }
  return false;
}

}  // namespace report
