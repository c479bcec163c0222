// The final table a complete run leaves behind, computed from the workload
// alone (no server), for checking a run that survived crashes.
#pragma once

#include <string>

#include "table/schema.h"
#include "tools/loadgen/workload.h"

namespace deltasidecar::loadgen {

// Writes every writer's ops applied in order (writers own disjoint keys, so
// their order relative to each other does not matter) to `path`, as
// `deltactl scan` prints the table: one JSON object per line, by primary key.
// False when the file cannot be written.
bool WriteExpected(const Workload& wl, const table::TableSchema& schema, const std::string& path);

}  // namespace deltasidecar::loadgen
