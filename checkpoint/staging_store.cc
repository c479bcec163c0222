#include "checkpoint/staging_store_impl.h"

namespace deltasidecar::checkpoint {
namespace {

// Kill points of this file (see table/base/kill_point.h).
const KillPoint kRegisterAfterWrite("register.after_write",
                                    "the new epoch is durable; RegisterWriter has not answered");
const KillPoint kStageAfterWrite("stage.after_write",
                                 "a batch is in the staging store; Write has not acknowledged it");
const KillPoint kSealBeforeWrite("seal.before_write",
                                 "PrepareCommit was checked; nothing is sealed yet");
const KillPoint kSealAfterWrite("seal.after_write",
                                "the seal is durable; PrepareCommit has not answered");
const KillPoint kAbortAfterWrite("abort.after_write",
                                 "the abort is durable; Abort has not answered");

// One staged value must fit RocksDB's 32-bit value length with room to spare.
constexpr size_t kMaxPayloadBytes = size_t{1} << 30;
// ReadSealed copies batches out in chunks of about this size.
constexpr uint64_t kReadChunkBytes = 4ull << 20;
constexpr size_t kReadChunkBatches = 1024;

}  // namespace

StagingStore::StagingStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->dropper = std::thread([impl = impl_.get()] { impl->RunDropper(); });
}

StagingStore::~StagingStore() {
  if (impl_ == nullptr) return;
  {
    absl::MutexLock l(&impl_->db_mu);
    impl_->CloseDbLocked();
  }
  {
    absl::MutexLock l(&impl_->drop_mu);
    impl_->stop_dropper = true;
  }
  impl_->dropper.join();
}

const std::string& StagingStore::id() const { return impl_->store_id; }

namespace {

using SealList = std::vector<std::pair<int64_t, SealRecord>>;

// What a registration writes: the writer's next record, and which of its
// seals survive.
struct RegistrationPlan {
  RegistryRecord next;
  SealList kept, discarded;
};

// A restore that goes on with the history keeps the seals in (committed, R];
// every other seal is discarded. A new incarnation keeps none: they may come
// from a line of checkpoints the stream processor abandoned while the writer
// was registered elsewhere.
RegistrationPlan PlanRegistration(const RegistryRecord& prev, bool same_incarnation,
                                  std::optional<int64_t> restored_checkpoint, int64_t committed,
                                  int64_t incarnation, SealList seals) {
  RegistrationPlan plan;
  plan.next = prev;
  plan.next.epoch = prev.epoch + 1;
  plan.next.open_rows = 0;
  plan.next.open_batches = 0;
  plan.next.open_checksum = 0;
  for (auto& seal : seals) {
    const bool keep = restored_checkpoint.has_value() && same_incarnation && seal.first > committed &&
                      seal.first <= *restored_checkpoint;
    (keep ? plan.kept : plan.discarded).push_back(std::move(seal));
  }
  plan.next.incarnation = same_incarnation ? prev.incarnation : incarnation;
  plan.next.last_committed = same_incarnation ? committed : -1;
  // New batches are keyed above every kept seal; ids up to R are never sealed
  // again, since the stream processor numbers its next checkpoint above R.
  plan.next.last_sealed = restored_checkpoint.value_or(-1);
  if (!plan.kept.empty()) plan.next.last_sealed = std::max(plan.next.last_sealed, plan.kept.back().first);
  return plan;
}

}  // namespace

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
  ASSIGN_OR_RETURN(SealList seals, impl_->Seals(*w, std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max()));
  RegistrationPlan plan = PlanRegistration(prev, same_incarnation, restored_checkpoint, committed,
                                           incarnation, std::move(seals));

  // Drop every seal but the kept ones, and every data family whose base is
  // not the base of a kept seal. Point deletes, as in MarkCommitted: range
  // tombstones slow every iterator.
  rocksdb::WriteBatch batch;
  absl::flat_hash_set<int64_t> kept_bases;
  for (const auto& [cp, seal] : plan.kept) kept_bases.insert(seal.base);
  for (const auto& [cp, seal] : plan.discarded) {
    batch.Delete(ToSlice(SealKey(id, cp))).PermitUncheckedError();
  }
  batch.Put(ToSlice(RegistryKey(id)), ToSlice(EncodeRegistry(plan.next))).PermitUncheckedError();
  if (w->lost_data) batch.Delete(ToSlice(LostKey(id))).PermitUncheckedError();
  if (w->unsealed_lost) batch.Delete(ToSlice(UnsealedLostKey(id))).PermitUncheckedError();
  if (w->open_marked) batch.Delete(ToSlice(OpenMarkKey(id))).PermitUncheckedError();
  // Synced: a lost epoch bump would let a fenced writer back in after a crash.
  RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, Cat("registering ", Describe(writer))));
  kRegisterAfterWrite.Reach();
  w->registered = true;
  w->record = plan.next;
  w->lost_data = false;
  w->unsealed_lost = false;
  w->open_marked = false;
  w->open_bytes = 0;
  impl_->DropDataCfs(*w, [&](int64_t base) { return !kept_bases.contains(base); });

  Registration reg;
  reg.epoch = plan.next.epoch;
  reg.incarnation = plan.next.incarnation;
  reg.table_writer_id = table::IncarnationIdentity(writer.writer_id, plan.next.incarnation);
  reg.last_committed = plan.next.last_committed;
  reg.was_registered = was_registered;
  for (const auto& [cp, seal] : plan.kept) {
    reg.pending.push_back(ToSealed(cp, seal));
    reg.pending.back().identity = reg.table_writer_id;
  }
  return reg;
}

