// An advisory lease on a table's automatic compaction, so that processes
// sharing a table root (a sidecar beside each TaskManager) compact a table
// one at a time instead of all merging the same files, of which only one
// compaction can publish (docs/table-format.md §11.3).
//
// The lease is the file "compaction.lease" in the table directory, created
// only where none is (a link that does not replace: one conditional create on
// an object store), holding its holder's id and when it expires. A lease
// past its expiry (its holder crashed, or compacts for longer), or one of
// the same holder (a process restarted after a crash, with the same staging
// store), is replaced. Only work is saved: a compaction's publish checks its inputs
// whoever holds the lease (§11.2), so two holders at once, which a race
// between replacing an expired lease and releasing it can make, cost a
// merge and change nothing.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/file_system.h"

namespace deltasidecar::table {

class CompactionLease {
 public:
  // Takes the lease of the table in `table_dir` for `ttl` as `holder` (1-128
  // characters without spaces or control characters; empty: a new random
  // id); nullopt when another holder's lease has not expired.
  static absl::StatusOr<std::optional<CompactionLease>> TryTake(
      std::shared_ptr<rocksdb::FileSystem> fs, const std::string& table_dir, std::string holder,
      absl::Duration ttl);

  CompactionLease(CompactionLease&& other) noexcept;
  CompactionLease& operator=(CompactionLease&&) = delete;
  // Removes the lease file while it is still this holder's.
  ~CompactionLease();

 private:
  CompactionLease(std::shared_ptr<rocksdb::FileSystem> fs, std::string path, std::string holder)
      : fs_(std::move(fs)), path_(std::move(path)), holder_(std::move(holder)) {}

  std::shared_ptr<rocksdb::FileSystem> fs_;
  std::string path_;
  std::string holder_;  // empty once moved from
};

}  // namespace deltasidecar::table
