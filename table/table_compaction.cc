// Table: compaction, expiry, orphan removal and the retention policy.
#include "table/table.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
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
#include "table/table_maintenance.h"

namespace deltasidecar::table {

namespace {

// Removes the temporary files among `names` (in `dir`) that a crashed
// publisher left; young ones may belong to a live one.
void RemoveStaleTmpFiles(rocksdb::FileSystem* fs, const std::string& dir,
                         const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (n.rfind(kTmpPrefix, 0) != 0) continue;
    uint64_t mtime = 0;
    if (fs->GetFileModificationTime(JoinPath(dir, n), rocksdb::IOOptions(), &mtime, nullptr).ok() &&
        absl::FromUnixSeconds(static_cast<int64_t>(mtime)) + kStaleTmpAge < absl::Now()) {
      RemoveFile(fs, JoinPath(dir, n)).IgnoreError();
    }
  }
}

// Kill points of this file (see table/base/kill_point.h).
const KillPoint kCompactionAfterDataFiles("compaction.after_data_files",
                                          "a compaction's output files are written; not published");
const KillPoint kCompactionAfterPublish("compaction.after_publish",
                                        "a compaction snapshot is published; its input files not removed");
const KillPoint kExpireMidway("expire.midway",
                              "expiry removed a snapshot file but not yet the data files only it used");

// True when `path` was last modified before `cutoff` (false when that cannot
// be told: the sweep then leaves the file).
bool ModifiedBefore(rocksdb::FileSystem* fs, const std::string& path, absl::Time cutoff) {
  uint64_t mtime = 0;
  return fs->GetFileModificationTime(path, rocksdb::IOOptions(), &mtime, nullptr).ok() &&
         absl::FromUnixSeconds(static_cast<int64_t>(mtime)) <= cutoff;
}

// Replaces the run `inputs` of `bucket` in `next` by `output` (none when
// every row was deleted) and records the inputs as removed. The run is
// contiguous among the bucket's files of the inputs' partition (all of its
// files when the table is not partitioned); the output takes the place of
// the run's first file. False, leaving `next` unchanged, when the inputs are
// no longer such a run there (other commits only append newer files, so
// another compaction took them), or no longer start the partition's files
// although the merge dropped deletes.
bool ReplaceInputs(int bucket, const std::vector<DataFileMeta>& inputs, bool includes_oldest,
                   const std::optional<DataFileMeta>& output, Snapshot& next) {
  const auto& live = next.buckets[bucket];
  std::vector<size_t> at;  // positions of the partition's files
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i].partition == inputs[0].partition) at.push_back(i);
  }
  auto found = std::find_if(at.begin(), at.end(),
                            [&](size_t i) { return live[i].name == inputs[0].name; });
  bool intact = found != at.end() && static_cast<size_t>(at.end() - found) >= inputs.size() &&
                (!includes_oldest || found == at.begin());
  for (size_t i = 0; intact && i < inputs.size(); ++i) intact = live[*(found + i)].name == inputs[i].name;
  if (!intact) return false;
  for (const auto& in : inputs) next.removed.push_back(in.name);
  const std::vector<size_t> run(found, found + static_cast<ptrdiff_t>(inputs.size()));
  next.buckets.Edit(bucket, [&](std::vector<DataFileMeta>& files) {  // `live` may be gone now
    for (size_t k = run.size(); k-- > 0;) files.erase(files.begin() + static_cast<ptrdiff_t>(run[k]));
    if (output) {
      DataFileMeta out = *output;
      out.added_in = next.id;
      files.insert(files.begin() + static_cast<ptrdiff_t>(run[0]), std::move(out));
    }
  });
  return true;
}

// The file that follows a run of `count` files starting at `first` in a
// bucket's list once the run is gone (the run's files are contiguous among
// their partition's, which other partitions' files may interleave); empty
// when none does. A compaction output takes the run's first place, so it
// stands just before this file.
SharedString FileAfterRun(BucketFiles::Files live, const SharedString& first,
                          size_t count) {
  auto at = std::find_if(live.begin(), live.end(),
                         [&](const DataFileMeta& f) { return f.name == first; });
  if (at == live.end()) return SharedString();
  const std::string_view partition = at->partition;
  for (++at, --count; at != live.end(); ++at) {
    if (count > 0 && at->partition == partition) {
      --count;  // another file of the run
      continue;
    }
    return at->name;
  }
  return SharedString();
}

