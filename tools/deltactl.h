// deltactl's commands, shared between its source files: the parsed
// arguments and the helpers that commands of several files use. Internal to
// deltactl.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "table/table.h"

namespace dt = deltasidecar::table;

namespace deltasidecar::tools::deltactl {

// Exit codes (documented in --help and docs/deltactl.md).
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;

inline constexpr size_t kMaxImportLineBytes = 64 << 20;

// Set by `get` when the key has no live row (a result, not an error).
extern bool g_key_absent;

struct Args {
  std::string root;
  std::string table;
  // create
  std::string schema, primary_key;
  int buckets = dt::kDefaultBuckets;
  bool if_not_exists = false;
  // import
  std::string file, writer;
  int64_t checkpoint = -1;
  bool no_maintenance = false;
  // reads
  int64_t snapshot = -1;
  std::string as_of;
  std::string format = "jsonl";
  std::string history_format = "text";
  std::string key;
  std::vector<std::string> changes;  // alter
  std::vector<std::string> options;  // create: table properties
  std::string partition_by;          // create
  std::vector<std::string> partitions;  // reads: partition specs to read; drop-partition
  int64_t from = -1, to = -1;
  // maintenance
  bool full = false;
  int keep = 0;
  std::string orphan_age = "1h";
  // consumers
  std::string drop_consumer;
  std::string consumer_max_age = absl::FormatDuration(dt::RetentionOptions().consumer_max_age);
};

// A time argument: epoch milliseconds, 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC),
// RFC 3339 or a date.
absl::StatusOr<absl::Time> ParseTimeArg(const std::string& text);
std::string FormatMs(int64_t ms);
// The snapshot --snapshot or --as-of names, else the latest.
absl::StatusOr<std::shared_ptr<const dt::Snapshot>> PickSnapshot(dt::Table& table, const Args& a);

// Reads (deltactl_read.cc).
absl::Status CmdScan(const Args& a);
absl::Status CmdExport(const Args& a);
absl::Status CmdGet(const Args& a);
absl::Status CmdChanges(const Args& a);
absl::Status CmdHistory(const Args& a);
absl::Status CmdDescribe(const Args& a);

// Partitions (deltactl_partitions.cc).
absl::Status CmdPartitions(const Args& a);
absl::Status CmdDropPartition(const Args& a);
// What a read reads: the key range of the one partition --partition names,
// else everything. INVALID_ARGUMENT for a bad spec or more than one.
absl::StatusOr<dt::ReadBounds> ReadBoundsOf(const dt::TableSchema& schema, const Args& a);
// The one partition --partition names as the Python reader's key filter
// terms (JSON: [["dt", "=", "2026-12-01"], ...]), for export to Parquet/Arrow.
absl::StatusOr<std::string> PartitionFilterTerms(const Args& a);

}  // namespace deltasidecar::tools::deltactl
