// The staging store under faults: power loss at random points, a full disk, an
// unclean close and a damaged WAL.
#include "checkpoint/staging_store.h"

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "checkpoint/staging_store_testing.h"
#include "rocksdb/file_system.h"
#include "table/testing/fault_injection_fs.h"

namespace deltasidecar::checkpoint {
namespace {

using namespace staging_testing;  // NOLINT(build/namespaces): the fixture and its helpers

// --- crash consistency ------------------------------------------------------

class StagingCrashTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("staging_crash_test_" + RandomId());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// Each writer stages batches and seals checkpoints, committing now and then,
// until the file system starts failing (the process "dies"); then every write
// that was not synced is forgotten (power loss) and the store is reopened on
// the real file system. Every acknowledged seal must be intact, and no seal
// the registry knows of may miss data.
TEST_P(StagingCrashTest, SealedCheckpointsSurvivePowerLoss) {
  const int seed = GetParam();
  std::mt19937_64 rng(seed);
  auto faulty =
      std::make_shared<table::testing::FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = table::testing::MakeEnv(faulty);
  const std::vector<WriterKey> writers = {{"t", "w0"}, {"t", "w1"}};

  struct Model {
    int64_t epoch = 0;
    int64_t next_cp = 1;
    int64_t committed = -1;                                 // acknowledged MarkCommitted
    int64_t commit_attempt = -1;                            // one whose answer was lost
    std::vector<std::string> open;                          // staged since the last seal
    std::map<int64_t, std::vector<std::string>> sealed;     // acknowledged seals
    std::map<int64_t, std::vector<std::string>> attempted;  // seals whose answer was lost
  };
  std::vector<Model> models(writers.size());

  StagingOptions options;
  options.path = dir_.string();
  options.env = env.get();
  options.write_buffer_bytes = 128 << 10;
  // A whole run takes ~650 mutating operations; most runs die midway.
  faulty->FailAfter(static_cast<int64_t>(rng() % 800));
  {
    auto opened = StagingStore::Open(options);
    if (opened.ok()) {
      std::unique_ptr<StagingStore> store = std::move(*opened);
      bool alive = true;
      for (size_t i = 0; i < writers.size() && alive; ++i) {
        auto reg = RegisterAs(*store, writers[i], std::nullopt, -1);
        if (!reg.ok())
          alive = false;
        else
          models[i].epoch = reg->epoch;
      }
      for (int step = 0; step < 400 && alive; ++step) {
        const size_t i = rng() % writers.size();
        Model& m = models[i];
        const int op = static_cast<int>(rng() % 10);
        if (op < 7) {
          std::string payload =
              Payload(Cat(i, "-", step), 1 + rng() % 40, static_cast<size_t>(rng() % 400));
          auto seq = store->Stage(writers[i], m.epoch, payload, 1);
          if (!seq.ok()) {
            alive = false;
            break;
          }
          m.open.push_back(std::move(payload));
        } else if (op < 9) {
          auto sealed = store->Seal(writers[i], m.epoch, m.next_cp);
          if (!sealed.ok()) {
            m.attempted[m.next_cp] = m.open;
            alive = false;
            break;
          }
          EXPECT_EQ(sealed->batches, m.open.size());
          m.sealed[m.next_cp] = std::move(m.open);
          m.open.clear();
          ++m.next_cp;
        } else if (m.next_cp > 3) {
          // The commit lags the seals, so some are pending at the crash.
          const int64_t up_to = m.next_cp - 1 - static_cast<int64_t>(rng() % 3);
          if (!store->MarkCommitted(writers[i], up_to).ok()) {
            m.commit_attempt = up_to;
            alive = false;
            break;
          }
          m.committed = std::max(m.committed, up_to);
        }
      }
      faulty->FailAfter(0);  // the process dies here: nothing more reaches the disk
    }
  }
  ASSERT_TRUE(faulty->DropUnsyncedData().ok());

  StagingOptions plain;
  plain.path = dir_.string();
  auto reopened = StagingStore::Open(plain);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  StagingStore& store = **reopened;
  for (size_t i = 0; i < writers.size(); ++i) {
    const Model& m = models[i];
    if (m.epoch == 0) continue;  // its registration was never acknowledged
    auto reg = store.Lookup(writers[i]);
    ASSERT_TRUE(reg.ok()) << reg.status();
    EXPECT_EQ(reg->epoch, m.epoch);
    EXPECT_LE(reg->last_committed, std::max(m.committed, m.commit_attempt));
    // Every seal the registry knows reads back intact.
    for (const SealedCheckpoint& pending : reg->pending) {
      std::vector<std::string> got;
      absl::Status s = store.ReadSealed(writers[i], pending.checkpoint_id, [&](std::string_view p) {
        got.emplace_back(p);
        return absl::OkStatus();
      });
      ASSERT_TRUE(s.ok()) << "seed " << seed << " checkpoint " << pending.checkpoint_id << ": "
                          << s;
      auto acked = m.sealed.find(pending.checkpoint_id);
      auto tried = m.attempted.find(pending.checkpoint_id);
      if (acked != m.sealed.end()) {
        EXPECT_EQ(got, acked->second);
      } else {
        ASSERT_NE(tried, m.attempted.end()) << "unknown checkpoint " << pending.checkpoint_id;
        EXPECT_EQ(got, tried->second);
      }
    }
    // Every acknowledged seal that was not acknowledged as committed is there.
    for (const auto& [cp, payloads] : m.sealed) {
      if (cp <= reg->last_committed) continue;
      bool found = false;
      for (const auto& p : reg->pending) found = found || p.checkpoint_id == cp;
      EXPECT_TRUE(found) << "seed " << seed << ": acknowledged checkpoint " << cp << " is lost";
    }
    // The writer goes on after a restore from its last acknowledged seal.
    const int64_t restored = m.sealed.empty() ? -1 : m.sealed.rbegin()->first;
    auto again = RegisterAs(store, writers[i], restored, -1);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_TRUE(store.Stage(writers[i], again->epoch, "after", 1).ok());
    auto next = store.Seal(writers[i], again->epoch, restored + 100);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->batches, 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, StagingCrashTest, ::testing::Range(1, 41));

// --- disk full ----------------------------------------------------------------

// Returns NoSpace from every append while `full` is set.
class DiskFullFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit DiskFullFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
      : rocksdb::FileSystemWrapper(std::move(base)) {}
  static const char* kClassName() { return "DiskFullFileSystem"; }
  const char* Name() const override { return kClassName(); }

  std::atomic<bool> full{false};

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(fname, opts, result, dbg);
    if (s.ok()) result->reset(new File(std::move(*result), &full));
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->ReopenWritableFile(fname, opts, result, dbg);
    if (s.ok()) result->reset(new File(std::move(*result), &full));
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, std::atomic<bool>* full)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(t)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return target()->Append(data, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return target()->Append(data, o, info, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return target()->PositionedAppend(data, offset, o, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& o,
                                       const rocksdb::DataVerificationInfo& info,
                                       rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return target()->PositionedAppend(data, offset, o, info, dbg);
    }

   private:
    std::atomic<bool>* full_;
  };
};

// A store on a file system that answers "no space left" while full_fs_->full.
class StagingStoreDiskFullTest : public StagingStoreTest {
 protected:
  void SetUp() override {
    StagingStoreTest::SetUp();
    env_ = rocksdb::NewCompositeEnv(full_fs_);
    options_.env = env_.get();
    store_ = OpenStore(options_);
  }

