// Helpers of the wire row tests (wire_rows_test.cc, wire_rows_errors_test.cc):
// a schema of every type, sample and extreme rows, the wire bytes of rows and
// the table's own encoding of the same rows to compare with.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/wire_rows.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::sidecar::wire_testing {

using table::MutationBatch;
using table::Row;
using table::RowOp;
using table::TableSchema;
using table::Value;
using ::testing::HasSubstr;
using Rows = std::vector<std::pair<RowOp, Row>>;

inline constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kMinDay = -719'162;   // 0001-01-01
inline constexpr int64_t kMaxDay = 2'932'896;  // 9999-12-31
inline constexpr int64_t kMsPerDay = 86'400'000;

inline TableSchema MustParse(std::string_view columns, std::string_view key) {
  absl::StatusOr<TableSchema> s = TableSchema::Parse(columns, key);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Every type, a NOT NULL value column, and a two-column key whose order
// (k_int, k_str) differs from schema order. 16 columns: a 2-byte bitmap.
inline const TableSchema& AllTypes() {
  static const TableSchema* schema = new TableSchema(MustParse(
      "b BOOLEAN, t TINYINT, s SMALLINT, i INT, k_str STRING, bi BIGINT, f FLOAT, d DOUBLE, "
      "dec DECIMAL(10,2), str STRING, bin BINARY, dt DATE, dtm DATETIME, ts TIMESTAMP, "
      "k_int INT, req INT NOT NULL",
      "k_int, k_str"));
  return *schema;
}
enum Col { kB, kT, kS, kI, kKStr, kBi, kF, kD, kDec, kStr, kBin, kDt, kDtm, kTs, kKInt, kReq };

inline Row ValidRow(int64_t id) {
  Row row(16);
  row[kB] = true;
  row[kT] = int64_t{-5};
  row[kS] = int64_t{1234};
  row[kI] = int64_t{-70000};
  row[kKStr] = std::string("key");
  row[kBi] = int64_t{1} << 40;
  row[kF] = 1.5;
  row[kD] = -2.25;
  row[kDec] = static_cast<__int128>(12345);
  row[kStr] = std::string("héllo wörld");
  row[kBin] = std::string("\x00\xff\x80", 3);
  row[kDt] = int64_t{19783};
  row[kDtm] = int64_t{1'700'000'000'123};
  row[kTs] = int64_t{1'700'000'000'123'456'789};
  row[kKInt] = id;
  row[kReq] = int64_t{7};
  return row;
}

inline Row ExtremeRow(bool low) {
  const __int128 dec_max = static_cast<__int128>(9'999'999'999);  // 10^10 - 1
  Row row(16);
  row[kB] = !low;
  row[kT] = int64_t{low ? -128 : 127};
  row[kS] = int64_t{low ? -32768 : 32767};
  row[kI] =
      int64_t{low ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max()};
  row[kKStr] = low ? std::string() : std::string("\0\0a\0", 4);
  row[kBi] = low ? kI64Min : kI64Max;
  row[kF] = low ? -static_cast<double>(std::numeric_limits<float>::max())
                : static_cast<double>(std::numeric_limits<float>::denorm_min());
  row[kD] = low ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::max();
  row[kDec] = low ? -dec_max : dec_max;
  row[kStr] = low ? std::string() : std::string(300, 'x') + "\xf4\x8f\xbf\xbf";  // U+10FFFF
  row[kBin] = low ? std::string() : std::string(20000, '\0');                    // 3-byte length
  row[kDt] = low ? kMinDay : kMaxDay;
  row[kDtm] = low ? kMinDay * kMsPerDay : (kMaxDay + 1) * kMsPerDay - 1;
  row[kTs] = low ? kI64Min : kI64Max;
  row[kKInt] =
      int64_t{low ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max()};
  row[kReq] = int64_t{0};
  return row;
}

// All nullable columns NULL; NaN and -0.0 where present.
inline Row SparseRow(int64_t id) {
  Row row(16);
  row[kKStr] = std::string("s");
  row[kKInt] = id;
  row[kReq] = int64_t{-1};
  return row;
}

inline Rows SampleRows() {
  Row nan = ValidRow(3);
  nan[kF] = std::numeric_limits<double>::quiet_NaN();
  nan[kD] = -0.0;
  return {{RowOp::kUpsert, ValidRow(1)},       {RowOp::kUpsert, ExtremeRow(true)},
          {RowOp::kUpsert, ExtremeRow(false)}, {RowOp::kUpsert, SparseRow(2)},
          {RowOp::kDelete, ValidRow(1)},       {RowOp::kUpsert, nan},
          {RowOp::kDelete, ExtremeRow(false)}};
}

inline std::string Wire(const TableSchema& schema, const Rows& rows) {
  std::string out;
  for (const auto& [op, row] : rows) AppendWireRow(schema, op, row, &out);
  return out;
}

inline MutationBatch TableBatch(const TableSchema& schema, const Rows& rows) {
  MutationBatch batch;
  for (const auto& [op, row] : rows) {
    if (op == RowOp::kUpsert) {
      batch.Upsert(schema, row);
    } else {
      batch.Delete(schema, row);
    }
  }
  return batch;
}

inline std::vector<std::pair<std::string, std::string>> Entries(const MutationBatch& batch) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < batch.size(); ++i) {
    out.emplace_back(std::string(batch.key(i)), std::string(batch.value(i)));
  }
  return out;
}

// A string literal with its embedded NULs.
template <size_t N>
inline std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

inline std::string Hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out += fmt::format("{:02x}", c);
  }
  return out;
}

// Values compare bit for bit, so NaN equals itself.
inline bool SameValue(const Value& a, const Value& b) {
  const double* x = std::get_if<double>(&a);
  const double* y = std::get_if<double>(&b);
  if (x != nullptr && y != nullptr) {
    return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(*y);
  }
  return a == b;
}

inline void ExpectSameRow(const Row& a, const Row& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(SameValue(a[i], b[i])) << "column " << i;
}

inline absl::Status Decode(const TableSchema& schema, std::string_view bytes, uint32_t count,
                    const WireLimits& limits = {}) {
  MutationBatch batch;
  return DecodeWireRows(schema, bytes, count, limits, &batch);
}

inline std::string DecodeError(const TableSchema& schema, std::string_view bytes, uint32_t count,
                        const WireLimits& limits = {}) {
  absl::Status s = Decode(schema, bytes, count, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // ParseWireRows shares the decoder: same status, nothing appended.
  Rows parsed(1);
  absl::Status p = ParseWireRows(schema, bytes, count, limits, &parsed);
  EXPECT_EQ(p, s);
  EXPECT_EQ(parsed.size(), 1u);
  return std::string(s.message());
}

}  // namespace deltasidecar::sidecar::wire_testing
