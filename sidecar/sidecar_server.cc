#include "sidecar/sidecar_server.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

#include "sidecar/table_maintenance.h"
#include "table/absl_compat.h"
#include "table/file_util.h"
#include "table/kill_point.h"
#include "table/parallel_for.h"
#include "table/status_macros.h"

namespace deltasidecar::sidecar {

namespace {

std::string WriterName(const checkpoint::WriterKey& w) {
  return Cat("writer '", w.writer_id, "' of table '", w.table, "'");
}

// The table identity of a committable under `identity`, with the digest its
// seal had, which an "already committed" answer must match.
table::CommitIdentity IdentityOf(const CommittableRef& ref, const std::string& identity) {
  return {identity, ref.checkpoint_id, table::CheckpointDigest{ref.rows, ref.checksum}};
}

}  // namespace

SidecarServer::SidecarServer(SidecarOptions options, std::unique_ptr<checkpoint::StagingStore> store)
    : options_(std::move(options)),
      metrics_(options_.metrics ? options_.metrics : std::make_shared<SidecarMetrics>()),
      events_(options_.events ? options_.events : std::make_shared<EventLog>(LogFormat::kText)),
      store_(std::move(store)) {
  metrics_->SetStagingSource([store = store_.get()] { return store->GetStats(); });
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
}

SidecarServer::~SidecarServer() {
  Shutdown();
  // The metrics may be scraped after this server is gone.
  metrics_->SetStagingSource(nullptr);
}

CommittableRef ToCommittable(const std::string& table, const std::string& writer_id,
                             const checkpoint::SealedCheckpoint& sealed) {
  return CommittableRef{table, writer_id, sealed.epoch, sealed.checkpoint_id,
                        sealed.rows, sealed.checksum, sealed.identity};
}

absl::StatusOr<std::unique_ptr<SidecarServer>> SidecarServer::Open(const SidecarOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is required");
  if (options.table_root.empty()) return absl::InvalidArgumentError("--table-root is required");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", options.data_dir, ": ", ec.message()));
  std::filesystem::create_directories(options.table_root, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", options.table_root, ": ", ec.message()));
  checkpoint::StagingOptions staging;
  staging.path = table::JoinPath(options.data_dir, "staging");
  staging.max_bytes = options.max_staged_bytes;
  staging.max_bytes_per_writer = options.max_staged_bytes_per_writer;
  ASSIGN_OR_RETURN(auto store, checkpoint::StagingStore::Open(staging));
  std::unique_ptr<SidecarServer> server(new SidecarServer(options, std::move(store)));
  RETURN_IF_ERROR(server->RecoverAll());
  return server;
}

void SidecarServer::Shutdown() {
  {
    absl::MutexLock lock(&maintenance_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
}

absl::Status SidecarServer::CreateTable(const std::string& name, const std::string& columns,
                                        const std::string& primary_key, int buckets,
                                        bool if_not_exists) {
  ASSIGN_OR_RETURN(auto schema, table::TableSchema::Parse(columns, primary_key,
                                                          buckets == 0 ? table::kDefaultBuckets : buckets));
  absl::Status s = table::Table::Create(options_.table_root, name, schema, options_.table_options);
  if (absl::IsAlreadyExists(s) && if_not_exists) {
    ASSIGN_OR_RETURN(auto existing, GetTable(name));
    if (existing->schema().ToJson() != schema.ToJson()) {
      return absl::AlreadyExistsError(Cat("table '", name, "' exists with a different schema: ",
                                          existing->schema().ColumnsString()));
    }
    return absl::OkStatus();
  }
  return s;
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

absl::Status SidecarServer::CatchUp(table::Table& table, const checkpoint::WriterKey& writer) {
  ASSIGN_OR_RETURN(auto reg, store_->Lookup(writer));
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  auto it = latest->writers.find(reg.table_writer_id);
  if (it != latest->writers.end() && it->second.checkpoint_id > reg.last_committed) {
    // The table committed these before the store heard of it (a crash
    // between the two): the table decides.
    RETURN_IF_ERROR(store_->MarkCommitted(writer, it->second.checkpoint_id));
  }
  return absl::OkStatus();
}

absl::Status SidecarServer::RecoverAll() {
  ASSIGN_OR_RETURN(auto writers, store_->Writers());
  for (const auto& w : writers) {
    auto table = GetTable(w.table);
    if (absl::IsNotFound(table.status())) continue;  // dropped by hand; nothing to reconcile
    if (!table.ok()) return table.status();
    RETURN_IF_ERROR(CatchUp(**table, w));
  }
  return absl::OkStatus();
}

size_t SidecarServer::StripeOf(const std::string& table, const std::string& writer_id) const {
  return std::hash<std::string>()(Cat(table, '\0', writer_id)) % kWriterStripes;
}

absl::StatusOr<SidecarServer::Incarnation> SidecarServer::ChooseIncarnation(
    table::Table& table, const checkpoint::WriterKey& key, std::optional<int64_t> restored) {
  const std::string& owner = store_->id();
  table::WriterClaims& claims = table.claims();
  ASSIGN_OR_RETURN(auto claim, claims.Latest(key.writer_id));
  auto current = store_->Lookup(key);
  if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
  bool ours = false;
  if (current.ok()) {
    if (claim) {
      ours = claim->incarnation == current->incarnation && claim->owner == owner;
    } else {
      // Registered before the table kept claims: this store's incarnation
      // becomes the first claim, unless another process claims first.
      auto adopted = claims.Claim(key.writer_id, current->incarnation, owner);
      if (!adopted.ok() && !absl::IsAlreadyExists(adopted.status())) return adopted.status();
      ours = adopted.ok();
    }
  }
  Incarnation chosen;
  chosen.had_history = current.ok();
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  if (ours) {
    // This store holds the writer's history: it goes on, unless the restore
    // rewinds past what the table committed for it.
    RETURN_IF_ERROR(CatchUp(table, key));
    const std::string identity = table::IncarnationIdentity(key.writer_id, current->incarnation);
    if (auto it = latest->writers.find(identity); it != latest->writers.end()) {
      chosen.table_last_committed = it->second.checkpoint_id;
    }
    const int64_t committed = std::max(current->last_committed, chosen.table_last_committed);
    if (!checkpoint::NeedsNewIncarnation(restored, committed)) {
      chosen.incarnation = current->incarnation;
      return chosen;
    }
  }
  // A new line of checkpoint ids: a rewind, a store without the writer's
  // history (emptied, or never used by it), or a writer that was registered
  // on another store since. Its number comes from the table, so no two
  // stores ever pick the same one.
  ASSIGN_OR_RETURN(auto claimed, claims.ClaimNext(key.writer_id, owner, *latest));
  chosen.incarnation = claimed.incarnation;
  chosen.table_last_committed = -1;
  return chosen;
}

absl::StatusOr<checkpoint::Registration> SidecarServer::RegisterWriter(
    const std::string& table_name, const std::string& writer_id, std::optional<int64_t> restored) {
  RETURN_IF_ERROR(table::ValidateWriterId(writer_id));
  if (restored && *restored < 0) {
    return absl::InvalidArgumentError(Cat("restored checkpoint id ", *restored, " is negative"));
  }
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  checkpoint::WriterKey key{table_name, writer_id};
  absl::MutexLock stripe(&writer_stripes_[StripeOf(table_name, writer_id)]);
  ASSIGN_OR_RETURN(Incarnation chosen, ChooseIncarnation(*table, key, restored));
  ASSIGN_OR_RETURN(auto reg, store_->Register(key, restored, chosen.table_last_committed,
                                              chosen.incarnation));
  metrics_->WriterRegistered(table_name, writer_id, reg.epoch, reg.last_committed);
  events_->Info("register", {{"table", table_name}, {"writer", writer_id}, {"epoch", reg.epoch},
                             {"restored_checkpoint", restored.value_or(-1)},
                             {"last_committed_checkpoint", reg.last_committed},
                             {"identity", reg.table_writer_id}, {"pending", reg.pending.size()}});
  if (chosen.had_history) {
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
                                              std::string_view rows, uint32_t row_count) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  checkpoint::WriterKey key{table_name, writer_id};
  if (absl::Status s = store_->CheckEpoch(key, epoch); !s.ok()) {
    return Refused("Write", key, epoch, std::move(s));
  }
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  table::MutationBatch batch;
  RETURN_IF_ERROR(DecodeWireRows(table->schema(), rows, row_count, options_.wire_limits, &batch));
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
  if (checkpoint_id < 0) {
    return absl::InvalidArgumentError(Cat("checkpoint id ", checkpoint_id, " is negative"));
  }
  const absl::Time start = absl::Now();
  // A writer registered on another sidecar since is fenced here: its zombie
  // must not seal (and later commit) what the new owner will write again.
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  absl::Status fenced = table->CheckFence({store_->id(), {writer_id}});
  absl::StatusOr<checkpoint::SealedCheckpoint> sealed =
      fenced.ok() ? store_->Seal({table_name, writer_id}, epoch, checkpoint_id)
                  : absl::StatusOr<checkpoint::SealedCheckpoint>(std::move(fenced));
  if (!sealed.ok()) {
    events_->Warn("prepare_failed", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                                     {"checkpoint", checkpoint_id},
                                     {"code", StatusCodeLabel(sealed.status().code())},
                                     {"error", sealed.status().message()}});
    return Refused("PrepareCommit", {table_name, writer_id}, epoch, sealed.status());
  }
  const absl::Duration took = absl::Now() - start;
  metrics_->Sealed(table_name, writer_id, checkpoint_id, took);
  events_->Info("prepare", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                            {"checkpoint", checkpoint_id}, {"rows", sealed->rows},
                            {"batches", sealed->batches}, {"identity", sealed->identity},
                            {"seconds", absl::ToDoubleSeconds(took)}});
  return ToCommittable(table_name, writer_id, *sealed);
}

absl::Status SidecarServer::Abort(const std::string& table_name, const std::string& writer_id,
                                  int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  absl::Status s = store_->Abort({table_name, writer_id}, epoch, checkpoint_id);
  if (!s.ok()) return Refused("Abort", {table_name, writer_id}, epoch, std::move(s));
  events_->Info("abort", {{"table", table_name}, {"writer", writer_id}, {"epoch", epoch},
                          {"checkpoint", checkpoint_id}});
  return s;
}

absl::StatusOr<std::vector<TableCommitResult>> SidecarServer::Commit(
    const std::vector<CommittableRef>& committables) {
  if (committables.empty()) return absl::InvalidArgumentError("Commit names no committable");
  std::vector<std::string> order;
  std::map<std::string, std::vector<const CommittableRef*>> by_table;
  for (const auto& c : committables) {
    if (!by_table.count(c.table)) order.push_back(c.table);
    by_table[c.table].push_back(&c);
  }
  std::vector<TableCommitResult> results;
  for (const auto& name : order) {
    const absl::Time start = absl::Now();
    auto r = CommitTable(name, by_table[name]);
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
    metrics_->TableCommitted(r->already_committed ? "already_committed" : "ok", took);
    for (const CommittableRef* c : by_table[name]) {
      metrics_->WriterCommitted(name, c->writer_id, c->checkpoint_id);
      events_->Info("commit", {{"table", name}, {"writer", c->writer_id}, {"epoch", c->epoch},
                               {"checkpoint", c->checkpoint_id}, {"identity", c->identity},
                               {"snapshot", r->snapshot_id},
                               {"already_committed", r->already_committed},
                               {"seconds", absl::ToDoubleSeconds(took)}});
    }
    results.push_back(*std::move(r));
  }
  return results;
}

absl::StatusOr<TableCommitResult> SidecarServer::CommitTable(
    const std::string& table_name, const std::vector<const CommittableRef*>& refs) {
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  std::map<std::string, std::vector<const CommittableRef*>> by_writer;
  for (const CommittableRef* c : refs) by_writer[c->writer_id].push_back(c);
  std::set<size_t> stripes;
  for (const auto& [writer_id, mine] : by_writer) stripes.insert(StripeOf(table_name, writer_id));
  std::vector<std::unique_ptr<absl::MutexLock>> held;
  for (size_t s : stripes) held.push_back(std::make_unique<absl::MutexLock>(&writer_stripes_[s]));
  // What each writer contributes, found (and every committable checked) before
  // any data is read, so a refused Commit changes nothing.
  struct Contribution {
    checkpoint::WriterKey key;
    std::vector<checkpoint::SealedCheckpoint> sealed;
  };
  std::vector<Contribution> contributions;
  std::vector<table::CommitIdentity> identities;
  std::vector<std::pair<checkpoint::WriterKey, int64_t>> to_mark;
  int64_t already_at = -1;
  for (const auto& [writer_id, mine] : by_writer) {
    checkpoint::WriterKey key{table_name, writer_id};
    auto reg = store_->Lookup(key);
    if (absl::IsNotFound(reg.status())) {
      return absl::FailedPreconditionError(Cat(WriterName(key), " is not registered"));
    }
    if (!reg.ok()) return reg.status();
    // Committables of the writer's current identity; the newest decides what is committed.
    std::vector<const CommittableRef*> current;
    for (const CommittableRef* ref : mine) {
      if (ref->identity.empty() || ref->identity == reg->table_writer_id) {
        current.push_back(ref);
        continue;
      }
      // Sealed by an earlier incarnation of the writer, before it restored
      // from an older savepoint: the table alone says what became of it.
      if (!table::IncarnationOf(ref->identity, writer_id)) {
        return absl::InvalidArgumentError(Cat("committable identity '", ref->identity,
                                               "' does not belong to ", WriterName(key)));
      }
      ASSIGN_OR_RETURN(auto at, table->FindCommit(IdentityOf(*ref, ref->identity)));
      if (!at) {
        return absl::FailedPreconditionError(Cat(
            "checkpoint ", ref->checkpoint_id, " of ", WriterName(key), " (as '", ref->identity,
            "') was never committed and was discarded when the writer restored from an older "
            "checkpoint"));
      }
      already_at = std::max(already_at, *at);
    }
    if (current.empty()) continue;
    const CommittableRef* newest = *std::max_element(
        current.begin(), current.end(),
        [](const CommittableRef* a, const CommittableRef* b) { return a->checkpoint_id < b->checkpoint_id; });
    // Already in the table (a retry, or a crash after the table commit)? Then
    // so is every earlier checkpoint of this identity; their seals are gone.
    ASSIGN_OR_RETURN(auto committed_at,
                     table->FindCommit(IdentityOf(*newest, reg->table_writer_id)));
    if (committed_at) {
      RETURN_IF_ERROR(store_->MarkCommitted(key, newest->checkpoint_id));
      already_at = std::max(already_at, *committed_at);
      continue;
    }
    RETURN_IF_ERROR(CatchUp(*table, key));
    ASSIGN_OR_RETURN(auto sealed, store_->SealedUpTo(key, newest->checkpoint_id));
    for (const CommittableRef* ref : current) {
      auto seal = std::find_if(sealed.begin(), sealed.end(), [&](const checkpoint::SealedCheckpoint& c) {
        return c.checkpoint_id == ref->checkpoint_id;
      });
      if (seal == sealed.end()) {
        ASSIGN_OR_RETURN(auto at, table->FindCommit(IdentityOf(*ref, reg->table_writer_id)));
        if (at) continue;  // committed before, with the digest it names
        if (reg->lost_data) {
          return absl::DataLossError(Cat(
              "checkpoint ", ref->checkpoint_id, " of ", WriterName(key),
              " is not in the staging store, which was salvaged from a damaged WAL: restore from "
              "the last committed checkpoint and write again"));
        }
        return absl::FailedPreconditionError(Cat(
            "checkpoint ", ref->checkpoint_id, " of ", WriterName(key),
            " is not sealed (never prepared, aborted, or discarded by a later registration)"));
      }
      if (seal->epoch != ref->epoch || seal->rows != ref->rows || seal->checksum != ref->checksum) {
        return absl::FailedPreconditionError(Cat(
            "committable for checkpoint ", ref->checkpoint_id, " of ", WriterName(key),
            " does not match the sealed checkpoint (epoch ", ref->epoch, " vs ", seal->epoch,
            ", rows ", ref->rows, " vs ", seal->rows, ", checksum ", ref->checksum, " vs ",
            seal->checksum, ")"));
      }
    }
    for (const auto& s : sealed) {
      identities.push_back({reg->table_writer_id, s.checkpoint_id,
                            table::CheckpointDigest{s.rows, s.checksum}});
    }
    to_mark.emplace_back(key, newest->checkpoint_id);
    contributions.push_back({key, std::move(sealed)});
  }
  if (identities.empty()) return TableCommitResult{table_name, already_at, true};
  // Sealed batches stream from the store into the table's commit writer,
  // which holds a bounded buffer, so memory does not follow the checkpoint.
  // Each writer's checkpoints are read, checked and parsed on a thread of
  // their own and appended in order; different writers' entries interleave,
  // which is harmless as they own different keys (docs/protocol.md).
  // Published only while every writer's newest claim is this store's: a
  // writer registered on another sidecar since is fenced here.
  table::CommitFence fence{store_->id(), {}};
  for (const auto& c : contributions) fence.writer_ids.push_back(c.key.writer_id);
  ASSIGN_OR_RETURN(std::unique_ptr<table::CommitWriter> commit,
                   table->NewCommit(identities, std::move(fence)));
  absl::Mutex commit_mu;
  auto read_writer = [&](const Contribution& c) -> absl::Status {
    std::vector<std::pair<std::string_view, std::string_view>> entries;
    for (const auto& s : c.sealed) {
      RETURN_IF_ERROR(store_->ReadSealed(c.key, s.checkpoint_id, [&](std::string_view payload) {
        entries.clear();
        RETURN_IF_ERROR(checkpoint::ForEachStagedEntry(
            payload, [&](std::string_view k, std::string_view v) {
              entries.emplace_back(k, v);
              return absl::OkStatus();
            }));
        absl::MutexLock lock(&commit_mu);
        for (const auto& [k, v] : entries) RETURN_IF_ERROR(commit->Add(k, v));
        return absl::OkStatus();
      }));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(table::ParallelFor(contributions.size(), /*threads=*/0, [&](size_t i) {
    return read_writer(contributions[i]);
  }));
  ASSIGN_OR_RETURN(auto result, commit->Finish());
  table::ReachKillPoint(table::KillPoint::kCommitAfterPublish);
  for (const auto& [key, up_to] : to_mark) RETURN_IF_ERROR(store_->MarkCommitted(key, up_to));
  table::ReachKillPoint(table::KillPoint::kCommitAfterBookkeeping);
  ScheduleMaintenance(table_name);
  return TableCommitResult{table_name, result.snapshot_id, result.already_committed};
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
  auto table = GetTable(name);
  absl::StatusOr<MaintenanceReport> report =
      table.ok() ? MaintainTable(**table, options_.table_options, [this] { return Stopping(); })
                 : table.status();
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
                                {"compacted_files", report->compacted_input_files},
                                {"compacted_bytes", report->compacted_input_bytes},
                                {"expired_snapshots", report->snapshots_expired},
                                {"expired_files", report->files_expired},
                                {"expire_steps", report->expire_steps},
                                {"snapshots", report->latest_snapshot - report->earliest_snapshot + 1},
                                {"latest_snapshot", report->latest_snapshot},
                                {"data_files", report->data_files},
                                {"max_bucket_files", report->max_bucket_files},
                                {"seconds", absl::ToDoubleSeconds(took)}});
}

}  // namespace deltasidecar::sidecar
