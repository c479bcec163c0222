#include "checkpoint/staging_store.h"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/file_system.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/snapshot.h"
#include "table/testing/fault_injection_fs.h"

namespace deltasidecar::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define ASSERT_OK(expr)                                \
  do {                                                 \
    const absl::Status ds_s_ = (expr);                 \
    ASSERT_TRUE(ds_s_.ok()) << #expr << ": " << ds_s_; \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                         \
  auto DS_CONCAT_T_(so_, __LINE__) = (expr);                    \
  ASSERT_TRUE(DS_CONCAT_T_(so_, __LINE__).ok())                 \
      << #expr << ": " << DS_CONCAT_T_(so_, __LINE__).status(); \
  lhs = std::move(DS_CONCAT_T_(so_, __LINE__)).value()
#define DS_CONCAT_T_(a, b) DS_CONCAT_T_INNER_(a, b)
#define DS_CONCAT_T_INNER_(a, b) a##b

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
absl::Status StatusOf(const absl::Status& s) { return s; }

#define EXPECT_CODE(expr, code_)                                                \
  do {                                                                          \
    const absl::Status ds_s_ = StatusOf(expr);                                  \
    EXPECT_EQ(ds_s_.code(), absl::StatusCode::code_) << #expr << ": " << ds_s_; \
  } while (0)

// A payload of `rows` staged entries whose keys name `tag`.
std::string Payload(std::string_view tag, int rows, size_t value_bytes = 16) {
  std::string p;
  for (int i = 0; i < rows; ++i) {
    AppendStagedEntry(Cat(tag, "/", i), std::string(value_bytes, static_cast<char>('a' + i % 26)),
                      &p);
  }
  return p;
}

// Registers as a sidecar alone on its table root does: the store's current
// incarnation goes on unless the registration rewinds past a committed
// checkpoint, which takes the next one. (Which incarnation is free is the
// table's to say: table/writer_claims.h.)
absl::StatusOr<Registration> RegisterAs(StagingStore& store, const WriterKey& w,
                                        std::optional<int64_t> restored, int64_t table_last) {
  int64_t incarnation = 0;
  if (auto current = store.Lookup(w); current.ok()) {
    incarnation = current->incarnation;
    if (NeedsNewIncarnation(restored, std::max(current->last_committed, table_last))) {
      ++incarnation;
    }
  }
  return store.Register(w, restored, table_last, incarnation);
}

class StagingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("staging_store_test_" + RandomId());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<StagingStore> OpenStore(StagingOptions options = {}) {
    options.path = dir_.string();
    auto store = StagingStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  void Reopen(StagingOptions options = {}) {
    store_.reset();
    store_ = OpenStore(options);
  }

  std::vector<std::string> ReadAll(const WriterKey& w, int64_t cp) {
    std::vector<std::string> out;
    absl::Status s = store_->ReadSealed(w, cp, [&](std::string_view p) {
      out.emplace_back(p);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Runs `fn` on a raw RocksDB handle to one of the store's two databases
  // (store closed): the state (registry, seals, marks) in its directory, or
  // the staged batches in its "batches" subdirectory, with every column
  // family open in creation order (the default one first).
  using RawFn = std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>;
  void WithRawDb(const RawFn& fn, bool batches = true) {
    store_.reset();
    rocksdb::Options o;
    std::vector<std::string> names;
    const std::string path = batches ? (dir_ / "batches").string() : dir_.string();
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, path, families, &handles, &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::unique_ptr<rocksdb::DB> db(raw);
    fn(db.get(), handles);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
  }

  // Keys under `prefix` in any column family of the store (closes the store).
  std::vector<std::string> RawKeys(std::string_view prefix) {
    std::vector<std::string> keys;
    for (bool batches : {false, true}) {
    WithRawDb([&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
      for (auto* h : handles) {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
        for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
          if (!it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
          keys.push_back(it->key().ToString());
        }
        EXPECT_TRUE(it->status().ok());
      }
    }, batches);
    }
    return keys;
  }

  fs::path dir_;
  std::unique_ptr<StagingStore> store_;
};

TEST(StagedEntryTest, RoundTripsAndRejectsMalformed) {
  std::string p;
  AppendStagedEntry("k1", "v1", &p);
  AppendStagedEntry("", "", &p);
  AppendStagedEntry(std::string(300, 'k'), std::string(70000, 'v'), &p);
  std::vector<std::pair<std::string, std::string>> seen;
  ASSERT_OK(ForEachStagedEntry(p, [&](std::string_view k, std::string_view v) {
    seen.emplace_back(k, v);
    return absl::OkStatus();
  }));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("k1"), std::string("v1")));
  EXPECT_EQ(seen[1], std::make_pair(std::string(), std::string()));
  EXPECT_EQ(seen[2].first.size(), 300u);
  EXPECT_EQ(seen[2].second.size(), 70000u);

  auto ignore = [](std::string_view, std::string_view) { return absl::OkStatus(); };
  EXPECT_CODE(ForEachStagedEntry(p.substr(0, p.size() - 1), ignore), kDataLoss);
  EXPECT_CODE(ForEachStagedEntry(std::string("\x05k", 2), ignore), kDataLoss);
  EXPECT_CODE(ForEachStagedEntry(std::string(11, '\xff'), ignore), kDataLoss);
  EXPECT_TRUE(ForEachStagedEntry("", ignore).ok());
  // The callback's error stops the walk and is returned as is.
  EXPECT_CODE(ForEachStagedEntry(p, [](std::string_view,
                                       std::string_view) { return absl::CancelledError("stop"); }),
              kCancelled);
}

TEST_F(StagingStoreTest, RoundTripSeveralWritersAndTables) {
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  const std::vector<WriterKey> writers = {{"t1", "w1"}, {"t1", "w2"}, {"t2", "w1"}};
  std::map<int, int64_t> epochs;
  for (size_t i = 0; i < writers.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, writers[i], std::nullopt, -1));
    EXPECT_EQ(reg.epoch, 1);
    EXPECT_EQ(reg.incarnation, 0);
    EXPECT_EQ(reg.table_writer_id, writers[i].writer_id);
    EXPECT_TRUE(reg.pending.empty());
    EXPECT_EQ(reg.last_committed, -1);
    epochs[i] = reg.epoch;
  }
  // Two checkpoints per writer, interleaved between writers.
  for (int cp = 1; cp <= 2; ++cp) {
    for (size_t i = 0; i < writers.size(); ++i) {
      for (int b = 0; b < 3; ++b) {
        ASSERT_OK_AND_ASSIGN(
            uint64_t seq,
            store_->Stage(writers[i], epochs[i], Payload(Cat(i, "-", cp, "-", b), b + 1), b + 1));
        EXPECT_EQ(seq, static_cast<uint64_t>((cp - 1) * 3 + b));
      }
    }
    for (size_t i = 0; i < writers.size(); ++i) {
      ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(writers[i], epochs[i], cp));
      EXPECT_EQ(sealed.checkpoint_id, cp);
      EXPECT_EQ(sealed.epoch, epochs[i]);
      EXPECT_EQ(sealed.batches, 3u);
      EXPECT_EQ(sealed.rows, 6u);
    }
  }
  for (size_t i = 0; i < writers.size(); ++i) {
    for (int cp = 1; cp <= 2; ++cp) {
      std::vector<std::string> got = ReadAll(writers[i], cp);
      ASSERT_EQ(got.size(), 3u);
      for (int b = 0; b < 3; ++b) EXPECT_EQ(got[b], Payload(Cat(i, "-", cp, "-", b), b + 1));
    }
  }
  ASSERT_OK_AND_ASSIGN(std::vector<WriterKey> listed, store_->Writers());
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].table, "t1");
  EXPECT_EQ(listed[0].writer_id, "w1");
  EXPECT_EQ(listed[2].table, "t2");

  // Committing one writer leaves the others alone.
  ASSERT_OK(store_->MarkCommitted(writers[1], 2));
  ASSERT_OK_AND_ASSIGN(auto w1_left, store_->SealedUpTo(writers[1], 100));
  EXPECT_TRUE(w1_left.empty());
  ASSERT_OK_AND_ASSIGN(auto w0_left, store_->SealedUpTo(writers[0], 100));
  EXPECT_EQ(w0_left.size(), 2u);
  EXPECT_EQ(ReadAll(writers[2], 2).size(), 3u);
  ASSERT_OK_AND_ASSIGN(Registration w1, store_->Lookup(writers[1]));
  EXPECT_EQ(w1.last_committed, 2);
  EXPECT_TRUE(w1.pending.empty());
}

