// Manifests on a real table (docs/table-format.md §5.4): what a commit
// writes, expiry and the orphan sweep, damage.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "rocksdb/file_system.h"
#include "table/base/file_util.h"
#include "table/manifest.h"
#include "table/row.h"
#include "table/table.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

// Another process's expiry, as this one reads a snapshot: when the reader
// asks for `manifest`, the snapshot file `snapshot` is deleted and the
// manifest is gone (expiry deletes the snapshot first, then its manifests).
class ExpiresWhileReadFs : public rocksdb::FileSystemWrapper {
 public:
  ExpiresWhileReadFs(std::string manifest, std::string snapshot)
      : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()),
        manifest_(std::move(manifest)),
        snapshot_(std::move(snapshot)) {}
  const char* Name() const override { return "ExpiresWhileReadFs"; }
  rocksdb::IOStatus GetFileSize(const std::string& f, const rocksdb::IOOptions& o, uint64_t* size,
                                rocksdb::IODebugContext* dbg) override {
    if (f == manifest_) {
      fs::remove(snapshot_);
      return rocksdb::IOStatus::PathNotFound(f);
    }
    return target()->GetFileSize(f, o, size, dbg);
  }

 private:
  const std::string manifest_;
  const std::string snapshot_;
};

class TableManifestTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("table_manifest_test", "id BIGINT, name STRING", "id", 64));
    table_ = Open();
    ASSERT_NE(table_, nullptr);
  }

  int64_t Commit(int64_t first, int64_t count) {
    MutationBatch b;
    for (int64_t id = first; id < first + count; ++id) {
      b.Upsert(schema_, Row{Value(id), Value("n" + std::to_string(id))});
    }
    auto r = table_->Commit(b);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->snapshot_id : -1;
  }

  fs::path Dir() const { return root_ / "t"; }

  std::vector<ManifestRef> ManifestsOf(int64_t id) {
    auto s = table_->SnapshotById(id);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? (*s)->manifests : std::vector<ManifestRef>();
  }

  // Bytes snapshot `id` wrote: its file and the manifests its parent lacks.
  uintmax_t MetadataBytes(int64_t id) {
    std::set<std::string> parent;
    for (const auto& m : ManifestsOf(id - 1)) parent.insert(m.name);
    uintmax_t bytes = fs::file_size(Dir() / "snapshots" / SnapshotFileName(id));
    for (const auto& m : ManifestsOf(id)) {
      if (!parent.count(m.name)) bytes += fs::file_size(Dir() / "manifests" / m.name);
    }
    return bytes;
  }

  std::set<std::string> ManifestFiles() {
    std::set<std::string> out;
    if (!fs::exists(Dir() / "manifests")) return out;
    for (auto& e : fs::directory_iterator(Dir() / "manifests")) out.insert(e.path().filename());
    return out;
  }

  // Every row, via a scan of the latest snapshot.
  std::map<int64_t, std::string> Scan() {
    auto snap = table_->LatestSnapshot();
    EXPECT_TRUE(snap.ok()) << snap.status();
    std::map<int64_t, std::string> out;
    auto it = table_->NewScan(**snap);
    EXPECT_TRUE(it.ok());
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok());
      out[std::get<int64_t>((*row)[0])] = std::get<std::string>((*row)[1]);
    }
    return out;
  }

  std::unique_ptr<Table> table_;
};

