// The exactly-once protocol driven directly: a real staging store (RocksDB on
// disk) and a real table, no gRPC, no processes. Two protocols on one table
// root with separate stores stand for two sidecars.
#include "checkpoint/commit_protocol.h"

#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/file_system.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/testing/status_testing.h"

namespace deltasidecar::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kTable[] = "t";
constexpr char kWriter[] = "job/0";

// Holds every creation of a table data file while closed: a preparation
// stands still in the middle of writing a checkpoint's files.
class DataFileGate : public rocksdb::FileSystemWrapper {
 public:
  DataFileGate() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "DataFileGate"; }
  const char* Name() const override { return kClassName(); }

  void Close() {
    absl::MutexLock l(&mu_);
    closed_ = true;
  }
  void Open() {
    absl::MutexLock l(&mu_);
    closed_ = false;
  }
  // Until `n` creations in all have waited at the closed gate.
  void AwaitHeld(int n) {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(+[](std::pair<int*, int>* a) { return *a->first >= a->second; },
                              new std::pair<int*, int>(&held_, n)));
  }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (fname.find("/data/") != std::string::npos) {
      absl::MutexLock l(&mu_);
      if (closed_) {
        ++held_;
        mu_.Await(absl::Condition(+[](bool* closed) { return !*closed; }, &closed_));
      }
    }
    return target()->NewWritableFile(fname, opts, result, dbg);
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

// One sidecar: its own staging store, the shared table root.
struct Sidecar {
  std::unique_ptr<StagingStore> store;
  std::shared_ptr<table::Table> table;
  std::unique_ptr<CommitProtocol> protocol;
};

class CommitProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("commit_protocol_test_" + RandomId());
    fs::create_directories(dir_);
    auto schema = table::TableSchema::Parse("id BIGINT, name STRING", "id", 2);
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *schema;
    ASSERT_TRUE(table::Table::Create((dir_ / "root").string(), kTable, schema_).ok());
    a_ = Start("a");
  }
  void TearDown() override {
    a_ = {};
    fs::remove_all(dir_);
  }

  Sidecar Start(const std::string& name, absl::Duration prepared_wait = absl::Seconds(10),
                std::shared_ptr<rocksdb::FileSystem> fs = nullptr) {
    Sidecar s;
    StagingOptions o;
    o.path = (dir_ / name).string();
    auto store = StagingStore::Open(o);
    EXPECT_TRUE(store.ok()) << store.status();
    s.store = std::move(*store);
    table::TableOptions options;
    options.fs = std::move(fs);
    auto t = table::Table::Open((dir_ / "root").string(), kTable, options);
    EXPECT_TRUE(t.ok()) << t.status();
    s.table = std::move(*t);
    std::shared_ptr<table::Table> shared = s.table;
    s.protocol = std::make_unique<CommitProtocol>(
        s.store.get(), [shared](const std::string& name) -> absl::StatusOr<std::shared_ptr<table::Table>> {
          if (name != kTable) return absl::NotFoundError(name);
          return shared;
        },
        prepared_wait);
    return s;
  }

  // Stages rows id -> name as one batch and seals them as `cp`.
  Committable Seal(Sidecar& s, const Registration& reg, int64_t cp,
                   const std::map<int64_t, std::string>& rows, const std::string& writer = kWriter) {
    table::MutationBatch batch;
    for (const auto& [id, name] : rows) {
      batch.Upsert(schema_, table::Row{table::Value(id), table::Value(name)});
    }
    std::string payload;
    for (size_t i = 0; i < batch.size(); ++i) AppendStagedEntry(batch.key(i), batch.value(i), &payload);
    const WriterKey key{kTable, writer};
    EXPECT_TRUE(s.store->Stage(key, reg.epoch, payload, batch.size()).ok());
    auto sealed = s.protocol->Seal(kTable, writer, reg.epoch, cp);
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    return sealed.ok() ? ToCommittable(kTable, writer, *sealed) : Committable{};
  }

  // Writer job/0 on a_ and job/1 on `b`, each with checkpoint 1 sealed
  // (rows 1 "from a" and 2 "from b").
  void SealOnEachStore(Sidecar& b, Committable* ca, Committable* cb) {
    ASSERT_OK_AND_ASSIGN(Registration ra, a_.protocol->Register(kTable, "job/0", std::nullopt));
    ASSERT_OK_AND_ASSIGN(Registration rb, b.protocol->Register(kTable, "job/1", std::nullopt));
    *ca = Seal(a_, ra, 1, {{1, "from a"}}, "job/0");
    *cb = Seal(b, rb, 1, {{2, "from b"}}, "job/1");
  }

  absl::StatusOr<TableCommitResult> Commit(Sidecar& s, const std::vector<Committable>& cs) {
    std::vector<const Committable*> refs;
    for (const auto& c : cs) refs.push_back(&c);
    return s.protocol->CommitTable(kTable, refs);
  }

  // id -> name of the latest snapshot.
  std::map<int64_t, std::string> Rows() {
    std::map<int64_t, std::string> out;
    auto snap = a_.table->LatestSnapshot();
    EXPECT_TRUE(snap.ok());
    auto it = a_.table->NewScan(**snap);
    EXPECT_TRUE(it.ok());
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = table::DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok()) << row.status();
      out[table::IntOf((*row)[0])] = std::string(table::StringOf((*row)[1]));
    }
    return out;
  }

  // Every (identity, checkpoint) the retained snapshots committed, in order.
  std::vector<std::pair<std::string, int64_t>> Identities() {
    std::vector<std::pair<std::string, int64_t>> out;
    auto history = a_.table->History();
    EXPECT_TRUE(history.ok());
    for (const auto& s : *history) {
      for (const auto& id : s->identities) out.emplace_back(id.writer_id, id.checkpoint_id);
    }
    return out;
  }

  // The data files in the table directory are exactly those the latest
  // snapshot names, and nothing is left prepared: nothing was written twice.
  void ExpectNoFileWrittenTwice() {
    ASSERT_OK_AND_ASSIGN(auto latest, a_.table->LatestSnapshot());
    std::set<std::string> named, present;
    for (const auto& files : latest->buckets)
      for (const auto& f : files) named.insert(f.name);
    for (const auto& e : fs::directory_iterator(dir_ / "root" / kTable / "data")) {
      present.insert(e.path().filename().string());
    }
    EXPECT_EQ(present, named);
    ASSERT_OK_AND_ASSIGN(auto left, a_.table->prepared().List());
    EXPECT_THAT(left, ::testing::IsEmpty());
  }

  fs::path dir_;
  table::TableSchema schema_;
  Sidecar a_;
};

