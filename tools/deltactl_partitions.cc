// deltactl's partition commands: list a snapshot's partitions, drop some as
// one snapshot, and the --partition option of the reads.
#include <string>
#include <vector>

#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/partition.h"
#include "table/table.h"
#include "tools/deltactl.h"

using deltasidecar::Cat;

namespace deltasidecar::tools::deltactl {

absl::StatusOr<dt::ReadBounds> ReadBoundsOf(const dt::TableSchema& schema, const Args& a) {
  dt::ReadBounds bounds;
  if (a.partitions.empty()) return bounds;
  if (a.partitions.size() > 1) {
    return absl::InvalidArgumentError("--partition: a read takes one partition");
  }
  auto partition = dt::ParsePartitionSpec(schema, a.partitions[0]);
  if (!partition.ok()) return absl::InvalidArgumentError(Cat("--partition: ", partition.status().message()));
  bounds.lower = *partition;
  bounds.upper = dt::PartitionEnd(*partition);
  return bounds;
}

absl::StatusOr<std::string> PartitionFilterTerms(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*table, a));
  ASSIGN_OR_RETURN(auto schema, table->SchemaOf(*snap));
  ASSIGN_OR_RETURN(dt::ReadBounds bounds, ReadBoundsOf(*schema, a));
  ASSIGN_OR_RETURN(nlohmann::json values, dt::PartitionJson(*schema, bounds.lower));
  nlohmann::json terms = nlohmann::json::array();
  for (const auto& [column, value] : values.items()) terms.push_back({column, "=", value});
  return terms.dump();
}

// One line per partition of the snapshot, in key order: its spec, files,
// entries (upserts and deletes as stored, before merging) and bytes.
absl::Status CmdPartitions(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*table, a));
  ASSIGN_OR_RETURN(auto schema, table->SchemaOf(*snap));
  if (!schema->partitioned()) {
    return absl::FailedPreconditionError(Cat("table '", a.table, "' is not partitioned"));
  }
  for (const dt::Table::PartitionInfo& p : dt::Table::Partitions(*snap)) {
    if (a.history_format == "jsonl") {
      ASSIGN_OR_RETURN(nlohmann::json values, dt::PartitionJson(*schema, p.partition));
      nlohmann::json j = {{"partition", values}, {"files", p.files},     {"entries", p.entries},
                          {"deletes", p.deletes}, {"bytes", p.bytes}};
      fmt::print("{}\n", j.dump());
    } else {
      ASSIGN_OR_RETURN(std::string spec, dt::PartitionText(*schema, p.partition));
      fmt::print("{} files={} entries={} deletes={} bytes={}\n", spec, p.files, p.entries,
                 p.deletes, p.bytes);
    }
  }
  return absl::OkStatus();
}

absl::Status CmdDropPartition(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto schema, table->CurrentSchema());
  std::vector<std::string> partitions;
  for (const std::string& spec : a.partitions) {
    auto partition = dt::ParsePartitionSpec(*schema, spec);
    if (!partition.ok()) return absl::InvalidArgumentError(Cat("--partition: ", partition.status().message()));
    partitions.push_back(std::move(*partition));
  }
  ASSIGN_OR_RETURN(int64_t id, table->DropPartitions(partitions));
  fmt::print("{}\n", id);
  return absl::OkStatus();
}

}  // namespace deltasidecar::tools::deltactl