// A bucket's files split by partition, each part oldest first (one part,
// the whole list, when the table is not partitioned).
std::vector<std::vector<DataFileMeta>> FilesByPartition(BucketFiles::Files files) {
  std::vector<std::vector<DataFileMeta>> parts;
  std::map<std::string_view, size_t> index;
  for (const DataFileMeta& f : files) {
    auto [it, added] = index.emplace(f.partition, parts.size());
    if (added) parts.emplace_back();
    parts[it->second].push_back(f);
  }
  return parts;
}

// A multi-bucket file leaves the table only when its last bucket drops it:
// `removed` keeps the names that no bucket of `next` still holds, once each.
void KeepRemovedIfUnused(Snapshot& next) {
  absl::flat_hash_set<std::string> multi;
  for (const auto& name : next.removed) {
    if (IsMultiBucketFileName(name)) multi.insert(name);
  }
  if (multi.empty()) return;
  for (const auto& files : next.buckets) {
    for (const auto& f : files) multi.erase(f.name.str());  // still live
  }
  absl::flat_hash_set<std::string> seen;
  std::erase_if(next.removed, [&](const std::string& name) {
    return IsMultiBucketFileName(name) && (!multi.contains(name) || !seen.insert(name).second);
  });
}

}  // namespace

absl::StatusOr<std::optional<int64_t>> Table::Compact(bool full, const ProgressHook& progress) {
  if (full) {
    return CompactBuckets([](BucketFiles::Files files) -> std::optional<CompactionPick> {
      // One file is rewritten when it holds deletes, or other buckets too.
      if (files.size() >= 2 ||
          (files.size() == 1 && (files[0].deletes > 0 || IsMultiBucketFileName(files[0].name)))) {
        return CompactionPick{0, files.size()};
      }
      return std::nullopt;
    }, /*share_files=*/false, progress);
  }
  CompactionOptions policy = options_.compaction;
  if (policy.trigger_files <= 0) policy.trigger_files = CompactionOptions().trigger_files;
  return CompactBuckets([policy](BucketFiles::Files files) {
    return PickCompaction(files, policy);
  }, /*share_files=*/true, progress);
}

