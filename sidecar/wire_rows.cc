// The packed row encoding of the gRPC API (layout in docs/protocol.md, "Row
// encoding"). One decoder loop validates every field and hands it to a sink:
// BatchSink re-encodes straight into the table's key/value bytes (the write
// path), RowSink builds table::Rows (clients and tests). Both therefore accept
// and reject exactly the same input with the same message.
#include "sidecar/wire_rows.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/base/status_macros.h"
#include "table/nested_value.h"
#include "table/value_text.h"

namespace deltasidecar::sidecar {
namespace {

using table::Column;
using table::ColumnType;
using table::Row;
using table::RowOp;
using table::TableSchema;
using table::Value;
using u128 = unsigned __int128;

// The ranges the JSON path (table/row_json.cc) accepts: DATE and DATETIME
// stay within the years 0001..9999 that their text forms (table/value_text.h)
// can spell; every int64 TIMESTAMP is accepted there as an integer, so here too.
using table::kMaxDay;
using table::kMillisPerDay;
using table::kMinDay;
constexpr int64_t kMinDatetime = kMinDay * kMillisPerDay;
constexpr int64_t kEndDatetime = (kMaxDay + 1) * kMillisPerDay;  // exclusive

// A signalling NaN comes back from a table::Row quieted (FLOAT values travel
// as double there, and the conversion sets the quiet bit), so the write path
// stores that form too: the same packed row then gives the same stored bytes
// whichever way it is decoded.
uint32_t QuietFloatBits(uint32_t bits) {
  bool nan = (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0;
  return nan ? bits | 0x00400000u : bits;
}

std::string Int128ToString(__int128 v) {
  u128 magnitude = v < 0 ? u128{0} - static_cast<u128>(v) : static_cast<u128>(v);
  char buf[48];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
  } while (magnitude != 0);
  if (v < 0) *--p = '-';
  return std::string(p, buf + sizeof(buf) - p);
}

// Offset of the first byte of `s` that does not start a well-formed UTF-8
// sequence (Unicode table 3-7: no overlongs, surrogates or code points past
// U+10FFFF), or s.size() when all of it is valid.
size_t Utf8ErrorOffset(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* end = p + s.size();
  const uint8_t* begin = p;
  while (p < end) {
    // ASCII runs dominate real text: eight bytes per step.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      p += 8;
    }
    if (p == end) break;
    uint8_t b = *p;
    if (b < 0x80) {
      ++p;
      continue;
    }
    int trail;
    uint8_t lo = 0x80, hi = 0xbf;  // range of the first continuation byte
    if (b >= 0xc2 && b <= 0xdf) {
      trail = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      trail = 2;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      trail = 3;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    } else {
      return p - begin;
    }
    if (end - p <= trail || p[1] < lo || p[1] > hi) return p - begin;
    for (int i = 2; i <= trail; ++i) {
      if ((p[i] & 0xc0) != 0x80) return p - begin;
    }
    p += trail + 1;
  }
  return s.size();
}

// ---------------------------------------------------------------------------
// Per-batch plan: what the decoder needs of each column, flattened once.

struct ColumnPlan {
  const Column* column;
  int index;  // in schema order
  ColumnType type;
  uint8_t width;  // fixed width in bytes; 0 for STRING and BINARY
  bool is_key;
  bool nullable;       // false for key and NOT NULL columns
  int key_slot;        // position in primary-key order, or -1
  int value_bit;       // bit in the stored value's null bitmap, or -1
  u128 decimal_bound;  // DECIMAL: 10^precision, which |unscaled| must stay below
  int64_t ltz_unit;    // TIMESTAMP_LTZ(p): 10^(9-p), which nanoseconds must be a multiple of
};


struct Plan {
  std::vector<ColumnPlan> columns;  // schema order
  std::vector<int> key_order;       // column index per key slot
  size_t wire_bitmap_size = 0;      // over all columns
  size_t value_bitmap_size = 0;     // over the value columns
  size_t key_string_columns = 0;
  std::string upsert_header;        // AppendUpsertHeader of the schema

