#include "table/bucket_files.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <type_traits>
#include <utility>

namespace deltasidecar::table {

// Room for `capacity` files, of which the first ones are constructed. A slot
// is constructed once and never changed again, so copies of BucketFiles that
// list a shorter prefix read theirs while the next slot is written.
class BucketFiles::Buffer {
 public:
  explicit Buffer(size_t capacity)
      : files_(std::allocator<DataFileMeta>().allocate(capacity)), capacity_(capacity) {}
  ~Buffer() {
    std::destroy_n(files_, used_.load(std::memory_order_acquire));
    std::allocator<DataFileMeta>().deallocate(files_, capacity_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  const DataFileMeta* files() const { return files_; }

  // Takes slot `at` for the caller when the first `at` slots are used and no
  // other: true for one caller per slot, who then Places its file there.
  bool Claim(size_t at) {
    size_t expected = at;
    return at < capacity_ &&
           used_.compare_exchange_strong(expected, at + 1, std::memory_order_acq_rel);
  }
  void Place(size_t at, DataFileMeta&& file) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<DataFileMeta>);
    new (files_ + at) DataFileMeta(std::move(file));
  }

  // Fills an unused buffer, copying or moving from [first, last).
  template <typename It>
  void Fill(It first, It last) {
    for (size_t at = 0; first != last; ++first, ++at) {
      new (files_ + at) DataFileMeta(*first);
      used_.store(at + 1, std::memory_order_release);
    }
  }

 private:
  DataFileMeta* const files_;
  const size_t capacity_;
  std::atomic<size_t> used_{0};
};

namespace {
// Room for `count` files and `room` more, with as much again to grow into.
size_t CapacityFor(size_t count, size_t room) { return count + room + std::max<size_t>(count, 3); }
}  // namespace

BucketFiles::Files BucketFiles::operator[](size_t b) const {
  const List& list = lists_[b];
  return list.buffer ? Files(list.buffer->files(), list.count) : Files();
}

void BucketFiles::Reallocate(List& list, size_t room) {
  auto buffer = std::make_shared<Buffer>(CapacityFor(list.count, room));
  if (list.buffer) buffer->Fill(list.buffer->files(), list.buffer->files() + list.count);
  list.buffer = std::move(buffer);
}

void BucketFiles::Append(size_t b, DataFileMeta file) {
  List& list = lists_[b];
  if (!list.buffer || !list.buffer->Claim(list.count)) {
    Reallocate(list, 1);
    list.buffer->Claim(list.count);  // a new buffer: always free
  }
  list.buffer->Place(list.count, std::move(file));
  ++list.count;
}

void BucketFiles::Edit(size_t b, absl::FunctionRef<void(std::vector<DataFileMeta>&)> edit) {
  const Files before = (*this)[b];
  std::vector<DataFileMeta> files(before.begin(), before.end());
  edit(files);
  List& list = lists_[b];
  if (files.empty()) {
    list = List();
    return;
  }
  auto buffer = std::make_shared<Buffer>(CapacityFor(files.size(), 0));
  buffer->Fill(std::make_move_iterator(files.begin()), std::make_move_iterator(files.end()));
  list = List{std::move(buffer), files.size()};
}

std::optional<BucketFiles::Files> BucketFiles::AppendedSince(const BucketFiles& from, size_t b) const {
  const List& mine = lists_[b];
  const List& theirs = from.lists_[b];
  if (mine.buffer != theirs.buffer || mine.count < theirs.count) return std::nullopt;
  if (!mine.buffer) return Files();
  return Files(mine.buffer->files() + theirs.count, mine.count - theirs.count);
}

}  // namespace deltasidecar::table
