// Multi-bucket data files (data_file.h, docs/table-format.md §4.2): the file
// itself, read one bucket's section at a time, and its life in a table: a
// small commit over many buckets writes one file, compaction takes it apart
// bucket by bucket, and expiry removes it only when no bucket holds it.
#include <filesystem>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/data_file.h"
#include "table/manifest.h"
#include "table/row.h"
#include "table/table.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

TEST(GroupBucketsIntoFilesTest, ManySmallBucketsShareFilesAndLargeOnesHaveTheirOwn) {
  const std::vector<int> four = {1, 4, 7, 9};
  // 4 × 10k entries: a file each.
  EXPECT_EQ(GroupBucketsIntoFiles(four, 4 * 10000, 2),
            (std::vector<std::vector<int>>{{1}, {4}, {7}, {9}}));
  // 4 × 100 entries: one file of all four.
  EXPECT_EQ(GroupBucketsIntoFiles(four, 400, 2), (std::vector<std::vector<int>>{{1, 4, 7, 9}}));
  // One bucket: its own file, however few entries.
  EXPECT_EQ(GroupBucketsIntoFiles({3}, 5, 2), (std::vector<std::vector<int>>{{3}}));
  EXPECT_TRUE(GroupBucketsIntoFiles({}, 0, 2).empty());
  // Enough entries to keep two threads busy: two runs of buckets.
  std::vector<int> many(4096);
  for (int b = 0; b < 4096; ++b) many[b] = b;
  auto groups = GroupBucketsIntoFiles(many, 4096 * 200, 2);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].front(), 0);
  EXPECT_EQ(groups[0].back() + 1, groups[1].front());
  EXPECT_EQ(groups[1].back(), 4095);
  EXPECT_EQ(GroupBucketsIntoFiles(many, 20000, 2).size(), 1u);
}

class MultiBucketFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("multi_bucket_file_test_" + RandomId());
    fs::create_directories(dir_);
    files_ = std::make_unique<DataFiles>(Storage::Make(nullptr), dir_.string(), DataFileOptions());
  }
  void TearDown() override {
    files_.reset();
    fs::remove_all(dir_);
  }

  static std::string Upsert(std::string_view v) { return Cat(std::string(1, static_cast<char>(RowOp::kUpsert)), v); }

  // Everything a section's scan returns.
  std::vector<std::pair<std::string, std::string>> ScanOf(const DataFileMeta& m) {
    auto it = files_->NewScanIterator(m);
    EXPECT_TRUE(it.ok()) << it.status();
    std::vector<std::pair<std::string, std::string>> out;
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      out.emplace_back((*it)->key().ToString(), (*it)->value().ToString());
    }
    EXPECT_TRUE((*it)->status().ok());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<DataFiles> files_;
};

