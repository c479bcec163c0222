// Table: a primary-key delta table stored under <root>/<name>/.
//
//   table.json          schema and options (checksummed, written once)
//   snapshots/          snapshot-<20-digit id>, one immutable file per commit
//   data/               <bucket>-<random id>.sst data files
//
// Commits are atomic and snapshot-isolated across processes: a commit writes its
// data files, then publishes snapshot <latest+1> with link(2), which fails if
// another committer got there first; the loser re-reads the latest snapshot and
// tries again without rewriting data. Data files, the snapshot file and both
// directories are fsynced before Commit returns. See docs/table-format.md.
//
// Thread-safety: all methods may be called concurrently; commits from one
// process are serialized, commits from different processes race safely.
//
// Errors: NOT_FOUND (no such table or snapshot), INVALID_ARGUMENT (bad input),
// DATA_LOSS (a checksum failed or a referenced file is missing: never served),
// ABORTED (lost a conflict too many times, or a compaction's inputs changed;
// retrying is safe), RESOURCE_EXHAUSTED (disk full), INTERNAL (other I/O).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/file_system.h"
#include "table/compaction_lease.h"
#include "table/compaction_policy.h"
#include "table/consumer_positions.h"
#include "table/data_file.h"
#include "table/mutation_batch.h"
#include "table/prepared_checkpoint.h"
#include "table/schema.h"
#include "table/schema_change.h"
#include "table/schema_projection.h"
#include "table/snapshot.h"
#include "table/manifest.h"
#include "table/table_properties.h"
#include "table/writer_claims.h"

namespace deltasidecar::table {

struct RetentionOptions {
  // Automatic expiry keeps at least this many snapshots...
  int min_snapshots = 10;
  // ...and every snapshot younger than this...
  absl::Duration max_age = absl::Hours(1);
  // ...but never more than this many. On top of these, every snapshot at or
  // above a consumer's position is kept (consumer_positions.h)...
  int max_snapshots = 2000;
  // ...while that consumer's position was written within this long.
  absl::Duration consumer_max_age = absl::Hours(24);
};

struct TableOptions {
  // Every file goes through this file system; null means the local one.
  std::shared_ptr<rocksdb::FileSystem> fs;
  DataFileOptions data_files;
  CompactionOptions compaction;
  RetentionOptions retention;
  // Threads that write a commit's bucket files; 0 means one per core.
  int commit_threads = 0;
  // CPU niceness (0-19) of the threads that merge files in a compaction:
  // above 0 they take the cores that commits and ingest leave idle. The
  // compaction's publish runs at its caller's priority.
  int compaction_nice = 0;
  // Who this process is to the compaction lease (compaction_lease.h): a
  // stable id (a sidecar's staging store) lets it take back, after a crash,
  // the lease it held; empty: a new random id each time.
  std::string compaction_lease_holder;
  // Attempts to publish a snapshot before giving up with ABORTED.
  int max_commit_attempts = 1000;
  // Memory a CommitWriter buffers before it writes what it holds as one
  // sorted file per bucket (bytes of keys and values plus 44 bytes per entry).
  uint64_t commit_memory_bytes = 128ull << 20;
  // Maintenance drops a partition whose time (partition.h PartitionTime) is
  // older than this (table property partition.expiration-time); infinite:
  // never.
  absl::Duration partition_expiration = absl::InfiniteDuration();
};

struct CommitResult {
  int64_t snapshot_id = 0;
  // True when every identity was already committed; nothing was written.
  bool already_committed = false;
};

// What an orphan sweep (Table::SweepOrphans) removed.
struct OrphanSweepResult {
  int data_files_removed = 0;  // leftovers of failed commits and abandoned preparations
  int prepared_removed = 0;    // prepared checkpoints committed, or abandoned
  int manifests_removed = 0;   // of snapshots never published, or expired before a crash
};

struct ExpireResult {
  int snapshots_removed = 0;
  int files_removed = 0;
  int orphans_removed = 0;  // leftovers of failed commits
  int prepared_removed = 0;  // prepared checkpoints that can no longer be committed
  int64_t earliest_snapshot = 0;
};

// Which data files a filtered read opens: those of `bucket` (every bucket
// when unset) whose key range overlaps [lower, upper) (no upper bound when
// nullopt). A read with bounds may still return rows outside them: the caller
// filters rows.
struct ReadBounds {
  std::string lower;
  std::optional<std::string> upper;
  std::optional<int> bucket;

