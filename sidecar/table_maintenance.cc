#include "sidecar/table_maintenance.h"

#include <algorithm>
#include <map>

#include "table/status_macros.h"

namespace deltasidecar::sidecar {

namespace {

// The oldest retained snapshot id. Retained ids are contiguous (expiry
// removes the oldest first), so a binary search over [0, latest] finds it.
absl::StatusOr<int64_t> EarliestSnapshotId(table::Table& table, int64_t latest) {
  int64_t lo = 0, hi = latest;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    auto s = table.SnapshotById(mid);
    if (s.ok()) {
      hi = mid;
    } else if (absl::IsNotFound(s.status())) {
      lo = mid + 1;
    } else {
      return s.status();
    }
  }
  return lo;
}

// The first snapshot id younger than `cutoff`, latest + 1 when none is
// (snapshot times never decrease with the id).
absl::StatusOr<int64_t> FirstSnapshotAfter(table::Table& table, int64_t earliest, int64_t latest,
                                           absl::Time cutoff) {
  int64_t lo = earliest, hi = latest, first = latest + 1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(auto s, table.SnapshotById(mid));
    if (table::SnapshotTime(*s) >= cutoff) {
      first = mid;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return first;
}

// What compaction snapshot `id` merged and wrote, from it and its parent.
absl::Status DescribeCompaction(table::Table& table, int64_t id, MaintenanceReport* r) {
  ASSIGN_OR_RETURN(auto after, table.SnapshotById(id));
  ASSIGN_OR_RETURN(auto before, table.SnapshotById(after->parent_id));
  std::map<std::string_view, uint64_t> sizes;
  for (const auto& files : before->buckets)
    for (const auto& f : files) sizes.emplace(f.name, f.size_bytes);
  for (const auto& name : after->removed) {
    ++r->compacted_input_files;
    if (auto it = sizes.find(name); it != sizes.end()) r->compacted_input_bytes += it->second;
  }
  for (const auto& files : after->buckets) {
    for (const auto& f : files) {
      if (f.added_in != id) continue;
      ++r->compacted_output_files;
      r->compacted_output_bytes += f.size_bytes;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MaintenanceReport> MaintainTable(table::Table& table,
                                                const table::TableOptions& options,
                                                const std::function<bool()>& stop) {
  MaintenanceReport report;
  if (options.compaction.trigger_files > 0) {
    auto compacted = table.Compact(/*full=*/false);
    if (compacted.ok() && compacted->has_value()) {
      report.compacted = true;
      // The counts are for the metrics; the compaction itself is done.
      DescribeCompaction(table, **compacted, &report).IgnoreError();
    } else if (!compacted.ok() && !absl::IsAborted(compacted.status())) {
      return compacted.status();
    }
  }

  const table::RetentionOptions& retention = options.retention;
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  ASSIGN_OR_RETURN(int64_t earliest, EarliestSnapshotId(table, latest->id));
  // Snapshots from `young` on are younger than max_age: kept unless there are
  // more than max_snapshots of them.
  ASSIGN_OR_RETURN(int64_t young, FirstSnapshotAfter(table, earliest, latest->id,
                                                     absl::Now() - retention.max_age));
  for (;;) {
    const int64_t count = latest->id - earliest + 1;
    const int64_t keep = std::clamp<int64_t>(latest->id + 1 - young, retention.min_snapshots,
                                             retention.max_snapshots);
    if (count <= keep || stop()) break;
    const int64_t step_keep = std::max<int64_t>(keep, count - kExpireStepSnapshots);
    ASSIGN_OR_RETURN(table::ExpireResult expired, table.Expire(static_cast<int>(step_keep)));
    ++report.expire_steps;
    report.snapshots_expired += expired.snapshots_removed;
    report.files_expired += expired.files_removed;
    // Commits may have added snapshots meanwhile; Expire counted them too.
    ASSIGN_OR_RETURN(latest, table.LatestSnapshot());
    if (expired.earliest_snapshot <= earliest) break;  // another process expires this table
    earliest = expired.earliest_snapshot;
  }

  report.earliest_snapshot = earliest;
  report.latest_snapshot = latest->id;
  for (const auto& files : latest->buckets) {
    report.data_files += files.size();
    report.max_bucket_files = std::max<uint64_t>(report.max_bucket_files, files.size());
  }
  return report;
}

}  // namespace deltasidecar::sidecar
