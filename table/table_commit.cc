// The append commit path of Table: bucket files from a batch, the
// already-committed check, the one commit loop (TryCommit) that every kind of
// snapshot goes through, the streaming CommitWriter, and the metadata-only
// commit of prepared checkpoints (prepared_checkpoint.h).
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/kill_point.h"
#include "table/base/parallel_for.h"
#include "table/base/status_macros.h"
#include "table/partition.h"
#include "table/row.h"
#include "table/table.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

namespace {

// Kill points of this file (see table/base/kill_point.h).
const KillPoint kCommitMidDataFiles(
    "commit.mid_data_files",
    "a commit's table data files are partly written: some files, or half the buckets of its one file");
const KillPoint kCommitAfterDataFiles("commit.after_data_files",
                                      "a commit's data files are written and synced; no snapshot yet");

// An entry of a commit's batch to sort: the key's location and first eight
// bytes, so sorting and writing touch the batch's bytes only for ties and for
// copying.
struct SortEntry {
  uint64_t prefix;
  uint64_t offset;
  uint32_t key_size;
  uint32_t value_size;
};

// Sorts one bucket's run [first, last) of the batch whose bytes start at
// `data` by key and writes the latest entry of each key to `writer`.
// INVALID_ARGUMENT when an entry written has no valid operation byte; the
// writer's error when it fails.
absl::Status SortAndWriteBucketRun(const char* data, SortEntry* first, SortEntry* last,
                                   DataFileWriter* writer) {
  auto key_of = [data](const SortEntry& e) {
    return std::string_view(data + e.offset, e.key_size);
  };
  // Batch order (the offset) breaks ties, so the latest entry of a key sorts last.
  std::sort(first, last, [&](const SortEntry& x, const SortEntry& y) {
    if (x.prefix != y.prefix) return x.prefix < y.prefix;
    int c = key_of(x).compare(key_of(y));
    if (c != 0) return c < 0;
    return x.offset < y.offset;
  });
  constexpr ptrdiff_t kPrefetch = 8;
  for (SortEntry* it = first; it != last; ++it) {
    if (last - it > kPrefetch) __builtin_prefetch(data + (it + kPrefetch)->offset);
    // Of equal keys only the last (latest) entry is written.
    SortEntry* nx = it + 1;
    if (nx != last && nx->prefix == it->prefix && key_of(*nx) == key_of(*it)) continue;
    std::string_view v(data + it->offset + it->key_size, it->value_size);
    if (!ParseValueHeader(v).ok()) {
      return absl::InvalidArgumentError(Cat("a row of the batch has no valid operation byte"));
    }
    RETURN_IF_ERROR(writer->Add(key_of(*it), v));
  }
  return absl::OkStatus();
}

}  // namespace

int Table::RemoveDataFiles(const std::vector<std::string>& names) {
  int removed = 0;
  for (const auto& n : names) {
    data_files_->Evict(n);
    rocksdb::IOStatus s = storage_->fs->DeleteFile(data_files_->PathOf(n), rocksdb::IOOptions(), nullptr);
    removed += s.ok() ? 1 : 0;
  }
  return removed;
}

