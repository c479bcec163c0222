#include "table/arrow_nested_column.h"

#include <string>
#include <vector>

#include "table/arrow_column_builder.h"
#include "table/nested_value.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table::arrow_internal {
namespace {

// First guess of a leaf's entries per batch; ColumnBuilder doubles past it.
constexpr int64_t kLeafCapacity = 1024;

// A validity bitmap appended one bit at a time.
class Validity {
 public:
  void Append(bool valid) {
    if (length_ % 8 == 0) bits_.push_back(0);
    if (valid) {
      bits_.back() |= static_cast<uint8_t>(1u << (length_ % 8));
    } else {
      ++nulls_;
    }
    ++length_;
  }
  int64_t length() const { return length_; }
  int64_t nulls() const { return nulls_; }
  // Moves the bits into `h` and starts over.
  void MoveTo(ArrayHolder* h) {
    h->validity = std::move(bits_);
    bits_.clear();
    length_ = nulls_ = 0;
  }

 private:
  std::vector<uint8_t> bits_;
  int64_t length_ = 0, nulls_ = 0;
};

// Reads the varint at *p (validated before: it is there and fits).
uint64_t ReadCount(const char** p, const char* end) {
  uint64_t n = 0;
  GetVarint(p, end, &n);
  return n;
}

bool BitSet(const char* bitmap, uint64_t i) {
  return (static_cast<uint8_t>(bitmap[i / 8]) >> (i % 8)) & 1;
}

ArrowArray* NewArray(ArrayHolder* h, int64_t length, int64_t nulls) {
  auto* a = new ArrowArray{};
  a->length = length;
  a->null_count = nulls;
  a->n_buffers = static_cast<int64_t>(h->buffers.size());
  a->buffers = h->buffers.data();
  a->n_children = static_cast<int64_t>(h->children.size());
  a->children = h->children.data();
  a->release = ReleaseArray;
  a->private_data = h;
  return a;
}

}  // namespace

// One level of a nested column's type. Values reach it validated
// (ValidateNested), so the reading below trusts lengths and counts.
class NestedColumnBuilder::Node {
 public:
  virtual ~Node() = default;
  virtual void AppendNull() = 0;
  // One non-NULL value encoded as a value column of this node's type at *p
  // (a nested one after its length); moves *p past it.
  virtual absl::Status AppendEncoded(const char** p, const char* end) = 0;
  virtual ArrowArray* Finish() = 0;

  static std::unique_ptr<Node> For(const Column& type);
};

namespace {

using Node = NestedColumnBuilder::Node;

class LeafNode : public Node {
 public:
  explicit LeafNode(const Column& type) : type_(type), b_(type.type, kLeafCapacity) {}
  void AppendNull() override { b_.AppendNull(); }
  absl::Status AppendEncoded(const char** p, const char* end) override {
    return AppendValueLeaf(type_, p, end, &b_);
  }
  ArrowArray* Finish() override { return b_.Finish(); }

 private:
  const Column& type_;
  ColumnBuilder b_;
};

// The part shared by ARRAY, MAP and STRUCT: a validity bitmap and a body
// that follows the value's length.
class CompositeNode : public Node {
 public:
  absl::Status AppendEncoded(const char** p, const char* end) override {
    const uint64_t n = ReadCount(p, end);
    const char* body = *p;
    *p += n;
    return AppendValue(body, body + n);
  }
  // One non-NULL value: its nested encoding spanning [p, end).
  absl::Status AppendValue(const char* p, const char* end) {
    validity_.Append(true);
    return AppendBody(p, end);
  }

