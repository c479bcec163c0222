// Internal to the Arrow reader: one Arrow array of a nested column (ARRAY,
// MAP, STRUCT, to any depth), built from stored nested values
// (table/nested_value.h, docs/table-format.md §7.4). The mapping:
//
//   ARRAY<T>       list ("+l") of one nullable child "element"
//   MAP<K,V>       map ("+m"): a non-nullable struct child "entries" of a
//                  non-nullable "key" and a nullable "value"; keys are not
//                  marked sorted
//   STRUCT<a:T..>  struct ("+s") of nullable children named by the fields
//
// Leaves are the flat columns' arrays (arrow_column_builder.h). Not
// thread-safe; one builder per reading thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "table/arrow_c_abi.h"
#include "table/schema.h"

namespace deltasidecar::table::arrow_internal {

// The Arrow C data interface format string of a nested type ("+l", "+m", "+s").
const char* NestedFormat(ColumnType type);

class NestedColumnBuilder {
 public:
  // `column` is a nested column of the schema, which outlives the builder.
  // Buffers start small and double: a value's entry count is not known ahead.
  explicit NestedColumnBuilder(const Column& column);
  ~NestedColumnBuilder();

  void AppendNull();
  // Appends one stored value: its nested encoding, without the length that
  // precedes it in a row. The layout is checked whole first; DATA_LOSS names
  // the column and the place ("element 3: truncated value"), and nothing is
  // appended then.
  absl::Status Append(std::string_view bytes);
  // Bytes of nested encoding appended since the last Finish; a batch ends
  // once the column's data reaches kMaxBatchStringBytes, which keeps every
  // 32-bit offset inside the column far from overflowing.
  size_t data_bytes() const { return bytes_; }
  // Moves what was appended into a new ArrowArray and starts over.
  ArrowArray* Finish();

  class Node;

 private:
  const Column& column_;
  std::unique_ptr<Node> root_;
  size_t bytes_ = 0;
};

}  // namespace deltasidecar::table::arrow_internal
