// Names and limits of a table directory's layout (docs/table-format.md §2),
// shared by the files that implement Table. Internal to table/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace deltasidecar::table {

inline constexpr std::string_view kTableMagic = "DTABLE1";
inline constexpr char kTableFile[] = "table.json";
inline constexpr char kSnapshotDir[] = "snapshots";
inline constexpr char kDataDir[] = "data";
inline constexpr char kManifestDir[] = "manifests";
inline constexpr char kSchemaDir[] = "schemas";
inline constexpr char kTmpPrefix[] = ".tmp-";
inline constexpr char kCompactionLeaseFile[] = "compaction.lease";  // compaction_lease.h
inline constexpr uint64_t kMaxMetadataBytes = 256ull << 20;
inline constexpr size_t kSnapshotCacheSize = 64;
// Parsed manifests kept (a snapshot names at most kMaxManifests).
inline constexpr size_t kManifestCacheSize = 128;
// A temporary file this old is a crashed committer's leftover, not one in flight.
inline constexpr absl::Duration kStaleTmpAge = absl::Minutes(10);

inline int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace deltasidecar::table