 protected:
  virtual absl::Status AppendBody(const char* p, const char* end) = 0;
  Validity validity_;
};

// ARRAY (list) and MAP (map): offsets into their entries.
class ListNode : public CompositeNode {
 public:
  explicit ListNode(const Column& type) : is_map_(type.type == ColumnType::kMap) {
    for (const Column& child : type.children) children_.push_back(For(child));
    offsets_.push_back(0);
  }
  void AppendNull() override {
    validity_.Append(false);
    offsets_.push_back(offsets_.back());
  }
  absl::Status AppendBody(const char* p, const char* end) override {
    const uint64_t count = ReadCount(&p, end);
    const char* bitmap = p;
    p += (count + 7) / 8;
    for (uint64_t i = 0; i < count; ++i) {
      Node* value = children_.back().get();
      if (is_map_) RETURN_IF_ERROR(children_[0]->AppendEncoded(&p, end));
      if (BitSet(bitmap, i)) {
        value->AppendNull();
      } else {
        RETURN_IF_ERROR(value->AppendEncoded(&p, end));
      }
    }
    offsets_.push_back(offsets_.back() + static_cast<int32_t>(count));
    return absl::OkStatus();
  }
  ArrowArray* Finish() override {
    auto* h = new ArrayHolder();
    const int64_t length = validity_.length(), nulls = validity_.nulls();
    const int64_t entries = offsets_.back();
    validity_.MoveTo(h);
    h->offsets = std::move(offsets_);
    offsets_.assign(1, 0);
    h->buffers = {nulls == 0 ? nullptr : h->validity.data(), h->offsets.data()};
    if (is_map_) {
      // The map's one child: a struct of the keys and values, never NULL.
      auto* e = new ArrayHolder();
      e->buffers = {nullptr};
      for (auto& child : children_) e->children.push_back(child->Finish());
      h->children.push_back(NewArray(e, entries, 0));
    } else {
      h->children.push_back(children_[0]->Finish());
    }
    return NewArray(h, length, nulls);
  }

 private:
  const bool is_map_;
  std::vector<std::unique_ptr<Node>> children_;  // {element} or {key, value}
  std::vector<int32_t> offsets_;
};

class StructNode : public CompositeNode {
 public:
  explicit StructNode(const Column& type) {
    for (const Column& child : type.children) children_.push_back(For(child));
  }
  void AppendNull() override {
    validity_.Append(false);
    for (auto& child : children_) child->AppendNull();
  }
  absl::Status AppendBody(const char* p, const char* end) override {
    const char* bitmap = p;
    p += (children_.size() + 7) / 8;
    for (size_t i = 0; i < children_.size(); ++i) {
      if (BitSet(bitmap, i)) {
        children_[i]->AppendNull();
      } else {
        RETURN_IF_ERROR(children_[i]->AppendEncoded(&p, end));
      }
    }
    return absl::OkStatus();
  }
  ArrowArray* Finish() override {
    auto* h = new ArrayHolder();
    const int64_t length = validity_.length(), nulls = validity_.nulls();
    validity_.MoveTo(h);
    h->buffers = {nulls == 0 ? nullptr : h->validity.data()};
    for (auto& child : children_) h->children.push_back(child->Finish());
    return NewArray(h, length, nulls);
  }

 private:
  std::vector<std::unique_ptr<Node>> children_;
};

}  // namespace

std::unique_ptr<Node> Node::For(const Column& type) {
  switch (type.type) {
    case ColumnType::kArray:
    case ColumnType::kMap:
      return std::make_unique<ListNode>(type);
    case ColumnType::kStruct:
      return std::make_unique<StructNode>(type);
    default:
      return std::make_unique<LeafNode>(type);
  }
}

const char* NestedFormat(ColumnType type) {
  switch (type) {
    case ColumnType::kArray: return "+l";
    case ColumnType::kMap: return "+m";
    default: return "+s";
  }
}

NestedColumnBuilder::NestedColumnBuilder(const Column& column)
    : column_(column), root_(Node::For(column)) {}

NestedColumnBuilder::~NestedColumnBuilder() = default;

void NestedColumnBuilder::AppendNull() { root_->AppendNull(); }

absl::Status NestedColumnBuilder::Append(std::string_view bytes) {
  if (absl::Status s = ValidateNested(column_, bytes, NestedCheck::kLayout); !s.ok()) {
    return absl::DataLossError(Cat("corrupt value: ", s.message(), " in ", column_.TypeString(),
                                   " column '", column_.name, "'"));
  }
  bytes_ += bytes.size();
  // The root takes the encoding alone: its length came before it in the row.
  return static_cast<CompositeNode*>(root_.get())->AppendValue(bytes.data(), bytes.data() + bytes.size());
}

ArrowArray* NestedColumnBuilder::Finish() {
  bytes_ = 0;
  return root_->Finish();
}

}  // namespace deltasidecar::table::arrow_internal