TEST_F(StagingStoreTest, UnknownAndInvalidWriters) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  EXPECT_CODE(store_->Lookup(w), kNotFound);
  EXPECT_CODE(store_->CheckEpoch(w, 1), kNotFound);
  EXPECT_CODE(store_->Stage(w, 1, "x", 1), kNotFound);
  EXPECT_CODE(store_->Seal(w, 1, 1), kNotFound);
  EXPECT_CODE(store_->MarkCommitted(w, 1), kNotFound);
  EXPECT_CODE(store_->Abort(w, 1, 1), kNotFound);
  EXPECT_CODE(store_->SealedUpTo(w, 1), kNotFound);
  EXPECT_CODE(store_->ReadSealed(w, 1, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"t", ""}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"t", "a\nb"}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"", "w"}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{std::string("a\0b", 3), "w"}, std::nullopt, -1),
              kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto listed, store_->Writers());
  EXPECT_TRUE(listed.empty());
  // A writer id of the maximum length works.
  const WriterKey longest{"t", std::string(table::kMaxWriterIdBytes, 'x')};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, longest, std::nullopt, -1));
  ASSERT_OK(store_->Stage(longest, reg.epoch, "p", 1).status());
  ASSERT_OK(store_->Seal(longest, reg.epoch, 1).status());
  EXPECT_THAT(ReadAll(longest, 1), ElementsAre("p"));
  // Seal with a negative id is refused.
  EXPECT_CODE(store_->Seal(longest, reg.epoch, -1), kInvalidArgument);
}

