#include "sidecar/sidecar_server.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/partition.h"

namespace deltasidecar::sidecar {

SidecarServer::SidecarServer(SidecarOptions options, std::unique_ptr<checkpoint::StagingStore> store)
    : options_(std::move(options)),
      metrics_(options_.metrics),
      events_(options_.events),
      store_(std::move(store)),
      protocol_(store_.get(), [this](const std::string& name) { return GetTable(name); },
                options_.prepared_wait, options_.prepare_threads),
      preparer_([this](const std::string& table, const std::string& writer,
                       PrepareCause cause) { return PrepareInBackground(table, writer, cause); },
                events_.get(), options_.prepare_threads) {
  metrics_->SetStagingSource([store = store_.get()] { return store->GetStats(); });
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
}

SidecarServer::~SidecarServer() {
  Shutdown();
  // The metrics may be scraped after this server is gone.
  metrics_->SetStagingSource(nullptr);
}

absl::StatusOr<std::unique_ptr<SidecarServer>> SidecarServer::Open(SidecarOptions options) {
  if (options.metrics == nullptr) options.metrics = std::make_shared<SidecarMetrics>();
  if (options.events == nullptr) options.events = std::make_shared<EventLog>(LogFormat::kText);
  if (options.data_dir.empty()) return absl::InvalidArgumentError("the staging store's data directory (data_dir) is not set");
  if (options.table_root.empty()) return absl::InvalidArgumentError("the table root (table_root) is not set");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", options.data_dir, ": ", ec.message()));
  std::filesystem::create_directories(options.table_root, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", options.table_root, ": ", ec.message()));
  checkpoint::StagingOptions staging;
  staging.path = JoinPath(options.data_dir, "staging");
  staging.max_bytes = options.max_staged_bytes;
  staging.max_bytes_per_writer = options.max_staged_bytes_per_writer;
  staging.log = [events = options.events](std::string_view message) {
    events->Warn("staging_store", {}, message);
  };
  ASSIGN_OR_RETURN(auto store, checkpoint::StagingStore::Open(staging));
  // The staging store outlives restarts: after a crash, this sidecar takes
  // back the compaction leases it held (table/compaction_lease.h).
  options.table_options.compaction_lease_holder.clear();
  for (char c : store->id()) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      options.table_options.compaction_lease_holder.push_back(c);
    }
  }
  std::unique_ptr<SidecarServer> server(new SidecarServer(std::move(options), std::move(store)));
  RETURN_IF_ERROR(server->protocol_.Recover());
  // Sealed checkpoints that a crash left unprepared are prepared again.
  ASSIGN_OR_RETURN(auto writers, server->store_->Writers());
  for (const auto& w : writers) server->preparer_.Queue(w.table, w.writer_id, PrepareCause::kRestart);
  return server;
}

absl::Status SidecarServer::PrepareInBackground(const std::string& table, const std::string& writer,
                                                PrepareCause cause) {
  const absl::Time start = absl::Now();
  absl::StatusOr<checkpoint::PrepareResult> wrote = protocol_.Prepare(table, writer);
  const absl::Duration took = absl::Now() - start;
  metrics_->PrepareRan(wrote.ok(), took, preparer_.Pending());
  if (!wrote.ok()) return wrote.status();
  if (wrote->checkpoints > 0) {
    events_->Info(cause == PrepareCause::kRestart ? "checkpoint_reprepared" : "checkpoint_prepared",
                  {{"table", table}, {"writer", writer}, {"checkpoint", wrote->checkpoint_id},
                   {"checkpoints", wrote->checkpoints}, {"rows", wrote->rows},
                   {"seconds", absl::ToDoubleSeconds(took)}});
  }
  return absl::OkStatus();
}