// The same keys in three buckets, with values that say where they are: each
// section reads back exactly its own entries, unprefixed.
TEST_F(MultiBucketFileTest, EachBucketReadsItsOwnSection) {
  auto w = files_->NewMultiBucketWriter(0);
  ASSERT_TRUE(w.ok()) << w.status();
  const std::vector<int> buckets = {1, 5, 300};
  for (int b : buckets) {
    ASSERT_TRUE((*w)->StartBucket(b).ok());
    for (char k = 'a'; k <= 'a' + b % 7 + 2; ++k) {
      ASSERT_TRUE((*w)->Add(std::string(1, k), Upsert(Cat(b, k))).ok());
    }
  }
  ASSERT_TRUE((*w)->StartBucket(400).ok());  // started, nothing added: no section
  EXPECT_TRUE(absl::IsInvalidArgument((*w)->StartBucket(399)));
  auto metas = (*w)->Finish();
  ASSERT_TRUE(metas.ok()) << metas.status();
  ASSERT_EQ(metas->size(), 3u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  for (size_t i = 0; i < buckets.size(); ++i) {
    const DataFileMeta& m = (*metas)[i];
    const int b = buckets[i];
    EXPECT_TRUE(IsMultiBucketFileName(m.name)) << m.name;
    EXPECT_TRUE(IsDataFileName(m.name, b));
    EXPECT_EQ(m.name, (*metas)[0].name);
    EXPECT_EQ(m.bucket, b);
    EXPECT_EQ(m.size_bytes, fs::file_size(dir_ / m.name.str()));
    EXPECT_GT(m.section_bytes, 0u);
    EXPECT_LT(m.section_bytes, m.size_bytes);
    EXPECT_EQ(m.entries, static_cast<uint64_t>(b % 7 + 3));
    EXPECT_EQ(m.min_key, "a");
    EXPECT_EQ(m.max_key, std::string(1, static_cast<char>('a' + b % 7 + 2)));
    auto rows = ScanOf(m);
    ASSERT_EQ(rows.size(), m.entries);
    for (const auto& [k, v] : rows) EXPECT_EQ(v, Upsert(Cat(b, k)));
    auto got = files_->Get(m, "b");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value_or("-"), Upsert(Cat(b, "b")));
    got = files_->Get(m, "a0");  // within the key range, not in the section
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->has_value());
    // Positioning stays within the section.
    auto it = files_->NewScanIterator(m);
    ASSERT_TRUE(it.ok());
    (*it)->SeekToLast();
    ASSERT_TRUE((*it)->Valid());
    EXPECT_EQ((*it)->key().ToString(), m.max_key);
    (*it)->Next();
    EXPECT_FALSE((*it)->Valid());
    (*it)->Seek("b");
    ASSERT_TRUE((*it)->Valid());
    EXPECT_EQ((*it)->key().ToString(), "b");
    (*it)->SeekForPrev("a");
    ASSERT_TRUE((*it)->Valid());
    EXPECT_EQ((*it)->key().ToString(), "a");
    (*it)->Prev();
    EXPECT_FALSE((*it)->Valid());
  }
  // A bucket the file has no section of reads as empty.
  DataFileMeta none = (*metas)[0];
  none.bucket = 2;
  EXPECT_TRUE(ScanOf(none).empty());
  EXPECT_TRUE(files_->Verify((*metas)[1]).ok());
}

TEST_F(MultiBucketFileTest, AWriterOfOneBucketRefusesSections) {
  auto w = files_->NewWriter(3, 0);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition((*w)->StartBucket(4)));
  ASSERT_TRUE((*w)->Add("k", Upsert("v")).ok());
  auto metas = (*w)->Finish();
  ASSERT_TRUE(metas.ok());
  ASSERT_EQ(metas->size(), 1u);
  EXPECT_FALSE(IsMultiBucketFileName((*metas)[0].name));
  EXPECT_EQ((*metas)[0].section_bytes, 0u);
  EXPECT_EQ((*metas)[0].BucketBytes(), (*metas)[0].size_bytes);
}

class MultiBucketTableTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("multi_bucket_table_test", "id BIGINT, name STRING", "id", 256));
    TableOptions options;
    options.compaction.trigger_files = 2;
    table_ = Open(options);
    ASSERT_NE(table_, nullptr);
  }

  int64_t Commit(const std::vector<int64_t>& ids, std::string_view tag) {
    MutationBatch b;
    for (int64_t id : ids) {
      b.Upsert(schema_, Row{Value(id), Value(Cat(tag, id))});
      model_[id] = Cat(tag, id);
    }
    auto r = table_->Commit(b);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->snapshot_id : -1;
  }

  std::set<std::string> DataFileNames() {
    std::set<std::string> out;
    for (auto& e : fs::directory_iterator(root_ / "t" / "data")) out.insert(e.path().filename());
    return out;
  }

  // Every file name live in the latest snapshot, with the buckets holding it.
  std::map<std::string, std::set<int>> Live() {
    auto snap = table_->LatestSnapshot();
    EXPECT_TRUE(snap.ok());
    std::map<std::string, std::set<int>> out;
    for (const auto& files : (*snap)->buckets) {
      for (const auto& f : files) out[f.name].insert(f.bucket);
    }
    return out;
  }

  // Compacts by the policy; the COMPACT snapshot published (null, and a
  // failure, when there is none).
  std::shared_ptr<const Snapshot> CompactByPolicy() {
    auto compacted = table_->Compact(/*full=*/false);
    EXPECT_TRUE(compacted.ok()) << compacted.status();
    if (!compacted.ok() || !compacted->has_value()) {
      ADD_FAILURE() << "no compaction was published";
      return nullptr;
    }
    auto snap = table_->SnapshotById(**compacted);
    EXPECT_TRUE(snap.ok()) << snap.status();
    return snap.ok() ? *snap : nullptr;
  }

  void ExpectTableEqualsModel() {
    auto snap = table_->LatestSnapshot();
    ASSERT_TRUE(snap.ok());
    std::map<int64_t, std::string> rows;
    auto it = table_->NewScan(**snap);
    ASSERT_TRUE(it.ok()) << it.status();
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      ASSERT_TRUE(row.ok());
      rows[std::get<int64_t>((*row)[0])] = std::get<std::string>((*row)[1]);
    }
    ASSERT_TRUE((*it)->status().ok());
    EXPECT_EQ(rows, model_);
    for (int64_t id : {int64_t{0}, int64_t{17}, int64_t{999}, int64_t{5000}}) {
      auto v = table_->Get(**snap, EncodeKey(schema_, Row{Value(id), Value()}));
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_EQ(v->has_value(), model_.count(id) > 0) << id;
    }
  }

  std::unique_ptr<Table> table_;
  std::map<int64_t, std::string> model_;
};

TEST_F(MultiBucketTableTest, ASmallCommitIsOneFileThatLeavesOnlyWithItsLastBucket) {
  std::vector<int64_t> first(1000);
  for (int64_t i = 0; i < 1000; ++i) first[i] = i;
  Commit(first, "a");
  auto live = Live();
  ASSERT_EQ(live.size(), 1u) << "1,000 rows over 256 buckets are one file";
  const std::string a = live.begin()->first;
  EXPECT_TRUE(IsMultiBucketFileName(a));
  EXPECT_GT(live[a].size(), 200u);
  EXPECT_EQ(DataFileNames(), std::set<std::string>{a});
  ExpectTableEqualsModel();

  // Ten rows: a second multi-bucket file over a few buckets only.
  Commit({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "b");
  live = Live();
  ASSERT_EQ(live.size(), 2u);
  live.erase(a);
  const std::string b = live.begin()->first;
  const std::set<int> b_buckets = live.begin()->second;
  ExpectTableEqualsModel();

  // Compaction takes the buckets holding two files: all of b, part of a.
  auto snap = CompactByPolicy();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->removed, std::vector<std::string>{b}) << "a is still live elsewhere";
  live = Live();
  EXPECT_FALSE(live.count(b));
  ASSERT_TRUE(live.count(a));
  for (int bucket : b_buckets) EXPECT_FALSE(live[a].count(bucket)) << bucket;
  ExpectTableEqualsModel();

  // Expiry removes b (no retained snapshot names it) and keeps a.
  auto expired = table_->Expire(1, absl::InfiniteDuration());
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(expired->files_removed, 1);
  auto names = DataFileNames();
  EXPECT_TRUE(names.count(a));
  EXPECT_FALSE(names.count(b));
  ExpectTableEqualsModel();

  // A full compaction splits a into per-bucket files; then it goes too.
  ASSERT_TRUE(table_->Compact(/*full=*/true).ok());
  ASSERT_TRUE(table_->Expire(1, absl::InfiniteDuration()).ok());
  names = DataFileNames();
  EXPECT_FALSE(names.count(a));
  for (const auto& n : names) EXPECT_FALSE(IsMultiBucketFileName(n)) << n;
  ExpectTableEqualsModel();
  auto problems = table_->Verify();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
}

