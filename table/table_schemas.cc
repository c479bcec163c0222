// Table: schema versions and ALTER (schema evolution, schema_change.h).
//
//   schemas/schema-<id, 20 digits>   version id >= 1, created once with link(2)
//
// A snapshot records the version it is read under; an ALTER publishes a
// snapshot of kind ALTER that records a new one and changes no files. Version
// ids are never reused: an ALTER takes one above every version file present,
// so a file left by an ALTER that crashed before publishing is skipped, never
// overwritten (no snapshot names it, and no value was written under it).
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/table.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

absl::StatusOr<SchemaFile> Table::LoadSchemaFile(int64_t id) {
  const std::string path = JoinPath(JoinPath(dir_, kSchemaDir), SchemaFileName(id));
  rocksdb::FileSystem* fs = storage_->fs.get();
  if (!FileExists(fs, path)) {
    return absl::DataLossError(Cat("schema version ", id, " of table '", name_, "' is missing (",
                                   path, ")"));
  }
  ASSIGN_OR_RETURN(std::string contents, ReadWholeFile(fs, path, kMaxMetadataBytes));
  ASSIGN_OR_RETURN(SchemaFile file, DecodeSchemaFile(contents, path));
  if (file.schema.id() != id || file.schema.buckets() != schema_.buckets()) {
    return absl::DataLossError(Cat(path, " holds version ", file.schema.id(), " with ",
                                   file.schema.buckets(), " buckets; expected version ", id,
                                   " with ", schema_.buckets()));
  }
  return file;
}

absl::StatusOr<std::shared_ptr<const TableSchema>> Table::SchemaVersion(int64_t id) {
  if (id == 0) return base_schema_;
  if (id < 0) return absl::InvalidArgumentError(Cat("schema version ", id, " is negative"));
  {
    absl::MutexLock lock(&mu_);
    if (auto it = schema_files_.find(id); it != schema_files_.end()) {
      return std::shared_ptr<const TableSchema>(it->second, &it->second->schema);
    }
  }
  ASSIGN_OR_RETURN(SchemaFile file, LoadSchemaFile(id));
  auto shared = std::make_shared<const SchemaFile>(std::move(file));
  absl::MutexLock lock(&mu_);
  auto it = schema_files_.emplace(id, std::move(shared)).first;
  return std::shared_ptr<const TableSchema>(it->second, &it->second->schema);
}

absl::StatusOr<std::shared_ptr<const TableSchema>> Table::SchemaOf(const Snapshot& snapshot) {
  return SchemaVersion(snapshot.schema_id);
}

absl::StatusOr<std::shared_ptr<const TableSchema>> Table::SchemaOfSnapshot(int64_t id) {
  ASSIGN_OR_RETURN(auto snapshot, SnapshotById(id));
  return SchemaOf(*snapshot);
}

absl::StatusOr<std::shared_ptr<const TableSchema>> Table::CurrentSchema() {
  ASSIGN_OR_RETURN(auto latest, LatestSnapshot());
  return SchemaOf(*latest);
}

absl::StatusOr<std::string> Table::SchemaChangesOf(int64_t id) {
  if (id == 0) return std::string();
  RETURN_IF_ERROR(SchemaVersion(id).status());
  absl::MutexLock lock(&mu_);
  return schema_files_.at(id)->changes;
}

absl::StatusOr<std::unique_ptr<ValueReader>> Table::ReaderFor(const Snapshot& snapshot) {
  // A snapshot of version 0 holds only values written under it.
  if (snapshot.schema_id == 0) return std::unique_ptr<ValueReader>();
  ASSIGN_OR_RETURN(std::shared_ptr<const TableSchema> target, SchemaOf(snapshot));
  return std::make_unique<ValueReader>(
      std::move(target), [this](int64_t id) { return SchemaVersion(id); });
}

absl::StatusOr<Table::AlterResult> Table::Alter(const std::vector<SchemaChange>& changes) {
  if (changes.empty()) return absl::InvalidArgumentError("ALTER with no changes");
  rocksdb::FileSystem* fs = storage_->fs.get();
  ASSIGN_OR_RETURN(auto latest, LatestSnapshot());
  ASSIGN_OR_RETURN(std::shared_ptr<const TableSchema> current, SchemaOf(*latest));

  // 1. The new version: one above the current and every version file present.
  const std::string dir = JoinPath(dir_, kSchemaDir);
  RETURN_IF_ERROR(CreateDirDurably(fs, dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(fs, dir));
  int64_t id = current->id();
  for (const auto& n : names) id = std::max(id, ParseSchemaFileName(n));
  ++id;
  ASSIGN_OR_RETURN(TableSchema next_schema, ApplySchemaChanges(*current, changes, id));
  std::vector<std::string> texts;
  for (const SchemaChange& c : changes) texts.push_back(c.ToString());
  SchemaFile file{std::move(next_schema), absl::StrJoin(texts, "; "), NowMs()};

  // 2. Its file, created once.
  const std::string tmp = JoinPath(dir, Cat(kTmpPrefix, RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs, tmp, EncodeSchemaFile(file)));
  absl::Status linked = LinkNoReplace(fs, tmp, JoinPath(dir, SchemaFileName(id)));
  RemoveFile(fs, tmp).IgnoreError();
  if (absl::IsAlreadyExists(linked)) {
    return absl::AbortedError(Cat("another ALTER of table '", name_, "' took schema version ", id,
                                  "; retry"));
  }
  RETURN_IF_ERROR(linked);
  RETURN_IF_ERROR(SyncDir(fs, dir));

  // 3. The ALTER snapshot, on top of the version the changes were applied to.
  const int64_t base = current->id();
  ASSIGN_OR_RETURN(std::optional<int64_t> published,
                   TryCommit(SnapshotKind::kAlter, Cat("ALTER of table '", name_, "'"), {},
                             [&](const Snapshot& now, Snapshot& next) -> absl::StatusOr<bool> {
                               if (now.schema_id != base) {
                                 return absl::AbortedError(Cat(
                                     "the schema of table '", name_, "' changed to version ",
                                     now.schema_id, " during the ALTER; retry"));
                               }
                               next.schema_id = id;
                               return true;
                             }));
  auto shared = std::make_shared<const SchemaFile>(std::move(file));
  std::shared_ptr<const TableSchema> schema(shared, &shared->schema);
  {
    absl::MutexLock lock(&mu_);
    schema_files_.emplace(id, std::move(shared));
  }
  return AlterResult{published.value_or(latest->id), std::move(schema)};
}

}  // namespace deltasidecar::table
