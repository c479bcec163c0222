#include "table/mutation_batch.h"

namespace deltasidecar::table {

void MutationBatch::Add(std::string_view key, std::string_view value) {
  entries_.push_back(Entry{data_.size(), static_cast<uint32_t>(key.size()),
                           static_cast<uint32_t>(value.size())});
  data_.append(key);
  data_.append(value);
}

void MutationBatch::Upsert(const TableSchema& schema, const Row& row) {
  size_t start = data_.size();
  AppendKey(schema, row, &data_);
  size_t key_size = data_.size() - start;
  AppendUpsertValue(schema, row, &data_);
  entries_.push_back(Entry{start, static_cast<uint32_t>(key_size),
                           static_cast<uint32_t>(data_.size() - start - key_size)});
}

void MutationBatch::Delete(const TableSchema& schema, const Row& key_row) {
  size_t start = data_.size();
  AppendKey(schema, key_row, &data_);
  size_t key_size = data_.size() - start;
  data_.append(DeleteValue());
  entries_.push_back(Entry{start, static_cast<uint32_t>(key_size),
                           static_cast<uint32_t>(DeleteValue().size())});
}

void MutationBatch::Reserve(size_t entries, size_t bytes) {
  entries_.reserve(entries);
  data_.reserve(bytes);
}

void MutationBatch::Truncate(size_t entries) {
  if (entries >= entries_.size()) return;
  data_.resize(entries_[entries].offset);
  entries_.resize(entries);
}

void MutationBatch::Clear() {
  entries_.clear();
  data_.clear();
}

}  // namespace deltasidecar::table
