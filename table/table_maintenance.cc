#include "table/table_maintenance.h"

#include <algorithm>
#include <set>

#include "table/base/status_macros.h"

namespace deltasidecar::table {

namespace {

// What compaction snapshot `id` merged and wrote, from it and its parent:
// per bucket, the files the parent held and it does not, and its own.
absl::Status DescribeCompaction(Table& table, int64_t id, MaintenanceReport* r) {
  ASSIGN_OR_RETURN(auto after, table.SnapshotById(id));
  ASSIGN_OR_RETURN(auto before, table.SnapshotById(after->parent_id));
  for (size_t b = 0; b < after->buckets.size() && b < before->buckets.size(); ++b) {
    std::set<std::string_view> kept;
    for (const auto& f : after->buckets[b]) {
      kept.insert(f.name);
      if (f.added_in != id) continue;
      ++r->compacted_output_files;
      r->compacted_output_bytes += f.BucketBytes();
    }
    for (const auto& f : before->buckets[b]) {
      if (kept.contains(f.name)) continue;
      ++r->compacted_input_files;
      r->compacted_input_bytes += f.BucketBytes();
    }
  }
  return absl::OkStatus();
}

// Compacts what the policy picks while holding the table's compaction
// lease: processes that share the table compact it one at a time instead of
// all merging the same files for one of them to publish.
absl::Status CompactUnderLease(Table& table, MaintenanceReport* report) {
  ASSIGN_OR_RETURN(std::optional<CompactionLease> lease,
                   table.TryTakeCompactionLease(kCompactionLeaseTtl));
  if (!lease) {
    report->compaction_elsewhere = true;
    return absl::OkStatus();
  }
  auto compacted = table.Compact(/*full=*/false);
  if (compacted.ok() && compacted->has_value()) {
    report->compacted = true;
    // The counts are for the metrics; the compaction itself is done.
    DescribeCompaction(table, **compacted, report).IgnoreError();
  } else if (!compacted.ok() && !absl::IsAborted(compacted.status())) {
    return compacted.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MaintenanceReport> MaintainTable(Table& table,
                                                const TableOptions& options,
                                                const std::function<bool()>& stop,
                                                absl::Duration orphan_age) {
  MaintenanceReport report;
  // Partitions past the table's expiration time go first, so that the
  // compaction below does not merge what is about to be dropped.
  ASSIGN_OR_RETURN(report.partitions_expired,
                   table.ExpirePartitions(table.options().partition_expiration, absl::Now()));
  if (options.compaction.trigger_files > 0) RETURN_IF_ERROR(CompactUnderLease(table, &report));

  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  ASSIGN_OR_RETURN(Table::RetentionPoint point, table.FindRetentionPoint(latest->id));
  int64_t earliest = point.earliest;
  for (;;) {
    const int64_t count = latest->id - earliest + 1;
    const int64_t keep = table.RetainedCount(point, latest->id);
    if (count <= keep || stop()) break;
    const int64_t step_keep = std::max<int64_t>(keep, count - kExpireStepSnapshots);
    ASSIGN_OR_RETURN(ExpireResult expired, table.Expire(static_cast<int>(step_keep)));
    ++report.expire_steps;
    report.snapshots_expired += expired.snapshots_removed;
    report.files_expired += expired.files_removed;
    // Commits may have added snapshots meanwhile; Expire counted them too.
    ASSIGN_OR_RETURN(latest, table.LatestSnapshot());
    if (expired.earliest_snapshot <= earliest) break;  // another process expires this table
    earliest = expired.earliest_snapshot;
  }

  if (orphan_age != absl::InfiniteDuration() && !stop()) {
    ASSIGN_OR_RETURN(OrphanSweepResult swept, table.SweepOrphans(orphan_age));
    report.swept = true;
    report.orphan_files_removed = swept.data_files_removed;
    report.prepared_removed = swept.prepared_removed;
  }

  ASSIGN_OR_RETURN(report.consumers, table.consumers().List());
  report.earliest_snapshot = earliest;
  report.latest_snapshot = latest->id;
  for (const auto& files : latest->buckets) {
    report.data_files += files.size();
    report.max_bucket_files = std::max<uint64_t>(report.max_bucket_files, files.size());
  }
  return report;
}

}  // namespace deltasidecar::table