absl::StatusOr<std::optional<int64_t>> Table::CompactBuckets(
    const std::function<std::optional<CompactionPick>(BucketFiles::Files)>& pick,
    bool share_files, const ProgressHook& progress) {
  // One compaction at a time per handle; commits only wait for the publish.
  absl::MutexLock compact_lock(&compact_mu_);
  ASSIGN_OR_RETURN(auto base, LatestSnapshot());
  struct Job {
    int bucket;
    CompactionPick pick;
    std::vector<DataFileMeta> inputs;
    SharedString follows;  // the file the output is placed before; empty: the bucket's last
    std::optional<DataFileMeta> output;  // none when every row was deleted
  };
  std::vector<Job> jobs;
  for (int b = 0; b < schema_.buckets(); ++b) {
    auto add = [&](BucketFiles::Files files) {
      if (auto p = pick(files)) {
        jobs.push_back({b, *p, {files.begin() + p->first, files.begin() + p->first + p->count},
                        FileAfterRun(base->buckets[b], files[p->first].name, p->count), {}});
      }
    };
    if (!schema_.partitioned()) {
      add(base->buckets[b]);
      continue;
    }
    // Each partition's files are compacted apart: an output never mixes partitions.
    for (const auto& files : FilesByPartition(base->buckets[b])) add(files);
  }
  if (jobs.empty()) return std::optional<int64_t>();
  // The files to write, each the outputs of some jobs in ascending buckets.
  std::vector<std::vector<size_t>> groups;
  {
    // A shared file takes outputs of one partition placed before one same
    // file (or last): then it stands, in every bucket it is in, where that
    // file stands, so no two buckets order it differently against another
    // file, and a manifest lists it as one entry (docs/table-format.md §5.4).
    std::map<std::pair<std::string_view, std::string_view>, size_t> open;  // -> group
    std::vector<uint64_t> group_entries;
    for (size_t k = 0; k < jobs.size(); ++k) {
      uint64_t entries = 0;
      for (const auto& in : jobs[k].inputs) entries += in.entries;
      if (!share_files || entries >= kOwnFileMinEntries) {
        groups.push_back({k});
        group_entries.push_back(entries);
        continue;
      }
      const std::pair<std::string_view, std::string_view> key(jobs[k].inputs[0].partition,
                                                              jobs[k].follows);
      auto it = open.find(key);
      if (it == open.end() || group_entries[it->second] + entries > kMultiFileEntries) {
        open[key] = groups.size();
        groups.push_back({k});
        group_entries.push_back(entries);
      } else {
        groups[it->second].push_back(k);
        group_entries[it->second] += entries;
      }
    }
  }
  std::vector<std::string> outputs;
  absl::Mutex outputs_mu;  // also serializes the progress calls
  WorkProgress merged_so_far{0, static_cast<int64_t>(jobs.size()), 0};
  auto report = [&](const Job& job) {  // with outputs_mu held
    ++merged_so_far.done;
    for (const auto& in : job.inputs) merged_so_far.bytes += in.BucketBytes();
    if (progress) progress(merged_so_far);
  };
  absl::Status s = ParallelForAtNice(groups.size(), options_.commit_threads, options_.compaction_nice,
                                     [&](size_t g) -> absl::Status {
    const std::vector<size_t>& group = groups[g];
    const bool shared = group.size() > 1;
    std::unique_ptr<DataFileWriter> writer;
    if (shared) {
      ASSIGN_OR_RETURN(writer, data_files_->NewMultiBucketWriter(0));
    } else {
      ASSIGN_OR_RETURN(writer, data_files_->NewWriter(jobs[group[0]].bucket, 0));
    }
    for (size_t k : group) {
      Job& job = jobs[k];
      std::vector<MergingIterator::Child> children;
      for (size_t i = 0; i < job.inputs.size(); ++i) {
        ASSIGN_OR_RETURN(auto it, data_files_->NewScanIterator(job.inputs[i]));
        children.push_back({std::move(it), static_cast<int64_t>(i)});
      }
      // Deletes can be dropped only when nothing older than the inputs exists.
      MergingIterator merged(std::move(children), /*skip_deletes=*/job.pick.includes_oldest());
      if (shared) RETURN_IF_ERROR(writer->StartBucket(job.bucket));
      for (merged.SeekToFirst(); merged.Valid(); merged.Next()) {
        RETURN_IF_ERROR(writer->Add(merged.key(), merged.value()));
      }
      RETURN_IF_ERROR(merged.status());
    }
    // One section per bucket that kept rows; the writer removes an empty file.
    ASSIGN_OR_RETURN(std::vector<DataFileMeta> written, writer->Finish());
    absl::MutexLock lock(&outputs_mu);
    if (!written.empty()) outputs.push_back(written[0].name);  // every section's file
    // Sections come in ascending buckets, as the group's jobs do: matched in step.
    auto job = group.begin();
    for (DataFileMeta& section : written) {
      while (jobs[*job].bucket != section.bucket) ++job;
      section.partition = jobs[*job].inputs[0].partition;
      jobs[*job].output = std::move(section);
    }
    for (size_t k : group) report(jobs[k]);
    return absl::OkStatus();
  });
  if (s.ok() && !outputs.empty()) s = SyncDir(storage_->fs.get(), data_files_->dir());
  if (!s.ok()) {
    RemoveDataFiles(outputs);
    return s;
  }
  kCompactionAfterDataFiles.Reach();
  // An output file is removed again only when none of its buckets took it.
  std::map<std::string, bool> taken;
  ASSIGN_OR_RETURN(
      std::optional<int64_t> id,
      TryCommit(SnapshotKind::kCompact, Cat("compaction of table '", name_, "'"), outputs,
                [&](const Snapshot&, Snapshot& next) -> absl::StatusOr<bool> {
                  taken.clear();
                  bool replaced = false;
                  for (const auto& job : jobs) {
                    const bool done = ReplaceInputs(job.bucket, job.inputs, job.pick.includes_oldest(),
                                                    job.output, next);
                    replaced = replaced || done;
                    if (job.output) taken[job.output->name] |= done;
                  }
                  KeepRemovedIfUnused(next);
                  return replaced;
                }));
  if (id) {
    kCompactionAfterPublish.Reach();
    std::vector<std::string> skipped;
    for (const auto& [name, used] : taken) {
      if (!used) skipped.push_back(name);
    }
    RemoveDataFiles(skipped);
  }
  return id;
}

absl::StatusOr<std::optional<CompactionLease>> Table::TryTakeCompactionLease(absl::Duration ttl) {
  return CompactionLease::TryTake(storage_->fs, dir_, options_.compaction_lease_holder, ttl);
}

