// Table: manifest storage (docs/table-format.md §5): writing the manifest of
// a snapshot about to be published, reading (and caching) manifests, and
// resolving a format 2 snapshot's files from them.
#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/manifest.h"
#include "table/table.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

std::string Table::ManifestPath(std::string_view name) const {
  return JoinPath(JoinPath(dir_, kManifestDir), std::string(name));
}

absl::StatusOr<std::shared_ptr<const Manifest>> Table::LoadManifest(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = manifest_cache_.find(name);
    if (it != manifest_cache_.end()) return it->second;
  }
  const std::string path = ManifestPath(name);
  auto contents = ReadWholeFile(storage_->fs.get(), path, kMaxMetadataBytes);
  if (absl::IsNotFound(contents.status())) {
    return absl::DataLossError(Cat("manifest ", path, " is missing"));
  }
  if (!contents.ok()) return contents.status();
  ASSIGN_OR_RETURN(Manifest m, DecodeManifest(*contents, path, schema_.buckets()));
  auto shared = std::make_shared<const Manifest>(std::move(m));
  absl::MutexLock lock(&mu_);
  manifest_cache_[name] = shared;
  while (manifest_cache_.size() > kManifestCacheSize) manifest_cache_.erase(manifest_cache_.begin());
  return shared;
}

absl::Status Table::ResolveFiles(Snapshot& snapshot, std::string_view what) {
  // A snapshot whose list extends its parent's (a commit's usual change
  // manifest) starts from the parent's files when the parent is cached, so a
  // snapshot another process published costs its own manifest, not the
  // whole list again.
  size_t first = 0;
  std::shared_ptr<const Snapshot> parent;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(snapshot.parent_id); it != cache_.end()) parent = it->second;
  }
  if (parent && !parent->manifests.empty() &&
      parent->manifests.size() < snapshot.manifests.size() &&
      std::equal(parent->manifests.begin(), parent->manifests.end(), snapshot.manifests.begin()) &&
      parent->buckets.size() == snapshot.buckets.size()) {
    snapshot.buckets = parent->buckets;
    first = parent->manifests.size();
  }
  for (size_t i = first; i < snapshot.manifests.size(); ++i) {
    const ManifestRef& ref = snapshot.manifests[i];
    ASSIGN_OR_RETURN(auto manifest, LoadManifest(ref.name));
    if (manifest->added.size() != ref.added || manifest->removed.size() != ref.removed) {
      return absl::DataLossError(Cat(what, " names manifest ", ref.name, " with ", ref.added,
                                     " files added and ", ref.removed, " removed; it holds ",
                                     manifest->added.size(), " and ", manifest->removed.size()));
    }
    RETURN_IF_ERROR(ApplyManifest(*manifest, Cat(what, ", manifest ", ref.name), &snapshot.buckets));
  }
  return absl::OkStatus();
}

absl::StatusOr<ManifestRef> Table::WriteManifest(const Manifest& manifest) {
  rocksdb::FileSystem* fs = storage_->fs.get();
  const std::string dir = JoinPath(dir_, kManifestDir);
  RETURN_IF_ERROR(CreateDirDurably(fs, dir));  // tables of format 1 have none yet
  ManifestRef ref{NewManifestFileName(), manifest.added.size(), manifest.removed.size()};
  // A new name, never reused: written in place, named by no snapshot until
  // the snapshot that names it is published (an orphan if that never is).
  RETURN_IF_ERROR(WriteFileSynced(fs, ManifestPath(ref.name), EncodeManifest(manifest)));
  RETURN_IF_ERROR(SyncDir(fs, dir));
  return ref;
}

absl::StatusOr<std::optional<std::string>> Table::PlanManifests(Snapshot& next) {
  ASSIGN_OR_RETURN(auto parent, LoadSnapshot(next.parent_id));
  // A parent of format 1 names no manifests although it may have files.
  const bool parent_listed = !parent->manifests.empty() || parent->FileCount() == 0;
  std::optional<Manifest> delta;
  if (parent_listed && parent->manifests.size() < kMaxManifests) {
    delta = DiffBuckets(parent->buckets, next.buckets);
  }
  if (delta && delta->added.empty() && delta->removed.empty()) {
    next.manifests = parent->manifests;
    return std::optional<std::string>();
  }
  Manifest written = delta ? *std::move(delta) : BaseManifest(next.buckets);
  next.manifests = delta ? parent->manifests : std::vector<ManifestRef>();
  if (written.added.empty() && written.removed.empty()) return std::optional<std::string>();
  ASSIGN_OR_RETURN(ManifestRef ref, WriteManifest(written));
  next.manifests.push_back(ref);
  return std::optional<std::string>(ref.name);
}

int Table::RemoveManifests(const Snapshot& expired, const Snapshot& kept) {
  absl::flat_hash_set<std::string_view> live;
  for (const auto& ref : kept.manifests) live.insert(ref.name);
  int removed = 0;
  for (const auto& ref : expired.manifests) {
    if (live.contains(ref.name)) continue;
    if (RemoveFile(storage_->fs.get(), ManifestPath(ref.name)).ok()) ++removed;
  }
  return removed;
}

absl::StatusOr<std::vector<std::string>> Table::ListManifests() {
  rocksdb::FileSystem* fs = storage_->fs.get();
  const std::string dir = JoinPath(dir_, kManifestDir);
  if (!FileExists(fs, dir)) return std::vector<std::string>();  // format 1 tables have none
  return ListDir(fs, dir);
}

}  // namespace deltasidecar::table