TEST_F(StagingStoreTest, EpochsFenceStageSealAndAbort) {
  store_ = OpenStore();
  const WriterKey w{"orders", "sink-0"};
  ASSERT_OK_AND_ASSIGN(Registration first, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, first.epoch, Payload("a", 2), 2).status());
  ASSERT_OK(store_->Seal(w, first.epoch, 1).status());
  ASSERT_OK_AND_ASSIGN(Registration second, RegisterAs(*store_, w, 1, -1));
  EXPECT_EQ(second.epoch, first.epoch + 1);
  ASSERT_EQ(second.pending.size(), 1u);

  absl::Status fenced = store_->CheckEpoch(w, first.epoch);
  EXPECT_EQ(fenced.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fenced.message(), "writer sink-0 of table orders is fenced: epoch 1 is older than 2");
  EXPECT_CODE(store_->Stage(w, first.epoch, "x", 1), kFailedPrecondition);
  EXPECT_CODE(store_->Seal(w, first.epoch, 2), kFailedPrecondition);
  EXPECT_CODE(store_->Abort(w, first.epoch, 1), kFailedPrecondition);
  EXPECT_CODE(store_->Stage(w, second.epoch + 1, "x", 1), kFailedPrecondition);
  ASSERT_OK(store_->CheckEpoch(w, second.epoch));

  // Nothing the zombie tried changed the state.
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 10));
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre(Payload("a", 2)));
  ASSERT_OK(store_->Stage(w, second.epoch, "b", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint two, store_->Seal(w, second.epoch, 2));
  EXPECT_EQ(two.epoch, second.epoch);
  EXPECT_THAT(ReadAll(w, 2), ElementsAre("b"));
}

TEST_F(StagingStoreTest, RestoreKeepsSealsUpToRestoredAndDropsLater) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 4; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), cp), cp).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->MarkCommitted(w, 1));
  ASSERT_OK(store_->Stage(w, reg.epoch, Payload("open", 1), 1).status());

  // Restored from checkpoint 3: 2 and 3 are pending, 4 and the open batch go.
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 3, 1));
  EXPECT_EQ(again.epoch, 2);
  EXPECT_EQ(again.incarnation, 0);
  EXPECT_EQ(again.table_writer_id, "w");
  EXPECT_EQ(again.last_committed, 1);
  ASSERT_EQ(again.pending.size(), 2u);
  EXPECT_EQ(again.pending[0].checkpoint_id, 2);
  EXPECT_EQ(again.pending[0].rows, 2u);
  EXPECT_EQ(again.pending[1].checkpoint_id, 3);
  EXPECT_EQ(again.pending[1].epoch, 1);
  EXPECT_CODE(store_->ReadSealed(w, 4, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  EXPECT_THAT(ReadAll(w, 2), ElementsAre(Payload("cp2", 2)));
  EXPECT_THAT(ReadAll(w, 3), ElementsAre(Payload("cp3", 3)));

  // Checkpoints after the restore continue above it; the open batch is gone.
  EXPECT_CODE(store_->Seal(w, again.epoch, 3), kFailedPrecondition);
  ASSERT_OK(store_->Stage(w, again.epoch, Payload("new", 1), 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, again.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre(Payload("new", 1)));
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  ASSERT_EQ(sealed.size(), 3u);
  ASSERT_OK(store_->MarkCommitted(w, 4));
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, RestoreReconcilesWithTableLastCommitted) {
  // The sidecar crashed after the table committed 1..2 but before
  // MarkCommitted: the table's record wins.
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), 1), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 3, 2));
  EXPECT_EQ(again.incarnation, 0);
  EXPECT_EQ(again.last_committed, 2);
  ASSERT_EQ(again.pending.size(), 1u);
  EXPECT_EQ(again.pending[0].checkpoint_id, 3);
  EXPECT_THAT(ReadAll(w, 3), ElementsAre(Payload("cp3", 1)));
  EXPECT_CODE(store_->ReadSealed(w, 2, [](std::string_view) { return absl::OkStatus(); }),
              kFailedPrecondition);
  ASSERT_OK(store_->MarkCommitted(w, 3));
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, FreshRegistrationDropsUncommitted) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  const WriterKey other{"t", "other"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration oreg, RegisterAs(*store_, other, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "a", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  ASSERT_OK(store_->Stage(w, reg.epoch, "b", 1).status());
  ASSERT_OK(store_->Stage(other, oreg.epoch, "o", 1).status());
  ASSERT_OK(store_->Seal(other, oreg.epoch, 1).status());

  ASSERT_OK_AND_ASSIGN(Registration fresh, RegisterAs(*store_, w, std::nullopt, -1));
  EXPECT_EQ(fresh.epoch, 2);
  EXPECT_EQ(fresh.incarnation, 0);  // nothing was committed: no collision
  EXPECT_TRUE(fresh.pending.empty());
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  EXPECT_TRUE(sealed.empty());
  // The new run numbers checkpoints from 1 again.
  ASSERT_OK(store_->Stage(w, fresh.epoch, "c", 1).status());
  ASSERT_OK(store_->Seal(w, fresh.epoch, 1).status());
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("c"));
  EXPECT_THAT(ReadAll(other, 1), ElementsAre("o"));
}

