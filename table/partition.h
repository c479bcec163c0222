// Partitions of a primary-key table (docs/table-format.md §8.1). A
// partitioned table's partition columns are the leading columns of its
// primary key, so a row's partition is a prefix of its encoded key (§7.1)
// and a partition's rows are one contiguous range of keys. Every data file
// (and every section of a multi-bucket file) holds the rows of one
// partition and records it; each partition so has its own files in each
// bucket, and a read, a lookup or a drop touches only the files of the
// partitions it names.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json_fwd.hpp"
#include "table/schema.h"

namespace deltasidecar::table {

// Longest partition spec text ParsePartitionSpec reads.
inline constexpr size_t kMaxPartitionSpecBytes = 64 << 10;

// The leading bytes of the encoded key `key` that encode its partition
// columns: the partition's encoding. Empty when the table is not
// partitioned. DATA_LOSS when the key ends inside a partition column.
absl::StatusOr<std::string_view> PartitionOfKey(const TableSchema& schema, std::string_view key);

// The smallest byte string above every key that starts with `partition`,
// nullopt when there is none (`partition` is all 0xff bytes, or empty).
std::optional<std::string> PartitionEnd(std::string_view partition);

// The partition columns as a schema of their own (all of them its key), to
// encode and decode partitions with the key codec (row.h). INVALID_ARGUMENT
// when the table is not partitioned.
absl::StatusOr<TableSchema> PartitionSchema(const TableSchema& schema);

// "dt=2026-12-01/region=eu": each partition column as name=text (the text
// forms of value_text.h), in key order. DATA_LOSS when `partition` is not
// an encoded partition of `schema`.
absl::StatusOr<std::string> PartitionText(const TableSchema& schema, std::string_view partition);
// {"dt":"2026-12-01","region":"eu"}: the JSON form of the partition's values.
absl::StatusOr<nlohmann::json> PartitionJson(const TableSchema& schema, std::string_view partition);

// Parses a partition spec naming every partition column once, in any order:
// "dt=2026-12-01/region=eu" (',' also separates), values in their text
// forms. A '/' or ',' separates only where a column name and '=' follow
// it, so "region=us/west,dt=2026-12-01" has region "us/west".
// Returns the encoded partition. INVALID_ARGUMENT naming the problem: an
// unpartitioned table, a column that is not a partition column, one missing
// or repeated, a bad value, or text over kMaxPartitionSpecBytes.
absl::StatusOr<std::string> ParsePartitionSpec(const TableSchema& schema, std::string_view text);

// The instant a partition starts at, by its time column
// (PartitionTimeColumn): a DATE at midnight UTC, a DATETIME, TIMESTAMP or
// TIMESTAMP_LTZ as it is, a STRING when it reads "YYYYMMDD", "YYYYMMDDHH",
// "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS" (UTC). nullopt when the table has no
// time column or a STRING value reads as none of those (such a partition
// never expires). What partition expiry compares with the expiration time
// (table_properties.h).
absl::StatusOr<std::optional<absl::Time>> PartitionTime(const TableSchema& schema,
                                                        std::string_view partition);
// The partition column that holds a partition's time: the first of type
// DATE, DATETIME, TIMESTAMP or TIMESTAMP_LTZ, else the first STRING one
// (MaxCompute's ds = '20261201'); nullopt when there is neither.
std::optional<int> PartitionTimeColumn(const TableSchema& schema);

}  // namespace deltasidecar::table
