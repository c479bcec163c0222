// Wire rows (wire_rows.h, docs/protocol.md "Row encoding"): the worked
// example, decoding to the table's own encoding, round trips of every type,
// and the decode rate. Malformed input is in wire_rows_errors_test.cc.
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
#include "sidecar/wire_rows_testing.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/schema.h"

namespace deltasidecar::sidecar {
namespace {

using namespace wire_testing;  // NOLINT: the helpers of every wire row test
using ::testing::HasSubstr;

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
