// The JSON form of a row: one object member per column, named as the column.
// The text forms of the values are those of value_text.h.
//
// Pure functions; thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::table {

// JSON conversion. `RowFromJson` validates every column:
//  - unknown column: INVALID_ARGUMENT "unknown column 'x'"
//  - missing or null key column: INVALID_ARGUMENT "missing primary-key column 'id'"
//  - wrong type / out of range / bad format: INVALID_ARGUMENT "column 'x' (INT): <reason>"
//  - missing non-key column -> NULL; null for a NOT NULL column -> INVALID_ARGUMENT.
// When `key_only` is true, only key columns are read and required; non-key
// columns present in the object are ignored (used for deletes and lookups).
// Keys whose name starts with '_' (such as "_op") are ignored.
absl::StatusOr<Row> RowFromJson(const TableSchema& schema, const nlohmann::json& obj,
                                bool key_only = false);
// JSON object with every column (nulls included), in schema order.
// DECIMAL is written as a string ("12.30") to keep precision, BINARY as base64,
// DATE/DATETIME/TIMESTAMP/TIMESTAMP_LTZ as the strings described in schema.h.
// ordered_json, because nlohmann::json sorts members by name; it converts
// implicitly to nlohmann::json (losing the order) where a caller needs that.
nlohmann::ordered_json RowToJson(const TableSchema& schema, const Row& row);

}  // namespace deltasidecar::table
