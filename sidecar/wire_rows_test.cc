#include "sidecar/wire_rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/schema.h"

namespace deltasidecar::sidecar {
namespace {

using table::MutationBatch;
using table::Row;
using table::RowOp;
using table::TableSchema;
using table::Value;
using ::testing::HasSubstr;
using Rows = std::vector<std::pair<RowOp, Row>>;

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinDay = -719'162;   // 0001-01-01
constexpr int64_t kMaxDay = 2'932'896;  // 9999-12-31
constexpr int64_t kMsPerDay = 86'400'000;

TableSchema MustParse(std::string_view columns, std::string_view key) {
  absl::StatusOr<TableSchema> s = TableSchema::Parse(columns, key);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Every type, a NOT NULL value column, and a two-column key whose order
// (k_int, k_str) differs from schema order. 16 columns: a 2-byte bitmap.
const TableSchema& AllTypes() {
  static const TableSchema* schema = new TableSchema(MustParse(
      "b BOOLEAN, t TINYINT, s SMALLINT, i INT, k_str STRING, bi BIGINT, f FLOAT, d DOUBLE, "
      "dec DECIMAL(10,2), str STRING, bin BINARY, dt DATE, dtm DATETIME, ts TIMESTAMP, "
      "k_int INT, req INT NOT NULL",
      "k_int, k_str"));
  return *schema;
}
enum Col { kB, kT, kS, kI, kKStr, kBi, kF, kD, kDec, kStr, kBin, kDt, kDtm, kTs, kKInt, kReq };

Row ValidRow(int64_t id) {
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

Row ExtremeRow(bool low) {
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
Row SparseRow(int64_t id) {
  Row row(16);
  row[kKStr] = std::string("s");
  row[kKInt] = id;
  row[kReq] = int64_t{-1};
  return row;
}

Rows SampleRows() {
  Row nan = ValidRow(3);
  nan[kF] = std::numeric_limits<double>::quiet_NaN();
  nan[kD] = -0.0;
  return {{RowOp::kUpsert, ValidRow(1)},       {RowOp::kUpsert, ExtremeRow(true)},
          {RowOp::kUpsert, ExtremeRow(false)}, {RowOp::kUpsert, SparseRow(2)},
          {RowOp::kDelete, ValidRow(1)},       {RowOp::kUpsert, nan},
          {RowOp::kDelete, ExtremeRow(false)}};
}

std::string Wire(const TableSchema& schema, const Rows& rows) {
  std::string out;
  for (const auto& [op, row] : rows) AppendWireRow(schema, op, row, &out);
  return out;
}

MutationBatch TableBatch(const TableSchema& schema, const Rows& rows) {
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

std::vector<std::pair<std::string, std::string>> Entries(const MutationBatch& batch) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < batch.size(); ++i) {
    out.emplace_back(std::string(batch.key(i)), std::string(batch.value(i)));
  }
  return out;
}

// A string literal with its embedded NULs.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string Hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out += fmt::format("{:02x}", c);
  }
  return out;
}

// Values compare bit for bit, so NaN equals itself.
bool SameValue(const Value& a, const Value& b) {
  const double* x = std::get_if<double>(&a);
  const double* y = std::get_if<double>(&b);
  if (x != nullptr && y != nullptr) {
    return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(*y);
  }
  return a == b;
}

void ExpectSameRow(const Row& a, const Row& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(SameValue(a[i], b[i])) << "column " << i;
}

absl::Status Decode(const TableSchema& schema, std::string_view bytes, uint32_t count,
                    const WireLimits& limits = {}) {
  MutationBatch batch;
  return DecodeWireRows(schema, bytes, count, limits, &batch);
}

std::string DecodeError(const TableSchema& schema, std::string_view bytes, uint32_t count,
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

// ---------------------------------------------------------------------------
// Encoding and round trips.

TEST(WireRowsTest, WorkedExampleFromProtocolDoc) {
  // docs/protocol.md, "Row encoding": these bytes are quoted there.
  TableSchema schema = MustParse("id BIGINT, name STRING, qty INT", "id");
  Row row = {int64_t{7}, std::string("Zo\xc3\xab"), std::monostate()};
  std::string upsert, del;
  AppendWireRow(schema, RowOp::kUpsert, row, &upsert);
  AppendWireRow(schema, RowOp::kDelete, row, &del);
  EXPECT_EQ(Hex(upsert), "01 04 07 00 00 00 00 00 00 00 04 5a 6f c3 ab");
  EXPECT_EQ(Hex(del), "02 07 00 00 00 00 00 00 00");

  Row second = {int64_t{-2}, std::string(), int64_t{300}};
  std::string upsert2;
  AppendWireRow(schema, RowOp::kUpsert, second, &upsert2);
  EXPECT_EQ(Hex(upsert2), "01 00 fe ff ff ff ff ff ff ff 00 2c 01 00 00");

  // The doc's RecordBatch: row_count 3, 39 bytes, and what it stores.
  std::string rows = upsert + upsert2 + del;
  ASSERT_EQ(rows.size(), 39u);
  MutationBatch batch;
  ASSERT_TRUE(DecodeWireRows(schema, rows, 3, {}, &batch).ok());
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(Hex(batch.key(0)), "80 00 00 00 00 00 00 07");
  EXPECT_EQ(Hex(batch.value(0)), "01 02 04 5a 6f c3 ab");
  EXPECT_EQ(Hex(batch.key(1)), "7f ff ff ff ff ff ff fe");
  EXPECT_EQ(Hex(batch.value(1)), "01 00 00 2c 01 00 00");
  EXPECT_EQ(Hex(batch.key(2)), "80 00 00 00 00 00 00 07");
  EXPECT_EQ(Hex(batch.value(2)), "02");
}

TEST(WireRowsTest, DecodeMatchesTableEncodingOfTheSameRows) {
  const TableSchema& schema = AllTypes();
  Rows rows = SampleRows();
  MutationBatch decoded;
  ASSERT_TRUE(DecodeWireRows(schema, Wire(schema, rows), rows.size(), {}, &decoded).ok());
  MutationBatch expected = TableBatch(schema, rows);
  EXPECT_EQ(Entries(decoded), Entries(expected));
  EXPECT_EQ(decoded.ByteSize(), expected.ByteSize());
  EXPECT_EQ(std::string(decoded.data(), decoded.ByteSize()),
            std::string(expected.data(), expected.ByteSize()));
}

TEST(WireRowsTest, DecodeMatchesTableEncodingAcrossSchemaShapes) {
  // Bitmaps of 0, 1 and 2 bytes with and without padding bits, a key-only
  // schema, key order opposite to schema order, every key type.
  struct Case {
    const char* columns;
    const char* key;
  };
  const Case cases[] = {
      {"id BIGINT", "id"},
      {"a STRING, b BINARY", "b, a"},
      {"c1 INT, c2 INT, c3 INT, c4 INT, c5 INT, c6 INT, c7 INT, c8 STRING", "c8"},
      {"c1 INT, c2 INT, c3 INT, c4 INT, c5 INT, c6 INT, c7 INT, c8 INT, c9 INT", "c9, c1"},
      {"kb BOOLEAN, kt TINYINT, ks SMALLINT, kd DECIMAL(38,0), kdt DATE, kdtm DATETIME, "
       "kts TIMESTAMP, v DOUBLE",
       "kts, kdtm, kdt, kd, ks, kt, kb"},
      {"v TIMESTAMP_LTZ(9), k TIMESTAMP_LTZ(9), s STRING", "s, k"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.columns);
    TableSchema schema = MustParse(c.columns, c.key);
    Rows rows;
    for (int n = 0; n < 6; ++n) {
      Row row(schema.columns().size());
      for (size_t i = 0; i < row.size(); ++i) {
        const table::Column& col = schema.columns()[i];
        if (!schema.IsKeyColumn(static_cast<int>(i)) && (n + i) % 3 == 0) continue;  // NULL
        switch (col.type) {
          case table::ColumnType::kBoolean:
            row[i] = n % 2 == 1;
            break;
          case table::ColumnType::kDouble:
            row[i] = n * -1.25;
            break;
          case table::ColumnType::kDecimal:
            row[i] = static_cast<__int128>(n - 3) * static_cast<__int128>(kI64Max) * 1000;
            break;
          case table::ColumnType::kString:
          case table::ColumnType::kBinary:
            row[i] = std::string(static_cast<size_t>(n * 50), static_cast<char>('a' + n));
            break;
          case table::ColumnType::kDate:
            row[i] = int64_t{n * 1000 - 3000};
            break;
          default:
            row[i] = int64_t{n * 37 - 100};
            break;
        }
      }
      rows.emplace_back(n % 4 == 3 ? RowOp::kDelete : RowOp::kUpsert, row);
    }
    MutationBatch decoded;
    ASSERT_TRUE(DecodeWireRows(schema, Wire(schema, rows), rows.size(), {}, &decoded).ok());
    EXPECT_EQ(Entries(decoded), Entries(TableBatch(schema, rows)));
  }
}

TEST(WireRowsTest, ParseRoundTripsEveryType) {
  const TableSchema& schema = AllTypes();
  Rows rows = SampleRows();
  Rows parsed;
  ASSERT_TRUE(ParseWireRows(schema, Wire(schema, rows), rows.size(), {}, &parsed).ok());
  ASSERT_EQ(parsed.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(parsed[i].first, rows[i].first);
    Row expected = rows[i].second;
    if (rows[i].first == RowOp::kDelete) {
      // A delete carries only its key; the other columns read as NULL.
      for (size_t c = 0; c < expected.size(); ++c) {
        if (!schema.IsKeyColumn(static_cast<int>(c))) expected[c] = std::monostate();
      }
    }
    ExpectSameRow(parsed[i].second, expected);
  }
}

TEST(WireRowsTest, ParseAppendsAfterExistingRows) {
  const TableSchema& schema = AllTypes();
  Rows parsed(2);
  ASSERT_TRUE(
      ParseWireRows(schema, Wire(schema, {{RowOp::kUpsert, ValidRow(1)}}), 1, {}, &parsed).ok());
  ASSERT_EQ(parsed.size(), 3u);
  ExpectSameRow(parsed[2].second, ValidRow(1));
}

TEST(WireRowsTest, DecodeAppendsAfterExistingEntries) {
  const TableSchema& schema = AllTypes();
  Rows first = {{RowOp::kUpsert, ValidRow(1)}};
  Rows second = {{RowOp::kDelete, ValidRow(2)}, {RowOp::kUpsert, SparseRow(3)}};
  MutationBatch batch;
  ASSERT_TRUE(DecodeWireRows(schema, Wire(schema, first), 1, {}, &batch).ok());
  ASSERT_TRUE(DecodeWireRows(schema, Wire(schema, second), 2, {}, &batch).ok());
  Rows all = first;
  all.insert(all.end(), second.begin(), second.end());
  EXPECT_EQ(Entries(batch), Entries(TableBatch(schema, all)));
}

TEST(WireRowsTest, EmptyBatch) {
  MutationBatch batch;
  EXPECT_TRUE(DecodeWireRows(AllTypes(), "", 0, {}, &batch).ok());
  EXPECT_TRUE(batch.empty());
}

TEST(WireRowsTest, FromEntryRoundTripsStoredEntries) {
  const TableSchema& schema = AllTypes();
  Rows rows = SampleRows();
  MutationBatch stored = TableBatch(schema, rows);
  std::string wire;
  for (size_t i = 0; i < stored.size(); ++i) {
    ASSERT_TRUE(AppendWireRowFromEntry(schema, stored.key(i), stored.value(i), &wire).ok());
  }
  EXPECT_EQ(wire, Wire(schema, rows));
  MutationBatch again;
  ASSERT_TRUE(DecodeWireRows(schema, wire, stored.size(), {}, &again).ok());
  EXPECT_EQ(Entries(again), Entries(stored));
}

TEST(WireRowsTest, FromEntryRejectsDamagedEntriesAsDataLoss) {
  const TableSchema& schema = AllTypes();
  MutationBatch stored = TableBatch(schema, {{RowOp::kUpsert, ValidRow(1)}});
  std::string key(stored.key(0)), value(stored.value(0));
  std::string out = "unchanged";
  EXPECT_TRUE(
      absl::IsDataLoss(AppendWireRowFromEntry(schema, key.substr(0, key.size() - 1), value, &out)));
  EXPECT_TRUE(absl::IsDataLoss(AppendWireRowFromEntry(schema, key, "\x07", &out)));
  EXPECT_TRUE(absl::IsDataLoss(AppendWireRowFromEntry(schema, key, "", &out)));
  EXPECT_TRUE(absl::IsDataLoss(AppendWireRowFromEntry(schema, key, value + "x", &out)));
  EXPECT_TRUE(absl::IsDataLoss(AppendWireRowFromEntry(schema, key, value.substr(0, 5), &out)));
  EXPECT_EQ(out, "unchanged");
}

TEST(WireRowsTest, NonMinimalLengthIsAcceptedAndStoredMinimal) {
  TableSchema schema = MustParse("id BIGINT, name STRING", "id");
  std::string padded =
      B("\x01\x00\x07\0\0\0\0\0\0\0\x82\x80\x00"
        "ab");
  MutationBatch batch;
  ASSERT_TRUE(DecodeWireRows(schema, padded, 1, {}, &batch).ok());
  EXPECT_EQ(Hex(batch.value(0)), "01 00 02 61 62");
}

TEST(WireRowsTest, SignallingFloatNanIsStoredQuietAsARowWouldHoldIt) {
  TableSchema schema = MustParse("id INT, f FLOAT, d DOUBLE", "id");
  std::string wire =
      B("\x01\x00\x01\0\0\0\x01\x00\x80\x7f\x01\0\0\0\0\0\xf0\x7f");  // sNaN float and double
  MutationBatch batch;
  ASSERT_TRUE(DecodeWireRows(schema, wire, 1, {}, &batch).ok());
  EXPECT_EQ(Hex(batch.value(0)), "01 00 01 00 c0 7f 01 00 00 00 00 00 f0 7f");
  Rows parsed;
  ASSERT_TRUE(ParseWireRows(schema, wire, 1, {}, &parsed).ok());
  EXPECT_EQ(Entries(batch), Entries(TableBatch(schema, parsed)));
}

TEST(WireRowsTest, DateRangesMatchTheJsonPath) {
  TableSchema schema = MustParse("id INT, dt DATE, dtm DATETIME", "id");
  auto row = [&](const char* json) {
    absl::StatusOr<Row> r = table::RowFromJson(schema, nlohmann::json::parse(json));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  Row low = row(R"({"id":1,"dt":"0001-01-01","dtm":"0001-01-01 00:00:00"})");
  Row high = row(R"({"id":1,"dt":"9999-12-31","dtm":"9999-12-31 23:59:59.999"})");
  EXPECT_EQ(table::IntOf(low[1]), kMinDay);
  EXPECT_EQ(table::IntOf(high[1]), kMaxDay);
  EXPECT_EQ(table::IntOf(low[2]), kMinDay * kMsPerDay);
  EXPECT_EQ(table::IntOf(high[2]), (kMaxDay + 1) * kMsPerDay - 1);
  EXPECT_TRUE(
      Decode(schema, Wire(schema, {{RowOp::kUpsert, low}, {RowOp::kUpsert, high}}), 2).ok());
  // One past either end, as the JSON path also refuses.
  EXPECT_FALSE(
      table::RowFromJson(schema, nlohmann::json::parse(R"({"id":1,"dtm":253402300800000})")).ok());
  for (auto [col, v] :
       {std::pair{1, kMinDay - 1}, std::pair{1, kMaxDay + 1}, std::pair{2, kMinDay * kMsPerDay - 1},
        std::pair{2, (kMaxDay + 1) * kMsPerDay}}) {
    Row r = low;
    r[col] = v;
    EXPECT_THAT(DecodeError(schema, Wire(schema, {{RowOp::kUpsert, r}}), 1),
                HasSubstr(Cat(v, " is out of range")));
  }
}

TEST(WireRowsTest, NestedColumnsRoundTripAndAreChecked) {
  TableSchema schema = MustParse(
      "id INT, tags ARRAY<STRING>, m MAP<STRING,ARRAY<DECIMAL(4,1)>>, "
      "s STRUCT<a:BOOLEAN,b:TIMESTAMP_LTZ(3),c:DATE>",
      "id");
  auto row = [&](const char* json) {
    absl::StatusOr<Row> r = table::RowFromJson(schema, nlohmann::json::parse(json));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  Rows rows = {
      {RowOp::kUpsert, row(R"({"id":1,"tags":["x",null,"y"],"m":{"k":["1.5",null]},)"
                           R"("s":{"a":true,"b":"2024-02-29T12:34:56.123Z","c":"2024-02-29"}})")},
      {RowOp::kUpsert, row(R"({"id":2,"tags":[],"m":{},"s":{}})")},
      {RowOp::kDelete, row(R"({"id":1})")},
  };
  std::string wire = Wire(schema, rows);
  MutationBatch decoded;
  ASSERT_TRUE(DecodeWireRows(schema, wire, rows.size(), {}, &decoded).ok());
  EXPECT_EQ(Entries(decoded), Entries(TableBatch(schema, rows)));
  Rows parsed;
  ASSERT_TRUE(ParseWireRows(schema, wire, rows.size(), {}, &parsed).ok());
  ASSERT_EQ(parsed.size(), rows.size());
  EXPECT_TRUE(parsed[0].second == rows[0].second);
  EXPECT_TRUE(parsed[1].second == rows[1].second);

  // A nested value whose leaves break the column rules, or whose layout is
  // malformed, is refused with the row and column named.
  auto refused = [&](Row r, std::string_view message) {
    std::string w = Wire(schema, {{RowOp::kUpsert, r}});
    MutationBatch out;
    absl::Status st = DecodeWireRows(schema, w, 1, {}, &out);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(std::string(message)));
    EXPECT_EQ(out.size(), 0u);
  };
  Row bad = rows[1].second;
  bad[1] = std::string("\x01\x00\x01\xff", 4);  // ARRAY<STRING> ["\xff"]
  refused(bad, "row 0: column 'tags' (ARRAY<STRING>): element 0: invalid UTF-8");
  bad = rows[1].second;
  bad[3] = std::string("\x06\x02", 2);  // STRUCT: a = byte 2
  refused(bad, "column 's' (STRUCT<a:BOOLEAN,b:TIMESTAMP_LTZ(3),c:DATE>): field 'a'");
  bad = rows[1].second;
  std::string ltz("\x05", 1);  // only b: 1 ns, finer than milliseconds
  PutLittleEndian<uint64_t>(1, &ltz);
  bad[3] = ltz;
  refused(bad, "field 'b': TIMESTAMP_LTZ 1 has digits finer than the precision");
  bad = rows[1].second;
  // {"": [10000 unscaled]}: count 1, bitmap, key "", an 18-byte ARRAY of one DECIMAL(4,1).
  std::string dec("\x01\x00\x00\x12\x01\x00", 6);
  PutLittleEndian<unsigned __int128>(10000, &dec);
  bad[2] = dec;
  refused(bad, "value of entry 0: element 0: DECIMAL value does not fit");
  bad = rows[1].second;
  bad[1] = std::string("\x02\x00\x00", 3);  // count 2, one element's bytes
  refused(bad, "column 'tags' (ARRAY<STRING>): element 1: corrupt value: truncated length");

  // max_value_bytes bounds the whole nested value.
  WireLimits small;
  small.max_value_bytes = 4;
  MutationBatch out;
  absl::Status st = DecodeWireRows(schema, wire, rows.size(), small, &out);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("exceeds max_value_bytes"));
}

TEST(WireRowsTest, TimestampLtzRoundTripsAndKeepsItsPrecision) {
  TableSchema schema = MustParse(
      "k TIMESTAMP_LTZ(3), id INT, t0 TIMESTAMP_LTZ(0), t6 TIMESTAMP_LTZ, t9 TIMESTAMP_LTZ(9)",
      "k, id");
  auto row = [&](const char* json) {
    absl::StatusOr<Row> r = table::RowFromJson(schema, nlohmann::json::parse(json));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  Rows rows = {
      {RowOp::kUpsert, row(R"({"k":"2024-02-29T12:34:56.123Z","id":1,"t0":"1970-01-01T00:00:00Z",)"
                           R"("t6":"1969-12-31T23:59:59.999999Z","t9":"2262-04-11T23:47:16.854775807Z"})")},
      {RowOp::kUpsert, row(R"({"k":"1677-09-21T00:12:43.146Z","id":2,"t9":-9223372036854775808})")},
      {RowOp::kDelete, row(R"({"k":"2024-02-29T20:34:56.123+08:00","id":1})")},
  };
  EXPECT_EQ(table::IntOf(rows[0].second[0]), 1'709'210'096'123'000'000);
  EXPECT_EQ(table::IntOf(rows[0].second[4]), kI64Max);
  std::string wire = Wire(schema, rows);
  MutationBatch decoded;
  ASSERT_TRUE(DecodeWireRows(schema, wire, rows.size(), {}, &decoded).ok());
  EXPECT_EQ(Entries(decoded), Entries(TableBatch(schema, rows)));
  Rows parsed;
  ASSERT_TRUE(ParseWireRows(schema, wire, rows.size(), {}, &parsed).ok());
  ASSERT_EQ(parsed.size(), rows.size());
  EXPECT_TRUE(parsed[0].second == rows[0].second);
  EXPECT_TRUE(parsed[1].second == rows[1].second);

  // Digits finer than the column's precision are refused, in a key and in a
  // value, as the JSON path refuses them.
  for (auto [col, v, unit] : {std::tuple{0, int64_t{1'709'210'096'123'400'000}, 1'000'000},
                              std::tuple{2, int64_t{-1}, 1'000'000'000},
                              std::tuple{3, int64_t{999}, 1'000},
                              std::tuple{3, kI64Min, 1'000}}) {
    Row r = rows[1].second;
    r[col] = v;
    EXPECT_EQ(DecodeError(schema, Wire(schema, {{RowOp::kUpsert, r}}), 1),
              Cat("row 0: column '", schema.columns()[col].name, "' (",
                  schema.columns()[col].TypeString(), "): ", v,
                  " has digits finer than the precision (nanoseconds must be a multiple of ", unit,
                  ")"));
    nlohmann::json j = {{"k", 0}, {"id", 2}};
    j[schema.columns()[col].name] = v;
    EXPECT_FALSE(table::RowFromJson(schema, j).ok()) << j.dump();
  }
  Row key_only = rows[1].second;
  key_only[0] = int64_t{1};
  EXPECT_THAT(DecodeError(schema, Wire(schema, {{RowOp::kDelete, key_only}}), 1),
              HasSubstr("column 'k' (TIMESTAMP_LTZ(3)): 1 has digits finer than the precision"));
}

// ---------------------------------------------------------------------------
// Errors: each names the row index and the column.

std::string WireOf(const Rows& rows) { return Wire(AllTypes(), rows); }

std::string ErrorInSecondRow(Col col, Value v) {
  Row bad = ValidRow(2);
  bad[col] = std::move(v);
  return DecodeError(AllTypes(), WireOf({{RowOp::kUpsert, ValidRow(1)}, {RowOp::kUpsert, bad}}), 2);
}

TEST(WireRowsErrorTest, ValueChecks) {
  EXPECT_EQ(ErrorInSecondRow(kDec, static_cast<__int128>(10'000'000'000)),
            "row 1: column 'dec' (DECIMAL(10,2)): 10000000000 does not fit (unscaled; magnitude "
            "must be below 10^10)");
  EXPECT_EQ(ErrorInSecondRow(kDec, -static_cast<__int128>(10'000'000'000)),
            "row 1: column 'dec' (DECIMAL(10,2)): -10000000000 does not fit (unscaled; magnitude "
            "must be below 10^10)");
  const __int128 i128_min = static_cast<__int128>(static_cast<unsigned __int128>(1) << 127);
  EXPECT_EQ(ErrorInSecondRow(kDec, i128_min),
            "row 1: column 'dec' (DECIMAL(10,2)): -170141183460469231731687303715884105728 does "
            "not fit (unscaled; magnitude must be below 10^10)");
  EXPECT_EQ(ErrorInSecondRow(kDt, int64_t{-719'163}),
            "row 1: column 'dt' (DATE): -719163 is out of range");
  EXPECT_EQ(ErrorInSecondRow(kDtm, int64_t{kI64Max}),
            "row 1: column 'dtm' (DATETIME): 9223372036854775807 is out of range");
  EXPECT_EQ(ErrorInSecondRow(kStr, std::string("ok\xff")),
            "row 1: column 'str' (STRING): invalid UTF-8 at byte 2 of the value");
  EXPECT_EQ(ErrorInSecondRow(kKStr, std::string("\xed\xa0\x80")),  // surrogate, in a key
            "row 1: column 'k_str' (STRING): invalid UTF-8 at byte 0 of the value");
  EXPECT_EQ(ErrorInSecondRow(kKInt, std::monostate()), "row 1: missing primary-key column 'k_int'");
  EXPECT_EQ(ErrorInSecondRow(kKStr, std::monostate()), "row 1: missing primary-key column 'k_str'");
  EXPECT_EQ(ErrorInSecondRow(kReq, std::monostate()), "row 1: column 'req' is NOT NULL");
}

TEST(WireRowsErrorTest, BooleanByte) {
  std::string wire = WireOf({{RowOp::kUpsert, ValidRow(1)}});
  ASSERT_EQ(wire[3], '\x01');  // op, 2 bitmap bytes, then b
  wire[3] = '\x02';
  EXPECT_EQ(DecodeError(AllTypes(), wire, 1),
            "row 0: column 'b' (BOOLEAN): expected byte 0 or 1, got 0x02");
}

TEST(WireRowsErrorTest, BinaryIsNotCheckedForUtf8AndFloatsTakeAnyBits) {
  Row row = ValidRow(1);
  row[kBin] = std::string("\xff\xfe\xc0\x80");
  std::string wire = WireOf({{RowOp::kUpsert, row}});
  EXPECT_TRUE(Decode(AllTypes(), wire, 1).ok());
  TableSchema schema = MustParse("id INT, f FLOAT, d DOUBLE", "id");
  for (uint32_t bits : {0x7fffffffu, 0xffc00001u, 0x80000000u, 0x00000001u, 0xff800000u}) {
    std::string w = B("\x01\x00\x01\0\0\0");
    for (int i = 0; i < 4; ++i) w.push_back(static_cast<char>(bits >> (8 * i)));
    for (int i = 0; i < 8; ++i) w.push_back(static_cast<char>(bits >> (4 * i)));
    EXPECT_TRUE(Decode(schema, w, 1).ok()) << std::hex << bits;
  }
}

TEST(WireRowsErrorTest, Utf8AgreesWithACodePointDecoder) {
  // Reference: decode by bit pattern, then reject overlongs, surrogates and
  // code points past U+10FFFF.
  auto valid = [](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      auto b = static_cast<unsigned char>(s[i]);
      int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
      if (len == 0 || i + len > s.size()) return false;
      uint32_t cp = len == 1 ? b : b & (0x7f >> len);
      for (int k = 1; k < len; ++k) {
        auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (c & 0x3f);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
      i += len;
    }
    return true;
  };
  TableSchema schema = MustParse("id INT, s STRING", "id");
  const std::string prefix = B("\x01\x00\x01\0\0\0");
  int checked = 0;
  auto check = [&](const std::string& s) {
    // Behind 9 ASCII bytes, so the word-at-a-time path hands over mid-value.
    for (const std::string& text : {s, "123456789" + s}) {
      std::string wire = prefix;
      wire.push_back(static_cast<char>(text.size()));
      wire += text;
      ASSERT_EQ(Decode(schema, wire, 1).ok(), valid(text)) << Hex(text);
      ++checked;
    }
  };
  const int tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
  for (int a = 0; a < 256; ++a) {
    check(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      std::string two = {static_cast<char>(a), static_cast<char>(b)};
      check(two);
      if (a < 0xe0) continue;
      for (int c : tails) {
        check(two + static_cast<char>(c));
        if (a < 0xf0) continue;
        for (int d : tails) check(two + static_cast<char>(c) + static_cast<char>(d));
      }
    }
  }
  EXPECT_GT(checked, 100000);
}

TEST(WireRowsErrorTest, OpByteAndBitmap) {
  TableSchema schema = MustParse("id INT, v STRING", "id");  // 1 bitmap byte, 6 padding bits
  std::string good = B("\x01\x02\x05\0\0\0");                // v NULL
  EXPECT_TRUE(Decode(schema, good, 1).ok());
  EXPECT_EQ(DecodeError(schema, good + "\x03", 2),
            "row 1: unknown op byte 0x03 (expected 0x01 upsert or 0x02 delete)");
  EXPECT_EQ(DecodeError(schema, good + B("\x00"), 2),
            "row 1: unknown op byte 0x00 (expected 0x01 upsert or 0x02 delete)");
  std::string padding = good;
  padding[1] = '\x06';
  EXPECT_EQ(DecodeError(schema, padding, 1),
            "row 0: null bitmap has bits set past the last column");
  EXPECT_EQ(DecodeError(schema, good + "\x01", 2),
            "row 1: null bitmap runs past the end of the batch");
}

TEST(WireRowsErrorTest, TruncatedFields) {
  TableSchema schema = MustParse("id BIGINT, name STRING", "id");
  std::string row = B("\x01\x00\x07\0\0\0\0\0\0\0");
  EXPECT_EQ(DecodeError(schema, row.substr(0, 9), 1),
            "row 0: column 'id' (BIGINT): value runs past the end of the batch");
  EXPECT_EQ(DecodeError(schema, row, 1),
            "row 0: column 'name' (STRING): length runs past the end of the batch");
  EXPECT_EQ(DecodeError(schema, row + "\x80", 1),
            "row 0: column 'name' (STRING): length runs past the end of the batch");
  EXPECT_EQ(DecodeError(schema,
                        row + "\x05"
                              "abc",
                        1),
            "row 0: column 'name' (STRING): 5-byte value runs past the end of the batch");
  EXPECT_EQ(DecodeError(schema, row + std::string(9, '\xff') + "\x02", 1),
            "row 0: column 'name' (STRING): length overflows 64 bits");
  EXPECT_EQ(DecodeError(schema, row + std::string(10, '\x80') + B("\x00"), 1),
            "row 0: column 'name' (STRING): length overflows 64 bits");
  EXPECT_EQ(DecodeError(schema, B("\x02\x07\0\0"), 1),
            "row 0: column 'id' (BIGINT): value runs past the end of the batch");
}

TEST(WireRowsErrorTest, RowCountMustMatchTheBytes) {
  const TableSchema& schema = AllTypes();
  Rows rows = SampleRows();
  std::string wire = WireOf(rows);
  EXPECT_EQ(DecodeError(schema, wire, rows.size() + 3),
            fmt::format("batch declares {} rows but holds {}", rows.size() + 3, rows.size()));
  std::string one = WireOf({{RowOp::kDelete, ValidRow(1)}});
  EXPECT_EQ(DecodeError(schema, wire + one, rows.size()),
            fmt::format("trailing bytes after row {}, the last of the {} declared rows ({} bytes)",
                        rows.size() - 1, rows.size(), one.size()));
  EXPECT_EQ(DecodeError(schema, one, 0),
            fmt::format("batch declares 0 rows but holds {} bytes", one.size()));
  EXPECT_EQ(DecodeError(schema, "", 1), "batch declares 1 rows but holds 0");
}

TEST(WireRowsErrorTest, Limits) {
  TableSchema schema = MustParse("id BIGINT, name STRING", "id");
  Rows rows;
  for (int i = 0; i < 4; ++i) rows.push_back({RowOp::kUpsert, {int64_t{i}, std::string(10, 'x')}});
  std::string wire = Wire(schema, rows);  // 4 rows of 21 bytes

  WireLimits limits;
  limits.max_rows = 4;
  limits.max_bytes = wire.size();
  limits.max_value_bytes = 10;
  EXPECT_TRUE(Decode(schema, wire, 4, limits).ok());

  WireLimits rows_limit = limits;
  rows_limit.max_rows = 3;
  EXPECT_EQ(DecodeError(schema, wire, 4, rows_limit), "batch of 4 rows exceeds max_rows (3)");
  WireLimits bytes_limit = limits;
  bytes_limit.max_bytes = wire.size() - 1;
  EXPECT_EQ(DecodeError(schema, wire, 4, bytes_limit),
            fmt::format("batch of {} bytes exceeds max_bytes ({})", wire.size(), wire.size() - 1));
  WireLimits value_limit = limits;
  value_limit.max_value_bytes = 9;
  EXPECT_EQ(DecodeError(schema, wire, 4, value_limit),
            "row 0: column 'name' (STRING): value of 10 bytes exceeds max_value_bytes (9)");
  // A huge declared length fails on the limit, before any bounds arithmetic.
  std::string huge = B("\x01\x00\x07\0\0\0\0\0\0\0\x80\x80\x80\x80\x10");
  EXPECT_EQ(DecodeError(schema, huge, 1),
            "row 0: column 'name' (STRING): value of 4294967296 bytes exceeds max_value_bytes "
            "(16777216)");
  // A bogus row count fails without reserving for it.
  EXPECT_EQ(DecodeError(schema, wire, 1'000'000), "batch declares 1000000 rows but holds 4");
}

TEST(WireRowsErrorTest, NothingIsAppendedOnError) {
  const TableSchema& schema = AllTypes();
  Row bad = ValidRow(9);
  bad[kReq] = std::monostate();
  Rows rows = SampleRows();
  rows.push_back({RowOp::kUpsert, bad});

  MutationBatch batch = TableBatch(schema, {{RowOp::kUpsert, ValidRow(100)}});
  auto before = Entries(batch);
  size_t bytes = batch.ByteSize();
  absl::Status s = DecodeWireRows(schema, WireOf(rows), rows.size(), {}, &batch);
  EXPECT_EQ(s.message(), fmt::format("row {}: column 'req' is NOT NULL", rows.size() - 1));
  EXPECT_EQ(Entries(batch), before);
  EXPECT_EQ(batch.ByteSize(), bytes);

  // The batch stays usable.
  rows.pop_back();
  ASSERT_TRUE(DecodeWireRows(schema, WireOf(rows), rows.size(), {}, &batch).ok());
  Rows all = {{RowOp::kUpsert, ValidRow(100)}};
  all.insert(all.end(), rows.begin(), rows.end());
  EXPECT_EQ(Entries(batch), Entries(TableBatch(schema, all)));
}

TEST(WireRowsErrorTest, EveryTruncationAndByteFlipIsHandled) {
  const TableSchema& schema = AllTypes();
  Rows rows = SampleRows();
  rows.erase(rows.begin() + 2);  // the 20 kB row makes this quadratic test slow
  std::vector<size_t> boundaries = {0};
  std::string wire;
  for (const auto& r : rows) {
    AppendWireRow(schema, r.first, r.second, &wire);
    boundaries.push_back(wire.size());
  }
  MutationBatch sentinel = TableBatch(schema, {{RowOp::kDelete, ValidRow(5)}});
  auto sentinel_entries = Entries(sentinel);
  for (size_t len = 0; len <= wire.size(); ++len) {
    std::string_view prefix(wire.data(), len);
    size_t complete =
        std::upper_bound(boundaries.begin(), boundaries.end(), len) - boundaries.begin() - 1;
    for (uint32_t count : {static_cast<uint32_t>(rows.size()), static_cast<uint32_t>(complete)}) {
      MutationBatch batch = sentinel;
      absl::Status s = DecodeWireRows(schema, prefix, count, {}, &batch);
      bool expect_ok = boundaries[complete] == len && count == complete;
      ASSERT_EQ(s.ok(), expect_ok) << "len " << len << " count " << count << ": " << s;
      if (!s.ok()) {
        ASSERT_TRUE(absl::IsInvalidArgument(s)) << s;
        ASSERT_EQ(Entries(batch), sentinel_entries);
      } else {
        ASSERT_EQ(batch.size(), 1 + count);
      }
    }
  }
  for (size_t pos = 0; pos < wire.size(); ++pos) {
    for (int delta : {1, 0x40, 0x80, 0xff}) {
      std::string flipped = wire;
      flipped[pos] = static_cast<char>(flipped[pos] + delta);
      MutationBatch batch = sentinel;
      absl::Status s = DecodeWireRows(schema, flipped, rows.size(), {}, &batch);
      ASSERT_TRUE(s.ok() || absl::IsInvalidArgument(s)) << s;
      if (!s.ok()) {
        ASSERT_EQ(Entries(batch), sentinel_entries);
      }
      Rows parsed;
      ASSERT_EQ(ParseWireRows(schema, flipped, rows.size(), {}, &parsed), s);
      if (s.ok()) {
        MutationBatch expected = sentinel;
        for (const auto& [op, row] : parsed) {
          op == RowOp::kUpsert ? expected.Upsert(schema, row) : expected.Delete(schema, row);
        }
        ASSERT_EQ(Entries(batch), Entries(expected)) << "pos " << pos;
      }
    }
  }
}

TEST(MutationBatchTruncateTest, DropsTrailingEntriesAndTheirBytes) {
  MutationBatch batch;
  batch.Add("k1", "\x02");
  batch.Add("key2", "\x01value");
  batch.Add("k3", "\x02");
  batch.Truncate(5);  // more than held: no-op
  EXPECT_EQ(batch.size(), 3u);
  batch.Truncate(1);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.ByteSize(), 3u);
  EXPECT_EQ(batch.key(0), "k1");
  batch.Add("k4", "\x02");
  EXPECT_EQ(batch.key(1), "k4");
  EXPECT_EQ(batch.entry(1).offset, 3u);
  batch.Truncate(0);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.ByteSize(), 0u);
}

// ---------------------------------------------------------------------------
// Throughput (printed, not asserted).

TEST(WireRowsThroughputTest, DecodeOneMillionRows) {
  TableSchema schema = MustParse(
      "id BIGINT, city STRING, status STRING, amount DOUBLE, qty INT, ts TIMESTAMP, note STRING",
      "id");
  const char* cities[] = {"Amsterdam", "São Paulo", "Hangzhou", "Reykjavík", "Nairobi", "Lima"};
  const char* statuses[] = {"NEW", "PAID", "SHIPPED", "RETURNED"};
  constexpr uint32_t kRows = 1'000'000;
  std::string wire;
  Rows sample;
  for (uint32_t i = 0; i < kRows; ++i) {
    Row row = {int64_t{i} * 7919,
               std::string(cities[i % 6]),
               std::string(statuses[i % 4]),
               i * 0.25,
               int64_t{i % 1000},
               int64_t{1'700'000'000'000'000'000} + i,
               fmt::format("order {} note: leave at the front door please, ring twice", i)};
    AppendWireRow(schema, i % 10 == 9 ? RowOp::kDelete : RowOp::kUpsert, row, &wire);
    if (i < 1000) sample.emplace_back(i % 10 == 9 ? RowOp::kDelete : RowOp::kUpsert, row);
  }
  WireLimits limits;
  limits.max_bytes = 256 << 20;
  MutationBatch batch;
  double best = 1e9;
  for (int run = 0; run < 5; ++run) {
    batch.Clear();
    auto start = std::chrono::steady_clock::now();
    absl::Status s = DecodeWireRows(schema, wire, kRows, limits, &batch);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(s.ok()) << s;
    best = std::min(best, seconds);
  }
  ASSERT_EQ(batch.size(), kRows);
  std::printf("DecodeWireRows: %u rows, %.1f bytes/row: %.2f M rows/s, %.0f MB/s (best of 5)\n",
              kRows, static_cast<double>(wire.size()) / kRows, kRows / best / 1e6,
              wire.size() / best / 1e6);

  // For comparison: the same rows through table::Row and MutationBatch::Upsert.
  Rows parsed;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(ParseWireRows(schema, wire, kRows, limits, &parsed).ok());
  double parse_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MutationBatch via_rows;
  start = std::chrono::steady_clock::now();
  for (const auto& [op, row] : parsed) {
    op == RowOp::kUpsert ? via_rows.Upsert(schema, row) : via_rows.Delete(schema, row);
  }
  double upsert_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("ParseWireRows: %.2f M rows/s; then MutationBatch::Upsert/Delete: %.2f M rows/s\n",
              kRows / parse_seconds / 1e6, kRows / upsert_seconds / 1e6);
  EXPECT_EQ(std::string(via_rows.data(), via_rows.ByteSize()),
            std::string(batch.data(), batch.ByteSize()));
}

}  // namespace
}  // namespace deltasidecar::sidecar
