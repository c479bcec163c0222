#include "table/consumer_positions.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/table.h"
#include "table/table_maintenance.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

class ConsumerPositionsTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("consumers_test", "id BIGINT, name STRING", "id", 2));
    // Automatic expiry would keep one snapshot only, were it not for consumers.
    options_.retention.min_snapshots = 1;
    options_.retention.max_age = absl::ZeroDuration();
    options_.retention.consumer_max_age = absl::Hours(1);
    options_.compaction.trigger_files = 0;
    table_ = Open(options_);
    ASSERT_NE(table_, nullptr);
  }

  // Commits `n` snapshots of one row each; returns the last id.
  int64_t CommitRows(int n) {
    int64_t last = -1;
    for (int i = 0; i < n; ++i) {
      MutationBatch b;
      b.Upsert(schema_, Row{Value(int64_t{i}), Value(std::string("x"))});
      auto r = table_->Commit(b);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) last = r->snapshot_id;
    }
    return last;
  }

  int64_t Earliest() {
    auto history = table_->History();
    EXPECT_TRUE(history.ok()) << history.status();
    return history.ok() && !history->empty() ? history->front()->id : -1;
  }

  // Writes consumer `name`'s file directly, stamped `time_ms`.
  void WriteConsumerFile(const std::string& name, int64_t position, int64_t time_ms) {
    fs::create_directories(root_ / "t" / "consumers");
    std::ofstream(root_ / "t" / "consumers" / name, std::ios::binary)
        << EncodeConsumerPosition({name, position, time_ms});
  }

  TableOptions options_;
  std::unique_ptr<Table> table_;
};

TEST(ConsumerPositionCodecTest, RoundTripsAndRejectsDamage) {
  const std::string bytes = EncodeConsumerPosition({"flink-job.1", 42, 1700000000000});
  EXPECT_EQ(bytes.rfind("{\"consumer\":\"flink-job.1\",\"position\":42,\"time_ms\":1700000000000}\n", 0), 0u);
  auto c = DecodeConsumerPosition(bytes, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "flink-job.1");
  EXPECT_EQ(c->position, 42);
  EXPECT_EQ(c->time_ms, 1700000000000);

  std::string flipped = bytes;
  flipped[30] ^= 1;
  EXPECT_TRUE(absl::IsDataLoss(DecodeConsumerPosition(flipped, "c").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeConsumerPosition(bytes.substr(0, 20), "c").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeConsumerPosition(std::string(5000, 'x'), "c").status()));
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeConsumerPosition(EncodeConsumerPosition({"../x", 1, 1}), "c").status()));
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeConsumerPosition(EncodeConsumerPosition({"a", -1, 1}), "c").status()));
}

TEST(ConsumerPositionCodecTest, OnlyConsumersWrittenWithinTheMaxAgeHold) {
  const absl::Time now = absl::FromUnixMillis(10'000'000);
  const int64_t now_ms = absl::ToUnixMillis(now);
  EXPECT_EQ(OldestHeldSnapshot({}, absl::Hours(1), now), std::nullopt);
  std::vector<ConsumerPosition> consumers = {
      {"fresh", 7, now_ms - 1000}, {"older", 5, now_ms - 3'000'000}, {"dead", 2, now_ms - 4'000'000}};
  EXPECT_EQ(OldestHeldSnapshot(consumers, absl::Hours(1), now), 5);
  EXPECT_EQ(OldestHeldSnapshot(consumers, absl::Minutes(10), now), 7);
  EXPECT_EQ(OldestHeldSnapshot(consumers, absl::Hours(2), now), 2);
}

TEST_F(ConsumerPositionsTest, SetGetListDrop) {
  ConsumerPositions& consumers = table_->consumers();
  auto none = consumers.List();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(consumers.Set("b", 3).ok());
  ASSERT_TRUE(consumers.Set("a", 5).ok());
  ASSERT_TRUE(consumers.Set("a", 4).ok());  // backwards is fine: a resume from older
  auto a = consumers.Get("a");
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status();
  EXPECT_EQ((*a)->position, 4);
  EXPECT_NEAR(static_cast<double>((*a)->time_ms), absl::ToUnixMillis(absl::Now()), 60'000);
  auto all = consumers.List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[1].name, "b");
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ / "t" / "consumers"), fs::directory_iterator()), 2);

  EXPECT_TRUE(consumers.Drop("b").ok());
  EXPECT_TRUE(absl::IsNotFound(consumers.Drop("b")));
  auto b = consumers.Get("b");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());

  EXPECT_TRUE(absl::IsInvalidArgument(consumers.Set("../x", 1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(consumers.Set(".hidden", 1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(consumers.Set("a", -1).status()));
}

TEST_F(ConsumerPositionsTest, ADamagedFileIsLoudAndCanBeDropped) {
  CommitRows(2);
  ASSERT_TRUE(table_->consumers().Set("a", 1).ok());
  std::ofstream(root_ / "t" / "consumers" / "a", std::ios::binary | std::ios::trunc) << "junk";
  EXPECT_TRUE(absl::IsDataLoss(table_->consumers().List().status()));
  EXPECT_TRUE(absl::IsDataLoss(table_->Expire(1).status()));
  EXPECT_TRUE(table_->consumers().Drop("a").ok());
  EXPECT_TRUE(table_->Expire(1).ok());
}

TEST_F(ConsumerPositionsTest, ExpiryKeepsEverySnapshotFromALiveConsumersPosition) {
  CommitRows(5);  // snapshots 1..5 after the CREATE snapshot 0
  ASSERT_TRUE(table_->consumers().Set("reader", 2).ok());
  const int64_t latest = CommitRows(5);  // up to 10
  ASSERT_TRUE(table_->RunMaintenance().ok());
  EXPECT_EQ(Earliest(), 2);
  // An explicit expiry respects the hold too.
  ASSERT_TRUE(table_->Expire(1).ok());
  EXPECT_EQ(Earliest(), 2);
  // The consumer can still read every change after its position.
  auto changes = table_->NewChanges(2, latest);
  ASSERT_TRUE(changes.ok()) << changes.status();

  // The reader moves on: expiry follows it.
  ASSERT_TRUE(table_->consumers().Set("reader", 8).ok());
  ASSERT_TRUE(table_->RunMaintenance().ok());
  EXPECT_EQ(Earliest(), 8);
  // Dropped, it holds nothing.
  ASSERT_TRUE(table_->consumers().Drop("reader").ok());
  ASSERT_TRUE(table_->RunMaintenance().ok());
  EXPECT_EQ(Earliest(), latest);
}

TEST_F(ConsumerPositionsTest, AStaleConsumerHoldsNothing) {
  CommitRows(4);
  const int64_t two_hours_ago = absl::ToUnixMillis(absl::Now() - absl::Hours(2));
  WriteConsumerFile("gone", 1, two_hours_ago);
  ASSERT_TRUE(table_->consumers().Set("live", 3).ok());
  const int64_t latest = CommitRows(2);
  auto report = MaintainTable(*table_, options_, [] { return false; });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->earliest_snapshot, 3);
  ASSERT_EQ(report->consumers.size(), 2u);
  EXPECT_EQ(report->consumers[0].name, "gone");
  EXPECT_EQ(report->consumers[1].position, 3);
  ASSERT_TRUE(table_->consumers().Drop("live").ok());
  ASSERT_TRUE(table_->RunMaintenance().ok());
  EXPECT_EQ(Earliest(), latest);  // "gone" still exists, but is past its max age
}

}  // namespace
}  // namespace deltasidecar::table