absl::StatusOr<ExpireResult> Table::Expire(int keep, absl::Duration orphan_age) {
  if (keep < 1) return absl::InvalidArgumentError(Cat("expiry must keep at least 1 snapshot, not ", keep));
  absl::MutexLock commit_lock(&commit_mu_);
  rocksdb::FileSystem* fs = storage_->fs.get();
  const std::string snap_dir = JoinPath(dir_, kSnapshotDir);
  ASSIGN_OR_RETURN(auto names, ListDir(fs, snap_dir));
  std::vector<int64_t> ids;
  for (const auto& n : names) {
    if (int64_t id = ParseSnapshotFileName(n); id >= 0) ids.push_back(id);
  }
  // Leftovers of crashed publishers (of snapshots and of schema versions)
  // and of crashed compaction lease takers (compaction_lease.h).
  RemoveStaleTmpFiles(fs, snap_dir, names);
  for (const std::string& dir : {JoinPath(dir_, kSchemaDir), dir_}) {
    if (!FileExists(fs, dir)) continue;
    if (auto dir_names = ListDir(fs, dir); dir_names.ok()) RemoveStaleTmpFiles(fs, dir, *dir_names);
  }
  std::sort(ids.begin(), ids.end());
  ExpireResult result;
  if (ids.empty()) return absl::DataLossError(Cat("table '", name_, "' has no snapshot"));
  result.earliest_snapshot = ids.front();
  auto sweep = [&]() -> absl::Status {
    if (orphan_age == absl::InfiniteDuration()) return absl::OkStatus();
    ASSIGN_OR_RETURN(OrphanSweepResult swept, SweepOrphans(orphan_age));
    result.orphans_removed = swept.data_files_removed;
    result.prepared_removed = swept.prepared_removed;
    return absl::OkStatus();
  };
  if (ids.size() <= static_cast<size_t>(keep)) {
    RETURN_IF_ERROR(sweep());
    return result;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> held, ConsumerHold());
  int64_t earliest = ids[ids.size() - keep];
  if (held && *held < earliest) earliest = std::max(*held, ids.front());
  // A file removed by snapshot t is used only by snapshots before t. Walking
  // t upwards, snapshot t-1 is deleted (durably) before the files t removed,
  // so a crash never leaves a snapshot whose files are gone, and a rerun picks
  // up at the earliest remaining snapshot (its removed files are deleted again).
  // The manifests snapshot t-1 names and t does not are named by no later
  // snapshot either (each list is its parent's, extended, or a new base).
  std::shared_ptr<const Snapshot> expired;
  for (int64_t t : ids) {
    if (t > earliest) break;
    if (t > ids.front()) {
      RETURN_IF_ERROR(RemoveFile(fs, SnapshotPath(t - 1)));
      RETURN_IF_ERROR(SyncDir(fs, snap_dir));
      kExpireMidway.Reach();
      ++result.snapshots_removed;
      absl::MutexLock lock(&mu_);
      cache_.erase(t - 1);
    }
    ASSIGN_OR_RETURN(auto s, LoadSnapshot(t));
    result.files_removed += RemoveDataFiles(s->removed);
    if (expired && expired->id == t - 1) RemoveManifests(*expired, *s);
    expired = s;  // the next step removes it
  }
  result.earliest_snapshot = earliest;
  RETURN_IF_ERROR(sweep());
  return result;
}

absl::StatusOr<std::optional<int64_t>> Table::ConsumerHold() {
  ASSIGN_OR_RETURN(auto consumers, consumers_.List());
  return OldestHeldSnapshot(consumers, options_.retention.consumer_max_age, absl::Now());
}

absl::StatusOr<OrphanSweepResult> Table::SweepOrphans(absl::Duration min_age) {
  rocksdb::FileSystem* fs = storage_->fs.get();
  // List first: a file published after the listing is referenced by a snapshot
  // read below, and one written after it is too young to be touched.
  ASSIGN_OR_RETURN(auto names, ListDir(fs, data_files_->dir()));
  ASSIGN_OR_RETURN(auto manifests, ListManifests());
  ASSIGN_OR_RETURN(int64_t lo, EarliestId());
  ASSIGN_OR_RETURN(int64_t hi, LatestId());
  absl::flat_hash_set<std::string> referenced;
  RETURN_IF_ERROR(AddReferenced(lo, hi, &referenced));
  const absl::Time cutoff = absl::Now() - min_age;
  ASSIGN_OR_RETURN(auto latest, LoadSnapshot(hi));
  OrphanSweepResult result;
  ASSIGN_OR_RETURN(result.prepared_removed, SweepPrepared(*latest, cutoff, &referenced));
  // A prepared checkpoint committed since `hi` was removed by its committer
  // after the publish; its (maybe old) files are named by the newer snapshots.
  ASSIGN_OR_RETURN(int64_t now_latest, LatestId());
  RETURN_IF_ERROR(AddReferenced(hi + 1, now_latest, &referenced));
  for (const auto& n : names) {
    if (!IsDataFileName(n, -1) || referenced.contains(n)) continue;
    if (!ModifiedBefore(fs, data_files_->PathOf(n), cutoff)) continue;
    result.data_files_removed += RemoveDataFiles({n});
  }
  for (const auto& n : manifests) {
    if (!IsManifestFileName(n) || referenced.contains(n)) continue;
    if (!ModifiedBefore(fs, ManifestPath(n), cutoff)) continue;
    if (RemoveFile(fs, ManifestPath(n)).ok()) ++result.manifests_removed;
  }
  return result;
}

