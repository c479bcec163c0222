// Malformed wire rows: every error names the row and the column, limits
// hold, nothing is appended on error, and every truncation and byte flip of
// a valid batch is handled.
#include "sidecar/wire_rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "sidecar/wire_rows_testing.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::sidecar {
namespace {

using namespace wire_testing;  // NOLINT: the helpers of every wire row test
using ::testing::HasSubstr;

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


}  // namespace
}  // namespace deltasidecar::sidecar