absl::StatusOr<std::vector<DataFileMeta>> Table::WriteBucketFiles(const MutationBatch& batch) {
  if (batch.size() > UINT32_MAX) return absl::InvalidArgumentError("a commit holds at most 2^32-1 rows");
  if (!schema_.partitioned()) return WritePartitionFiles(batch, nullptr, "");
  // Each partition's rows go to files of their own (partition.h), in batch order.
  std::map<std::string_view, std::vector<uint32_t>> partitions;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto partition = PartitionOfKey(schema_, batch.key(i));
    if (!partition.ok()) {
      return absl::InvalidArgumentError(Cat("a key of the batch is malformed: ", partition.status().message()));
    }
    partitions[*partition].push_back(static_cast<uint32_t>(i));
  }
  std::vector<DataFileMeta> out;
  for (const auto& [partition, entries] : partitions) {
    auto files = WritePartitionFiles(batch, &entries, partition);
    if (!files.ok()) {
      std::vector<std::string> written;
      for (const DataFileMeta& f : out) written.push_back(f.name);
      RemoveDataFiles(written);
      return files.status();
    }
    for (DataFileMeta& f : *files) out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::vector<DataFileMeta>> Table::WritePartitionFiles(
    const MutationBatch& batch, const std::vector<uint32_t>* entries, std::string_view partition) {
  const size_t n = entries != nullptr ? entries->size() : batch.size();
  const int buckets = schema_.buckets();
  if (n == 0) return std::vector<DataFileMeta>();
  auto entry_index = [entries](size_t j) -> size_t { return entries != nullptr ? (*entries)[j] : j; };
  // Group entry indexes by bucket (counting sort), keeping batch order.
  std::vector<uint32_t> bucket_of(n);
  std::vector<size_t> start(buckets + 1, 0);
  for (size_t j = 0; j < n; ++j) {
    bucket_of[j] = static_cast<uint32_t>(BucketOf(batch.key(entry_index(j)), buckets));
    ++start[bucket_of[j] + 1];
  }
  for (int b = 0; b < buckets; ++b) start[b + 1] += start[b];
  const char* data = batch.data();
  std::vector<SortEntry> order(n);
  {
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t j = 0; j < n; ++j) {
      const size_t i = entry_index(j);
      const MutationBatch::Entry& e = batch.entry(i);
      order[fill[bucket_of[j]]++] =
          SortEntry{KeyPrefix(batch.key(i)), e.offset, e.key_size, e.value_size};
    }
  }
  std::vector<int> nonempty;
  for (int b = 0; b < buckets; ++b) if (start[b + 1] > start[b]) nonempty.push_back(b);
  const std::vector<std::vector<int>> groups = GroupBucketsIntoFiles(nonempty, n, options_.commit_threads);
  std::vector<std::vector<DataFileMeta>> metas(groups.size());
  std::vector<std::unique_ptr<DataFileWriter>> writers(groups.size());
  absl::Status s = ParallelFor(groups.size(), options_.commit_threads, [&](size_t k) -> absl::Status {
    const std::vector<int>& group = groups[k];
    if (group.size() == 1) {
      ASSIGN_OR_RETURN(writers[k], data_files_->NewWriter(group[0], 0));
    } else {
      ASSIGN_OR_RETURN(writers[k], data_files_->NewMultiBucketWriter(0));
    }
    for (size_t i = 0; i < group.size(); ++i) {
      const int b = group[i];
      if (groups.size() == 1 && i > 0 && i == group.size() / 2) kCommitMidDataFiles.Reach();
      if (group.size() > 1) RETURN_IF_ERROR(writers[k]->StartBucket(b));
      RETURN_IF_ERROR(SortAndWriteBucketRun(data, order.data() + start[b],
                                            order.data() + start[b + 1], writers[k].get()));
    }
    ASSIGN_OR_RETURN(metas[k], writers[k]->Finish());
    if (k == 0 && groups.size() > 1) kCommitMidDataFiles.Reach();
    return absl::OkStatus();
  });
  if (!s.ok()) {
    writers.clear();  // unfinished writers remove their files
    std::vector<std::string> done;
    for (auto& m : metas) if (!m.empty()) done.push_back(m[0].name);
    RemoveDataFiles(done);
    return s;
  }
  std::vector<DataFileMeta> out;
  for (auto& group : metas) {
    for (auto& m : group) {
      m.partition = std::string(partition);
      out.push_back(std::move(m));
    }
  }
  return out;
}

absl::StatusOr<std::optional<CommitResult>> Table::CheckIdentities(
    const Snapshot& latest, const std::vector<CommitIdentity>& identities) {
  if (identities.empty()) return std::optional<CommitResult>();
  size_t present = 0;
  for (const auto& id : identities) present += latest.Contains(id) ? 1 : 0;
  if (present == 0) return std::optional<CommitResult>();
  if (present < identities.size()) {
    return absl::FailedPreconditionError(
        "some of the commit identities are already in the table and some are not");
  }
  // Every identity is checked against what was recorded with it; the answer
  // names the snapshot of the newest.
  std::optional<int64_t> at;
  for (const auto& id : identities) {
    ASSIGN_OR_RETURN(at, FindCommit(id));
  }
  return std::optional<CommitResult>(CommitResult{at.value_or(latest.id), true});
}

