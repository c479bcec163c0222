#include "checkpoint/staging_store.h"

#include "checkpoint/staging_keys.h"
#include "checkpoint/staging_records.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <filesystem>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "rocksdb/write_batch.h"
#include "table/absl_compat.h"
#include "table/byte_order.h"
#include "table/file_util.h"
#include "table/kill_point.h"
#include "table/snapshot.h"
#include "table/status_macros.h"
#include "table/writer_claims.h"

// Data families. The open batches always have base = last_sealed.
// Every seal records the base its batches were staged under, so a sealed
// checkpoint's data is exactly the family of that base, and bases only grow
// among surviving data (Register drops everything above the restored
// checkpoint before it lowers last_sealed). Hence all data with base <= the
// base of sealed checkpoint N belongs to checkpoints <= N, which lets
// MarkCommitted drop every family up to that base.
//
// Durability. Stage writes the batch into its family's memtable, without the
// WAL; the registry in memory counts the open batches, the stored record
// only as of the last seal, registration or clean close. Seal flushes the
// family, then writes the seal and registry records with a synced WAL. Register
// and Abort sync too; MarkCommitted syncs when it drops families (a durable
// MANIFEST change), so that no seal record outlives its data. The first batch
// after a seal, registration or abort of the open batches writes a synced
// open mark (OpenMarkKey) first; those three delete it. A crash loses the open
// batches; the next open marks every writer with an open mark
// (UnsealedLostKey) unless a clean-close key says the last close flushed them.

namespace deltasidecar::checkpoint {
namespace {

using table::FromRocks;
// One staged value must fit RocksDB's 32-bit value length with room to spare.
constexpr size_t kMaxPayloadBytes = size_t{1} << 30;
// ReadSealed copies batches out in chunks of about this size.
constexpr uint64_t kReadChunkBytes = 4ull << 20;
constexpr size_t kReadChunkBatches = 1024;

// RocksDB's own recovery from a full disk runs on a SstFileManager thread
// that races with DB::Close in 7.8 and retries only every few seconds. The
// store recovers deterministically instead (see StagingStore::Impl::Recover).
class RecoverOnNextWrite : public rocksdb::EventListener {
 public:
  explicit RecoverOnNextWrite(std::shared_ptr<std::atomic<bool>> needs_resume)
      : needs_resume_(std::move(needs_resume)) {}
  const char* Name() const override { return "RecoverOnNextWrite"; }
  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* bg_error) override {
    if (bg_error != nullptr && !bg_error->ok()) needs_resume_->store(true);
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
    needs_resume_->store(true);
  }

 private:
  std::shared_ptr<std::atomic<bool>> needs_resume_;
};

}  // namespace

// Locking: db_mu (shared for every use of `db`, exclusive to replace it), then
// a writer's mu, then map_mu / cf_mu. ReadSealed calls its callback with no
// lock held, so the callback may call back into the store.
struct StagingStore::Impl {
  struct Writer {
    Writer(WriterKey k, std::string i) : key(std::move(k)), id(std::move(i)) {}
    const WriterKey key;
    const std::string id;  // encoded table '\0' writer_id
    absl::Mutex mu;
    bool registered ABSL_GUARDED_BY(mu) = false;
    // The open_* fields and next_batch_seq are current here; the stored
    // record has them as of the last seal, registration or clean close.
    RegistryRecord record ABSL_GUARDED_BY(mu);
    // The store was salvaged from a damaged WAL since the writer last
    // registered: seals it issued may be gone (persisted as a LostKey).
    bool lost_data ABSL_GUARDED_BY(mu) = false;
    // The store was not closed cleanly since the writer last registered, so
    // the batches it had staged and not sealed are gone (UnsealedLostKey).
    bool unsealed_lost ABSL_GUARDED_BY(mu) = false;
    // The stored OpenMarkKey is present: batches may be open.
    bool open_marked ABSL_GUARDED_BY(mu) = false;
    // ReadSealed calls in progress, and the column families they may be
    // reading that were dropped meanwhile: the last reader drops them.
    int readers ABSL_GUARDED_BY(mu) = 0;
    std::vector<rocksdb::ColumnFamilyHandle*> deferred_drops ABSL_GUARDED_BY(mu);
    // Bytes of the open batches (for the per-writer quota); memtables report
    // their arena, not their data, so they are counted here.
    uint64_t open_bytes ABSL_GUARDED_BY(mu) = 0;
  };

  StagingOptions options;
  // Two RocksDB instances: the state (registry, seals, marks; default column
  // family, through the WAL) at options.path, and the staged batches at
  // options.path/batches (one column family per writer and base, never
  // through a WAL). Apart, the state's WAL recovery is independent of the
  // batch families' flushes, and a point-in-time salvage of a damaged WAL
  // works as with a single family.
  rocksdb::Options db_options;
  rocksdb::Options data_db_options;
  rocksdb::ColumnFamilyOptions data_cf_options;
  std::string data_path;
  // The state DB's RocksDB identity, read once at open (StagingStore::id).
  std::string store_id;

  // A write failed: RocksDB's WAL writer may be broken, and DB::Resume() does
  // not replace it when the memtable is empty (the next write then fails or,
  // with assertions on, aborts). The next mutating call reopens the DB.
  std::atomic<bool> needs_reopen{false};
  // A background job (flush) failed; DB::Resume() suffices.
  // Shared with the RocksDB event listener.
  std::shared_ptr<std::atomic<bool>> needs_resume = std::make_shared<std::atomic<bool>>(false);

  absl::Mutex db_mu;
  std::unique_ptr<rocksdb::DB> db ABSL_GUARDED_BY(db_mu);  // null after a failed reopen
  std::unique_ptr<rocksdb::DB> data_db ABSL_GUARDED_BY(db_mu);  // set whenever db is
  absl::Status db_error ABSL_GUARDED_BY(db_mu);            // why db is null
  uint64_t generation ABSL_GUARDED_BY(db_mu) = 0;          // bumped by each reopen

  absl::Mutex map_mu;
  // Entries are never removed, so Writer pointers stay valid.
  absl::flat_hash_map<std::string, std::unique_ptr<Writer>> writers ABSL_GUARDED_BY(map_mu);

  // The live data column family of each (writer, base); handles are owned
  // here until dropped or until the DB closes.
  absl::Mutex cf_mu;
  std::map<std::pair<std::string, int64_t>, rocksdb::ColumnFamilyHandle*> data_cfs
      ABSL_GUARDED_BY(cf_mu);
  uint64_t next_cf_number ABSL_GUARDED_BY(cf_mu) = 0;