  explicit Plan(const TableSchema& schema) {
    table::AppendUpsertHeader(schema, &upsert_header);
    const std::vector<Column>& cols = schema.columns();
    columns.resize(cols.size());
    for (size_t i = 0; i < cols.size(); ++i) {
      ColumnPlan& c = columns[i];
      c.column = &cols[i];
      c.index = static_cast<int>(i);
      c.type = cols[i].type;
      c.width = FixedWidth(c.type);
      c.is_key = false;
      c.nullable = cols[i].nullable;
      c.key_slot = -1;
      c.value_bit = -1;
      c.decimal_bound = 1;
      if (c.type == ColumnType::kDecimal) {
        for (int d = 0; d < cols[i].precision; ++d) c.decimal_bound *= 10;
      }
      c.ltz_unit = 1;
      if (c.type == ColumnType::kTimestampLtz) {
        for (int d = cols[i].precision; d < 9; ++d) c.ltz_unit *= 10;
      }
    }
    key_order = schema.key_columns();
    for (size_t k = 0; k < key_order.size(); ++k) {
      ColumnPlan& c = columns[key_order[k]];
      c.is_key = true;
      c.nullable = false;
      c.key_slot = static_cast<int>(k);
      if (c.width == 0) ++key_string_columns;
    }
    const std::vector<int>& values = schema.value_columns();
    for (size_t v = 0; v < values.size(); ++v) columns[values[v]].value_bit = static_cast<int>(v);
    wire_bitmap_size = (cols.size() + 7) / 8;
    value_bitmap_size = (values.size() + 7) / 8;
  }
};

// One validated non-null field: the raw little-endian bytes of a fixed-width
// value, or the payload of a STRING/BINARY (its length prefix consumed).
struct Field {
  const char* data;
  size_t size;
};

// ---------------------------------------------------------------------------
// Errors. Built only on failure, out of line, so the decode loop stays small.

[[gnu::noinline, gnu::cold]] absl::Status RowError(uint32_t row, std::string_view reason) {
  return absl::InvalidArgumentError(Cat("row ", row, ": ", reason));
}

// Same "column 'x' (INT): reason" form as RowFromJson, after the row index.
[[gnu::noinline, gnu::cold]] absl::Status ColumnError(uint32_t row, const Column& column,
                                                      std::string_view reason) {
  return absl::InvalidArgumentError(
      Cat("row ", row, ": column '", column.name, "' (", column.TypeString(), "): ", reason));
}

[[gnu::noinline, gnu::cold]] absl::Status NullError(uint32_t row, const ColumnPlan& c) {
  // The wording of RowFromJson for a null key / NOT NULL column.
  if (c.is_key) return RowError(row, Cat("missing primary-key column '", c.column->name, "'"));
  return RowError(row, Cat("column '", c.column->name, "' is NOT NULL"));
}

[[gnu::noinline, gnu::cold]] absl::Status ValueError(uint32_t row, const ColumnPlan& c,
                                                     const char* p) {
  switch (c.type) {
    case ColumnType::kBoolean:
      return ColumnError(
          row, *c.column,
          fmt::format("expected byte 0 or 1, got 0x{:02x}", static_cast<uint8_t>(*p)));
    case ColumnType::kDate:
      return ColumnError(
          row, *c.column,
          Cat(static_cast<int32_t>(GetLittleEndian<uint32_t>(p)), " is out of range"));
    case ColumnType::kDatetime:
      return ColumnError(
          row, *c.column,
          Cat(static_cast<int64_t>(GetLittleEndian<uint64_t>(p)), " is out of range"));
    case ColumnType::kTimestampLtz:
      return ColumnError(
          row, *c.column,
          Cat(static_cast<int64_t>(GetLittleEndian<uint64_t>(p)),
              " has digits finer than the precision (nanoseconds must be a multiple of ",
              c.ltz_unit, ")"));
    case ColumnType::kDecimal:
      return ColumnError(
          row, *c.column,
          Cat(Int128ToString(static_cast<__int128>(GetLittleEndian<u128>(p))),
              " does not fit (unscaled; magnitude must be below 10^", c.column->precision, ")"));
    default:
      return ColumnError(row, *c.column, "invalid value");
  }
}

// ---------------------------------------------------------------------------
// The decode loop.

// Reads and validates one non-null field at *p, advancing *p past it.
inline absl::Status ReadField(const ColumnPlan& c, uint32_t row, const WireLimits& limits,
                              const char** p, const char* end, Field* f) {
  const char* q = *p;
  if (c.width != 0) {
    if (static_cast<size_t>(end - q) < c.width) {
      return ColumnError(row, *c.column, "value runs past the end of the batch");
    }
    bool ok = true;
    switch (c.type) {
      case ColumnType::kBoolean:
        ok = static_cast<uint8_t>(*q) <= 1;
        break;
      case ColumnType::kDate: {
        int64_t days = static_cast<int32_t>(GetLittleEndian<uint32_t>(q));
        ok = days >= kMinDay && days <= kMaxDay;
        break;
      }
      case ColumnType::kDatetime: {
        int64_t ms = static_cast<int64_t>(GetLittleEndian<uint64_t>(q));
        ok = ms >= kMinDatetime && ms < kEndDatetime;
        break;
      }
      case ColumnType::kTimestampLtz:
        ok = static_cast<int64_t>(GetLittleEndian<uint64_t>(q)) % c.ltz_unit == 0;
        break;
      case ColumnType::kDecimal: {
        // |v| < bound, written so that INT128_MIN does not overflow.
        u128 v = GetLittleEndian<u128>(q);
        ok = static_cast<__int128>(v) >= 0 ? v < c.decimal_bound : u128{0} - v < c.decimal_bound;
        break;
      }
      default:
        break;  // every bit pattern of the integers, FLOAT, DOUBLE and TIMESTAMP
    }
    if (!ok) return ValueError(row, c, q);
    *f = Field{q, c.width};
    *p = q + c.width;
    return absl::OkStatus();
  }

  // STRING / BINARY: unsigned LEB128 length (up to 64 bits, as the table's
  // value reader accepts), then the bytes.
  uint64_t n = 0;
  switch (GetVarint(&q, end, &n)) {
    case VarintResult::kOk:
      break;
    case VarintResult::kTruncated:
      return ColumnError(row, *c.column, "length runs past the end of the batch");
    case VarintResult::kOverflow:
      return ColumnError(row, *c.column, "length overflows 64 bits");
  }
  if (n > limits.max_value_bytes) {
    return ColumnError(
        row, *c.column,
        Cat("value of ", n, " bytes exceeds max_value_bytes (", limits.max_value_bytes, ")"));
  }
  if (static_cast<uint64_t>(end - q) < n) {
    return ColumnError(row, *c.column, Cat(n, "-byte value runs past the end of the batch"));
  }
  if (c.type == ColumnType::kString) {
    size_t bad = Utf8ErrorOffset(std::string_view(q, n));
    if (bad != n) {
      return ColumnError(row, *c.column, Cat("invalid UTF-8 at byte ", bad, " of the value"));
    }
  } else if (table::IsNested(c.type)) {
    absl::Status s =
        table::ValidateNested(*c.column, std::string_view(q, n), table::NestedCheck::kInput);
    if (!s.ok()) return ColumnError(row, *c.column, std::string(s.message()));
  }
  *f = Field{q, n};
  *p = q + n;
  return absl::OkStatus();
}

// Validates the batch and feeds each row to `sink`: BeginUpsert(), then
// Null(c) or Put(c, field) per column in schema order, EndUpsert(); or
// BeginDelete(), Put(c, field) per key column in key order, EndDelete(). On
// error the sink may hold a partial row and earlier rows; the caller undoes them.
template <typename Sink>
absl::Status DecodeRows(const Plan& plan, std::string_view rows, uint32_t row_count,
                        const WireLimits& limits, Sink* sink) {
  if (rows.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        Cat("batch of ", rows.size(), " bytes exceeds max_bytes (", limits.max_bytes, ")"));
  }
  if (row_count > limits.max_rows) {
    return absl::InvalidArgumentError(
        Cat("batch of ", row_count, " rows exceeds max_rows (", limits.max_rows, ")"));
  }
  const char* p = rows.data();
  const char* const end = p + rows.size();
  const size_t ncols = plan.columns.size();
  for (uint32_t r = 0; r < row_count; ++r) {
    if (p == end) {
      return absl::InvalidArgumentError(Cat("batch declares ", row_count, " rows but holds ", r));
    }
    uint8_t op = static_cast<uint8_t>(*p++);
    Field f;
    if (op == static_cast<uint8_t>(RowOp::kUpsert)) {
      if (static_cast<size_t>(end - p) < plan.wire_bitmap_size) {
        return RowError(r, "null bitmap runs past the end of the batch");
      }
      const auto* bitmap = reinterpret_cast<const uint8_t*>(p);
      p += plan.wire_bitmap_size;
      if (ncols % 8 != 0 && (bitmap[plan.wire_bitmap_size - 1] >> (ncols % 8)) != 0) {
        return RowError(r, "null bitmap has bits set past the last column");
      }
      sink->BeginUpsert();
      for (size_t i = 0; i < ncols; ++i) {
        const ColumnPlan& c = plan.columns[i];
        if ((bitmap[i / 8] >> (i % 8)) & 1) {
          if (!c.nullable) return NullError(r, c);
          sink->Null(c);
          continue;
        }
        RETURN_IF_ERROR(ReadField(c, r, limits, &p, end, &f));
        sink->Put(c, f);
      }
      sink->EndUpsert();
    } else if (op == static_cast<uint8_t>(RowOp::kDelete)) {
      sink->BeginDelete();
      for (int index : plan.key_order) {
        const ColumnPlan& c = plan.columns[index];
        RETURN_IF_ERROR(ReadField(c, r, limits, &p, end, &f));
        sink->Put(c, f);
      }
      sink->EndDelete();
    } else {
      return RowError(r, fmt::format("unknown op byte 0x{:02x} (expected 0x01 upsert or "
                                     "0x02 delete)",
                                     op));
    }
  }
  if (p != end) {
    if (row_count == 0) {
      return absl::InvalidArgumentError(Cat("batch declares 0 rows but holds ", end - p, " bytes"));
    }
    return absl::InvalidArgumentError(Cat("trailing bytes after row ", row_count - 1,
                                          ", the last of the ", row_count, " declared rows (",
                                          end - p, " bytes)"));
  }
  return absl::OkStatus();
}

