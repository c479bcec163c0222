// Table: partitions (partition.h): listing them, dropping them as one
// snapshot, and dropping those older than the table's expiration time.
#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/partition.h"
#include "table/table.h"

namespace deltasidecar::table {

std::vector<Table::PartitionInfo> Table::Partitions(const Snapshot& snapshot) {
  std::map<std::string_view, PartitionInfo> found;
  absl::flat_hash_set<std::string_view> counted;  // multi-bucket files, once each
  for (const auto& files : snapshot.buckets) {
    for (const DataFileMeta& f : files) {
      if (f.partition.empty()) continue;
      PartitionInfo& p = found[f.partition];
      p.entries += f.entries;
      p.deletes += f.deletes;
      p.bytes += f.BucketBytes();
      if (!IsMultiBucketFileName(f.name) || counted.insert(f.name).second) ++p.files;
    }
  }
  std::vector<PartitionInfo> out;
  for (auto& [partition, info] : found) {
    info.partition = std::string(partition);
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<int64_t> Table::DropPartitions(const std::vector<std::string>& partitions) {
  if (!schema_.partitioned()) {
    return absl::InvalidArgumentError(Cat("table '", name_, "' is not partitioned"));
  }
  const absl::flat_hash_set<std::string> dropped(partitions.begin(), partitions.end());
  ASSIGN_OR_RETURN(
      std::optional<int64_t> id,
      TryCommit(SnapshotKind::kDropPartition, Cat("partition drop of table '", name_, "'"), {},
                [&](const Snapshot& latest, Snapshot& next) -> absl::StatusOr<bool> {
                  absl::flat_hash_set<std::string> removed;
                  for (size_t b = 0; b < latest.buckets.size(); ++b) {
                    const auto& files = latest.buckets[b];
                    if (std::none_of(files.begin(), files.end(), [&](const DataFileMeta& f) {
                          return dropped.contains(f.partition);
                        })) {
                      continue;
                    }
                    next.buckets.Edit(b, [&](std::vector<DataFileMeta>& kept) {
                      std::erase_if(kept, [&](const DataFileMeta& f) {
                        if (!dropped.contains(f.partition)) return false;
                        removed.insert(f.name.str());
                        return true;
                      });
                    });
                  }
                  next.removed.assign(removed.begin(), removed.end());
                  std::sort(next.removed.begin(), next.removed.end());
                  return !removed.empty();
                }));
  if (!id) {
    std::string named;
    for (const std::string& p : partitions) {
      auto text = PartitionText(schema_, p);
      named += Cat(named.empty() ? "" : ", ", text.ok() ? *text : "?");
    }
    return absl::NotFoundError(Cat("table '", name_, "' has no files in partition ", named,
                                   ": nothing to drop"));
  }
  return *id;
}

absl::StatusOr<int> Table::ExpirePartitions(absl::Duration age, absl::Time now) {
  if (!schema_.partitioned() || !PartitionTimeColumn(schema_) || age == absl::InfiniteDuration()) {
    return 0;
  }
  ASSIGN_OR_RETURN(auto latest, LatestSnapshot());
  std::vector<std::string> expired;
  for (const PartitionInfo& p : Partitions(*latest)) {
    ASSIGN_OR_RETURN(std::optional<absl::Time> time, PartitionTime(schema_, p.partition));
    if (time && *time < now - age) expired.push_back(p.partition);
  }
  if (expired.empty()) return 0;
  auto dropped = DropPartitions(expired);
  // Another process dropped them first: nothing is left to do.
  if (absl::IsNotFound(dropped.status())) return 0;
  RETURN_IF_ERROR(dropped.status());
  return static_cast<int>(expired.size());
}

}  // namespace deltasidecar::table
