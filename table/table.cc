#include "table/table.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "table/absl_compat.h"
#include "table/file_util.h"
#include "table/kill_point.h"
#include "table/parallel_for.h"
#include "table/row.h"
#include "table/status_macros.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

namespace {


class MergedTableIterator : public TableIterator {
 public:
  explicit MergedTableIterator(std::unique_ptr<MergingIterator> it) : it_(std::move(it)) {
    it_->SeekToFirst();
  }
  bool Valid() const override { return it_->Valid(); }
  void Next() override { it_->Next(); }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return it_->value(); }
  absl::Status status() const override { return it_->status(); }

 private:
  std::unique_ptr<MergingIterator> it_;
};

}  // namespace

absl::Status ValidateTableName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.';
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return absl::InvalidArgumentError(Cat(
        "invalid table name '", name,
        "': use 1-128 letters, digits, '_', '-' or '.', not starting with '.'"));
  }
  return absl::OkStatus();
}

Table::Table(std::string root, std::string name, TableSchema schema, const TableOptions& options,
             std::shared_ptr<Storage> storage)
    : root_(std::move(root)),
      name_(std::move(name)),
      dir_(JoinPath(root_, name_)),
      schema_(std::move(schema)),
      options_(options),
      storage_(std::move(storage)),
      claims_(storage_->fs.get(), dir_) {
  data_files_ = std::make_unique<DataFiles>(storage_, JoinPath(dir_, kDataDir), options_.data_files);
}

Table::~Table() = default;

absl::Status Table::Create(const std::string& root, const std::string& name,
                           const TableSchema& schema, const TableOptions& options) {
  RETURN_IF_ERROR(ValidateTableName(name));
  auto storage = Storage::Make(options.fs);
  rocksdb::FileSystem* fs = storage->fs.get();
  rocksdb::IOOptions io;
  const std::string final_dir = JoinPath(root, name);
  if (FileExists(fs, final_dir)) {
    return absl::AlreadyExistsError(Cat("table '", name, "' already exists in ", root));
  }
  if (!FileExists(fs, root)) {
    // A new root directory is durable only once its parent is synced.
    RETURN_IF_ERROR(FromRocks(fs->CreateDirIfMissing(root, io, nullptr), "creating " + root));
    std::string parent = std::filesystem::path(root).lexically_normal().parent_path().string();
    RETURN_IF_ERROR(SyncDir(fs, parent.empty() ? "." : parent));
  }
  // Build the whole table in a temporary directory, then rename it into place:
  // a crash leaves either no table or a complete one.
  const std::string tmp = JoinPath(root, Cat(kTmpPrefix, name, "-", RandomId()));
  auto cleanup = [&] {
    for (const char* sub : {kDataDir, kSnapshotDir}) {
      std::string d = JoinPath(tmp, sub);
      auto names = ListDir(fs, d);
      if (names.ok()) for (const auto& n : *names) RemoveFile(fs, JoinPath(d, n)).IgnoreError();
      fs->DeleteDir(d, io, nullptr).PermitUncheckedError();
    }
    RemoveFile(fs, JoinPath(tmp, kTableFile)).IgnoreError();
    fs->DeleteDir(tmp, io, nullptr).PermitUncheckedError();
  };
  absl::Status s = [&]() -> absl::Status {
    RETURN_IF_ERROR(FromRocks(fs->CreateDir(tmp, io, nullptr), "creating " + tmp));
    RETURN_IF_ERROR(FromRocks(fs->CreateDir(JoinPath(tmp, kSnapshotDir), io, nullptr), "creating snapshots/"));
    RETURN_IF_ERROR(FromRocks(fs->CreateDir(JoinPath(tmp, kDataDir), io, nullptr), "creating data/"));
    nlohmann::json meta = {{"format", 1}, {"name", name}, {"created_ms", NowMs()}, {"schema", schema.ToJson()}};
    RETURN_IF_ERROR(WriteFileSynced(fs, JoinPath(tmp, kTableFile),
                                    FrameChecksummed(kTableMagic, meta.dump(2) + "\n")));
    Snapshot first;
    first.id = 0;
    first.time_ms = NowMs();
    first.kind = SnapshotKind::kCreate;
    first.buckets.resize(schema.buckets());
    RETURN_IF_ERROR(WriteFileSynced(fs, JoinPath(JoinPath(tmp, kSnapshotDir), SnapshotFileName(0)),
                                    EncodeSnapshot(first)));
    RETURN_IF_ERROR(SyncDir(fs, JoinPath(tmp, kSnapshotDir)));
    RETURN_IF_ERROR(SyncDir(fs, JoinPath(tmp, kDataDir)));
    RETURN_IF_ERROR(SyncDir(fs, tmp));
    rocksdb::IOStatus r = fs->RenameFile(tmp, final_dir, io, nullptr);
    if (!r.ok()) {
      if (FileExists(fs, JoinPath(final_dir, kTableFile))) {
        return absl::AlreadyExistsError(Cat("table '", name, "' already exists in ", root));
      }
      return FromRocks(r, "renaming " + tmp + " to " + final_dir);
    }
    return SyncDir(fs, root);
  }();
  if (!s.ok()) cleanup();
  return s;
}

