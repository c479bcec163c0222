// Table schema: MaxCompute column types, nullable columns, a primary key and a
// bucket count. Immutable once built; safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace deltasidecar::table {

enum class ColumnType : uint8_t {
  kBoolean = 1,
  kTinyint = 2,
  kSmallint = 3,
  kInt = 4,
  kBigint = 5,
  kFloat = 6,
  kDouble = 7,
  kDecimal = 8,   // DECIMAL(precision, scale), 1 <= precision <= 38, 0 <= scale <= precision
  kString = 9,    // UTF-8 text
  kBinary = 10,   // raw bytes; base64 in JSON
  kDate = 11,     // days since 1970-01-01; "YYYY-MM-DD" in JSON
  kDatetime = 12, // milliseconds since epoch, UTC; "YYYY-MM-DD HH:MM:SS[.mmm]" in JSON
  kTimestamp = 13, // nanoseconds since epoch, UTC; "YYYY-MM-DD HH:MM:SS[.nnnnnnnnn]" in JSON
  // TIMESTAMP_LTZ(p), 0 <= p <= 9 (Flink's TIMESTAMP_LTZ): an instant, stored
  // like TIMESTAMP as nanoseconds since epoch, UTC, with no digits finer than
  // p; "YYYY-MM-DDTHH:MM:SS[.f{p}]Z" in JSON.
  kTimestampLtz = 14,
  // Nested types, value (non-key) columns only; Column::children holds the
  // element, key and value, or field types. A value is held in a Row as its
  // nested encoding (table/nested_value.h, docs/table-format.md §7).
  kArray = 15,   // ARRAY<T>
  kMap = 16,     // MAP<K,V>; K is not nested and never NULL
  kStruct = 17,  // STRUCT<name:T, ...>
};

inline bool IsNested(ColumnType type) {
  return type == ColumnType::kArray || type == ColumnType::kMap || type == ColumnType::kStruct;
}

// Deepest nesting of ARRAY/MAP/STRUCT in one column type ("ARRAY<ARRAY<INT>>" is 2).
inline constexpr int kMaxNestingDepth = 32;

// The MaxCompute name of a type without parameters ("BIGINT", "DECIMAL").
std::string_view ColumnTypeName(ColumnType type);
// Bytes of the type's fixed-width binary form (the same in keys, stored values
// and packed wire rows); 0 for STRING and BINARY, which are variable-length.
size_t FixedWidth(ColumnType type);

struct Column {
  std::string name;
  ColumnType type = ColumnType::kString;
  int precision = 0;  // DECIMAL; TIMESTAMP_LTZ: fractional-second digits
  int scale = 0;      // DECIMAL only
  bool nullable = true;
  // Nested types only: ARRAY {element}, MAP {key, value}, STRUCT its fields in
  // order. Children are always nullable, except a MAP key, which is never NULL;
  // the names of ARRAY and MAP children are "element", "key" and "value".
  std::vector<Column> children;

  // "BIGINT", "DECIMAL(10,2)", "TIMESTAMP_LTZ(6)", "MAP<STRING,ARRAY<INT>>",
  // "STRUCT<a:INT,b:STRING>".
  std::string TypeString() const;
};

// Parses and checks one "NAME TYPE [NOT NULL | NULL]" column definition, as
// TableSchema::Parse reads each entry of its list.
absl::StatusOr<Column> ParseColumnDefinition(std::string_view def);

inline constexpr int kDefaultBuckets = 16;
inline constexpr int kMaxBuckets = 4096;