  // False when no key of `file` can be in the bounds.
  bool MayContain(const DataFileMeta& file) const;
  // True when `key` is in [lower, upper) (the bucket is not checked).
  bool Contains(std::string_view key) const {
    return key >= std::string_view(lower) && (!upper || key < std::string_view(*upper));
  }
};

// What a read did with the data files it considered. Filled while the read
// sets itself up (and, for a parallel Arrow scan, as workers reach each
// bucket); safe to read from any thread.
struct ReadStats {
  std::atomic<int64_t> files_opened{0};
  std::atomic<int64_t> files_skipped{0};
};

// Progress of a long table operation, for a caller that shows it: `done` of
// `total` units (what a unit is, each operation says) holding `bytes`.
struct WorkProgress {
  int64_t done = 0;
  int64_t total = 0;
  uint64_t bytes = 0;
};
// Called after each unit; calls never overlap but may come from different
// threads. It must not call back into the table.
using ProgressHook = std::function<void(const WorkProgress&)>;

// An ordered stream of live rows (encoded key and value) of one snapshot.
class TableIterator {
 public:
  virtual ~TableIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Non-OK (DATA_LOSS on corruption) when iteration stopped early.
  virtual absl::Status status() const = 0;
};

class CommitWriter;

// Who may commit for a set of writers: a commit with a fence publishes only
// while, for every writer named, the newest claim (writer_claims.h) is
// `owner`'s or there is none. Checked on every attempt to publish, so a
// commit never lands after another process took a writer over.
struct CommitFence {
  std::string owner;
  std::vector<std::string> writer_ids;
};

class Table {
 public:
  // Creates the table directory atomically. ALREADY_EXISTS when it exists;
  // INVALID_ARGUMENT for a bad name (letters, digits, '_', '-', '.'; 1-128 chars).
  // `properties` (table_properties.h) are stored with the table; INVALID_ARGUMENT
  // for an unknown key or a bad value.
  static absl::Status Create(const std::string& root, const std::string& name,
                             const TableSchema& schema, const TableOptions& options = {},
                             const TableProperties& properties = {});
  // NOT_FOUND when there is no such table. The table's stored properties
  // override the matching fields of `options`.
  static absl::StatusOr<std::unique_ptr<Table>> Open(const std::string& root,
                                                     const std::string& name,
                                                     const TableOptions& options = {});
  // Names of the tables under `root`, sorted.
  static absl::StatusOr<std::vector<std::string>> List(const std::string& root,
                                                       const TableOptions& options = {});

  ~Table();

  // The schema the table was created with (version 0). Its key columns'
  // types and the bucket count never change; for column names and value
  // columns, read a snapshot under SchemaOf(snapshot).
  const TableSchema& schema() const { return schema_; }

  // Schema evolution (schema_change.h). The version of the schema that
  // `snapshot` is read under: every value a read of it hands out is encoded
  // under this version, whichever version it was written under.
  absl::StatusOr<std::shared_ptr<const TableSchema>> SchemaOf(const Snapshot& snapshot);
  // The same for snapshot `id`: also the version NewChanges(from, id) hands
  // out every change under. NOT_FOUND when the snapshot has expired.
  absl::StatusOr<std::shared_ptr<const TableSchema>> SchemaOfSnapshot(int64_t id);
  // Version `id` (0: table.json's). DATA_LOSS when its file is missing or damaged.
  absl::StatusOr<std::shared_ptr<const TableSchema>> SchemaVersion(int64_t id);
  // The latest snapshot's version: what new rows are written under.
  absl::StatusOr<std::shared_ptr<const TableSchema>> CurrentSchema();
  // What made version `id` from its parent ("" for version 0).
  absl::StatusOr<std::string> SchemaChangesOf(int64_t id);

