// Crash consistency: a table is driven through commits, compactions and expiry
// on a file system that starts failing at a random operation (the process
// "dies" there) and then forgets every write that was not synced (power loss).
// The table must reopen at a consistent snapshot that holds every commit that
// was acknowledged, with every referenced file intact.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>

#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/table.h"
#include "table/testing/fault_injection_fs.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;
using Model = std::map<int64_t, std::string>;

class FaultInjectionTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("fault_test_" + RandomId());
    schema_ = *TableSchema::Parse("id BIGINT, v STRING", "id", 4);
  }
  void TearDown() override { fs::remove_all(root_); }

  Model ScanModel(Table& t) {
    Model m;
    auto snap = t.LatestSnapshot();
    EXPECT_TRUE(snap.ok()) << snap.status();
    if (!snap.ok()) return m;
    auto it = t.NewScan(**snap);
    EXPECT_TRUE(it.ok()) << it.status();
    if (!it.ok()) return m;
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok());
      m[std::get<int64_t>((*row)[0])] = std::get<std::string>((*row)[1]);
    }
    EXPECT_TRUE((*it)->status().ok()) << (*it)->status();
    return m;
  }

  fs::path root_;
  TableSchema schema_;
};

TEST_P(FaultInjectionTest, ReopensAtAcknowledgedState) {
  const int seed = GetParam();
  std::mt19937_64 rng(seed);
  ASSERT_TRUE(Table::Create(root_, "t", schema_).ok());
  auto faulty = std::make_shared<testing::FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  TableOptions options;
  options.fs = faulty;
  options.compaction.trigger_files = 3;
  options.retention.min_snapshots = 3;
  options.retention.max_age = absl::ZeroDuration();
  const int64_t crash_after = static_cast<int64_t>(rng() % 1200);
  faulty->FailAfter(crash_after);

  Model acked;                 // state of the last acknowledged commit
  int64_t acked_checkpoint = 0;
  Model in_flight = acked;     // state if the failed commit did land
  int64_t in_flight_checkpoint = 0;
  bool crashed = false;
  {
    auto table = Table::Open(root_, "t", options);
    ASSERT_TRUE(table.ok()) << table.status();
    for (int64_t checkpoint = 1; checkpoint <= 40 && !crashed; ++checkpoint) {
      MutationBatch batch;
      in_flight = acked;
      for (int i = 0; i < 30; ++i) {
        int64_t k = static_cast<int64_t>(rng() % 120);
        if (rng() % 5 == 0) {
          batch.Delete(schema_, Row{Value(k), Value()});
          in_flight.erase(k);
        } else {
          std::string v = "s" + std::to_string(seed) + "c" + std::to_string(checkpoint) + "i" + std::to_string(i);
          batch.Upsert(schema_, Row{Value(k), Value(v)});
          in_flight[k] = v;
        }
      }
      in_flight_checkpoint = checkpoint;
      auto r = (*table)->Commit(batch, {{"w", checkpoint}});
      if (!r.ok()) {
        crashed = true;
        break;
      }
      acked = in_flight;
      acked_checkpoint = checkpoint;
      // Maintenance failing is a crash too; contents stay as acknowledged.
      absl::Status m = rng() % 7 == 0 ? (*table)->Compact(true).status() : (*table)->RunMaintenance();
      if (!m.ok()) crashed = true;
      in_flight = acked;
      in_flight_checkpoint = acked_checkpoint;
    }
  }
  ASSERT_TRUE(faulty->DropUnsyncedData().ok());

  auto table = Table::Open(root_, "t");
  ASSERT_TRUE(table.ok()) << table.status();
  auto problems = (*table)->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status();
  for (const auto& p : *problems) ADD_FAILURE() << "seed " << seed << ": " << p;
  Model got = ScanModel(**table);
  auto latest = (*table)->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  auto w = (*latest)->writers.find("w");
  int64_t checkpoint = w == (*latest)->writers.end() ? 0 : w->second.checkpoint_id;
  if (checkpoint == acked_checkpoint) {
    EXPECT_EQ(got, acked) << "seed " << seed << " crash_after " << crash_after;
  } else {
    EXPECT_EQ(checkpoint, in_flight_checkpoint) << "seed " << seed << ": lost an acknowledged commit";
    EXPECT_EQ(got, in_flight) << "seed " << seed;
  }
  // The table keeps working after recovery.
  MutationBatch more;
  more.Upsert(schema_, Row{Value(int64_t{1000}), Value(std::string("after"))});
  auto r = (*table)->Commit(more, {{"w", checkpoint + 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ScanModel(**table).at(1000), "after");
  (void)crashed;
}

// DELTA_FAULT_SEEDS=N runs seeds 1..N (default 40) for a longer soak.
int SeedCount() {
  const char* n = std::getenv("DELTA_FAULT_SEEDS");
  return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 40;
}
INSTANTIATE_TEST_SUITE_P(Seeds, FaultInjectionTest, ::testing::Range(1, SeedCount() + 1));

TEST(FaultInjectionCreateTest, CreateIsAllOrNothing) {
  for (int k = 0; k < 40; ++k) {
    fs::path root = fs::path(::testing::TempDir()) / ("fault_create_" + RandomId());
    auto faulty = std::make_shared<testing::FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
    faulty->FailAfter(k);
    TableOptions options;
    options.fs = faulty;
    absl::Status s = Table::Create(root, "t", *TableSchema::Parse("id BIGINT", "id", 2), options);
    ASSERT_TRUE(faulty->DropUnsyncedData().ok());
    auto t = Table::Open(root, "t");
    if (s.ok()) {
      ASSERT_TRUE(t.ok()) << "an acknowledged create must survive: " << t.status();
    }
    if (t.ok()) {
      EXPECT_TRUE((*t)->Verify()->empty());
      EXPECT_TRUE((*t)->LatestSnapshot().ok());
    } else {
      EXPECT_TRUE(absl::IsNotFound(t.status())) << t.status();
    }
    fs::remove_all(root);
  }
}

}  // namespace
}  // namespace deltasidecar::table