TEST_F(StagingStoreTest, RewindGivesNewIncarnationAndIdentity) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 5; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), 1), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->MarkCommitted(w, 4));
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());

  // Restored from savepoint 2 while the table holds checkpoint 4 of "w".
  ASSERT_OK_AND_ASSIGN(Registration rewound, RegisterAs(*store_, w, 2, 4));
  EXPECT_EQ(rewound.epoch, 2);
  EXPECT_EQ(rewound.incarnation, 1);
  EXPECT_EQ(rewound.table_writer_id, "w#1");
  EXPECT_EQ(rewound.last_committed, -1);
  EXPECT_TRUE(rewound.pending.empty());  // everything <= 2 is in the table already
  EXPECT_CODE(store_->ReadSealed(w, 5, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  ASSERT_OK_AND_ASSIGN(Registration looked, store_->Lookup(w));
  EXPECT_EQ(looked.table_writer_id, "w#1");
  EXPECT_EQ(looked.incarnation, 1);

  // Checkpoint 3 of the new identity stages and seals normally.
  ASSERT_OK(store_->Stage(w, rewound.epoch, "again3", 1).status());
  ASSERT_OK(store_->Seal(w, rewound.epoch, 3).status());
  EXPECT_THAT(ReadAll(w, 3), ElementsAre("again3"));
  ASSERT_OK(store_->MarkCommitted(w, 3));

  // Restoring from 3 under "w#1" (table: 3) is not a rewind.
  ASSERT_OK_AND_ASSIGN(Registration later, RegisterAs(*store_, w, 3, 3));
  EXPECT_EQ(later.incarnation, 1);
  EXPECT_EQ(later.table_writer_id, "w#1");
  EXPECT_EQ(later.last_committed, 3);
  // A fresh start after commits would reuse committed ids: also a rewind.
  ASSERT_OK_AND_ASSIGN(Registration fresh, RegisterAs(*store_, w, std::nullopt, 3));
  EXPECT_EQ(fresh.incarnation, 2);
  EXPECT_EQ(fresh.table_writer_id, "w#2");
  EXPECT_EQ(fresh.last_committed, -1);
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, SealIsIdempotentAndOrdered) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "a", 3).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint first, store_->Seal(w, reg.epoch, 5));
  ASSERT_OK(store_->Stage(w, reg.epoch, "b", 1).status());
  // A retried Seal(5) returns the same seal and leaves the open batch open.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint retried, store_->Seal(w, reg.epoch, 5));
  EXPECT_EQ(retried.checkpoint_id, 5);
  EXPECT_EQ(retried.rows, first.rows);
  EXPECT_EQ(retried.batches, first.batches);
  EXPECT_EQ(retried.checksum, first.checksum);
  EXPECT_EQ(retried.epoch, first.epoch);

  absl::Status older = store_->Seal(w, reg.epoch, 4).status();
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(older.message()),
              HasSubstr("checkpoint 4 is not after the last sealed checkpoint 5"));

  // An empty seal is valid.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint six, store_->Seal(w, reg.epoch, 6));
  EXPECT_EQ(six.batches, 1u);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint seven, store_->Seal(w, reg.epoch, 7));
  EXPECT_EQ(seven.batches, 0u);
  EXPECT_EQ(seven.rows, 0u);
  EXPECT_EQ(seven.checksum, 0u);
  EXPECT_TRUE(ReadAll(w, 7).empty());
  EXPECT_THAT(ReadAll(w, 6), ElementsAre("b"));

  // The same id sealed by a later epoch is not a retry.
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 7, -1));
  EXPECT_CODE(store_->Seal(w, again.epoch, 7), kFailedPrecondition);

  // Equal payloads in different batches still give different checksums.
  ASSERT_OK(store_->Stage(w, again.epoch, "x", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint eight, store_->Seal(w, again.epoch, 8));
  ASSERT_OK(store_->Stage(w, again.epoch, "x", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint nine, store_->Seal(w, again.epoch, 9));
  EXPECT_NE(eight.checksum, nine.checksum);
}

TEST_F(StagingStoreTest, SealedUpToIsOrderedAndBounded) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  // Ids cross a byte boundary and the sign-flip boundary would show up as
  // misordering if the key encoding were wrong.
  const std::vector<int64_t> ids = {0, 1, 2, 255, 256, 65536, int64_t{1} << 40};
  for (int64_t id : ids) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat("p", id), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, id).status());
  }
  ASSERT_OK_AND_ASSIGN(auto all, store_->SealedUpTo(w, std::numeric_limits<int64_t>::max()));
  ASSERT_EQ(all.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(all[i].checkpoint_id, ids[i]);
    EXPECT_THAT(ReadAll(w, ids[i]), ElementsAre(Cat("p", ids[i])));
  }
  ASSERT_OK_AND_ASSIGN(auto some, store_->SealedUpTo(w, 256));
  ASSERT_EQ(some.size(), 5u);
  EXPECT_EQ(some.back().checkpoint_id, 256);
  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK_AND_ASSIGN(auto rest, store_->SealedUpTo(w, 256));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].checkpoint_id, 255);
  ASSERT_OK_AND_ASSIGN(auto none, store_->SealedUpTo(w, -1));
  EXPECT_TRUE(none.empty());
}

