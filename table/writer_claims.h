// WriterClaims: which incarnation of a stream writer is current, kept in the
// table directory that every sidecar on the root shares.
//
// A writer (a Flink subtask, a Python worker) records its checkpoints in the
// table under an identity: its writer id for incarnation 0, "<id>#<n>" for
// incarnation n (IncarnationIdentity). An incarnation is one line of
// checkpoint ids that only grow; a restore to an older savepoint, or a
// registration on a sidecar that does not hold the writer's history, starts a
// new one so that its checkpoint ids can never collide with committed ones.
// Incarnations are claimed here, never chosen by one process alone:
//
//   writers/<XXH3-128 of the writer id, 32 hex>/<incarnation, 20 digits>
//
// Each claim file is created once with link(2), which fails when the name
// exists: two processes claiming the same incarnation at the same moment get
// one winner (the same compare-and-swap that publishes snapshots). A claim
// names its owner (the staging store that registered the writer); the newest
// claim's owner is the only one whose commits for the writer the table
// accepts (Table::NewCommit's fence), so a writer that moved to another
// sidecar is fenced on the one it left. See docs/table-format.md.
//
// Thread-safety: all methods may be called concurrently, also from several
// processes. Errors: DATA_LOSS for a damaged claim file, INTERNAL for I/O.
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

struct WriterClaim {
  std::string writer_id;
  int64_t incarnation = 0;
  std::string owner;  // opaque id of the claiming process's durable state
  int64_t time_ms = 0;
  // The checkpoint the registration that made the claim restored from, -1
  // for a fresh start; unknown (nullopt) in claims written before it was
  // recorded, or adopted from a store's own history. Every checkpoint of the
  // incarnation has a higher id.
  std::optional<int64_t> restored;
};

// The identity under which incarnation `incarnation` of `writer_id` records
// its checkpoints in the table: writer_id, then writer_id#1, #2, ...
std::string IncarnationIdentity(std::string_view writer_id, int64_t incarnation);
// The incarnation n when `identity` is IncarnationIdentity(writer_id, n).
std::optional<int64_t> IncarnationOf(std::string_view identity, std::string_view writer_id);

class WriterClaims {
 public:
  // `table_dir` is the table's directory; claims live in its writers/.
  WriterClaims(rocksdb::FileSystem* fs, std::string table_dir);

  // The newest claim of `writer_id`, nullopt when it was never claimed.
  absl::StatusOr<std::optional<WriterClaim>> Latest(std::string_view writer_id);

  // Whether checkpoint `checkpoint_id` of incarnation `incarnation`, which a
  // later claim superseded, was completed by the job and may still be
  // committed: every later claim's registration restored from it or a later
  // checkpoint (so the job kept it), and `latest` holds no commit of a later
  // incarnation (which the restored commit must precede). False when a later
  // claim does not record its restore point.
  absl::StatusOr<bool> CompletedBeforeSuperseded(std::string_view writer_id, int64_t incarnation,
                                                 int64_t checkpoint_id, const Snapshot& latest);

  // Claims exactly `incarnation` for `owner`, made by a registration that
  // restored `restored` (-1: a fresh start; nullopt: not known).
  // ALREADY_EXISTS when it is taken.
  absl::StatusOr<WriterClaim> Claim(std::string_view writer_id, int64_t incarnation,
                                    std::string_view owner,
                                    std::optional<int64_t> restored = std::nullopt);

  // Claims the next free incarnation for `owner` (`restored` as for Claim):
  // above every claimed one and above every incarnation of the writer that
  // `latest` records as committed (tables written before claims existed).
  // Retries when another process claims the same number first.
  absl::StatusOr<WriterClaim> ClaimNext(std::string_view writer_id, std::string_view owner,
                                        const Snapshot& latest,
                                        std::optional<int64_t> restored = std::nullopt);

 private:
  std::string WriterDir(std::string_view writer_id) const;
  // The claimed incarnations of `writer_id`, ascending.
  absl::StatusOr<std::vector<int64_t>> Incarnations(std::string_view writer_id);
  absl::StatusOr<WriterClaim> Read(std::string_view writer_id, int64_t incarnation);

  rocksdb::FileSystem* const fs_;
  const std::string dir_;  // <table>/writers
};

}  // namespace deltasidecar::table