  struct AlterResult {
    int64_t snapshot_id = 0;
    std::shared_ptr<const TableSchema> schema;
  };
  // Applies `changes` (in order) to the current schema as one ALTER
  // snapshot, which records the new version; no data is rewritten. The new
  // version's file is created with link(2), like a snapshot. INVALID_ARGUMENT
  // when a change cannot apply (ApplySchemaChanges); ABORTED when another
  // ALTER got in first (retrying is safe).
  absl::StatusOr<AlterResult> Alter(const std::vector<SchemaChange>& changes);
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  // The properties stored with the table (empty when it has none).
  const TableProperties& properties() const { return properties_; }
  // The options in effect: those it was opened with, overridden by its properties.
  const TableOptions& options() const { return options_; }

  // Commits `batch` (later entries of a key win) as one new snapshot recording
  // `identities`. When every identity is already in the table, nothing is
  // written and the result says so; when some are and some are not,
  // FAILED_PRECONDITION. An empty batch with identities records them only.
  absl::StatusOr<CommitResult> Commit(const MutationBatch& batch,
                                      const std::vector<CommitIdentity>& identities = {});

  // Starts a commit whose entries are streamed in (see CommitWriter).
  // INVALID_ARGUMENT for a malformed writer id. Unlike Commit it does not look
  // for the identities before data is written: a caller that may retry checks
  // FindCommit first.
  // With a fence, FAILED_PRECONDITION ("fenced") when another owner claimed
  // one of its writers before the snapshot was published.
  absl::StatusOr<std::unique_ptr<CommitWriter>> NewCommit(
      std::vector<CommitIdentity> identities, std::optional<CommitFence> fence = std::nullopt);

  // The snapshot that committed `identity` (or a later one of the same writer
  // when that one has expired), or nullopt when it is not committed. When
  // `identity` carries a digest and the committing snapshot recorded another
  // one, the identity was committed with different rows: FAILED_PRECONDITION
  // naming both.
  absl::StatusOr<std::optional<int64_t>> FindCommit(const CommitIdentity& identity);

  // FAILED_PRECONDITION unless `fence` holds now (see CommitFence).
  absl::Status CheckFence(const CommitFence& fence);

  // The writers' incarnation claims kept with this table.
  WriterClaims& claims() { return claims_; }
  // Sealed checkpoints written as data files ahead of their commit.
  PreparedCheckpoints& prepared() { return prepared_; }
  // The named readers' positions, which hold snapshot expiry.
  ConsumerPositions& consumers() { return consumers_; }

  // Commits prepared checkpoints (each with every earlier part) in one
  // snapshot: the parts whose identity the table does not hold yet, data
  // files already written, so only metadata is written here. Before any
  // snapshot is published every file named is checked against its recorded
  // size and XXH3-64 (DATA_LOSS when one is missing or damaged), and on every
  // attempt each one's claim must still be its writer's newest
  // (FAILED_PRECONDITION "fenced" otherwise). When every part is committed
  // already, nothing is written and the result says so.
  absl::StatusOr<CommitResult> CommitPrepared(const std::vector<PreparedCheckpoint>& prepared);
  // OK while `p`'s claim (owner and incarnation) is its writer's newest, or
  // while `p`'s checkpoint, superseded by later claims, may still be
  // committed (WriterClaims::CompletedBeforeSuperseded against `latest`);
  // FAILED_PRECONDITION "fenced" otherwise.
  absl::Status CheckPreparedClaim(const PreparedCheckpoint& p, const Snapshot& latest);

  absl::StatusOr<std::shared_ptr<const Snapshot>> LatestSnapshot();
  absl::StatusOr<std::shared_ptr<const Snapshot>> SnapshotById(int64_t id);
  // The newest snapshot committed at or before `time`; NOT_FOUND when none is retained.
  absl::StatusOr<std::shared_ptr<const Snapshot>> SnapshotAsOf(absl::Time time);
  // Every retained snapshot, oldest first.
  absl::StatusOr<std::vector<std::shared_ptr<const Snapshot>>> History();

