#include "common/hex.h"

namespace report {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

void AppendHexByte(unsigned char byte, std::string* out) {
  out->push_back(kDigits[byte >> 4]);
  out->push_back(kDigits[byte & 0xf]);
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendHexByte(static_cast<unsigned char>(c), &out);
  return out;
}

std::string HexByte(unsigned char byte) {
  std::string out;
  AppendHexByte(byte, &out);
  return out;
}

std::string EscapeUnprintable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      out += "\\x";
      AppendHexByte(byte, &out);
    }
  }
  return out;
}

}  // namespace report