absl::StatusOr<CommitResult> Table::Commit(const MutationBatch& batch,
                                           const std::vector<CommitIdentity>& identities) {
  for (const auto& id : identities) RETURN_IF_ERROR(ValidateWriterId(id.writer_id));
  {
    ASSIGN_OR_RETURN(auto latest, LatestSnapshot());
    ASSIGN_OR_RETURN(auto done, CheckIdentities(*latest, identities));
    if (done) return *done;
  }
  ASSIGN_OR_RETURN(std::vector<DataFileMeta> files, WriteBucketFiles(batch));
  return PublishAppend(std::move(files), identities, std::nullopt);
}

absl::StatusOr<CommitResult> Table::PublishAppend(std::vector<DataFileMeta> files,
                                                  const std::vector<CommitIdentity>& identities,
                                                  const std::optional<CommitFence>& fence) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.name);
  if (!files.empty()) {
    absl::Status s = SyncDir(storage_->fs.get(), data_files_->dir());
    if (!s.ok()) {
      RemoveDataFiles(names);
      return s;
    }
  }
  kCommitAfterDataFiles.Reach();
  uint64_t added_entries = 0, added_deletes = 0;
  for (const auto& f : files) {
    added_entries += f.entries;
    added_deletes += f.deletes;
  }
  std::optional<CommitResult> already;
  ASSIGN_OR_RETURN(
      std::optional<int64_t> id,
      TryCommit(SnapshotKind::kAppend, Cat("commit to table '", name_, "'"), names,
                [&](const Snapshot& latest, Snapshot& next) -> absl::StatusOr<bool> {
                  // An earlier attempt whose answer was lost may have committed these.
                  ASSIGN_OR_RETURN(already, CheckIdentities(latest, identities));
                  if (already) return false;
                  if (fence) RETURN_IF_ERROR(CheckFence(*fence));
                  next.identities = identities;
                  for (const auto& ci : identities) {
                    WriterState& w = next.writers[ci.writer_id];
                    w.checkpoint_id = std::max(w.checkpoint_id, ci.checkpoint_id);
                    w.snapshot_id = next.id;
                  }
                  next.added_entries = added_entries;
                  next.added_deletes = added_deletes;
                  for (DataFileMeta f : files) {
                    f.added_in = next.id;
                    next.buckets.Append(f.bucket, std::move(f));
                  }
                  return true;
                }));
  if (id) return CommitResult{*id, false};
  return *already;
}

absl::StatusOr<std::optional<int64_t>> Table::TryCommit(
    SnapshotKind kind, std::string_view what, const std::vector<std::string>& written,
    const std::function<absl::StatusOr<bool>(const Snapshot& latest, Snapshot& next)>& build) {
  absl::MutexLock commit_lock(&commit_mu_);
  for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
    auto latest = LatestSnapshot();
    if (!latest.ok()) {
      RemoveDataFiles(written);
      return latest.status();
    }
    Snapshot next = **latest;
    next.parent_id = next.id;
    next.id += 1;
    next.time_ms = std::max(NowMs(), next.time_ms);
    next.kind = kind;
    next.identities.clear();
    next.added_entries = next.added_deletes = 0;
    next.removed.clear();
    absl::StatusOr<bool> publish = build(**latest, next);
    if (!publish.ok() || !*publish) {
      RemoveDataFiles(written);
      if (!publish.ok()) return publish.status();
      return std::optional<int64_t>();
    }
    absl::Status s = Publish(next);
    if (s.ok()) return std::optional<int64_t>(next.id);
    if (absl::IsAlreadyExists(s)) continue;  // another committer won this id
    // The link may have happened before the failure: keep the data files.
    return s;
  }
  RemoveDataFiles(written);
  return absl::AbortedError(Cat(what, " lost the race for a new snapshot ",
                                options_.max_commit_attempts, " times"));
}

absl::StatusOr<std::unique_ptr<CommitWriter>> Table::NewCommit(
    std::vector<CommitIdentity> identities, std::optional<CommitFence> fence) {
  for (const auto& id : identities) RETURN_IF_ERROR(ValidateWriterId(id.writer_id));
  return std::unique_ptr<CommitWriter>(
      new CommitWriter(this, std::move(identities), std::move(fence)));
}