TEST_F(CommitProtocolTest, RetryAnswersAlreadyCommittedWithTheSameSnapshot) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, reg, 1, {{1, "a"}});
  ASSERT_OK_AND_ASSIGN(TableCommitResult first, Commit(a_, {c1}));
  EXPECT_FALSE(first.already_committed);
  ASSERT_OK_AND_ASSIGN(TableCommitResult again, Commit(a_, {c1}));
  EXPECT_TRUE(again.already_committed);
  EXPECT_EQ(again.snapshot_id, first.snapshot_id);
  EXPECT_EQ(Identities().size(), 1u);
}

TEST_F(CommitProtocolTest, LaterCheckpointCommitsEarlierOnesInOneSnapshotInOrder) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, reg, 1, {{1, "one"}, {2, "one"}});
  Committable c2 = Seal(a_, reg, 2, {{2, "two"}});
  // Checkpoint 2's completion arrives first: it takes 1 along, 2 wins for key 2.
  ASSERT_OK_AND_ASSIGN(TableCommitResult r2, Commit(a_, {c2}));
  EXPECT_FALSE(r2.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}, {2, "two"}}));
  EXPECT_EQ(Identities(), (std::vector<std::pair<std::string, int64_t>>{{kWriter, 1}, {kWriter, 2}}));
  ASSERT_OK_AND_ASSIGN(TableCommitResult r1, Commit(a_, {c1}));
  EXPECT_TRUE(r1.already_committed);
  EXPECT_EQ(r1.snapshot_id, r2.snapshot_id);
}

TEST_F(CommitProtocolTest, OlderEpochIsFenced) {
  ASSERT_OK_AND_ASSIGN(Registration old, a_.protocol->Register(kTable, kWriter, std::nullopt));
  ASSERT_OK_AND_ASSIGN(Registration now, a_.protocol->Register(kTable, kWriter, std::nullopt));
  EXPECT_GT(now.epoch, old.epoch);
  auto sealed = a_.protocol->Seal(kTable, kWriter, old.epoch, 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(sealed.status())) << sealed.status();
}

