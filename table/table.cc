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
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/kill_point.h"
#include "table/base/parallel_for.h"
#include "table/partition.h"
#include "table/row.h"
#include "table/base/status_macros.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

namespace {

// Merged rows, their values read under the snapshot's schema version by
// `reader` (none needed for version 0).
class MergedTableIterator : public TableIterator {
 public:
  MergedTableIterator(std::unique_ptr<MergingIterator> it, std::unique_ptr<ValueReader> reader)
      : it_(std::move(it)), reader_(std::move(reader)) {
    it_->SeekToFirst();
    Settle();
  }
  bool Valid() const override { return status_.ok() && it_->Valid(); }
  void Next() override {
    it_->Next();
    Settle();
  }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return value_; }
  absl::Status status() const override { return status_.ok() ? it_->status() : status_; }

 private:
  void Settle() {
    if (!it_->Valid()) return;
    if (reader_ == nullptr) {
      value_ = it_->value();
      return;
    }
    absl::StatusOr<std::string_view> v = reader_->Read(it_->value());
    if (v.ok()) {
      value_ = *v;
    } else {
      status_ = v.status();
    }
  }

  std::unique_ptr<MergingIterator> it_;
  std::unique_ptr<ValueReader> reader_;
  std::string_view value_;
  absl::Status status_;
};

// A file's entries, each as a delete of its key (what a partition drop did
// to them).
class AsDeletesIterator : public rocksdb::Iterator {
 public:
  explicit AsDeletesIterator(std::unique_ptr<rocksdb::Iterator> base) : base_(std::move(base)) {}
  bool Valid() const override { return base_->Valid(); }
  void SeekToFirst() override { base_->SeekToFirst(); }
  void SeekToLast() override { base_->SeekToLast(); }
  void Seek(const rocksdb::Slice& target) override { base_->Seek(target); }
  void SeekForPrev(const rocksdb::Slice& target) override { base_->SeekForPrev(target); }
  void Next() override { base_->Next(); }
  void Prev() override { base_->Prev(); }
  rocksdb::Slice key() const override { return base_->key(); }
  rocksdb::Slice value() const override {
    const std::string_view d = DeleteValue();
    return rocksdb::Slice(d.data(), d.size());
  }
  rocksdb::Status status() const override { return base_->status(); }

 private:
  std::unique_ptr<rocksdb::Iterator> base_;
};

}  // namespace

bool ReadBounds::MayContain(const DataFileMeta& file) const {
  if (bucket && file.bucket != *bucket) return false;
  if (upper && *upper <= lower) return false;  // empty bounds
  if (!file.key_range_known) {
    if (file.partition.empty()) return true;
    // Every key of the section starts with its partition.
    if (upper && std::string_view(*upper) <= std::string_view(file.partition)) return false;
    const std::optional<std::string> end = PartitionEnd(file.partition);
    return !end || std::string_view(lower) < std::string_view(*end);
  }
  if (std::string_view(file.max_key) < std::string_view(lower)) return false;
  return !upper || std::string_view(file.min_key) < std::string_view(*upper);
}

absl::Status ValidateTableName(const std::string& name) {
  if (!IsPortableName(name)) {
    return absl::InvalidArgumentError(Cat(
        "invalid table name '", name,
        "': use 1-128 letters, digits, '_', '-' or '.', not starting with '.'"));
  }
  return absl::OkStatus();
}

namespace {

// `options` with the fields the table's properties set replaced.
TableOptions WithProperties(TableOptions options, const TablePropertyValues& v) {
  if (v.compaction_trigger_files) options.compaction.trigger_files = *v.compaction_trigger_files;
  if (v.compaction_size_ratio) options.compaction.size_ratio = *v.compaction_size_ratio;
  if (v.compaction_max_size_amplification) {
    options.compaction.max_size_amplification = *v.compaction_max_size_amplification;
  }
  if (v.retention_min_snapshots) options.retention.min_snapshots = *v.retention_min_snapshots;
  if (v.retention_max_snapshots) options.retention.max_snapshots = *v.retention_max_snapshots;
  if (v.retention_max_age) options.retention.max_age = *v.retention_max_age;
  if (v.retention_consumer_max_age) {
    options.retention.consumer_max_age = *v.retention_consumer_max_age;
  }
  if (v.partition_expiration) options.partition_expiration = *v.partition_expiration;
  options.retention.max_snapshots =
      std::max(options.retention.max_snapshots, options.retention.min_snapshots);
  return options;
}

}  // namespace