namespace {
// Memory WriteBucketFiles uses per entry beyond its bytes: the batch's entry,
// the bucket index and the sort entry.
constexpr uint64_t kCommitBytesPerEntry = sizeof(MutationBatch::Entry) + 4 + 24;
}  // namespace

CommitWriter::CommitWriter(Table* table, std::vector<CommitIdentity> identities,
                           std::optional<CommitFence> fence)
    : table_(table), identities_(std::move(identities)), fence_(std::move(fence)) {}

CommitWriter::~CommitWriter() {
  if (finished_) return;
  std::vector<std::string> names;
  for (const auto& f : files_) names.push_back(f.name);
  table_->RemoveDataFiles(names);
}

absl::Status CommitWriter::Add(std::string_view key, std::string_view value) {
  const uint64_t budget = std::max<uint64_t>(table_->options_.commit_memory_bytes, 1 << 20);
  const uint64_t need = key.size() + value.size() + kCommitBytesPerEntry;
  if (!buffer_.empty() &&
      buffer_.ByteSize() + buffer_.size() * kCommitBytesPerEntry + need > budget) {
    RETURN_IF_ERROR(Spill());
  }
  // Reserved, not touched: pages become resident only as they fill, and the
  // buffer never reallocates (which would briefly need twice the memory).
  if (buffer_.empty()) buffer_.Reserve(0, budget);
  buffer_.Add(key, value);
  ++entries_;
  return absl::OkStatus();
}

absl::Status CommitWriter::Spill() {
  ASSIGN_OR_RETURN(auto files, table_->WriteBucketFiles(buffer_));
  // A later run's files follow this run's within each bucket (PublishAppend
  // appends in order), so they rank newer.
  for (auto& f : files) files_.push_back(std::move(f));
  buffer_.Clear();
  return absl::OkStatus();
}

absl::StatusOr<CommitResult> CommitWriter::Finish() {
  if (finished_) return absl::FailedPreconditionError("the commit was already finished");
  if (!buffer_.empty()) RETURN_IF_ERROR(Spill());
  finished_ = true;  // PublishAppend owns the files from here on
  return table_->PublishAppend(std::move(files_), identities_, fence_);
}

absl::StatusOr<std::vector<DataFileMeta>> CommitWriter::FinishFiles() {
  if (finished_) return absl::FailedPreconditionError("the commit was already finished");
  if (!buffer_.empty()) RETURN_IF_ERROR(Spill());
  if (!files_.empty()) {
    RETURN_IF_ERROR(SyncDir(table_->storage_->fs.get(), table_->data_files_->dir()));
  }
  finished_ = true;
  return std::move(files_);
}

namespace {

// "checkpoint N of 'identity'"
std::string PreparedName(const PreparedCheckpoint& p) {
  return Cat("checkpoint ", p.newest().checkpoint_id, " of '", p.identity, "'");
}

}  // namespace