// 64 buckets filled and compacted to one file each, then one-row commits:
// each one writes a snapshot and a manifest of one file, whatever the number
// of live files; every 32nd writes the base manifest of all of them.
TEST_F(TableManifestTest, WhatACommitWritesDoesNotGrowWithTheTable) {
  for (int round = 0; round < 4; ++round) Commit(round * 10000, 5000);
  ASSERT_TRUE(table_->Compact(/*full=*/true).ok());
  std::vector<uintmax_t> bytes;
  std::vector<size_t> lists;
  for (int64_t i = 0; i < 70; ++i) {
    const int64_t id = Commit(100000 + i * 1000, 1);
    bytes.push_back(MetadataBytes(id));
    lists.push_back(ManifestsOf(id).size());
  }
  uintmax_t small_max = 0, base_min = UINTMAX_MAX;
  int bases = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_LE(lists[i], kMaxManifests);
    if (lists[i] == 1) {
      ++bases;
      base_min = std::min(base_min, bytes[i]);
    } else {
      small_max = std::max(small_max, bytes[i]);
    }
  }
  EXPECT_GE(bases, 2);  // every 32 commits
  // One file's entry, the snapshot and up to 32 manifest names: a few KB,
  // against a base manifest of 64+ file entries.
  EXPECT_LT(small_max, 6000u);
  EXPECT_GT(base_min, 64u * 200u);
  EXPECT_EQ(Scan().size(), 4u * 5000u + 70u);
}

TEST_F(TableManifestTest, ExpiryAndTheSweepKeepExactlyTheNamedManifests) {
  for (int64_t i = 0; i < 40; ++i) Commit(i * 100, 3);
  auto expired = table_->Expire(2, absl::InfiniteDuration());
  ASSERT_TRUE(expired.ok()) << expired.status();
  std::set<std::string> named;
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  for (int64_t id : {(*latest)->id - 1, (*latest)->id}) {
    for (const auto& m : ManifestsOf(id)) named.insert(m.name);
  }
  EXPECT_EQ(ManifestFiles(), named);

  // A manifest of a commit that never published: swept once old enough.
  const fs::path stray = Dir() / "manifests" / NewManifestFileName();
  std::ofstream(stray) << "x";
  auto young = table_->SweepOrphans(absl::Hours(1));
  ASSERT_TRUE(young.ok()) << young.status();
  EXPECT_EQ(young->manifests_removed, 0);
  fs::last_write_time(stray, fs::file_time_type::clock::now() - std::chrono::hours(2));
  for (const auto& n : named) {
    fs::last_write_time(Dir() / "manifests" / n, fs::file_time_type::clock::now() - std::chrono::hours(2));
  }
  auto old = table_->SweepOrphans(absl::Hours(1));
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->manifests_removed, 1);
  EXPECT_EQ(ManifestFiles(), named);
  EXPECT_EQ(Scan().size(), 120u);
}

TEST_F(TableManifestTest, ADamagedOrMissingManifestIsDataLoss) {
  Commit(0, 10);
  const int64_t id = Commit(100, 10);
  const std::vector<ManifestRef> refs = ManifestsOf(id);
  ASSERT_EQ(refs.size(), 2u);
  const fs::path path = Dir() / "manifests" / refs[1].name;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x20;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto reopened = Table::Open(root_, "t");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto s = (*reopened)->SnapshotById(id);
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
  EXPECT_NE(s.status().message().find(refs[1].name), std::string::npos) << s.status();
  // Its parent does not name it and still reads.
  EXPECT_TRUE((*reopened)->SnapshotById(id - 1).ok());
  fs::remove(path);
  auto again = Table::Open(root_, "t");
  ASSERT_TRUE(again.ok());
  s = (*again)->SnapshotById(id);
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("is missing"), std::string::npos) << s.status();
}

// A snapshot expired by another process while this one reads it is not
// found (History skips it), not DATA_LOSS.
TEST_F(TableManifestTest, ASnapshotExpiredWhileItIsReadIsNotFound) {
  const int64_t id = Commit(0, 100);
  Commit(100, 100);
  const std::vector<ManifestRef> refs = ManifestsOf(id);
  ASSERT_FALSE(refs.empty());
  const fs::path snapshot = Dir() / "snapshots" / SnapshotFileName(id);
  ASSERT_TRUE(fs::exists(snapshot)) << snapshot;
  TableOptions options;
  options.fs = std::make_shared<ExpiresWhileReadFs>((Dir() / "manifests" / refs[0].name).string(),
                                                    snapshot.string());
  auto reader = Table::Open(root_, "t", options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto s = (*reader)->SnapshotById(id);
  EXPECT_TRUE(absl::IsNotFound(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("expired while it was read"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace deltasidecar::table
