// A batch of encoded row mutations (upserts and deletes) handed to
// Table::Commit. Keys and values are stored back to back in one buffer, so a
// million-row batch is two allocations, not two million. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::table {

class MutationBatch {
 public:
  // `key` is an encoded key (row.h); `value` an encoded value whose first byte
  // is the operation. Later entries for the same key win over earlier ones.
  void Add(std::string_view key, std::string_view value);
  void Upsert(const TableSchema& schema, const Row& row);
  void Delete(const TableSchema& schema, const Row& key_row);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::string_view key(size_t i) const {
    return {data_.data() + entries_[i].offset, entries_[i].key_size};
  }
  std::string_view value(size_t i) const {
    return {data_.data() + entries_[i].offset + entries_[i].key_size, entries_[i].value_size};
  }
  // Bytes of keys and values held.
  size_t ByteSize() const { return data_.size(); }
  void Reserve(size_t entries, size_t bytes);
  void Clear();
  // Drops every entry from index `entries` on, with its bytes, keeping the
  // capacity; a no-op when the batch holds no more than `entries`. Lets a
  // decoder that appends row by row undo a batch that fails part-way.
  void Truncate(size_t entries);

  // Raw layout, for code that sorts entries without indirection.
  struct Entry {
    uint64_t offset;  // of the key in data(); the value follows the key
    uint32_t key_size;
    uint32_t value_size;
  };
  const Entry& entry(size_t i) const { return entries_[i]; }
  const char* data() const { return data_.data(); }

 private:
  std::string data_;
  std::vector<Entry> entries_;
};

}  // namespace deltasidecar::table