  // Live rows of `snapshot` ordered by primary key, merged on read, opening
  // only the files `bounds` may match (all by default; a partition's bounds
  // open its files only, partition.h). Rows outside `bounds` may still be
  // returned: the caller filters. `stats`, when given, counts the files
  // opened and skipped.
  absl::StatusOr<std::unique_ptr<TableIterator>> NewScan(const Snapshot& snapshot,
                                                         const ReadBounds& bounds = {},
                                                         ReadStats* stats = nullptr);
  // Live rows of one bucket of `snapshot`, ordered by primary key, opening
  // only the files whose key range overlaps [lower, upper) (no upper bound when
  // nullopt). Rows outside the range may still be returned: the caller filters.
  // `stats`, when given, counts the files opened and skipped.
  absl::StatusOr<std::unique_ptr<TableIterator>> NewBucketScan(
      const Snapshot& snapshot, int bucket, std::string_view lower,
      const std::optional<std::string>& upper, ReadStats* stats = nullptr);
  // The encoded upsert value stored for `key` in `snapshot`, or nullopt.
  absl::StatusOr<std::optional<std::string>> Get(const Snapshot& snapshot, std::string_view key);
  // What changed from snapshot `from` (exclusive) to `to` (inclusive): the
  // latest entry per key among rows committed in between, deletes included,
  // ordered by key. INVALID_ARGUMENT when from > to; NOT_FOUND when a snapshot
  // in between has expired. A partition dropped in between (DROP_PARTITION)
  // gives a delete of every key its files held, unless a later commit wrote
  // the key again. Only the files that APPEND snapshots in (from, to] added
  // (and the files that drops removed) are opened, and of those only the ones `bounds` may
  // match; rows outside `bounds` may still be returned (the caller filters).
  // `stats`, when given, counts the files opened and skipped.
  absl::StatusOr<std::unique_ptr<TableIterator>> NewChanges(int64_t from, int64_t to,
                                                           const ReadBounds& bounds = {},
                                                           ReadStats* stats = nullptr);

  // Partitions (partition.h). What one partition of a snapshot holds: its
  // files (a multi-bucket file once) and their entries, deletes and bytes,
  // as recorded (before merging, so a key written twice counts twice).
  struct PartitionInfo {
    std::string partition;  // encoded
    uint64_t files = 0;
    uint64_t entries = 0;
    uint64_t deletes = 0;
    uint64_t bytes = 0;
  };
  // The partitions `snapshot` has files of, in key order. Empty when the
  // table is not partitioned.
  static std::vector<PartitionInfo> Partitions(const Snapshot& snapshot);
  // Drops `partitions` (encoded, ParsePartitionSpec) in one DROP_PARTITION
  // snapshot: every file of them leaves the table, nothing else changes, and
  // no data file is written. Partitions without files are passed over;
  // NOT_FOUND when none of them has any. INVALID_ARGUMENT when the table is
  // not partitioned. Rows committed afterwards make a partition again.
  absl::StatusOr<int64_t> DropPartitions(const std::vector<std::string>& partitions);
  // Drops, in one snapshot, the partitions whose time is before `now - age`;
  // returns how many (0, and no snapshot, when none is). Nothing when the
  // table has no time-valued partition column.
  absl::StatusOr<int> ExpirePartitions(absl::Duration age, absl::Time now);

