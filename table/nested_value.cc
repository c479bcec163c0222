#include "table/nested_value.h"

#include <string>

#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/value_text.h"  // kMinDay, kMaxDay: the dates the text forms spell

namespace deltasidecar::table {
namespace {

using u128 = unsigned __int128;

bool IsUtf8(std::string_view s) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    int trail = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                           : (c & 0xf8) == 0xf0   ? 3 : -1;
    if (trail < 0 || end - p <= trail) return false;
    uint32_t cp = trail == 0 ? c : trail == 1 ? c & 0x1f : trail == 2 ? c & 0x0f : c & 0x07;
    for (int i = 1; i <= trail; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[trail] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += trail + 1;
  }
  return true;
}

absl::Status LeafCheck(const Column& type, const Value& v) {
  switch (type.type) {
    case ColumnType::kString:
      if (!IsUtf8(StringOf(v))) return absl::InvalidArgumentError("invalid UTF-8");
      break;
    case ColumnType::kDate:
      if (IntOf(v) < kMinDay || IntOf(v) > kMaxDay) {
        return absl::InvalidArgumentError(Cat("DATE ", IntOf(v), " is out of range"));
      }
      break;
    case ColumnType::kDatetime:
      if (IntOf(v) < kMinDay * kMillisPerDay || IntOf(v) >= (kMaxDay + 1) * kMillisPerDay) {
        return absl::InvalidArgumentError(Cat("DATETIME ", IntOf(v), " is out of range"));
      }
      break;
    case ColumnType::kTimestampLtz: {
      int64_t unit = 1;
      for (int d = type.precision; d < 9; ++d) unit *= 10;
      if (IntOf(v) % unit != 0) {
        return absl::InvalidArgumentError(Cat("TIMESTAMP_LTZ ", IntOf(v),
                                              " has digits finer than the precision"));
      }
      break;
    }
    case ColumnType::kDecimal: {
      u128 bound = 1;
      for (int d = 0; d < type.precision; ++d) bound *= 10;
      __int128 x = DecimalOf(v);
      u128 magnitude = x >= 0 ? static_cast<u128>(x) : u128{0} - static_cast<u128>(x);
      if (magnitude >= bound) {
        return absl::InvalidArgumentError(
            Cat("DECIMAL value does not fit (unscaled; magnitude must be below 10^",
                type.precision, ")"));
      }
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

class Walker {
 public:
  explicit Walker(NestedCheck check) : check_(check) {}

  // Walks one non-null value of nested `type` spanning exactly [p, end).
  absl::Status Nested(const Column& type, const char* p, const char* end) {
    uint64_t count = type.children.size();
    if (type.type != ColumnType::kStruct) {
      switch (GetVarint(&p, end, &count)) {
        case VarintResult::kOk:
          break;
        case VarintResult::kTruncated:
          return absl::InvalidArgumentError("truncated count");
        case VarintResult::kOverflow:
          return absl::InvalidArgumentError("count overflows 64 bits");
      }
      // Every entry costs at least a bitmap bit; this bounds the count by the
      // bytes before any arithmetic on it.
      if (count > static_cast<uint64_t>(end - p) * 8) {
        return absl::InvalidArgumentError(Cat("count ", count, " exceeds the bytes left"));
      }
    }
    size_t bitmap_size = (count + 7) / 8;
    if (static_cast<size_t>(end - p) < bitmap_size) {
      return absl::InvalidArgumentError("truncated null bitmap");
    }
    const uint8_t* bitmap = reinterpret_cast<const uint8_t*>(p);
    if (count % 8 != 0 && (bitmap[bitmap_size - 1] >> (count % 8)) != 0) {
      return absl::InvalidArgumentError("null bitmap has bits set past the last entry");
    }
    p += bitmap_size;
    for (uint64_t i = 0; i < count; ++i) {
      bool is_null = (bitmap[i / 8] >> (i % 8)) & 1;
      if (type.type == ColumnType::kMap) {
        if (absl::Status s = Child(type.children[0], &p, end); !s.ok()) {
          return Where(Cat("key of entry ", i), s);
        }
        if (!is_null) {
          if (absl::Status s = Child(type.children[1], &p, end); !s.ok()) {
            return Where(Cat("value of entry ", i), s);
          }
        }
        continue;
      }
      if (is_null) continue;
      const Column& child = type.type == ColumnType::kArray ? type.children[0] : type.children[i];
      if (absl::Status s = Child(child, &p, end); !s.ok()) {
        return Where(type.type == ColumnType::kArray ? Cat("element ", i)
                                                     : Cat("field '", child.name, "'"),
                     s);
      }
    }
    if (p != end) return absl::InvalidArgumentError(Cat(end - p, " trailing bytes"));
    return absl::OkStatus();
  }

 private:
  static absl::Status Where(const std::string& place, const absl::Status& s) {
    return absl::InvalidArgumentError(Cat(place, ": ", std::string(s.message())));
  }

  absl::Status Child(const Column& type, const char** p, const char* end) {
    if (IsNested(type.type)) {
      uint64_t n = 0;
      switch (GetVarint(p, end, &n)) {
        case VarintResult::kOk:
          break;
        case VarintResult::kTruncated:
          return absl::InvalidArgumentError("truncated length");
        case VarintResult::kOverflow:
          return absl::InvalidArgumentError("length overflows 64 bits");
      }
      if (static_cast<uint64_t>(end - *p) < n) {
        return absl::InvalidArgumentError("truncated nested value");
      }
      const char* start = *p;
      *p += n;
      return Nested(type, start, start + n);
    }
    absl::Status s = DecodeLeafValue(type, p, end, &scratch_);
    if (!s.ok()) return absl::InvalidArgumentError(std::string(s.message()));
    if (check_ == NestedCheck::kInput) return LeafCheck(type, scratch_);
    return absl::OkStatus();
  }

  NestedCheck check_;
  Value scratch_;
};

}  // namespace

absl::Status ValidateNested(const Column& type, std::string_view bytes, NestedCheck check) {
  if (!IsNested(type.type)) return absl::InvalidArgumentError("not a nested type");
  return Walker(check).Nested(type, bytes.data(), bytes.data() + bytes.size());
}

}  // namespace deltasidecar::table
