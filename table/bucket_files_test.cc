#include "table/bucket_files.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "table/testing/data_file_testing.h"

namespace deltasidecar::table {
namespace {

// With a key long enough to live outside std::string's own bytes, so that
// copies and moves of entries are seen by the sanitizers.
DataFileMeta File(int bucket, int n) {
  DataFileMeta f = data_file_testing::File(bucket, n);
  f.min_key = std::string(40, static_cast<char>('a' + n % 26));
  return f;
}

std::vector<std::string> Names(BucketFiles::Files files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.name.str());
  return out;
}

std::vector<std::string> NamesOf(int bucket, std::initializer_list<int> ns) {
  std::vector<std::string> out;
  for (int n : ns) out.push_back(File(bucket, n).name.str());
  return out;
}

// A copy that appends to a list ending at its buffer's end writes in place:
// the original keeps its shorter list, and AppendedSince names the new files.
TEST(BucketFilesTest, AppendingToACopyExtendsTheSharedBufferInPlace) {
  BucketFiles parent(2);
  parent.Append(0, File(0, 1));
  parent.Append(0, File(0, 2));
  BucketFiles child = parent;
  child.Append(0, File(0, 3));
  EXPECT_EQ(child[0].data(), parent[0].data());  // no copy
  EXPECT_EQ(Names(parent[0]), NamesOf(0, {1, 2}));
  EXPECT_EQ(Names(child[0]), NamesOf(0, {1, 2, 3}));
  EXPECT_FALSE(child.SharesBucket(parent, 0));
  EXPECT_TRUE(child.SharesBucket(parent, 1));
  auto appended = child.AppendedSince(parent, 0);
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(Names(*appended), NamesOf(0, {3}));
  ASSERT_TRUE(child.AppendedSince(parent, 1).has_value());
  EXPECT_TRUE(child.AppendedSince(parent, 1)->empty());
  // The other way round nothing was appended: the parent's list is shorter.
  EXPECT_FALSE(parent.AppendedSince(child, 0).has_value());
}

// Two copies of one list append different files: the first writes the
// shared buffer's next slot, the second copies; each sees its own file.
TEST(BucketFilesTest, ASecondCopyAppendingCopiesTheList) {
  BucketFiles parent(1);
  parent.Append(0, File(0, 1));
  BucketFiles a = parent, b = parent;
  a.Append(0, File(0, 2));
  b.Append(0, File(0, 3));
  EXPECT_EQ(a[0].data(), parent[0].data());
  EXPECT_NE(b[0].data(), parent[0].data());
  EXPECT_EQ(Names(parent[0]), NamesOf(0, {1}));
  EXPECT_EQ(Names(a[0]), NamesOf(0, {1, 2}));
  EXPECT_EQ(Names(b[0]), NamesOf(0, {1, 3}));
  ASSERT_TRUE(a.AppendedSince(parent, 0).has_value());
  EXPECT_EQ(Names(*a.AppendedSince(parent, 0)), NamesOf(0, {2}));
  // b's list is a copy now: AppendedSince says nothing (DiffBuckets compares).
  EXPECT_FALSE(b.AppendedSince(parent, 0).has_value());
  EXPECT_FALSE(b.AppendedSince(a, 0).has_value());
}

// Appends past a buffer's room move the list to a larger buffer; every
// earlier copy keeps reading its own prefix, whichever buffer it is in.
TEST(BucketFilesTest, EveryCopyKeepsItsListAsTheBufferGrows) {
  BucketFiles files(1);
  std::vector<BucketFiles> copies;
  for (int n = 1; n <= 100; ++n) {
    copies.push_back(files);
    files.Append(0, File(0, n));
  }
  for (int n = 0; n < 100; ++n) {
    ASSERT_EQ(copies[n][0].size(), static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) ASSERT_EQ(copies[n][0][k].name, File(0, k + 1).name);
  }
  EXPECT_EQ(files[0].back().min_key, File(0, 100).min_key);
}

// Edit changes a copy of the list: other copies keep theirs, and an append
// after an edit does not reach them.
TEST(BucketFilesTest, EditLeavesOtherCopiesAlone) {
  BucketFiles parent(1);
  for (int n = 1; n <= 3; ++n) parent.Append(0, File(0, n));
  BucketFiles child = parent;
  child.Edit(0, [](std::vector<DataFileMeta>& files) { files.erase(files.begin() + 1); });
  child.Append(0, File(0, 4));
  EXPECT_EQ(Names(parent[0]), NamesOf(0, {1, 2, 3}));
  EXPECT_EQ(Names(child[0]), NamesOf(0, {1, 3, 4}));
  EXPECT_FALSE(child.AppendedSince(parent, 0).has_value());
  child.Edit(0, [](std::vector<DataFileMeta>& files) { files.clear(); });
  EXPECT_TRUE(child[0].empty());
  EXPECT_TRUE(child.AppendedSince(BucketFiles(1), 0).has_value());
}

// Copies of one snapshot appended to on several threads at once: exactly one
// extends the shared buffer, each sees the shared prefix and its own file.
TEST(BucketFilesTest, CopiesAppendConcurrently) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 50; ++round) {
    BucketFiles parent(4);
    for (int b = 0; b < 4; ++b) parent.Append(b, File(b, 1));
    std::vector<BucketFiles> copies(kThreads, parent);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int b = 0; b < 4; ++b) copies[t].Append(b, File(b, 100 + t));
      });
    }
    for (auto& t : threads) t.join();
    for (int b = 0; b < 4; ++b) {
      int in_place = 0;
      for (int t = 0; t < kThreads; ++t) {
        ASSERT_EQ(Names(copies[t][b]), NamesOf(b, {1, 100 + t}));
        in_place += copies[t][b].data() == parent[b].data();
      }
      EXPECT_EQ(in_place, 1);
      EXPECT_EQ(Names(parent[b]), NamesOf(b, {1}));
    }
  }
}

}  // namespace
}  // namespace deltasidecar::table