  // Compacts buckets the policy picks, or every bucket with 2+ files (and any
  // single file that still holds deletes or is a multi-bucket file's
  // section) when `full`, leaving each bucket one file of its own. Returns the new snapshot
  // id, or nullopt when there was nothing to do. `progress` is called after
  // each bucket is merged (units: buckets; bytes: input bytes merged).
  absl::StatusOr<std::optional<int64_t>> Compact(bool full = false,
                                                 const ProgressHook& progress = {});
  // The advisory lease on this table's automatic compaction
  // (compaction_lease.h) for `ttl`, as TableOptions::compaction_lease_holder;
  // nullopt while another holder's lease is live. Compact itself does not
  // look at it.
  absl::StatusOr<std::optional<CompactionLease>> TryTakeCompactionLease(absl::Duration ttl);
  // Removes snapshots older than the newest `keep` ones and the files only they
  // used, but none at or above the position of a live consumer
  // (OldestHeldSnapshot with TableOptions::retention.consumer_max_age). Also
  // sweeps orphans (SweepOrphans) older than `orphan_age`, unless it is
  // infinite.
  absl::StatusOr<ExpireResult> Expire(int keep,
                                      absl::Duration orphan_age = absl::InfiniteDuration());
  // Removes prepared checkpoints that are committed, or that no commit can
  // take any more (their writer claimed a new incarnation since) and are
  // older than `min_age`; then data files that neither a retained snapshot
  // nor a remaining prepared checkpoint names and that are older than
  // `min_age` (left by commits that failed or crashed before publishing, by
  // preparations that lost a race or were abandoned; younger ones may belong
  // to a commit or preparation in flight). Safe beside commits, also of
  // other processes: the publish lock is not needed.
  absl::StatusOr<OrphanSweepResult> SweepOrphans(absl::Duration min_age);
  // What a committer runs after a commit: policy compaction and retention
  // expiry in steps (MaintainTable, table_maintenance.h), run to the end.
  absl::Status RunMaintenance();

  // Where the retention policy (TableOptions::retention) draws its line now:
  // the oldest retained snapshot, the first snapshot younger than max_age
  // (one past `latest` when none is), and the oldest snapshot a live
  // consumer holds (none when no consumer does).
  struct RetentionPoint {
    int64_t earliest = 0;
    int64_t first_young = 0;
    std::optional<int64_t> held = std::nullopt;
  };
  absl::StatusOr<RetentionPoint> FindRetentionPoint(int64_t latest);
  // How many snapshots, the newest being `latest`, the policy keeps (the
  // consumers' hold included).
  int64_t RetainedCount(const RetentionPoint& point, int64_t latest) const;
  // Checks table.json, every retained snapshot and every file they reference.
  // Returns the problems found (empty when all is well). `progress` is called
  // after each data file is checked (units: files; bytes: bytes read).
  absl::StatusOr<std::vector<std::string>> Verify(const ProgressHook& progress = {});

 private:
  friend class CommitWriter;
  Table(std::string root, std::string name, TableSchema schema, const TableOptions& options,
        TableProperties properties, std::shared_ptr<Storage> storage);

