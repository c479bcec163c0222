#include "checkpoint/commit_protocol.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "table/base/absl_compat.h"
#include "table/base/kill_point.h"
#include "table/base/parallel_for.h"
#include "table/base/status_macros.h"

namespace deltasidecar::checkpoint {

namespace {

// Kill points of this file (see table/base/kill_point.h).
const KillPoint kCommitAfterPublish("commit.after_publish",
                                    "the table snapshot is published; the staging store is not told");
const KillPoint kPrepareAfterFiles("prepare.after_files",
                                   "a sealed checkpoint's table data files are written and synced; it is not prepared yet");
const KillPoint kPrepareAfterPublish("prepare.after_publish",
                                     "a sealed checkpoint is prepared in the table root; the next one is not");
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

// FAILED_PRECONDITION when a committable's digest differs from the part of
// `p` for its checkpoint.
absl::Status CheckAgainstPrepared(const table::PreparedCheckpoint& p,
                                  const std::vector<const Committable*>& refs, const WriterKey& key) {
  for (const Committable* ref : refs) {
    auto part = std::find_if(p.parts.begin(), p.parts.end(), [&](const table::PreparedPart& x) {
      return x.checkpoint_id == ref->checkpoint_id;
    });
    const table::CheckpointDigest want{ref->rows, ref->checksum};
    if (part != p.parts.end() && part->digest != want) {
      return absl::FailedPreconditionError(Cat(
          "committable for checkpoint ", ref->checkpoint_id, " of ", WriterName(key),
          " does not match its prepared checkpoint (rows ", ref->rows, " vs ", part->digest.rows,
          ", checksum ", ref->checksum, " vs ", part->digest.checksum, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Committable ToCommittable(const std::string& table, const std::string& writer_id,
                          const SealedCheckpoint& sealed) {
  return Committable{table,       writer_id,       sealed.epoch,   sealed.checkpoint_id,
                     sealed.rows, sealed.checksum, sealed.identity};
}

CommitProtocol::CommitProtocol(StagingStore* store, TableSource tables,
                               absl::Duration prepared_wait, int prepare_threads)
    : store_(store),
      tables_(std::move(tables)),
      prepared_wait_(prepared_wait),
      prepare_threads_(std::max(prepare_threads, 1)) {}

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
  auto before = store_->Lookup(key);
  if (!before.ok() && !absl::IsNotFound(before.status())) return before.status();
  ASSIGN_OR_RETURN(Registration reg,
                   store_->Register(key, restored, chosen.table_last_committed, chosen.incarnation));
  if (before.ok()) {
    // What the restore dropped must not be committed from the table root.
    RETURN_IF_ERROR(table->prepared().RemoveFrom(before->table_writer_id, restored ? *restored + 1 : 0));
  }
  return reg;
}

absl::Status CommitProtocol::Abort(const std::string& table_name, const std::string& writer_id,
                                   int64_t epoch, int64_t checkpoint_id) {
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  const WriterKey key{table_name, writer_id};
  absl::MutexLock stripe(&writer_stripes_[StripeOf(table_name, writer_id)]);
  RETURN_IF_ERROR(store_->Abort(key, epoch, checkpoint_id));
  ASSIGN_OR_RETURN(auto reg, store_->Lookup(key));
  return table->prepared().RemoveFrom(reg.table_writer_id, checkpoint_id);
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
    chosen.table_last_committed = latest->CommittedCheckpoint(identity);
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
  if (claim && restored && !ours) RETURN_IF_ERROR(KeepRestored(table, *claim, *restored));
  ASSIGN_OR_RETURN(auto claimed,
                   claims.ClaimNext(key.writer_id, owner, *latest, restored.value_or(-1)));
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
  CommitPhases phases;
  absl::Time mark = absl::Now();
  auto phase_ends = [&mark](absl::Duration* phase) {
    const absl::Time now = absl::Now();
    *phase += now - mark;
    mark = now;
  };
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  std::map<std::string, std::vector<const Committable*>> by_writer;
  for (const Committable* c : refs) by_writer[c->writer_id].push_back(c);
  // A writer's committables of the identity this store holds as its current
  // one are staged here; the others were staged on another store, or by an
  // earlier incarnation, and come prepared from the table root.
  auto split = [&](const std::string& writer_id, const std::vector<const Committable*>& mine,
                   std::vector<const Committable*>* here,
                   std::map<std::string, std::vector<const Committable*>>* elsewhere) -> absl::Status {
    auto reg = store_->Lookup({table_name, writer_id});
    if (!reg.ok() && !absl::IsNotFound(reg.status())) return reg.status();
    for (const Committable* c : mine) {
      if (reg.ok() && (c->identity.empty() || c->identity == reg->table_writer_id)) {
        here->push_back(c);
      } else {
        (*elsewhere)[c->identity].push_back(c);
      }
    }
    return absl::OkStatus();
  };
  // Every committable is checked before anything is published, so a refused
  // Commit changes nothing. Those of other stores first, holding no stripe:
  // their wait for another sidecar's preparation must not stop this
  // store's own preparations, which that sidecar's commits may be waiting for.
  CommitPlan plan;
  std::map<std::string, std::vector<const Committable*>> staged_here;
  for (const auto& [writer_id, mine] : by_writer) {
    std::vector<const Committable*> here;
    std::map<std::string, std::vector<const Committable*>> elsewhere;
    RETURN_IF_ERROR(split(writer_id, mine, &here, &elsewhere));
    if (!here.empty()) staged_here.emplace(writer_id, std::move(here));
    for (const auto& [identity, theirs] : elsewhere) {
      RETURN_IF_ERROR(PlanRemote(*table, writer_id, identity, theirs, &plan));
    }
  }
  phase_ends(&phases.plan);
  std::set<size_t> stripes;
  for (const auto& [writer_id, mine] : staged_here) stripes.insert(StripeOf(table_name, writer_id));
  std::vector<std::unique_ptr<absl::MutexLock>> held;
  for (size_t s : stripes) held.push_back(std::make_unique<absl::MutexLock>(&writer_stripes_[s]));
  phase_ends(&phases.lock);
  for (const auto& [writer_id, mine] : staged_here) {
    // Looked at again under the stripe: the writer may have registered
    // again since (here, or on another store).
    std::vector<const Committable*> here;
    std::map<std::string, std::vector<const Committable*>> elsewhere;
    RETURN_IF_ERROR(split(writer_id, mine, &here, &elsewhere));
    if (!here.empty()) {
      RETURN_IF_ERROR(PlanWriter(*table, {table_name, writer_id}, here, &plan));
    }
    for (const auto& [identity, theirs] : elsewhere) {
      RETURN_IF_ERROR(PlanRemote(*table, writer_id, identity, theirs, &plan));
    }
  }
  phase_ends(&phases.plan);
  std::vector<table::PreparedCheckpoint> prepared = std::move(plan.remote);
  ASSIGN_OR_RETURN(auto local, PrepareContributions(*table, plan.contributions));
  for (auto& p : local) prepared.push_back(std::move(p));
  phase_ends(&phases.prepare);
  if (prepared.empty()) {
    return TableCommitResult{table_name, plan.already_at, true, std::move(plan.waits), phases};
  }
  ASSIGN_OR_RETURN(auto result, table->CommitPrepared(prepared));
  kCommitAfterPublish.Reach();
  phase_ends(&phases.publish);
  for (const Contribution& c : plan.contributions) {
    RETURN_IF_ERROR(store_->MarkCommitted(c.key, c.up_to));
  }
  kCommitAfterBookkeeping.Reach();
  phase_ends(&phases.bookkeeping);
  if (result.already_committed) result.snapshot_id = std::max(result.snapshot_id, plan.already_at);
  return TableCommitResult{table_name, result.snapshot_id, result.already_committed,
                           std::move(plan.waits), phases};
}

absl::StatusOr<std::vector<table::PreparedCheckpoint>> CommitProtocol::PrepareContributions(
    table::Table& table, const std::vector<Contribution>& contributions) {
  // Each contribution is another writer, whose stripe this commit holds, so
  // no two threads ever prepare one writer.
  std::vector<table::PreparedCheckpoint> out(contributions.size());
  RETURN_IF_ERROR(ParallelFor(contributions.size(), prepare_threads_, [&](size_t i) -> absl::Status {
    const Contribution& c = contributions[i];
    PrepareResult wrote;
    ASSIGN_OR_RETURN(auto p, PrepareLocked(table, c.key, c.reg, c.sealed, &wrote));
    if (!p || p->newest().checkpoint_id != c.up_to) {
      return absl::FailedPreconditionError(Cat("checkpoint ", c.up_to, " of ", WriterName(c.key),
                                               " could not be prepared: it is no longer sealed"));
    }
    out[i] = std::move(*p);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status CommitProtocol::PlanRemote(table::Table& table, const std::string& writer_id,
                                        const std::string& given_identity,
                                        const std::vector<const Committable*>& refs,
                                        CommitPlan* plan) {
  const WriterKey key{table.name(), writer_id};
  ASSIGN_OR_RETURN(auto claim, table.claims().Latest(writer_id));
  if (!claim) return absl::FailedPreconditionError(Cat(WriterName(key), " is not registered"));
  const std::string identity = given_identity.empty()
                                   ? table::IncarnationIdentity(writer_id, claim->incarnation)
                                   : given_identity;
  auto incarnation = table::IncarnationOf(identity, writer_id);
  if (!incarnation) {
    return absl::InvalidArgumentError(
        Cat("committable identity '", identity, "' does not belong to ", WriterName(key)));
  }
  const Committable* newest = *std::max_element(
      refs.begin(), refs.end(),
      [](const Committable* a, const Committable* b) { return a->checkpoint_id < b->checkpoint_id; });
  // Committed before (a retry, a lost answer)? FindCommit also checks the digest.
  bool all_committed = true;
  for (const Committable* ref : refs) {
    ASSIGN_OR_RETURN(auto at, table.FindCommit(IdentityOf(*ref, identity)));
    if (at) {
      plan->already_at = std::max(plan->already_at, *at);
    } else {
      all_committed = false;
    }
  }
  if (all_committed) return absl::OkStatus();
  bool superseded_but_completed = false;
  if (claim->incarnation > *incarnation) {
    // A restore that started a new incarnation kept this checkpoint when it
    // restored from it or a later one; then it is committed from its
    // prepared files, before the new incarnation commits anything.
    ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
    ASSIGN_OR_RETURN(superseded_but_completed,
                     table.claims().CompletedBeforeSuperseded(writer_id, *incarnation,
                                                              newest->checkpoint_id, *latest));
  }
  if (claim->incarnation != *incarnation && !superseded_but_completed) {
    return absl::FailedPreconditionError(Cat(
        "checkpoint ", newest->checkpoint_id, " of ", WriterName(key), " (as '", identity,
        "') was never committed, and the writer registered again under a new identity that "
        "did not keep it (restored from an earlier checkpoint) or has committed since"));
  }
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + prepared_wait_;
  std::vector<uint64_t> others;  // checksums of other prepared versions, once the wait is over
  bool last_look = false;
  for (bool first_look = true;; first_look = false) {
    ASSIGN_OR_RETURN(auto p, table.prepared().Find(identity, newest->checkpoint_id, newest->checksum));
    if (p) {
      RETURN_IF_ERROR(CheckAgainstPrepared(*p, refs, key));
      if (!first_look) {
        plan->waits.push_back({writer_id, newest->checkpoint_id, newest->rows, absl::Now() - start});
      }
      plan->remote.push_back(std::move(*p));
      return absl::OkStatus();
    }
    if (last_look) break;
    if (absl::Now() >= deadline) {
      ASSIGN_OR_RETURN(others, table.prepared().ChecksumsOf(identity, newest->checkpoint_id));
      // Linked just after the look above: one more look finds it.
      last_look = std::find(others.begin(), others.end(), newest->checksum) != others.end();
      if (!last_look) break;
      continue;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Another prepared version of the checkpoint may be an abandoned attempt
  // (sealed, never completed, then the id reused after a restore), so it is
  // only the answer once the wait is over.
  others.erase(std::remove(others.begin(), others.end(), newest->checksum), others.end());
  if (!others.empty()) {
    return absl::FailedPreconditionError(Cat(
        "committable for checkpoint ", newest->checkpoint_id, " of ", WriterName(key),
        " does not match its prepared checkpoint (checksum ", newest->checksum, " vs ",
        others.front(), ")"));
  }
  return absl::UnavailableError(Cat(
      "checkpoint ", newest->checkpoint_id, " of ", WriterName(key), " (as '", identity,
      "') is not prepared in the table root yet: the sidecar that sealed it writes it after the "
      "seal (retry; if that sidecar is gone for good, restore the job and write it again)"));
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
  plan->contributions.push_back({key, *std::move(reg), std::move(sealed), newest->checkpoint_id});
  return absl::OkStatus();
}

// --- Prepare ------------------------------------------------------------------

absl::StatusOr<PrepareResult> CommitProtocol::Prepare(const std::string& table_name,
                                                      const std::string& writer_id) {
  ASSIGN_OR_RETURN(auto table, tables_(table_name));
  const WriterKey key{table_name, writer_id};
  absl::Mutex& stripe = writer_stripes_[StripeOf(table_name, writer_id)];
  PrepareResult wrote;
  for (;;) {
    // 1. Under the stripe: the oldest sealed checkpoint not prepared yet.
    std::optional<SealedCheckpoint> next;
    std::shared_ptr<FilesInFlight> flight;
    {
      absl::MutexLock held(&stripe);
      ASSIGN_OR_RETURN(WriterSeals seals, UncommittedSeals(*table, key));
      for (const SealedCheckpoint& s : seals.sealed) {
        ASSIGN_OR_RETURN(auto found, table->prepared().Find(seals.reg.table_writer_id,
                                                            s.checkpoint_id, s.checksum));
        if (!found) {
          next = s;
          break;
        }
      }
      if (!next) return wrote;
      flight = StartFlight(key, *next);
      if (!flight) return wrote;  // another preparation is writing it
    }
    auto landed = absl::MakeCleanup([&] { EndFlight(key, *next); });
    // 2. Without the stripe, so that a commit of the writer's earlier
    // checkpoints goes on meanwhile: its table data files.
    flight->files = WriteSealedFiles(*table, key, next->checkpoint_id);
    flight->written.Notify();
    RETURN_IF_ERROR(flight->files.status());
    // 3. Under the stripe again: published as prepared while it is still
    // the writer's seal (a registration or an abort since leaves the files
    // to the orphan sweep), through the path a commit prepares by.
    absl::MutexLock held(&stripe);
    ASSIGN_OR_RETURN(WriterSeals seals, UncommittedSeals(*table, key));
    std::vector<SealedCheckpoint>& sealed = seals.sealed;
    auto it = std::find_if(sealed.begin(), sealed.end(), [&](const SealedCheckpoint& s) {
      return s.checkpoint_id == next->checkpoint_id;
    });
    if (it == sealed.end() || it->checksum != next->checksum || it->epoch != next->epoch) {
      return wrote;
    }
    sealed.erase(it + 1, sealed.end());
    RETURN_IF_ERROR(PrepareLocked(*table, key, seals.reg, sealed, &wrote).status());
  }
}

absl::StatusOr<CommitProtocol::WriterSeals> CommitProtocol::UncommittedSeals(table::Table& table,
                                                                           const WriterKey& key) {
  WriterSeals out;
  auto reg = store_->Lookup(key);
  if (absl::IsNotFound(reg.status())) return out;
  RETURN_IF_ERROR(reg.status());
  ASSIGN_OR_RETURN(auto claim, table.claims().Latest(key.writer_id));
  if (claim && (claim->owner != store_->id() || claim->incarnation != reg->incarnation)) {
    return out;  // fenced: the writer's new owner writes it again
  }
  // What the table committed is never prepared again: its seals go first.
  RETURN_IF_ERROR(CatchUp(table, key));
  ASSIGN_OR_RETURN(out.sealed, store_->SealedUpTo(key, std::numeric_limits<int64_t>::max()));
  out.reg = *std::move(reg);
  return out;
}

std::shared_ptr<CommitProtocol::FilesInFlight> CommitProtocol::StartFlight(
    const WriterKey& key, const SealedCheckpoint& s) {
  absl::MutexLock l(&flights_mu_);
  auto [it, inserted] = flights_.try_emplace({key.table, key.writer_id, s.checkpoint_id, s.checksum});
  if (!inserted) return nullptr;
  it->second = std::make_shared<FilesInFlight>();
  return it->second;
}

void CommitProtocol::EndFlight(const WriterKey& key, const SealedCheckpoint& s) {
  absl::MutexLock l(&flights_mu_);
  flights_.erase({key.table, key.writer_id, s.checkpoint_id, s.checksum});
}

absl::StatusOr<std::vector<table::DataFileMeta>> CommitProtocol::FilesOf(table::Table& table,
                                                                         const WriterKey& key,
                                                                         const SealedCheckpoint& s) {
  std::shared_ptr<FilesInFlight> flight;
  {
    absl::MutexLock l(&flights_mu_);
    auto it = flights_.find({key.table, key.writer_id, s.checkpoint_id, s.checksum});
    if (it != flights_.end()) flight = it->second;
  }
  if (flight) {
    // Written without the stripe this thread holds, so the wait ends.
    flight->written.WaitForNotification();
    if (flight->files.ok()) return flight->files;
  }
  return WriteSealedFiles(table, key, s.checkpoint_id);
}

absl::StatusOr<std::optional<table::PreparedCheckpoint>> CommitProtocol::PrepareLocked(
    table::Table& table, const WriterKey& key, const Registration& reg,
    const std::vector<SealedCheckpoint>& sealed, PrepareResult* wrote) {
  std::vector<table::PreparedPart> parts;
  std::optional<table::PreparedCheckpoint> last;
  for (const SealedCheckpoint& s : sealed) {
    const std::string& identity = reg.table_writer_id;
    ASSIGN_OR_RETURN(auto found, table.prepared().Find(identity, s.checkpoint_id, s.checksum));
    if (!found) {
      table::PreparedCheckpoint p{identity,     key.writer_id, reg.incarnation, store_->id(),
                                  absl::ToUnixMillis(absl::Now()), parts};
      table::PreparedPart part{s.checkpoint_id, {s.rows, s.checksum}, {}};
      ASSIGN_OR_RETURN(part.files, FilesOf(table, key, s));
      p.parts.push_back(std::move(part));
      // When another preparer got there first, its files are the ones named.
      ASSIGN_OR_RETURN(found, table.prepared().Create(p));
      kPrepareAfterPublish.Reach();
      wrote->checkpoint_id = s.checkpoint_id;
      ++wrote->checkpoints;
      wrote->rows += s.rows;
    }
    parts.push_back(found->newest());
    last = std::move(found);
  }
  return last;
}

absl::StatusOr<std::vector<table::DataFileMeta>> CommitProtocol::WriteSealedFiles(
    table::Table& table, const WriterKey& key, int64_t checkpoint_id) {
  // The sealed batches stream into the table's commit writer, which holds a
  // bounded buffer, so memory does not follow the checkpoint.
  ASSIGN_OR_RETURN(std::unique_ptr<table::CommitWriter> files, table.NewCommit({}));
  RETURN_IF_ERROR(store_->ReadSealed(key, checkpoint_id, [&](std::string_view payload) {
    return ForEachStagedEntry(payload, [&](std::string_view k, std::string_view v) {
      return files->Add(k, v);
    });
  }));
  ASSIGN_OR_RETURN(auto written, files->FinishFiles());
  kPrepareAfterFiles.Reach();
  return written;
}

absl::Status CommitProtocol::KeepRestored(table::Table& table, const table::WriterClaim& claim,
                                          int64_t restored) {
  const std::string identity = table::IncarnationIdentity(claim.writer_id, claim.incarnation);
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  if (latest->Contains({identity, restored, std::nullopt})) return absl::OkStatus();
  auto newest_prepared = [&]() -> absl::StatusOr<std::optional<table::PreparedCheckpoint>> {
    ASSIGN_OR_RETURN(auto checksums, table.prepared().ChecksumsOf(identity, restored));
    std::optional<table::PreparedCheckpoint> newest;
    for (uint64_t c : checksums) {
      ASSIGN_OR_RETURN(auto p, table.prepared().Find(identity, restored, c));
      if (p && (!newest || p->time_ms > newest->time_ms)) newest = std::move(p);
    }
    return newest;
  };
  if (!claim.restored) {
    // The claim does not record its restore point, so the new claim could
    // not show that the checkpoint was kept: commit it now if it is prepared.
    ASSIGN_OR_RETURN(auto newest, newest_prepared());
    if (!newest) return absl::OkStatus();  // not prepared: its commit will say so
    return table.CommitPrepared({*newest}).status();
  }
  // A checkpoint above the one the claim's registration restored from was
  // sealed under this identity by the claim's owner (the job completed it,
  // since it restores from it), which prepares it in the background after
  // the seal, and stops once fenced: wait for that before claiming. The
  // restored committables' Commit then publishes it with the rest of the
  // checkpoint. Otherwise (at or below it) it belongs to an earlier identity
  // whose preparation that registration waited for.
  if (*claim.restored >= restored || claim.owner == store_->id()) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + prepared_wait_;
  for (;;) {
    ASSIGN_OR_RETURN(auto newest, newest_prepared());
    if (newest) return absl::OkStatus();
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const int64_t replay_from = std::max(*claim.restored, latest->CommittedCheckpoint(identity));
  return absl::UnavailableError(Cat(
      "the restored checkpoint ", restored, " of writer '", claim.writer_id, "' of table '",
      table.name(), "' (as '", identity, "') was sealed on another sidecar (staging store ",
      claim.owner, ") and is not prepared in the table root yet: that sidecar writes it after the "
      "seal (retry; if that sidecar is gone for good, ",
      replay_from >= 0 ? Cat("restore the job from checkpoint ", replay_from, " or earlier")
                       : std::string("start the job without a restored checkpoint"),
      ", so that the source replays it)"));
}

// --- Recover ------------------------------------------------------------------

absl::Status CommitProtocol::CatchUp(table::Table& table, const WriterKey& writer) {
  ASSIGN_OR_RETURN(auto reg, store_->Lookup(writer));
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  const int64_t committed = latest->CommittedCheckpoint(reg.table_writer_id);
  if (committed > reg.last_committed) {
    // The table committed these before the store heard of it (a crash
    // between the two): the table decides.
    RETURN_IF_ERROR(store_->MarkCommitted(writer, committed));
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
