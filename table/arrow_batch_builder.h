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
#include "table/base/absl_compat.h"
#include "table/arrow_c_abi.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/schema.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table::arrow_internal {

// A batch also ends once its string and binary data reach this size, which
// keeps 32-bit Arrow offsets far from overflowing.
inline constexpr size_t kMaxBatchStringBytes = 64 << 20;

// Each child owns its buffers, so a consumer may move a child out of
// its parent (the C data interface allows it) and release them separately.

struct ArrayHolder {
  std::vector<uint8_t> validity, data;
  std::vector<int32_t> offsets;
  std::vector<const void*> buffers;
  std::vector<ArrowArray*> children;
};

inline void ReleaseArray(ArrowArray* a) {
  if (a == nullptr || a->release == nullptr) return;
  auto* h = static_cast<ArrayHolder*>(a->private_data);
  for (ArrowArray* child : h->children) {
    if (child->release != nullptr) child->release(child);
    delete child;
  }
  delete h;
  a->release = nullptr;
}

// Appends the values of one column for one batch. Buffers are sized for a
// whole batch when it starts, so an append is a store, not a vector resize.
class ColumnBuilder {
 public:
  ColumnBuilder(ColumnType type, int64_t capacity)
      : type_(type), width_(type == ColumnType::kBoolean ? 0 : FixedWidth(type)),
        capacity_(std::max<int64_t>(capacity, 1)) {
    Reset();
  }

  void Reset() {
    h_ = std::make_unique<ArrayHolder>();
    length_ = 0;
    nulls_ = 0;
    h_->validity.assign(static_cast<size_t>(capacity_ / 8 + 1), 0xff);
    if (IsVariable()) {
      h_->offsets.resize(static_cast<size_t>(capacity_ + 1));
      h_->offsets[0] = 0;
    } else if (type_ == ColumnType::kBoolean) {
      h_->data.assign(static_cast<size_t>(capacity_ / 8 + 1), 0);
    } else {
      h_->data.resize(static_cast<size_t>(capacity_) * width_);
    }
  }

  bool IsVariable() const { return type_ == ColumnType::kString || type_ == ColumnType::kBinary; }
  size_t string_bytes() const { return IsVariable() ? h_->data.size() : 0; }
  ColumnType type() const { return type_; }

  void AppendNull() {
    Grow();
    h_->validity[static_cast<size_t>(length_ / 8)] &= static_cast<uint8_t>(~(1u << (length_ % 8)));
    ++nulls_;
    if (IsVariable()) h_->offsets[static_cast<size_t>(length_ + 1)] = static_cast<int32_t>(h_->data.size());
    ++length_;  // fixed-width slots keep whatever they hold: Arrow ignores them
  }
  void AppendBool(bool v) {
    Grow();
    if (v) h_->data[static_cast<size_t>(length_ / 8)] |= static_cast<uint8_t>(1u << (length_ % 8));
    ++length_;
  }
  template <typename T>
  void AppendFixed(T v) {
    Grow();
    std::memcpy(h_->data.data() + static_cast<size_t>(length_) * sizeof(T), &v, sizeof(T));
    ++length_;
  }
  // A variable-length value is appended in pieces, then ended.
  void AppendPiece(const char* p, size_t n) { h_->data.insert(h_->data.end(), p, p + n); }
  void EndValue() {
    Grow();
    h_->offsets[static_cast<size_t>(length_ + 1)] = static_cast<int32_t>(h_->data.size());
    ++length_;
  }
  void AppendString(std::string_view s) {
    AppendPiece(s.data(), s.size());
    EndValue();
  }

  // Moves what was appended into a new ArrowArray and starts over.
  ArrowArray* Finish() {
    auto* a = new ArrowArray{};
    ArrayHolder* h = h_.release();
    if (IsVariable()) {
      h->offsets.resize(static_cast<size_t>(length_ + 1));
    } else if (type_ != ColumnType::kBoolean) {
      h->data.resize(static_cast<size_t>(length_) * width_);
    }
    // Arrow reads zero-length buffers through non-null pointers.
    if (h->data.empty()) h->data.reserve(1);
    h->buffers.push_back(nulls_ == 0 ? nullptr : h->validity.data());
    if (IsVariable()) h->buffers.push_back(h->offsets.data());
    h->buffers.push_back(h->data.data());
    a->length = length_;
    a->null_count = nulls_;
    a->n_buffers = static_cast<int64_t>(h->buffers.size());
    a->buffers = h->buffers.data();
    a->release = ReleaseArray;
    a->private_data = h;
    Reset();
    return a;
  }

