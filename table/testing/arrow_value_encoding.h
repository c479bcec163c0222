// Test support: reads one entry of an Arrow array (the C data interface) back
// into the value-column encoding of docs/table-format.md §7.2/§7.4, from the
// Arrow buffers alone, so that a test or fuzz target can compare what the
// Arrow reader exported with the stored bytes. Handles the formats the reader
// writes (arrow_reader.h), nested ones recursively.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "table/arrow_c_abi.h"

namespace deltasidecar::table::testing_support {

inline std::string Varint(uint64_t n) {
  std::string out;
  for (; n >= 0x80; n >>= 7) out.push_back(static_cast<char>((n & 0x7f) | 0x80));
  out.push_back(static_cast<char>(n));
  return out;
}

inline bool Valid(const ArrowArray* a, int64_t i) {
  if (a->null_count == 0 || a->buffers[0] == nullptr) return true;
  return (static_cast<const uint8_t*>(a->buffers[0])[i / 8] >> (i % 8)) & 1;
}

inline std::string Bitmap(const ArrowArray* a, int64_t from, int64_t n) {
  std::string bits((n + 7) / 8, '\0');
  for (int64_t i = 0; i < n; ++i) {
    if (!Valid(a, from + i)) bits[i / 8] = static_cast<char>(bits[i / 8] | (1 << (i % 8)));
  }
  return bits;
}

inline size_t WidthOf(const std::string& format) {
  if (format == "c") return 1;
  if (format == "s") return 2;
  if (format == "i" || format == "f" || format == "tdD") return 4;
  if (format == "l" || format == "g" || format.rfind("ts", 0) == 0) return 8;
  if (format.rfind("d:", 0) == 0) return 16;
  return 0;  // not a flat format the reader writes
}

// Entry i of `a` (not NULL) in the value-column encoding of docs/table-format.md
// §7.2/§7.4, read from the Arrow buffers alone.
inline std::string Encode(const ArrowSchema* s, const ArrowArray* a, int64_t i) {
  const std::string format = s->format;
  if (format == "b") {
    return std::string(1, static_cast<char>((static_cast<const uint8_t*>(a->buffers[1])[i / 8] >> (i % 8)) & 1));
  }
  if (format == "u" || format == "z") {
    const auto* off = static_cast<const int32_t*>(a->buffers[1]);
    std::string bytes(static_cast<const char*>(a->buffers[2]) + off[i], off[i + 1] - off[i]);
    return Varint(bytes.size()) + bytes;
  }
  std::string body;
  if (format == "+l" || format == "+m") {
    const auto* off = static_cast<const int32_t*>(a->buffers[1]);
    const int64_t from = off[i], n = off[i + 1] - off[i];
    const ArrowArray* child = a->children[0];
    const ArrowSchema* child_schema = s->children[0];
    if (format == "+m") {
      const ArrowArray* keys = child->children[0];
      const ArrowArray* values = child->children[1];
      body = Varint(n) + Bitmap(values, from, n);
      for (int64_t e = from; e < from + n; ++e) {
        body += Encode(child_schema->children[0], keys, e);
        if (Valid(values, e)) body += Encode(child_schema->children[1], values, e);
      }
    } else {
      body = Varint(n) + Bitmap(child, from, n);
      for (int64_t e = from; e < from + n; ++e) {
        if (Valid(child, e)) body += Encode(child_schema, child, e);
      }
    }
    return Varint(body.size()) + body;
  }
  if (format == "+s") {
    std::string bits((a->n_children + 7) / 8, '\0');
    std::string fields;
    for (int64_t c = 0; c < a->n_children; ++c) {
      if (!Valid(a->children[c], i)) {
        bits[c / 8] = static_cast<char>(bits[c / 8] | (1 << (c % 8)));
      } else {
        fields += Encode(s->children[c], a->children[c], i);
      }
    }
    body = bits + fields;
    return Varint(body.size()) + body;
  }
  const size_t width = WidthOf(format);
  return std::string(static_cast<const char*>(a->buffers[1]) + i * width, width);
}

}  // namespace deltasidecar::table::testing_support
