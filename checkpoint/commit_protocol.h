// CommitProtocol: the exactly-once protocol between a staging store and the
// delta tables it commits to. It registers writers (choosing their
// incarnation through the table's claims), seals their checkpoints, commits
// sealed checkpoints exactly once, and after a restart catches the store up
// with what the tables hold.
//
// Exactly-once rests on two facts: a checkpoint is committed in the same
// atomic table snapshot as its identity (writer identity, checkpoint id),
// and the table, not the staging store, decides whether a checkpoint is
// committed. The store's "committed" marks only catch up with the table.
//
// Phases, in the order a writer meets them:
//   Register    epoch bump; the incarnation: the store's own when the table's
//               newest claim is this store's and the restore does not rewind
//               past a committed checkpoint, else a new one claimed in the
//               table (table/writer_claims.h), after committing the restored
//               checkpoint when another store prepared it; drops what the
//               restore does not cover.
//   Seal        refused when another store claimed the writer since (fenced),
//               else the store's durable seal.
//   Prepare     in the background after a seal (or inline, by a commit that
//               gets there first): the sealed checkpoints become table data
//               files and a prepared checkpoint naming them, in the table
//               directory that every sidecar shares (table/prepared_checkpoint.h).
//   CommitTable checks every committable against its seal, the table's
//               record or its prepared checkpoint, and publishes the prepared
//               checkpoints of all of them in one snapshot (metadata only),
//               whichever store staged them; then marks its own committed.
//   Recover     after a restart: every writer's committed marks catch up.
//
// Locking: a registration (which may drop staged data) and a commit (which
// reads it) of one writer never interleave: both hold the writer's stripe; a
// commit takes the stripes of its writers in index order. A commit prepares
// its writers (one contribution per writer) on helper threads that take no
// stripe: the commit's thread holds them all until the helpers are done.
// A background Prepare holds the stripe only to choose the next checkpoint
// and to publish it as prepared, not while it writes the files (the staging
// store pins the seal it reads), so a commit of the writer's earlier
// checkpoints does not wait for the next one's files; a commit that needs
// the checkpoint being written waits for those files instead of writing them
// again. No lock is held while waiting on another process; the table's own
// locks come after these.
//
// Thread-safety: every method may be called concurrently.
// Errors: the store's and the table's (see their headers); FAILED_PRECONDITION
// for an unregistered writer, a committable that does not match its seal or
// the table's record of its identity, a checkpoint that is not sealed, and a
// fenced writer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "checkpoint/staging_store.h"
#include "table/table.h"

namespace deltasidecar::checkpoint {

// A checkpoint of one writer, as handed to Commit.
struct Committable {
  std::string table;
  std::string writer_id;
  int64_t epoch = 0;
  int64_t checkpoint_id = 0;
  uint64_t rows = 0;
  uint64_t checksum = 0;
  // Identity in the table (empty: the writer's current one); see the proto.
  std::string identity;
};

// The committable of a writer's sealed checkpoint.
Committable ToCommittable(const std::string& table, const std::string& writer_id,
                          const SealedCheckpoint& sealed);

// A checkpoint prepared by another store that a commit waited for.
struct PreparedWait {
  std::string writer_id;
  int64_t checkpoint_id = 0;
  uint64_t rows = 0;
  absl::Duration waited;
};

// Where one table's commit spent its time, phase by phase.
struct CommitPhases {
  absl::Duration lock;         // waiting for the writers' stripes (a preparation holds one)
  absl::Duration plan;         // checking committables, waiting for other sidecars' files
  absl::Duration prepare;      // writing this store's not yet prepared checkpoints
  absl::Duration publish;      // checking the named files, publishing the snapshot
  absl::Duration bookkeeping;  // marking the staging store's checkpoints committed
};

struct TableCommitResult {
  std::string table;
  int64_t snapshot_id = 0;
  // True when nothing needed writing: every checkpoint was committed before.
  bool already_committed = false;
  // The remote checkpoints that were not prepared at the commit's first look.
  std::vector<PreparedWait> waits;
  CommitPhases phases;
};

// What one Prepare wrote to the table root.
struct PrepareResult {
  int64_t checkpoint_id = -1;  // the newest checkpoint it prepared; -1: none needed it
  int checkpoints = 0;         // sealed checkpoints written as table files
  uint64_t rows = 0;           // their rows
};

class CommitProtocol {
 public:
  // Opens (or returns the cached) table by name; NOT_FOUND when it does not exist.
  using TableSource =
      std::function<absl::StatusOr<std::shared_ptr<table::Table>>(const std::string& name)>;

  // `store` must outlive the protocol. A commit naming a checkpoint that
  // another store sealed waits up to `prepared_wait` for its prepared
  // checkpoint, then answers UNAVAILABLE. A commit prepares the writers of
  // this store that are not prepared yet on up to `prepare_threads` threads.
  CommitProtocol(StagingStore* store, TableSource tables,
                 absl::Duration prepared_wait = absl::Seconds(10), int prepare_threads = 2);

  absl::StatusOr<Registration> Register(const std::string& table, const std::string& writer_id,
                                        std::optional<int64_t> restored);
  absl::StatusOr<SealedCheckpoint> Seal(const std::string& table, const std::string& writer_id,
                                        int64_t epoch, int64_t checkpoint_id);
  // Drops sealed checkpoint `checkpoint_id` (or the open batches) as the
  // store's Abort does, and the prepared checkpoints that name it.
  absl::Status Abort(const std::string& table, const std::string& writer_id, int64_t epoch,
                     int64_t checkpoint_id);
  // Prepares the writer's sealed, uncommitted checkpoints that are not
  // prepared yet, in order, while this store's claim is the writer's newest
  // (a fenced writer has nothing to prepare: OK). What a background thread
  // runs after each seal.
  absl::StatusOr<PrepareResult> Prepare(const std::string& table, const std::string& writer_id);
  // Commits each named writer's sealed checkpoints up to the one given, in
  // one atomic snapshot of `table` (all committables name it). A writer may
  // be staged on this store or on any other sharing the table root.
  absl::StatusOr<TableCommitResult> CommitTable(const std::string& table,
                                                const std::vector<const Committable*>& refs);
  absl::Status Recover();