  Writer* Find(const std::string& id) {
    absl::MutexLock l(&map_mu);
    auto it = writers.find(id);
    return it == writers.end() ? nullptr : it->second.get();
  }
  Writer* FindOrCreate(const WriterKey& key, const std::string& id) {
    absl::MutexLock l(&map_mu);
    auto& slot = writers[id];
    if (!slot) slot = std::make_unique<Writer>(key, id);
    return slot.get();
  }
  std::vector<Writer*> AllWriters() {
    absl::MutexLock l(&map_mu);
    std::vector<Writer*> all;
    for (const auto& [id, w] : writers) all.push_back(w.get());
    return all;
  }

  // The registered writer, or NOT_FOUND / INVALID_ARGUMENT.
  absl::StatusOr<Writer*> Registered(const WriterKey& key) {
    ASSIGN_OR_RETURN(std::string id, EncodeWriter(key));
    Writer* w = Find(id);
    if (w != nullptr) {
      absl::MutexLock l(&w->mu);
      if (w->registered) return w;
    }
    return absl::NotFoundError(Cat(Describe(key), " is not registered"));
  }

  static absl::Status CheckEpochLocked(const Writer& w, int64_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(w.mu) {
    if (epoch == w.record.epoch) return absl::OkStatus();
    if (epoch < w.record.epoch) {
      return absl::FailedPreconditionError(
          Cat(Describe(w.key), " is fenced: epoch ", epoch, " is older than ", w.record.epoch));
    }
    return absl::FailedPreconditionError(
        Cat(Describe(w.key), ": epoch ", epoch, " is newer than the current ", w.record.epoch));
  }

  // ABORTED when the writer's open batches were lost in a crash: the client
  // retries at the level of the checkpoint (restores from its last completed
  // checkpoint, registers again, replays), not by repeating the call.
  static absl::Status CheckUnsealedLocked(const Writer& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w.mu) {
    if (!w.unsealed_lost) return absl::OkStatus();
    absl::Status s = absl::AbortedError(
        Cat(Describe(w.key), ": the sidecar restarted without a clean shutdown, and the batches "
            "staged after checkpoint ", w.record.last_sealed,
            " were not sealed and are gone; restore from the last completed checkpoint and "
            "register again"));
    s.SetPayload(AV(kReasonPayloadUrl), absl::Cord(AV(kReasonUnsealedLost)));
    return s;
  }

  absl::Status CheckOpen() ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    return db != nullptr ? absl::OkStatus() : db_error;
  }

  rocksdb::ColumnFamilyHandle* FindDataCf(const std::string& id, int64_t base) {
    absl::MutexLock l(&cf_mu);
    auto it = data_cfs.find({id, base});
    return it == data_cfs.end() ? nullptr : it->second;
  }