TEST_F(CommitProtocolTest, RestoreDiscardsWhatItDoesNotCover) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, reg, 1, {{1, "one"}});
  Committable c2 = Seal(a_, reg, 2, {{2, "two"}});
  ASSERT_OK_AND_ASSIGN(Registration restored, a_.protocol->Register(kTable, kWriter, 1));
  ASSERT_EQ(restored.pending.size(), 1u);
  EXPECT_EQ(restored.pending[0].checkpoint_id, 1);
  auto refused = Commit(a_, {c2});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not sealed"));
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(a_, {c1}));
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}}));
}

TEST_F(CommitProtocolTest, CommittableOfAnEarlierSealOfTheSameCheckpointIsRefused) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  ASSERT_TRUE(Commit(a_, {Seal(a_, reg, 1, {{1, "one"}})}).ok());
  Committable stale = Seal(a_, reg, 2, {{2, "first"}});
  // A restore from 1 drops that seal; the replay seals checkpoint 2 again.
  ASSERT_OK_AND_ASSIGN(Registration restored, a_.protocol->Register(kTable, kWriter, 1));
  Committable fresh = Seal(a_, restored, 2, {{2, "second"}, {3, "second"}});
  auto refused = Commit(a_, {stale});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("does not match"));
  Committable tampered = fresh;
  tampered.rows += 1;
  refused = Commit(a_, {tampered});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}}));
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(a_, {fresh}));
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}, {2, "second"}, {3, "second"}}));
}

TEST_F(CommitProtocolTest, RewindToAnOlderSavepointWritesUnderANewIdentity) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  ASSERT_TRUE(Commit(a_, {Seal(a_, reg, 1, {{1, "one"}})}).ok());
  ASSERT_TRUE(Commit(a_, {Seal(a_, reg, 2, {{2, "two"}})}).ok());
  ASSERT_OK_AND_ASSIGN(Registration rewound, a_.protocol->Register(kTable, kWriter, 1));
  EXPECT_NE(rewound.table_writer_id, reg.table_writer_id);
  EXPECT_EQ(rewound.last_committed, -1);
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(a_, {Seal(a_, rewound, 2, {{2, "replayed"}})}));
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}, {2, "replayed"}}));
}

TEST_F(CommitProtocolTest, StoreWithoutTheHistoryNeverReusesACommittedIdentity) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  for (int64_t cp = 1; cp <= 3; ++cp) {
    ASSERT_TRUE(Commit(a_, {Seal(a_, reg, cp, {{cp, "first"}})}).ok());
  }
  // The same writer lands on an empty store on the same root (a replaced
  // pod, another sidecar), restoring from checkpoint 2.
  Sidecar b = Start("b");
  ASSERT_OK_AND_ASSIGN(Registration moved, b.protocol->Register(kTable, kWriter, 2));
  EXPECT_NE(moved.table_writer_id, reg.table_writer_id);
  EXPECT_EQ(moved.last_committed, -1);
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(b, {Seal(b, moved, 3, {{3, "second"}})}));
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "first"}, {2, "first"}, {3, "second"}}));
  // The store the writer left is fenced for it: no seal, no commit.
  auto sealed = a_.protocol->Seal(kTable, kWriter, reg.epoch, 4);
  EXPECT_TRUE(absl::IsFailedPrecondition(sealed.status())) << sealed.status();
  EXPECT_THAT(std::string(sealed.status().message()), HasSubstr("fenced"));
}

TEST_F(CommitProtocolTest, FencedStoreCannotCommitWhatItSealedBeforeTheMove) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, reg, 1, {{1, "zombie"}});
  Sidecar b = Start("b");
  ASSERT_TRUE(b.protocol->Register(kTable, kWriter, std::nullopt).ok());
  auto r = Commit(a_, {c1});
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("fenced"));
  EXPECT_TRUE(Rows().empty());
}

