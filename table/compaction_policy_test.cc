#include "table/compaction_policy.h"

#include "gtest/gtest.h"

namespace deltasidecar::table {
namespace {

std::vector<DataFileMeta> Files(std::vector<uint64_t> sizes) {
  std::vector<DataFileMeta> out;
  for (uint64_t s : sizes) {
    DataFileMeta f;
    f.size_bytes = s;
    out.push_back(f);
  }
  return out;
}

std::optional<std::pair<size_t, size_t>> Pick(std::vector<uint64_t> sizes, CompactionOptions o = {}) {
  auto p = PickCompaction(Files(sizes), o);
  if (!p) return std::nullopt;
  return std::make_pair(p->first, p->count);
}

TEST(CompactionPolicyTest, BelowTriggerDoesNothing) {
  EXPECT_EQ(Pick({10, 10, 10, 10}), std::nullopt);
  EXPECT_EQ(Pick({}), std::nullopt);
  EXPECT_EQ(Pick({100}), std::nullopt);
}

TEST(CompactionPolicyTest, DisabledByZeroTrigger) {
  CompactionOptions o;
  o.trigger_files = 0;
  EXPECT_EQ(Pick({1, 1, 1, 1, 1, 1, 1}, o), std::nullopt);
}

TEST(CompactionPolicyTest, SizeAmplificationMergesEverything) {
  // Newer files total 4 >= 2 x oldest (1).
  EXPECT_EQ(Pick({1, 1, 1, 1, 1}), std::make_pair(size_t{0}, size_t{5}));
}

TEST(CompactionPolicyTest, SimilarRecentFilesMergeWithoutTheBigOldOne) {
  // 1000 is far larger than the run of recent small files: leave it alone.
  EXPECT_EQ(Pick({1000, 10, 10, 10, 10}), std::make_pair(size_t{1}, size_t{4}));
}

TEST(CompactionPolicyTest, RunStopsAtAFileTooLargeForIt) {
  // The run 5+5 = 10 may take a file up to 20, not the 100 before it.
  EXPECT_EQ(Pick({1000, 100, 20, 5, 5}), std::make_pair(size_t{2}, size_t{3}));
}

TEST(CompactionPolicyTest, SteepSizesFallBackToMergingTheNewest) {
  // Each file is more than twice the sum of everything newer, and newer files
  // total far less than the oldest: merge the newest two to get below the trigger.
  EXPECT_EQ(Pick({100000, 1000, 100, 10, 1}), std::make_pair(size_t{3}, size_t{2}));
}

TEST(CompactionPolicyTest, AlwaysContiguousAndAtLeastTwo) {
  for (int n = 5; n < 30; ++n) {
    std::vector<uint64_t> sizes;
    for (int i = 0; i < n; ++i) sizes.push_back(static_cast<uint64_t>((i * 7919) % 97 + 1) * (i % 3 == 0 ? 1000 : 1));
    auto p = PickCompaction(Files(sizes), CompactionOptions());
    ASSERT_TRUE(p.has_value()) << n;
    EXPECT_GE(p->count, 2u);
    EXPECT_LE(p->first + p->count, sizes.size());
  }
}

}  // namespace
}  // namespace deltasidecar::table
