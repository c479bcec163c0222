// The sidecar's background maintenance of one table: the compaction policy,
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
// Thread-safety: runs on the sidecar's maintenance thread; the table handle
// may be used by commits and reads at the same time.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "sidecar/metrics.h"
#include "table/table.h"

namespace deltasidecar::sidecar {

// Snapshots one Expire call may remove.
inline constexpr int kExpireStepSnapshots = 8;

// Compacts by `options.compaction` (nothing when trigger_files is 0) and
// expires by the table's retention policy (Table::FindRetentionPoint), in steps.
// `stop` is polled between expiry steps; when it returns true the run ends
// early (the rest is left for the next run). A compaction that lost a race
// with another compactor (ABORTED) is not an error. Other errors are
// returned; the table is consistent after any of them.
absl::StatusOr<MaintenanceReport> MaintainTable(table::Table& table,
                                                const table::TableOptions& options,
                                                const std::function<bool()>& stop);

}  // namespace deltasidecar::sidecar
