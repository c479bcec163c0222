// Table: snapshot storage: paths, the cache, latest, as-of, history, publishing,
// finding a commit by identity, and the writers' fence.
#include "table/table.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/kill_point.h"
#include "table/base/parallel_for.h"
#include "table/row.h"
#include "table/base/status_macros.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

namespace {
const KillPoint kPublishAfterManifest("publish.after_manifest",
                                      "a snapshot's manifest is written; the snapshot not published");
}  // namespace

std::string Table::SnapshotPath(int64_t id) const {
  return JoinPath(JoinPath(dir_, kSnapshotDir), SnapshotFileName(id));
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Table::LoadSnapshot(int64_t id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
  }
  const std::string path = SnapshotPath(id);
  auto contents = ReadWholeFile(storage_->fs.get(), path, kMaxMetadataBytes);
  if (absl::IsNotFound(contents.status())) {
    return absl::NotFoundError(Cat("snapshot ", id, " of table '", name_, "' does not exist (expired or never committed)"));
  }
  if (!contents.ok()) return contents.status();
  ASSIGN_OR_RETURN(Snapshot s, DecodeSnapshot(*contents, path, schema_.buckets()));
  if (s.id != id) return absl::DataLossError(Cat(path, " holds snapshot ", s.id));
  if (absl::Status resolved = ResolveFiles(s, path); !resolved.ok()) {
    // Expiry deletes a snapshot's file before the manifests only it names: a
    // manifest missing from a snapshot that is gone too was expired while
    // this read it, which is not damage.
    if (absl::IsDataLoss(resolved) && !FileExists(storage_->fs.get(), path)) {
      return absl::NotFoundError(
          Cat("snapshot ", id, " of table '", name_, "' was expired while it was read"));
    }
    return resolved;
  }
  auto shared = std::make_shared<const Snapshot>(std::move(s));
  absl::MutexLock lock(&mu_);
  cache_[id] = shared;
  while (cache_.size() > kSnapshotCacheSize) cache_.erase(cache_.begin());
  return shared;
}

absl::StatusOr<int64_t> Table::LatestId() {
  int64_t id;
  {
    absl::MutexLock lock(&mu_);
    id = latest_hint_;
  }
  // Expiry deletes from the oldest end, so while the remembered snapshot
  // exists, a missing next id was never published and the probe below finds
  // the latest. Once another process expired it, ids just above it are free
  // again although newer snapshots exist: list instead of probing from it.
  if (id >= 0 && !FileExists(storage_->fs.get(), SnapshotPath(id))) id = -1;
  if (id < 0) {
    ASSIGN_OR_RETURN(auto names, ListDir(storage_->fs.get(), JoinPath(dir_, kSnapshotDir)));
    for (const auto& n : names) id = std::max(id, ParseSnapshotFileName(n));
    if (id < 0) return absl::DataLossError(Cat("table '", name_, "' has no snapshot"));
  }
  while (FileExists(storage_->fs.get(), SnapshotPath(id + 1))) ++id;
  absl::MutexLock lock(&mu_);
  latest_hint_ = std::max(latest_hint_, id);
  return latest_hint_;
}