absl::StatusOr<std::unique_ptr<Table>> Table::Open(const std::string& root,
                                                   const std::string& name,
                                                   const TableOptions& options) {
  RETURN_IF_ERROR(ValidateTableName(name));
  auto storage = Storage::Make(options.fs);
  const std::string path = JoinPath(JoinPath(root, name), kTableFile);
  if (!FileExists(storage->fs.get(), path)) {
    return absl::NotFoundError(Cat("table '", name, "' does not exist in ", root));
  }
  ASSIGN_OR_RETURN(std::string contents, ReadWholeFile(storage->fs.get(), path, kMaxMetadataBytes));
  ASSIGN_OR_RETURN(std::string_view body, UnframeChecksummed(kTableMagic, contents, path));
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(body);
    if (!meta.at("format").is_number_integer() || meta.at("format").get<int64_t>() != 1) {
      return absl::FailedPreconditionError(Cat(path, ": unsupported table format ", meta.at("format").dump()));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(path, " is malformed: ", e.what()));
  }
  auto schema = TableSchema::FromJson(meta["schema"]);
  if (!schema.ok()) return absl::DataLossError(Cat(path, ": ", schema.status().message()));
  return std::unique_ptr<Table>(new Table(root, name, std::move(*schema), options, std::move(storage)));
}