TEST_F(StagingStoreTest, MarkCommittedDeletesDataAndIsIdempotent) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  const WriterKey other{"t", "w2"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration oreg, RegisterAs(*store_, other, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    for (int b = 0; b < 4; ++b) {
      ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(cp, b), 50), 50).status());
    }
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());
  ASSERT_OK(store_->Stage(other, oreg.epoch, "other", 1).status());
  ASSERT_OK(store_->Seal(other, oreg.epoch, 1).status());
  EXPECT_GT(store_->ApproximateBytes(), 0u);

  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK(store_->MarkCommitted(w, 2));  // a retry
  ASSERT_OK(store_->MarkCommitted(w, 1));  // an older one
  ASSERT_OK_AND_ASSIGN(auto left, store_->SealedUpTo(w, 100));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].checkpoint_id, 3);
  EXPECT_EQ(ReadAll(w, 3).size(), 4u);
  EXPECT_CODE(store_->ReadSealed(w, 2, [](std::string_view) { return absl::OkStatus(); }),
              kFailedPrecondition);

  ASSERT_OK(store_->MarkCommitted(w, 3));
  // The open batch survives the commit and seals into checkpoint 4.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, reg.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre("open"));
  ASSERT_OK(store_->MarkCommitted(w, 4));
  ASSERT_OK_AND_ASSIGN(Registration looked, store_->Lookup(w));
  EXPECT_EQ(looked.last_committed, 4);
  EXPECT_TRUE(looked.pending.empty());

  // Nothing is left under the writer's data or seal prefixes; the other
  // writer's data is intact.
  const std::string wid = std::string("t\0w\0", 4);
  EXPECT_THAT(RawKeys("d\0" + wid), ::testing::IsEmpty());
  EXPECT_THAT(RawKeys("s\0" + wid), ::testing::IsEmpty());
  EXPECT_EQ(RawKeys(std::string("d\0t\0w2\0", 7)).size(), 1u);
  EXPECT_EQ(RawKeys(std::string("s\0t\0w2\0", 7)).size(), 1u);
}

// Seals are deleted key by key: a range tombstone per commit would stay in
// the state DB's memtable for hours (its records are small) and every new
// iterator re-fragments all of them, so each commit would get slower.
TEST_F(StagingStoreTest, CommitsAndRegistrationsLeaveNoRangeTombstones) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 6; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(cp), 10), 10).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
    if (cp == 2 || cp == 4) ASSERT_OK(store_->MarkCommitted(w, cp));
  }
  // A restore to checkpoint 5 keeps seal 5 and discards none committed; a
  // fresh registration discards everything not committed.
  ASSERT_OK_AND_ASSIGN(reg, RegisterAs(*store_, w, 5, 4));
  ASSERT_OK_AND_ASSIGN(auto kept, store_->SealedUpTo(w, 100));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].checkpoint_id, 5);
  ASSERT_OK_AND_ASSIGN(reg, RegisterAs(*store_, w, std::nullopt, 4));
  ASSERT_OK_AND_ASSIGN(kept, store_->SealedUpTo(w, 100));
  EXPECT_TRUE(kept.empty());

  uint64_t range_deletions = 0;
  WithRawDb(
      [&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
        for (auto* h : handles) {
          ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), h).ok());
          rocksdb::TablePropertiesCollection props;
          ASSERT_TRUE(db->GetPropertiesOfAllTables(h, &props).ok());
          for (const auto& [file, p] : props) range_deletions += p->num_range_deletions;
        }
      },
      /*batches=*/false);
  EXPECT_EQ(range_deletions, 0u);
}