TEST_F(CommitProtocolTest, CrashBetweenTableCommitAndBookkeepingIsCaughtUp) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, reg, 1, {{1, "one"}});
  // The table commit landed; the store never heard of it (the process died
  // before MarkCommitted).
  table::MutationBatch batch;
  batch.Upsert(schema_, table::Row{table::Value(int64_t{1}), table::Value(std::string("one"))});
  ASSERT_TRUE(a_.table->Commit(batch, {{reg.table_writer_id, 1, table::CheckpointDigest{c1.rows, c1.checksum}}}).ok());
  a_.protocol = std::make_unique<CommitProtocol>(
      a_.store.get(), [t = a_.table](const std::string&) -> absl::StatusOr<std::shared_ptr<table::Table>> {
        return t;
      });
  ASSERT_TRUE(a_.protocol->Recover().ok());
  ASSERT_OK_AND_ASSIGN(Registration looked, a_.store->Lookup({kTable, kWriter}));
  EXPECT_EQ(looked.last_committed, 1);
  EXPECT_TRUE(looked.pending.empty());
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(a_, {c1}));
  EXPECT_TRUE(r.already_committed);
  EXPECT_EQ(Identities().size(), 1u);
}

TEST_F(CommitProtocolTest, AnotherCheckpointUnderACommittedIdentityIsNeverAlreadyCommitted) {
  ASSERT_OK_AND_ASSIGN(Registration reg, a_.protocol->Register(kTable, kWriter, std::nullopt));
  // Something else committed checkpoint 1 under this identity with other rows.
  table::MutationBatch batch;
  batch.Upsert(schema_, table::Row{table::Value(int64_t{9}), table::Value(std::string("other"))});
  ASSERT_TRUE(a_.table->Commit(batch, {{reg.table_writer_id, 1, table::CheckpointDigest{7, 7}}}).ok());
  Committable c1 = Seal(a_, reg, 1, {{1, "mine"}});
  auto r = Commit(a_, {c1});
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("two different checkpoints"));
}

// --- Parallel preparation -----------------------------------------------------------

TEST_F(CommitProtocolTest, OneCommitPreparesItsWritersInParallelNeverOneWriterTwiceAtOnce) {
  constexpr int kWriters = 4;
  std::vector<Registration> regs;
  for (int w = 0; w < kWriters; ++w) {
    ASSERT_OK_AND_ASSIGN(Registration reg,
                         a_.protocol->Register(kTable, Cat("job/", w), std::nullopt));
    regs.push_back(reg);
  }
  std::map<int64_t, std::string> want;
  for (int64_t cp = 1; cp <= 5; ++cp) {
    std::vector<Committable> cs;
    for (int w = 0; w < kWriters; ++w) {
      std::map<int64_t, std::string> rows;
      for (int64_t k = 0; k < 50; ++k) rows[w * 1000 + k] = Cat("cp ", cp);
      for (const auto& [k, v] : rows) want[k] = v;
      cs.push_back(Seal(a_, regs[w], cp, rows, Cat("job/", w)));
    }
    // Background preparations of the same writers race the commit's own.
    std::vector<std::thread> background;
    for (int w = 0; w < kWriters; ++w) {
      background.emplace_back([this, w] {
        EXPECT_TRUE(a_.protocol->Prepare(kTable, Cat("job/", w)).ok());
      });
    }
    ASSERT_OK_AND_ASSIGN(auto before, a_.table->LatestSnapshot());
    ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(a_, cs));
    for (auto& t : background) t.join();
    EXPECT_FALSE(r.already_committed);
    EXPECT_EQ(r.snapshot_id, before->id + 1);
  }
  EXPECT_EQ(Rows(), want);
  // Two threads preparing one writer at once would both write its files; the
  // loser's would be left in data/, named by no snapshot.
  ExpectNoFileWrittenTwice();
}

TEST_F(CommitProtocolTest, CommitOfACheckpointDoesNotWaitForTheNextOnesFiles) {
  auto gate = std::make_shared<DataFileGate>();
  Sidecar g = Start("g", absl::Seconds(10), gate);
  ASSERT_OK_AND_ASSIGN(Registration reg, g.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(g, reg, 1, {{1, "one"}});
  ASSERT_TRUE(g.protocol->Prepare(kTable, kWriter).ok());
  Committable c2 = Seal(g, reg, 2, {{2, "two"}});
  gate->Close();
  std::thread background([&] { EXPECT_TRUE(g.protocol->Prepare(kTable, kWriter).ok()); });
  gate->AwaitHeld(1);  // checkpoint 2's files are being written
  auto commit = std::async(std::launch::async, [&] { return Commit(g, {c1}); });
  const bool answered = commit.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  gate->Open();
  background.join();
  ASSERT_TRUE(answered) << "the commit of checkpoint 1 waited for checkpoint 2's preparation";
  ASSERT_OK_AND_ASSIGN(TableCommitResult r1, commit.get());
  EXPECT_FALSE(r1.already_committed);
  ASSERT_OK_AND_ASSIGN(TableCommitResult r2, Commit(g, {c2}));
  EXPECT_EQ(r2.snapshot_id, r1.snapshot_id + 1);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}, {2, "two"}}));
  ExpectNoFileWrittenTwice();
}

