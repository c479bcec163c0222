// Internal to the Arrow reader: one Arrow array of a flat column type, built
// value by value into buffers of the C data interface (arrow_c_abi.h), and
// the decoder of one stored value column of a flat type into it. Used for
// top-level columns (arrow_batch_builder.h) and for the leaves of nested
// ones (arrow_nested_column.h). Not thread-safe.
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
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/schema.h"

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


// Decodes one non-NULL value column of the flat type `column` at *p (the
// value encoding, docs/table-format.md §7.2), appends it to `b` unless `b` is
// null (the value is only stepped over), and moves *p past it. DATA_LOSS
// naming the column on damage.
inline absl::Status AppendValueLeaf(const Column& column, const char** pp, const char* end,
                                    ColumnBuilder* b) {
  const char* p = *pp;
  const size_t width = FixedWidth(column.type);
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
    // A nested column's bytes are stepped over here (b is null for it).
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
  *pp = p + width;
  return absl::OkStatus();
}

}  // namespace deltasidecar::table::arrow_internal
