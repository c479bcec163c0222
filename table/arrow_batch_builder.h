// Internal to the Arrow reader (arrow_reader.cc): builds record batches of
// the Arrow C data interface from merged table entries, decoding the key and
// value encodings (row.h, docs/table-format.md §7) straight into Arrow
// buffers. Not thread-safe; one builder per reading thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "table/arrow_c_abi.h"
#include "table/arrow_column_builder.h"
#include "table/arrow_nested_column.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/schema.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table::arrow_internal {

// Turns merged (key, value) entries into record batches of the chosen
// columns, decoding the encodings of row.h (docs/table-format.md §7) straight
// into the Arrow buffers; the checks are those of DecodeKey/DecodeValue.
class BatchBuilder {
 public:
  BatchBuilder(const TableSchema& schema, const std::vector<int>& columns, bool with_op,
               int64_t batch_rows)
      : schema_(schema), with_op_(with_op), out_of_(schema.columns().size(), -1),
        nested_of_(schema.columns().size(), -1), width_(schema.columns().size()) {
    for (size_t c = 0; c < width_.size(); ++c) width_[c] = FixedWidth(schema.columns()[c].type);
    for (int c : columns) {
      const Column& column = schema.columns()[c];
      if (IsNested(column.type)) {
        nested_of_[c] = static_cast<int>(nested_.size());
        order_.push_back({true, nested_of_[c]});
        nested_.push_back(std::make_unique<NestedColumnBuilder>(column));
      } else {
        out_of_[c] = static_cast<int>(builders_.size());
        order_.push_back({false, out_of_[c]});
        builders_.emplace_back(column.type, batch_rows);
      }
      need_value_ = need_value_ || !schema.IsKeyColumn(c);
    }
    if (with_op) {
      order_.push_back({false, static_cast<int>(builders_.size())});
      builders_.emplace_back(ColumnType::kString, batch_rows);
    }
  }

  // Decodes one entry and appends the chosen columns. DATA_LOSS on damage.
  absl::Status Add(std::string_view key, std::string_view value) {
    RETURN_IF_ERROR(AddKey(key));
    ASSIGN_OR_RETURN(RowOp op, ValueOp(value));
    if (op == RowOp::kDelete) {
      if (value.size() != 1) {
        return absl::DataLossError(Cat("corrupt value: ", value.size() - 1, " trailing bytes after delete"));
      }
      for (int c : schema_.value_columns()) {
        if (out_of_[c] >= 0) builders_[out_of_[c]].AppendNull();
        if (nested_of_[c] >= 0) nested_[nested_of_[c]]->AppendNull();
      }
    } else if (need_value_) {
      RETURN_IF_ERROR(AddValue(value));
    }
    if (with_op_) builders_.back().AppendString(op == RowOp::kDelete ? "delete" : "upsert");
    ++rows_;
    return absl::OkStatus();
  }

  int64_t rows() const { return rows_; }
  bool Full(int64_t batch_rows) const {
    if (rows_ >= batch_rows) return true;
    size_t bytes = 0;
    for (const auto& b : builders_) bytes += b.string_bytes();
    for (const auto& b : nested_) bytes += b->data_bytes();
    return bytes >= kMaxBatchStringBytes;
  }

  // The struct array of one record batch; the builder starts a new batch.
  void Finish(ArrowArray* out) {
    auto* h = new ArrayHolder();
    h->buffers.push_back(nullptr);
    for (const Output& o : order_) {
      h->children.push_back(o.nested ? nested_[o.index]->Finish() : builders_[o.index].Finish());
    }
    *out = ArrowArray{};
    out->length = rows_;
    out->n_buffers = 1;
    out->buffers = h->buffers.data();
    out->n_children = static_cast<int64_t>(h->children.size());
    out->children = h->children.data();
    out->release = ReleaseArray;
    out->private_data = h;
    rows_ = 0;
  }

