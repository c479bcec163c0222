// Fixed-width and varint integer encodings shared by the key, value and wire
// row formats, the staging store's records and the load generator. Shifts
// keep the layout independent of the host byte order; compilers turn them
// into single loads and stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deltasidecar {

// Writes the sizeof(U) bytes of `v`, least significant first, at `p`.
template <typename U>
void StoreLittleEndian(U v, char* p) {
  for (size_t i = 0; i < sizeof(U); ++i) {
    p[i] = static_cast<char>(static_cast<uint8_t>(v));
    v >>= 8;
  }
}

template <typename U>
void PutLittleEndian(U v, std::string* out) {
  char buf[sizeof(U)];
  StoreLittleEndian(v, buf);
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

// Unsigned LEB128: writes `n` at `p` (at most 10 bytes); returns the end.
inline char* EncodeVarint(uint64_t n, char* p) {
  while (n >= 0x80) {
    *p++ = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  *p++ = static_cast<char>(n);
  return p;
}

inline void PutVarint(uint64_t n, std::string* out) {
  char buf[10];
  out->append(buf, EncodeVarint(n, buf) - buf);
}

inline size_t VarintSize(uint64_t n) {
  size_t size = 1;
  for (; n >= 0x80; n >>= 7) ++size;
  return size;
}

enum class VarintResult { kOk, kTruncated, kOverflow };

// Reads an unsigned LEB128 of at most 64 bits from [*p, end) into *n and
// advances *p past it. kTruncated when it runs past `end`, kOverflow when it
// does not fit 64 bits; *p and *n are then unspecified.
inline VarintResult GetVarint(const char** p, const char* end, uint64_t* n) {
  const char* q = *p;
  if (q != end && static_cast<uint8_t>(*q) < 0x80) {  // the common one-byte case
    *n = static_cast<uint8_t>(*q);
    *p = q + 1;
    return VarintResult::kOk;
  }
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 63) return VarintResult::kOverflow;
    if (q == end) return VarintResult::kTruncated;
    const uint8_t b = static_cast<uint8_t>(*q++);
    if (shift == 63 && b > 1) return VarintResult::kOverflow;
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) break;
  }
  *n = v;
  *p = q;
  return VarintResult::kOk;
}

}  // namespace deltasidecar
