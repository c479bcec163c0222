#include "sidecar/metrics.h"

#include <cctype>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace deltasidecar::sidecar {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Seconds; a seal syncs the WAL (ms), a commit writes and fsyncs bucket files
// (ms to tens of seconds for large checkpoints), maintenance may merge a
// whole table.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& r, const char* name,
                                                 const char* help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& r, const char* name,
                                             const char* help) {
  return BuildGauge().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Histogram>& Histogram(prometheus::Registry& r, const char* name,
                                                     const char* help) {
  return BuildHistogram().Name(name).Help(help).Register(r);
}

// The registry's families plus gauges computed when scraped.
class ScrapeTimeGauges : public prometheus::Collectable {
 public:
  explicit ScrapeTimeGauges(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}

  void SetStagingSource(std::function<checkpoint::StagingStore::Stats()> source) {
    absl::MutexLock lock(&mu_);
    staging_ = std::move(source);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out = registry_->Collect();
    std::function<checkpoint::StagingStore::Stats()> staging;
    {
      absl::MutexLock lock(&mu_);
      staging = staging_;
    }
    if (!staging) return out;
    const checkpoint::StagingStore::Stats s = staging();
    auto gauge = [&out](const char* name, const char* help, double value) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric m;
      m.gauge.value = value;
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    gauge("delta_sidecar_staging_bytes",
          "Bytes of the staging store (RocksDB live SST files and memtables), as counted "
          "against --max-staged-bytes",
          static_cast<double>(s.sst_bytes + s.memtable_bytes));
    gauge("delta_sidecar_staging_memtable_bytes",
          "Bytes of the staging store's memtables (mostly unsealed batches)",
          static_cast<double>(s.memtable_bytes));
    gauge("delta_sidecar_staging_batch_families",
          "Column families of staged batches (one per writer and checkpoint not yet committed)",
          static_cast<double>(s.batch_families));
    gauge("delta_sidecar_staging_running_flushes", "RocksDB flushes running in the staging store",
          static_cast<double>(s.running_flushes));
    gauge("delta_sidecar_staging_running_compactions",
          "RocksDB compactions running in the staging store",
          static_cast<double>(s.running_compactions));
    gauge("delta_sidecar_staging_pending_compaction_bytes",
          "RocksDB's estimate of bytes the staging store's compactions still have to rewrite",
          static_cast<double>(s.pending_compaction_bytes));
    gauge("delta_sidecar_staging_delayed_write_rate_bytes_per_second",
          "The write rate RocksDB allows while it slows the staging store's writes",
          static_cast<double>(s.delayed_write_rate));
    gauge("delta_sidecar_staging_writes_stopped",
          "1 while RocksDB stops the staging store's writes (a write stall), else 0",
          s.writes_stopped ? 1.0 : 0.0);
    return out;
  }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mu_;
  std::function<checkpoint::StagingStore::Stats()> staging_ ABSL_GUARDED_BY(mu_);
};

std::string WriterKeyOf(const std::string& table, const std::string& writer) {
  std::string key;
  key.reserve(table.size() + 1 + writer.size());
  key.append(table).push_back('\0');
  key.append(writer);
  return key;
}

}  // namespace

