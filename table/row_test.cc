// Rows in their binary forms (row.h, docs/table-format.md §7): key and value
// encodings and the bucket of a key. Text forms are in row_text_test.cc.
#include "table/row.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "table/testing/row_testing.h"

namespace deltasidecar::table {
namespace {

using namespace row_testing;  // NOLINT: the helpers of every row test
using ::testing::HasSubstr;

TEST(RowKeyTest, PinnedBytes) {
  TableSchema s = MustParse(
      "b BOOLEAN, t TINYINT, sm SMALLINT, i INT, l BIGINT, d DECIMAL(5,2), "
      "str STRING, dt DATE",
      "b, t, sm, i, l, d, str, dt");
  Row row = {B(true), I(-1), I(1), I(-2), I(1), Dec(-1), S(std::string("a\0b", 3)), I(1)};
  EXPECT_EQ(Hex(EncodeKey(s, row)),
            "01 7f 80 01 7f ff ff fe 80 00 00 00 00 00 00 01 "
            "7f ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff "
            "61 00 ff 62 00 01 80 00 00 01");
  std::string out = "prefix";
  AppendKey(s, row, &out);
  EXPECT_EQ(out, "prefix" + EncodeKey(s, row));
}

TEST(RowKeyTest, RoundTripsAllTypes) {
  TableSchema s = AllTypesSchema();
  for (const Row& row : AllTypesRows()) {
    std::string key = EncodeKey(s, row);
    Row decoded(s.columns().size());
    ASSERT_TRUE(DecodeKey(s, key, &decoded).ok());
    for (int index : s.key_columns()) {
      EXPECT_TRUE(decoded[index] == row[index]) << s.columns()[index].name;
    }
    for (int index : s.value_columns()) EXPECT_TRUE(IsNull(decoded[index]));
  }
}

TEST(RowKeyTest, DecodeRejectsMalformed) {
  TableSchema s = AllTypesSchema();
  std::string key = EncodeKey(s, AllTypesRows()[0]);
  Row row(s.columns().size());
  for (size_t n = 0; n < key.size(); ++n) {
    absl::Status st = DecodeKey(s, key.substr(0, n), &row);
    ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << n;
    EXPECT_THAT(std::string(st.message()), HasSubstr("corrupt key: ")) << n;
  }
  absl::Status trailing = DecodeKey(s, key + "x", &row);
  EXPECT_EQ(trailing.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(trailing.message()), HasSubstr("1 trailing bytes"));

  TableSchema str = MustParse("k STRING", "k");
  Row one(1);
  absl::Status escape = DecodeKey(str, std::string("a\0\x07", 3), &one);
  EXPECT_EQ(escape.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(escape.message()), HasSubstr("column 'k'"));
  EXPECT_EQ(DecodeKey(str, "abc", &one).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeKey(str, std::string("abc\0", 4), &one).code(), absl::StatusCode::kDataLoss);

  TableSchema boolean = MustParse("k BOOLEAN", "k");
  absl::Status bad_bool = DecodeKey(boolean, "\x02", &one);
  EXPECT_EQ(bad_bool.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad_bool.message()), HasSubstr("column 'k'"));
  EXPECT_EQ(DecodeKey(boolean, "\x01", &row).code(), absl::StatusCode::kInvalidArgument)
      << "row of the wrong size";
}

// Compares the key columns of two rows the way the primary key orders them.
int CompareKeys(const TableSchema& s, const Row& a, const Row& b) {
  for (int index : s.key_columns()) {
    const Value& x = a[index];
    const Value& y = b[index];
    if (x == y) continue;
    if (s.columns()[index].type == ColumnType::kString ||
        s.columns()[index].type == ColumnType::kBinary) {
      // std::string compares bytes as unsigned char.
      return std::get<std::string>(x) < std::get<std::string>(y) ? -1 : 1;
    }
    return x < y ? -1 : 1;  // same alternative: compares the held values
  }
  return 0;
}

Value RandomValue(const Column& c, std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int64_t> edges, int64_t lo, int64_t hi) {
    if (rng() % 3 == 0) return *(edges.begin() + rng() % edges.size());
    return lo + static_cast<int64_t>(rng() % (static_cast<uint64_t>(hi - lo) + 1));
  };
  switch (c.type) {
    case ColumnType::kBoolean:
      return B(rng() % 2);
    case ColumnType::kTinyint:
      return I(pick({-128, -1, 0, 1, 127}, -128, 127));
    case ColumnType::kSmallint:
      return I(pick({-32768, -1, 0, 1, 32767}, -32768, 32767));
    case ColumnType::kInt:
    case ColumnType::kDate:
      return I(pick({INT32_MIN, -1, 0, 1, INT32_MAX}, -3, 3));
    case ColumnType::kBigint:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz:
      if (rng() % 2) return I(static_cast<int64_t>(rng()));
      return I(pick({kMin64, kMin64 + 1, -1, 0, 1, kMax64}, -2, 2));
    case ColumnType::kDecimal: {
      __int128 max = MaxDecimal38();
      switch (rng() % 4) {
        case 0:
          return Dec(-max);
        case 1:
          return Dec(max);
        case 2:
          return Dec(static_cast<int64_t>(rng()) * static_cast<__int128>(rng() % 1000));
        default:
          return Dec(static_cast<int64_t>(rng() % 5) - 2);
      }
    }
    case ColumnType::kString:
    case ColumnType::kBinary: {
      static const char kAlphabet[] = {'\0', '\x01', 'a', 'b', '\xff'};
      std::string s(rng() % 4, ' ');
      for (char& ch : s) ch = kAlphabet[rng() % sizeof(kAlphabet)];
      return S(s);
    }
    default:
      return kNull;
  }
}