TEST_F(CommitProtocolTest, CommitOfACheckpointBeingPreparedUsesThoseFiles) {
  auto gate = std::make_shared<DataFileGate>();
  Sidecar g = Start("g", absl::Seconds(10), gate);
  ASSERT_OK_AND_ASSIGN(Registration reg, g.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(g, reg, 1, {{1, "one"}, {2, "two"}});
  gate->Close();
  std::thread background([&] { EXPECT_TRUE(g.protocol->Prepare(kTable, kWriter).ok()); });
  gate->AwaitHeld(1);
  auto commit = std::async(std::launch::async, [&] { return Commit(g, {c1}); });
  // The commit waits for the files in flight rather than writing its own,
  // which would stop at the gate as a second creation.
  EXPECT_EQ(commit.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  gate->Open();
  background.join();
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, commit.get());
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "one"}, {2, "two"}}));
  ExpectNoFileWrittenTwice();
}

// --- Several stores, one commit ----------------------------------------------------

TEST_F(CommitProtocolTest, OneCommitOnEitherStorePublishesBothStoresCheckpointsInOneSnapshot) {
  Sidecar b = Start("b");
  Committable ca, cb;
  ASSERT_NO_FATAL_FAILURE(SealOnEachStore(b, &ca, &cb));
  ASSERT_TRUE(a_.protocol->Prepare(kTable, "job/0").ok());
  ASSERT_OK_AND_ASSIGN(auto before, a_.table->LatestSnapshot());
  // Through b, which holds only job/1: job/0's rows come from a's prepared files.
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, Commit(b, {ca, cb}));
  EXPECT_FALSE(r.already_committed);
  EXPECT_EQ(r.snapshot_id, before->id + 1);
  EXPECT_THAT(Identities(), ::testing::UnorderedElementsAre(Pair("job/0", 1), Pair("job/1", 1)));
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "from a"}, {2, "from b"}}));
  // The retry goes to a: already committed, the same snapshot.
  ASSERT_OK_AND_ASSIGN(TableCommitResult again, Commit(a_, {ca, cb}));
  EXPECT_TRUE(again.already_committed);
  EXPECT_EQ(again.snapshot_id, r.snapshot_id);
  // a's store catches up with what b committed for it.
  ASSERT_TRUE(a_.protocol->Recover().ok());
  ASSERT_OK_AND_ASSIGN(Registration looked, a_.store->Lookup({kTable, "job/0"}));
  EXPECT_EQ(looked.last_committed, 1);
  ASSERT_OK_AND_ASSIGN(auto left, a_.table->prepared().List());
  EXPECT_THAT(left, ::testing::IsEmpty());
}

// A commit through a that waits for b's preparation of job/1 holds none of
// a's writers meanwhile: a prepares job/0 (as its background preparation
// would), which a commit through b could be waiting for in turn.
TEST_F(CommitProtocolTest, WaitingForAnotherStoresFilesHoldsNoWriterOfThisStore) {
  Sidecar b = Start("b");
  Committable ca, cb;
  ASSERT_NO_FATAL_FAILURE(SealOnEachStore(b, &ca, &cb));
  auto commit = std::async(std::launch::async, [&] { return Commit(a_, {ca, cb}); });
  absl::SleepFor(absl::Milliseconds(300));  // the commit waits for job/1's files
  auto prepare = std::async(std::launch::async, [&] { return a_.protocol->Prepare(kTable, "job/0"); });
  const bool prepared = prepare.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  ASSERT_TRUE(b.protocol->Prepare(kTable, "job/1").ok());
  ASSERT_TRUE(prepared) << "a's preparation of job/0 waited for the commit waiting on b";
  EXPECT_TRUE(prepare.get().ok());
  ASSERT_OK_AND_ASSIGN(TableCommitResult r, commit.get());
  EXPECT_FALSE(r.already_committed);
  EXPECT_THAT(Identities(), ::testing::UnorderedElementsAre(Pair("job/0", 1), Pair("job/1", 1)));
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "from a"}, {2, "from b"}}));
  ASSERT_GE(r.waits.size(), 1u);
  EXPECT_EQ(r.waits[0].writer_id, "job/1");
}

