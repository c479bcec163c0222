// StagingStore::Impl: the store's state and the steps its operations share,
// split over staging_store.cc (the protocol operations) and
// staging_store_open.cc (opening, closing, recovery after errors and crashes).
// Internal to the store.
#pragma once

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
#include <thread>
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
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/base/file_util.h"
#include "table/base/kill_point.h"
#include "table/snapshot.h"
#include "table/base/status_macros.h"
#include "table/writer_claims.h"
#include "checkpoint/staging_keys.h"
#include "checkpoint/staging_records.h"
#include "checkpoint/staging_store.h"

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

  // Families whose drop is queued for the dropper thread (RunDropper).
  absl::Mutex drop_mu;
  std::vector<rocksdb::ColumnFamilyHandle*> drop_queue ABSL_GUARDED_BY(drop_mu);
  bool stop_dropper ABSL_GUARDED_BY(drop_mu) = false;
  std::thread dropper;

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

  // The prologue every per-writer operation shares, and the locks it holds
  // until destroyed (the writer's lock is released before db_mu):
  //
  //   Impl::WriterOp op(*impl_);
  //   ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kMutate, epoch));
  //
  // Begin recovers from a background error first (kMutate only), takes
  // db_mu shared, checks the store is open, finds the registered writer,
  // takes its lock and, when `epoch` is given, checks it is current.
  enum Access { kRead, kMutate };
  class WriterOp {
   public:
    explicit WriterOp(Impl& impl) : impl_(impl) {}
    WriterOp(const WriterOp&) = delete;
    WriterOp& operator=(const WriterOp&) = delete;
    ~WriterOp() {
      if (w_ != nullptr) w_->mu.Unlock();
      if (db_locked_) impl_.db_mu.ReaderUnlock();
    }

    absl::StatusOr<Writer*> Begin(const WriterKey& key, Access access,
                                  std::optional<int64_t> epoch = std::nullopt) {
      if (access == kMutate) RETURN_IF_ERROR(impl_.Recover());
      impl_.db_mu.ReaderLock();
      db_locked_ = true;
      RETURN_IF_ERROR(impl_.CheckOpen());
      ASSIGN_OR_RETURN(Writer * w, impl_.Registered(key));
      w->mu.Lock();
      w_ = w;
      if (epoch.has_value()) RETURN_IF_ERROR(CheckEpochLocked(*w, *epoch));
      return w;
    }

   private:
    Impl& impl_;
    bool db_locked_ = false;
    Writer* w_ = nullptr;
  };

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

  // Drops the writer's data column families whose base satisfies `pred`
  // (queued for the dropper thread): at once, or, while a ReadSealed of the
  // writer runs, when the last one ends. Either way they leave the map now, so new batches for such a base
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
      QueueDrops(out);
    }
  }

  // Hands the families to the dropper thread: a drop writes the data DB's
  // MANIFEST and OPTIONS files (tens of ms under write load), which the call
  // that made their data unreachable (a Commit's bookkeeping) need not wait
  // for. A crash before the drop leaves families that the next open collects.
  void QueueDrops(const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    if (handles.empty()) return;
    absl::MutexLock l(&drop_mu);
    drop_queue.insert(drop_queue.end(), handles.begin(), handles.end());
  }

  // Drops the queued families (the dropper thread, and CloseDbLocked before
  // the data DB closes, so no queued handle outlives its DB).
  void DropQueued() ABSL_SHARED_LOCKS_REQUIRED(db_mu) {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    {
      absl::MutexLock l(&drop_mu);
      handles.swap(drop_queue);
    }
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      // A failed drop leaves a family that the next open collects.
      data_db->DropColumnFamily(h).PermitUncheckedError();
      data_db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }

  // The dropper thread's loop: drops what is queued until `stop_dropper`.
  void RunDropper() {
    for (;;) {
      {
        absl::MutexLock l(&drop_mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(drop_mu) {
          return stop_dropper || !drop_queue.empty();
        };
        drop_mu.Await(absl::Condition(&ready));
        if (drop_queue.empty()) return;  // stopping, nothing left
      }
      absl::ReaderMutexLock l(&db_mu);
      if (data_db != nullptr) DropQueued();
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
  absl::Status OpenDbLocked(bool reopen = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);

  // The steps of OpenDbLocked. Opens both instances with every column family
  // (`handles`: the batch instance's), salvaging a damaged state WAL; returns
  // whether it did. On failure db_error says why.
  absl::StatusOr<bool> OpenInstancesLocked(std::vector<rocksdb::ColumnFamilyHandle*>* handles)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);
  // The batch families found at open: the newest of each (writer, base), and
  // older ones whose drop a crash interrupted.
  struct FoundFamilies {
    std::map<std::pair<std::string, int64_t>, std::pair<uint64_t, rocksdb::ColumnFamilyHandle*>>
        newest;
    std::vector<rocksdb::ColumnFamilyHandle*> garbage;
    uint64_t next_number = 0;  // above every family's number
  };
  absl::StatusOr<FoundFamilies> SortFamiliesLocked(
      const std::vector<rocksdb::ColumnFamilyHandle*>& handles) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);
  // Loads the registry and the marks into the writers, marking them first as
  // the salvage and an unclean close require.
  absl::Status LoadWritersLocked(bool salvaged, bool reopen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);
  // The writers with a key `tag` '\0' <table> '\0' <writer id>.
  absl::StatusOr<absl::flat_hash_set<Writer*>> WritersWithKey(char tag, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);

  // A clean close flushes the open batches (they are not in the WAL) and
  // then records the registry with them and the clean-close key, synced.
  // After a failed write nothing more is written: the next open finds the
  // close unclean.
  void CloseDbLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);

  // Called at the start of every mutating call, with no lock held: after a
  // failed write, closes and reopens RocksDB (WAL recovery then flushes what
  // the old WAL holds, so no later recovery replays its torn tail) and reloads
  // the registry, which a write that failed late may still have changed; the
  // writers with open batches lose them. After a background error,
  // DB::Resume().
  absl::Status Recover();

  // After a reopen: a writer whose open batches (counted in `before`) are all
  // in its family on disk goes on; one that lost some is marked. Then drops
  // the families nothing refers to.
  absl::Status ReconcileOpenBatches(const absl::flat_hash_map<Writer*, RegistryRecord>& before) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);

  // Drops the families that no seal and no open batches refer to: left over
  // from a commit, abort or registration that crashed before dropping them,
  // or holding open batches that were declared lost, or of writers that are
  // not registered.
  absl::Status DropUnreferencedFamilies() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu);

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

  // Reading a sealed checkpoint (StagingStore::ReadSealed).
  class SealReadPin;
  struct SealedSource {
    Writer* w;
    SealRecord seal;
    rocksdb::ColumnFamilyHandle* cf;  // null when the checkpoint has no batches
  };
  // Finds the seal of `checkpoint_id` and pins the writer's families for the
  // read: FAILED_PRECONDITION when it is committed already, NOT_FOUND when
  // it is not sealed.
  absl::StatusOr<SealedSource> PinSeal(const WriterKey& writer, int64_t checkpoint_id,
                                       std::string_view cp_name, SealReadPin* pin);
  // Copies the next chunk of batches from `*seek_key` on into `chunk` and
  // moves `*seek_key` past it; true when the checkpoint's batches are done.
  absl::StatusOr<bool> ReadBatchChunk(const SealedSource& source, std::string_view cp_name,
                                      std::string* seek_key,
                                      std::vector<std::pair<uint64_t, std::string>>* chunk)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu);

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

}  // namespace deltasidecar::checkpoint
