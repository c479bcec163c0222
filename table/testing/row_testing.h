// Helpers of the row encoding tests (row_test.cc, row_text_test.cc): typed
// value constructors, a schema of every type and rows at its extremes.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::table::row_testing {

inline constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

// Typed constructors: a bare integer literal is ambiguous between int64_t and __int128.
inline Value I(int64_t v) { return v; }
inline Value D(double v) { return v; }
inline Value Dec(__int128 v) { return v; }
inline Value S(std::string v) { return v; }
inline Value B(bool v) { return v; }
inline const Value kNull;

inline __int128 MaxDecimal38() {
  __int128 v = 0;
  for (int i = 0; i < 38; ++i) v = v * 10 + 9;
  return v;
}

inline TableSchema MustParse(std::string_view columns, std::string_view key, int buckets = 16) {
  auto s = TableSchema::Parse(columns, key, buckets);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

inline std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    static const char kDigits[] = "0123456789abcdef";
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Every keyable type as a key column, every type as a value column.
inline TableSchema AllTypesSchema() {
  return MustParse(
      "kb BOOLEAN, kt TINYINT, ks SMALLINT, ki INT, kl BIGINT, kd DECIMAL(38,10), kstr STRING, "
      "kbin BINARY, kdate DATE, kdt DATETIME, kts TIMESTAMP, "
      "vb BOOLEAN, vt TINYINT, vs SMALLINT, vi INT, vl BIGINT, vf FLOAT, vd DOUBLE, "
      "vdec DECIMAL(38,0), vdec2 DECIMAL(38,38), vstr STRING, vbin BINARY, vdate DATE, "
      "vdt DATETIME, vts TIMESTAMP NOT NULL",
      "kb, kt, ks, ki, kl, kd, kstr, kbin, kdate, kdt, kts");
}

inline std::vector<Row> AllTypesRows() {
  const __int128 max38 = MaxDecimal38();
  return {
      {B(true),
       I(127),
       I(32767),
       I(INT32_MAX),
       I(kMax64),
       Dec(max38),
       S("key"),
       S(std::string("\0\xff\x01", 3)),
       I(2932896),
       I(253402300799999),
       I(kMax64),
       B(false),
       I(-128),
       I(-32768),
       I(INT32_MIN),
       I(kMin64),
       D(0.1f),
       D(-1e308),
       Dec(max38),
       Dec(-max38),
       S(std::string("a\0b", 3)),
       S(std::string(300, '\xab')),
       I(-719162),
       I(-62135596800000),
       I(kMin64)},
      {B(false),    I(-128), I(-32768), I(INT32_MIN), I(kMin64),
       Dec(-max38), S(""),   S(""),     I(-719162),   I(-62135596800000),
       I(kMin64),   kNull,   kNull,     kNull,        kNull,
       kNull,       kNull,   kNull,     kNull,        kNull,
       kNull,       kNull,   kNull,     kNull,        I(0)},
      {B(false),
       I(0),
       I(0),
       I(0),
       I(0),
       Dec(0),
       S(std::string(1, '\0')),
       S(std::string(2, '\0')),
       I(0),
       I(0),
       I(0),
       B(true),
       I(0),
       I(0),
       I(0),
       I(0),
       D(-0.0),
       D(5e-324),
       Dec(0),
       Dec(1),
       S(""),
       S(""),
       I(0),
       I(1),
       I(-1)},
  };
}

}  // namespace deltasidecar::table::row_testing