TEST_F(StagingStoreTest, AbortDropsSealedOrOpenBatches) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat("cp", cp), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());

  // A sealed checkpoint in the middle: later seals keep their data.
  ASSERT_OK(store_->Abort(w, reg.epoch, 2));
  ASSERT_OK(store_->Abort(w, reg.epoch, 2));  // idempotent
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  ASSERT_EQ(sealed.size(), 2u);
  EXPECT_EQ(sealed[0].checkpoint_id, 1);
  EXPECT_EQ(sealed[1].checkpoint_id, 3);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("cp1"));
  EXPECT_THAT(ReadAll(w, 3), ElementsAre("cp3"));

  // Above the last seal: the open batches.
  ASSERT_OK(store_->Abort(w, reg.epoch, 4));
  ASSERT_OK(store_->Stage(w, reg.epoch, "after", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, reg.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre("after"));

  // The last seal itself; its id is not reused.
  ASSERT_OK(store_->Abort(w, reg.epoch, 4));
  EXPECT_CODE(store_->Seal(w, reg.epoch, 4), kFailedPrecondition);
  ASSERT_OK(store_->Stage(w, reg.epoch, "five", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 5).status());
  EXPECT_THAT(ReadAll(w, 5), ElementsAre("five"));

  ASSERT_OK(store_->MarkCommitted(w, 5));
  EXPECT_CODE(store_->Abort(w, reg.epoch, 3), kFailedPrecondition);  // committed
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, CorruptStagedValueIsDataLoss) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int b = 0; b < 3; ++b)
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(b), 5), 5).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 7).status());

  // Flip one byte of the second batch's payload, behind the store's back.
  WithRawDb([](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_EQ(cfs.size(), 2u);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[1]));
    it->Seek(rocksdb::Slice("d\0", 2));
    ASSERT_TRUE(it->Valid());
    it->Next();
    ASSERT_TRUE(it->Valid());
    std::string key = it->key().ToString();
    std::string value = it->value().ToString();
    it.reset();
    value[3] ^= 0x20;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cfs[1], key, value).ok());
  });
  store_ = OpenStore();
  int served = 0;
  absl::Status s = store_->ReadSealed(w, 7, [&](std::string_view) {
    ++served;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("checkpoint 7 of writer w of table t"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("batch seq 1"));
  EXPECT_EQ(served, 1);  // the damaged batch is never handed out
}

TEST_F(StagingStoreTest, MissingBatchIsDataLoss) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int b = 0; b < 3; ++b) ASSERT_OK(store_->Stage(w, reg.epoch, Cat("b", b), 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  ASSERT_OK(store_->Stage(w, reg.epoch, "c", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 2).status());
  WithRawDb([&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_EQ(cfs.size(), 3u);  // default (unused), checkpoint 1's batches, checkpoint 2's
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[1]));
    it->Seek(rocksdb::Slice("d\0", 2));
    it->Next();  // seq 1 of checkpoint 1
    ASSERT_TRUE(it->Valid());
    std::string key = it->key().ToString();
    it.reset();
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cfs[1], key).ok());
  });
  store_ = OpenStore();
  absl::Status s = store_->ReadSealed(w, 1, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("batch seq 1 is missing"));
  EXPECT_THAT(ReadAll(w, 2), ElementsAre("c"));
}