  // The column family for the writer's batches under `base`, created when
  // missing (a synced MANIFEST write, once per checkpoint and writer).
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> DataCf(const Writer& w, int64_t base)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    if (rocksdb::ColumnFamilyHandle* h = FindDataCf(w.id, base)) return h;
    uint64_t n;
    {
      absl::MutexLock l(&cf_mu);
      n = next_cf_number++;
    }
    rocksdb::ColumnFamilyHandle* h = nullptr;
    rocksdb::Status s =
        data_db->CreateColumnFamily(data_cf_options, DataCfName(w.id, base, n), &h);
    if (!s.ok()) {
      needs_resume->store(true);
      return FromRocks(s, Cat("creating the staging column family of ", Describe(w.key)));
    }
    absl::MutexLock l(&cf_mu);
    data_cfs[{w.id, base}] = h;
    return h;
  }

  // Drops the writer's data column families whose base satisfies `pred`:
  // at once, or, while a ReadSealed of the writer runs, when the last one
  // ends. Either way they leave the map now, so new batches for such a base
  // go to a new family. Call only after the registry change that makes their
  // data unreachable is written; a crash before the drop leaves families
  // that OpenDbLocked collects.
  void DropDataCfs(Writer& w, const std::function<bool(int64_t)>& pred)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w.mu) {
    std::vector<rocksdb::ColumnFamilyHandle*> out;
    {
      absl::MutexLock l(&cf_mu);
      auto it = data_cfs.lower_bound({w.id, std::numeric_limits<int64_t>::min()});
      while (it != data_cfs.end() && it->first.first == w.id) {
        if (pred(it->first.second)) {
          out.push_back(it->second);
          it = data_cfs.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (w.readers > 0) {
      w.deferred_drops.insert(w.deferred_drops.end(), out.begin(), out.end());
    } else {
      DropNow(out);
    }
  }

  void DropNow(const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      // A failed drop leaves a family that the next open collects.
      data_db->DropColumnFamily(h).PermitUncheckedError();
      data_db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }

  // Calls fn(writer, value) for every key `tag` '\0' <table> '\0' <writer id>.
  absl::Status ForEachWriterKey(char tag, std::string_view what,
                                const std::function<absl::Status(Writer*, std::string_view)>& fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu) {
    const char lower[2] = {tag, '\0'};
    const char upper_bytes[2] = {tag, '\x01'};
    rocksdb::Slice upper(upper_bytes, 2);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    for (it->Seek(rocksdb::Slice(lower, 2)); it->Valid(); it->Next()) {
      std::string_view k = ToView(it->key()).substr(2);
      size_t nul = k.find('\0');
      if (nul == std::string_view::npos) {
        return absl::DataLossError(Cat("malformed key while ", what, " in ", options.path));
      }
      Writer* w = FindOrCreate(WriterKey{std::string(k.substr(0, nul)), std::string(k.substr(nul + 1))},
                               std::string(k));
      RETURN_IF_ERROR(fn(w, ToView(it->value())));
    }
    return it->status().ok() ? absl::OkStatus() : FromRocks(it->status(), std::string(what));
  }

  // Opens RocksDB with every column family and (re)loads the registry cache.
  //
  // A WAL damaged before its end (not a torn tail) is salvaged: RocksDB keeps
  // what precedes the damage, and every registered writer is marked as having
  // lost data, so that its lost seals answer DATA_LOSS instead of "never
  // sealed".
  //
  // Open batches are not in the WAL. Unless the last close was clean (it
  // flushed them), the registered writers are marked as having lost them;
  // after a `reopen` within the process, Recover decides that instead.
  absl::Status OpenDbLocked(bool reopen = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu) {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
    bool salvaged = false;
    if (s.IsCorruption()) {
      std::fprintf(stderr,
                   "delta-sidecar: staging store %s: %s; salvaging what precedes the damage "
                   "(writers' seals after it answer DATA_LOSS until they register again)\n",
                   options.path.c_str(), s.ToString().c_str());
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
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    raw = nullptr;
    s = rocksdb::DB::Open(data_db_options, data_path, families, &handles, &raw);
    if (!s.ok()) {
      state->Close().PermitUncheckedError();
      db_error = FromRocks(s, Cat("opening staging store ", data_path));
      return db_error;
    }
    db = std::move(state);
    data_db.reset(raw);
    ++generation;
    db_error = absl::OkStatus();

    // Newest family of each (writer, base); older ones were dropped when a
    // crash interrupted their drop.
    std::vector<rocksdb::ColumnFamilyHandle*> garbage;
    std::map<std::pair<std::string, int64_t>, std::pair<uint64_t, rocksdb::ColumnFamilyHandle*>>
        found;
    uint64_t max_number = 0;
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
      max_number = std::max(max_number, n + 1);
      auto [it, inserted] = found.try_emplace({w, base}, n, h);
      if (!inserted) {
        garbage.push_back(it->second.first < n ? it->second.second : h);
        if (it->second.first < n) it->second = {n, h};
      }
    }

    absl::flat_hash_map<Writer*, RegistryRecord> loaded;
    RETURN_IF_ERROR(ForEachWriterKey('r', "loading the writer registry",
                                     [&](Writer* w, std::string_view value) -> absl::Status {
                                       ASSIGN_OR_RETURN(loaded[w], DecodeRegistry(value, w->key));
                                       return absl::OkStatus();
                                     }));
    std::string ignored;
    const bool clean = db->Get(rocksdb::ReadOptions(), CleanCloseKey(), &ignored).ok();
    const bool marks_kept = db->Get(rocksdb::ReadOptions(), OpenMarksKeptKey(), &ignored).ok();
    absl::flat_hash_set<Writer*> open_marked;
    RETURN_IF_ERROR(ForEachWriterKey('o', "loading the open-batch marks",
                                     [&](Writer* w, std::string_view) {
                                       open_marked.insert(w);
                                       return absl::OkStatus();
                                     }));
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
    absl::flat_hash_set<Writer*> lost;
    RETURN_IF_ERROR(ForEachWriterKey('x', "loading the lost-data marks",
                                     [&](Writer* w, std::string_view) {
                                       lost.insert(w);
                                       return absl::OkStatus();
                                     }));
    absl::flat_hash_set<Writer*> lost_unsealed;
    RETURN_IF_ERROR(ForEachWriterKey('u', "loading the lost-batches marks",
                                     [&](Writer* w, std::string_view) {
                                       lost_unsealed.insert(w);
                                       return absl::OkStatus();
                                     }));
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

    {
      absl::MutexLock l(&cf_mu);
      data_cfs.clear();
      next_cf_number = max_number;
      for (const auto& [key, entry] : found) data_cfs[key] = entry.second;
    }
    DropNow(garbage);
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

  // A clean close flushes the open batches (they are not in the WAL) and
  // then records the registry with them and the clean-close key, synced.
  // After a failed write nothing more is written: the next open finds the
  // close unclean.
  void CloseDbLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu) {
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
      DropNow(w->deferred_drops);
      w->deferred_drops.clear();
    }
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

  // Called at the start of every mutating call, with no lock held: after a
  // failed write, closes and reopens RocksDB (WAL recovery then flushes what
  // the old WAL holds, so no later recovery replays its torn tail) and reloads
  // the registry, which a write that failed late may still have changed; the
  // writers with open batches lose them. After a background error,
  // DB::Resume().
  absl::Status Recover() {
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

  // After a reopen: a writer whose open batches (counted in `before`) are all
  // in its family on disk goes on; one that lost some is marked. Then drops
  // the families nothing refers to.
  absl::Status ReconcileOpenBatches(const absl::flat_hash_map<Writer*, RegistryRecord>& before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu) {
    rocksdb::WriteBatch marks;
    for (const auto& [w, mem] : before) {
      absl::MutexLock l(&w->mu);
      // A seal whose answer failed may still have been recorded: then the
      // stored record is the truth and covers the batches.
      if (!w->registered || w->record.epoch != mem.epoch ||
          w->record.last_sealed != mem.last_sealed || mem.open_batches == 0) {
        continue;
      }
      uint64_t batches = 0;
      uint64_t rows = 0;
      uint64_t chain = 0;
      if (rocksdb::ColumnFamilyHandle* cf = FindDataCf(w->id, mem.last_sealed)) {
        const uint64_t first = mem.next_batch_seq - mem.open_batches;
        std::unique_ptr<rocksdb::Iterator> it(data_db->NewIterator(rocksdb::ReadOptions(), cf));
        for (it->Seek(ToSlice(DataKey(w->id, mem.last_sealed, first))); it->Valid(); it->Next()) {
          std::optional<BatchValue> batch = ParseBatchValue(ToView(it->value()));
          if (!batch) break;
          const uint64_t seq = GetBigEndian<uint64_t>(it->key().data() + it->key().size() - 8);
          chain = ChainChecksum(chain, BatchChecksum(batch->payload, batch->rows, seq));
          rows += batch->rows;
          ++batches;
        }
      }
      if (batches == mem.open_batches && rows == mem.open_rows && chain == mem.open_checksum) {
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

  // Drops the families that no seal and no open batches refer to: left over
  // from a commit, abort or registration that crashed before dropping them,
  // or holding open batches that were declared lost, or of writers that are
  // not registered.
  absl::Status DropUnreferencedFamilies() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu) {
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
    DropNow(unknown);
    return absl::OkStatus();
  }

  // Applies `batch` atomically through the WAL. With `sync` the WAL is synced
  // up to and including it before the call returns; the sync runs inside
  // RocksDB's write path, which refuses to touch a failed WAL writer, rather
  // than through DB::SyncWAL, which does not.
  absl::Status Write(rocksdb::WriteBatch* batch, bool sync, std::string_view what)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db->Write(wo, batch);
    if (!s.ok()) {
      needs_reopen.store(true, std::memory_order_release);
      return FromRocks(s, what);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<SealRecord>> GetSeal(const Writer& w, int64_t id)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), ToSlice(SealKey(w.id, id)), &value);
    if (s.IsNotFound()) return std::optional<SealRecord>();
    if (!s.ok()) return FromRocks(s, Cat("reading seal ", id, " of ", Describe(w.key)));
    ASSIGN_OR_RETURN(SealRecord seal, DecodeSeal(value, w.key, id));
    return std::optional<SealRecord>(seal);
  }

  // Seal records of `w` with lo <= id <= hi, in order.
  absl::StatusOr<std::vector<std::pair<int64_t, SealRecord>>> Seals(const Writer& w, int64_t lo,
                                                                    int64_t hi)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    std::vector<std::pair<int64_t, SealRecord>> out;
    if (lo > hi) return out;
    std::string begin = SealKey(w.id, lo);
    std::string end = SealKeyAfter(w.id, hi);
    rocksdb::Slice upper = ToSlice(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    const size_t prefix = TagPrefix('s', w.id).size();
    for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != prefix + 8) {
        return absl::DataLossError(Cat("malformed seal key of ", Describe(w.key)));
      }
      int64_t id = GetOrderedId(k.data() + prefix);
      ASSIGN_OR_RETURN(SealRecord seal, DecodeSeal(ToView(it->value()), w.key, id));
      out.emplace_back(id, seal);
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), Cat("listing seals of ", Describe(w.key)));
    }
    return out;
  }

  uint64_t FamilyFileBytes(rocksdb::ColumnFamilyHandle* h) ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    uint64_t v = 0;
    return data_db->GetIntProperty(h, rocksdb::DB::Properties::kLiveSstFilesSize, &v) ? v : 0;
  }

  // Bytes the writer holds staged: the files of its sealed checkpoints plus
  // its open batches.
  uint64_t WriterBytes(const Writer& w) ABSL_SHARED_LOCKS_REQUIRED(db_mu)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(w.mu) {
    std::vector<rocksdb::ColumnFamilyHandle*> sealed;
    {
      absl::MutexLock l(&cf_mu);
      for (auto it = data_cfs.lower_bound({w.id, std::numeric_limits<int64_t>::min()});
           it != data_cfs.end() && it->first.first == w.id; ++it) {
        if (it->first.second != w.record.last_sealed) sealed.push_back(it->second);
      }
    }
    uint64_t total = w.open_bytes;
    for (rocksdb::ColumnFamilyHandle* h : sealed) total += FamilyFileBytes(h);
    return total;
  }

  uint64_t ApproximateBytesLocked() ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    if (db == nullptr) return 0;
    // Every file and memtable of every family counts in full; a commit or an
    // abort drops whole families, so their space is back at once.
    uint64_t total = 0;
    for (rocksdb::DB* d : {db.get(), data_db.get()}) {
      uint64_t files = 0;
      uint64_t mem = 0;
      d->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &files);
      d->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
      total += files + mem;
    }
    return total;
  }
};