TEST_F(MultiBucketTableTest, CompactionWritesSmallBucketsIntoSharedFiles) {
  // Six commits over all 256 buckets, each bucket's total far below
  // kOwnFileMinEntries.
  for (int c = 0; c < 5; ++c) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 2000; ++i) ids.push_back(i * 7 + c);
    Commit(ids, Cat("c", c, "-"));
  }
  std::vector<int64_t> many;
  for (int64_t i = 0; i < 200000; ++i) many.push_back(100000 + i);
  Commit(many, "big");
  ExpectTableEqualsModel();
  // Every bucket had six files and is compacted; outputs of under 8,192
  // entries share multi-bucket files.
  auto snap = CompactByPolicy();
  ASSERT_NE(snap, nullptr);
  std::map<std::string, std::set<int>> live = Live();
  size_t shared = 0, own = 0;
  for (const auto& files : snap->buckets) {
    ASSERT_EQ(files.size(), 1u);
    const DataFileMeta& f = files[0];
    if (IsMultiBucketFileName(f.name)) {
      ++shared;
      EXPECT_LT(f.entries, kOwnFileMinEntries) << f.bucket;
    } else {
      ++own;
    }
  }
  EXPECT_EQ(shared + own, 256u);
  // 200k + 10k rows over 256 buckets: ~820 entries each, all small.
  EXPECT_EQ(own, 0u);
  EXPECT_LE(live.size(), 2u) << "the small outputs fill files of up to 256k entries";
  ExpectTableEqualsModel();
  // What the manifests say is what was compacted: a new handle reads the same.
  TableOptions options;
  options.compaction.trigger_files = 2;
  auto reopened = Table::Open(root_, "t", options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  table_ = std::move(*reopened);
  EXPECT_EQ(Live(), live);
  ExpectTableEqualsModel();
  // The inputs leave with the expiry; only the outputs stay.
  ASSERT_TRUE(table_->Expire(1, absl::InfiniteDuration()).ok());
  std::set<std::string> named;
  for (const auto& [name, buckets] : live) named.insert(name);
  EXPECT_EQ(DataFileNames(), named);
  // A full compaction gives every bucket a file of its own.
  ASSERT_TRUE(table_->Compact(/*full=*/true).ok());
  for (const auto& [name, buckets] : Live()) {
    EXPECT_FALSE(IsMultiBucketFileName(name)) << name;
    EXPECT_EQ(buckets.size(), 1u);
  }
  ExpectTableEqualsModel();
  auto problems = table_->Verify();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
}