Table::Table(std::string root, std::string name, TableSchema schema, const TableOptions& options,
             TableProperties properties, std::shared_ptr<Storage> storage)
    : root_(std::move(root)),
      name_(std::move(name)),
      dir_(JoinPath(root_, name_)),
      schema_(std::move(schema)),
      base_schema_(std::make_shared<const TableSchema>(schema_)),
      options_(options),
      properties_(std::move(properties)),
      storage_(std::move(storage)),
      claims_(storage_->fs.get(), dir_),
      prepared_(storage_->fs.get(), dir_, schema_.buckets()),
      consumers_(storage_->fs.get(), dir_) {
  data_files_ = std::make_unique<DataFiles>(storage_, JoinPath(dir_, kDataDir), options_.data_files);
}

Table::~Table() = default;

absl::Status Table::Create(const std::string& root, const std::string& name,
                           const TableSchema& schema, const TableOptions& options,
                           const TableProperties& properties) {
  RETURN_IF_ERROR(ValidateTableName(name));
  ASSIGN_OR_RETURN(TablePropertyValues values, ParseTableProperties(properties));
  if (values.partition_expiration && !PartitionTimeColumn(schema)) {
    return absl::InvalidArgumentError(
        "table property partition.expiration-time needs a partition column of type DATE, "
        "DATETIME, TIMESTAMP, TIMESTAMP_LTZ or STRING (such as ds = '20261201'), whose value is "
        "the partition's time");
  }
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
    if (!properties.empty()) meta["options"] = properties;
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
  TableProperties properties;
  if (auto it = meta.find("options"); it != meta.end()) {
    if (!it->is_object()) return absl::DataLossError(Cat(path, ": 'options' is not an object"));
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) return absl::DataLossError(Cat(path, ": option '", key, "' is not a string"));
      properties[key] = value.get<std::string>();
    }
  }
  auto values = ParseTableProperties(properties);
  if (!values.ok()) return absl::DataLossError(Cat(path, ": ", values.status().message()));
  return std::unique_ptr<Table>(new Table(root, name, std::move(*schema),
                                          WithProperties(options, *values), std::move(properties),
                                          std::move(storage)));
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

absl::StatusOr<std::optional<std::string>> Table::Get(const Snapshot& snapshot,
                                                      std::string_view key) {
  const auto& files = snapshot.buckets[BucketOf(key, schema_.buckets())];
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    ASSIGN_OR_RETURN(auto v, data_files_->Get(*it, key));
    if (!v) continue;
    ASSIGN_OR_RETURN(RowOp op, ValueOp(*v));
    if (op == RowOp::kDelete) return std::optional<std::string>();
    ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> reader, ReaderFor(snapshot));
    if (reader == nullptr) return v;
    ASSIGN_OR_RETURN(std::string_view read, reader->Read(*v));
    return std::optional<std::string>(std::string(read));
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

