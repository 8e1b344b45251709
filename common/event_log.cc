#include "common/event_log.h"

#include "common/hex.h"

namespace report {
namespace {

bool IsBare(absl::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '"' || c == '\\' || c == '=') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string EventValue(absl::string_view value) {
  if (IsBare(value)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          absl::StrAppend(&out, "\\x", HexByte(byte));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string EventLine(absl::string_view event,
                      std::initializer_list<EventField> fields) {
  std::string line = absl::StrCat("event=", EventValue(event));
  for (const EventField& field : fields) {
    absl::StrAppend(&line, " ", field.first, "=",
                    EventValue(field.second.Piece()));
  }
  return line;
}

}  // namespace report