// Compaction outputs share a file only when they stand before the same file
// (or last). Buckets A merge their two middle files (placed before t) and
// buckets B their two newest (placed last, after t): one shared file for
// both would stand before t in A and after it in B, and no manifest could
// list it, or t, as one entry. Two files, and a base manifest names each
// multi-bucket file once.
TEST_F(MultiBucketTableTest, SharedCompactionOutputsStandWhereOneSameFileStands) {
  TableOptions options;
  options.compaction.trigger_files = 4;
  auto t = Table::Open(root_, "t", options);
  ASSERT_TRUE(t.ok()) << t.status();
  table_ = std::move(*t);
  // Ids by bucket: two buckets A, two buckets B, `per` fresh ids in each.
  std::map<int, std::vector<int64_t>> by_bucket;
  for (int64_t id = 0; by_bucket.size() < 4 || by_bucket.rbegin()->second.size() < 2000; ++id) {
    const int b = BucketOf(EncodeKey(schema_, Row{Value(id), Value()}), 256);
    if (by_bucket.size() < 4 || by_bucket.count(b)) by_bucket[b].push_back(id);
  }
  std::vector<int> buckets;
  for (const auto& [b, ids] : by_bucket) buckets.push_back(b);
  size_t used[4] = {0, 0, 0, 0};
  auto take = [&](std::initializer_list<std::pair<int, size_t>> counts) {
    std::vector<int64_t> ids;
    for (const auto& [k, n] : counts) {
      for (size_t i = 0; i < n; ++i) ids.push_back(by_bucket[buckets[k]][used[k]++]);
    }
    return ids;
  };
  Commit(take({{0, 1000}, {1, 1000}, {2, 1000}, {3, 1000}}), "h");  // H: every bucket
  Commit(take({{0, 50}, {1, 50}}), "m1");                            // A only
  Commit(take({{0, 50}, {1, 50}}), "m2");
  Commit(take({{0, 5}, {1, 5}, {2, 300}, {3, 300}}), "t");           // A and B
  Commit(take({{2, 5}, {3, 5}}), "n1");                              // B only
  Commit(take({{2, 5}, {3, 5}}), "n2");
  auto before = table_->LatestSnapshot();
  ASSERT_TRUE(before.ok());
  const SharedString t_file = (*before)->buckets[buckets[0]].back().name;
  ASSERT_TRUE(IsMultiBucketFileName(t_file));
  auto snap = CompactByPolicy();
  ASSERT_NE(snap, nullptr);
  // A: H, output, t. B: H, t, output.
  std::set<std::string> outputs;
  for (int k = 0; k < 4; ++k) {
    const auto& files = snap->buckets[buckets[k]];
    ASSERT_EQ(files.size(), 3u) << "bucket " << buckets[k];
    const DataFileMeta& out = files[k < 2 ? 1 : 2];
    EXPECT_EQ(files[k < 2 ? 2 : 1].name, t_file);
    EXPECT_TRUE(IsMultiBucketFileName(out.name)) << out.name;
    outputs.insert(out.name);
  }
  EXPECT_EQ(outputs.size(), 2u) << "one output file before t, one after it";
  const std::string base = EncodeManifest(BaseManifest(snap->buckets));
  for (const auto& [name, in] : Live()) {
    size_t n = 0;
    for (size_t at = base.find(name); at != std::string::npos; at = base.find(name, at + 1)) ++n;
    EXPECT_EQ(n, 1u) << name << " in " << in.size() << " buckets";
  }
  ExpectTableEqualsModel();
}

TEST_F(MultiBucketTableTest, CompactionOfLargeBucketsWritesAFileEach) {
  TableOptions options;
  options.compaction.trigger_files = 2;
  auto schema = TableSchema::Parse("id BIGINT, name STRING", "id", 4);
  ASSERT_TRUE(schema.ok());
  schema_ = *schema;
  ASSERT_TRUE(Table::Create(root_, "four", schema_).ok());
  auto t = Table::Open(root_, "four", options);
  ASSERT_TRUE(t.ok()) << t.status();
  table_ = std::move(*t);
  for (int c = 0; c < 2; ++c) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 40000; ++i) ids.push_back(i);
    Commit(ids, Cat("c", c, "-"));
  }
  ASSERT_NE(CompactByPolicy(), nullptr);
  // 40k keys over 4 buckets: ~10k entries each, over kOwnFileMinEntries.
  std::map<std::string, std::set<int>> live = Live();
  EXPECT_EQ(live.size(), 4u);
  for (const auto& [name, buckets] : live) EXPECT_FALSE(IsMultiBucketFileName(name)) << name;
  ExpectTableEqualsModel();
}

// A damaged multi-bucket file is DATA_LOSS for every bucket that reads it.
TEST_F(MultiBucketTableTest, ADamagedMultiBucketFileIsDataLoss) {
  std::vector<int64_t> ids(500);
  for (int64_t i = 0; i < 500; ++i) ids[i] = i;
  Commit(ids, "a");
  auto live = Live();
  ASSERT_EQ(live.size(), 1u);
  const fs::path path = root_ / "t" / "data" / live.begin()->first;
  fs::resize_file(path, fs::file_size(path) - 1);
  auto reopened = Table::Open(root_, "t");
  ASSERT_TRUE(reopened.ok());
  auto snap = (*reopened)->LatestSnapshot();
  ASSERT_TRUE(snap.ok());
  auto it = (*reopened)->NewScan(**snap);
  EXPECT_TRUE(absl::IsDataLoss(it.status())) << it.status();
}

}  // namespace
}  // namespace deltasidecar::table
