// The maintenance of one table, for the sidecar's background thread and for
// Table::RunMaintenance (deltactl): the compaction policy,
// then snapshot expiry by the retention policy, done so that a commit to the
// same table never waits for more than a small, fixed amount of it.
//
// Why a commit waits at all: table::Table serialises snapshot publication
// with one lock per handle. A compaction merges its files without that lock
// and takes it only to publish its snapshot (one small file written, synced
// and linked), so a commit waits for at most that publish, however large the
// compaction. Expire holds the lock for its whole run (it deletes snapshot
// files oldest first, syncing the directory after each); a backlog of
// thousands of snapshots would stall commits for seconds. So expiry here
// runs in steps of at most kExpireStepSnapshots snapshots, each its own
// Expire call, and commits get the lock between steps.
//
// Thread-safety: the table handle may be used by commits and reads at the
// same time.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "table/table.h"

namespace deltasidecar::table {

// What one maintenance run of a table did and left behind.
struct MaintenanceReport {
  int partitions_expired = 0;     // partitions dropped by the table's expiration time
  bool compacted = false;         // a compaction snapshot was published
  bool compaction_elsewhere = false;  // another process held the compaction lease
  uint64_t compacted_input_files = 0;
  uint64_t compacted_input_bytes = 0;
  uint64_t compacted_output_files = 0;
  uint64_t compacted_output_bytes = 0;
  int snapshots_expired = 0;
  int files_expired = 0;          // data files deleted by expiry
  int expire_steps = 0;           // Expire calls (each one holds the table's publish lock)
  bool swept = false;             // the orphan sweep ran
  int orphan_files_removed = 0;   // data files no snapshot or prepared checkpoint names
  int prepared_removed = 0;       // prepared checkpoints committed or abandoned
  // The table after the run.
  int64_t earliest_snapshot = 0;
  int64_t latest_snapshot = 0;
  uint64_t data_files = 0;
  uint64_t max_bucket_files = 0;
  // The table's consumers after the run, by name.
  std::vector<ConsumerPosition> consumers;
};

// How long a compaction lease (compaction_lease.h) lasts: longer than a
// compaction takes, short enough that a crashed holder delays the others'
// compactions by little.
inline constexpr absl::Duration kCompactionLeaseTtl = absl::Minutes(2);

// Snapshots one Expire call may remove.
inline constexpr int kExpireStepSnapshots = 8;

// Drops the partitions past the table's expiration time
// (TableOptions::partition_expiration), compacts by `options.compaction`
// (nothing when trigger_files is 0) and
// expires by the table's retention policy (Table::FindRetentionPoint), in steps,
// then, unless `orphan_age` is infinite, sweeps orphans older than it
// (Table::SweepOrphans, outside the publish lock).
// `stop` is polled between expiry steps; when it returns true the run ends
// early (the rest is left for the next run). A compaction that lost a race
// with another compactor (ABORTED) is not an error. Other errors are
// returned; the table is consistent after any of them.
absl::StatusOr<MaintenanceReport> MaintainTable(Table& table, const TableOptions& options,
                                                const std::function<bool()>& stop,
                                                absl::Duration orphan_age = absl::InfiniteDuration());

}  // namespace deltasidecar::table