StagingStore::StagingStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StagingStore::~StagingStore() {
  if (impl_ == nullptr) return;
  absl::MutexLock l(&impl_->db_mu);
  impl_->CloseDbLocked();
}

namespace {

// One line per message on stderr, prefixed so operators can tell it apart.
class StderrLogger : public rocksdb::Logger {
 public:
  StderrLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[2048];
    int n = std::vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    std::fprintf(stderr, "delta-sidecar: staging store (RocksDB): %s\n", buf);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<StagingStore>> StagingStore::Open(const StagingOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("staging store path is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  rocksdb::Options& o = impl->db_options;
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
  // RocksDB's info log goes to stderr, warnings and errors only, never to the
  // data disk: when that disk fills, Debian's RocksDB 7.8 aborts on an
  // assertion in its file logger after a failed log write, which would turn
  // "disk full" (RESOURCE_EXHAUSTED, recoverable) into a crash.
  o.info_log = std::make_shared<StderrLogger>();
  o.avoid_flush_during_shutdown = true;
  o.listeners.push_back(std::make_shared<RecoverOnNextWrite>(impl->needs_resume));
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(8 << 20);
  t.cache_index_and_filter_blocks = true;
  t.block_size = 64 << 10;
  // Debian's RocksDB computes CRC32C in software (no SSE4.2 build); XXH3
  // checks blocks several times faster.
  t.checksum = rocksdb::kXXH3;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));

  impl->data_path = (std::filesystem::path(options.path) / "batches").string();
  impl->data_db_options = o;
  impl->data_db_options.write_buffer_size = 4 << 20;

  // Data families: memtables of write_buffer_bytes, all of them together
  // bounded by three of those (the largest is flushed when over), never
  // compacted: a family holds one checkpoint's batches and is dropped whole
  // once they are committed or discarded.
  const uint64_t buffer = std::max<uint64_t>(options.write_buffer_bytes, 64 << 10);
  impl->data_db_options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(3 * buffer);
  rocksdb::ColumnFamilyOptions& d = impl->data_cf_options;
  d = rocksdb::ColumnFamilyOptions(impl->data_db_options);
  d.write_buffer_size = buffer;
  d.max_write_buffer_number = 3;
  d.min_write_buffer_number_to_merge = 1;
  d.disable_auto_compactions = true;
  d.level0_slowdown_writes_trigger = 1 << 20;
  d.level0_stop_writes_trigger = 1 << 20;

