// Reading values written under one version of a table's schema as another
// (schema evolution, schema_change.h): each column of the version read takes
// the value of the column with the same id in the version written, NULL when
// that version has none (a column added since). Types may only have been
// widened in between, so every value carries over unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/schema.h"

namespace deltasidecar::table {

class ValueProjector {
 public:
  ValueProjector(std::shared_ptr<const TableSchema> from, std::shared_ptr<const TableSchema> to);

  // `value`, an upsert written under `from`, encoded under `to` into *out
  // (replacing its contents). DATA_LOSS when the value is malformed;
  // FAILED_PRECONDITION when a column's type in `from` does not widen to
  // its type in `to`.
  absl::Status Project(std::string_view value, std::string* out) const;

 private:
  std::shared_ptr<const TableSchema> from_;
  std::shared_ptr<const TableSchema> to_;
  // For each column of `to`: the index of the column with its id in `from`, or -1.
  std::vector<int> source_;
  absl::Status mismatch_;  // set when a shared column's type does not widen
};

// Finds a version of the table's schema by id.
using SchemaLookup = std::function<absl::StatusOr<std::shared_ptr<const TableSchema>>(int64_t id)>;

// Hands out values as they read under one version (`target`), projecting
// the upserts written under any other. Not thread-safe.
class ValueReader {
 public:
  ValueReader(std::shared_ptr<const TableSchema> target, SchemaLookup lookup);

  // `value` as it reads under the target: `value` itself when it is a delete
  // or written under the target, else its projection, which stays valid
  // until the next call. Errors: those of the lookup and of Project.
  absl::StatusOr<std::string_view> Read(std::string_view value);

  const std::shared_ptr<const TableSchema>& target() const { return target_; }

 private:
  std::shared_ptr<const TableSchema> target_;
  SchemaLookup lookup_;
  std::map<int64_t, std::unique_ptr<ValueProjector>> projectors_;
  std::string buffer_;
};

}  // namespace deltasidecar::table