  std::shared_ptr<DiskFullFileSystem> full_fs_ =
      std::make_shared<DiskFullFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env_;
  StagingOptions options_;
};

TEST_F(StagingStoreDiskFullTest, DiskFullIsResourceExhaustedThenRecovers) {
  ASSERT_NE(store_, nullptr);
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "before", 1).status());

  full_fs_->full = true;
  // Staging only fills memory; the seal's flush meets the full disk.
  ASSERT_OK(store_->Stage(w, reg.epoch, "during", 1).status());
  EXPECT_CODE(store_->Seal(w, reg.epoch, 1), kResourceExhausted);
  EXPECT_CODE(store_->Seal(w, reg.epoch, 1), kResourceExhausted);
  full_fs_->full = false;

  // Space is back: the next call recovers, nothing staged was lost.
  ASSERT_OK_AND_ASSIGN(uint64_t seq, store_->Stage(w, reg.epoch, "after", 1));
  EXPECT_EQ(seq, 2u);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(w, reg.epoch, 1));
  EXPECT_EQ(sealed.batches, 3u);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("before", "during", "after"));
  ASSERT_OK(store_->MarkCommitted(w, 1));

  // And the state survives a restart.
  Reopen(options_);
  ASSERT_OK_AND_ASSIGN(Registration looked, store_->Lookup(w));
  EXPECT_EQ(looked.last_committed, 1);
  store_.reset();
}

