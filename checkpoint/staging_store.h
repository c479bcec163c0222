// StagingStore: RocksDB-backed staging of writers' record batches between
// Write and Commit, with the writer registry (epochs, seals, commits) in the
// same database so that data and the state describing it change atomically.
//
// Two RocksDB instances in the store's directory; <w> = table '\0' writer_id:
//   state (the directory itself; default column family, through the WAL)
//     r\0<w>                              registry record of a writer
//     s\0<w>\0<checkpoint:8>              seal record of checkpoint N
//     x\0<w>, u\0<w>                      marks: seals lost to a WAL salvage,
//                                         open batches lost to a crash
//   batches (subdirectory "batches"; never through a WAL)
//     one column family per writer and <base>, holding that writer's batches
//     staged under <base> (the id of the checkpoint sealed before them, -1
//     when none):
//     d\0<w>\0<base:8><seq:8>             one staged batch
// Stage puts the batch into its family's memtable only. Seal flushes that
// family (the SST file and the MANIFEST are synced) and then writes the seal
// record with a synced WAL, so everything a seal covers is durable before
// PrepareCommit answers. Committed, aborted and discarded checkpoints are
// removed by dropping their families: whole files, no compaction.
//
// A clean close flushes the open batches too, and writers go on after the
// restart. After a crash the open (unsealed) batches are gone: every writer
// that had staged batches since its last seal must register again (a
// restore) before it stages or seals; until then those calls fail with
// ABORTED. A writer idle since its last seal goes on. Sealed checkpoints are
// unaffected.
//
// Thread-safety: all methods may be called concurrently; calls for one writer
// are serialized internally.
//
// Errors: FAILED_PRECONDITION when the epoch is not the writer's current one
// ("fenced") or a call is out of order; NOT_FOUND for an unknown writer;
// DATA_LOSS when staged bytes fail their checksum or a sealed batch is
// missing; RESOURCE_EXHAUSTED when the disk is full (RocksDB NoSpace) or the
// store is over its byte limit; INTERNAL for other I/O errors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "rocksdb/env.h"

namespace deltasidecar::checkpoint {

struct WriterKey {
  std::string table;
  std::string writer_id;
};

// A sealed checkpoint: what PrepareCommit returns and Commit consumes.
struct SealedCheckpoint {
  int64_t checkpoint_id = 0;
  int64_t epoch = 0;      // epoch that sealed it
  uint64_t rows = 0;      // rows in its batches
  uint64_t batches = 0;
  uint64_t checksum = 0;  // XXH3-64 chained over its batch payloads in order
  std::string identity;   // the writer's table identity when it was sealed
};

struct Registration {
  int64_t epoch = 0;
  // Identity under which this writer's checkpoints are recorded in the table:
  // writer_id, or writer_id + "#" + incarnation after a rewind (see Register).
  std::string table_writer_id;
  int64_t incarnation = 0;
  // Sealed, not yet committed, at or below the restored checkpoint, in order.
  std::vector<SealedCheckpoint> pending;
  int64_t last_committed = -1;  // -1 when nothing was committed
  // The store was salvaged from a damaged WAL since this writer registered:
  // a checkpoint it sealed may be gone, so "not sealed" means DATA_LOSS.
  bool lost_data = false;
  // Register only: the store knew the writer before this registration.
  bool was_registered = false;
};

struct StagingOptions {
  std::string path;                 // directory of the RocksDB instance
  uint64_t max_bytes = 0;           // refuse Stage when live data exceeds this; 0 = no limit
  // Refuse a writer's Stage when its own staged batches (open and sealed, not
  // yet committed) would exceed this; 0 = no quota.
  uint64_t max_bytes_per_writer = 0;
  rocksdb::Env* env = nullptr;      // null = default; tests inject faults here
  // The memtables of all batch families together are kept under three times
  // this (the largest is flushed when over), which bounds most of the store's
  // memory; one family's memtable is an eighth of it (at least 4 MiB, at most
  // all of it), so a seal flushes at most that much. Tests lower it to
  // exercise flushes.
  uint64_t write_buffer_bytes = 64ull << 20;
  // Receives the store's messages for operators (a WAL salvaged at open;
  // RocksDB's warnings and errors), one line each without a newline, from
  // any thread, possibly concurrently. Null (the default): each is written
  // to stderr as "delta-sidecar: <message>".
  std::function<void(std::string_view message)> log;
};

class StagingStore {
 public:
  static absl::StatusOr<std::unique_ptr<StagingStore>> Open(const StagingOptions& options);
  ~StagingStore();  // flushes and closes RocksDB

  // Registers (or re-registers) a writer as incarnation `incarnation`, which
  // the caller claimed in the table (table/writer_claims.h): bumps its epoch,
  // fencing every older one. When `incarnation` is the one the store holds
  // for the writer, its history goes on: with `restored_checkpoint` R,
  // everything staged after R is dropped (the open batches and every seal
  // above R) and the sealed, uncommitted checkpoints <= R are reported; without
  // R (a fresh start) everything staged and uncommitted is dropped.
  // `table_last_committed` is the last checkpoint the table records for that
  // identity. A new incarnation starts with nothing staged and nothing
  // committed. FAILED_PRECONDITION when the history would go on although the
  // registration rewinds past a committed checkpoint (NeedsNewIncarnation).
  absl::StatusOr<Registration> Register(const WriterKey& writer,
                                        std::optional<int64_t> restored_checkpoint,
                                        int64_t table_last_committed, int64_t incarnation);

