// A minimal flatbuffer writer: enough of the FlatBuffers binary format
// (https://flatbuffers.dev/internals/) to write Arrow's IPC metadata
// (Schema.fbs, Message.fbs) without flatc or the flatbuffers library.
//
// The caller builds a tree of objects (tables with scalar, struct and
// reference fields; strings; vectors of tables; vectors of structs), then
// Finish() lays it out front to back: each table is preceded by its vtable and
// followed by the objects it references, so every reference points forward
// (uoffsets are unsigned) and every scalar sits at an offset that is a
// multiple of its size, as the flatbuffers verifier requires. A union is the
// usual two fields: its type (uint8) at id n and the table at id n + 1.
//
// Not thread-safe; objects are built, finished once and dropped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deltasidecar::table::flatbuf {

class Object {
 public:
  virtual ~Object() = default;
  // Appends the object to `buf` (whose position 0 must be 8-byte aligned) and
  // returns the position that references to it point at.
  virtual size_t Write(std::string* buf) const = 0;
};

namespace internal {
inline void Pad(std::string* buf, size_t align, size_t skew = 0) {
  while ((buf->size() + skew) % align != 0) buf->push_back('\0');
}
template <typename T>
void Put(std::string* buf, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the format is little-endian, as are our hosts
  buf->append(b, sizeof(T));
}
template <typename T>
void PutAt(std::string* buf, size_t pos, T v) {
  std::memcpy(buf->data() + pos, &v, sizeof(T));
}
}  // namespace internal

class String final : public Object {
 public:
  explicit String(std::string_view s) : s_(s) {}
  size_t Write(std::string* buf) const override {
    internal::Pad(buf, 4);
    size_t pos = buf->size();
    internal::Put<uint32_t>(buf, static_cast<uint32_t>(s_.size()));
    buf->append(s_);
    buf->push_back('\0');
    return pos;
  }

 private:
  std::string s_;
};

// A vector of structs given as their bytes (count * struct size), aligned to `align`.
class StructVector final : public Object {
 public:
  StructVector(std::string bytes, uint32_t count, size_t align)
      : bytes_(std::move(bytes)), count_(count), align_(align) {}
  size_t Write(std::string* buf) const override {
    internal::Pad(buf, 4);
    internal::Pad(buf, align_, 4);  // the elements, after the length, are aligned
    size_t pos = buf->size();
    internal::Put<uint32_t>(buf, count_);
    buf->append(bytes_);
    return pos;
  }

 private:
  std::string bytes_;
  uint32_t count_;
  size_t align_;
};

class TableVector final : public Object {
 public:
  TableVector& Add(std::unique_ptr<Object> item) {
    items_.push_back(std::move(item));
    return *this;
  }
  size_t Write(std::string* buf) const override {
    internal::Pad(buf, 4);
    size_t pos = buf->size();
    internal::Put<uint32_t>(buf, static_cast<uint32_t>(items_.size()));
    buf->append(4 * items_.size(), '\0');
    for (size_t i = 0; i < items_.size(); ++i) {
      size_t slot = pos + 4 + 4 * i;
      size_t child = items_[i]->Write(buf);
      internal::PutAt<uint32_t>(buf, slot, static_cast<uint32_t>(child - slot));
    }
    return pos;
  }

 private:
  std::vector<std::unique_ptr<Object>> items_;
};

class Table final : public Object {
 public:
  template <typename T>
  Table& Scalar(int id, T v) {
    std::string b(sizeof(T), '\0');
    std::memcpy(b.data(), &v, sizeof(T));
    fields_.push_back({id, std::move(b), sizeof(T), nullptr});
    return *this;
  }
  // A struct stored inline: its bytes and alignment.
  Table& Struct(int id, std::string bytes, size_t align) {
    fields_.push_back({id, std::move(bytes), align, nullptr});
    return *this;
  }
  Table& Ref(int id, std::unique_ptr<Object> child) {
    fields_.push_back({id, std::string(4, '\0'), 4, std::move(child)});
    return *this;
  }

  size_t Write(std::string* buf) const override {
    int slots = 0;
    size_t max_align = 4;
    for (const auto& f : fields_) {
      slots = std::max(slots, f.id + 1);
      max_align = std::max(max_align, f.align);
    }
    // Inline fields, widest first, after the 4-byte vtable offset.
    std::vector<const Field*> order;
    for (const auto& f : fields_) order.push_back(&f);
    std::stable_sort(order.begin(), order.end(),
                     [](const Field* a, const Field* b) { return a->align > b->align; });
    std::vector<size_t> rel(fields_.size());
    size_t size = 4;
    for (const Field* f : order) {
      size = (size + f->align - 1) / f->align * f->align;
      rel[static_cast<size_t>(f - fields_.data())] = size;
      size += f->bytes.size();
    }
    size = (size + 3) / 4 * 4;

    // The vtable, then padding so that the table starts aligned.
    const size_t vtable_bytes = 4 + 2 * static_cast<size_t>(slots);
    internal::Pad(buf, 2);
    internal::Pad(buf, max_align, vtable_bytes);
    const size_t vtable = buf->size();
    std::vector<uint16_t> entries(static_cast<size_t>(slots), 0);
    for (size_t i = 0; i < fields_.size(); ++i) {
      entries[static_cast<size_t>(fields_[i].id)] = static_cast<uint16_t>(rel[i]);
    }
    internal::Put<uint16_t>(buf, static_cast<uint16_t>(vtable_bytes));
    internal::Put<uint16_t>(buf, static_cast<uint16_t>(size));
    for (uint16_t e : entries) internal::Put<uint16_t>(buf, e);
    const size_t table = buf->size();
    buf->append(size, '\0');
    internal::PutAt<int32_t>(buf, table, static_cast<int32_t>(table - vtable));
    for (size_t i = 0; i < fields_.size(); ++i) {
      std::memcpy(buf->data() + table + rel[i], fields_[i].bytes.data(), fields_[i].bytes.size());
    }
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i].child == nullptr) continue;
      size_t slot = table + rel[i];
      size_t child = fields_[i].child->Write(buf);
      internal::PutAt<uint32_t>(buf, slot, static_cast<uint32_t>(child - slot));
    }
    return table;
  }

 private:
  struct Field {
    int id;
    std::string bytes;
    size_t align;
    std::unique_ptr<Object> child;
  };
  std::vector<Field> fields_;
};

// The finished buffer: the root offset, then the root table and everything below it.
inline std::string Finish(const Object& root) {
  std::string buf(4, '\0');
  size_t pos = root.Write(&buf);
  internal::PutAt<uint32_t>(&buf, 0, static_cast<uint32_t>(pos));
  return buf;
}

}  // namespace deltasidecar::table::flatbuf