  // RocksDB creates the directory but does not fsync its parent, so a power
  // loss could take the whole store with it, synced WAL and all.
  {
    rocksdb::Env* env = o.env != nullptr ? o.env : rocksdb::Env::Default();
    const std::shared_ptr<rocksdb::FileSystem>& fs = env->GetFileSystem();
    rocksdb::IOStatus io = fs->CreateDirIfMissing(options.path, rocksdb::IOOptions(), nullptr);
    if (!io.ok()) return FromRocks(io, Cat("creating staging store directory ", options.path));
    std::filesystem::path dir(options.path);
    if (!dir.has_filename()) dir = dir.parent_path();  // "a/b/" names "a/b"
    std::string parent = dir.parent_path().string();
    RETURN_IF_ERROR(table::SyncDir(fs.get(), parent.empty() ? "." : parent));
    io = fs->CreateDirIfMissing(impl->data_path, rocksdb::IOOptions(), nullptr);
    if (!io.ok()) return FromRocks(io, Cat("creating staging store directory ", impl->data_path));
    RETURN_IF_ERROR(table::SyncDir(fs.get(), options.path));
  }
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

const std::string& StagingStore::id() const { return impl_->store_id; }

absl::StatusOr<Registration> StagingStore::Register(const WriterKey& writer,
                                                    std::optional<int64_t> restored_checkpoint,
                                                    int64_t table_last_committed,
                                                    int64_t incarnation) {
  ASSIGN_OR_RETURN(std::string id, EncodeWriter(writer));
  RETURN_IF_ERROR(impl_->Recover());
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  Impl::Writer* w = impl_->FindOrCreate(writer, id);
  absl::MutexLock l(&w->mu);
  const bool was_registered = w->registered;
  RegistryRecord prev = was_registered ? w->record : RegistryRecord{};
  const bool same_incarnation = was_registered && prev.incarnation == incarnation;

  // The table is the source of truth for what is committed; the store's own
  // record only lags it (MarkCommitted runs after the table commit).
  const int64_t committed = std::max(
      {same_incarnation ? prev.last_committed : int64_t{-1}, table_last_committed, int64_t{-1}});
  if (same_incarnation && NeedsNewIncarnation(restored_checkpoint, committed)) {
    return absl::FailedPreconditionError(Cat(
        Describe(writer), " restores ",
        restored_checkpoint ? Cat("checkpoint ", *restored_checkpoint) : std::string("nothing"),
        " although checkpoint ", committed, " is committed: it needs a new incarnation"));
  }
  RegistryRecord next = prev;
  next.epoch = prev.epoch + 1;
  next.open_rows = 0;
  next.open_batches = 0;
  next.open_checksum = 0;

  // A restore that goes on with the history keeps the seals in
  // (committed, R]; every other seal is discarded. A new incarnation keeps
  // none: they may come from a line of checkpoints the stream processor
  // abandoned while the writer was registered elsewhere.
  ASSIGN_OR_RETURN(auto seals, impl_->Seals(*w, std::numeric_limits<int64_t>::min(),
                                            std::numeric_limits<int64_t>::max()));
  std::vector<std::pair<int64_t, SealRecord>> kept, discarded;
  for (auto& seal : seals) {
    const bool keep = restored_checkpoint.has_value() && same_incarnation && seal.first > committed &&
                      seal.first <= *restored_checkpoint;
    (keep ? kept : discarded).push_back(std::move(seal));
  }
  if (w->lost_data && restored_checkpoint.has_value() && same_incarnation &&
      *restored_checkpoint > std::max(committed, prev.last_sealed)) {
    // The restore needs seals the salvage lost: nothing here can be committed
    // for checkpoints up to R; the client must rewrite from what is committed.
    return absl::DataLossError(Cat(
        Describe(writer), ": the staging store was salvaged from a damaged WAL and lost the "
        "seals up to checkpoint ", *restored_checkpoint, " (it holds seals up to ",
        prev.last_sealed, "); restore from the last committed checkpoint (", committed,
        ") and write again"));
  }
  if (!same_incarnation) {
    next.incarnation = incarnation;
    next.last_committed = -1;
  } else {
    next.last_committed = committed;
  }
  // New batches are keyed above every kept seal; ids up to R are never sealed
  // again, since the stream processor numbers its next checkpoint above R.
  next.last_sealed = restored_checkpoint.has_value() ? *restored_checkpoint : -1;
  if (!kept.empty()) next.last_sealed = std::max(next.last_sealed, kept.back().first);

  // Drop every seal but the kept ones, and every data family whose base is
  // not the base of a kept seal. Point deletes, as in MarkCommitted: range
  // tombstones slow every iterator.
  rocksdb::WriteBatch batch;
  absl::flat_hash_set<int64_t> kept_bases;
  for (const auto& [cp, seal] : kept) kept_bases.insert(seal.base);
  for (const auto& [cp, seal] : discarded) {
    batch.Delete(ToSlice(SealKey(id, cp))).PermitUncheckedError();
  }
  batch.Put(ToSlice(RegistryKey(id)), ToSlice(EncodeRegistry(next))).PermitUncheckedError();
  if (w->lost_data) batch.Delete(ToSlice(LostKey(id))).PermitUncheckedError();
  if (w->unsealed_lost) batch.Delete(ToSlice(UnsealedLostKey(id))).PermitUncheckedError();
  if (w->open_marked) batch.Delete(ToSlice(OpenMarkKey(id))).PermitUncheckedError();
  // Synced: a lost epoch bump would let a fenced writer back in after a crash.
  RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, Cat("registering ", Describe(writer))));
  table::ReachKillPoint(table::KillPoint::kRegisterAfterWrite);
  w->registered = true;
  w->record = next;
  w->lost_data = false;
  w->unsealed_lost = false;
  w->open_marked = false;
  w->open_bytes = 0;
  impl_->DropDataCfs(*w, [&](int64_t base) { return !kept_bases.contains(base); });

  Registration reg;
  reg.epoch = next.epoch;
  reg.incarnation = next.incarnation;
  reg.table_writer_id = table::IncarnationIdentity(writer.writer_id, next.incarnation);
  reg.last_committed = next.last_committed;
  reg.was_registered = was_registered;
  for (const auto& [cp, seal] : kept) {
    reg.pending.push_back(ToSealed(cp, seal));
    reg.pending.back().identity = reg.table_writer_id;
  }
  return reg;
}

absl::StatusOr<Registration> StagingStore::Lookup(const WriterKey& writer) {
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  Registration reg;
  reg.epoch = w->record.epoch;
  reg.incarnation = w->record.incarnation;
  reg.table_writer_id = table::IncarnationIdentity(writer.writer_id, w->record.incarnation);
  reg.last_committed = w->record.last_committed;
  reg.lost_data = w->lost_data;
  ASSIGN_OR_RETURN(auto seals, impl_->Seals(*w, w->record.last_committed + 1,
                                            std::numeric_limits<int64_t>::max()));
  for (const auto& [cp, seal] : seals) {
    reg.pending.push_back(ToSealed(cp, seal));
    reg.pending.back().identity = reg.table_writer_id;
  }
  return reg;
}

absl::Status StagingStore::CheckEpoch(const WriterKey& writer, int64_t epoch) {
  absl::ReaderMutexLock dl(&impl_->db_mu);
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  return Impl::CheckEpochLocked(*w, epoch);
}