absl::Status Table::AddReferenced(int64_t from, int64_t to,
                                  absl::flat_hash_set<std::string>* referenced) {
  for (int64_t id = from; id <= to; ++id) {
    auto s = LoadSnapshot(id);
    if (absl::IsNotFound(s.status())) continue;  // expired meanwhile
    if (!s.ok()) return s.status();
    for (const auto& files : (*s)->buckets)
      for (const auto& f : files) referenced->insert(f.name.str());
    for (const auto& ref : (*s)->manifests) referenced->insert(ref.name);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Table::SweepPrepared(const Snapshot& latest, absl::Time cutoff,
                                         absl::flat_hash_set<std::string>* referenced) {
  // Done: its checkpoint is committed, or a later one of its identity is
  // (then it can never be). The name says so without reading the file.
  absl::flat_hash_map<std::string, int64_t> committed;  // identity hash -> newest checkpoint
  for (const auto& [identity, state] : latest.writers) {
    committed[PreparedIdentityHash(identity)] = state.checkpoint_id;
  }
  ASSIGN_OR_RETURN(auto files, prepared_.List());
  int removed = 0;
  for (const PreparedFileId& file : files) {
    const std::string& n = file.name;
    auto w = committed.find(file.identity_hash);
    bool done = w != committed.end() && w->second >= file.checkpoint_id;
    absl::StatusOr<PreparedCheckpoint> p;
    if (!done) {
      p = prepared_.Load(n);
      if (absl::IsNotFound(p.status())) continue;  // committed and removed meanwhile
      if (!p.ok()) return p.status();
    }
    if (!done && absl::FromUnixMillis(p->time_ms) < cutoff) {
      // Abandoned: its writer claimed a new incarnation since (a rewind, or a
      // move to another sidecar) that did not keep it, so no commit can take
      // it any more.
      absl::Status claim = CheckPreparedClaim(*p, latest);
      if (!claim.ok() && !absl::IsFailedPrecondition(claim)) return claim;
      done = !claim.ok();
    }
    if (done) {
      RETURN_IF_ERROR(prepared_.Remove(n));
      ++removed;
      continue;
    }
    for (const auto& part : p->parts)
      for (const auto& f : part.files) referenced->insert(f.name.str());
  }
  return removed;
}

absl::Status Table::RunMaintenance() {
  return MaintainTable(*this, options_, [] { return false; }).status();
}

absl::StatusOr<Table::RetentionPoint> Table::FindRetentionPoint(int64_t latest) {
  RetentionPoint p;
  ASSIGN_OR_RETURN(p.earliest, EarliestId());
  // Snapshot times never decrease with the id: binary search for the first
  // one younger than max_age.
  const absl::Time cutoff = absl::Now() - options_.retention.max_age;
  int64_t lo = p.earliest, hi = latest;
  p.first_young = latest + 1;
  ASSIGN_OR_RETURN(p.held, ConsumerHold());
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(auto s, LoadSnapshot(mid));
    if (SnapshotTime(*s) >= cutoff) {
      p.first_young = mid;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return p;
}

int64_t Table::RetainedCount(const RetentionPoint& point, int64_t latest) const {
  // Snapshots younger than max_age, within [min_snapshots, max_snapshots].
  const RetentionOptions& r = options_.retention;
  const int64_t by_policy =
      std::clamp<int64_t>(latest + 1 - point.first_young, r.min_snapshots, r.max_snapshots);
  return point.held ? std::max(by_policy, latest + 1 - *point.held) : by_policy;
}

}  // namespace deltasidecar::table