void SidecarServer::Shutdown() {
  {
    absl::MutexLock lock(&maintenance_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  preparer_.Stop();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
}

absl::Status SidecarServer::CreateTable(const std::string& name, const std::string& columns,
                                        const std::string& primary_key, int buckets,
                                        bool if_not_exists,
                                        const table::TableProperties& properties,
                                        const std::string& partition_by) {
  ASSIGN_OR_RETURN(auto schema,
                   table::TableSchema::Parse(columns, primary_key,
                                             buckets == 0 ? table::kDefaultBuckets : buckets,
                                             partition_by));
  absl::Status s =
      table::Table::Create(options_.table_root, name, schema, options_.table_options, properties);
  if (absl::IsAlreadyExists(s) && if_not_exists) {
    ASSIGN_OR_RETURN(auto existing, GetTable(name));
    ASSIGN_OR_RETURN(auto current, existing->CurrentSchema());
    if (current->ToJson() != schema.ToJson()) {
      return absl::AlreadyExistsError(Cat("table '", name, "' exists with a different schema: ",
                                          current->ColumnsString()));
    }
    return absl::OkStatus();
  }
  return s;
}

absl::StatusOr<table::Table::AlterResult> SidecarServer::AlterTable(
    const std::string& name, const std::vector<std::string>& texts) {
  ASSIGN_OR_RETURN(std::vector<table::SchemaChange> changes, table::ParseSchemaChanges(texts));
  ASSIGN_OR_RETURN(auto table, GetTable(name));
  ASSIGN_OR_RETURN(table::Table::AlterResult result, table->Alter(changes));
  events_->Info("alter", {{"table", name}, {"snapshot", result.snapshot_id},
                          {"schema_id", result.schema->id()},
                          {"columns", result.schema->ColumnsString()}});
  return result;
}

absl::StatusOr<int64_t> SidecarServer::DropPartitions(const std::string& name,
                                                      const std::vector<std::string>& specs) {
  ASSIGN_OR_RETURN(auto table, GetTable(name));
  ASSIGN_OR_RETURN(auto schema, table->CurrentSchema());
  std::vector<std::string> partitions;
  for (const std::string& spec : specs) {
    ASSIGN_OR_RETURN(std::string partition, table::ParsePartitionSpec(*schema, spec));
    partitions.push_back(std::move(partition));
  }
  if (partitions.empty()) return absl::InvalidArgumentError("name at least one partition to drop");
  ASSIGN_OR_RETURN(int64_t id, table->DropPartitions(partitions));
  events_->Info("drop_partition", {{"table", name}, {"snapshot", id},
                                   {"partitions", static_cast<int64_t>(partitions.size())}});
  return id;
}

absl::StatusOr<std::shared_ptr<table::Table>> SidecarServer::GetTable(const std::string& name) {
  {
    absl::MutexLock lock(&tables_mu_);
    auto it = tables_.find(name);
    if (it != tables_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<table::Table> opened,
                   table::Table::Open(options_.table_root, name, options_.table_options));
  absl::MutexLock lock(&tables_mu_);
  auto [it, inserted] = tables_.try_emplace(name, std::move(opened));
  return it->second;
}

absl::StatusOr<checkpoint::Registration> SidecarServer::RegisterWriter(
    const std::string& table_name, const std::string& writer_id, std::optional<int64_t> restored) {
  ASSIGN_OR_RETURN(auto reg, protocol_.Register(table_name, writer_id, restored));
  metrics_->WriterRegistered(table_name, writer_id, reg.epoch, reg.last_committed);
  events_->Info("register", {{"table", table_name}, {"writer", writer_id}, {"epoch", reg.epoch},
                             {"restored_checkpoint", restored.value_or(-1)},
                             {"last_committed_checkpoint", reg.last_committed},
                             {"identity", reg.table_writer_id}, {"pending", reg.pending.size()}});
  if (reg.was_registered) {
    // What re-registering dropped (the store's contract): everything staged
    // after the restored checkpoint, or everything uncommitted on a fresh start.
    events_->Info("restore_discard", {{"table", table_name}, {"writer", writer_id},
                                      {"epoch", reg.epoch},
                                      {"after_checkpoint", restored.value_or(reg.last_committed)}});
  }
  return reg;
}

absl::Status SidecarServer::Refused(std::string_view method, const checkpoint::WriterKey& key,
                                    int64_t epoch, absl::Status status) {
  if (!absl::IsFailedPrecondition(status)) return status;
  auto reg = store_->Lookup(key);
  if (reg.ok() && reg->epoch > epoch) {
    metrics_->Fenced(method);
    events_->Warn("fenced", {{"method", method}, {"table", key.table}, {"writer", key.writer_id},
                             {"epoch", epoch}, {"current_epoch", reg->epoch}});
  }
  return status;
}

absl::StatusOr<uint32_t> SidecarServer::Write(const std::string& table_name,
                                              const std::string& writer_id, int64_t epoch,
                                              int64_t schema_id, std::string_view rows,
                                              uint32_t row_count) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  checkpoint::WriterKey key{table_name, writer_id};
  if (absl::Status s = store_->CheckEpoch(key, epoch); !s.ok()) {
    return Refused("Write", key, epoch, std::move(s));
  }
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  // Rows are staged under the version they are packed for, which must be
  // the table's current one: a writer never adds rows for a schema that is
  // gone. (Rows staged before an ALTER keep their version: reads project them.)
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> schema, table->CurrentSchema());
  if (schema_id != schema->id()) {
    auto changes = table->SchemaChangesOf(schema->id());
    return absl::FailedPreconditionError(Cat(
        "table '", table_name, "' is at schema version ", schema->id(),
        changes.ok() && !changes->empty() ? Cat(" (its last change: ", *changes, ")") : "",
        " but the rows are packed for version ", schema_id,
        ": describe the table again and register the writer"));
  }
  table::MutationBatch batch;
  RETURN_IF_ERROR(DecodeWireRows(*schema, rows, row_count, options_.wire_limits, &batch));
  std::string payload;
  payload.reserve(batch.ByteSize() + 4 * batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    checkpoint::AppendStagedEntry(batch.key(i), batch.value(i), &payload);
  }
  if (auto s = store_->Stage(key, epoch, payload, static_cast<uint32_t>(batch.size())); !s.ok()) {
    return Refused("Write", key, epoch, s.status());
  }
  metrics_->RowsStaged(table_name, writer_id, batch.size(), rows.size(), payload.size());
  return static_cast<uint32_t>(batch.size());
}

absl::StatusOr<CommittableRef> SidecarServer::PrepareCommit(const std::string& table_name,
                                                            const std::string& writer_id,
                                                            int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  const absl::Time start = absl::Now();
  auto sealed = protocol_.Seal(table_name, writer_id, epoch, checkpoint_id);
  if (!sealed.ok()) {
    events_->Warn("prepare_failed", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                                     {"checkpoint", checkpoint_id},
                                     {"code", StatusCodeLabel(sealed.status().code())},
                                     {"error", sealed.status().message()}});
    return Refused("PrepareCommit", {table_name, writer_id}, epoch, sealed.status());
  }
  const absl::Duration took = absl::Now() - start;
  metrics_->Sealed(table_name, writer_id, checkpoint_id, took);
  preparer_.Queue(table_name, writer_id);
  events_->Info("prepare", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                            {"checkpoint", checkpoint_id}, {"rows", sealed->rows},
                            {"batches", sealed->batches}, {"identity", sealed->identity},
                            {"seconds", absl::ToDoubleSeconds(took)}});
  return ToCommittable(table_name, writer_id, *sealed);
}

