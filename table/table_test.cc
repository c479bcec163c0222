#include "table/table.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/table_maintenance.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

class TableTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("table_test", "id BIGINT, name STRING, score DOUBLE", "id", 4));
    table_ = Open();
  }

  Row MakeRow(int64_t id, std::string name) {
    return Row{Value(id), Value(std::move(name)), Value(1.5)};
  }
  Row Key(int64_t id) { return Row{Value(id), Value(), Value()}; }

  void Upsert(MutationBatch& b, int64_t id, std::string name) { b.Upsert(schema_, MakeRow(id, name)); }
  void Delete(MutationBatch& b, int64_t id) { b.Delete(schema_, Key(id)); }

  int64_t Commit(MutationBatch& b, std::vector<CommitIdentity> ids = {}, Table* t = nullptr) {
    auto r = (t ? t : table_.get())->Commit(b, ids);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->snapshot_id : -1;
  }

  // id -> name of every live row at `snapshot` (latest when -1), via a scan.
  std::map<int64_t, std::string> Scan(int64_t snapshot = -1, Table* t = nullptr) {
    Table* tab = t ? t : table_.get();
    auto snap = snapshot < 0 ? tab->LatestSnapshot() : tab->SnapshotById(snapshot);
    EXPECT_TRUE(snap.ok()) << snap.status();
    std::map<int64_t, std::string> out;
    auto it = tab->NewScan(**snap);
    EXPECT_TRUE(it.ok());
    std::string prev;
    for (; (*it)->Valid(); (*it)->Next()) {
      EXPECT_LT(prev, std::string((*it)->key())) << "scan must be ordered by key";
      prev = std::string((*it)->key());
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok());
      out[std::get<int64_t>((*row)[0])] = std::get<std::string>((*row)[1]);
    }
    EXPECT_TRUE((*it)->status().ok()) << (*it)->status();
    return out;
  }

  std::optional<std::string> Get(int64_t id) {
    auto snap = table_->LatestSnapshot();
    auto v = table_->Get(**snap, EncodeKey(schema_, Key(id)));
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok() || !v->has_value()) return std::nullopt;
    auto row = DecodeRow(schema_, EncodeKey(schema_, Key(id)), **v);
    return std::get<std::string>((*row)[1]);
  }

  std::vector<fs::path> DataFiles() {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(root_ / "t" / "data")) out.push_back(e.path());
    return out;
  }

  std::unique_ptr<Table> table_;
};

TEST_F(TableTest, CreateTwiceIsAlreadyExists) {
  EXPECT_TRUE(absl::IsAlreadyExists(Table::Create(root_, "t", schema_)));
}

TEST_F(TableTest, OpenMissingIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(Table::Open(root_, "nope").status()));
}

TEST_F(TableTest, BadNameIsInvalidArgument) {
  EXPECT_TRUE(absl::IsInvalidArgument(Table::Create(root_, "../x", schema_)));
  EXPECT_TRUE(absl::IsInvalidArgument(Table::Create(root_, ".hidden", schema_)));
}

TEST_F(TableTest, LaterEntryInOneBatchWins) {
  MutationBatch b;
  Upsert(b, 1, "a");
  Upsert(b, 1, "b");
  Upsert(b, 2, "x");
  Delete(b, 2);
  Delete(b, 3);
  Upsert(b, 3, "c");
  Commit(b);
  EXPECT_EQ(Scan(), (std::map<int64_t, std::string>{{1, "b"}, {3, "c"}}));
}

TEST_F(TableTest, DeleteHidesOlderVersionsAcrossCommits) {
  MutationBatch b1, b2, b3;
  for (int i = 0; i < 100; ++i) Upsert(b1, i, "v1");
  int64_t s1 = Commit(b1);
  for (int i = 0; i < 100; i += 2) Delete(b2, i);
  int64_t s2 = Commit(b2);
  for (int i = 0; i < 100; i += 4) Upsert(b3, i, "v3");
  int64_t s3 = Commit(b3);
  auto at1 = Scan(s1), at2 = Scan(s2), at3 = Scan(s3);
  EXPECT_EQ(at1.size(), 100u);
  EXPECT_EQ(at2.size(), 50u);
  EXPECT_EQ(at3.size(), 75u);
  EXPECT_EQ(at3[4], "v3");
  EXPECT_EQ(at3.count(2), 0u);
  EXPECT_EQ(at3[3], "v1");
  EXPECT_EQ(Get(4), "v3");
  EXPECT_EQ(Get(2), std::nullopt);
  EXPECT_EQ(Get(3), "v1");
  EXPECT_EQ(Get(1000), std::nullopt);
}