void CheckKeyOrder(const TableSchema& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Row> rows;
  for (int i = 0; i < 400; ++i) {
    Row row(s.columns().size());
    for (int index : s.key_columns()) row[index] = RandomValue(s.columns()[index], rng);
    rows.push_back(std::move(row));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string ki = EncodeKey(s, rows[i]);
    for (size_t j = 0; j < rows.size(); ++j) {
      std::string kj = EncodeKey(s, rows[j]);
      int expected = CompareKeys(s, rows[i], rows[j]);
      int actual = ki.compare(kj);
      ASSERT_EQ(expected < 0, actual < 0) << s.ColumnsString() << " rows " << i << "," << j;
      ASSERT_EQ(expected == 0, actual == 0) << s.ColumnsString() << " rows " << i << "," << j;
    }
  }
}

TEST(RowKeyTest, BytewiseOrderEqualsKeyOrder) {
  const char* single[] = {"BOOLEAN",  "TINYINT",   "SMALLINT",      "INT",    "BIGINT", "DATE",
                          "DATETIME", "TIMESTAMP", "DECIMAL(38,4)", "STRING", "BINARY",
                          "TIMESTAMP_LTZ(9)"};
  uint64_t seed = 1;
  for (const char* type : single) {
    CheckKeyOrder(MustParse(std::string("k ") + type + ", v INT", "k"), seed++);
  }
  CheckKeyOrder(MustParse("a STRING, b INT, c BINARY, d DECIMAL(10,2), e TINYINT", "a, b, c, d, e"),
                seed++);
  CheckKeyOrder(MustParse("a TINYINT, b STRING, c STRING", "c, a, b"), seed++);
  CheckKeyOrder(MustParse("a TIMESTAMP_LTZ(9), b STRING, c TIMESTAMP", "a, b, c"), seed++);
}

TEST(RowValueTest, PinnedBytes) {
  TableSchema s = MustParse("id INT, a SMALLINT, b STRING, c BOOLEAN, d DECIMAL(3,1)", "id");
  Row row = {I(7), I(-2), S("hi"), kNull, Dec(-1)};
  std::string out;
  AppendUpsertValue(s, row, &out);
  EXPECT_EQ(Hex(out), "01 04 fe ff 02 68 69 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff");
  EXPECT_EQ(DeleteValue(), std::string_view("\x02", 1));

  // Nine value columns need a two-byte bitmap; a 300-byte string a two-byte length.
  TableSchema wide = MustParse(
      "id INT, c0 INT, c1 INT, c2 INT, c3 INT, c4 INT, c5 INT, c6 INT, c7 INT, c8 STRING", "id");
  Row w(10);
  w[0] = I(1);
  w[9] = S(std::string(300, 'x'));
  out.clear();
  AppendUpsertValue(wide, w, &out);
  EXPECT_EQ(Hex(out.substr(0, 5)), "01 ff 00 ac 02");
  EXPECT_EQ(out.size(), 5u + 300u);
}