  std::string SnapshotPath(int64_t id) const;
  absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(int64_t id);
  // Finds the newest published snapshot id (lists once, then probes forward).
  absl::StatusOr<int64_t> LatestId();
  absl::StatusOr<int64_t> EarliestId();
  // Opens a data file of snapshot `snapshot_id` for a read. A file that is
  // gone because expiry removed the snapshot during the read is NOT_FOUND
  // (that history is gone), not DATA_LOSS (damage).
  absl::StatusOr<std::unique_ptr<rocksdb::Iterator>> OpenForRead(int64_t snapshot_id,
                                                                 const DataFileMeta& file);
  // Opens `file` of snapshot `snapshot_id` as a merge child of `rank`,
  // unless `bounds` rule it out; counts it in `stats` (when given) as
  // opened or skipped. With `as_deletes`, each of its entries reads as a
  // delete of its key (the files a partition drop removed).
  absl::Status AddReadChild(int64_t snapshot_id, const DataFileMeta& file, int64_t rank,
                            const ReadBounds& bounds, ReadStats* stats, bool as_deletes,
                            std::vector<MergingIterator::Child>* children);
  // Publishes `next` as snapshot id next.id, with the manifest of what it
  // changed; ALREADY_EXISTS when another committer won.
  absl::Status Publish(const Snapshot& next);
  // Manifests (table_manifests.cc).
  std::string ManifestPath(std::string_view name) const;
  absl::StatusOr<std::shared_ptr<const Manifest>> LoadManifest(const std::string& name);
  // Fills a format 2 snapshot's buckets from its manifests.
  absl::Status ResolveFiles(Snapshot& snapshot, std::string_view what);
  absl::StatusOr<ManifestRef> WriteManifest(const Manifest& manifest);
  // Sets next.manifests: the parent's plus one of what `next` changed, or a
  // base manifest of all its files when the parent's list is full (or of
  // format 1). Returns the name of the manifest it wrote, if any.
  absl::StatusOr<std::optional<std::string>> PlanManifests(Snapshot& next);
  // Removes the manifests `expired` names and `kept` (its successor) does
  // not; returns how many.
  int RemoveManifests(const Snapshot& expired, const Snapshot& kept);
  // The names in manifests/ (none while the table has no such directory).
  absl::StatusOr<std::vector<std::string>> ListManifests();
  // Writes `batch` as data files: of each partition apart when the table is
  // partitioned (partition.h).
  absl::StatusOr<std::vector<DataFileMeta>> WriteBucketFiles(const MutationBatch& batch);
  // Writes the entries `entries` (ascending indexes; all when null) of
  // `batch`, all of `partition`, as files recording that partition.
  absl::StatusOr<std::vector<DataFileMeta>> WritePartitionFiles(const MutationBatch& batch,
                                                                const std::vector<uint32_t>* entries,
                                                                std::string_view partition);
  // The already-committed answer when every identity is in `latest`, nullopt
  // when none is, FAILED_PRECONDITION when some are.
  absl::StatusOr<std::optional<CommitResult>> CheckIdentities(
      const Snapshot& latest, const std::vector<CommitIdentity>& identities);
  // Publishes an append snapshot of `files` (oldest first within a bucket)
  // recording `identities` (already validated). Takes ownership of the files: on any failure that
  // did not publish them, and when the identities turn out to be committed
  // already, they are removed.
  absl::StatusOr<CommitResult> PublishAppend(std::vector<DataFileMeta> files,
                                             const std::vector<CommitIdentity>& identities,
                                             const std::optional<CommitFence>& fence);
  // The one commit loop; every kind of snapshot goes through it. Under the
  // commit lock, `next` starts as the latest snapshot advanced by one id
  // (parent, time, `kind`; no identities, counts or removals) and `build`
  // fills it in from `latest`, answering true to publish it and false to end
  // without a snapshot (nothing left to do, or committed already). A
  // publication lost to another committer is tried again from the new latest
  // snapshot, at most TableOptions::max_commit_attempts times (then ABORTED,
  // naming `what`). The data files in `written` belong to the loop: removed
  // whenever it ends without publishing them, kept after a publish error
  // (the link may have happened). Returns the published id, or nullopt when
  // `build` declined.
  absl::StatusOr<std::optional<int64_t>> TryCommit(
      SnapshotKind kind, std::string_view what, const std::vector<std::string>& written,
      const std::function<absl::StatusOr<bool>(const Snapshot& latest, Snapshot& next)>& build);
  // Merges the run `pick` chooses in each bucket (each partition's files
  // apart). With `share_files`, the outputs of small runs (fewer than
  // kOwnFileMinEntries entries) go into multi-bucket files, the buckets of
  // one partition together; else every output is a file of its own.
  absl::StatusOr<std::optional<int64_t>> CompactBuckets(
      const std::function<std::optional<CompactionPick>(BucketFiles::Files)>& pick,
      bool share_files, const ProgressHook& progress);
  // The oldest snapshot a live consumer holds, nullopt when none does.
  absl::StatusOr<std::optional<int64_t>> ConsumerHold();
  // Adds the data files and manifests of snapshots [from, to] to
  // `referenced` (expired ones are skipped).
  absl::Status AddReferenced(int64_t from, int64_t to, absl::flat_hash_set<std::string>* referenced);
  // Removes prepared checkpoints that are committed, or abandoned and older
  // than `cutoff`; adds the data files of the others to `referenced`.
  // Returns how many it removed.
  absl::StatusOr<int> SweepPrepared(const Snapshot& latest, absl::Time cutoff,
                                    absl::flat_hash_set<std::string>* referenced);
  // Removes data files (missing ones are fine); returns how many it removed.
  int RemoveDataFiles(const std::vector<std::string>& names);
  // Loads schema version `id` >= 1 from schemas/ (table_schemas.cc).
  absl::StatusOr<SchemaFile> LoadSchemaFile(int64_t id);
  // Hands out the values of a read of `snapshot` under its schema version;
  // null when no value can need projecting (version 0).
  absl::StatusOr<std::unique_ptr<ValueReader>> ReaderFor(const Snapshot& snapshot);