TEST_F(TableTest, IdentitiesMakeCommitsIdempotent) {
  MutationBatch b;
  Upsert(b, 1, "a");
  auto r1 = table_->Commit(b, {{"w", 7}});
  ASSERT_TRUE(r1.ok());
  EXPECT_FALSE(r1->already_committed);
  size_t files = DataFiles().size();
  for (int i = 0; i < 3; ++i) {
    auto again = table_->Commit(b, {{"w", 7}});
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->already_committed);
    EXPECT_EQ(again->snapshot_id, r1->snapshot_id);
  }
  EXPECT_EQ(DataFiles().size(), files) << "a duplicate commit must not leave files behind";
  auto older = table_->Commit(b, {{"w", 3}});
  ASSERT_TRUE(older.ok());
  EXPECT_TRUE(older->already_committed);
  auto mixed = table_->Commit(b, {{"w", 7}, {"other", 1}});
  EXPECT_TRUE(absl::IsFailedPrecondition(mixed.status())) << mixed.status();
  auto found = table_->FindCommit({"w", 7});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, r1->snapshot_id);
  EXPECT_EQ(*table_->FindCommit({"w", 8}), std::nullopt);
  EXPECT_EQ(*table_->FindCommit({"nobody", 1}), std::nullopt);
}

TEST_F(TableTest, SeveralCheckpointsInOneSnapshot) {
  MutationBatch b;
  Upsert(b, 1, "a");
  int64_t id = Commit(b, {{"w", 1}, {"w", 2}, {"w", 3}});
  auto latest = table_->LatestSnapshot();
  EXPECT_EQ((*latest)->writers.at("w").checkpoint_id, 3);
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(*table_->FindCommit({"w", n}), id);
}

TEST_F(TableTest, EmptyCommitRecordsIdentity) {
  MutationBatch empty;
  int64_t id = Commit(empty, {{"w", 1}});
  EXPECT_EQ(id, 1);
  EXPECT_TRUE(DataFiles().empty());
  EXPECT_EQ(*table_->FindCommit({"w", 1}), 1);
}

// A commit larger than the writer's memory budget is written as several runs
// per bucket; later entries of a key must still win everywhere a reader looks.
TEST_F(TableTest, CommitWriterSpillsRunsAndLaterEntriesWin) {
  TableOptions options;
  options.commit_memory_bytes = 1 << 20;  // the floor: many runs for this commit
  auto t = Open(options);
  ASSERT_NE(t, nullptr);
  MutationBatch first;
  for (int i = 0; i < 1000; ++i) Upsert(first, i, "old");
  int64_t s1 = Commit(first, {}, t.get());

  std::mt19937_64 rng(42);
  std::map<int64_t, std::string> model;
  for (int i = 0; i < 1000; ++i) model[i] = "old";
  std::map<int64_t, std::optional<std::string>> changed;
  auto made = t->NewCommit({{"w", 1}});
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<CommitWriter> writer = std::move(*made);
  const std::string pad(200, 'p');
  for (int n = 0; n < 40000; ++n) {
    int64_t id = static_cast<int64_t>(rng() % 3000);
    MutationBatch one;
    if (rng() % 5 == 0) {
      Delete(one, id);
      model.erase(id);
      changed[id] = std::nullopt;
    } else {
      std::string name = "v" + std::to_string(n) + pad;
      Upsert(one, id, name);
      model[id] = name;
      changed[id] = name;
    }
    ASSERT_TRUE(writer->Add(one.key(0), one.value(0)).ok());
  }
  EXPECT_GT(writer->files_written(), 4u * 4) << "the budget should have forced several runs";
  auto r = writer->Finish();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Scan(-1, t.get()), model);
  for (int64_t id : {0, 7, 999, 1500, 2999}) {
    auto snap = t->LatestSnapshot();
    auto v = t->Get(**snap, EncodeKey(schema_, Key(id)));
    ASSERT_TRUE(v.ok());
    auto it = model.find(id);
    ASSERT_EQ(v->has_value(), it != model.end()) << id;
  }
  auto changes = t->NewChanges(s1, r->snapshot_id);
  ASSERT_TRUE(changes.ok());
  std::map<int64_t, std::optional<std::string>> got;
  for (; (*changes)->Valid(); (*changes)->Next()) {
    auto row = DecodeRow(schema_, (*changes)->key(), (*changes)->value());
    ASSERT_TRUE(row.ok());
    int64_t id = std::get<int64_t>((*row)[0]);
    if (*ValueOp((*changes)->value()) == RowOp::kDelete) {
      got[id] = std::nullopt;
    } else {
      got[id] = std::get<std::string>((*row)[1]);
    }
  }
  EXPECT_EQ(got, changed);
  // Compaction merges the runs without changing the content.
  ASSERT_TRUE(t->Compact(true).ok());
  EXPECT_EQ(Scan(-1, t.get()), model);
}

