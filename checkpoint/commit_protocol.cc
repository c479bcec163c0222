#include "checkpoint/commit_protocol.h"

#include <algorithm>
#include <map>
#include <set>

#include "table/base/absl_compat.h"
#include "table/base/kill_point.h"
#include "table/base/parallel_for.h"
#include "table/base/status_macros.h"

namespace deltasidecar::checkpoint {

namespace {

// Kill points of this file (see table/base/kill_point.h).
const KillPoint kCommitAfterPublish("commit.after_publish",
                                    "the table snapshot is published; the staging store is not told");
const KillPoint kCommitAfterBookkeeping("commit.after_bookkeeping",
                                        "the staging store marked the checkpoints committed; Commit has not answered");

std::string WriterName(const WriterKey& w) {
  return Cat("writer '", w.writer_id, "' of table '", w.table, "'");
}

// The table identity of a committable under `identity`, with the digest its
// seal had, which an "already committed" answer must match.
table::CommitIdentity IdentityOf(const Committable& ref, const std::string& identity) {
  return {identity, ref.checkpoint_id, table::CheckpointDigest{ref.rows, ref.checksum}};
}

}  // namespace

Committable ToCommittable(const std::string& table, const std::string& writer_id,
                          const SealedCheckpoint& sealed) {
  return Committable{table,       writer_id,       sealed.epoch,   sealed.checkpoint_id,
                     sealed.rows, sealed.checksum, sealed.identity};
}

CommitProtocol::CommitProtocol(StagingStore* store, TableSource tables)
    : store_(store), tables_(std::move(tables)) {}

size_t CommitProtocol::StripeOf(const std::string& table, const std::string& writer_id) const {
  return std::hash<std::string>()(Cat(table, '\0', writer_id)) % kWriterStripes;
}

// --- Register -----------------------------------------------------------------

absl::StatusOr<Registration> CommitProtocol::Register(const std::string& table_name,
                                                      const std::string& writer_id,
                                                      std::optional<int64_t> restored) {
  RETURN_IF_ERROR(table::ValidateWriterId(writer_id));
  if (restored && *restored < 0) {
    return absl::InvalidArgumentError(Cat("restored checkpoint id ", *restored, " is negative"));
  }
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  const WriterKey key{table_name, writer_id};
  absl::MutexLock stripe(&writer_stripes_[StripeOf(table_name, writer_id)]);
  ASSIGN_OR_RETURN(Incarnation chosen, ChooseIncarnation(*table, key, restored));
  return store_->Register(key, restored, chosen.table_last_committed, chosen.incarnation);
}

absl::StatusOr<CommitProtocol::Incarnation> CommitProtocol::ChooseIncarnation(
    table::Table& table, const WriterKey& key, std::optional<int64_t> restored) {
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
    if (!NeedsNewIncarnation(restored, committed)) {
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

// --- Seal ---------------------------------------------------------------------

absl::StatusOr<SealedCheckpoint> CommitProtocol::Seal(const std::string& table_name,
                                                      const std::string& writer_id, int64_t epoch,
                                                      int64_t checkpoint_id) {
  if (checkpoint_id < 0) {
    return absl::InvalidArgumentError(Cat("checkpoint id ", checkpoint_id, " is negative"));
  }
  // A writer registered on another store since is fenced here: its zombie
  // must not seal (and later commit) what the new owner will write again.
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  RETURN_IF_ERROR(table->CheckFence({store_->id(), {writer_id}}));
  return store_->Seal({table_name, writer_id}, epoch, checkpoint_id);
}

// --- Commit -------------------------------------------------------------------

absl::StatusOr<TableCommitResult> CommitProtocol::CommitTable(
    const std::string& table_name, const std::vector<const Committable*>& refs) {
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  std::map<std::string, std::vector<const Committable*>> by_writer;
  for (const Committable* c : refs) by_writer[c->writer_id].push_back(c);
  std::set<size_t> stripes;
  for (const auto& [writer_id, mine] : by_writer) stripes.insert(StripeOf(table_name, writer_id));
  std::vector<std::unique_ptr<absl::MutexLock>> held;
  for (size_t s : stripes) held.push_back(std::make_unique<absl::MutexLock>(&writer_stripes_[s]));

  // Every committable is checked before any data is read, so a refused
  // Commit changes nothing.
  CommitPlan plan;
  for (const auto& [writer_id, mine] : by_writer) {
    RETURN_IF_ERROR(PlanWriter(*table, {table_name, writer_id}, mine, &plan));
  }
  if (plan.contributions.empty()) return TableCommitResult{table_name, plan.already_at, true};

  std::vector<table::CommitIdentity> identities;
  // Published only while every writer's newest claim is this store's: a
  // writer registered on another store since is fenced here.
  table::CommitFence fence{store_->id(), {}};
  for (const Contribution& c : plan.contributions) {
    for (const auto& s : c.sealed) {
      identities.push_back({c.identity, s.checkpoint_id, table::CheckpointDigest{s.rows, s.checksum}});
    }
    fence.writer_ids.push_back(c.key.writer_id);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<table::CommitWriter> commit,
                   table->NewCommit(std::move(identities), std::move(fence)));
  RETURN_IF_ERROR(WriteContributions(plan, *commit));
  ASSIGN_OR_RETURN(auto result, commit->Finish());
  kCommitAfterPublish.Reach();
  for (const Contribution& c : plan.contributions) {
    RETURN_IF_ERROR(store_->MarkCommitted(c.key, c.up_to));
  }
  kCommitAfterBookkeeping.Reach();
  return TableCommitResult{table_name, result.snapshot_id, result.already_committed};
}

absl::Status CommitProtocol::PlanWriter(table::Table& table, const WriterKey& key,
                                        const std::vector<const Committable*>& mine,
                                        CommitPlan* plan) {
  auto reg = store_->Lookup(key);
  if (absl::IsNotFound(reg.status())) {
    return absl::FailedPreconditionError(Cat(WriterName(key), " is not registered"));
  }
  RETURN_IF_ERROR(reg.status());
  // Committables of the writer's current identity; the newest decides what is committed.
  std::vector<const Committable*> current;
  for (const Committable* ref : mine) {
    if (ref->identity.empty() || ref->identity == reg->table_writer_id) {
      current.push_back(ref);
      continue;
    }
    // Sealed by an earlier incarnation of the writer: the table alone says
    // what became of it.
    if (!table::IncarnationOf(ref->identity, key.writer_id)) {
      return absl::InvalidArgumentError(Cat("committable identity '", ref->identity,
                                             "' does not belong to ", WriterName(key)));
    }
    ASSIGN_OR_RETURN(auto at, table.FindCommit(IdentityOf(*ref, ref->identity)));
    if (!at) {
      return absl::FailedPreconditionError(Cat(
          "checkpoint ", ref->checkpoint_id, " of ", WriterName(key), " (as '", ref->identity,
          "') was never committed and was discarded when the writer registered again under a "
          "new identity"));
    }
    plan->already_at = std::max(plan->already_at, *at);
  }
  if (current.empty()) return absl::OkStatus();
  const Committable* newest = *std::max_element(
      current.begin(), current.end(),
      [](const Committable* a, const Committable* b) { return a->checkpoint_id < b->checkpoint_id; });
  // Already in the table (a retry, or a crash after the table commit)? Then
  // so is every earlier checkpoint of this identity; their seals are gone.
  ASSIGN_OR_RETURN(auto committed_at, table.FindCommit(IdentityOf(*newest, reg->table_writer_id)));
  if (committed_at) {
    RETURN_IF_ERROR(store_->MarkCommitted(key, newest->checkpoint_id));
    plan->already_at = std::max(plan->already_at, *committed_at);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CatchUp(table, key));
  ASSIGN_OR_RETURN(auto sealed, store_->SealedUpTo(key, newest->checkpoint_id));
  for (const Committable* ref : current) {
    auto seal = std::find_if(sealed.begin(), sealed.end(), [&](const SealedCheckpoint& c) {
      return c.checkpoint_id == ref->checkpoint_id;
    });
    if (seal == sealed.end()) {
      ASSIGN_OR_RETURN(auto at, table.FindCommit(IdentityOf(*ref, reg->table_writer_id)));
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
  plan->contributions.push_back(
      {key, reg->table_writer_id, std::move(sealed), newest->checkpoint_id});
  return absl::OkStatus();
}

absl::Status CommitProtocol::WriteContributions(const CommitPlan& plan,
                                                table::CommitWriter& commit) {
  // Sealed batches stream from the store into the table's commit writer,
  // which holds a bounded buffer, so memory does not follow the checkpoint.
  // Each writer's checkpoints are read, checked and parsed on a thread of
  // their own and appended in order; different writers' entries interleave,
  // which is harmless as they own different keys (docs/protocol.md).
  absl::Mutex commit_mu;
  auto read_writer = [&](const Contribution& c) -> absl::Status {
    std::vector<std::pair<std::string_view, std::string_view>> entries;
    for (const auto& s : c.sealed) {
      RETURN_IF_ERROR(store_->ReadSealed(c.key, s.checkpoint_id, [&](std::string_view payload) {
        entries.clear();
        RETURN_IF_ERROR(ForEachStagedEntry(payload, [&](std::string_view k, std::string_view v) {
          entries.emplace_back(k, v);
          return absl::OkStatus();
        }));
        absl::MutexLock lock(&commit_mu);
        for (const auto& [k, v] : entries) RETURN_IF_ERROR(commit.Add(k, v));
        return absl::OkStatus();
      }));
    }
    return absl::OkStatus();
  };
  return ParallelFor(plan.contributions.size(), /*threads=*/0,
                            [&](size_t i) { return read_writer(plan.contributions[i]); });
}

// --- Recover ------------------------------------------------------------------

absl::Status CommitProtocol::CatchUp(table::Table& table, const WriterKey& writer) {
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

absl::Status CommitProtocol::Recover() {
  ASSIGN_OR_RETURN(auto writers, store_->Writers());
  for (const auto& w : writers) {
    auto table = tables_(w.table);
    if (absl::IsNotFound(table.status())) continue;  // dropped by hand; nothing to reconcile
    RETURN_IF_ERROR(table.status());
    absl::MutexLock stripe(&writer_stripes_[StripeOf(w.table, w.writer_id)]);
    RETURN_IF_ERROR(CatchUp(**table, w));
  }
  return absl::OkStatus();
}

}  // namespace deltasidecar::checkpoint