// Writes the table encodings (table/row.h) of each decoded row into a
// MutationBatch. Fields are validated and little-endian, so value columns are
// copied as they are (lengths re-encoded minimally) and key columns are
// byte-reversed with the sign bit flipped, or escaped.
class BatchSink {
 public:
  BatchSink(const Plan& plan, table::MutationBatch* out)
      : plan_(plan), out_(out), keys_(plan.key_order.size()) {}

  void BeginUpsert() {
    value_.assign(plan_.upsert_header);
    value_.append(plan_.value_bitmap_size, '\0');
  }
  void BeginDelete() {}

  void Null(const ColumnPlan& c) {
    value_[plan_.upsert_header.size() + c.value_bit / 8] |= static_cast<char>(1 << (c.value_bit % 8));
  }

  void Put(const ColumnPlan& c, const Field& f) {
    if (c.is_key) {
      keys_[c.key_slot] = f;
      return;
    }
    switch (c.type) {
      case ColumnType::kString:
      case ColumnType::kBinary:
      case ColumnType::kArray:
      case ColumnType::kMap:
      case ColumnType::kStruct:
        PutVarint(f.size, &value_);
        value_.append(f.data, f.size);
        break;
      case ColumnType::kFloat: {
        uint32_t bits = GetLittleEndian<uint32_t>(f.data);
        uint32_t quiet = QuietFloatBits(bits);
        if (quiet == bits) {
          value_.append(f.data, 4);
        } else {
          PutLittleEndian<uint32_t>(quiet, &value_);
        }
        break;
      }
      default:
        value_.append(f.data, f.size);
        break;
    }
  }

