// Fixed-width and varint integer encodings shared by the key, value and wire
// row formats. Shifts keep the layout independent of the host byte order;
// compilers turn them into single loads and stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deltasidecar {

template <typename U>
void PutLittleEndian(U v, std::string* out) {
  char buf[sizeof(U)];
  for (size_t i = 0; i < sizeof(U); ++i) {
    buf[i] = static_cast<char>(static_cast<uint8_t>(v));
    v >>= 8;
  }
  out->append(buf, sizeof(U));
}

template <typename U>
U GetLittleEndian(const char* p) {
  U v = 0;
  for (int i = sizeof(U) - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

template <typename U>
void PutBigEndian(U v, std::string* out) {
  char buf[sizeof(U)];
  for (size_t i = sizeof(U); i-- > 0;) {
    buf[i] = static_cast<char>(static_cast<uint8_t>(v));
    v >>= 8;
  }
  out->append(buf, sizeof(U));
}

template <typename U>
U GetBigEndian(const char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Unsigned LEB128.
inline void PutVarint(uint64_t n, std::string* out) {
  char buf[10];
  size_t len = 0;
  while (n >= 0x80) {
    buf[len++] = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  buf[len++] = static_cast<char>(n);
  out->append(buf, len);
}

}  // namespace deltasidecar