  const std::string root_;
  const std::string name_;
  const std::string dir_;
  const TableSchema schema_;
  const std::shared_ptr<const TableSchema> base_schema_;  // schema_, as version 0
  const TableOptions options_;
  const TableProperties properties_;
  std::shared_ptr<Storage> storage_;
  std::unique_ptr<DataFiles> data_files_;
  WriterClaims claims_;
  PreparedCheckpoints prepared_;
  ConsumerPositions consumers_;

  absl::Mutex compact_mu_;  // one compaction at a time; taken before commit_mu_
  absl::Mutex commit_mu_;   // serializes this handle's snapshot publications
  absl::Mutex mu_;
  int64_t latest_hint_ ABSL_GUARDED_BY(mu_) = -1;
  // Recently used snapshots by id (bounded).
  std::map<int64_t, std::shared_ptr<const Snapshot>> cache_ ABSL_GUARDED_BY(mu_);
  // Schema versions read so far (they never change; a table has few).
  std::map<int64_t, std::shared_ptr<const SchemaFile>> schema_files_ ABSL_GUARDED_BY(mu_);
  // Parsed manifests by name (bounded; manifests never change).
  std::map<std::string, std::shared_ptr<const Manifest>> manifest_cache_ ABSL_GUARDED_BY(mu_);
};

// One commit's entries, streamed in the order they were written: a later entry
// of a key wins over an earlier one. At most TableOptions::commit_memory_bytes
// are buffered; when the buffer is full its entries are sorted and written as
// one data file per bucket, and later entries go to newer files, so memory
// follows the budget, not the checkpoint. Nothing is visible before Finish
// publishes the snapshot; a writer destroyed without a successful Finish
// removes the files it wrote. Not thread-safe; the table must outlive it.
class CommitWriter {
 public:
  ~CommitWriter();
  CommitWriter(const CommitWriter&) = delete;
  CommitWriter& operator=(const CommitWriter&) = delete;

  // Buffers one entry (an encoded key and an encoded value, row.h). Errors are
  // those of writing data files; the writer is then unusable.
  absl::Status Add(std::string_view key, std::string_view value);
  // Writes what is buffered and publishes one snapshot, as Table::Commit does.
  absl::StatusOr<CommitResult> Finish();
  // Writes what is buffered and syncs the data directory without publishing:
  // the files (oldest first within a bucket) are the caller's from here on,
  // for a prepared checkpoint to name.
  absl::StatusOr<std::vector<DataFileMeta>> FinishFiles();

  uint64_t entries() const { return entries_; }
  // Files written so far (a commit of many entries writes several per bucket).
  size_t files_written() const { return files_.size(); }

 private:
  friend class Table;
  CommitWriter(Table* table, std::vector<CommitIdentity> identities,
               std::optional<CommitFence> fence);
  absl::Status Spill();

  Table* const table_;
  const std::vector<CommitIdentity> identities_;
  const std::optional<CommitFence> fence_;
  MutationBatch buffer_;
  std::vector<DataFileMeta> files_;
  uint64_t entries_ = 0;
  bool finished_ = false;
};

// OK for a valid table name (1-128 letters, digits, '_', '-' or '.', not
// starting with '.'), else INVALID_ARGUMENT saying so.
absl::Status ValidateTableName(const std::string& name);

// The time a snapshot was committed.
inline absl::Time SnapshotTime(const Snapshot& s) { return absl::FromUnixMillis(s.time_ms); }

}  // namespace deltasidecar::table