absl::Status SidecarServer::Abort(const std::string& table_name, const std::string& writer_id,
                                  int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  absl::Status s = protocol_.Abort(table_name, writer_id, epoch, checkpoint_id);
  if (!s.ok()) return Refused("Abort", {table_name, writer_id}, epoch, std::move(s));
  preparer_.Queue(table_name, writer_id);  // later seals, whose prepared files named it
  events_->Info("abort", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                          {"checkpoint", checkpoint_id}});
  return s;
}

absl::StatusOr<std::vector<TableCommitResult>> SidecarServer::Commit(
    const std::vector<CommittableRef>& committables) {
  if (committables.empty()) return absl::InvalidArgumentError("Commit names no committable");
  metrics_->CommitInFlight(+1);
  absl::Cleanup ended = [this] { metrics_->CommitInFlight(-1); };
  std::vector<std::string> order;
  std::map<std::string, std::vector<const CommittableRef*>> by_table;
  for (const auto& c : committables) {
    if (!by_table.count(c.table)) order.push_back(c.table);
    by_table[c.table].push_back(&c);
  }
  std::vector<TableCommitResult> results;
  for (const auto& name : order) {
    const absl::Time start = absl::Now();
    auto r = protocol_.CommitTable(name, by_table[name]);
    const absl::Duration took = absl::Now() - start;
    if (!r.ok()) {
      metrics_->TableCommitFailed(r.status().code(), took);
      for (const CommittableRef* c : by_table[name]) {
        events_->Warn("commit_failed", {{"table", name}, {"writer", c->writer_id}, {"epoch", c->epoch},
                                        {"checkpoint", c->checkpoint_id},
                                        {"code", StatusCodeLabel(r.status().code())},
                                        {"error", r.status().message()}});
      }
      return r.status();
    }
    if (!r->already_committed) ScheduleMaintenance(name);
    for (const checkpoint::PreparedWait& w : r->waits) {
      events_->Info("commit_waited_for_prepared",
                    {{"table", name}, {"writer", w.writer_id}, {"checkpoint", w.checkpoint_id},
                     {"rows", w.rows}, {"seconds", absl::ToDoubleSeconds(w.waited)}});
    }
    metrics_->TableCommitted(r->already_committed ? "already_committed" : "ok", took);
    for (const CommittableRef* c : by_table[name]) {
      metrics_->WriterCommitted(name, c->writer_id, c->checkpoint_id);
      events_->Info("commit", {{"table", name}, {"writer", c->writer_id}, {"epoch", c->epoch},
                               {"checkpoint", c->checkpoint_id}, {"identity", c->identity},
                               {"snapshot", r->snapshot_id},
                               {"already_committed", r->already_committed},
                               {"seconds", absl::ToDoubleSeconds(took)},
                               {"lock_seconds", absl::ToDoubleSeconds(r->phases.lock)},
                               {"plan_seconds", absl::ToDoubleSeconds(r->phases.plan)},
                               {"prepare_seconds", absl::ToDoubleSeconds(r->phases.prepare)},
                               {"publish_seconds", absl::ToDoubleSeconds(r->phases.publish)},
                               {"bookkeeping_seconds", absl::ToDoubleSeconds(r->phases.bookkeeping)}});
    }
    results.push_back(*std::move(r));
  }
  return results;
}