absl::StatusOr<uint64_t> StagingStore::Stage(const WriterKey& writer, int64_t epoch,
                                             std::string_view payload, uint32_t rows) {
  if (payload.size() > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(
        Cat("batch of ", payload.size(), " bytes is over the limit of ", kMaxPayloadBytes));
  }
  RETURN_IF_ERROR(impl_->Recover());
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  if (impl_->options.max_bytes > 0) {
    const uint64_t live = impl_->ApproximateBytesLocked();
    if (live + payload.size() > impl_->options.max_bytes) {
      return absl::ResourceExhaustedError(
          Cat("staging store holds about ", live, " bytes; a batch of ", payload.size(),
              " bytes would exceed its limit of ", impl_->options.max_bytes));
    }
  }

  absl::MutexLock l(&w->mu);
  RETURN_IF_ERROR(Impl::CheckEpochLocked(*w, epoch));
  RETURN_IF_ERROR(Impl::CheckUnsealedLocked(*w));
  if (impl_->options.max_bytes_per_writer > 0) {
    const uint64_t held = impl_->WriterBytes(*w);
    if (held + payload.size() > impl_->options.max_bytes_per_writer) {
      return absl::ResourceExhaustedError(
          Cat(Describe(writer), " holds about ", held, " staged bytes; a batch of ",
              payload.size(), " bytes would exceed its quota of ",
              impl_->options.max_bytes_per_writer,
              " (commit or abort its checkpoints, or seal less per checkpoint)"));
    }
  }
  if (!w->open_marked) {
    // Synced before the batch is acknowledged: after a crash, this mark is
    // what says the writer lost batches (OpenMarkKey).
    rocksdb::WriteBatch mark;
    mark.Put(ToSlice(OpenMarkKey(w->id)), rocksdb::Slice()).PermitUncheckedError();
    RETURN_IF_ERROR(impl_->Write(&mark, /*sync=*/true, Cat("staging a batch of ", Describe(writer))));
    w->open_marked = true;
  }
  ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, impl_->DataCf(*w, w->record.last_sealed));
  RegistryRecord next = w->record;
  const uint64_t seq = next.next_batch_seq++;
  const uint64_t checksum = BatchChecksum(payload, rows, seq);
  next.open_rows += rows;
  next.open_batches += 1;
  next.open_checksum = ChainChecksum(next.open_checksum, checksum);

  char trailer[kBatchTrailerBytes];
  StoreLittleEndian<uint32_t>(rows, trailer);
  StoreLittleEndian<uint64_t>(checksum, trailer + 4);
  const std::string key = DataKey(w->id, next.last_sealed, seq);
  rocksdb::Slice key_part = ToSlice(key);
  rocksdb::Slice value_parts[2] = {ToSlice(payload), rocksdb::Slice(trailer, sizeof(trailer))};
  rocksdb::WriteBatch batch(key.size() + payload.size() + 64);
  batch.Put(cf, rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 2))
      .PermitUncheckedError();
  // Not through the WAL: the batch is durable once Seal flushes its family.
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  rocksdb::Status s = impl_->data_db->Write(wo, &batch);
  if (!s.ok()) return FromRocks(s, Cat("staging a batch of ", Describe(writer)));
  w->open_bytes += key.size() + payload.size() + sizeof(trailer);
  table::ReachKillPoint(table::KillPoint::kStageAfterWrite);
  w->record = next;
  return seq;
}

absl::StatusOr<SealedCheckpoint> StagingStore::Seal(const WriterKey& writer, int64_t epoch,
                                                    int64_t checkpoint_id) {
  if (checkpoint_id < 0) {
    return absl::InvalidArgumentError(Cat("checkpoint id ", checkpoint_id, " is negative"));
  }
  RETURN_IF_ERROR(impl_->Recover());
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  RETURN_IF_ERROR(Impl::CheckEpochLocked(*w, epoch));
  const RegistryRecord& rec = w->record;
  const std::string what = Cat("sealing checkpoint ", checkpoint_id, " of ", Describe(writer));
  if (checkpoint_id == rec.last_sealed && checkpoint_id > rec.last_committed) {
    ASSIGN_OR_RETURN(std::optional<SealRecord> existing, impl_->GetSeal(*w, checkpoint_id));
    if (existing.has_value() && existing->epoch == epoch) {
      // A retried call. Rewriting the unchanged registry record with a sync
      // makes sure the seal is durable even if the first answer was lost
      // after a reopen that found it in the page cache.
      rocksdb::WriteBatch batch;
      batch.Put(ToSlice(RegistryKey(w->id)), ToSlice(EncodeRegistry(rec))).PermitUncheckedError();
      RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, what));
      SealedCheckpoint sealed = ToSealed(checkpoint_id, *existing);
      sealed.identity = table::IncarnationIdentity(writer.writer_id, rec.incarnation);
      return sealed;
    }
  }
  if (checkpoint_id <= rec.last_committed) {
    return absl::FailedPreconditionError(Cat("checkpoint ", checkpoint_id,
                                             " is not after the last committed checkpoint ",
                                             rec.last_committed, " of ", Describe(writer)));
  }
  if (checkpoint_id <= rec.last_sealed) {
    return absl::FailedPreconditionError(Cat("checkpoint ", checkpoint_id,
                                             " is not after the last sealed checkpoint ",
                                             rec.last_sealed, " of ", Describe(writer)));
  }
  RETURN_IF_ERROR(Impl::CheckUnsealedLocked(*w));
  if (rec.open_batches > 0) {
    // The batches are not in the WAL: make them durable in their own family
    // (the flush syncs the file and the MANIFEST) before the seal names them.
    rocksdb::ColumnFamilyHandle* cf = impl_->FindDataCf(w->id, rec.last_sealed);
    if (cf == nullptr) {
      return absl::InternalError(Cat(what, ": the staged batches' column family is missing"));
    }
    rocksdb::FlushOptions fo;
    fo.allow_write_stall = true;
    rocksdb::Status s = impl_->data_db->Flush(fo, cf);
    if (!s.ok()) {
      impl_->needs_resume->store(true);
      return FromRocks(s, what);
    }
  }
  SealRecord seal;
  seal.base = rec.last_sealed;
  seal.first_seq = rec.next_batch_seq - rec.open_batches;
  seal.batches = rec.open_batches;
  seal.rows = rec.open_rows;
  seal.checksum = rec.open_checksum;
  seal.epoch = epoch;
  RegistryRecord next = rec;
  next.last_sealed = checkpoint_id;
  next.open_rows = 0;
  next.open_batches = 0;
  next.open_checksum = 0;
  rocksdb::WriteBatch batch;
  batch.Put(ToSlice(SealKey(w->id, checkpoint_id)), ToSlice(EncodeSeal(seal)))
      .PermitUncheckedError();
  batch.Put(ToSlice(RegistryKey(w->id)), ToSlice(EncodeRegistry(next))).PermitUncheckedError();
  if (w->open_marked) batch.Delete(ToSlice(OpenMarkKey(w->id))).PermitUncheckedError();
  table::ReachKillPoint(table::KillPoint::kSealBeforeWrite);
  RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, what));
  table::ReachKillPoint(table::KillPoint::kSealAfterWrite);
  w->open_marked = false;
  w->record = next;
  w->open_bytes = 0;
  SealedCheckpoint sealed = ToSealed(checkpoint_id, seal);
  sealed.identity = table::IncarnationIdentity(writer.writer_id, next.incarnation);
  return sealed;
}

