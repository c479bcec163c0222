// Schema evolution: the changes ALTER TABLE makes to a table's schema, and
// the files that keep every version of it (docs/table-format.md §4.1).
//
// A change never rewrites data. Each schema version gives every column an id
// (TableSchema::column_ids); an encoded upsert records the version it was
// written under (row.h), and a read matches its columns to the version read
// by id (schema_projection.h). So a column can be renamed, dropped and added
// again under the old name without old values reappearing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/schema.h"

namespace deltasidecar::table {

struct SchemaChange {
  enum class Kind { kAddColumn, kDropColumn, kRenameColumn, kWidenColumn };
  Kind kind = Kind::kAddColumn;
  std::string column;  // the column changed; for an add, the new column's name
  Column definition;   // add: the new column; widen: the column with its new type
  std::string new_name;               // rename
  bool first = false;                 // add: as the first column
  std::optional<std::string> after;   // add: right after this column (else at the end)

  // The change as ParseSchemaChange reads it, in upper-case keywords:
  // "ADD COLUMN note STRING AFTER name".
  std::string ToString() const;
};

// Longest change text accepted, and most changes in one ALTER.
inline constexpr size_t kMaxSchemaChangeBytes = 64 * 1024;
inline constexpr size_t kMaxSchemaChanges = 1024;

// Parses one change (keywords case-insensitive), at most kMaxSchemaChangeBytes:
//   ADD COLUMN <name> <type> [NULL] [FIRST | AFTER <column>]
//   DROP COLUMN <name>
//   RENAME COLUMN <name> TO <new name>
//   ALTER COLUMN <name> TYPE <type>
// INVALID_ARGUMENT naming what is wrong.
absl::StatusOr<SchemaChange> ParseSchemaChange(std::string_view text);

// Parses each of `texts` (ParseSchemaChange), in order; the first error.
absl::StatusOr<std::vector<SchemaChange>> ParseSchemaChanges(const std::vector<std::string>& texts);

// Applies `changes` in order to `from`, giving schema version `id`. What a
// change may do: add a nullable value column; drop a value column; rename
// any column (also a key column); widen a value column's type (TINYINT to
// SMALLINT to INT to BIGINT, FLOAT to DOUBLE, DECIMAL(p,s) to DECIMAL(q,s)
// with q > p). Anything else is INVALID_ARGUMENT naming the change and why.
// (At most kMaxSchemaChanges changes.)
absl::StatusOr<TableSchema> ApplySchemaChanges(const TableSchema& from,
                                               const std::vector<SchemaChange>& changes,
                                               int64_t id);

// True when values of `from` read as `to` unchanged (the same type, or one
// ApplySchemaChanges widens to).
bool IsWideningOf(const Column& from, const Column& to);

// A version's file in the table's schemas/ directory: "schema-<id, 20 digits>".
std::string SchemaFileName(int64_t id);
// Parses a schema file name; -1 when `name` is not one.
int64_t ParseSchemaFileName(std::string_view name);

// What a schema file holds: the schema (with its version and column ids),
// the changes that made it from its parent version, and when.
struct SchemaFile {
  TableSchema schema;
  std::string changes;  // "; "-separated SchemaChange::ToString
  int64_t time_ms = 0;
};
// Framed JSON, magic DSCHEMA1. Decode: DATA_LOSS naming `what` when damaged.
std::string EncodeSchemaFile(const SchemaFile& file);
absl::StatusOr<SchemaFile> DecodeSchemaFile(std::string_view contents, std::string_view what);

}  // namespace deltasidecar::table