TEST_F(StagingStoreTest, ReopenPreservesRegistryAndData) {
  store_ = OpenStore();
  const WriterKey a{"t", "a"};
  const WriterKey b{"u", "b"};
  ASSERT_OK_AND_ASSIGN(Registration ra, RegisterAs(*store_, a, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration rb, RegisterAs(*store_, b, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(rb, RegisterAs(*store_, b, std::nullopt, -1));
  ASSERT_OK(store_->Stage(a, ra.epoch, "a1", 1).status());
  ASSERT_OK(store_->Seal(a, ra.epoch, 1).status());
  ASSERT_OK(store_->Stage(a, ra.epoch, "a2", 1).status());
  ASSERT_OK(store_->Seal(a, ra.epoch, 2).status());
  ASSERT_OK(store_->MarkCommitted(a, 1));
  ASSERT_OK(store_->Stage(a, ra.epoch, "a-open", 2).status());
  ASSERT_OK(store_->Stage(b, rb.epoch, "b1", 1).status());

  Reopen();
  ASSERT_OK_AND_ASSIGN(auto writers, store_->Writers());
  ASSERT_EQ(writers.size(), 2u);
  EXPECT_EQ(writers[0].writer_id, "a");
  EXPECT_EQ(writers[1].writer_id, "b");
  ASSERT_OK_AND_ASSIGN(Registration la, store_->Lookup(a));
  EXPECT_EQ(la.epoch, ra.epoch);
  EXPECT_EQ(la.last_committed, 1);
  ASSERT_EQ(la.pending.size(), 1u);
  EXPECT_EQ(la.pending[0].checkpoint_id, 2);
  ASSERT_OK_AND_ASSIGN(Registration lb, store_->Lookup(b));
  EXPECT_EQ(lb.epoch, 2);
  ASSERT_OK(store_->CheckEpoch(a, ra.epoch));
  EXPECT_THAT(ReadAll(a, 2), ElementsAre("a2"));
  // The open batches and the sequence numbers continue where they were.
  ASSERT_OK_AND_ASSIGN(uint64_t seq, store_->Stage(a, ra.epoch, "a-more", 1));
  EXPECT_EQ(seq, 3u);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint three, store_->Seal(a, ra.epoch, 3));
  EXPECT_EQ(three.rows, 3u);
  EXPECT_THAT(ReadAll(a, 3), ElementsAre("a-open", "a-more"));
  ASSERT_OK(store_->Seal(b, rb.epoch, 1).status());
  EXPECT_THAT(ReadAll(b, 1), ElementsAre("b1"));
}

TEST_F(StagingStoreTest, ReadSealedHoldsItsSnapshotAcrossCommitAndChunks) {
  StagingOptions options;
  options.write_buffer_bytes = 1 << 20;  // several flushes during the test
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string big(1 << 20, 'z');
  const int kBatches = 70;  // read in many chunks
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat(b, big), 1).status());
  }
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  int seen = 0;
  bool committed = false;
  absl::Status s = store_->ReadSealed(w, 1, [&](std::string_view p) {
    EXPECT_EQ(p, Cat(seen, big));
    if (++seen == 3 && !committed) {
      committed = true;
      // The data goes away under the read; the snapshot keeps it readable.
      EXPECT_TRUE(store_->MarkCommitted(w, 1).ok());
      EXPECT_TRUE(store_->Stage(w, reg.epoch, "more", 1).ok());
    }
    return absl::OkStatus();
  });
  ASSERT_OK(s);
  EXPECT_EQ(seen, kBatches);
}

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

TEST_F(StagingStoreTest, MaxBytesRefusesStageUntilCommitFreesSpace) {
  StagingOptions options;
  options.max_bytes = 4 << 20;
  options.write_buffer_bytes = 512 << 10;
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string payload(64 << 10, 'p');
  int staged = 0;
  absl::Status refused;
  for (; staged < 1000; ++staged) {
    auto s = store_->Stage(w, reg.epoch, payload, 1);
    if (!s.ok()) {
      refused = s.status();
      break;
    }
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("limit of 4194304"));
  // RocksDB's estimates are approximate: 2 MiB of 4 always fit, 6.25 never.
  EXPECT_GE(staged, 32);
  EXPECT_LE(staged, 100);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(w, reg.epoch, 1));
  EXPECT_EQ(sealed.batches, static_cast<uint64_t>(staged));
  ASSERT_OK(store_->MarkCommitted(w, 1));

  // The deleted data leaves RocksDB's estimates once flushed and compacted.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  absl::Status s;
  do {
    s = store_->Stage(w, reg.epoch, payload, 1).status();
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_OK(s);
  while (store_->ApproximateBytes() >= options.max_bytes / 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LT(store_->ApproximateBytes(), options.max_bytes / 2);
}

TEST_F(StagingStoreTest, ConcurrentStageOnFourWriters) {
  StagingOptions options;
  options.write_buffer_bytes = 1 << 20;
  store_ = OpenStore(options);
  constexpr int kWriters = 4;
  constexpr int kBatches = 300;
  std::vector<WriterKey> writers;
  std::vector<int64_t> epochs;
  for (int i = 0; i < kWriters; ++i) {
    writers.push_back(WriterKey{"t", Cat("w", i)});
    ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, writers.back(), std::nullopt, -1));
    epochs.push_back(reg.epoch);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      for (int b = 0; b < kBatches; ++b) {
        auto seq = store_->Stage(writers[i], epochs[i], Payload(Cat(i, "/", b), 20, 64), 20);
        if (!seq.ok() || *seq != static_cast<uint64_t>(b)) ++failures;
        if (b % 100 == 99) {
          auto sealed = store_->Seal(writers[i], epochs[i], b / 100 + 1);
          if (!sealed.ok() || sealed->batches != 100) ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(writers[i], 100));
    ASSERT_EQ(sealed.size(), 3u);
    for (int cp = 1; cp <= 3; ++cp) {
      std::vector<std::string> got = ReadAll(writers[i], cp);
      ASSERT_EQ(got.size(), 100u);
      for (int b = 0; b < 100; ++b) {
        EXPECT_EQ(got[b], Payload(Cat(i, "/", (cp - 1) * 100 + b), 20, 64));
      }
    }
  }
}