// A failed WAL write (a registration on a full disk) makes the store reopen
// RocksDB. A writer whose open batches are all on disk goes on; one whose
// open batches were only in memory is told to restore.
TEST_F(StagingStoreDiskFullTest, ReopenAfterAFailedWriteKeepsOpenBatchesThatAreOnDisk) {
  const WriterKey w{"t", "w"};
  const WriterKey v{"t", "v"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration vreg, RegisterAs(*store_, v, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "before", 1).status());
  Reopen(options_);  // a clean close flushes w's open batch
  ASSERT_OK(store_->Stage(v, vreg.epoch, "in memory", 1).status());

  full_fs_->full = true;
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"t", "x"}, std::nullopt, -1), kResourceExhausted);
  // Still full: the reopen fails too, and says why.
  EXPECT_CODE(store_->Stage(w, reg.epoch, "lost", 1), kResourceExhausted);
  full_fs_->full = false;
  ASSERT_OK(store_->Stage(w, reg.epoch, "after", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(w, reg.epoch, 1));
  EXPECT_EQ(sealed.batches, 2u);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("before", "after"));

  auto lost = store_->Stage(v, vreg.epoch, "more", 1);
  EXPECT_CODE(lost, kAborted);
  EXPECT_THAT(std::string(lost.status().message()), HasSubstr("restore from the last completed"));
  ASSERT_OK_AND_ASSIGN(vreg, RegisterAs(*store_, v, std::nullopt, -1));
  ASSERT_OK(store_->Stage(v, vreg.epoch, "again", 1).status());
  store_.reset();
}

TEST_F(StagingStoreDiskFullTest, ReadSealedIsAbortedWhenTheStoreReopensUnderIt) {
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string big(3 << 20, 'b');  // two batches fill a read chunk
  for (int b = 0; b < 4; ++b) ASSERT_OK(store_->Stage(w, reg.epoch, Cat(b, big), 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  int seen = 0;
  absl::Status s = store_->ReadSealed(w, 1, [&](std::string_view) {
    if (seen++ == 0) {
      full_fs_->full = true;
      EXPECT_FALSE(RegisterAs(*store_, WriterKey{"t", "x"}, std::nullopt, -1).ok());
      full_fs_->full = false;
      EXPECT_TRUE(store_->Stage(w, reg.epoch, "y", 1).ok());  // reopens
    }
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_EQ(seen, 2);  // the first chunk
  // A retry reads everything.
  std::vector<std::string> got = ReadAll(w, 1);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], Cat(3, big));
  store_.reset();
}

// Staged batches reach the disk only when sealed (or at a clean close). After
// a crash, a writer that had registered must restore and register again; its
// sealed checkpoints are intact.
// A store on a file system that can drop what was not synced (a crash).
class StagingUncleanCloseTest : public ::testing::Test {
 protected:
  StagingUncleanCloseTest() {
    options.path = dir.string();
    options.env = env.get();
  }
  ~StagingUncleanCloseTest() override { fs::remove_all(dir); }

  const fs::path dir =
      fs::path(::testing::TempDir()) / ("staging_unclean_test_" + RandomId());
  const std::shared_ptr<table::testing::FaultInjectionFileSystem> faulty =
      std::make_shared<table::testing::FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  const std::unique_ptr<rocksdb::Env> env = table::testing::MakeEnv(faulty);
  StagingOptions options;
};

TEST_F(StagingUncleanCloseTest, OpenBatchesAreLostAndTheWriterMustRestore) {
  const WriterKey w{"t", "w"};
  Registration reg;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<StagingStore> store, StagingStore::Open(options));
    ASSERT_OK_AND_ASSIGN(reg, RegisterAs(*store, w, std::nullopt, -1));
    ASSERT_OK(store->Stage(w, reg.epoch, "sealed", 1).status());
    ASSERT_OK(store->Seal(w, reg.epoch, 1).status());
    ASSERT_OK(store->Stage(w, reg.epoch, "open", 1).status());
    faulty->FailAfter(0);  // the process dies: the close writes nothing
  }
  ASSERT_TRUE(faulty->DropUnsyncedData().ok());
  StagingOptions plain;
  plain.path = dir.string();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<StagingStore> store, StagingStore::Open(plain));
  auto staged = store->Stage(w, reg.epoch, "next", 1);
  EXPECT_CODE(staged, kAborted);
  EXPECT_THAT(std::string(staged.status().message()),
              HasSubstr("batches staged after checkpoint 1 were not sealed and are gone"));
  EXPECT_CODE(store->Seal(w, reg.epoch, 2), kAborted);
  // The retried seal of checkpoint 1 still answers, and its data is there.
  ASSERT_OK(store->Seal(w, reg.epoch, 1).status());
  std::vector<std::string> got;
  ASSERT_OK(store->ReadSealed(w, 1, [&](std::string_view p) {
    got.emplace_back(p);
    return absl::OkStatus();
  }));
  EXPECT_THAT(got, ElementsAre("sealed"));
  // The restore clears it, also across a restart.
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store, w, 1, -1));
  ASSERT_EQ(again.pending.size(), 1u);
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, StagingStore::Open(plain));
  ASSERT_OK(store->Stage(w, again.epoch, "replayed", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint two, store->Seal(w, again.epoch, 2));
  EXPECT_EQ(two.batches, 1u);
  store.reset();
  fs::remove_all(dir);
}