class TableSchema {
 public:
  // Parses a column list such as "id BIGINT, name STRING NOT NULL, price DECIMAL(10,2)".
  // Type names are case-insensitive; a column may end with NOT NULL or NULL.
  // MaxCompute names that have no exact counterpart here (VARCHAR(n), CHAR(n),
  // TIMESTAMP_NTZ) are refused with an error that says why. Nested types are
  // ARRAY<T>, MAP<K,V> and STRUCT<name:T, ...> (also STRUCT<name T, ...>), to
  // kMaxNestingDepth levels; a MAP key type cannot be nested.
  // `primary_key` is a comma-separated list of column names. Primary-key columns
  // become NOT NULL; FLOAT, DOUBLE and nested types cannot be key columns. `buckets` must be in
  // [1, 4096]. Errors are INVALID_ARGUMENT naming the offending text.
  static absl::StatusOr<TableSchema> Parse(std::string_view columns, std::string_view primary_key,
                                           int buckets = kDefaultBuckets);
  // The same, partitioned by the comma-separated columns `partition_by`
  // (none when blank): they become the leading primary-key columns, in the
  // order given, followed by the rest of `primary_key` (partition.h).
  static absl::StatusOr<TableSchema> Parse(std::string_view columns, std::string_view primary_key,
                                           int buckets, std::string_view partition_by);

  // Validates and builds a schema from parts (same rules as Parse).
  static absl::StatusOr<TableSchema> Make(std::vector<Column> columns,
                                          std::vector<std::string> primary_key, int buckets);

  // JSON form stored in the table's metadata file (see docs/table-format.md):
  // {"columns":[{"name":..,"type":"DECIMAL(10,2)","nullable":true}..],
  //  "primary_key":["id"], "buckets":16}, plus "partition_keys":["dt"] when
  // partitioned. A nested column's "type" is its
  // TypeString ("ARRAY<STRUCT<a:INT>>"), which builds before nested types
  // refuse with "nested types ... are not supported yet".
  nlohmann::json ToJson() const;
  static absl::StatusOr<TableSchema> FromJson(const nlohmann::json& j);

  const std::vector<Column>& columns() const { return columns_; }
  int buckets() const { return buckets_; }
  // Primary-key column indexes, in key order.
  const std::vector<int>& key_columns() const { return key_columns_; }
  // The other columns, in schema order (these make up the encoded value).
  const std::vector<int>& value_columns() const { return value_columns_; }
  std::optional<int> ColumnIndex(std::string_view name) const;

  // Partitions (partition.h): the first partition_key_count() primary-key
  // columns are the partition columns; 0 when the table is not partitioned.
  int partition_key_count() const { return partition_keys_; }
  bool partitioned() const { return partition_keys_ > 0; }
  // This schema partitioned by its first `count` primary-key columns (0: not
  // partitioned). INVALID_ARGUMENT unless 0 <= count < the key's column
  // count: a key of partition columns only would make a partition per row.
  absl::StatusOr<TableSchema> WithPartitionKeys(int count) const;
  bool IsKeyColumn(int index) const;

  // "id BIGINT NOT NULL, name STRING" (round-trips through Parse).
  std::string ColumnsString() const;

  // Schema evolution (schema_change.h). The version of the table's schema
  // this is: 0 for the one table.json holds, then one per ALTER snapshot.
  // Encoded upsert values record it (row.h) when it is not 0.
  int64_t id() const { return id_; }
  // A stable id per column, in schema order: values are matched across
  // versions by these, never by name or position. Ids of dropped columns
  // are never reused: a new column gets last_column_id() + 1.
  const std::vector<int>& column_ids() const { return column_ids_; }
  int last_column_id() const { return last_column_id_; }
  // This schema as version `id` with the given column ids (one per column,
  // unique, each at most `last_column_id`). INVALID_ARGUMENT otherwise.
  absl::StatusOr<TableSchema> WithVersion(int64_t id, std::vector<int> column_ids,
                                          int last_column_id) const;

 private:
  std::vector<Column> columns_;
  std::vector<int> key_columns_;
  std::vector<int> value_columns_;
  std::vector<bool> is_key_;
  int buckets_ = kDefaultBuckets;
  int partition_keys_ = 0;
  int64_t id_ = 0;
  std::vector<int> column_ids_;  // Make: 0..n-1
  int last_column_id_ = -1;
};

}  // namespace deltasidecar::table