  void EndUpsert() {
    BuildKey();
    out_->Add(key_, value_);
  }
  void EndDelete() {
    BuildKey();
    out_->Add(key_, table::DeleteValue());
  }

 private:
  void BuildKey() {
    key_.clear();
    for (size_t k = 0; k < keys_.size(); ++k) {
      const Field& f = keys_[k];
      const ColumnPlan& c = plan_.columns[plan_.key_order[k]];
      if (c.width == 0) {
        // 0x00 -> 00 FF, then terminator 00 01 (table::AppendKey).
        std::string_view s(f.data, f.size);
        while (true) {
          size_t zero = s.find('\0');
          if (zero == std::string_view::npos) {
            key_.append(s);
            break;
          }
          key_.append(s.data(), zero);
          key_.append("\x00\xff", 2);
          s.remove_prefix(zero + 1);
        }
        key_.append("\x00\x01", 2);
      } else if (c.type == ColumnType::kBoolean) {
        key_.push_back(f.data[0]);
      } else {
        // Little-endian two's complement -> big-endian with the sign bit
        // flipped: the order-preserving key form of every signed width.
        char buf[16];
        for (size_t i = 0; i < f.size; ++i) buf[i] = f.data[f.size - 1 - i];
        buf[0] = static_cast<char>(buf[0] ^ 0x80);
        key_.append(buf, f.size);
      }
    }
  }

  const Plan& plan_;
  table::MutationBatch* out_;
  std::vector<Field> keys_;  // key fields of the current row, by key slot
  std::string key_;
  std::string value_;
};