  // The writer's current registration state (NOT_FOUND if never registered).
  absl::StatusOr<Registration> Lookup(const WriterKey& writer);

  // FAILED_PRECONDITION unless `epoch` is the writer's current epoch.
  absl::Status CheckEpoch(const WriterKey& writer, int64_t epoch);

  // Stages one batch (the table's key/value entries, serialized by
  // AppendStagedEntry) as one write, in memory until Seal. Returns the batch's
  // sequence number. FAILED_PRECONDITION when fenced; ABORTED when the
  // writer's open batches were lost in a crash (it must restore and register
  // again).
  absl::StatusOr<uint64_t> Stage(const WriterKey& writer, int64_t epoch, std::string_view payload,
                                 uint32_t rows);

  // Seals everything staged since the last seal as checkpoint `checkpoint_id`
  // (greater than the last sealed one): flushes it and syncs the seal record. Sealing the same id
  // again with the same epoch returns the existing seal (a retried call).
  absl::StatusOr<SealedCheckpoint> Seal(const WriterKey& writer, int64_t epoch,
                                        int64_t checkpoint_id);

  // Sealed checkpoints above the last committed one and <= `up_to`, in order.
  absl::StatusOr<std::vector<SealedCheckpoint>> SealedUpTo(const WriterKey& writer, int64_t up_to);

  // Calls `fn` with each batch payload of sealed checkpoint `checkpoint_id`,
  // in staging order, after checking each batch's checksum and the seal's
  // chained checksum and counts (DATA_LOSS on any mismatch). `fn` runs with no
  // lock held and may call the store. ABORTED (retry) when the store had to
  // reopen RocksDB during the read, after a failed write.
  absl::Status ReadSealed(const WriterKey& writer, int64_t checkpoint_id,
                          const std::function<absl::Status(std::string_view payload)>& fn);

  // Records that every sealed checkpoint <= `up_to` is in the table and
  // deletes their data, atomically. Idempotent.
  absl::Status MarkCommitted(const WriterKey& writer, int64_t up_to);

  // Drops sealed checkpoint `checkpoint_id` (or, when it is above the last
  // seal, the open batches) of the writer. FAILED_PRECONDITION when fenced.
  absl::Status Abort(const WriterKey& writer, int64_t epoch, int64_t checkpoint_id);

  // A stable id of this store's durable state, created with it: a store
  // whose directory was emptied is another store. Writer claims name it.
  const std::string& id() const;

  // Every registered writer (for recovery after a restart).
  absl::StatusOr<std::vector<WriterKey>> Writers();

  // Bytes of live staged data (approximate, from RocksDB's estimates).
  uint64_t ApproximateBytes();

  // Figures for monitoring, summed over the store's two RocksDB instances.
  struct Stats {
    uint64_t sst_bytes = 0;        // live SST files
    uint64_t memtable_bytes = 0;   // all memtables (unsealed batches, mostly)
    uint64_t batch_families = 0;   // column families of staged batches
    uint64_t running_flushes = 0;
    uint64_t running_compactions = 0;
    uint64_t pending_compaction_bytes = 0;
    uint64_t delayed_write_rate = 0;  // bytes/s while writes are slowed, else 0
    bool writes_stopped = false;      // RocksDB stalls writes (too many memtables)
  };
  Stats GetStats();

 private:
  struct Impl;
  explicit StagingStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether a registration restoring `restored_checkpoint` (nullopt: a fresh
// start) must start a new incarnation, `committed` being the last checkpoint
// committed under the current one (-1: none): a stream processor that
// restores below it, or numbers afresh, would reuse committed ids.
bool NeedsNewIncarnation(std::optional<int64_t> restored_checkpoint, int64_t committed);

// An error's machine-readable reason travels as an absl::Status payload
// under this URL; the gRPC edge sends it as the trailing metadata entry
// `delta-sidecar-reason` (docs/protocol.md, "Error reasons").
inline constexpr std::string_view kReasonPayloadUrl = "type.deltasidecar/reason";
// ABORTED: the writer's unsealed batches were lost in a crash; restore.
inline constexpr std::string_view kReasonUnsealedLost = "unsealed-lost";

// Staged batch payload: the table entries of one RecordBatch, each as
// varint(key size) key varint(value size) value (table/row.h encodings).
void AppendStagedEntry(std::string_view key, std::string_view value, std::string* payload);
// Parses a payload back into entries; DATA_LOSS when malformed.
absl::Status ForEachStagedEntry(
    std::string_view payload,
    const std::function<absl::Status(std::string_view key, std::string_view value)>& fn);

}  // namespace deltasidecar::checkpoint
