// Binary encodings of a row: the order-preserving key and the upsert/delete
// value (layouts in docs/table-format.md). The JSON and CSV text forms live in
// row_json.cc and row_csv.cc.
#include "table/row.h"

#include <xxhash.h>

#include <bit>
#include <cstring>
#include <string>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/base/status_macros.h"
#include "table/nested_value.h"

namespace deltasidecar::table {
namespace {

using u128 = unsigned __int128;

// Returns the row's string slot, emptied, reusing its buffer when a scan
// decodes into the same Row again and again.
std::string& StringSlot(Value* v) {
  if (std::string* s = std::get_if<std::string>(v)) {
    s->clear();
    return *s;
  }
  return v->emplace<std::string>();
}

absl::Status CorruptKey(std::string_view what, const Column& column) {
  return absl::DataLossError(Cat("corrupt key: ", what, " in ", ColumnTypeName(column.type),
                                 " column '", column.name, "'"));
}

absl::Status CorruptValue(std::string_view what, const Column& column) {
  return absl::DataLossError(Cat("corrupt value: ", what, " in ", ColumnTypeName(column.type),
                                 " column '", column.name, "'"));
}

absl::Status CheckRowSize(const TableSchema& schema, const Row* row) {
  if (row == nullptr || row->size() != schema.columns().size()) {
    return absl::InvalidArgumentError(Cat("row has ", row == nullptr ? 0 : row->size(),
                                          " values; the schema has ", schema.columns().size(),
                                          " columns"));
  }
  return absl::OkStatus();
}


}  // namespace

// ---------------------------------------------------------------------------
// Key.

void AppendKey(const TableSchema& schema, const Row& row, std::string* out) {
  for (int index : schema.key_columns()) {
    const Value& v = row[index];
    switch (schema.columns()[index].type) {
      case ColumnType::kBoolean:
        out->push_back(BoolOf(v) ? 1 : 0);
        break;
      case ColumnType::kTinyint:
        out->push_back(static_cast<char>(static_cast<uint8_t>(IntOf(v)) ^ 0x80));
        break;
      case ColumnType::kSmallint:
        PutBigEndian<uint16_t>(static_cast<uint16_t>(IntOf(v)) ^ 0x8000, out);
        break;
      case ColumnType::kInt:
      case ColumnType::kDate:
        PutBigEndian<uint32_t>(static_cast<uint32_t>(IntOf(v)) ^ 0x80000000u, out);
        break;
      case ColumnType::kBigint:
      case ColumnType::kDatetime:
      case ColumnType::kTimestamp:
      case ColumnType::kTimestampLtz:
        PutBigEndian<uint64_t>(static_cast<uint64_t>(IntOf(v)) ^ (uint64_t{1} << 63), out);
        break;
      case ColumnType::kDecimal:
        PutBigEndian<u128>(static_cast<u128>(DecimalOf(v)) ^ (u128{1} << 127), out);
        break;
      case ColumnType::kString:
      case ColumnType::kBinary: {
        // 0x00 -> 00 FF and terminator 00 01: a shorter string sorts first,
        // and an embedded NUL sorts after the end of a prefix.
        std::string_view s = StringOf(v);
        while (!s.empty()) {
          size_t zero = s.find('\0');
          if (zero == std::string_view::npos) {
            out->append(s);
            break;
          }
          out->append(s.data(), zero);
          out->append("\x00\xff", 2);
          s.remove_prefix(zero + 1);
        }
        out->append("\x00\x01", 2);
        break;
      }
      case ColumnType::kFloat:
      case ColumnType::kDouble:
      case ColumnType::kArray:
      case ColumnType::kMap:
      case ColumnType::kStruct:
        break;  // TableSchema::Make rejects floating-point and nested key columns.
    }
  }
}

std::string EncodeKey(const TableSchema& schema, const Row& row) {
  std::string key;
  AppendKey(schema, row, &key);
  return key;
}

absl::Status DecodeKey(const TableSchema& schema, std::string_view key, Row* row) {
  RETURN_IF_ERROR(CheckRowSize(schema, row));
  const char* p = key.data();
  const char* end = p + key.size();
  for (int index : schema.key_columns()) {
    const Column& column = schema.columns()[index];
    Value& v = (*row)[index];
    size_t width = FixedWidth(column.type);
    if (static_cast<size_t>(end - p) < width) return CorruptKey("truncated value", column);
    switch (column.type) {
      case ColumnType::kBoolean:
        if (static_cast<uint8_t>(*p) > 1) return CorruptKey("bad boolean byte", column);
        v = *p == 1;
        break;
      case ColumnType::kTinyint:
        v = int64_t{static_cast<int8_t>(static_cast<uint8_t>(*p) ^ 0x80)};
        break;
      case ColumnType::kSmallint:
        v = int64_t{static_cast<int16_t>(GetBigEndian<uint16_t>(p) ^ 0x8000)};
        break;
      case ColumnType::kInt:
      case ColumnType::kDate:
        v = int64_t{static_cast<int32_t>(GetBigEndian<uint32_t>(p) ^ 0x80000000u)};
        break;
      case ColumnType::kBigint:
      case ColumnType::kDatetime:
      case ColumnType::kTimestamp:
      case ColumnType::kTimestampLtz:
        v = static_cast<int64_t>(GetBigEndian<uint64_t>(p) ^ (uint64_t{1} << 63));
        break;
      case ColumnType::kDecimal:
        v = static_cast<__int128>(GetBigEndian<u128>(p) ^ (u128{1} << 127));
        break;
      case ColumnType::kString:
      case ColumnType::kBinary: {
        std::string& s = StringSlot(&v);
        while (true) {
          const char* zero = static_cast<const char*>(std::memchr(p, 0, end - p));
          if (zero == nullptr || end - zero < 2) return CorruptKey("unterminated string", column);
          s.append(p, zero - p);
          uint8_t marker = static_cast<uint8_t>(zero[1]);
          p = zero + 2;
          if (marker == 0x01) break;
          if (marker != 0xff) return CorruptKey("bad escape byte after 0x00", column);
          s.push_back('\0');
        }
        break;
      }
      case ColumnType::kFloat:
      case ColumnType::kDouble:
      case ColumnType::kArray:
      case ColumnType::kMap:
      case ColumnType::kStruct:
        return CorruptKey("floating-point or nested key column", column);
    }
    p += width;
  }
  if (p != end) {
    return absl::DataLossError(Cat("corrupt key: ", end - p, " trailing bytes"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Value.

std::string_view DeleteValue() {
  static constexpr char kDelete[] = {static_cast<char>(RowOp::kDelete)};
  return std::string_view(kDelete, 1);
}

namespace {

// Inlined into AppendUpsertValue's per-column loop, which every staged row runs.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void AppendColumnValueInline(const Column& column,
                                                                 const Value& v, std::string* out) {
  switch (column.type) {
    case ColumnType::kBoolean:
      out->push_back(BoolOf(v) ? 1 : 0);
      break;
    case ColumnType::kTinyint:
      out->push_back(static_cast<char>(static_cast<uint8_t>(IntOf(v))));
      break;
    case ColumnType::kSmallint:
      PutLittleEndian<uint16_t>(static_cast<uint16_t>(IntOf(v)), out);
      break;
    case ColumnType::kInt:
    case ColumnType::kDate:
      PutLittleEndian<uint32_t>(static_cast<uint32_t>(IntOf(v)), out);
      break;
    case ColumnType::kBigint:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz:
      PutLittleEndian<uint64_t>(static_cast<uint64_t>(IntOf(v)), out);
      break;
    case ColumnType::kFloat:
      PutLittleEndian<uint32_t>(std::bit_cast<uint32_t>(static_cast<float>(DoubleOf(v))), out);
      break;
    case ColumnType::kDouble:
      PutLittleEndian<uint64_t>(std::bit_cast<uint64_t>(DoubleOf(v)), out);
      break;
    case ColumnType::kDecimal:
      PutLittleEndian<u128>(static_cast<u128>(DecimalOf(v)), out);
      break;
    case ColumnType::kString:
    case ColumnType::kBinary:
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct: {
      std::string_view s = StringOf(v);
      PutVarint(s.size(), out);
      out->append(s);
      break;
    }
  }
}

}  // namespace

void AppendColumnValue(const Column& column, const Value& v, std::string* out) {
  AppendColumnValueInline(column, v, out);
}

void AppendUpsertValue(const TableSchema& schema, const Row& row, std::string* out) {
  const std::vector<int>& values = schema.value_columns();
  AppendUpsertHeader(schema, out);
  size_t bitmap = out->size();
  out->append((values.size() + 7) / 8, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const Value& v = row[values[i]];
    if (IsNull(v)) {
      (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
      continue;
    }
    AppendColumnValueInline(schema.columns()[values[i]], v, out);
  }
}

absl::Status UnknownOpByteError(uint8_t op) {
  return absl::DataLossError(absl::StrFormat("corrupt value: unknown op byte 0x%02x", op));
}

absl::StatusOr<RowOp> ValueOp(std::string_view value) {
  ASSIGN_OR_RETURN(ValueHeader h, ParseValueHeader(value));
  return h.op;
}

namespace {

// Decodes the non-null value of `column` at *p (the value grammar in row.h)
// into *out and moves *p past it.
// Always inlined: it is the body of DecodeValue's per-column loop, the
// hottest code of a scan (a call per column cost ~10% of scan throughput).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status DecodeColumnValue(const Column& column,
                                                                   const char** p,
                                                                   const char* end, Value* out) {
  Value& v = *out;
  size_t width = FixedWidth(column.type);
  if (static_cast<size_t>(end - (*p)) < width) return CorruptValue("truncated value", column);
  switch (column.type) {
    case ColumnType::kBoolean:
      if (static_cast<uint8_t>(**p) > 1) {
        return CorruptValue(absl::StrFormat("bad boolean byte 0x%02x", static_cast<uint8_t>(**p)),
                            column);
      }
      v = **p == 1;
      break;
    case ColumnType::kTinyint:
      v = int64_t{static_cast<int8_t>(**p)};
      break;
    case ColumnType::kSmallint:
      v = int64_t{static_cast<int16_t>(GetLittleEndian<uint16_t>(*p))};
      break;
    case ColumnType::kInt:
    case ColumnType::kDate:
      v = int64_t{static_cast<int32_t>(GetLittleEndian<uint32_t>(*p))};
      break;
    case ColumnType::kBigint:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz:
      v = static_cast<int64_t>(GetLittleEndian<uint64_t>(*p));
      break;
    case ColumnType::kFloat:
      v = static_cast<double>(std::bit_cast<float>(GetLittleEndian<uint32_t>(*p)));
      break;
    case ColumnType::kDouble:
      v = std::bit_cast<double>(GetLittleEndian<uint64_t>(*p));
      break;
    case ColumnType::kDecimal:
      v = static_cast<__int128>(GetLittleEndian<u128>(*p));
      break;
    case ColumnType::kString:
    case ColumnType::kBinary: {
      uint64_t n = 0;
      switch (GetVarint(p, end, &n)) {
        case VarintResult::kOk:
          break;
        case VarintResult::kTruncated:
          return CorruptValue("truncated length", column);
        case VarintResult::kOverflow:
          return CorruptValue("length overflows 64 bits", column);
      }
      if (static_cast<uint64_t>(end - (*p)) < n) return CorruptValue("truncated string", column);
      StringSlot(&v).assign((*p), n);
      *p += n;
      break;
    }
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct: {
      uint64_t n = 0;
      if (GetVarint(p, end, &n) != VarintResult::kOk) {
        return CorruptValue("truncated or overlong length", column);
      }
      if (static_cast<uint64_t>(end - (*p)) < n) return CorruptValue("truncated value", column);
      std::string_view bytes(*p, n);
      if (absl::Status s = ValidateNested(column, bytes, NestedCheck::kLayout); !s.ok()) {
        return CorruptValue(std::string(s.message()), column);
      }
      StringSlot(&v).assign(bytes);
      *p += n;
      break;
    }
  }
  *p += width;
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeLeafValue(const Column& column, const char** p, const char* end, Value* out) {
  return DecodeColumnValue(column, p, end, out);
}

// A delete value is well formed but holds no columns, so asking to decode one
// is the caller's mistake (INVALID_ARGUMENT), not corruption.
absl::Status DecodeValue(const TableSchema& schema, std::string_view value, Row* row) {
  RETURN_IF_ERROR(CheckRowSize(schema, row));
  ASSIGN_OR_RETURN(RowOp op, ValueOp(value));
  if (op != RowOp::kUpsert) {
    return absl::InvalidArgumentError("DecodeValue: the value is a delete, not an upsert");
  }
  const std::vector<int>& values = schema.value_columns();
  ASSIGN_OR_RETURN(UpsertValueLayout layout, ParseUpsertValue(schema, value));
  const char* p = layout.columns;
  const char* end = layout.end;
  for (size_t i = 0; i < values.size(); ++i) {
    const Column& column = schema.columns()[values[i]];
    Value& v = (*row)[values[i]];
    if (layout.IsNull(i)) {
      v.emplace<std::monostate>();
      continue;
    }
    RETURN_IF_ERROR(DecodeColumnValue(column, &p, end, &v));
  }
  if (p != end) {
    return absl::DataLossError(Cat("corrupt value: ", end - p, " trailing bytes"));
  }
  return absl::OkStatus();
}

// For a delete, the row holds the key columns and every other column is NULL.
absl::StatusOr<Row> DecodeRow(const TableSchema& schema, std::string_view key,
                              std::string_view value) {
  Row row(schema.columns().size());
  RETURN_IF_ERROR(DecodeKey(schema, key, &row));
  ASSIGN_OR_RETURN(RowOp op, ValueOp(value));
  if (op == RowOp::kDelete) {
    if (value.size() != 1) {
      return absl::DataLossError(
          Cat("corrupt value: ", value.size() - 1, " trailing bytes after delete"));
    }
    return row;
  }
  RETURN_IF_ERROR(DecodeValue(schema, value, &row));
  return row;
}

int BucketOf(std::string_view encoded_key, int buckets) {
  if (buckets <= 0) return 0;
  return static_cast<int>(XXH64(encoded_key.data(), encoded_key.size(), 0) %
                          static_cast<uint64_t>(buckets));
}

}  // namespace deltasidecar::table
