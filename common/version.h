// The version every binary prints for --version: the project version from
// CMake and, when the source was a git checkout at configure time, what
// `git describe` said then ("0.2.0 (git v0.1-12-gabc1234-dirty)"); a tarball
// build prints the project version alone.
#ifndef REPORT_COMMON_VERSION_H_
#define REPORT_COMMON_VERSION_H_

#include <string>

namespace report {

// "0.2.0" or "0.2.0 (git DESCRIBE)".
std::string VersionString();

// True when argv holds "--version"; then "PROGRAM VERSION" is on stdout and
// the caller exits 0 before parsing anything else.
bool PrintVersionIfAsked(int argc, char** argv, const char* program);

}  // namespace report

#endif  // REPORT_COMMON_VERSION_H_
