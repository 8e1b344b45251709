// One log line per event an operator looks for, in one format in every
// process: "event=NAME key=value key=value ...". The line goes through glog
// like any other (glog adds the time, severity, thread and file), so
//
//   grep 'event=request_failed' .cluster/*.log
//
// finds every request that ended FAILED, and a field is read by its key. A
// value is written bare when it is a plain token, and in double quotes (with
// \" \\ \n \r \t and \xHH escapes) when it is empty or holds a space, a quote,
// a backslash, '=' or a byte outside printable ASCII. docs/OPERATIONS.md lists
// the events.
#ifndef REPORT_COMMON_EVENT_LOG_H_
#define REPORT_COMMON_EVENT_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace report {

using EventField = std::pair<absl::string_view, absl::AlphaNum>;

// "event=NAME k1=v1 k2=v2": LOG(INFO) << EventLine("leader_elected",
// {{"epoch", 7}, {"id", 2}});
std::string EventLine(absl::string_view event,
                      std::initializer_list<EventField> fields);

// A value as it appears after "key=": bare or quoted, as described above.
std::string EventValue(absl::string_view value);

}  // namespace report

#endif  // REPORT_COMMON_EVENT_LOG_H_
