// Which files of a bucket to merge. Size-tiered, like RocksDB's universal
// compaction: merging a run of similar-sized recent files is cheap and keeps the
// file count (and so lookup cost) bounded; a full merge happens when the newer
// files add up to a multiple of the oldest one, which bounds space amplification
// and drops deleted rows. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "table/snapshot.h"

namespace deltasidecar::table {

struct CompactionOptions {
  // A bucket is compacted when it has at least this many files (0 disables automatic compaction).
  int trigger_files = 5;
  // A run of newer files grows to include the next older file while that file
  // is at most (1 + size_ratio) times the run's total size.
  double size_ratio = 1.0;
  // Merge everything when the newer files total at least this many times the oldest file.
  double max_size_amplification = 2.0;
};

// A contiguous run of a bucket's files, oldest first.
struct CompactionPick {
  size_t first = 0;
  size_t count = 0;
  bool includes_oldest() const { return first == 0; }
};

// Picks a run to merge from `files` (oldest first), or nullopt when the bucket is fine.
std::optional<CompactionPick> PickCompaction(std::span<const DataFileMeta> files,
                                             const CompactionOptions& options);

}  // namespace deltasidecar::table