 private:
  struct Incarnation {
    int64_t incarnation = 0;
    int64_t table_last_committed = -1;  // under that incarnation's identity
  };
  // What one writer adds to a commit: its sealed checkpoints to write.
  struct Contribution {
    WriterKey key;
    Registration reg;
    // Checked against the committables, oldest first, the newest up_to.
    std::vector<SealedCheckpoint> sealed;
    int64_t up_to = 0;  // marked committed afterwards
  };
  struct CommitPlan {
    std::vector<Contribution> contributions;
    // Prepared by other stores (or by earlier incarnations of writers).
    std::vector<table::PreparedCheckpoint> remote;
    std::vector<PreparedWait> waits;
    int64_t already_at = -1;  // newest snapshot holding a committed one
  };

  // A checkpoint's files being written by a preparation that does not hold
  // the writer's stripe; a commit that needs them waits for these instead
  // of writing them again.
  struct FilesInFlight {
    absl::Notification written;
    absl::StatusOr<std::vector<table::DataFileMeta>> files;
  };
  // table, writer id, checkpoint id, checksum
  using FlightKey = std::tuple<std::string, std::string, int64_t, uint64_t>;
  // A writer's sealed, uncommitted checkpoints, oldest first, and its
  // registration; none when the writer is not registered here or is fenced.
  struct WriterSeals {
    Registration reg;
    std::vector<SealedCheckpoint> sealed;
  };

  absl::StatusOr<Incarnation> ChooseIncarnation(table::Table& table, const WriterKey& key,
                                                std::optional<int64_t> restored);
  // Marks committed in the store whatever the table already holds.
  absl::Status CatchUp(table::Table& table, const WriterKey& writer);
  // Checks one writer's committables against its seals and the table's
  // records; adds what must be written to `plan`.
  absl::Status PlanWriter(table::Table& table, const WriterKey& key,
                          const std::vector<const Committable*>& mine, CommitPlan* plan);
  // Checks the committables of one identity that this store does not hold
  // against the table and its prepared checkpoints, waiting a bounded time
  // for one to appear; adds it to `plan`.
  absl::Status PlanRemote(table::Table& table, const std::string& writer_id,
                          const std::string& identity, const std::vector<const Committable*>& refs,
                          CommitPlan* plan);
  // Under the writer's stripe (held by this thread or by the one waiting for
  // it), the store caught up with the table: prepares `sealed` (the writer's
  // uncommitted seals, oldest first) as registered in `reg`; returns the
  // prepared checkpoint of the newest (nullopt: `sealed` is empty) and adds
  // what it wrote to `wrote`.
  absl::StatusOr<std::optional<table::PreparedCheckpoint>> PrepareLocked(
      table::Table& table, const WriterKey& key, const Registration& reg,
      const std::vector<SealedCheckpoint>& sealed, PrepareResult* wrote);
  // Prepares the contributions of a commit, up to prepare_threads_ at once
  // (under the stripes the commit holds), in plan order.
  absl::StatusOr<std::vector<table::PreparedCheckpoint>> PrepareContributions(
      table::Table& table, const std::vector<Contribution>& contributions);
  // Under the writer's stripe: see WriterSeals.
  absl::StatusOr<WriterSeals> UncommittedSeals(table::Table& table, const WriterKey& key);
  // Registers the files of `s` as being written (nullptr: they already are).
  std::shared_ptr<FilesInFlight> StartFlight(const WriterKey& key, const SealedCheckpoint& s);
  void EndFlight(const WriterKey& key, const SealedCheckpoint& s);
  // The data files of `s`: those a preparation in flight writes, else
  // written here.
  absl::StatusOr<std::vector<table::DataFileMeta>> FilesOf(table::Table& table, const WriterKey& key,
                                                           const SealedCheckpoint& s);
  // Writes one sealed checkpoint's rows as data files of `table`.
  absl::StatusOr<std::vector<table::DataFileMeta>> WriteSealedFiles(table::Table& table,
                                                                    const WriterKey& key,
                                                                    int64_t checkpoint_id);
  // Register's step before a new incarnation: the restored checkpoint, when
  // the writer's newest claim (another store's) sealed it and it is not
  // committed, must stay committable by the restored committables' Commit:
  // waits up to the prepared wait for its preparation (UNAVAILABLE after).
  // A claim that does not record its restore point cannot show that, so
  // then the checkpoint is committed here if it is prepared.
  absl::Status KeepRestored(table::Table& table, const table::WriterClaim& claim,
                            int64_t restored);

  size_t StripeOf(const std::string& table, const std::string& writer_id) const;

  StagingStore* const store_;
  const TableSource tables_;
  const absl::Duration prepared_wait_;
  const int prepare_threads_;
  static constexpr size_t kWriterStripes = 64;
  absl::Mutex writer_stripes_[kWriterStripes];
  absl::Mutex flights_mu_;
  std::map<FlightKey, std::shared_ptr<FilesInFlight>> flights_ ABSL_GUARDED_BY(flights_mu_);
};

}  // namespace deltasidecar::checkpoint