absl::Status Table::CheckPreparedClaim(const PreparedCheckpoint& p, const Snapshot& latest) {
  ASSIGN_OR_RETURN(auto claim, claims_.Latest(p.writer_id));
  if (claim && (claim->owner != p.owner || claim->incarnation != p.incarnation)) {
    if (claim->incarnation > p.incarnation) {
      ASSIGN_OR_RETURN(bool completed, claims_.CompletedBeforeSuperseded(
                                           p.writer_id, p.incarnation, p.newest().checkpoint_id, latest));
      if (completed) return absl::OkStatus();
    }
    return absl::FailedPreconditionError(Cat(
        "writer '", p.writer_id, "' is fenced: ", PreparedName(p),
        " was sealed under incarnation ", p.incarnation, ", and incarnation ", claim->incarnation,
        " was claimed since (the writer registered again, here or on another sidecar)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CommitResult> Table::CommitPrepared(const std::vector<PreparedCheckpoint>& prepared) {
  // Every named file is read whole and checked once (a multi-bucket file is
  // named once per bucket), on the commit threads.
  // Parts committed before (a prepared checkpoint names the uncommitted
  // ones before it, as they were when it was prepared) are skipped here and
  // in the commit below: their files are the table's now, and may be
  // compacted away.
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> before, LatestSnapshot());
  std::vector<std::pair<const PreparedCheckpoint*, const DataFileMeta*>> to_check;
  absl::flat_hash_set<std::string_view> seen;
  for (const PreparedCheckpoint& p : prepared) {
    const int64_t done = before->CommittedCheckpoint(p.identity);
    for (const PreparedPart& part : p.parts) {
      if (part.checkpoint_id <= done) continue;
      for (const DataFileMeta& f : part.files) {
        if (seen.insert(f.name).second) to_check.emplace_back(&p, &f);
      }
    }
  }
  RETURN_IF_ERROR(ParallelFor(to_check.size(), options_.commit_threads, [&](size_t k) -> absl::Status {
    absl::Status s = data_files_->CheckWholeFile(*to_check[k].second);
    if (s.ok()) return s;
    return absl::DataLossError(Cat(PreparedName(*to_check[k].first), " cannot be committed: ", s.message()));
  }));
  kCommitAfterDataFiles.Reach();
  // One writer's checkpoints are applied oldest first, also across
  // incarnations: a restored checkpoint of a superseded incarnation before
  // the new incarnation's first, whose rows are newer.
  std::vector<const PreparedCheckpoint*> in_order;
  for (const PreparedCheckpoint& p : prepared) in_order.push_back(&p);
  std::stable_sort(in_order.begin(), in_order.end(), [](const PreparedCheckpoint* a, const PreparedCheckpoint* b) {
    return std::tie(a->writer_id, a->incarnation, a->newest().checkpoint_id) <
           std::tie(b->writer_id, b->incarnation, b->newest().checkpoint_id);
  });
  std::vector<CommitIdentity> identities;
  std::vector<const DataFileMeta*> files;
  std::optional<CommitResult> already;
  ASSIGN_OR_RETURN(
      std::optional<int64_t> id,
      TryCommit(SnapshotKind::kAppend, Cat("commit to table '", name_, "'"), {},
                [&](const Snapshot& latest, Snapshot& next) -> absl::StatusOr<bool> {
                  identities.clear();
                  files.clear();
                  int64_t newest_at = -1;
                  for (const PreparedCheckpoint* in : in_order) {
                    const PreparedCheckpoint& p = *in;
                    const int64_t done = latest.CommittedCheckpoint(p.identity);
                    if (done >= p.newest().checkpoint_id) {
                      // Committed before (a retry, or the answer was lost):
                      // then with the digest this one names.
                      ASSIGN_OR_RETURN(auto at, FindCommit(p.IdentityOf(p.newest())));
                      newest_at = std::max(newest_at, at.value_or(latest.id));
                      continue;
                    }
                    RETURN_IF_ERROR(CheckPreparedClaim(p, latest));
                    for (const PreparedPart& part : p.parts) {
                      if (part.checkpoint_id <= done) continue;
                      identities.push_back(p.IdentityOf(part));
                      for (const DataFileMeta& f : part.files) files.push_back(&f);
                    }
                  }
                  if (identities.empty()) {
                    already = CommitResult{newest_at < 0 ? latest.id : newest_at, true};
                    return false;
                  }
                  next.identities = identities;
                  for (const auto& ci : identities) {
                    WriterState& w = next.writers[ci.writer_id];
                    w.checkpoint_id = std::max(w.checkpoint_id, ci.checkpoint_id);
                    w.snapshot_id = next.id;
                  }
                  for (const DataFileMeta* f : files) {
                    DataFileMeta m = *f;
                    m.added_in = next.id;
                    next.added_entries += m.entries;
                    next.added_deletes += m.deletes;
                    next.buckets.Append(m.bucket, std::move(m));
                  }
                  return true;
                }));
  if (!id) return *already;
  // Committed prepared checkpoints are done, also those of the earlier parts
  // (each part was prepared on its own first); the sweep removes any left.
  for (const PreparedCheckpoint& p : prepared) {
    for (const PreparedPart& part : p.parts) {
      prepared_.Remove(PreparedFileName(p.identity, part.checkpoint_id, part.digest.checksum))
          .IgnoreError();
    }
  }
  return CommitResult{*id, false};
}

}  // namespace deltasidecar::table