TEST(RowValueTest, RoundTripsAllTypes) {
  TableSchema s = AllTypesSchema();
  for (const Row& row : AllTypesRows()) {
    std::string key = EncodeKey(s, row);
    std::string value;
    AppendUpsertValue(s, row, &value);
    ASSERT_EQ(ValueOp(value).value(), RowOp::kUpsert);
    absl::StatusOr<Row> decoded = DecodeRow(s, key, value);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    for (size_t i = 0; i < row.size(); ++i) {
      EXPECT_TRUE((*decoded)[i] == row[i]) << s.columns()[i].name;
    }
    // Decoding into a reused row overwrites every value column.
    Row reused = AllTypesRows()[0];
    ASSERT_TRUE(DecodeValue(s, value, &reused).ok());
    for (int index : s.value_columns()) EXPECT_TRUE(reused[index] == row[index]);
  }
}

TEST(RowValueTest, NonFiniteFloatsRoundTrip) {
  TableSchema s = MustParse("id INT, f FLOAT, d DOUBLE", "id");
  Row row = {I(1), D(std::nan("")), D(-INFINITY)};
  std::string value;
  AppendUpsertValue(s, row, &value);
  Row out(3);
  ASSERT_TRUE(DecodeValue(s, value, &out).ok());
  EXPECT_TRUE(std::isnan(std::get<double>(out[1])));
  EXPECT_EQ(std::get<double>(out[2]), -INFINITY);
}

TEST(RowValueTest, DeleteValues) {
  TableSchema s = MustParse("id INT, v STRING", "id");
  ASSERT_EQ(ValueOp(DeleteValue()).value(), RowOp::kDelete);
  Row key = {I(5), kNull};
  absl::StatusOr<Row> row = DecodeRow(s, EncodeKey(s, key), DeleteValue());
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_TRUE((*row)[0] == I(5));
  EXPECT_TRUE(IsNull((*row)[1]));
  Row out(2);
  EXPECT_EQ(DecodeValue(s, DeleteValue(), &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRow(s, EncodeKey(s, key), "\x02x").status().code(), absl::StatusCode::kDataLoss);
}

void ExpectDataLoss(const absl::Status& st, std::string_view text) {
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(std::string(text)));
}

TEST(RowValueTest, DecodeRejectsMalformed) {
  TableSchema s = AllTypesSchema();
  std::string value;
  AppendUpsertValue(s, AllTypesRows()[0], &value);
  Row row(s.columns().size());
  for (size_t n = 0; n < value.size(); ++n) {
    ExpectDataLoss(DecodeValue(s, value.substr(0, n), &row), "corrupt value");
  }
  ExpectDataLoss(DecodeValue(s, value + "z", &row), "1 trailing bytes");
  ExpectDataLoss(ValueOp("").status(), "corrupt value: empty");
  ExpectDataLoss(ValueOp("\x07").status(), "unknown op byte 0x07");
  ExpectDataLoss(DecodeValue(s, std::string(1, '\0') + value.substr(1), &row), "op byte 0x00");

  TableSchema b = MustParse("id INT, flag BOOLEAN, n INT", "id");
  Row r3(3);
  ExpectDataLoss(DecodeValue(b, std::string("\x01\x02\x05", 3), &r3), "column 'flag'");
  ExpectDataLoss(DecodeValue(b, std::string("\x01\x02\x05", 3), &r3), "bad boolean byte 0x05");
  ExpectDataLoss(DecodeValue(b, std::string("\x01\x07", 2), &r3), "past the last column");
  ExpectDataLoss(DecodeValue(b, std::string("\x01\x00\x01\x01\x00", 5), &r3), "column 'n'");

  TableSchema str = MustParse("id INT, s STRING", "id");
  Row r2(2);
  ExpectDataLoss(DecodeValue(str,
                             std::string("\x01\x00\x05"
                                         "ab",
                                         5),
                             &r2),
                 "column 's'");
  ExpectDataLoss(DecodeValue(str, std::string("\x01\x00\x80", 3), &r2), "truncated length");
  ExpectDataLoss(
      DecodeValue(str, std::string("\x01\x00", 2) + std::string(10, '\xff') + "\x01", &r2),
      "overflows");
}