TEST_F(TableTest, AbandonedCommitWriterRemovesItsFiles) {
  TableOptions options;
  options.commit_memory_bytes = 1 << 20;
  auto t = Open(options);
  ASSERT_NE(t, nullptr);
  {
    auto made = t->NewCommit({{"w", 1}});
    ASSERT_TRUE(made.ok()) << made.status();
    std::unique_ptr<CommitWriter> writer = std::move(*made);
    MutationBatch b;
    const std::string pad(500, 'x');
    for (int i = 0; i < 10000; ++i) Upsert(b, i, pad);
    for (size_t i = 0; i < b.size(); ++i) ASSERT_TRUE(writer->Add(b.key(i), b.value(i)).ok());
    EXPECT_GT(writer->files_written(), 0u);
    EXPECT_FALSE(DataFiles().empty());
  }
  EXPECT_TRUE(DataFiles().empty()) << "an unfinished commit must not leave files behind";
  EXPECT_EQ(*t->FindCommit({"w", 1}), std::nullopt);
}

TEST_F(TableTest, CommitWriterOfCommittedIdentitiesWritesNothing) {
  MutationBatch b;
  Upsert(b, 1, "a");
  int64_t id = Commit(b, {{"w", 5}});
  size_t files = DataFiles().size();
  auto made = table_->NewCommit({{"w", 5}});
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<CommitWriter> writer = std::move(*made);
  ASSERT_TRUE(writer->Add(b.key(0), b.value(0)).ok());
  auto r = writer->Finish();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->already_committed);
  EXPECT_EQ(r->snapshot_id, id);
  EXPECT_EQ(DataFiles().size(), files);
}