absl::StatusOr<int64_t> Table::EarliestId() {
  ASSIGN_OR_RETURN(auto names, ListDir(storage_->fs.get(), JoinPath(dir_, kSnapshotDir)));
  int64_t id = -1;
  for (const auto& n : names) {
    int64_t v = ParseSnapshotFileName(n);
    if (v >= 0 && (id < 0 || v < id)) id = v;
  }
  if (id < 0) return absl::DataLossError(Cat("table '", name_, "' has no snapshot"));
  return id;
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Table::LatestSnapshot() {
  ASSIGN_OR_RETURN(int64_t id, LatestId());
  return LoadSnapshot(id);
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Table::SnapshotById(int64_t id) {
  return LoadSnapshot(id);
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Table::SnapshotAsOf(absl::Time time) {
  ASSIGN_OR_RETURN(int64_t lo, EarliestId());
  ASSIGN_OR_RETURN(int64_t hi, LatestId());
  // Snapshot times never decrease with the id: binary search the last one <= time.
  int64_t found = -1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(auto s, LoadSnapshot(mid));
    if (SnapshotTime(*s) <= time) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) {
    return absl::NotFoundError(Cat("table '", name_, "' has no retained snapshot at or before ",
                                            absl::FormatTime(time, absl::UTCTimeZone())));
  }
  return LoadSnapshot(found);
}

absl::StatusOr<std::vector<std::shared_ptr<const Snapshot>>> Table::History() {
  ASSIGN_OR_RETURN(int64_t lo, EarliestId());
  ASSIGN_OR_RETURN(int64_t hi, LatestId());
  std::vector<std::shared_ptr<const Snapshot>> out;
  for (int64_t id = lo; id <= hi; ++id) {
    auto s = LoadSnapshot(id);
    if (absl::IsNotFound(s.status()) && out.empty()) continue;  // expired while we listed
    if (!s.ok()) return s.status();
    out.push_back(*s);
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> Table::FindCommit(const CommitIdentity& identity) {
  ASSIGN_OR_RETURN(auto latest, LatestSnapshot());
  auto it = latest->writers.find(identity.writer_id);
  if (it == latest->writers.end() || identity.checkpoint_id > it->second.checkpoint_id) {
    return std::optional<int64_t>();
  }
  // Look back for the exact snapshot; fall back to the writer's latest commit,
  // which includes this one, when the exact one has expired.
  constexpr int kMaxLookback = 1000;
  int64_t id = it->second.snapshot_id;
  for (int i = 0; i < kMaxLookback && id >= 0; ++i, --id) {
    auto s = LoadSnapshot(id);
    if (!s.ok()) break;
    for (const auto& c : (*s)->identities) {
      if (!c.SameCheckpoint(identity)) continue;
      if (c.digest && identity.digest && *c.digest != *identity.digest) {
        return absl::FailedPreconditionError(Cat(
            "checkpoint ", identity.checkpoint_id, " of '", identity.writer_id,
            "' is committed in snapshot ", id, " of table '", name_, "' with ", c.digest->rows,
            " rows (checksum ", fmt::format("{:016x}", c.digest->checksum), "), not the ",
            identity.digest->rows, " rows (checksum ",
            fmt::format("{:016x}", identity.digest->checksum),
            ") sealed now: two different checkpoints under one identity"));
      }
      return std::optional<int64_t>(id);
    }
    auto w = (*s)->writers.find(identity.writer_id);
    if (w == (*s)->writers.end() || w->second.checkpoint_id < identity.checkpoint_id) break;
  }
  return std::optional<int64_t>(it->second.snapshot_id);
}

absl::Status Table::CheckFence(const CommitFence& fence) {
  for (const auto& writer : fence.writer_ids) {
    ASSIGN_OR_RETURN(auto claim, claims_.Latest(writer));
    if (claim && claim->owner != fence.owner) {
      return absl::FailedPreconditionError(Cat(
          "writer '", writer, "' of table '", name_, "' was registered again elsewhere (incarnation ",
          claim->incarnation, " belongs to another staging store): this one is fenced"));
    }
  }
  return absl::OkStatus();
}

absl::Status Table::Publish(const Snapshot& planned) {
  rocksdb::FileSystem* fs = storage_->fs.get();
  Snapshot next = planned;
  ASSIGN_OR_RETURN(std::optional<std::string> manifest, PlanManifests(next));
  if (manifest) kPublishAfterManifest.Reach();
  const std::string snap_dir = JoinPath(dir_, kSnapshotDir);
  const std::string tmp = JoinPath(snap_dir, Cat(kTmpPrefix, RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs, tmp, EncodeSnapshot(next)));
  absl::Status s = LinkNoReplace(fs, tmp, SnapshotPath(next.id));
  RemoveFile(fs, tmp).IgnoreError();
  // Lost to another committer: nothing names the manifest (the retry writes
  // its own). After any other error the link may have happened: keep it.
  if (absl::IsAlreadyExists(s) && manifest) RemoveFile(fs, ManifestPath(*manifest)).IgnoreError();
  RETURN_IF_ERROR(s);
  // The link is the commit point; it is durable once the directory is synced.
  RETURN_IF_ERROR(SyncDir(fs, snap_dir));
  absl::MutexLock lock(&mu_);
  latest_hint_ = std::max(latest_hint_, next.id);
  const int64_t id = next.id;
  cache_[id] = std::make_shared<const Snapshot>(std::move(next));
  while (cache_.size() > kSnapshotCacheSize) cache_.erase(cache_.begin());
  return absl::OkStatus();
}

}  // namespace deltasidecar::table