void SidecarServer::ScheduleMaintenance(const std::string& table) {
  absl::MutexLock lock(&maintenance_mu_);
  for (const auto& [queued, reason] : maintenance_queue_) {
    if (queued == table) return;
  }
  maintenance_queue_.emplace_back(table, "commit");
  metrics_->SetMaintenancePending(maintenance_queue_.size() + (maintenance_running_ ? 1 : 0));
}

void SidecarServer::ScheduleAllTables() {
  auto names = table::Table::List(options_.table_root, options_.table_options);
  if (!names.ok()) {
    events_->Warn("maintenance_failed", {{"reason", "interval"}, {"error", names.status().message()}});
    return;
  }
  absl::MutexLock lock(&maintenance_mu_);
  for (const auto& name : *names) {
    bool queued = false;
    for (const auto& q : maintenance_queue_) queued = queued || q.first == name;
    if (!queued) maintenance_queue_.emplace_back(name, "interval");
  }
  metrics_->SetMaintenancePending(maintenance_queue_.size() + (maintenance_running_ ? 1 : 0));
}

bool SidecarServer::MaintenanceReady() const { return stopping_ || !maintenance_queue_.empty(); }

bool SidecarServer::Stopping() {
  absl::MutexLock lock(&maintenance_mu_);
  return stopping_;
}