TEST_F(CommitProtocolTest, RemoteCheckpointNotPreparedYetIsUnavailableAndChangesNothing) {
  Sidecar b = Start("b", absl::Milliseconds(50));
  ASSERT_OK_AND_ASSIGN(Registration ra, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable ca = Seal(a_, ra, 1, {{1, "a"}});
  ASSERT_OK_AND_ASSIGN(auto before, a_.table->LatestSnapshot());
  auto r = Commit(b, {ca});
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not prepared in the table root yet"));
  ASSERT_OK_AND_ASSIGN(auto after, a_.table->LatestSnapshot());
  EXPECT_EQ(after->id, before->id);
  ASSERT_TRUE(a_.protocol->Prepare(kTable, kWriter).ok());
  Committable wrong = ca;
  wrong.checksum ^= 1;
  auto refused = Commit(b, {wrong});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("does not match its prepared checkpoint"));
  ASSERT_OK_AND_ASSIGN(TableCommitResult ok, Commit(b, {ca}));
  EXPECT_FALSE(ok.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "a"}}));
}

TEST_F(CommitProtocolTest, MissingPreparedFileIsDataLossAndPublishesNothing) {
  Sidecar b = Start("b");
  ASSERT_OK_AND_ASSIGN(Registration ra, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable ca = Seal(a_, ra, 1, {{1, "a"}, {2, "b"}, {3, "c"}});
  ASSERT_TRUE(a_.protocol->Prepare(kTable, kWriter).ok());
  ASSERT_OK_AND_ASSIGN(auto names, a_.table->prepared().List());
  ASSERT_EQ(names.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto p, a_.table->prepared().Load(names[0].name));
  ASSERT_FALSE(p.newest().files.empty());
  fs::remove(dir_ / "root" / kTable / "data" / p.newest().files[0].name.str());
  ASSERT_OK_AND_ASSIGN(auto before, a_.table->LatestSnapshot());
  auto r = Commit(b, {ca});
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  ASSERT_OK_AND_ASSIGN(auto after, a_.table->LatestSnapshot());
  EXPECT_EQ(after->id, before->id);
}

TEST_F(CommitProtocolTest, MovedWriterCommitsTheRestoredCheckpointItsOldStorePrepared) {
  Sidecar b = Start("b");
  ASSERT_OK_AND_ASSIGN(Registration ra, a_.protocol->Register(kTable, kWriter, std::nullopt));
  Committable c1 = Seal(a_, ra, 1, {{1, "sealed on a"}});
  ASSERT_TRUE(a_.protocol->Prepare(kTable, kWriter).ok());
  // The job restores from checkpoint 1 with the writer beside b; a is gone.
  a_.protocol.reset();
  ASSERT_OK_AND_ASSIGN(Registration rb, b.protocol->Register(kTable, kWriter, 1));
  EXPECT_NE(rb.table_writer_id, ra.table_writer_id);
  // The restored committer commits checkpoint 1, under the old identity,
  // from the files a prepared.
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{}));
  ASSERT_OK_AND_ASSIGN(TableCommitResult r1, Commit(b, {c1}));
  EXPECT_FALSE(r1.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "sealed on a"}}));
  ASSERT_OK_AND_ASSIGN(TableCommitResult again, Commit(b, {c1}));
  EXPECT_TRUE(again.already_committed);
  Committable c2 = Seal(b, rb, 2, {{2, "sealed on b"}});
  ASSERT_OK_AND_ASSIGN(TableCommitResult r2, Commit(b, {c2}));
  EXPECT_FALSE(r2.already_committed);
  EXPECT_EQ(Rows(), (std::map<int64_t, std::string>{{1, "sealed on a"}, {2, "sealed on b"}}));
}

}  // namespace
}  // namespace deltasidecar::checkpoint
