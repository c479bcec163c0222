// SidecarServer: the sidecar's behaviour, independent of gRPC. It stages
// writers' batches (checkpoint::StagingStore), seals them per checkpoint and
// commits sealed checkpoints exactly once to delta tables (table::Table).
// sidecar/write_service.h and sidecar/read_service.h speak the deltasidecar.v1
// messages over it; sidecar/grpc_service.cc adapts those to gRPC.
//
// The exactly-once protocol itself is checkpoint::CommitProtocol; this class
// adds validation of client bytes, the table cache, metrics, the event log
// and background maintenance around it.
//
// Thread-safety: every method may be called concurrently. Commits of
// different tables proceed in parallel.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "checkpoint/commit_protocol.h"
#include "checkpoint/staging_store.h"
#include "sidecar/checkpoint_preparer.h"
#include "sidecar/event_log.h"
#include "sidecar/metrics.h"
#include "sidecar/wire_rows.h"
#include "table/table.h"

namespace deltasidecar::sidecar {

struct SidecarOptions {
  std::string data_dir;    // staging RocksDB lives in <data_dir>/staging
  std::string table_root;  // tables, shared with deltactl --root
  table::TableOptions table_options;
  WireLimits wire_limits;
  uint64_t max_staged_bytes = 0;  // 0: no limit (the disk is the limit)
  uint64_t max_staged_bytes_per_writer = 0;  // 0: no quota per writer
  // Besides after each commit, every table under table_root gets a
  // maintenance run this often (0: only after commits).
  absl::Duration maintenance_interval = absl::Seconds(60);
  // How long a Commit naming another sidecar's sealed checkpoint waits for
  // that sidecar to prepare it in the table root before UNAVAILABLE.
  absl::Duration prepared_wait = absl::Seconds(10);
  // Threads that prepare sealed checkpoints in the background, and that one
  // commit uses to prepare its writers that are not prepared yet.
  int prepare_threads = 2;
  // Maintenance also removes prepared checkpoints that can no longer be
  // committed and unreferenced data files older than this (at most once per
  // maintenance interval per table; 0: never).
  absl::Duration orphan_age = absl::Hours(1);
  std::shared_ptr<SidecarMetrics> metrics;  // null: counted, not served
  std::shared_ptr<EventLog> events;         // null: text on stderr
};

using CommittableRef = checkpoint::Committable;
using TableCommitResult = checkpoint::TableCommitResult;
using checkpoint::ToCommittable;

class SidecarServer {
 public:
  // Opens the staging store in <data_dir>/staging (its messages go to the
  // event log as "staging_store" warnings) and catches it up with the tables.
  static absl::StatusOr<std::unique_ptr<SidecarServer>> Open(SidecarOptions options);
  ~SidecarServer();

  // `partition_by`: comma-separated partition columns, none when empty.
  absl::Status CreateTable(const std::string& table, const std::string& columns,
                           const std::string& primary_key, int buckets, bool if_not_exists,
                           const table::TableProperties& properties = {},
                           const std::string& partition_by = "");
  // The opened table (cached). NOT_FOUND when it does not exist.
  absl::StatusOr<std::shared_ptr<table::Table>> GetTable(const std::string& table);

  absl::StatusOr<checkpoint::Registration> RegisterWriter(const std::string& table,
                                                          const std::string& writer_id,
                                                          std::optional<int64_t> restored);
  // Decodes, validates and stages one packed batch, packed for schema
  // version `schema_id`; returns the rows staged. FAILED_PRECONDITION when
  // the table's schema is another version now (the writer must describe the
  // table and register again).
  absl::StatusOr<uint32_t> Write(const std::string& table, const std::string& writer_id,
                                 int64_t epoch, int64_t schema_id, std::string_view rows,
                                 uint32_t row_count);
  // Applies schema changes (Table::Alter; the texts as ParseSchemaChange reads them).
  absl::StatusOr<table::Table::AlterResult> AlterTable(const std::string& table,
                                                       const std::vector<std::string>& changes);
  // Drops the partitions the specs name (ParsePartitionSpec) in one
  // snapshot (Table::DropPartitions); returns its id.
  absl::StatusOr<int64_t> DropPartitions(const std::string& table,
                                         const std::vector<std::string>& specs);
  absl::StatusOr<CommittableRef> PrepareCommit(const std::string& table,
                                               const std::string& writer_id, int64_t epoch,
                                               int64_t checkpoint_id);
  // Commits each named writer's sealed checkpoints up to the one given, one
  // atomic snapshot per table, tables in order of first appearance.
  absl::StatusOr<std::vector<TableCommitResult>> Commit(const std::vector<CommittableRef>& committables);
  absl::Status Abort(const std::string& table, const std::string& writer_id, int64_t epoch,
                     int64_t checkpoint_id);

  // Writers whose sealed checkpoints wait for the background preparer.
  size_t PreparesPending() { return preparer_.Pending(); }

  // Stops background maintenance; in-flight calls finish first.
  void Shutdown();

  SidecarMetrics& metrics() { return *metrics_; }
  EventLog& events() { return *events_; }

 private:
  SidecarServer(SidecarOptions options, std::unique_ptr<checkpoint::StagingStore> store);
  // Returns `status` (an error of `method` for the writer at `epoch`), after
  // counting and logging it as "fenced" when that epoch is an older one.
  absl::Status Refused(std::string_view method, const checkpoint::WriterKey& key, int64_t epoch,
                       absl::Status status);
  // The preparer's work for one writer: Prepare, its metrics and its event.
  absl::Status PrepareInBackground(const std::string& table, const std::string& writer,
                                   PrepareCause cause);
  void ScheduleMaintenance(const std::string& table);
  void MaintenanceLoop();
  // Queues every table under table_root (the --maintenance-interval run).
  void ScheduleAllTables();
  void MaintainOne(const std::string& table, std::string_view reason);
  bool MaintenanceReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  bool Stopping();

  const SidecarOptions options_;
  const std::shared_ptr<SidecarMetrics> metrics_;
  const std::shared_ptr<EventLog> events_;
  std::unique_ptr<checkpoint::StagingStore> store_;

  checkpoint::CommitProtocol protocol_;
  CheckpointPreparer preparer_;

  absl::Mutex tables_mu_;
  std::map<std::string, std::shared_ptr<table::Table>> tables_ ABSL_GUARDED_BY(tables_mu_);

  absl::Mutex maintenance_mu_;
  // Tables waiting for a run, with why ("commit" or "interval").
  std::vector<std::pair<std::string, std::string_view>> maintenance_queue_
      ABSL_GUARDED_BY(maintenance_mu_);
  bool maintenance_running_ ABSL_GUARDED_BY(maintenance_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(maintenance_mu_) = false;
  // When each table's orphans were last swept (the maintenance thread's own).
  std::map<std::string, absl::Time> last_sweep_;
  std::thread maintenance_thread_;
};

}  // namespace deltasidecar::sidecar