 private:
  // Batches hold at most capacity_ rows (BatchBuilder::Full); this only guards.
  void Grow() {
    if (length_ < capacity_) return;
    capacity_ *= 2;
    h_->validity.resize(static_cast<size_t>(capacity_ / 8 + 1), 0xff);
    if (IsVariable()) {
      h_->offsets.resize(static_cast<size_t>(capacity_ + 1));
    } else if (type_ == ColumnType::kBoolean) {
      h_->data.resize(static_cast<size_t>(capacity_ / 8 + 1), 0);
    } else {
      h_->data.resize(static_cast<size_t>(capacity_) * width_);
    }
  }

  const ColumnType type_;
  const size_t width_;
  int64_t capacity_;
  std::unique_ptr<ArrayHolder> h_;
  int64_t length_ = 0;
  int64_t nulls_ = 0;
};

using u128 = unsigned __int128;

inline absl::Status Corrupt(std::string_view where, std::string_view what, const Column& column) {
  return absl::DataLossError(Cat("corrupt ", where, ": ", what, " in ", ColumnTypeName(column.type),
                                 " column '", column.name, "'"));
}

// Turns merged (key, value) entries into record batches of the chosen
// columns, decoding the encodings of row.h (docs/table-format.md §7) straight
// into the Arrow buffers; the checks are those of DecodeKey/DecodeValue.
class BatchBuilder {
 public:
  BatchBuilder(const TableSchema& schema, const std::vector<int>& columns, bool with_op,
               int64_t batch_rows)
      : schema_(schema), with_op_(with_op), out_of_(schema.columns().size(), -1),
        width_(schema.columns().size()) {
    for (size_t c = 0; c < width_.size(); ++c) width_[c] = FixedWidth(schema.columns()[c].type);
    for (size_t i = 0; i < columns.size(); ++i) {
      builders_.emplace_back(schema.columns()[columns[i]].type, batch_rows);
      out_of_[columns[i]] = static_cast<int>(i);
      need_value_ = need_value_ || !schema.IsKeyColumn(columns[i]);
    }
    if (with_op) builders_.emplace_back(ColumnType::kString, batch_rows);
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
    return bytes >= kMaxBatchStringBytes;
  }

  // The struct array of one record batch; the builder starts a new batch.
  void Finish(ArrowArray* out) {
    auto* h = new ArrayHolder();
    h->buffers.push_back(nullptr);
    for (auto& b : builders_) h->children.push_back(b.Finish());
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
      if (layout.IsNull(i)) {
        if (b) b->AppendNull();
        continue;
      }
      const size_t width = width_[values[i]];
      if (static_cast<size_t>(end - p) < width) return Corrupt("value", "truncated value", column);
      switch (column.type) {
        case ColumnType::kBoolean:
          if (static_cast<uint8_t>(*p) > 1) return Corrupt("value", "bad boolean byte", column);
          if (b) b->AppendBool(*p == 1);
          break;
        case ColumnType::kTinyint:
          if (b) b->AppendFixed<int8_t>(static_cast<int8_t>(*p));
          break;
        case ColumnType::kSmallint:
          if (b) b->AppendFixed<uint16_t>(GetLittleEndian<uint16_t>(p));
          break;
        case ColumnType::kInt:
        case ColumnType::kDate:
        case ColumnType::kFloat:
          if (b) b->AppendFixed<uint32_t>(GetLittleEndian<uint32_t>(p));
          break;
        case ColumnType::kBigint:
        case ColumnType::kDatetime:
        case ColumnType::kTimestamp:
        case ColumnType::kTimestampLtz:
        case ColumnType::kDouble:
          if (b) b->AppendFixed<uint64_t>(GetLittleEndian<uint64_t>(p));
          break;
        case ColumnType::kDecimal:
          if (b) b->AppendFixed<u128>(GetLittleEndian<u128>(p));
          break;
        case ColumnType::kString:
        case ColumnType::kBinary:
        // Nested columns are never chosen (CheckColumns), only stepped over.
        case ColumnType::kArray:
        case ColumnType::kMap:
        case ColumnType::kStruct: {
          uint64_t n = 0;
          switch (GetVarint(&p, end, &n)) {
            case VarintResult::kOk:
              break;
            case VarintResult::kTruncated:
              return Corrupt("value", "truncated length", column);
            case VarintResult::kOverflow:
              return Corrupt("value", "length overflows 64 bits", column);
          }
          if (static_cast<uint64_t>(end - p) < n) return Corrupt("value", "truncated string", column);
          if (b) b->AppendString(std::string_view(p, n));
          p += n;
          break;
        }
      }
      p += width;
    }
    if (p != end) return absl::DataLossError(Cat("corrupt value: ", end - p, " trailing bytes"));
    return absl::OkStatus();
  }

  const TableSchema& schema_;
  const bool with_op_;
  std::vector<int> out_of_;  // schema index -> builder index, or -1 when not chosen
  std::vector<size_t> width_;  // schema index -> FixedWidth of its type
  std::vector<ColumnBuilder> builders_;
  bool need_value_ = false;
  int64_t rows_ = 0;
};

}  // namespace deltasidecar::table::arrow_internal