// ----------------------------------------------------------------------------
// Buckets.

TEST(BucketTest, XxHashIsTheReferenceAlgorithm) {
  EXPECT_EQ(XXH64("", 0, 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(BucketOf("", 1), 0);
  EXPECT_EQ(BucketOf("", 1000), static_cast<int>(0xEF46DB3751D8E999ULL % 1000));
}

// These vectors pin the bucket of a key on disk. They must NEVER change between
// versions: a different answer would route existing rows to the wrong bucket.
TEST(BucketTest, PinnedVectors) {
  struct Vector {
    const char* columns;
    const char* key;
    Row row;
    int buckets;
    int expected;
  };
  const Vector vectors[] = {
      {"id BIGINT", "id", {I(1)}, 16, 15},
      {"id BIGINT", "id", {I(-42)}, 4096, 3295},
      {"id INT", "id", {I(123456)}, 7, 3},
      {"name STRING", "name", {S("hello")}, 16, 10},
      {"a STRING, b DATE", "a, b", {S(std::string("x\0y", 3)), I(19782)}, 100, 77},
      {"d DECIMAL(10,2), t TIMESTAMP", "d, t", {Dec(-12345), I(1709210096123456789)}, 4096, 1623},
  };
  for (const Vector& v : vectors) {
    TableSchema s = MustParse(v.columns, v.key, v.buckets);
    EXPECT_EQ(BucketOf(EncodeKey(s, v.row), v.buckets), v.expected) << v.columns;
  }
}


// TIMESTAMP_LTZ has TIMESTAMP's binary forms (int64 nanoseconds since the epoch):
// as a key column, a value column and in a composite key.
TEST(RowTimestampLtzTest, KeyAndValueRoundTrip) {
  TableSchema s = MustParse(
      "k TIMESTAMP_LTZ(9), k2 TIMESTAMP_LTZ(3), v TIMESTAMP_LTZ(0), w TIMESTAMP_LTZ NOT NULL", "k, k2");
  std::vector<Row> rows = {
      {I(kMin64), I(-1000000), I(-1000000000), I(-1000)},
      {I(kMax64), I(kMax64 / 1000000 * 1000000), kNull, I(1709210096123456000)},
      {I(0), I(0), I(0), I(0)},
      {I(-1), I(1000000), I(1709210096000000000), I(kMin64 / 1000 * 1000)},
  };
  for (const Row& row : rows) {
    std::string key = EncodeKey(s, row);
    ASSERT_EQ(key.size(), 16u);
    std::string value;
    AppendUpsertValue(s, row, &value);
    absl::StatusOr<Row> decoded = DecodeRow(s, key, value);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_TRUE(*decoded == row);
  }
  // Exactly TIMESTAMP's key bytes: sign bit flipped, big-endian.
  TableSchema ts = MustParse("k TIMESTAMP", "k");
  TableSchema ltz = MustParse("k TIMESTAMP_LTZ(9)", "k");
  for (int64_t v : {kMin64, int64_t{-1}, int64_t{0}, int64_t{1709210096123456789}, kMax64}) {
    EXPECT_EQ(EncodeKey(ltz, {I(v)}), EncodeKey(ts, {I(v)}));
  }
  EXPECT_EQ(Hex(EncodeKey(ltz, {I(1)})), "80 00 00 00 00 00 00 01");
}

}  // namespace
}  // namespace deltasidecar::table
