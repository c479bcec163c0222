#include "sidecar/sidecar_server.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "nlohmann/json.hpp"

#include "table/absl_compat.h"
#include "table/file_util.h"
#include "table/kill_point.h"
#include "table/status_macros.h"

namespace deltasidecar::sidecar {

namespace {

std::string WriterName(const checkpoint::WriterKey& w) {
  return Cat("writer '", w.writer_id, "' of table '", w.table, "'");
}

}  // namespace

SidecarServer::SidecarServer(SidecarOptions options, std::unique_ptr<checkpoint::StagingStore> store)
    : options_(std::move(options)), store_(std::move(store)) {
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
}

SidecarServer::~SidecarServer() { Shutdown(); }

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

absl::StatusOr<checkpoint::Registration> SidecarServer::RegisterWriter(
    const std::string& table_name, const std::string& writer_id, std::optional<int64_t> restored) {
  RETURN_IF_ERROR(table::ValidateWriterId(writer_id));
  if (restored && *restored < 0) {
    return absl::InvalidArgumentError(Cat("restored checkpoint id ", *restored, " is negative"));
  }
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  checkpoint::WriterKey key{table_name, writer_id};
  absl::MutexLock stripe(&writer_stripes_[StripeOf(table_name, writer_id)]);
  // What the table holds for the writer's current identity decides whether a
  // restore rewinds past committed checkpoints.
  int64_t table_last = -1;
  auto current = store_->Lookup(key);
  std::string identity = current.ok() ? current->table_writer_id : writer_id;
  if (current.ok()) RETURN_IF_ERROR(CatchUp(*table, key));
  ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
  if (auto it = latest->writers.find(identity); it != latest->writers.end()) {
    table_last = it->second.checkpoint_id;
  }
  return store_->Register(key, restored, table_last);
}

absl::StatusOr<uint32_t> SidecarServer::Write(const std::string& table_name,
                                              const std::string& writer_id, int64_t epoch,
                                              std::string_view rows, uint32_t row_count) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  checkpoint::WriterKey key{table_name, writer_id};
  RETURN_IF_ERROR(store_->CheckEpoch(key, epoch));
  ASSIGN_OR_RETURN(auto table, GetTable(table_name));
  table::MutationBatch batch;
  RETURN_IF_ERROR(DecodeWireRows(table->schema(), rows, row_count, options_.wire_limits, &batch));
  std::string payload;
  payload.reserve(batch.ByteSize() + 4 * batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    checkpoint::AppendStagedEntry(batch.key(i), batch.value(i), &payload);
  }
  RETURN_IF_ERROR(store_->Stage(key, epoch, payload, static_cast<uint32_t>(batch.size())).status());
  return static_cast<uint32_t>(batch.size());
}

absl::StatusOr<CommittableRef> SidecarServer::PrepareCommit(const std::string& table_name,
                                                            const std::string& writer_id,
                                                            int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  if (checkpoint_id < 0) {
    return absl::InvalidArgumentError(Cat("checkpoint id ", checkpoint_id, " is negative"));
  }
  ASSIGN_OR_RETURN(auto sealed, store_->Seal({table_name, writer_id}, epoch, checkpoint_id));
  return ToCommittable(table_name, writer_id, sealed);
}

absl::Status SidecarServer::Abort(const std::string& table_name, const std::string& writer_id,
                                  int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(table::ValidateTableName(table_name));
  return store_->Abort({table_name, writer_id}, epoch, checkpoint_id);
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
    ASSIGN_OR_RETURN(auto r, CommitTable(name, by_table[name]));
    results.push_back(std::move(r));
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
      if (!checkpoint::IsIdentityOf(ref->identity, writer_id)) {
        return absl::InvalidArgumentError(Cat("committable identity '", ref->identity,
                                               "' does not belong to ", WriterName(key)));
      }
      ASSIGN_OR_RETURN(auto at, table->FindCommit({ref->identity, ref->checkpoint_id}));
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
                     table->FindCommit({reg->table_writer_id, newest->checkpoint_id}));
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
        ASSIGN_OR_RETURN(auto at, table->FindCommit({reg->table_writer_id, ref->checkpoint_id}));
        if (at) continue;  // committed before: nothing to check against
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
    for (const auto& s : sealed) identities.push_back({reg->table_writer_id, s.checkpoint_id});
    to_mark.emplace_back(key, newest->checkpoint_id);
    contributions.push_back({key, std::move(sealed)});
  }
  if (identities.empty()) return TableCommitResult{table_name, already_at, true};
  // Sealed batches stream from the store into the table's commit writer,
  // which holds a bounded buffer, so memory does not follow the checkpoint.
  ASSIGN_OR_RETURN(std::unique_ptr<table::CommitWriter> commit, table->NewCommit(identities));
  for (const auto& c : contributions) {
    for (const auto& s : c.sealed) {
      RETURN_IF_ERROR(store_->ReadSealed(c.key, s.checkpoint_id, [&](std::string_view payload) {
        return checkpoint::ForEachStagedEntry(payload, [&](std::string_view k, std::string_view v) {
          return commit->Add(k, v);
        });
      }));
    }
  }
  ASSIGN_OR_RETURN(auto result, commit->Finish());
  table::ReachKillPoint(table::KillPoint::kCommitAfterPublish);
  for (const auto& [key, up_to] : to_mark) RETURN_IF_ERROR(store_->MarkCommitted(key, up_to));
  table::ReachKillPoint(table::KillPoint::kCommitAfterBookkeeping);
  ScheduleMaintenance(table_name);
  return TableCommitResult{table_name, result.snapshot_id, result.already_committed};
}

void SidecarServer::ScheduleMaintenance(const std::string& table) {
  absl::MutexLock lock(&maintenance_mu_);
  if (std::find(maintenance_queue_.begin(), maintenance_queue_.end(), table) == maintenance_queue_.end()) {
    maintenance_queue_.push_back(table);
  }
}

bool SidecarServer::MaintenanceReady() const { return stopping_ || !maintenance_queue_.empty(); }

void SidecarServer::MaintenanceLoop() {
  for (;;) {
    std::string next;
    {
      absl::MutexLock lock(&maintenance_mu_);
      maintenance_mu_.Await(absl::Condition(this, &SidecarServer::MaintenanceReady));
      if (stopping_) return;
      next = maintenance_queue_.front();
      maintenance_queue_.erase(maintenance_queue_.begin());
    }
    auto table = GetTable(next);
    if (table.ok()) {
      // Failures are retried after the next commit; the data is safe either way.
      (*table)->RunMaintenance().IgnoreError();
    }
  }
}

}  // namespace deltasidecar::sidecar