// --- measurements (run with --gtest_also_run_disabled_tests) ------------------

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
long MaxRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST_F(StagingStoreTest, DISABLED_Measure) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  // 10k rows of ~100 bytes per batch.
  std::string payload;
  for (int i = 0; i < 10000; ++i) {
    AppendStagedEntry(Cat("key-", 1000000 + i), std::string(86, 'v'), &payload);
  }
  const int kBatches = 100;  // 1M rows
  const int kRounds = 10;
  double stage_s = 0, seal_s = 0, commit_s = 0, read_s = 0;
  uint64_t bytes = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int b = 0; b < kBatches; ++b) {
      ASSERT_OK(store_->Stage(w, reg.epoch, payload, 10000).status());
      bytes += payload.size();
    }
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_OK(store_->Seal(w, reg.epoch, round + 1).status());
    auto t2 = std::chrono::steady_clock::now();
    uint64_t read = 0;
    ASSERT_OK(store_->ReadSealed(w, round + 1, [&](std::string_view p) {
      read += p.size();
      return absl::OkStatus();
    }));
    auto t3 = std::chrono::steady_clock::now();
    ASSERT_OK(store_->MarkCommitted(w, round + 1));
    auto t4 = std::chrono::steady_clock::now();
    stage_s += Seconds(t1 - t0);
    seal_s += Seconds(t2 - t1);
    read_s += Seconds(t3 - t2);
    commit_s += Seconds(t4 - t3);
  }
  const double mb = bytes / 1e6;
  std::printf("payload %zu bytes/batch; %d rounds of %d batches (1M rows)\n", payload.size(),
              kRounds, kBatches);
  std::printf("Stage: %.0f MB/s (%.2f ms/batch)\n", mb / stage_s,
              1e3 * stage_s / (kRounds * kBatches));
  std::printf("Seal: %.2f ms avg\n", 1e3 * seal_s / kRounds);
  std::printf("ReadSealed: %.0f MB/s\n", mb / read_s);
  std::printf("MarkCommitted (1M rows): %.3f ms avg\n", 1e3 * commit_s / kRounds);
  std::printf("ApproximateBytes after: %llu; max RSS %ld MiB\n",
              static_cast<unsigned long long>(store_->ApproximateBytes()), MaxRssMiB());

  // Sustained ingest from 4 writers, committing every 2 s of data, for RSS.
  std::vector<WriterKey> writers;
  std::vector<int64_t> epochs;
  for (int i = 0; i < 4; ++i) {
    writers.push_back(WriterKey{"t", Cat("s", i)});
    ASSERT_OK_AND_ASSIGN(Registration r, RegisterAs(*store_, writers.back(), std::nullopt, -1));
    epochs.push_back(r.epoch);
  }
  std::atomic<uint64_t> total{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int cp = 1; cp <= 8; ++cp) {
        for (int b = 0; b < 50; ++b) {
          if (!store_->Stage(writers[i], epochs[i], payload, 10000).ok()) return;
          total += payload.size();
        }
        if (!store_->Seal(writers[i], epochs[i], cp).ok()) return;
        if (cp > 1) {
          (void)store_->ReadSealed(writers[i], cp - 1,
                                   [](std::string_view) { return absl::OkStatus(); });
          (void)store_->MarkCommitted(writers[i], cp - 1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = Seconds(std::chrono::steady_clock::now() - t0);
  std::printf("4 writers, stage+seal+read+commit: %.0f MB/s over %.1f s; max RSS %ld MiB\n",
              total.load() / 1e6 / secs, secs, MaxRssMiB());
}

TEST_F(StagingStoreTest, PerWriterQuotaRefusesOnlyThatWriterUntilItCommits) {
  StagingOptions options;
  options.max_bytes_per_writer = 1 << 20;
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  const WriterKey v{"t", "v"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration vreg, RegisterAs(*store_, v, std::nullopt, -1));
  const std::string payload(100 << 10, 'p');
  int staged = 0;
  absl::Status refused;
  for (; staged < 100; ++staged) {
    auto s = store_->Stage(w, reg.epoch, payload, 1);
    if (!s.ok()) {
      refused = s.status();
      break;
    }
    if (staged == 4) ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());  // sealed bytes count too
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("quota of 1048576"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("writer w of table t"));
  EXPECT_GE(staged, 9);
  EXPECT_LE(staged, 10);
  // Another writer is not concerned.
  ASSERT_OK(store_->Stage(v, vreg.epoch, payload, 1).status());
  // The quota survives a clean restart, and a commit frees it.
  Reopen(options);
  EXPECT_CODE(store_->Stage(w, reg.epoch, payload, 1), kResourceExhausted);
  ASSERT_OK(store_->Seal(w, reg.epoch, 2).status());
  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK(store_->Stage(w, reg.epoch, payload, 1).status());
}

}  // namespace
}  // namespace deltasidecar::checkpoint
