// SidecarMetrics: the sidecar's Prometheus metrics (prometheus-cpp), all
// named delta_sidecar_*, with the unit in the name. docs/operations.md
// ("Observe") lists them; deploy/grafana/ charts them.
//
// The registry is plain prometheus-cpp: main.cc serves it over HTTP with an
// Exposer when --metrics-listen is set. Without it the counters still count
// (a few atomic adds per call), nobody reads them.
//
// Cost on the data path: per Write batch one lookup of the writer's series
// under a mutex, then atomic adds. Series per table and per writer are
// created on first use and live as long as the process (writers are never
// deleted from the staging store; a restarted sidecar starts from zero, as
// Prometheus counters do).
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "checkpoint/staging_store.h"
#include "table/table_maintenance.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace deltasidecar::sidecar {

using table::MaintenanceReport;

class SidecarMetrics {
 public:
  SidecarMetrics();
  SidecarMetrics(const SidecarMetrics&) = delete;
  SidecarMetrics& operator=(const SidecarMetrics&) = delete;

  // What an Exposer serves (main.cc): every family below plus the gauges
  // read when scraped.
  std::shared_ptr<prometheus::Collectable> collectable() const;
  // Where the delta_sidecar_staging_* gauges come from (read at each scrape;
  // they are absent until this is set).
  void SetStagingSource(std::function<checkpoint::StagingStore::Stats()> source);

  // A batch of `rows` rows in `wire_bytes` packed bytes was staged as
  // `staged_bytes` bytes for the writer.
  void RowsStaged(const std::string& table, const std::string& writer, uint64_t rows,
                  uint64_t wire_bytes, uint64_t staged_bytes);
  void WriterRegistered(const std::string& table, const std::string& writer, int64_t epoch,
                        int64_t last_committed);
  void Sealed(const std::string& table, const std::string& writer, int64_t checkpoint_id,
              absl::Duration took);
  // One table's part of a Commit call: outcome "ok", "already_committed" or
  // the error code's name in lower case ("failed_precondition").
  void TableCommitted(std::string_view outcome, absl::Duration took);
  // A table's part of a Commit call failed with `code` (outcome: its name in lower case).
  void TableCommitFailed(absl::StatusCode code, absl::Duration took);
  void WriterCommitted(const std::string& table, const std::string& writer, int64_t checkpoint_id);
  // A call refused because its epoch is older than the writer's ("fenced").
  void Fenced(std::string_view method);
  // One finished RPC (every method, OK included), by its short method name
  // ("Write", "Commit") and gRPC code name ("OK", "FAILED_PRECONDITION").
  void RpcFinished(std::string_view method, std::string_view code);
  // `reason`: "commit" (after a commit) or "interval" (--maintenance-interval).
  void MaintenanceRan(const std::string& table, std::string_view reason,
                      const MaintenanceReport& report, absl::Duration took);
  void MaintenanceFailed(const std::string& table);
  // Tables queued for maintenance plus the one being maintained.
  void SetMaintenancePending(size_t tables);
  // One background preparation of a writer's sealed checkpoints (ok or not),
  // and the writers still waiting for one.
  void PrepareRan(bool ok, absl::Duration took, size_t pending);
  // A Commit call begins (+1) or ends (-1) on the server.
  void CommitInFlight(int delta);

  // The series of one writer; the pointers stay valid for the process's life.
  struct WriterSeries {
    prometheus::Counter* staged_rows;
    prometheus::Counter* staged_bytes;
    prometheus::Counter* checkpoints_sealed;
    prometheus::Gauge* last_sealed;
    prometheus::Gauge* last_committed;
    prometheus::Gauge* epoch;
  };
  struct TableSeries {
    prometheus::Counter* received_rows;
    prometheus::Counter* received_bytes;
    prometheus::Gauge* snapshots;
    prometheus::Gauge* latest_snapshot;
    prometheus::Gauge* data_files;
    prometheus::Gauge* max_bucket_files;
    prometheus::Counter* compactions;
    prometheus::Counter* compacted_input_files;
    prometheus::Counter* compacted_input_bytes;
    prometheus::Counter* compacted_output_files;
    prometheus::Counter* compacted_output_bytes;
    prometheus::Counter* expired_snapshots;
    prometheus::Counter* expired_files;
    prometheus::Counter* orphan_files_removed;
    prometheus::Counter* prepared_removed;
    prometheus::Counter* maintenance_failures;
  };