SidecarMetrics::SidecarMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      received_rows_(Counter(*registry_, "delta_sidecar_received_rows_total",
                             "Rows received in Write batches and staged, per table")),
      received_bytes_(Counter(*registry_, "delta_sidecar_received_bytes_total",
                              "Bytes of packed rows received in Write batches and staged, per table")),
      writer_staged_rows_(Counter(*registry_, "delta_sidecar_writer_staged_rows_total",
                                  "Rows staged by a writer")),
      writer_staged_bytes_(Counter(*registry_, "delta_sidecar_writer_staged_bytes_total",
                                   "Bytes a writer staged (the table's encoded entries)")),
      writer_sealed_(Counter(*registry_, "delta_sidecar_writer_checkpoints_sealed_total",
                             "Checkpoints a writer sealed with PrepareCommit")),
      writer_last_sealed_(Gauge(*registry_, "delta_sidecar_writer_last_sealed_checkpoint",
                                "Id of the checkpoint a writer sealed last")),
      writer_last_committed_(Gauge(*registry_, "delta_sidecar_writer_last_committed_checkpoint",
                                   "Id of the checkpoint of a writer committed last (-1: none)")),
      writer_epoch_(Gauge(*registry_, "delta_sidecar_writer_epoch",
                          "A writer's current epoch (bumped by each RegisterWriter)")),
      seal_seconds_(Histogram(*registry_, "delta_sidecar_seal_duration_seconds",
                              "Time to seal a checkpoint (PrepareCommit, WAL sync included)")),
      commit_seconds_(Histogram(*registry_, "delta_sidecar_commit_duration_seconds",
                                "Time to commit one table's part of a Commit call")),
      commits_(Counter(*registry_, "delta_sidecar_commits_total",
                       "Table commits by outcome: ok, already_committed, or the error code")),
      fenced_(Counter(*registry_, "delta_sidecar_fenced_calls_total",
                      "Calls refused because their epoch is older than the writer's, per method")),
      rpcs_(Counter(*registry_, "delta_sidecar_rpcs_total",
                    "Finished gRPC calls by method and status code (a Write stream counts once)")),
      snapshots_(Gauge(*registry_, "delta_sidecar_table_snapshots",
                       "Retained snapshots of a table, as of its last maintenance run")),
      latest_snapshot_(Gauge(*registry_, "delta_sidecar_table_latest_snapshot_id",
                             "Latest snapshot id of a table, as of its last maintenance run")),
      data_files_(Gauge(*registry_, "delta_sidecar_table_data_files",
                        "Data files in a table's latest snapshot, as of its last maintenance run")),
      max_bucket_files_(Gauge(*registry_, "delta_sidecar_table_bucket_files_max",
                              "Data files of a table's fullest bucket, as of its last maintenance run")),
      maintenance_runs_(Counter(*registry_, "delta_sidecar_maintenance_runs_total",
                                "Maintenance runs (compaction, expiry) per table and reason "
                                "(commit, interval)")),
      maintenance_failures_(Counter(*registry_, "delta_sidecar_maintenance_failures_total",
                                    "Maintenance runs of a table that failed (retried by the next run)")),
      maintenance_seconds_(Histogram(*registry_, "delta_sidecar_maintenance_duration_seconds",
                                     "Time of one maintenance run of a table")),
      maintenance_pending_(Gauge(*registry_, "delta_sidecar_maintenance_pending_tables",
                                 "Tables waiting for a maintenance run, plus the one in progress")),
      prepare_seconds_(Histogram(*registry_, "delta_sidecar_prepare_duration_seconds",
                                 "Time of one background preparation of a writer's sealed "
                                 "checkpoints as table files in the shared root")),
      prepare_failures_(Counter(*registry_, "delta_sidecar_prepare_failures_total",
                                "Background preparations that failed (logged; a commit "
                                "prepares inline what is left)")),
      prepare_pending_(Gauge(*registry_, "delta_sidecar_prepare_pending_writers",
                             "Writers whose sealed checkpoints wait for the background "
                             "preparer, plus the one in progress")),
      commits_in_flight_(Gauge(*registry_, "delta_sidecar_commits_in_flight",
                               "Commit calls this sidecar is handling now")),
      compactions_(Counter(*registry_, "delta_sidecar_compactions_total",
                           "Compaction snapshots published, per table")),
      compacted_input_files_(Counter(*registry_, "delta_sidecar_compaction_input_files_total",
                                     "Data files merged away by compaction")),
      compacted_input_bytes_(Counter(*registry_, "delta_sidecar_compaction_input_bytes_total",
                                     "Bytes of the data files compaction merged")),
      compacted_output_files_(Counter(*registry_, "delta_sidecar_compaction_output_files_total",
                                      "Data files compaction wrote")),
      compacted_output_bytes_(Counter(*registry_, "delta_sidecar_compaction_output_bytes_total",
                                      "Bytes compaction wrote")),
      consumer_lag_(Gauge(*registry_, "delta_sidecar_consumer_lag_snapshots",
                          "Snapshots a table's named consumer is behind the latest one (latest "
                          "id minus its position), as of the table's last maintenance run")),
      expired_snapshots_(Counter(*registry_, "delta_sidecar_expired_snapshots_total",
                                 "Snapshots removed by expiry")),
      expired_files_(Counter(*registry_, "delta_sidecar_expired_files_total",
                             "Data files deleted by expiry (no retained snapshot used them)")),
      orphan_files_removed_(Counter(*registry_, "delta_sidecar_orphan_files_removed_total",
                                    "Data files the orphan sweep removed: named by no retained "
                                    "snapshot and no pending prepared checkpoint, older than "
                                    "--orphan-age")),
      prepared_removed_(Counter(*registry_, "delta_sidecar_prepared_removed_total",
                                "Prepared checkpoints the orphan sweep removed: committed, or "
                                "abandoned by their writer")),
      seal_histogram_(seal_seconds_.Add({}, kLatencyBuckets)),
      commit_histogram_(commit_seconds_.Add({}, kLatencyBuckets)),
      maintenance_histogram_(maintenance_seconds_.Add({}, kLatencyBuckets)),
      maintenance_pending_gauge_(maintenance_pending_.Add({})),
      prepare_histogram_(prepare_seconds_.Add({}, kLatencyBuckets)),
      prepare_failure_counter_(prepare_failures_.Add({})),
      prepare_pending_gauge_(prepare_pending_.Add({})),
      commits_in_flight_gauge_(commits_in_flight_.Add({})),
      scrape_time_(std::make_shared<ScrapeTimeGauges>(registry_)) {}