// A writer that staged nothing since its last seal lost nothing in a crash
// (power loss included): it goes on without registering again, while one
// with open batches must restore.
TEST_F(StagingUncleanCloseTest, IdleWriterGoesOnAfterACrash) {
  const WriterKey idle{"t", "idle"};
  const WriterKey busy{"t", "busy"};
  const WriterKey aborted{"t", "aborted"};
  Registration ri, rb, ra;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<StagingStore> store, StagingStore::Open(options));
    ASSERT_OK_AND_ASSIGN(ri, RegisterAs(*store, idle, std::nullopt, -1));
    ASSERT_OK_AND_ASSIGN(rb, RegisterAs(*store, busy, std::nullopt, -1));
    ASSERT_OK_AND_ASSIGN(ra, RegisterAs(*store, aborted, std::nullopt, -1));
    for (const auto& [w, r] : {std::pair{idle, ri}, {busy, rb}, {aborted, ra}}) {
      ASSERT_OK(store->Stage(w, r.epoch, "sealed", 1).status());
      ASSERT_OK(store->Seal(w, r.epoch, 1).status());
    }
    ASSERT_OK(store->Stage(busy, rb.epoch, "open", 1).status());
    ASSERT_OK(store->Stage(aborted, ra.epoch, "open", 1).status());
    ASSERT_OK(store->Abort(aborted, ra.epoch, 2));
    faulty->FailAfter(0);  // the process dies: the close writes nothing
  }
  ASSERT_TRUE(faulty->DropUnsyncedData().ok());
  StagingOptions plain;
  plain.path = dir.string();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<StagingStore> store, StagingStore::Open(plain));
  EXPECT_CODE(store->Stage(busy, rb.epoch, "next", 1), kAborted);
  for (const auto& [w, r] : {std::pair{idle, ri}, {aborted, ra}}) {
    ASSERT_OK(store->Stage(w, r.epoch, "next", 1).status());
    ASSERT_OK_AND_ASSIGN(SealedCheckpoint two, store->Seal(w, r.epoch, 2));
    EXPECT_EQ(two.batches, 1u);
    EXPECT_EQ(two.rows, 1u);
  }
}

// A WAL damaged before its end (not a torn tail) is salvaged up to the
// damage, and the writers registered then are told their lost seals are
// DATA_LOSS until they register again.
TEST_F(StagingStoreTest, DamagedWalIsSalvagedAndLostSealsAreDataLoss) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string payload(5000, 'p');
  for (int i = 0; i < 6; ++i) ASSERT_OK(store_->Stage(w, reg.epoch, payload, 1).status());
  // Staged batches bypass the WAL; registrations of other writers fill it,
  // so that the damage below lands before the seal's record.
  for (int i = 0; i < 400; ++i) {
    ASSERT_OK(RegisterAs(*store_, WriterKey{"t", Cat("other-", i)}, std::nullopt, -1).status());
  }
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(w, reg.epoch, 1));
  store_.reset();  // the default column family (registry, seals) stays in the WAL
  fs::path wal;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() == ".log" && (wal.empty() || e.file_size() > fs::file_size(wal))) {
      wal = e.path();
    }
  }
  ASSERT_FALSE(wal.empty());
  ASSERT_GT(fs::file_size(wal), 20000u);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(15000);
    char c = 0;
    f.read(&c, 1);
    f.seekp(15000);
    c = static_cast<char>(c ^ 0xff);
    f.write(&c, 1);
  }
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(Registration after, store_->Lookup(w));
  EXPECT_TRUE(after.lost_data);
  EXPECT_EQ(after.epoch, reg.epoch);  // the registration preceded the damage
  ASSERT_OK_AND_ASSIGN(auto left, store_->SealedUpTo(w, 1));
  EXPECT_TRUE(left.empty()) << "the seal came after the damage";
  EXPECT_TRUE(absl::IsDataLoss(RegisterAs(*store_, w, 1, -1).status()));
  // The mark survives a restart, and a registration that rewrites clears it.
  Reopen();
  ASSERT_OK_AND_ASSIGN(after, store_->Lookup(w));
  EXPECT_TRUE(after.lost_data);
  ASSERT_OK_AND_ASSIGN(Registration fresh, RegisterAs(*store_, w, std::nullopt, -1));
  EXPECT_FALSE(fresh.lost_data);
  Reopen();
  ASSERT_OK_AND_ASSIGN(after, store_->Lookup(w));
  EXPECT_FALSE(after.lost_data);
  ASSERT_OK(store_->Stage(w, fresh.epoch, payload, 1).status());
  ASSERT_OK_AND_ASSIGN(sealed, store_->Seal(w, fresh.epoch, 1));
  EXPECT_EQ(sealed.rows, 1u);
}


}  // namespace
}  // namespace deltasidecar::checkpoint
