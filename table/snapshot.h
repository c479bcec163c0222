// A snapshot: the complete, immutable description of the table at one commit.
// Snapshot files are JSON with a checksummed footer (docs/table-format.md);
// once published they never change, so parsed snapshots are shared freely
// between threads as std::shared_ptr<const Snapshot>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/bucket_files.h"

namespace deltasidecar::table {

// What a sealed checkpoint held: its rows and their chained checksum.
struct CheckpointDigest {
  uint64_t rows = 0;
  uint64_t checksum = 0;
  bool operator==(const CheckpointDigest&) const = default;
};

// Who committed a snapshot: a stream writer and the checkpoint it committed.
struct CommitIdentity {
  std::string writer_id;
  int64_t checkpoint_id = 0;
  // Recorded with the identity when the committer knows it, so that a later
  // "already committed" answer can be checked against what was sealed.
  std::optional<CheckpointDigest> digest;
  bool operator==(const CommitIdentity&) const = default;
  // The same (writer, checkpoint), whatever the digests.
  bool SameCheckpoint(const CommitIdentity& o) const {
    return writer_id == o.writer_id && checkpoint_id == o.checkpoint_id;
  }
};

// The last checkpoint a writer committed, and the snapshot that committed it.
struct WriterState {
  int64_t checkpoint_id = 0;
  int64_t snapshot_id = 0;
};

// A manifest a snapshot names (manifest.h), with what it holds.
struct ManifestRef {
  std::string name;     // file name inside the table's manifests/ directory
  uint64_t added = 0;   // files it adds
  uint64_t removed = 0; // files it removes
  bool operator==(const ManifestRef&) const = default;
};

// kAlter: a schema change (Table::Alter); it changes no rows.
// kDropPartition: partitions dropped (Table::DropPartitions): every file of
// them leaves the table.
enum class SnapshotKind { kCreate, kAppend, kCompact, kAlter, kDropPartition };
std::string_view SnapshotKindName(SnapshotKind kind);

struct Snapshot {
  int64_t id = 0;
  int64_t parent_id = -1;         // -1 for the first snapshot
  int64_t time_ms = 0;            // commit time, ms since epoch; never below the parent's
  SnapshotKind kind = SnapshotKind::kCreate;
  std::vector<CommitIdentity> identities;  // committed by this snapshot (APPEND only)
  // Every writer that ever committed, with its latest checkpoint. Survives
  // snapshot expiry, so "is (w, n) committed?" is answerable forever.
  std::map<std::string, WriterState> writers;
  uint64_t added_entries = 0;     // entries this commit added (APPEND)
  uint64_t added_deletes = 0;
  // Files per bucket, oldest first: for equal keys a later file wins.
  // Stored in the manifests below (format 2) or inline (format 1).
  BucketFiles buckets;
  // The manifests that, applied in order, give `buckets` (format 2).
  std::vector<ManifestRef> manifests;
  // Files that were live in the parent and are not live here.
  std::vector<std::string> removed;
  // The version of the table's schema this snapshot is read under
  // (schema_change.h): 0 is table.json's, a later one is in schemas/.
  // Snapshots with a version above 0 are format 3.
  int64_t schema_id = 0;

  uint64_t TotalEntries() const;
  size_t FileCount() const;
  // True when `identity` is committed in this snapshot or an earlier one.
  bool Contains(const CommitIdentity& identity) const;
  // The newest checkpoint committed under `identity` (a writer's table
  // identity) up to this snapshot; -1 when none is.
  int64_t CommittedCheckpoint(const std::string& identity) const;
};

inline constexpr size_t kMaxWriterIdBytes = 512;
// Writer ids are 1-512 bytes of UTF-8 without control characters.
absl::Status ValidateWriterId(std::string_view id);
// True for "<bucket: 5 digits>-<32 lowercase hex>.sst" (of `bucket` when >= 0)
// and for a multi-bucket file's name (of any bucket).
bool IsDataFileName(std::string_view name, int bucket);
// True for "multi-<32 lowercase hex>.sst": a file holding several buckets.
bool IsMultiBucketFileName(std::string_view name);

// "snapshot-00000000000000000042"
std::string SnapshotFileName(int64_t id);
// Parses a snapshot file name; -1 when `name` is not one.
int64_t ParseSnapshotFileName(std::string_view name);

// Serialized form: framed JSON, format 2: the files are in `manifests`, not
// in the snapshot file; format 3 when the schema version is above 0 (format
// 2 plus "schema_id", so that a build without schema evolution refuses the
// table rather than misread values). `Decode` checks the checksum
// (DATA_LOSS) and that the bucket count matches `buckets` when it is
// positive. It reads formats 1 (files inline) to 3; for 2 and 3 it leaves
// every bucket empty, for the caller to fill by applying the manifests.
std::string EncodeSnapshot(const Snapshot& snapshot);
absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view contents, std::string_view what,
                                        int buckets);

}  // namespace deltasidecar::table
