// Column types in text, as TableSchema parses and prints them (column_type.cc).
// Internal to table/: TableSchema::Parse, FromJson and ParseColumnDefinition
// are the public entry points (schema.h).
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/schema.h"

namespace deltasidecar::table {

// A table has 1 to this many columns.
inline constexpr int kMaxColumns = 1024;

namespace column_text {

// Splits a column list on the commas outside parentheses and angle
// brackets. INVALID_ARGUMENT for unbalanced ones.
absl::StatusOr<std::vector<std::string_view>> SplitList(std::string_view list);
// Parses one "NAME TYPE [NOT NULL | NULL]" definition, unchecked (Validate).
absl::StatusOr<Column> ParseDefinition(std::string_view def);
// Parses a type name (surrounding spaces ignored) into *out for `column`.
absl::Status ParseTypeText(std::string_view text, std::string_view column, Column* out);
// Checks a column's name, type parameters and nesting (INVALID_ARGUMENT).
absl::Status Validate(Column* column);
// `s` without leading and trailing whitespace.
std::string_view TrimSpace(std::string_view s);
// True when `s` holds only whitespace.
bool IsBlank(std::string_view s);

}  // namespace column_text
}  // namespace deltasidecar::table
