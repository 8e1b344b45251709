// The one JSON encoder of the repository's hand-written JSON: reportctl's
// --json output, the worker's report documents. It escapes every string as
// RFC 8259 requires (quote, backslash, control characters) and replaces bytes
// that are not valid UTF-8 with U+FFFD, so its output always parses.
//
// Two layouts: kCompact puts a whole value on one line (JSON Lines: one value
// per line, which is what reportctl prints), kIndented puts each member on a
// line of its own with two spaces per level (human-facing documents).
// Protobuf messages are written with protobuf's JSON mapping (field names as
// in the .proto, every field present), always on one line.
#ifndef REPORT_COMMON_JSON_WRITER_H_
#define REPORT_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace google::protobuf {
class Message;
}

namespace report {

class JsonWriter {
 public:
  enum class Layout { kCompact, kIndented };

  explicit JsonWriter(Layout layout = Layout::kCompact) : layout_(layout) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object, every value is preceded by its key.
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& Message(const google::protobuf::Message& message);
  JsonWriter& StringList(const std::vector<std::string>& values);

  // The text written so far and a final newline; the writer is spent.
  std::string Finish();

 private:
  void Open(char bracket);
  void Close(char bracket);
  void Separate();
  void Newline();

  Layout layout_;
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// `value` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view value);

// A protobuf message as one line of JSON (no final newline), as
// JsonWriter::Message writes it.
std::string MessageToJsonLine(const google::protobuf::Message& message);

}  // namespace report

#endif  // REPORT_COMMON_JSON_WRITER_H_