Value FieldValue(const ColumnPlan& c, const Field& f) {
  switch (c.type) {
    case ColumnType::kBoolean:
      return f.data[0] == 1;
    case ColumnType::kTinyint:
      return int64_t{static_cast<int8_t>(f.data[0])};
    case ColumnType::kSmallint:
      return int64_t{static_cast<int16_t>(GetLittleEndian<uint16_t>(f.data))};
    case ColumnType::kInt:
    case ColumnType::kDate:
      return int64_t{static_cast<int32_t>(GetLittleEndian<uint32_t>(f.data))};
    case ColumnType::kBigint:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz:
      return static_cast<int64_t>(GetLittleEndian<uint64_t>(f.data));
    case ColumnType::kFloat:
      return static_cast<double>(
          std::bit_cast<float>(QuietFloatBits(GetLittleEndian<uint32_t>(f.data))));
    case ColumnType::kDouble:
      return std::bit_cast<double>(GetLittleEndian<uint64_t>(f.data));
    case ColumnType::kDecimal:
      return static_cast<__int128>(GetLittleEndian<u128>(f.data));
    case ColumnType::kString:
    case ColumnType::kBinary:
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct:
      return std::string(f.data, f.size);
  }
  return std::monostate();
}

class RowSink {
 public:
  RowSink(size_t columns, std::vector<std::pair<RowOp, Row>>* out) : columns_(columns), out_(out) {}

  void BeginUpsert() { out_->emplace_back(RowOp::kUpsert, Row(columns_)); }
  void BeginDelete() { out_->emplace_back(RowOp::kDelete, Row(columns_)); }
  void Null(const ColumnPlan&) {}
  void Put(const ColumnPlan& c, const Field& f) { out_->back().second[c.index] = FieldValue(c, f); }
  void EndUpsert() {}
  void EndDelete() {}

 private:
  size_t columns_;
  std::vector<std::pair<RowOp, Row>>* out_;
};

}  // namespace

absl::Status DecodeWireRows(const TableSchema& schema, std::string_view rows, uint32_t row_count,
                            const WireLimits& limits, table::MutationBatch* out) {
  const Plan plan(schema);
  const size_t entries_on_entry = out->size();
  if (out->empty() && row_count <= limits.max_rows && rows.size() <= limits.max_bytes) {
    // Output bytes exceed the input only by one key terminator byte per key
    // string column (minus escapes); a bogus row_count must not reserve more
    // entries than the bytes could hold (every row takes two or more).
    size_t entries = std::min<size_t>(row_count, rows.size() / 2);
    out->Reserve(entries, rows.size() + entries * plan.key_string_columns + 16);
  }
  BatchSink sink(plan, out);
  absl::Status status = DecodeRows(plan, rows, row_count, limits, &sink);
  if (!status.ok()) out->Truncate(entries_on_entry);
  return status;
}

absl::Status ParseWireRows(const TableSchema& schema, std::string_view rows, uint32_t row_count,
                           const WireLimits& limits, std::vector<std::pair<RowOp, Row>>* out) {
  const Plan plan(schema);
  const size_t size_on_entry = out->size();
  RowSink sink(schema.columns().size(), out);
  absl::Status status = DecodeRows(plan, rows, row_count, limits, &sink);
  if (!status.ok()) out->resize(size_on_entry);
  return status;
}

// A packed field has the layout of a stored value column, so the row codec
// (table::AppendColumnValue) writes it.
void AppendWireRow(const TableSchema& schema, RowOp op, const Row& row, std::string* out) {
  const std::vector<Column>& columns = schema.columns();
  if (op == RowOp::kDelete) {
    out->push_back(static_cast<char>(RowOp::kDelete));
    for (int index : schema.key_columns()) {
      table::AppendColumnValue(columns[index], row[index], out);
    }
    return;
  }
  out->push_back(static_cast<char>(RowOp::kUpsert));
  size_t bitmap = out->size();
  out->append((columns.size() + 7) / 8, '\0');
  for (size_t i = 0; i < columns.size(); ++i) {
    if (table::IsNull(row[i])) {
      (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
      continue;
    }
    table::AppendColumnValue(columns[i], row[i], out);
  }
}

absl::Status AppendWireRowFromEntry(const TableSchema& schema, std::string_view key,
                                    std::string_view value, std::string* out) {
  ASSIGN_OR_RETURN(RowOp op, table::ValueOp(value));
  ASSIGN_OR_RETURN(Row row, table::DecodeRow(schema, key, value));
  AppendWireRow(schema, op, row, out);
  return absl::OkStatus();
}

}  // namespace deltasidecar::sidecar
