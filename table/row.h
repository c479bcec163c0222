// In-memory row values and the two binary encodings of a row:
//  - the key: order-preserving ("memcomparable") encoding of the primary-key
//    columns; bytewise order of keys equals primary-key order. It is also the
//    canonical input of the bucket hash, so it must never change.
//  - the value: the operation byte followed, for upserts, by the non-key columns.
// Exact byte layouts are specified in docs/table-format.md. The text forms of
// a row are in row_json.h (JSON) and row_csv.h (CSV).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "table/base/byte_order.h"
#include "table/schema.h"

namespace deltasidecar::table {

// One column value. Which alternative is used follows the column type:
//   BOOLEAN -> bool; TINYINT..BIGINT, DATE, DATETIME, TIMESTAMP, TIMESTAMP_LTZ -> int64_t;
//   FLOAT, DOUBLE -> double; DECIMAL -> __int128 (unscaled); STRING, BINARY -> std::string;
//   ARRAY, MAP, STRUCT -> std::string holding the nested encoding (table/nested_value.h).
using Value = std::variant<std::monostate, bool, int64_t, double, __int128, std::string>;
using Row = std::vector<Value>;  // one Value per schema column, in schema order

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

// Typed accessors for a valid row: a value of another alternative (NULL, or a
// caller bug) reads as false / zero / empty instead of throwing.
inline bool BoolOf(const Value& v) {
  const bool* p = std::get_if<bool>(&v);
  return p != nullptr && *p;
}
inline int64_t IntOf(const Value& v) {
  const int64_t* p = std::get_if<int64_t>(&v);
  return p != nullptr ? *p : 0;
}
inline double DoubleOf(const Value& v) {
  const double* p = std::get_if<double>(&v);
  return p != nullptr ? *p : 0.0;
}
inline __int128 DecimalOf(const Value& v) {
  const __int128* p = std::get_if<__int128>(&v);
  return p != nullptr ? *p : 0;
}
inline std::string_view StringOf(const Value& v) {
  const std::string* p = std::get_if<std::string>(&v);
  return p != nullptr ? std::string_view(*p) : std::string_view();
}

enum class RowOp : uint8_t { kUpsert = 1, kDelete = 2 };
// The op byte of an upsert written under schema version N > 0 (schema
// evolution): it is followed by N as a LEB128 varint, then the null bitmap
// and columns as for kUpsert. ValueOp reads it as kUpsert.
inline constexpr uint8_t kUpsertWithSchemaByte = 3;

// What an encoded value starts with: its op, the schema version its columns
// were written under (0 for a plain kUpsert, and for a delete), and the bytes
// the op and version take.
struct ValueHeader {
  RowOp op = RowOp::kUpsert;
  int64_t schema_id = 0;
  size_t size = 1;
};
// DATA_LOSS "corrupt value: unknown op byte 0x.." (out of line: never hot).
absl::Status UnknownOpByteError(uint8_t op);
// DATA_LOSS for an empty value, an unknown op byte or a bad version varint.
// Inline: every decoded row goes through it.
inline absl::StatusOr<ValueHeader> ParseValueHeader(std::string_view value) {
  if (ABSL_PREDICT_FALSE(value.empty())) return absl::DataLossError("corrupt value: empty");
  const uint8_t op = static_cast<uint8_t>(value[0]);
  if (ABSL_PREDICT_TRUE(op == static_cast<uint8_t>(RowOp::kUpsert))) return ValueHeader{};
  if (op == static_cast<uint8_t>(RowOp::kDelete)) return ValueHeader{RowOp::kDelete, 0, 1};
  if (op != kUpsertWithSchemaByte) return UnknownOpByteError(op);
  const char* p = value.data() + 1;
  uint64_t id = 0;
  if (GetVarint(&p, value.data() + value.size(), &id) != VarintResult::kOk || id == 0 ||
      id > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError("corrupt value: bad schema version after op byte 0x03");
  }
  return ValueHeader{RowOp::kUpsert, static_cast<int64_t>(id),
                     static_cast<size_t>(p - value.data())};
}
// Appends the op byte of an upsert under `schema` (and its version, when it
// is not 0).
inline void AppendUpsertHeader(const TableSchema& schema, std::string* out) {
  if (ABSL_PREDICT_TRUE(schema.id() == 0)) {
    out->push_back(static_cast<char>(RowOp::kUpsert));
    return;
  }
  out->push_back(static_cast<char>(kUpsertWithSchemaByte));
  PutVarint(static_cast<uint64_t>(schema.id()), out);
}

// Encodes `row`'s key columns. The row must be valid for the schema.
std::string EncodeKey(const TableSchema& schema, const Row& row);
// Appends the encoded key to `out`.
void AppendKey(const TableSchema& schema, const Row& row, std::string* out);
// Encodes the value of an upsert: the op (and schema version, AppendUpsertHeader),
// null bitmap, non-key columns.
void AppendUpsertValue(const TableSchema& schema, const Row& row, std::string* out);
// Appends one non-null value of `column` as a value column is encoded (fixed
// width little-endian, or a LEB128 length and the bytes for STRING, BINARY and
// the nested types). `v` must be valid for the column.
void AppendColumnValue(const Column& column, const Value& v, std::string* out);
// Decodes one non-null value of `column` at *p (the inverse of
// AppendColumnValue; a nested value is checked with NestedCheck::kLayout) and
// moves *p past it. DATA_LOSS on malformed bytes.
absl::Status DecodeLeafValue(const Column& column, const char** p, const char* end, Value* out);
// The encoded value of a delete: the single kDelete byte.
std::string_view DeleteValue();

// Decodes a key back into the key columns of `row` (other columns untouched).
// `row` must have schema.columns().size() entries. DATA_LOSS on malformed bytes.
absl::Status DecodeKey(const TableSchema& schema, std::string_view key, Row* row);
// Reads the op of an encoded value (ParseValueHeader). DATA_LOSS when empty or unknown.
absl::StatusOr<RowOp> ValueOp(std::string_view value);
// The null bitmap and column bytes of an upsert value, for decoders that
// walk the columns themselves (DecodeValue, the Arrow batch builder).
struct UpsertValueLayout {
  const uint8_t* null_bitmap;  // bit i set: value column i is NULL
  const char* columns;         // the first non-null column's bytes
  const char* end;
  bool IsNull(size_t i) const { return (null_bitmap[i / 8] >> (i % 8)) & 1; }
};
// Checks the header and null bitmap of `value` (an upsert; a delete's op is
// not checked) for the schema's value columns. DATA_LOSS when it is
// truncated, has bits set past the last column, or was written under another
// schema version than `schema`'s (Table's reads hand out values under the
// schema of the snapshot read: Table::SchemaOf).
// Inline: every decoded row goes through it.
inline absl::StatusOr<UpsertValueLayout> ParseUpsertValue(const TableSchema& schema,
                                                          std::string_view value) {
  const size_t columns = schema.value_columns().size();
  const size_t bitmap_size = (columns + 7) / 8;
  size_t header = 1;
  if (ABSL_PREDICT_FALSE(value.empty() || static_cast<uint8_t>(value[0]) != 1 || schema.id() != 0)) {
    auto h = ParseValueHeader(value);
    if (!h.ok()) return h.status();
    if (h->schema_id != schema.id()) {
      return absl::DataLossError("corrupt value: written under schema version " +
                                 std::to_string(h->schema_id) + ", read under version " +
                                 std::to_string(schema.id()));
    }
    header = h->size;
  }
  if (ABSL_PREDICT_FALSE(value.size() < header + bitmap_size)) {
    return absl::DataLossError("corrupt value: truncated null bitmap");
  }
  const uint8_t* bitmap = reinterpret_cast<const uint8_t*>(value.data() + header);
  // Bits past the last column are never written; a set one means damage.
  if (ABSL_PREDICT_FALSE(columns % 8 != 0 && (bitmap[bitmap_size - 1] >> (columns % 8)) != 0)) {
    return absl::DataLossError("corrupt value: null bitmap has bits set past the last column");
  }
  return UpsertValueLayout{bitmap, value.data() + header + bitmap_size, value.data() + value.size()};
}
// Decodes an upsert value into the non-key columns of `row`. DATA_LOSS on malformed bytes.
absl::Status DecodeValue(const TableSchema& schema, std::string_view value, Row* row);
// Decodes key and value into a full row.
absl::StatusOr<Row> DecodeRow(const TableSchema& schema, std::string_view key,
                              std::string_view value);

// Bucket of an encoded key: XXH64(key, seed 0) % buckets.
int BucketOf(std::string_view encoded_key, int buckets);

}  // namespace deltasidecar::table