absl::Status Table::AddReadChild(int64_t snapshot_id, const DataFileMeta& file, int64_t rank,
                                const ReadBounds& bounds, ReadStats* stats, bool as_deletes,
                                std::vector<MergingIterator::Child>* children) {
  if (!bounds.MayContain(file)) {
    if (stats != nullptr) ++stats->files_skipped;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::Iterator> it, OpenForRead(snapshot_id, file));
  if (stats != nullptr) ++stats->files_opened;
  if (as_deletes) it = std::make_unique<AsDeletesIterator>(std::move(it));
  children->push_back({std::move(it), rank});
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewScan(const Snapshot& snapshot,
                                                              const ReadBounds& bounds,
                                                              ReadStats* stats) {
  std::vector<MergingIterator::Child> children;
  for (const auto& files : snapshot.buckets) {
    // Keys never repeat across buckets, so a rank only has to order a bucket's own files.
    for (size_t i = 0; i < files.size(); ++i) {
      RETURN_IF_ERROR(AddReadChild(snapshot.id, files[i], static_cast<int64_t>(i), bounds, stats,
                                   /*as_deletes=*/false, &children));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> reader, ReaderFor(snapshot));
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/true),
      std::move(reader)));
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewBucketScan(
    const Snapshot& snapshot, int bucket, std::string_view lower,
    const std::optional<std::string>& upper, ReadStats* stats) {
  if (bucket < 0 || static_cast<size_t>(bucket) >= snapshot.buckets.size()) {
    return absl::InvalidArgumentError(Cat("bucket ", bucket, " is out of range"));
  }
  const ReadBounds bounds{std::string(lower), upper, bucket};
  std::vector<MergingIterator::Child> children;
  const auto& files = snapshot.buckets[bucket];
  for (size_t i = 0; i < files.size(); ++i) {
    RETURN_IF_ERROR(AddReadChild(snapshot.id, files[i], static_cast<int64_t>(i), bounds, stats,
                                 /*as_deletes=*/false, &children));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> reader, ReaderFor(snapshot));
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/true),
      std::move(reader)));
}

absl::StatusOr<std::unique_ptr<TableIterator>> Table::NewChanges(int64_t from, int64_t to,
                                                                 const ReadBounds& bounds,
                                                                 ReadStats* stats) {
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
    if (s->kind == SnapshotKind::kDropPartition) {
      // Every key of a dropped partition's files is deleted here: read them as deletes.
      const absl::flat_hash_set<std::string_view> removed(s->removed.begin(), s->removed.end());
      ASSIGN_OR_RETURN(auto parent, LoadSnapshot(id - 1));
      for (const auto& files : parent->buckets) {
        for (const auto& f : files) {
          if (!removed.contains(f.name)) continue;
          RETURN_IF_ERROR(AddReadChild(id - 1, f, rank++, bounds, stats, /*as_deletes=*/true, &children));
        }
      }
      continue;
    }
    if (s->kind != SnapshotKind::kAppend) continue;
    for (const auto& files : s->buckets) {
      for (const auto& f : files) {
        if (f.added_in != id) continue;
        // A skipped file still takes its rank, keeping the others in order:
        // no key in the bounds needs it to decide which entry wins.
        RETURN_IF_ERROR(AddReadChild(from, f, rank++, bounds, stats, /*as_deletes=*/false, &children));
      }
    }
  }
  ASSIGN_OR_RETURN(auto last, LoadSnapshot(to));
  ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> reader, ReaderFor(*last));
  return std::unique_ptr<TableIterator>(new MergedTableIterator(
      std::make_unique<MergingIterator>(std::move(children), /*skip_deletes=*/false),
      std::move(reader)));
}

absl::StatusOr<std::vector<std::string>> Table::Verify(const ProgressHook& progress) {
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
    manifest_cache_.clear();
    schema_files_.clear();
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
    if (auto schema = SchemaOf(**s); !schema.ok()) {
      problems.push_back(std::string(schema.status().message()));
    }
    for (const auto& bucket : (*s)->buckets) {
      for (const auto& f : bucket) {
        files.emplace(f.name, f);
        // A partitioned table's file holds the keys of its partition only (§8.1).
        if (!f.partition.empty() && f.key_range_known &&
            (!std::string_view(f.min_key).starts_with(f.partition) ||
             !std::string_view(f.max_key).starts_with(f.partition))) {
          problems.push_back(Cat("snapshot ", ids[i], ": data file ", f.name,
                                 " holds keys outside its partition"));
        }
      }
    }
  }
  WorkProgress done{0, static_cast<int64_t>(files.size()), 0};
  for (const auto& [name, meta] : files) {
    absl::Status s = data_files_->Verify(meta);
    if (!s.ok()) problems.push_back(std::string(s.message()));
    ++done.done;
    done.bytes += meta.size_bytes;
    if (progress) progress(done);
  }
  return problems;
}

}  // namespace deltasidecar::table