absl::StatusOr<std::vector<SealedCheckpoint>> StagingStore::SealedUpTo(const WriterKey& writer,
                                                                       int64_t up_to) {
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  ASSIGN_OR_RETURN(auto seals, impl_->Seals(*w, w->record.last_committed + 1, up_to));
  std::vector<SealedCheckpoint> out;
  out.reserve(seals.size());
  for (const auto& [cp, seal] : seals) out.push_back(ToSealed(cp, seal));
  return out;
}

absl::Status StagingStore::ReadSealed(
    const WriterKey& writer, int64_t checkpoint_id,
    const std::function<absl::Status(std::string_view payload)>& fn) {
  Impl& impl = *impl_;
  const std::string cp_name = Cat("checkpoint ", checkpoint_id, " of ", Describe(writer));
  const std::string reopened =
      Cat(cp_name, ": the staging store was reopened during the read; retry");
  // The seal's family is immutable, and while this read is registered as a
  // reader of the writer a concurrent MarkCommitted, Abort or Register defers
  // dropping it. Batches are copied out in chunks and `fn` runs with no lock
  // held, so staging goes on during a commit.
  struct Reader {
    Impl* impl;
    Impl::Writer* w = nullptr;
    uint64_t generation = 0;
    ~Reader() {
      if (w == nullptr) return;
      absl::ReaderMutexLock dl(&impl->db_mu);
      if (impl->generation != generation || impl->db == nullptr) return;  // reset by reopen
      absl::MutexLock l(&w->mu);
      if (--w->readers == 0 && !w->deferred_drops.empty()) {
        impl->DropNow(w->deferred_drops);
        w->deferred_drops.clear();
      }
    }
  } reader{&impl};
  Impl::Writer* w = nullptr;
  SealRecord seal;
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  {
    absl::ReaderMutexLock dl(&impl.db_mu);
    RETURN_IF_ERROR(impl.CheckOpen());
    ASSIGN_OR_RETURN(w, impl.Registered(writer));
    absl::MutexLock l(&w->mu);
    ASSIGN_OR_RETURN(std::optional<SealRecord> found, impl.GetSeal(*w, checkpoint_id));
    if (!found.has_value()) {
      if (checkpoint_id <= w->record.last_committed) {
        return absl::FailedPreconditionError(Cat(cp_name, " is already committed"));
      }
      return absl::NotFoundError(Cat(cp_name, " is not sealed"));
    }
    seal = *found;
    cf = impl.FindDataCf(w->id, seal.base);
    ++w->readers;
    reader.w = w;
    reader.generation = impl.generation;
  }

  const std::string end = DataBaseEnd(w->id, seal.base);
  const size_t key_size = DataBaseBegin(w->id, seal.base).size() + 8;
  rocksdb::Slice upper = ToSlice(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;

  uint64_t expected_seq = seal.first_seq;
  uint64_t batches = 0;
  uint64_t rows = 0;
  uint64_t chain = 0;
  // From seq 0: a batch under this base before the seal's first is damage too.
  std::string seek_key = DataBaseBegin(w->id, seal.base);
  std::vector<std::pair<uint64_t, std::string>> chunk;  // seq, value
  bool done = cf == nullptr;  // no batches at all: the checks below tell
  while (!done) {
    chunk.clear();
    {
      absl::ReaderMutexLock dl(&impl.db_mu);
      if (impl.generation != reader.generation || impl.db == nullptr) {
        return absl::AbortedError(reopened);
      }
      std::unique_ptr<rocksdb::Iterator> it(impl.data_db->NewIterator(ro, cf));
      uint64_t bytes = 0;
      for (it->Seek(ToSlice(seek_key)); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        if (k.size() != key_size) {
          return absl::DataLossError(Cat(cp_name, ": malformed data key"));
        }
        const uint64_t seq = GetBigEndian<uint64_t>(k.data() + k.size() - 8);
        chunk.emplace_back(seq, it->value().ToString());
        bytes += it->value().size();
        if (bytes >= kReadChunkBytes || chunk.size() >= kReadChunkBatches) {
          seek_key = DataKey(w->id, seal.base, seq + 1);
          break;
        }
      }
      if (!it->status().ok()) return FromRocks(it->status(), Cat("reading ", cp_name));
      done = !it->Valid();
    }
    for (const auto& [seq, value] : chunk) {
      if (seq != expected_seq || batches >= seal.batches) {
        if (seq > expected_seq && batches < seal.batches) {
          return absl::DataLossError(Cat(cp_name, ": batch seq ", expected_seq, " is missing"));
        }
        return absl::DataLossError(Cat(cp_name, ": unexpected batch seq ", seq));
      }
      std::optional<BatchValue> batch = ParseBatchValue(value);
      if (!batch) {
        return absl::DataLossError(Cat(cp_name, ", batch seq ", seq, ": value is truncated"));
      }
      const uint64_t actual = BatchChecksum(batch->payload, batch->rows, seq);
      if (batch->checksum != actual) {
        return absl::DataLossError(Cat(cp_name, ", batch seq ", seq, ": checksum mismatch"));
      }
      RETURN_IF_ERROR(fn(batch->payload));
      chain = ChainChecksum(chain, actual);
      rows += batch->rows;
      ++batches;
      ++expected_seq;
    }
  }
  if (batches != seal.batches) {
    return absl::DataLossError(Cat(cp_name, ": batch seq ", expected_seq, " is missing (", batches,
                                   " of ", seal.batches, " batches found)"));
  }
  if (rows != seal.rows || chain != seal.checksum) {
    return absl::DataLossError(Cat(cp_name, ": batches do not match the seal (", rows, " of ",
                                   seal.rows, " rows; checksum ", chain, " vs ", seal.checksum,
                                   ")"));
  }
  return absl::OkStatus();
}

absl::Status StagingStore::MarkCommitted(const WriterKey& writer, int64_t up_to) {
  RETURN_IF_ERROR(impl_->Recover());
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  const RegistryRecord& rec = w->record;
  if (up_to <= rec.last_committed) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto seals, impl_->Seals(*w, rec.last_committed + 1, up_to));
  RegistryRecord next = rec;
  next.last_committed = up_to;
  rocksdb::WriteBatch batch;
  // All data with a base up to that of the newest committed seal belongs to
  // committed seals (see "Data families" above).
  int64_t max_base = std::numeric_limits<int64_t>::min();
  if (!seals.empty()) {
    // Point deletes, not a range: every range tombstone in the memtable is
    // re-fragmented by each new iterator, so one per commit would make every
    // later Seals() slower until the memtable flushes. Seals up to
    // last_committed are gone already (deleted here or by Register).
    for (const auto& [cp, seal] : seals) {
      max_base = std::max(max_base, seal.base);
      batch.Delete(ToSlice(SealKey(w->id, cp))).PermitUncheckedError();
    }
  }
  batch.Put(ToSlice(RegistryKey(w->id)), ToSlice(EncodeRegistry(next))).PermitUncheckedError();
  // Synced before the drop (a durable MANIFEST change): a seal must never
  // outlive its data, even when the record is lost to a power loss.
  RETURN_IF_ERROR(
      impl_->Write(&batch, /*sync=*/!seals.empty(),
                   Cat("committing checkpoints up to ", up_to, " of ", Describe(writer))));
  w->record = next;
  impl_->DropDataCfs(*w, [&](int64_t base) { return base <= max_base; });
  return absl::OkStatus();
}