absl::StatusOr<std::vector<std::string>> Table::List(const std::string& root,
                                                     const TableOptions& options) {
  auto storage = Storage::Make(options.fs);
  ASSIGN_OR_RETURN(auto names, ListDir(storage->fs.get(), root));
  std::vector<std::string> tables;
  for (const auto& n : names) {
    if (!n.empty() && n[0] != '.' && FileExists(storage->fs.get(), JoinPath(JoinPath(root, n), kTableFile))) {
      tables.push_back(n);
    }
  }
  std::sort(tables.begin(), tables.end());
  return tables;
}

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
  const size_t n = batch.size();
  const int buckets = schema_.buckets();
  if (n == 0) return std::vector<DataFileMeta>();
  if (n > UINT32_MAX) return absl::InvalidArgumentError("a commit holds at most 2^32-1 rows");
  // Group entry indexes by bucket (counting sort), keeping batch order.
  std::vector<uint32_t> bucket_of(n);
  std::vector<size_t> start(buckets + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    bucket_of[i] = static_cast<uint32_t>(BucketOf(batch.key(i), buckets));
    ++start[bucket_of[i] + 1];
  }
  for (int b = 0; b < buckets; ++b) start[b + 1] += start[b];
  // Sort entries carry the key's location and first eight bytes, so sorting and
  // writing touch the batch's bytes only for ties and for copying.
  struct SortEntry {
    uint64_t prefix;
    uint64_t offset;
    uint32_t key_size;
    uint32_t value_size;
  };
  const char* data = batch.data();
  std::vector<SortEntry> order(n);
  {
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      const MutationBatch::Entry& e = batch.entry(i);
      order[fill[bucket_of[i]]++] =
          SortEntry{KeyPrefix(batch.key(i)), e.offset, e.key_size, e.value_size};
    }
  }
  auto key_of = [data](const SortEntry& e) { return std::string_view(data + e.offset, e.key_size); };
  std::vector<int> nonempty;
  for (int b = 0; b < buckets; ++b) if (start[b + 1] > start[b]) nonempty.push_back(b);
  std::vector<std::optional<DataFileMeta>> metas(nonempty.size());
  std::vector<std::unique_ptr<DataFileWriter>> writers(nonempty.size());
  absl::Status s = ParallelFor(nonempty.size(), options_.commit_threads, [&](size_t k) -> absl::Status {
    const int b = nonempty[k];
    SortEntry* first = order.data() + start[b];
    SortEntry* last = order.data() + start[b + 1];
    // Batch order (the offset) breaks ties, so the latest entry of a key sorts last.
    std::sort(first, last, [&](const SortEntry& x, const SortEntry& y) {
      if (x.prefix != y.prefix) return x.prefix < y.prefix;
      int c = key_of(x).compare(key_of(y));
      if (c != 0) return c < 0;
      return x.offset < y.offset;
    });
    ASSIGN_OR_RETURN(writers[k], data_files_->NewWriter(b, 0));
    constexpr ptrdiff_t kPrefetch = 8;
    for (SortEntry* it = first; it != last; ++it) {
      if (last - it > kPrefetch) __builtin_prefetch(data + (it + kPrefetch)->offset);
      // Of equal keys only the last (latest) entry is written.
      SortEntry* nx = it + 1;
      if (nx != last && nx->prefix == it->prefix && key_of(*nx) == key_of(*it)) continue;
      std::string_view v(data + it->offset + it->key_size, it->value_size);
      if (v.empty() || (static_cast<RowOp>(v[0]) != RowOp::kUpsert && static_cast<RowOp>(v[0]) != RowOp::kDelete)) {
        return absl::InvalidArgumentError(Cat("a row of the batch has no valid operation byte"));
      }
      RETURN_IF_ERROR(writers[k]->Add(key_of(*it), v));
    }
    ASSIGN_OR_RETURN(metas[k], writers[k]->Finish());
    if (k == 0 && nonempty.size() > 1) ReachKillPoint(KillPoint::kCommitMidDataFiles);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    writers.clear();  // unfinished writers remove their files
    std::vector<std::string> done;
    for (auto& m : metas) if (m) done.push_back(m->name);
    RemoveDataFiles(done);
    return s;
  }
  std::vector<DataFileMeta> out;
  for (auto& m : metas) out.push_back(std::move(*m));
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
  ReachKillPoint(KillPoint::kCommitAfterDataFiles);
  uint64_t added_entries = 0, added_deletes = 0;
  for (const auto& f : files) {
    added_entries += f.entries;
    added_deletes += f.deletes;
  }
  absl::MutexLock commit_lock(&commit_mu_);
  for (int attempt = 0; attempt < options_.max_commit_attempts; ++attempt) {
    auto latest = LatestSnapshot();
    if (!latest.ok()) {
      RemoveDataFiles(names);
      return latest.status();
    }
    auto done = CheckIdentities(**latest, identities);
    if (!done.ok() || *done) {
      // Someone (an earlier attempt whose answer was lost) committed these identities.
      RemoveDataFiles(names);
      if (!done.ok()) return done.status();
      return **done;
    }
    if (fence) {
      if (absl::Status f = CheckFence(*fence); !f.ok()) {
        RemoveDataFiles(names);
        return f;
      }
    }
    Snapshot next = **latest;
    next.parent_id = next.id;
    next.id += 1;
    next.time_ms = std::max(NowMs(), next.time_ms);
    next.kind = SnapshotKind::kAppend;
    next.identities = identities;
    for (const auto& id : identities) {
      WriterState& w = next.writers[id.writer_id];
      w.checkpoint_id = std::max(w.checkpoint_id, id.checkpoint_id);
      w.snapshot_id = next.id;
    }
    next.added_entries = added_entries;
    next.added_deletes = added_deletes;
    next.removed.clear();
    for (auto f : files) {
      f.added_in = next.id;
      next.buckets[f.bucket].push_back(std::move(f));
    }
    absl::Status s = Publish(next);
    if (s.ok()) return CommitResult{next.id, false};
    if (absl::IsAlreadyExists(s)) continue;  // another committer won this id
    // The link may have happened before the failure: keep the data files.
    return s;
  }
  RemoveDataFiles(names);
  return absl::AbortedError(Cat("commit to table '", name_, "' lost the race for a new snapshot ",
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

absl::StatusOr<std::optional<std::string>> Table::Get(const Snapshot& snapshot,
                                                      std::string_view key) {
  const auto& files = snapshot.buckets[BucketOf(key, schema_.buckets())];
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    ASSIGN_OR_RETURN(auto v, data_files_->Get(*it, key));
    if (!v) continue;
    ASSIGN_OR_RETURN(RowOp op, ValueOp(*v));
    if (op == RowOp::kDelete) return std::optional<std::string>();
    return v;
  }
  return std::optional<std::string>();
}

absl::StatusOr<std::unique_ptr<rocksdb::Iterator>> Table::OpenForRead(int64_t snapshot_id,
                                                                      const DataFileMeta& file) {
  auto it = data_files_->NewScanIterator(file);
  if (it.ok() || !absl::IsDataLoss(it.status())) return it;
  auto earliest = EarliestId();
  if (earliest.ok() && snapshot_id < *earliest) {
    return absl::NotFoundError(Cat("snapshot ", snapshot_id, " of table '", name_,
                                   "' was expired while it was being read"));
  }
  return it;
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewScan(const Snapshot& snapshot) {
  std::vector<MergingIterator::Child> children;
  for (const auto& files : snapshot.buckets) {
    // Keys never repeat across buckets, so a rank only has to order a bucket's own files.
    for (size_t i = 0; i < files.size(); ++i) {
      ASSIGN_OR_RETURN(auto it, OpenForRead(snapshot.id, files[i]));
      children.push_back({std::move(it), static_cast<int64_t>(i)});
    }
  }
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/true)));
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewBucketScan(
    const Snapshot& snapshot, int bucket, std::string_view lower,
    const std::optional<std::string>& upper) {
  if (bucket < 0 || static_cast<size_t>(bucket) >= snapshot.buckets.size()) {
    return absl::InvalidArgumentError(Cat("bucket ", bucket, " is out of range"));
  }
  std::vector<MergingIterator::Child> children;
  const auto& files = snapshot.buckets[bucket];
  for (size_t i = 0; i < files.size(); ++i) {
    if (std::string_view(files[i].max_key) < lower) continue;
    if (upper && std::string_view(files[i].min_key) >= std::string_view(*upper)) continue;
    ASSIGN_OR_RETURN(auto it, OpenForRead(snapshot.id, files[i]));
    children.push_back({std::move(it), static_cast<int64_t>(i)});
  }
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/true)));
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewChanges(int64_t from, int64_t to) {
  if (from > to) {
    return absl::InvalidArgumentError(Cat("changes from snapshot ", from, " to snapshot ", to, ": the start is after the end"));
  }
  // `from` must still be retained: files added after it are then still on disk.
  RETURN_IF_ERROR(LoadSnapshot(from).status());
  std::vector<MergingIterator::Child> children;
  // Snapshots in id order and, within one, a bucket's files oldest first (a
  // large commit writes several per bucket): the rank grows with recency.
  int64_t rank = 0;
  for (int64_t id = from + 1; id <= to; ++id) {
    ASSIGN_OR_RETURN(auto s, LoadSnapshot(id));
    if (s->kind != SnapshotKind::kAppend) continue;
    for (const auto& files : s->buckets) {
      for (const auto& f : files) {
        if (f.added_in != id) continue;
        ASSIGN_OR_RETURN(auto it, OpenForRead(from, f));
        children.push_back({std::move(it), rank++});
      }
    }
  }
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/false)));
}