std::shared_ptr<prometheus::Collectable> SidecarMetrics::collectable() const { return scrape_time_; }

void SidecarMetrics::SetStagingSource(std::function<checkpoint::StagingStore::Stats()> source) {
  static_cast<ScrapeTimeGauges&>(*scrape_time_).SetStagingSource(std::move(source));
}

SidecarMetrics::WriterSeries& SidecarMetrics::Writer(const std::string& table,
                                                     const std::string& writer) {
  std::string key = WriterKeyOf(table, writer);
  absl::MutexLock lock(&mu_);
  auto it = writers_.find(key);
  if (it != writers_.end()) return it->second;
  const prometheus::Labels labels{{"table", table}, {"writer", writer}};
  WriterSeries s{&writer_staged_rows_.Add(labels),  &writer_staged_bytes_.Add(labels),
                 &writer_sealed_.Add(labels),       &writer_last_sealed_.Add(labels),
                 &writer_last_committed_.Add(labels), &writer_epoch_.Add(labels)};
  s.last_sealed->Set(-1);
  s.last_committed->Set(-1);
  return writers_.emplace(std::move(key), s).first->second;
}

SidecarMetrics::TableSeries& SidecarMetrics::Table(const std::string& table) {
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(table);
  if (it != tables_.end()) return it->second;
  const prometheus::Labels labels{{"table", table}};
  TableSeries s{&received_rows_.Add(labels),          &received_bytes_.Add(labels),
                &snapshots_.Add(labels),              &latest_snapshot_.Add(labels),
                &data_files_.Add(labels),             &max_bucket_files_.Add(labels),
                &compactions_.Add(labels),            &compacted_input_files_.Add(labels),
                &compacted_input_bytes_.Add(labels),  &compacted_output_files_.Add(labels),
                &compacted_output_bytes_.Add(labels), &expired_snapshots_.Add(labels),
                &expired_files_.Add(labels),          &orphan_files_removed_.Add(labels),
                &prepared_removed_.Add(labels),       &maintenance_failures_.Add(labels)};
  return tables_.emplace(table, s).first->second;
}

void SidecarMetrics::RowsStaged(const std::string& table, const std::string& writer,
                                uint64_t rows, uint64_t wire_bytes, uint64_t staged_bytes) {
  TableSeries& t = Table(table);
  t.received_rows->Increment(static_cast<double>(rows));
  t.received_bytes->Increment(static_cast<double>(wire_bytes));
  WriterSeries& w = Writer(table, writer);
  w.staged_rows->Increment(static_cast<double>(rows));
  w.staged_bytes->Increment(static_cast<double>(staged_bytes));
}

void SidecarMetrics::WriterRegistered(const std::string& table, const std::string& writer,
                                      int64_t epoch, int64_t last_committed) {
  WriterSeries& w = Writer(table, writer);
  w.epoch->Set(static_cast<double>(epoch));
  w.last_committed->Set(static_cast<double>(last_committed));
}

void SidecarMetrics::Sealed(const std::string& table, const std::string& writer,
                            int64_t checkpoint_id, absl::Duration took) {
  seal_histogram_.Observe(absl::ToDoubleSeconds(took));
  WriterSeries& w = Writer(table, writer);
  w.checkpoints_sealed->Increment();
  w.last_sealed->Set(static_cast<double>(checkpoint_id));
}