void SidecarServer::MaintenanceLoop() {
  const absl::Duration interval = options_.maintenance_interval;
  absl::Time next_round = absl::Now() + interval;
  for (;;) {
    std::pair<std::string, std::string_view> next;
    bool round_due = false;
    {
      absl::MutexLock lock(&maintenance_mu_);
      const absl::Condition ready(this, &SidecarServer::MaintenanceReady);
      if (interval > absl::ZeroDuration()) {
        maintenance_mu_.AwaitWithDeadline(ready, next_round);
        // Also when runs after commits keep the queue busy.
        round_due = absl::Now() >= next_round;
      } else {
        maintenance_mu_.Await(ready);
      }
      if (stopping_) return;
      if (!round_due) {
        next = maintenance_queue_.front();
        maintenance_queue_.erase(maintenance_queue_.begin());
        maintenance_running_ = true;
      }
    }
    if (round_due) {
      ScheduleAllTables();
      next_round = absl::Now() + interval;
      continue;
    }
    MaintainOne(next.first, next.second);
    absl::MutexLock lock(&maintenance_mu_);
    maintenance_running_ = false;
    metrics_->SetMaintenancePending(maintenance_queue_.size());
  }
}

void SidecarServer::MaintainOne(const std::string& name, std::string_view reason) {
  const absl::Time start = absl::Now();
  // The sweep reads every retained snapshot: once per maintenance interval
  // (a minute when runs follow commits only), not after every commit.
  const absl::Duration sweep_every = options_.maintenance_interval > absl::ZeroDuration()
                                         ? options_.maintenance_interval
                                         : absl::Minutes(1);
  auto last = last_sweep_.find(name);
  const bool sweep = options_.orphan_age > absl::ZeroDuration() &&
                     (last == last_sweep_.end() || start - last->second >= sweep_every);
  auto table = GetTable(name);
  absl::StatusOr<MaintenanceReport> report =
      table.ok() ? table::MaintainTable(**table, (*table)->options(), [this] { return Stopping(); },
                                        sweep ? options_.orphan_age : absl::InfiniteDuration())
                 : table.status();
  if (report.ok() && report->swept) last_sweep_[name] = start;
  const absl::Duration took = absl::Now() - start;
  if (!report.ok()) {
    // The data is safe either way; the next run (after the next commit, or
    // the next interval) tries again.
    metrics_->MaintenanceFailed(name);
    events_->Warn("maintenance_failed", {{"table", name}, {"reason", reason},
                                         {"code", StatusCodeLabel(report.status().code())},
                                         {"error", report.status().message()}});
    return;
  }
  metrics_->MaintenanceRan(name, reason, *report, took);
  events_->Info("maintenance", {{"table", name}, {"reason", reason},
                                {"expired_partitions", report->partitions_expired},
                                {"compaction_elsewhere", report->compaction_elsewhere},
                                {"compacted_files", report->compacted_input_files},
                                {"compacted_bytes", report->compacted_input_bytes},
                                {"expired_snapshots", report->snapshots_expired},
                                {"expired_files", report->files_expired},
                                {"expire_steps", report->expire_steps},
                                {"orphan_files", report->orphan_files_removed},
                                {"prepared_removed", report->prepared_removed},
                                {"snapshots", report->latest_snapshot - report->earliest_snapshot + 1},
                                {"latest_snapshot", report->latest_snapshot},
                                {"data_files", report->data_files},
                                {"max_bucket_files", report->max_bucket_files},
                                {"seconds", absl::ToDoubleSeconds(took)}});
}

}  // namespace deltasidecar::sidecar