absl::StatusOr<std::vector<std::string>> Table::Verify() {
  std::vector<std::string> problems;
  auto reopened = Open(root_, name_, options_);
  if (!reopened.ok()) problems.push_back(std::string(reopened.status().message()));
  ASSIGN_OR_RETURN(auto names, ListDir(storage_->fs.get(), JoinPath(dir_, kSnapshotDir)));
  std::vector<int64_t> ids;
  for (const auto& n : names) if (int64_t id = ParseSnapshotFileName(n); id >= 0) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::map<std::string, DataFileMeta> files;
  {
    absl::MutexLock lock(&mu_);
    cache_.clear();  // check the bytes on disk, not what was parsed earlier
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && ids[i] != ids[i - 1] + 1) {
      problems.push_back(Cat("snapshots ", ids[i - 1] + 1, " to ", ids[i] - 1, " are missing"));
    }
    auto s = LoadSnapshot(ids[i]);
    if (!s.ok()) {
      problems.push_back(std::string(s.status().message()));
      continue;
    }
    for (const auto& bucket : (*s)->buckets)
      for (const auto& f : bucket) files.emplace(f.name, f);
  }
  for (const auto& [name, meta] : files) {
    absl::Status s = data_files_->Verify(meta);
    if (!s.ok()) problems.push_back(std::string(s.message()));
  }
  return problems;
}

}  // namespace deltasidecar::table
