#include "replica/storage/keys.h"

#include "absl/strings/match.h"

namespace report::storage {

void AppendBigEndian64(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

std::optional<uint64_t> ReadBigEndian64(absl::string_view bytes) {
  if (bytes.size() < 8) return std::nullopt;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

std::string NumberedKey(absl::string_view prefix, uint64_t number) {
  std::string key(prefix);
  AppendBigEndian64(&key, number);
  return key;
}

std::string LogKey(uint64_t index) { return NumberedKey(kLogPrefix, index); }

std::optional<uint64_t> LogIndexOf(absl::string_view key) {
  if (key.size() != kLogPrefix.size() + 8 ||
      !absl::StartsWith(key, kLogPrefix)) {
    return std::nullopt;
  }
  return ReadBigEndian64(key.substr(kLogPrefix.size()));
}

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff)
    end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end;
}

}  // namespace report::storage