absl::StatusOr<Registration> StagingStore::Lookup(const WriterKey& writer) {
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kRead));
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
  Impl::WriterOp op(*impl_);
  return op.Begin(writer, Impl::kRead, epoch).status();
}

absl::StatusOr<uint64_t> StagingStore::Stage(const WriterKey& writer, int64_t epoch,
                                             std::string_view payload, uint32_t rows) {
  if (payload.size() > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(
        Cat("batch of ", payload.size(), " bytes is over the limit of ", kMaxPayloadBytes));
  }
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kMutate, epoch));
  if (impl_->options.max_bytes > 0) {
    const uint64_t live = impl_->ApproximateBytesLocked();
    if (live + payload.size() > impl_->options.max_bytes) {
      return absl::ResourceExhaustedError(
          Cat("staging store holds about ", live, " bytes; a batch of ", payload.size(),
              " bytes would exceed its limit of ", impl_->options.max_bytes));
    }
  }
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
  kStageAfterWrite.Reach();
  w->record = next;
  return seq;
}

absl::StatusOr<SealedCheckpoint> StagingStore::Seal(const WriterKey& writer, int64_t epoch,
                                                    int64_t checkpoint_id) {
  if (checkpoint_id < 0) {
    return absl::InvalidArgumentError(Cat("checkpoint id ", checkpoint_id, " is negative"));
  }
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kMutate, epoch));
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
  kSealBeforeWrite.Reach();
  RETURN_IF_ERROR(impl_->Write(&batch, /*sync=*/true, what));
  kSealAfterWrite.Reach();
  w->open_marked = false;
  w->record = next;
  w->open_bytes = 0;
  SealedCheckpoint sealed = ToSealed(checkpoint_id, seal);
  sealed.identity = table::IncarnationIdentity(writer.writer_id, next.incarnation);
  return sealed;
}

absl::StatusOr<std::vector<SealedCheckpoint>> StagingStore::SealedUpTo(const WriterKey& writer,
                                                                       int64_t up_to) {
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kRead));
  ASSIGN_OR_RETURN(auto seals, impl_->Seals(*w, w->record.last_committed + 1, up_to));
  std::vector<SealedCheckpoint> out;
  out.reserve(seals.size());
  for (const auto& [cp, seal] : seals) out.push_back(ToSealed(cp, seal));
  return out;
}

// Registers a read of one writer's sealed checkpoint for as long as it lives
// (RAII): while a read is registered, a concurrent MarkCommitted, Abort or
// Register defers dropping the writer's families, and the last reader to
// finish drops them. A reopen of the store (a new generation) voids the pin.
class StagingStore::Impl::SealReadPin {
 public:
  explicit SealReadPin(Impl* impl) : impl_(impl) {}
  SealReadPin(const SealReadPin&) = delete;
  SealReadPin& operator=(const SealReadPin&) = delete;
  ~SealReadPin() {
    if (w_ == nullptr) return;
    absl::ReaderMutexLock dl(&impl_->db_mu);
    if (!Current()) return;  // reset by a reopen
    absl::MutexLock l(&w_->mu);
    if (--w_->readers == 0 && !w_->deferred_drops.empty()) {
      impl_->QueueDrops(w_->deferred_drops);
      w_->deferred_drops.clear();
    }
  }

  // Requires impl->db_mu (shared) and w->mu.
  void Pin(Writer* w) {
    ++w->readers;
    w_ = w;
    generation_ = impl_->generation;
  }
  // Requires impl->db_mu (shared): false once the store was reopened.
  bool Current() const { return impl_->generation == generation_ && impl_->db != nullptr; }