void SidecarMetrics::TableCommitted(std::string_view outcome, absl::Duration took) {
  commit_histogram_.Observe(absl::ToDoubleSeconds(took));
  commits_.Add({{"outcome", std::string(outcome)}}).Increment();
}

void SidecarMetrics::TableCommitFailed(absl::StatusCode code, absl::Duration took) {
  std::string outcome(StatusCodeLabel(code));
  for (char& c : outcome) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  TableCommitted(outcome, took);
}

void SidecarMetrics::WriterCommitted(const std::string& table, const std::string& writer,
                                     int64_t checkpoint_id) {
  prometheus::Gauge* g = Writer(table, writer).last_committed;
  // Commits of one writer may finish out of order (a retry of an older
  // committable); the gauge only moves forward.
  if (g->Value() < static_cast<double>(checkpoint_id)) g->Set(static_cast<double>(checkpoint_id));
}

void SidecarMetrics::Fenced(std::string_view method) {
  fenced_.Add({{"method", std::string(method)}}).Increment();
}

void SidecarMetrics::RpcFinished(std::string_view method, std::string_view code) {
  rpcs_.Add({{"method", std::string(method)}, {"code", std::string(code)}}).Increment();
}

void SidecarMetrics::MaintenanceRan(const std::string& table, std::string_view reason,
                                    const MaintenanceReport& r, absl::Duration took) {
  TableSeries& t = Table(table);
  if (r.compacted) {
    t.compactions->Increment();
    t.compacted_input_files->Increment(static_cast<double>(r.compacted_input_files));
    t.compacted_input_bytes->Increment(static_cast<double>(r.compacted_input_bytes));
    t.compacted_output_files->Increment(static_cast<double>(r.compacted_output_files));
    t.compacted_output_bytes->Increment(static_cast<double>(r.compacted_output_bytes));
  }
  t.expired_snapshots->Increment(r.snapshots_expired);
  t.expired_files->Increment(r.files_expired);
  t.orphan_files_removed->Increment(r.orphan_files_removed);
  t.prepared_removed->Increment(r.prepared_removed);
  t.snapshots->Set(static_cast<double>(r.latest_snapshot - r.earliest_snapshot + 1));
  t.latest_snapshot->Set(static_cast<double>(r.latest_snapshot));
  t.data_files->Set(static_cast<double>(r.data_files));
  t.max_bucket_files->Set(static_cast<double>(r.max_bucket_files));
  ConsumersSeen(table, r);
  maintenance_histogram_.Observe(absl::ToDoubleSeconds(took));
  // Last: a reader that sees the run counted sees everything it did.
  maintenance_runs_.Add({{"table", table}, {"reason", std::string(reason)}}).Increment();
}

void SidecarMetrics::ConsumersSeen(const std::string& table, const MaintenanceReport& r) {
  absl::MutexLock lock(&mu_);
  auto& series = consumers_[table];
  absl::flat_hash_set<std::string> present;
  for (const auto& c : r.consumers) {
    present.insert(c.name);
    prometheus::Gauge*& lag = series[c.name];
    if (lag == nullptr) lag = &consumer_lag_.Add({{"table", table}, {"consumer", c.name}});
    lag->Set(static_cast<double>(std::max<int64_t>(0, r.latest_snapshot - c.position)));
  }
  // A dropped consumer's series goes away with it.
  for (auto it = series.begin(); it != series.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    consumer_lag_.Remove(it->second);
    series.erase(it++);
  }
}

void SidecarMetrics::PrepareRan(bool ok, absl::Duration took, size_t pending) {
  prepare_histogram_.Observe(absl::ToDoubleSeconds(took));
  if (!ok) prepare_failure_counter_.Increment();
  prepare_pending_gauge_.Set(static_cast<double>(pending));
}

void SidecarMetrics::CommitInFlight(int delta) {
  commits_in_flight_gauge_.Increment(static_cast<double>(delta));
}

void SidecarMetrics::SetMaintenancePending(size_t tables) {
  maintenance_pending_gauge_.Set(static_cast<double>(tables));
}

void SidecarMetrics::MaintenanceFailed(const std::string& table) {
  Table(table).maintenance_failures->Increment();
}

std::string_view StatusCodeLabel(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "CANCELLED";
    case absl::StatusCode::kUnknown: return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted: return "ABORTED";
    case absl::StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss: return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace deltasidecar::sidecar