absl::Status StagingStore::Abort(const WriterKey& writer, int64_t epoch, int64_t checkpoint_id) {
  RETURN_IF_ERROR(impl_->Recover());
  absl::ReaderMutexLock dl(&impl_->db_mu);
  RETURN_IF_ERROR(impl_->CheckOpen());
  ASSIGN_OR_RETURN(Impl::Writer * w, impl_->Registered(writer));
  absl::MutexLock l(&w->mu);
  RETURN_IF_ERROR(Impl::CheckEpochLocked(*w, epoch));
  const RegistryRecord& rec = w->record;
  const std::string what = Cat("aborting checkpoint ", checkpoint_id, " of ", Describe(writer));
  rocksdb::WriteBatch batch;
  RegistryRecord next = rec;
  int64_t dropped_base;
  if (checkpoint_id > rec.last_sealed) {
    // The open batches; their sequence numbers are not reused.
    dropped_base = rec.last_sealed;
    next.open_rows = 0;
    next.open_batches = 0;
    next.open_checksum = 0;
    batch.Put(ToSlice(RegistryKey(w->id)), ToSlice(EncodeRegistry(next))).PermitUncheckedError();
    if (w->open_marked) batch.Delete(ToSlice(OpenMarkKey(w->id))).PermitUncheckedError();
  } else {
    if (checkpoint_id <= rec.last_committed) {
      return absl::FailedPreconditionError(
          Cat("checkpoint ", checkpoint_id, " of ", Describe(writer), " is already committed"));
    }
    ASSIGN_OR_RETURN(std::optional<SealRecord> seal, impl_->GetSeal(*w, checkpoint_id));
    if (!seal.has_value()) return absl::OkStatus();  // aborted before, or never sealed
    // last_sealed stays: the open batches are keyed by it, and checkpoint ids
    // are not reused.
    dropped_base = seal->base;
    batch.Delete(ToSlice(SealKey(w->id, checkpoint_id))).PermitUncheckedError();
  }
  RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, what));
  table::ReachKillPoint(table::KillPoint::kAbortAfterWrite);
  if (checkpoint_id > w->record.last_sealed) {
    w->open_bytes = 0;
    w->open_marked = false;
  }
  w->record = next;
  impl_->DropDataCfs(*w, [&](int64_t base) { return base == dropped_base; });
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WriterKey>> StagingStore::Writers() {
  absl::ReaderMutexLock dl(&impl_->db_mu);
  std::vector<Impl::Writer*> all;
  {
    absl::MutexLock l(&impl_->map_mu);
    for (const auto& [id, w] : impl_->writers) all.push_back(w.get());
  }
  std::vector<WriterKey> out;
  for (Impl::Writer* w : all) {
    absl::MutexLock l(&w->mu);
    if (w->registered) out.push_back(w->key);
  }
  std::sort(out.begin(), out.end(), [](const WriterKey& a, const WriterKey& b) {
    return std::tie(a.table, a.writer_id) < std::tie(b.table, b.writer_id);
  });
  return out;
}

StagingStore::Stats StagingStore::GetStats() {
  Stats out;
  absl::ReaderMutexLock dl(&impl_->db_mu);
  if (impl_->db == nullptr) return out;
  for (rocksdb::DB* d : {impl_->db.get(), impl_->data_db.get()}) {
    uint64_t v = 0;
    auto add = [&](const std::string& property, uint64_t* to) {
      if (d->GetAggregatedIntProperty(property, &v)) *to += v;
    };
    add(rocksdb::DB::Properties::kLiveSstFilesSize, &out.sst_bytes);
    add(rocksdb::DB::Properties::kCurSizeAllMemTables, &out.memtable_bytes);
    add(rocksdb::DB::Properties::kEstimatePendingCompactionBytes, &out.pending_compaction_bytes);
    if (d->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &v)) out.running_flushes += v;
    if (d->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &v)) {
      out.running_compactions += v;
    }
    // Delayed only while RocksDB slows writes (its rate is set otherwise too).
    uint64_t delayed = 0;
    if (d->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v) && v != 0) {
      out.writes_stopped = true;
    }
    if (d->GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &delayed)) {
      out.delayed_write_rate += delayed;
    }
  }
  absl::MutexLock l(&impl_->cf_mu);
  out.batch_families = impl_->data_cfs.size();
  return out;
}

uint64_t StagingStore::ApproximateBytes() {
  absl::ReaderMutexLock dl(&impl_->db_mu);
  return impl_->ApproximateBytesLocked();
}

bool NeedsNewIncarnation(std::optional<int64_t> restored_checkpoint, int64_t committed) {
  // Without a restored checkpoint the stream processor numbers checkpoints
  // afresh, so it rewinds whenever anything was committed.
  return restored_checkpoint.has_value() ? *restored_checkpoint < committed : committed >= 0;
}

void AppendStagedEntry(std::string_view key, std::string_view value, std::string* payload) {
  PutVarint(key.size(), payload);
  payload->append(key);
  PutVarint(value.size(), payload);
  payload->append(value);
}

absl::Status ForEachStagedEntry(
    std::string_view payload,
    const std::function<absl::Status(std::string_view key, std::string_view value)>& fn) {
  const char* p = payload.data();
  const char* const end = p + payload.size();
  auto get_part = [&](std::string_view* out) -> bool {
    uint64_t n = 0;
    if (GetVarint(&p, end, &n) != VarintResult::kOk || n > static_cast<uint64_t>(end - p)) {
      return false;
    }
    *out = std::string_view(p, n);
    p += n;
    return true;
  };
  while (p < end) {
    const size_t at = p - payload.data();
    std::string_view key;
    std::string_view value;
    if (!get_part(&key) || !get_part(&value)) {
      return absl::DataLossError(Cat("staged batch is malformed at byte ", at));
    }
    RETURN_IF_ERROR(fn(key, value));
  }
  return absl::OkStatus();
}

}  // namespace deltasidecar::checkpoint