 private:
  Impl* const impl_;
  Writer* w_ = nullptr;
  uint64_t generation_ = 0;
};

// The seal's family is immutable, and the read is pinned (SealReadPin), so
// batches are copied out in chunks and `fn` runs with no lock held: staging
// goes on during a commit.
absl::Status StagingStore::ReadSealed(
    const WriterKey& writer, int64_t checkpoint_id,
    const std::function<absl::Status(std::string_view payload)>& fn) {
  const std::string cp_name = Cat("checkpoint ", checkpoint_id, " of ", Describe(writer));
  Impl::SealReadPin pin(impl_.get());
  ASSIGN_OR_RETURN(Impl::SealedSource source, impl_->PinSeal(writer, checkpoint_id, cp_name, &pin));
  BatchChain chain(source.seal.first_seq);
  // From seq 0: a batch under this base before the seal's first is damage too.
  std::string seek_key = DataBaseBegin(source.w->id, source.seal.base);
  std::vector<std::pair<uint64_t, std::string>> chunk;  // seq, value
  bool done = source.cf == nullptr;  // no batches at all: the checks below tell
  while (!done) {
    {
      absl::ReaderMutexLock dl(&impl_->db_mu);
      if (!pin.Current()) {
        return absl::AbortedError(
            Cat(cp_name, ": the staging store was reopened during the read; retry"));
      }
      ASSIGN_OR_RETURN(done, impl_->ReadBatchChunk(source, cp_name, &seek_key, &chunk));
    }
    for (const auto& [seq, value] : chunk) {
      BatchValue batch;
      RETURN_IF_ERROR(chain.Add(seq, value, source.seal.batches, cp_name, &batch));
      RETURN_IF_ERROR(fn(batch.payload));
    }
  }
  const SealRecord& seal = source.seal;
  if (chain.batches() != seal.batches) {
    return absl::DataLossError(Cat(cp_name, ": batch seq ", chain.next_seq(), " is missing (",
                                   chain.batches(), " of ", seal.batches, " batches found)"));
  }
  if (!chain.Matches(seal.batches, seal.rows, seal.checksum)) {
    return absl::DataLossError(Cat(cp_name, ": batches do not match the seal (", chain.rows(),
                                   " of ", seal.rows, " rows; checksum ", chain.checksum(), " vs ",
                                   seal.checksum, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<StagingStore::Impl::SealedSource> StagingStore::Impl::PinSeal(
    const WriterKey& writer, int64_t checkpoint_id, std::string_view cp_name, SealReadPin* pin) {
  WriterOp op(*this);
  ASSIGN_OR_RETURN(Writer * w, op.Begin(writer, kRead));
  ASSIGN_OR_RETURN(std::optional<SealRecord> found, GetSeal(*w, checkpoint_id));
  if (!found.has_value()) {
    if (checkpoint_id <= w->record.last_committed) {
      return absl::FailedPreconditionError(Cat(cp_name, " is already committed"));
    }
    return absl::NotFoundError(Cat(cp_name, " is not sealed"));
  }
  pin->Pin(w);
  return SealedSource{w, *found, FindDataCf(w->id, found->base)};
}

absl::StatusOr<bool> StagingStore::Impl::ReadBatchChunk(
    const SealedSource& source, std::string_view cp_name, std::string* seek_key,
    std::vector<std::pair<uint64_t, std::string>>* chunk) {
  chunk->clear();
  const std::string end = DataBaseEnd(source.w->id, source.seal.base);
  const size_t key_size = DataBaseBegin(source.w->id, source.seal.base).size() + 8;
  rocksdb::Slice upper = ToSlice(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(data_db->NewIterator(ro, source.cf));
  uint64_t bytes = 0;
  for (it->Seek(ToSlice(*seek_key)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != key_size) return absl::DataLossError(Cat(cp_name, ": malformed data key"));
    const uint64_t seq = GetBigEndian<uint64_t>(k.data() + k.size() - 8);
    chunk->emplace_back(seq, it->value().ToString());
    bytes += it->value().size();
    if (bytes >= kReadChunkBytes || chunk->size() >= kReadChunkBatches) {
      *seek_key = DataKey(source.w->id, source.seal.base, seq + 1);
      break;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), Cat("reading ", cp_name));
  return !it->Valid();
}

absl::Status StagingStore::MarkCommitted(const WriterKey& writer, int64_t up_to) {
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kMutate));
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
  Impl::WriterOp op(*impl_);
  ASSIGN_OR_RETURN(Impl::Writer * w, op.Begin(writer, Impl::kMutate, epoch));
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
  kAbortAfterWrite.Reach();
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