 private:
  absl::Status AddKey(std::string_view key) {
    const char* p = key.data();
    const char* end = p + key.size();
    for (int index : schema_.key_columns()) {
      const Column& column = schema_.columns()[index];
      ColumnBuilder* b = out_of_[index] >= 0 ? &builders_[out_of_[index]] : nullptr;
      const size_t width = width_[index];
      if (static_cast<size_t>(end - p) < width) return Corrupt("key", "truncated value", column);
      switch (column.type) {
        case ColumnType::kBoolean:
          if (static_cast<uint8_t>(*p) > 1) return Corrupt("key", "bad boolean byte", column);
          if (b) b->AppendBool(*p == 1);
          break;
        case ColumnType::kTinyint:
          if (b) b->AppendFixed<int8_t>(static_cast<int8_t>(static_cast<uint8_t>(*p) ^ 0x80));
          break;
        case ColumnType::kSmallint:
          if (b) b->AppendFixed<int16_t>(static_cast<int16_t>(GetBigEndian<uint16_t>(p) ^ 0x8000));
          break;
        case ColumnType::kInt:
        case ColumnType::kDate:
          if (b) b->AppendFixed<int32_t>(static_cast<int32_t>(GetBigEndian<uint32_t>(p) ^ 0x80000000u));
          break;
        case ColumnType::kBigint:
        case ColumnType::kDatetime:
        case ColumnType::kTimestamp:
        case ColumnType::kTimestampLtz:
          if (b) b->AppendFixed<int64_t>(static_cast<int64_t>(GetBigEndian<uint64_t>(p) ^ (uint64_t{1} << 63)));
          break;
        case ColumnType::kDecimal:
          if (b) b->AppendFixed<__int128>(static_cast<__int128>(GetBigEndian<u128>(p) ^ (u128{1} << 127)));
          break;
        case ColumnType::kString:
        case ColumnType::kBinary: {
          // 0x00 0xff is an embedded NUL, 0x00 0x01 the end (row.cc).
          while (true) {
            const char* zero = static_cast<const char*>(std::memchr(p, 0, end - p));
            if (zero == nullptr || end - zero < 2) return Corrupt("key", "unterminated string", column);
            if (b) b->AppendPiece(p, zero - p);
            uint8_t marker = static_cast<uint8_t>(zero[1]);
            p = zero + 2;
            if (marker == 0x01) break;
            if (marker != 0xff) return Corrupt("key", "bad escape byte after 0x00", column);
            if (b) b->AppendPiece("", 1);
          }
          if (b) b->EndValue();
          break;
        }
        case ColumnType::kFloat:
        case ColumnType::kDouble:
        case ColumnType::kArray:
        case ColumnType::kMap:
        case ColumnType::kStruct:
          return Corrupt("key", "floating-point or nested key column", column);
      }
      p += width;
    }
    if (p != end) return absl::DataLossError(Cat("corrupt key: ", end - p, " trailing bytes"));
    return absl::OkStatus();
  }

  absl::Status AddValue(std::string_view value) {
    const std::vector<int>& values = schema_.value_columns();
    ASSIGN_OR_RETURN(UpsertValueLayout layout, ParseUpsertValue(schema_, value));
    const char* p = layout.columns;
    const char* end = layout.end;
    for (size_t i = 0; i < values.size(); ++i) {
      const Column& column = schema_.columns()[values[i]];
      ColumnBuilder* b = out_of_[values[i]] >= 0 ? &builders_[out_of_[values[i]]] : nullptr;
      NestedColumnBuilder* nested =
          nested_of_[values[i]] >= 0 ? nested_[nested_of_[values[i]]].get() : nullptr;
      if (layout.IsNull(i)) {
        if (b) b->AppendNull();
        if (nested) nested->AppendNull();
        continue;
      }
      if (nested) {
        // Stepped over first, which checks its length; then read from after it.
        const char* start = p;
        RETURN_IF_ERROR(AppendValueLeaf(column, &p, end, nullptr));
        uint64_t n = 0;
        GetVarint(&start, p, &n);
        RETURN_IF_ERROR(nested->Append(std::string_view(start, p - start)));
        continue;
      }
      RETURN_IF_ERROR(AppendValueLeaf(column, &p, end, b));
    }
    if (p != end) return absl::DataLossError(Cat("corrupt value: ", end - p, " trailing bytes"));
    return absl::OkStatus();
  }

  const TableSchema& schema_;
  const bool with_op_;
  struct Output {
    bool nested;
    int index;  // into nested_ or builders_
  };
  std::vector<int> out_of_;  // schema index -> builders_ index, or -1 when not chosen
  std::vector<int> nested_of_;  // schema index -> nested_ index, or -1 when not chosen
  std::vector<std::unique_ptr<NestedColumnBuilder>> nested_;
  std::vector<Output> order_;  // the output columns, in the order chosen
  std::vector<size_t> width_;  // schema index -> FixedWidth of its type
  std::vector<ColumnBuilder> builders_;
  bool need_value_ = false;
  int64_t rows_ = 0;
};

}  // namespace deltasidecar::table::arrow_internal
