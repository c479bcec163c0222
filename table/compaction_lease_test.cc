#include "table/compaction_lease.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/table.h"
#include "table/table_maintenance.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

class CompactionLeaseTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("compaction_lease_test", "id BIGINT, name STRING", "id", 2));
    dir_ = (root_ / "t").string();
    fs_ = Storage::Make(nullptr)->fs;
  }

  std::optional<CompactionLease> Take(absl::Duration ttl = absl::Minutes(5), std::string holder = "") {
    auto lease = CompactionLease::TryTake(fs_, dir_, holder, ttl);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? std::move(*lease) : std::nullopt;
  }
  std::string LeaseText() {
    std::ifstream in(fs::path(dir_) / "compaction.lease");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void WriteLease(const std::string& text) {
    std::ofstream(fs::path(dir_) / "compaction.lease") << text;
  }

  std::string dir_;
  std::shared_ptr<rocksdb::FileSystem> fs_;
};

TEST_F(CompactionLeaseTest, OneHolderAtATime) {
  {
    std::optional<CompactionLease> first = Take();
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(Take().has_value());
    std::optional<CompactionLease> moved = std::move(first);
    EXPECT_FALSE(Take().has_value());
  }  // released
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "compaction.lease"));
  EXPECT_TRUE(Take().has_value());
  // No temporary file is left behind either way.
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_NE(e.path().filename().string().rfind(".tmp-", 0), 0u) << e.path();
  }
}

// A lease past its expiry (a crashed holder), or one no holder wrote, is
// taken over; the old holder's release then leaves the new one's alone.
TEST_F(CompactionLeaseTest, AnExpiredOrUnreadableLeaseIsReplaced) {
  std::optional<CompactionLease> stale = Take(absl::Milliseconds(-1));
  ASSERT_TRUE(stale.has_value());
  std::optional<CompactionLease> next = Take();
  ASSERT_TRUE(next.has_value());
  const std::string held = LeaseText();
  stale.reset();
  EXPECT_EQ(LeaseText(), held);
  EXPECT_FALSE(Take().has_value());
  next.reset();
  WriteLease("not a lease");
  EXPECT_TRUE(Take().has_value());
}

// A holder that finds its own live lease (it restarted after a crash) takes
// it back; others give way. A holder id with a space is refused.
TEST_F(CompactionLeaseTest, AHolderTakesBackItsOwnLease) {
  std::optional<CompactionLease> before_crash = Take(absl::Minutes(5), "store-a");
  ASSERT_TRUE(before_crash.has_value());
  EXPECT_FALSE(Take(absl::Minutes(5), "store-b").has_value());
  EXPECT_TRUE(Take(absl::Minutes(5), "store-a").has_value());
  EXPECT_TRUE(absl::IsInvalidArgument(
      CompactionLease::TryTake(fs_, dir_, "store a", absl::Minutes(5)).status()));
}

// Maintenance compacts only with the lease: while another process holds it,
// it reports so and leaves the files; once released, it compacts.
TEST_F(CompactionLeaseTest, MaintenanceCompactsOnlyWithTheLease) {
  auto table = Table::Open(root_, "t");
  ASSERT_TRUE(table.ok()) << table.status();
  for (int64_t i = 0; i < 6; ++i) {
    MutationBatch batch;
    batch.Upsert(schema_, Row{Value(i), Value(std::string("row"))});
    ASSERT_TRUE((*table)->Commit(batch, {}).ok());
  }
  TableOptions options;
  options.compaction.trigger_files = 3;
  std::optional<CompactionLease> elsewhere = Take();
  ASSERT_TRUE(elsewhere.has_value());
  auto held = MaintainTable(**table, options, [] { return false; });
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_TRUE(held->compaction_elsewhere);
  EXPECT_FALSE(held->compacted);
  elsewhere.reset();
  auto free = MaintainTable(**table, options, [] { return false; });
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_FALSE(free->compaction_elsewhere);
  EXPECT_TRUE(free->compacted);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "compaction.lease"));
}

}  // namespace
}  // namespace deltasidecar::table
