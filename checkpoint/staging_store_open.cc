#include "checkpoint/staging_store_impl.h"

#include <cstdarg>
#include <cstdio>
#include <filesystem>

namespace deltasidecar::checkpoint {

absl::Status StagingStore::Impl::OpenDbLocked(bool reopen) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSIGN_OR_RETURN(const bool salvaged, OpenInstancesLocked(&handles));
  ASSIGN_OR_RETURN(FoundFamilies families, SortFamiliesLocked(handles));
  RETURN_IF_ERROR(LoadWritersLocked(salvaged, reopen));
  {
    absl::MutexLock l(&cf_mu);
    data_cfs.clear();
    next_cf_number = families.next_number;
    for (const auto& [key, entry] : families.newest) data_cfs[key] = entry.second;
  }
  QueueDrops(families.garbage);
  // After a reopen, ReconcileOpenBatches first decides whose open batches
  // are lost, then collects.
  if (!reopen) RETURN_IF_ERROR(DropUnreferencedFamilies());
  // After a clean close the open batches are in their family's files.
  for (Writer* w : AllWriters()) {
    absl::MutexLock l(&w->mu);
    w->open_bytes = 0;
    if (!w->registered || w->unsealed_lost) continue;
    if (rocksdb::ColumnFamilyHandle* h = FindDataCf(w->id, w->record.last_sealed)) {
      w->open_bytes = FamilyFileBytes(h);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> StagingStore::Impl::OpenInstancesLocked(
    std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
  bool salvaged = false;
  if (s.IsCorruption()) {
    options.log(Cat("staging store ", options.path, ": ", s.ToString(),
                    "; salvaging what precedes the damage (writers' seals after it answer "
                    "DATA_LOSS until they register again)"));
    rocksdb::Options salvage = db_options;
    salvage.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    s = rocksdb::DB::Open(salvage, options.path, &raw);
    salvaged = s.ok();
  }
  if (!s.ok()) {
    db_error = FromRocks(s, Cat("opening staging store ", options.path));
    return db_error;
  }
  std::unique_ptr<rocksdb::DB> state(raw);

  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(data_db_options, data_path, &names).ok()) {
    names = {rocksdb::kDefaultColumnFamilyName};  // a new store
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(name, name == rocksdb::kDefaultColumnFamilyName
                                    ? rocksdb::ColumnFamilyOptions(data_db_options)
                                    : data_cf_options);
  }
  raw = nullptr;
  s = rocksdb::DB::Open(data_db_options, data_path, families, handles, &raw);
  if (!s.ok()) {
    state->Close().PermitUncheckedError();
    db_error = FromRocks(s, Cat("opening staging store ", data_path));
    return db_error;
  }
  db = std::move(state);
  data_db.reset(raw);
  ++generation;
  db_error = absl::OkStatus();
  return salvaged;
}

absl::StatusOr<StagingStore::Impl::FoundFamilies> StagingStore::Impl::SortFamiliesLocked(
    const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  FoundFamilies found;
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    if (h->GetName() == rocksdb::kDefaultColumnFamilyName) {
      data_db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      continue;
    }
    std::string w;
    int64_t base = 0;
    uint64_t n = 0;
    if (!ParseDataCfName(h->GetName(), &w, &base, &n)) {
      return absl::DataLossError(Cat("staging store ", options.path,
                                     " has a column family of unknown name ", h->GetName()));
    }
    found.next_number = std::max(found.next_number, n + 1);
    auto [it, inserted] = found.newest.try_emplace({w, base}, n, h);
    if (!inserted) {
      found.garbage.push_back(it->second.first < n ? it->second.second : h);
      if (it->second.first < n) it->second = {n, h};
    }
  }
  return found;
}

absl::Status StagingStore::Impl::LoadWritersLocked(bool salvaged, bool reopen) {
  absl::flat_hash_map<Writer*, RegistryRecord> loaded;
  RETURN_IF_ERROR(ForEachWriterKey('r', "loading the writer registry",
                                   [&](Writer* w, std::string_view value) -> absl::Status {
                                     ASSIGN_OR_RETURN(loaded[w], DecodeRegistry(value, w->key));
                                     return absl::OkStatus();
                                   }));
  std::string ignored;
  const bool clean = db->Get(rocksdb::ReadOptions(), CleanCloseKey(), &ignored).ok();
  const bool marks_kept = db->Get(rocksdb::ReadOptions(), OpenMarksKeptKey(), &ignored).ok();
  ASSIGN_OR_RETURN(absl::flat_hash_set<Writer*> open_marked,
                   WritersWithKey('o', "loading the open-batch marks"));
  {
    rocksdb::WriteBatch marks;
    for (const auto& [w, record] : loaded) {
      if (salvaged) marks.Put(ToSlice(LostKey(w->id)), rocksdb::Slice()).PermitUncheckedError();
      // A writer idle since its last seal lost nothing in a crash.
      if (!reopen && !clean && (!marks_kept || open_marked.contains(w))) {
        marks.Put(ToSlice(UnsealedLostKey(w->id)), rocksdb::Slice()).PermitUncheckedError();
      }
    }
    marks.Delete(ToSlice(CleanCloseKey())).PermitUncheckedError();
    marks.Put(ToSlice(OpenMarksKeptKey()), rocksdb::Slice()).PermitUncheckedError();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status ms = db->Write(wo, &marks);
    if (!ms.ok()) return FromRocks(ms, "marking writers after opening the staging store");
  }
  ASSIGN_OR_RETURN(absl::flat_hash_set<Writer*> lost,
                   WritersWithKey('x', "loading the lost-data marks"));
  ASSIGN_OR_RETURN(absl::flat_hash_set<Writer*> lost_unsealed,
                   WritersWithKey('u', "loading the lost-batches marks"));
  for (Writer* w : AllWriters()) {
    absl::MutexLock l(&w->mu);
    auto it = loaded.find(w);
    w->registered = it != loaded.end();
    w->record = w->registered ? it->second : RegistryRecord{};
    w->lost_data = lost.count(w) > 0;
    w->unsealed_lost = lost_unsealed.count(w) > 0;
    w->open_marked = open_marked.contains(w);
    w->readers = 0;
    w->deferred_drops.clear();
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_set<StagingStore::Impl::Writer*>> StagingStore::Impl::WritersWithKey(
    char tag, std::string_view what) {
  absl::flat_hash_set<Writer*> found;
  RETURN_IF_ERROR(ForEachWriterKey(tag, what, [&](Writer* w, std::string_view) {
    found.insert(w);
    return absl::OkStatus();
  }));
  return found;
}

void StagingStore::Impl::CloseDbLocked() {
  if (db == nullptr) return;
  std::vector<Writer*> all = AllWriters();
  std::vector<rocksdb::ColumnFamilyHandle*> live;
  {
    absl::MutexLock l(&cf_mu);
    for (const auto& [key, h] : data_cfs) live.push_back(h);
  }
  if (!needs_reopen.load() && !needs_resume->load()) {
    rocksdb::FlushOptions fo;
    fo.allow_write_stall = true;
    rocksdb::Status s = live.empty() ? rocksdb::Status::OK() : data_db->Flush(fo, live);
    if (s.ok()) {
      rocksdb::WriteBatch batch;
      for (Writer* w : all) {
        absl::MutexLock l(&w->mu);
        if (!w->registered || w->unsealed_lost) continue;
        batch.Put(ToSlice(RegistryKey(w->id)), ToSlice(EncodeRegistry(w->record)))
            .PermitUncheckedError();
      }
      batch.Put(ToSlice(CleanCloseKey()), rocksdb::Slice()).PermitUncheckedError();
      rocksdb::WriteOptions wo;
      wo.sync = true;
      db->Write(wo, &batch).PermitUncheckedError();
    }
  }
  for (Writer* w : all) {
    absl::MutexLock l(&w->mu);
    QueueDrops(w->deferred_drops);
    w->deferred_drops.clear();
  }
  DropQueued();
  for (rocksdb::ColumnFamilyHandle* h : live) {
    data_db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  {
    absl::MutexLock l(&cf_mu);
    data_cfs.clear();
  }
  data_db->Close().PermitUncheckedError();
  data_db.reset();
  db->Close().PermitUncheckedError();
  db.reset();
}

absl::Status StagingStore::Impl::Recover() {
  if (!needs_reopen.load(std::memory_order_acquire) &&
      !needs_resume->load(std::memory_order_acquire)) {
    return absl::OkStatus();
  }
  absl::MutexLock l(&db_mu);
  if (needs_reopen.load() || db == nullptr) {
    // The registry in memory is ahead of the stored one by the open
    // batches' counts; keep it where the batches are all on disk.
    absl::flat_hash_map<Writer*, RegistryRecord> before;
    for (Writer* w : AllWriters()) {
      absl::MutexLock wl(&w->mu);
      if (w->registered && !w->unsealed_lost) before[w] = w->record;
    }
    CloseDbLocked();
    RETURN_IF_ERROR(OpenDbLocked(/*reopen=*/true));
    RETURN_IF_ERROR(ReconcileOpenBatches(before));
    needs_reopen.store(false);
    needs_resume->store(false);
    return absl::OkStatus();
  }
  if (needs_resume->load()) {
    rocksdb::Status s = db->Resume();
    if (s.ok()) s = data_db->Resume();
    if (!s.ok()) return FromRocks(s, "resuming the staging store after a background error");
    needs_resume->store(false);
  }
  return absl::OkStatus();
}

absl::Status StagingStore::Impl::ReconcileOpenBatches(const absl::flat_hash_map<Writer*, RegistryRecord>& before) {
  rocksdb::WriteBatch marks;
  for (const auto& [w, mem] : before) {
    absl::MutexLock l(&w->mu);
    // A seal whose answer failed may still have been recorded: then the
    // stored record is the truth and covers the batches.
    if (!w->registered || w->record.epoch != mem.epoch ||
        w->record.last_sealed != mem.last_sealed || mem.open_batches == 0) {
      continue;
    }
    const uint64_t first = mem.next_batch_seq - mem.open_batches;
    BatchChain chain(first);
    if (rocksdb::ColumnFamilyHandle* cf = FindDataCf(w->id, mem.last_sealed)) {
      std::unique_ptr<rocksdb::Iterator> it(data_db->NewIterator(rocksdb::ReadOptions(), cf));
      for (it->Seek(ToSlice(DataKey(w->id, mem.last_sealed, first))); it->Valid(); it->Next()) {
        const uint64_t seq = GetBigEndian<uint64_t>(it->key().data() + it->key().size() - 8);
        BatchValue batch;
        // A damaged or missing batch leaves the chain short of the record.
        if (!chain.Add(seq, ToView(it->value()), UINT64_MAX, "", &batch).ok()) break;
      }
    }
    if (chain.Matches(mem.open_batches, mem.open_rows, mem.open_checksum)) {
      w->record = mem;
      if (rocksdb::ColumnFamilyHandle* h = FindDataCf(w->id, mem.last_sealed)) {
        w->open_bytes = FamilyFileBytes(h);
      }
    } else {
      w->unsealed_lost = true;
      marks.Put(ToSlice(UnsealedLostKey(w->id)), rocksdb::Slice()).PermitUncheckedError();
    }
  }
  if (marks.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db->Write(wo, &marks);
    if (!s.ok()) return FromRocks(s, "marking writers after reopening the staging store");
  }
  return DropUnreferencedFamilies();
}

absl::Status StagingStore::Impl::DropUnreferencedFamilies() {
  absl::flat_hash_set<std::string> known;
  for (Writer* w : AllWriters()) {
    known.insert(w->id);
    absl::MutexLock l(&w->mu);
    absl::flat_hash_set<int64_t> bases;
    if (w->registered) {
      ASSIGN_OR_RETURN(auto seals, Seals(*w, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max()));
      for (const auto& [cp, seal] : seals) bases.insert(seal.base);
      if (!w->unsealed_lost) bases.insert(w->record.last_sealed);
    }
    DropDataCfs(*w, [&](int64_t base) { return !bases.contains(base); });
  }
  // Families of writers the registry does not know at all.
  std::vector<rocksdb::ColumnFamilyHandle*> unknown;
  {
    absl::MutexLock l(&cf_mu);
    for (auto it = data_cfs.begin(); it != data_cfs.end();) {
      if (!known.contains(it->first.first)) {
        unknown.push_back(it->second);
        it = data_cfs.erase(it);
      } else {
        ++it;
      }
    }
  }
  QueueDrops(unknown);
  return absl::OkStatus();
}

namespace {

// RocksDB's info log, warnings and errors only, one message per line through
// the store's log callback.
class CallbackLogger : public rocksdb::Logger {
 public:
  explicit CallbackLogger(std::function<void(std::string_view)> log)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), log_(std::move(log)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[2048];
    int n = std::vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    log_(Cat("staging store (RocksDB): ", static_cast<const char*>(buf)));
  }

 private:
  const std::function<void(std::string_view)> log_;
};

// The default log callback: one line on stderr, prefixed so operators can
// tell it apart.
void LogToStderr(std::string_view message) {
  std::string line = Cat("delta-sidecar: ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// The options of the state instance; the batch instance starts from them.
rocksdb::Options StateDbOptions(const StagingOptions& options,
                                std::shared_ptr<std::atomic<bool>> needs_resume) {
  rocksdb::Options o;
  o.create_if_missing = true;
  if (options.env != nullptr) o.env = options.env;
  // A torn last record (a crash mid-append) is dropped; damage before the end
  // fails the open, and OpenDbLocked salvages (see there) instead of letting
  // point-in-time recovery silently drop acknowledged seals.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.paranoid_checks = true;
  // The default column family holds only the registry, seals and marks.
  o.write_buffer_size = 4 << 20;
  o.max_write_buffer_number = 2;
  o.max_background_jobs = 2;
  // The WAL carries only that small state; keep it short so that idle data
  // families (which pin WAL files until they flush) are flushed soon.
  o.max_total_wal_size = 64 << 20;
  // Staged data lives for one checkpoint interval; compressing it costs more
  // CPU than the disk it saves.
  o.compression = rocksdb::kNoCompression;
  // RocksDB's info log goes to the log callback (stderr by default),
  // warnings and errors only, never to the data disk: when that disk fills,
  // Debian's RocksDB 7.8 aborts on an assertion in its file logger after a
  // failed log write, which would turn "disk full" (RESOURCE_EXHAUSTED,
  // recoverable) into a crash.
  o.info_log = std::make_shared<CallbackLogger>(options.log);
  o.avoid_flush_during_shutdown = true;
  o.listeners.push_back(std::make_shared<RecoverOnNextWrite>(std::move(needs_resume)));
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(8 << 20);
  t.cache_index_and_filter_blocks = true;
  t.block_size = 64 << 10;
  // Debian's RocksDB computes CRC32C in software (no SSE4.2 build); XXH3
  // checks blocks several times faster.
  t.checksum = rocksdb::kXXH3;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// Data families: memtables of an eighth of write_buffer_bytes (at least
// 4 MiB), all of them together bounded by three times write_buffer_bytes
// (the largest is flushed when over), never
// compacted: a family holds one checkpoint's batches and is dropped whole
// once they are committed or discarded.
void SetDataDbOptions(const rocksdb::Options& state, uint64_t write_buffer_bytes,
                      rocksdb::Options* db, rocksdb::ColumnFamilyOptions* family) {
  *db = state;
  db->write_buffer_size = 4 << 20;
  // Two flushes at once: one writer's seal does not queue behind another's
  // memtable.
  db->max_background_jobs = 4;
  const uint64_t buffer = std::max<uint64_t>(write_buffer_bytes, 64 << 10);
  db->write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(3 * buffer);
  rocksdb::ColumnFamilyOptions& d = *family;
  d = rocksdb::ColumnFamilyOptions(*db);
  // Smaller than the budget, so that most of a checkpoint's batches are
  // flushed while it is written and its seal flushes at most one memtable.
  d.write_buffer_size = std::min<uint64_t>(buffer, std::max<uint64_t>(buffer / 8, 4 << 20));
  d.max_write_buffer_number = 3;
  d.min_write_buffer_number_to_merge = 1;
  d.disable_auto_compactions = true;
  d.level0_slowdown_writes_trigger = 1 << 20;
  d.level0_stop_writes_trigger = 1 << 20;
}

// Creates the store's directory and its batch subdirectory, syncing each
// parent: RocksDB creates the directory but does not fsync its parent, so a
// power loss could take the whole store with it, synced WAL and all.
absl::Status CreateDirectories(const std::string& path, const std::string& data_path,
                               rocksdb::Env* env) {
  if (env == nullptr) env = rocksdb::Env::Default();
  const std::shared_ptr<rocksdb::FileSystem>& fs = env->GetFileSystem();
  rocksdb::IOStatus io = fs->CreateDirIfMissing(path, rocksdb::IOOptions(), nullptr);
  if (!io.ok()) return FromRocks(io, Cat("creating staging store directory ", path));
  std::filesystem::path dir(path);
  if (!dir.has_filename()) dir = dir.parent_path();  // "a/b/" names "a/b"
  std::string parent = dir.parent_path().string();
  RETURN_IF_ERROR(SyncDir(fs.get(), parent.empty() ? "." : parent));
  io = fs->CreateDirIfMissing(data_path, rocksdb::IOOptions(), nullptr);
  if (!io.ok()) return FromRocks(io, Cat("creating staging store directory ", data_path));
  return SyncDir(fs.get(), path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<StagingStore>> StagingStore::Open(const StagingOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("staging store path is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!impl->options.log) impl->options.log = LogToStderr;
  impl->db_options = StateDbOptions(impl->options, impl->needs_resume);
  impl->data_path = (std::filesystem::path(options.path) / "batches").string();
  SetDataDbOptions(impl->db_options, options.write_buffer_bytes, &impl->data_db_options,
                   &impl->data_cf_options);
  RETURN_IF_ERROR(CreateDirectories(options.path, impl->data_path, impl->db_options.env));
  {
    absl::MutexLock l(&impl->db_mu);
    absl::Status s = impl->OpenDbLocked();
    if (s.ok()) {
      rocksdb::Status ids = impl->db->GetDbIdentity(impl->store_id);
      if (!ids.ok()) s = FromRocks(ids, Cat("reading the identity of staging store ", options.path));
    }
    if (!s.ok()) {
      impl->CloseDbLocked();
      return s;
    }
  }
  return std::unique_ptr<StagingStore>(new StagingStore(std::move(impl)));
}

}  // namespace deltasidecar::checkpoint
