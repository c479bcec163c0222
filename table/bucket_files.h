// Every bucket's live files, as a snapshot holds them.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "table/data_file_meta.h"

namespace deltasidecar::table {

// Every bucket's live files, oldest first: for equal keys a later file wins.
//
// Copies share their lists. A bucket's list is the first n files of a buffer
// that copies share; appending to a list whose end is the buffer's end
// writes the next slot in place (copies with the shorter list never look
// at it), so a commit that appends to every bucket copies no file list. An
// append elsewhere (the buffer full, or another copy appended first) and
// any other change copy the bucket's list into a new buffer first. Copying a
// BucketFiles copies one pointer per bucket; SharesBucket says which
// buckets a copy left alone and AppendedSince what it appended, without
// comparing files.
// Thread-safety: as a std::vector's: const methods may run concurrently, a
// non-const one needs this object to itself; copies sharing its buffers may
// be read and changed meanwhile on other threads.
class BucketFiles {
 public:
  using Files = std::span<const DataFileMeta>;

  // Iterates the buckets' lists in bucket order, as Files.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Files;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Files;
    const_iterator() = default;
    const_iterator(const BucketFiles* owner, size_t b) : owner_(owner), b_(b) {}
    Files operator*() const { return (*owner_)[b_]; }
    const_iterator& operator++() {
      ++b_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++b_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return b_ == o.b_; }

   private:
    const BucketFiles* owner_ = nullptr;
    size_t b_ = 0;
  };

  BucketFiles() = default;
  explicit BucketFiles(size_t count) : lists_(count) {}

  size_t size() const { return lists_.size(); }
  // New buckets are empty.
  void resize(size_t count) { lists_.resize(count); }
  Files operator[](size_t b) const;
  // Appends `file` to bucket b's list: in place when the list ends where its
  // buffer does and the buffer has room (amortised O(1)).
  void Append(size_t b, DataFileMeta file);
  // Changes bucket b's list through `edit`, on a copy of it.
  void Edit(size_t b, absl::FunctionRef<void(std::vector<DataFileMeta>&)> edit);
  // True when bucket b is the same list in both (so equal, unchanged since
  // one was copied from the other); false says nothing.
  bool SharesBucket(const BucketFiles& other, size_t b) const {
    return lists_[b].buffer == other.lists_[b].buffer && lists_[b].count == other.lists_[b].count;
  }
  // The files this object's bucket b holds after those of `from`'s, when
  // this list is `from`'s extended in place (Append); nullopt says nothing.
  std::optional<Files> AppendedSince(const BucketFiles& from, size_t b) const;
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, lists_.size()); }

 private:
  class Buffer;
  struct List {
    std::shared_ptr<Buffer> buffer;  // null: no files
    size_t count = 0;                // the buffer's first `count` files
  };
  // Makes `list` the first `count` files of a new buffer, copied from its
  // old one, with room for `room` more.
  static void Reallocate(List& list, size_t room);
  std::vector<List> lists_;
};

}  // namespace deltasidecar::table
