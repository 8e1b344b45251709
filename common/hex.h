// Hex, written one way: lowercase, two digits per byte. Also how a byte that
// cannot be shown as itself appears in a one-line message or a JSON detail:
// "\xHH".
#ifndef REPORT_COMMON_HEX_H_
#define REPORT_COMMON_HEX_H_

#include <string>

#include "absl/strings/string_view.h"

namespace report {

// "00ff7a" for the bytes 0x00 0xff 0x7a.
std::string HexEncode(absl::string_view bytes);

// The two lowercase hex digits of one byte ("1f").
std::string HexByte(unsigned char byte);

// `text` with every byte outside printable ASCII (0x20..0x7e) written as
// "\xHH", so the result is one line of ASCII whatever `text` held.
std::string EscapeUnprintable(absl::string_view text);

}  // namespace report

#endif  // REPORT_COMMON_HEX_H_