 private:
  WriterSeries& Writer(const std::string& table, const std::string& writer);
  TableSeries& Table(const std::string& table);
  // Sets the lag of every consumer `r` lists and removes the series of the
  // table's consumers it no longer lists.
  void ConsumersSeen(const std::string& table, const MaintenanceReport& r);

  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& received_rows_;
  prometheus::Family<prometheus::Counter>& received_bytes_;
  prometheus::Family<prometheus::Counter>& writer_staged_rows_;
  prometheus::Family<prometheus::Counter>& writer_staged_bytes_;
  prometheus::Family<prometheus::Counter>& writer_sealed_;
  prometheus::Family<prometheus::Gauge>& writer_last_sealed_;
  prometheus::Family<prometheus::Gauge>& writer_last_committed_;
  prometheus::Family<prometheus::Gauge>& writer_epoch_;
  prometheus::Family<prometheus::Histogram>& seal_seconds_;
  prometheus::Family<prometheus::Histogram>& commit_seconds_;
  prometheus::Family<prometheus::Counter>& commits_;
  prometheus::Family<prometheus::Counter>& fenced_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Gauge>& snapshots_;
  prometheus::Family<prometheus::Gauge>& latest_snapshot_;
  prometheus::Family<prometheus::Gauge>& data_files_;
  prometheus::Family<prometheus::Gauge>& max_bucket_files_;
  prometheus::Family<prometheus::Counter>& maintenance_runs_;
  prometheus::Family<prometheus::Counter>& maintenance_failures_;
  prometheus::Family<prometheus::Histogram>& maintenance_seconds_;
  prometheus::Family<prometheus::Gauge>& maintenance_pending_;
  prometheus::Family<prometheus::Histogram>& prepare_seconds_;
  prometheus::Family<prometheus::Counter>& prepare_failures_;
  prometheus::Family<prometheus::Gauge>& prepare_pending_;
  prometheus::Family<prometheus::Gauge>& commits_in_flight_;
  prometheus::Family<prometheus::Counter>& compactions_;
  prometheus::Family<prometheus::Counter>& compacted_input_files_;
  prometheus::Family<prometheus::Counter>& compacted_input_bytes_;
  prometheus::Family<prometheus::Counter>& compacted_output_files_;
  prometheus::Family<prometheus::Counter>& compacted_output_bytes_;
  prometheus::Family<prometheus::Gauge>& consumer_lag_;
  prometheus::Family<prometheus::Counter>& expired_snapshots_;
  prometheus::Family<prometheus::Counter>& expired_files_;
  prometheus::Family<prometheus::Counter>& orphan_files_removed_;
  prometheus::Family<prometheus::Counter>& prepared_removed_;
  prometheus::Histogram& seal_histogram_;
  prometheus::Histogram& commit_histogram_;
  prometheus::Histogram& maintenance_histogram_;
  prometheus::Gauge& maintenance_pending_gauge_;
  prometheus::Histogram& prepare_histogram_;
  prometheus::Counter& prepare_failure_counter_;
  prometheus::Gauge& prepare_pending_gauge_;
  prometheus::Gauge& commits_in_flight_gauge_;

  absl::Mutex mu_;
  // Keyed by table '\0' writer.
  absl::flat_hash_map<std::string, WriterSeries> writers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TableSeries> tables_ ABSL_GUARDED_BY(mu_);
  // Lag series by table, then consumer name.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, prometheus::Gauge*>> consumers_
      ABSL_GUARDED_BY(mu_);
  std::shared_ptr<prometheus::Collectable> scrape_time_;
};

// The name Prometheus labels use for a status code: "OK", "FAILED_PRECONDITION".
std::string_view StatusCodeLabel(absl::StatusCode code);

}  // namespace deltasidecar::sidecar
