// Table properties: options stored with a table (table.json "options", a map
// of text keys to text values), which override, for that table, the options
// a process opens it with (a sidecar's --retain-* and --compaction-* flags,
// deltactl's defaults). Set when the table is created.
//
//   compaction.trigger-files           int >= 0 (0: no automatic compaction)
//   compaction.size-ratio              number > 0
//   compaction.max-size-amplification  number > 0
//   retention.min-snapshots            int >= 1
//   retention.max-snapshots            int >= retention.min-snapshots
//   retention.max-age                  duration ("90m", "2h", "24h")
//   retention.consumer-max-age         duration
//   partition.expiration-time          duration: partitions whose time
//                                      (partition.h PartitionTime: a DATE,
//                                      DATETIME, TIMESTAMP or date-like
//                                      STRING partition column) is older
//                                      are dropped by maintenance
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace deltasidecar::table {

using TableProperties = std::map<std::string, std::string>;

// The parsed values; unset ones leave the process's option alone.
struct TablePropertyValues {
  std::optional<int> compaction_trigger_files;
  std::optional<double> compaction_size_ratio;
  std::optional<double> compaction_max_size_amplification;
  std::optional<int> retention_min_snapshots;
  std::optional<int> retention_max_snapshots;
  std::optional<absl::Duration> retention_max_age;
  std::optional<absl::Duration> retention_consumer_max_age;
  std::optional<absl::Duration> partition_expiration;
};

// INVALID_ARGUMENT naming the key for an unknown key or a bad value.
absl::StatusOr<TablePropertyValues> ParseTableProperties(const TableProperties& properties);

// Parses "key=value" arguments (deltactl create --option). INVALID_ARGUMENT
// for one without '=' or a key given twice; the keys and values are checked
// by ParseTableProperties.
absl::StatusOr<TableProperties> TablePropertiesFromArgs(const std::vector<std::string>& args);

}  // namespace deltasidecar::table
