// The binary encoding of a nested value (ARRAY, MAP, STRUCT), specified in
// docs/table-format.md §7. A Row holds a non-null nested value as these bytes
// in its std::string alternative; a stored value and a packed wire row carry
// them after an unsigned LEB128 length, like a STRING.
//
//   ARRAY<T>:   count (LEB128), null bitmap over the elements (ceil(count/8)
//               bytes, bit i LSB-first in byte i/8 set = element i NULL),
//               then each non-null element encoded as a value column of type T
//   MAP<K,V>:   count (LEB128), null bitmap over the values, then per entry
//               the key (never NULL) and, unless NULL, the value, each
//               encoded as a value column of its type
//   STRUCT<..>: null bitmap over the fields, then each non-null field
//
// "Encoded as a value column" is the value grammar of table/row.h, so a
// nested child is itself length-prefixed. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "table/schema.h"

namespace deltasidecar::table {

enum class NestedCheck {
  // The layout only: counts, bitmaps (no bits past the count), lengths,
  // boolean bytes, nothing left over. What a reader of stored values checks.
  kLayout,
  // Also what an input path checks of every leaf: STRING is UTF-8, DECIMAL
  // within its precision, TIMESTAMP_LTZ within its precision, DATE and
  // DATETIME within years 1..9999.
  kInput,
};

// Checks that `bytes` is exactly one non-null value of the nested type `type`.
// INVALID_ARGUMENT whose message names the place ("element 3: field 'b':
// truncated value"); callers wrap it in their own code and context.
absl::Status ValidateNested(const Column& type, std::string_view bytes, NestedCheck check);

}  // namespace deltasidecar::table