TEST_F(TableTest, TimeTravelById) {
  std::vector<std::map<int64_t, std::string>> expected;
  std::map<int64_t, std::string> model;
  std::mt19937 rng(7);
  std::vector<int64_t> ids;
  for (int c = 0; c < 12; ++c) {
    MutationBatch b;
    for (int i = 0; i < 50; ++i) {
      int64_t k = rng() % 80;
      if (rng() % 4 == 0) {
        Delete(b, k);
        model.erase(k);
      } else {
        std::string v = "c" + std::to_string(c) + "-" + std::to_string(i);
        Upsert(b, k, v);
        model[k] = v;
      }
    }
    ids.push_back(Commit(b));
    expected.push_back(model);
    if (c == 6) {
      ASSERT_TRUE(table_->Compact(/*full=*/true).ok());
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(Scan(ids[i]), expected[i]) << "snapshot " << ids[i];
}

TEST_F(TableTest, SnapshotAsOfTime) {
  MutationBatch b;
  Upsert(b, 1, "a");
  int64_t s1 = Commit(b);
  auto t1 = SnapshotTime(**table_->SnapshotById(s1));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  MutationBatch b2;
  Upsert(b2, 1, "b");
  int64_t s2 = Commit(b2);
  EXPECT_EQ((*table_->SnapshotAsOf(t1))->id, s1);
  EXPECT_EQ((*table_->SnapshotAsOf(absl::Now()))->id, s2);
  EXPECT_TRUE(absl::IsNotFound(table_->SnapshotAsOf(absl::FromUnixSeconds(1)).status()));
}

TEST_F(TableTest, ChangesKeepLatestPerKeyIncludingDeletes) {
  MutationBatch b1, b2, b3;
  Upsert(b1, 1, "a");
  Upsert(b1, 2, "b");
  int64_t s1 = Commit(b1);
  Upsert(b2, 1, "a2");
  Delete(b2, 2);
  Upsert(b2, 3, "c");
  Commit(b2);
  Upsert(b3, 3, "c3");
  int64_t s3 = Commit(b3);
  auto it = table_->NewChanges(s1, s3);
  ASSERT_TRUE(it.ok());
  std::vector<std::pair<int64_t, std::string>> got;
  for (; (*it)->Valid(); (*it)->Next()) {
    auto op = ValueOp((*it)->value());
    auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
    ASSERT_TRUE(row.ok()) << row.status();
    got.push_back({std::get<int64_t>((*row)[0]),
                   *op == RowOp::kDelete ? "-" : std::get<std::string>((*row)[1])});
  }
  EXPECT_EQ(got, (std::vector<std::pair<int64_t, std::string>>{{1, "a2"}, {2, "-"}, {3, "c3"}}));
  EXPECT_TRUE(absl::IsInvalidArgument(table_->NewChanges(s3, s1).status()));
}

TEST_F(TableTest, CompactionKeepsContentAndDropsDeletes) {
  std::map<int64_t, std::string> model;
  for (int c = 0; c < 8; ++c) {
    MutationBatch b;
    for (int i = 0; i < 40; ++i) {
      Upsert(b, c * 10 + i, "c" + std::to_string(c));
      model[c * 10 + i] = "c" + std::to_string(c);
    }
    for (int i = 0; i < 5; ++i) {
      Delete(b, c * 7 + i);
      model.erase(c * 7 + i);
    }
    Commit(b);
  }
  auto before = table_->LatestSnapshot();
  auto compacted = table_->Compact(/*full=*/true);
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  ASSERT_TRUE(compacted->has_value());
  auto after = table_->LatestSnapshot();
  EXPECT_EQ((*after)->kind, SnapshotKind::kCompact);
  for (const auto& files : (*after)->buckets) {
    EXPECT_LE(files.size(), 1u);
    for (const auto& f : files) EXPECT_EQ(f.deletes, 0u);
  }
  EXPECT_EQ(Scan(), model);
  EXPECT_EQ(Scan((*before)->id), model);
  EXPECT_EQ(*table_->Compact(true), std::nullopt) << "nothing left to compact";
}

TEST_F(TableTest, PartialCompactionKeepsDeletesThatHideOlderFiles) {
  MutationBatch b1;
  for (int i = 0; i < 200; ++i) Upsert(b1, i, "old");
  Commit(b1);
  // Small newer files: the policy merges them without the big oldest one.
  for (int c = 0; c < 5; ++c) {
    MutationBatch b;
    Delete(b, c);
    Commit(b);
  }
  TableOptions options;
  options.compaction.trigger_files = 2;
  options.compaction.max_size_amplification = 1000;
  auto t = Open(options);
  auto r = t->Compact(false);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  auto m = Scan(-1, t.get());
  EXPECT_EQ(m.size(), 195u);
  for (int c = 0; c < 5; ++c) EXPECT_EQ(m.count(c), 0u) << c;
}

TEST_F(TableTest, ConcurrentCommittersLoseNothing) {
  constexpr int kThreads = 4, kCommits = 15;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto table = Table::Open(root_, "t");  // separate handles race like processes
      ASSERT_TRUE(table.ok());
      for (int c = 0; c < kCommits; ++c) {
        MutationBatch b;
        for (int i = 0; i < 20; ++i) Upsert(b, (t * kCommits + c) * 100 + i, "x");
        auto r = (*table)->Commit(b, {{"writer-" + std::to_string(t), c + 1}});
        ASSERT_TRUE(r.ok()) << r.status();
        if (c % 5 == 4) {
          absl::Status st = (*table)->Compact(false).status();
          ASSERT_TRUE(st.ok() || absl::IsAborted(st)) << st;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto fresh = Open();
  EXPECT_EQ(Scan(-1, fresh.get()).size(), static_cast<size_t>(kThreads * kCommits * 20));
  auto latest = fresh->LatestSnapshot();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ((*latest)->writers.at("writer-" + std::to_string(t)).checkpoint_id, kCommits);
  }
}

TEST_F(TableTest, ConcurrentCompactionsConflictCorrectly) {
  for (int c = 0; c < 6; ++c) {
    MutationBatch b;
    for (int i = 0; i < 30; ++i) Upsert(b, i, "c" + std::to_string(c));
    Commit(b);
  }
  auto model = Scan();
  auto other = Open();
  std::thread a([&] { (void)table_->Compact(true); });
  std::thread b([&] { (void)other->Compact(true); });
  a.join();
  b.join();
  EXPECT_EQ(Scan(), model);
  auto verify = table_->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_THAT(*verify, ::testing::IsEmpty());
}

TEST_F(TableTest, ExpireRemovesUnreferencedFilesOnly) {
  for (int c = 0; c < 6; ++c) {
    MutationBatch b;
    for (int i = 0; i < 30; ++i) Upsert(b, i, "c" + std::to_string(c));
    Commit(b);
  }
  ASSERT_TRUE(table_->Compact(true).ok());
  auto model = Scan();
  size_t before = DataFiles().size();
  auto r = table_->Expire(1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->snapshots_removed, 7);
  EXPECT_GT(r->files_removed, 0);
  EXPECT_EQ(DataFiles().size(), before - r->files_removed);
  EXPECT_EQ(Scan(), model);
  EXPECT_TRUE(absl::IsNotFound(table_->SnapshotById(1).status()));
  auto verify = table_->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_THAT(*verify, ::testing::IsEmpty());
  EXPECT_TRUE(absl::IsInvalidArgument(table_->Expire(0).status()));
}

// A reader holding a snapshot that expiry removes (with its files) before the
// read opens them gets NOT_FOUND: the history is gone, nothing is damaged.
TEST_F(TableTest, ScanOfASnapshotExpiredDuringTheReadIsNotFound) {
  for (int c = 0; c < 2; ++c) {
    MutationBatch b;
    for (int i = 0; i < 30; ++i) Upsert(b, i, "c" + std::to_string(c));
    Commit(b);
  }
  auto held = table_->LatestSnapshot();
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(table_->Compact(true).ok());
  auto r = table_->Expire(1);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GT(r->files_removed, 0);
  auto scan = table_->NewScan(**held);
  EXPECT_TRUE(absl::IsNotFound(scan.status())) << scan.status();
  EXPECT_THAT(std::string(scan.status().message()), ::testing::HasSubstr("was expired"));
}

TEST_F(TableTest, MaintenanceBoundsFilesPerBucket) {
  TableOptions options;
  options.retention.min_snapshots = 5;
  options.retention.max_age = absl::ZeroDuration();
  auto t = Open(options);
  for (int c = 0; c < 40; ++c) {
    MutationBatch b;
    for (int i = 0; i < 50; ++i) Upsert(b, c * 50 + i, "x");
    ASSERT_TRUE(t->Commit(b).ok());
    ASSERT_TRUE(t->RunMaintenance().ok());
  }
  auto latest = t->LatestSnapshot();
  for (const auto& files : (*latest)->buckets) EXPECT_LT(files.size(), 6u);
  auto history = t->History();
  EXPECT_LE((*history).size(), 6u);
  EXPECT_EQ(Scan(-1, t.get()).size(), 2000u);
}

TEST_F(TableTest, FlippedByteIsDataLossNeverServed) {
  MutationBatch b;
  for (int i = 0; i < 2000; ++i) Upsert(b, i, std::string(50, 'a' + i % 26));
  Commit(b);
  auto files = DataFiles();
  ASSERT_FALSE(files.empty());
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    char c;
    f.seekg(100);
    f.get(c);
    f.seekp(100);
    f.put(static_cast<char>(c ^ 0x40));
  }
  auto fresh = Open();
  auto problems = fresh->Verify();
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_THAT((*problems)[0], ::testing::HasSubstr(files[0].filename().string()));
  auto snap = fresh->LatestSnapshot();
  auto it = fresh->NewScan(**snap);
  absl::Status s = it.status();
  if (it.ok()) {
    while ((*it)->Valid()) (*it)->Next();
    s = (*it)->status();
  }
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST_F(TableTest, CorruptSnapshotIsDataLoss) {
  MutationBatch b;
  Upsert(b, 1, "a");
  int64_t id = Commit(b);
  fs::path p = root_ / "t" / "snapshots" / SnapshotFileName(id);
  std::string contents;
  {
    std::ifstream in(p, std::ios::binary);
    contents.assign(std::istreambuf_iterator<char>(in), {});
  }
  contents[contents.size() / 3] ^= 1;
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << contents;
  }
  auto fresh = Open();
  EXPECT_TRUE(absl::IsDataLoss(fresh->SnapshotById(id).status()));
  EXPECT_FALSE(fresh->Verify()->empty());
}

TEST_F(TableTest, ExpireRemovesOldOrphansOnly) {
  MutationBatch b;
  Upsert(b, 1, "a");
  Commit(b);
  fs::path data = root_ / "t" / "data";
  // Leftovers of commits that never published: one old, one that may be in flight.
  fs::path old_orphan = data / ("00001-" + RandomId() + ".sst");
  fs::path young_orphan = data / ("00002-" + RandomId() + ".sst");
  std::ofstream(old_orphan) << "x";
  std::ofstream(young_orphan) << "x";
  fs::last_write_time(old_orphan, fs::file_time_type::clock::now() - std::chrono::hours(2));
  size_t live = DataFiles().size() - 2;
  auto r = table_->Expire(10, absl::Hours(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->orphans_removed, 1);
  EXPECT_FALSE(fs::exists(old_orphan));
  EXPECT_TRUE(fs::exists(young_orphan));
  EXPECT_EQ(DataFiles().size(), live + 1);
  EXPECT_EQ(Scan(), (std::map<int64_t, std::string>{{1, "a"}}));
}

// A prepared checkpoint of `writer` (claimed as `incarnation`) holding
// checkpoint 1 with rows `ids`, its data files made to look two hours old.
PreparedCheckpoint PrepareOld(Table& t, const TableSchema& schema, const std::string& writer,
                              int64_t incarnation, const std::vector<int64_t>& ids) {
  PreparedCheckpoint p{IncarnationIdentity(writer, incarnation), writer, incarnation, "store-a",
                       absl::ToUnixMillis(absl::Now() - absl::Hours(2)), {}};
  auto files = t.NewCommit({});
  EXPECT_TRUE(files.ok()) << files.status();
  MutationBatch b;
  for (int64_t id : ids) b.Upsert(schema, Row{Value(id), Value(writer), Value(1.5)});
  for (size_t i = 0; i < b.size(); ++i) EXPECT_TRUE((*files)->Add(b.key(i), b.value(i)).ok());
  auto written = (*files)->FinishFiles();
  EXPECT_TRUE(written.ok()) << written.status();
  p.parts.push_back({1, {ids.size(), 0x5eed}, *written});
  for (const auto& f : p.parts[0].files) {
    fs::last_write_time(fs::path(t.prepared().dir()).parent_path() / "data" / f.name.str(),
                        fs::file_time_type::clock::now() - std::chrono::hours(2));
  }
  EXPECT_TRUE(t.prepared().Create(p).ok());
  return p;
}

TEST_F(TableTest, MaintenanceSweepsAbandonedPreparedCheckpointsAndKeepsPendingOnes) {
  ASSERT_TRUE(table_->claims().Claim("gone", 1, "store-a").ok());
  ASSERT_TRUE(table_->claims().Claim("pending", 1, "store-a").ok());
  PreparedCheckpoint abandoned = PrepareOld(*table_, schema_, "gone", 1, {1, 2, 3});
  PreparedCheckpoint pending = PrepareOld(*table_, schema_, "pending", 1, {4, 5});
  // "gone" moved to another store: its prepared checkpoint can never be committed.
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(table_->claims().ClaimNext("gone", "store-b", **latest).ok());
  auto prepared_count = [&] { return table_->prepared().List()->size(); };
  ASSERT_EQ(prepared_count(), 2u);
  const size_t files_before = DataFiles().size();

  // Without an age, maintenance leaves both alone.
  auto quiet = MaintainTable(*table_, {}, [] { return false; });
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_FALSE(quiet->swept);
  EXPECT_EQ(prepared_count(), 2u);

  auto r = MaintainTable(*table_, {}, [] { return false; }, absl::Hours(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->swept);
  EXPECT_EQ(r->prepared_removed, 1);
  // Files on disk, not entries: a multi-bucket file is listed once per bucket.
  std::set<std::string> abandoned_files;
  for (const auto& f : abandoned.parts[0].files) abandoned_files.insert(f.name);
  EXPECT_EQ(r->orphan_files_removed, static_cast<int>(abandoned_files.size()));
  EXPECT_EQ(DataFiles().size(), files_before - abandoned_files.size());
  for (const auto& f : abandoned.parts[0].files) EXPECT_FALSE(fs::exists(root_ / "t" / "data" / f.name.str()));
  for (const auto& f : pending.parts[0].files) EXPECT_TRUE(fs::exists(root_ / "t" / "data" / f.name.str()));
  auto left = table_->prepared().List();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].name, PreparedFileName(pending.identity, 1, 0x5eed));
  // The one kept still commits, whole.
  ASSERT_TRUE(table_->CommitPrepared({pending}).ok());
  EXPECT_EQ(Scan(), (std::map<int64_t, std::string>{{4, "pending"}, {5, "pending"}}));
  EXPECT_EQ(prepared_count(), 0u);
  // deltactl expire --orphan-age runs the same sweep: nothing is left to remove.
  auto again = table_->Expire(10, absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->orphans_removed, 0);
  EXPECT_EQ(again->prepared_removed, 0);
  EXPECT_EQ(DataFiles().size(), files_before - abandoned_files.size());
}

TEST(PreparedFileNameTest, ParsesWhatItNamesAndNothingElse) {
  const std::string name = PreparedFileName("job/0#2", 42, 0xabcdef0123456789ull);
  auto id = ParsePreparedFileName(name);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->name, name);
  EXPECT_EQ(id->identity_hash, PreparedIdentityHash("job/0#2"));
  EXPECT_EQ(id->checkpoint_id, 42);
  EXPECT_EQ(id->checksum, 0xabcdef0123456789ull);
  EXPECT_FALSE(ParsePreparedFileName(".tmp-" + name).has_value());
  EXPECT_FALSE(ParsePreparedFileName(name.substr(1)).has_value());
  std::string bad_digit = name;
  bad_digit[40] = 'x';
  EXPECT_FALSE(ParsePreparedFileName(bad_digit).has_value());
  EXPECT_FALSE(ParsePreparedFileName("").has_value());
}

TEST_F(TableTest, WriterIdsAreValidated) {
  MutationBatch b;
  Upsert(b, 1, "a");
  for (std::string bad : {std::string(""), std::string("w\xff"), std::string("a\nb"),
                          std::string(kMaxWriterIdBytes + 1, 'w'), std::string("\xc0\x80")}) {
    auto r = table_->Commit(b, {{bad, 1}});
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << "writer id '" << bad << "': " << r.status();
    EXPECT_TRUE(absl::IsInvalidArgument(table_->NewCommit({{bad, 1}}).status())) << bad;
  }
  EXPECT_TRUE(DataFiles().empty()) << "a refused commit writes nothing";
  EXPECT_TRUE(table_->Commit(b, {{"job-\xc3\xa9/op:3", 1}}).ok());
}

}  // namespace
}  // namespace deltasidecar::table
