// PreparedCheckpoints: sealed checkpoints turned into table data files ahead
// of their commit, in the table directory that every sidecar on the root
// shares, so that a commit on any of them publishes metadata only.
//
//   prepared/<XXH3-128 of the identity, 32 hex>-<checkpoint, 20 digits>-<checksum, 16 hex>
//
// A prepared checkpoint names the data files (in data/, referenced by no
// snapshot yet) that hold one writer identity's sealed checkpoints: every
// checkpoint of that identity that was sealed and not committed when it was
// prepared, oldest first, up to the one it is named for. Committing it
// publishes the parts the table does not hold yet, so it alone is enough to
// commit its checkpoint and everything before it, also when the process that
// prepared it is gone.
//
// Each file is created once with link(2) (the snapshots' compare-and-swap):
// preparing the same sealed checkpoint twice leaves the first one, and the
// second preparer's data files are orphans that the sweep removes. A prepared
// checkpoint also records who sealed it (the writer's claim: owner and
// incarnation, writer_claims.h); it is committed only while that claim is the
// writer's newest. See docs/table-format.md.
//
// Thread-safety: all methods may be called concurrently, also from several
// processes. Errors: DATA_LOSS for a damaged file, INTERNAL for I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "rocksdb/file_system.h"
#include "table/snapshot.h"

namespace deltasidecar::table {

// One sealed checkpoint's data files, oldest first within a bucket.
struct PreparedPart {
  int64_t checkpoint_id = 0;
  CheckpointDigest digest;
  std::vector<DataFileMeta> files;  // added_in is 0 until a snapshot adds them
};

struct PreparedCheckpoint {
  std::string identity;   // the table identity (IncarnationIdentity)
  std::string writer_id;  // whose claim must still be the newest at commit
  int64_t incarnation = 0;
  std::string owner;      // the claim's owner: the staging store that sealed it
  int64_t time_ms = 0;
  std::vector<PreparedPart> parts;  // ascending checkpoint ids; never empty

  const PreparedPart& newest() const { return parts.back(); }
  CommitIdentity IdentityOf(const PreparedPart& p) const {
    return {identity, p.checkpoint_id, p.digest};
  }
};

std::string PreparedFileName(std::string_view identity, int64_t checkpoint_id, uint64_t checksum);
// The first part of the names of `identity`'s prepared checkpoints: 32 hex digits.
std::string PreparedIdentityHash(std::string_view identity);

// What a prepared checkpoint's file name says.
struct PreparedFileId {
  std::string name;
  std::string identity_hash;  // PreparedIdentityHash of its identity
  int64_t checkpoint_id = 0;
  uint64_t checksum = 0;
};
// nullopt when `name` is not a prepared checkpoint's (a temporary file, a stranger).
std::optional<PreparedFileId> ParsePreparedFileName(std::string_view name);

std::string EncodePrepared(const PreparedCheckpoint& p);
// DATA_LOSS naming `what` when the file is damaged or malformed.
absl::StatusOr<PreparedCheckpoint> DecodePrepared(std::string_view contents, std::string_view what,
                                                  int buckets);

class PreparedCheckpoints {
 public:
  // `table_dir` is the table's directory; files live in its prepared/.
  PreparedCheckpoints(rocksdb::FileSystem* fs, std::string table_dir, int buckets);

  // The prepared checkpoint of (identity, checkpoint) sealed with `checksum`;
  // nullopt when there is none.
  absl::StatusOr<std::optional<PreparedCheckpoint>> Find(std::string_view identity,
                                                         int64_t checkpoint_id, uint64_t checksum);
  // Checksums of every prepared version of (identity, checkpoint).
  absl::StatusOr<std::vector<uint64_t>> ChecksumsOf(std::string_view identity,
                                                    int64_t checkpoint_id);
  // Publishes `p` under its name; when the name is taken, returns the one
  // already there (ALREADY_EXISTS is never returned).
  absl::StatusOr<PreparedCheckpoint> Create(const PreparedCheckpoint& p);
  // Every prepared checkpoint file, by what its name says.
  absl::StatusOr<std::vector<PreparedFileId>> List();
  absl::StatusOr<PreparedCheckpoint> Load(const std::string& name);
  // Not synced: after a crash a removed file may be back, which is harmless
  // (committing it again is already done; the sweep removes it).
  absl::Status Remove(const std::string& name);

  // Removes every prepared checkpoint of `identity` at or above
  // `checkpoint_id`: its staged data was dropped (an abort, a restore), so
  // none of them (later ones name it as an earlier part) may be committed.
  // Synced: a removal that a crash undid could publish dropped rows.
  absl::Status RemoveFrom(std::string_view identity, int64_t checkpoint_id);

  const std::string& dir() const { return dir_; }

 private:
  rocksdb::FileSystem* const fs_;
  const std::string dir_;  // <table>/prepared
  const int buckets_;
};

}  // namespace deltasidecar::table
