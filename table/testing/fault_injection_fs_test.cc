#include "table/testing/fault_injection_fs.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rocksdb/options.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/sst_file_writer.h"

// Prints the status on failure.
#define ASSERT_OK(expr) ASSERT_EQ((expr).ToString(), "OK")
#define EXPECT_OK(expr) EXPECT_EQ((expr).ToString(), "OK")

namespace deltasidecar::table::testing {
namespace {

using rocksdb::FileOptions;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

class FaultInjectionFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "fault_injection_fs_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs_ = std::make_shared<FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Opens `name` through the wrapper and appends `data`.
  std::unique_ptr<rocksdb::FSWritableFile> Create(const std::string& name,
                                                  const std::string& data) {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    EXPECT_OK(fs_->NewWritableFile(Path(name), FileOptions(), &file, nullptr));
    if (file) {
      EXPECT_OK(file->Append(data, IOOptions(), nullptr));
    }
    return file;
  }
  // Creates `name` holding `data`, synced and closed.
  void WriteSynced(const std::string& name, const std::string& data) {
    auto file = Create(name, data);
    ASSERT_OK(file->Sync(IOOptions(), nullptr));
    ASSERT_OK(file->Close(IOOptions(), nullptr));
  }
  void SyncDir(const std::string& dir) {
    std::unique_ptr<rocksdb::FSDirectory> d;
    ASSERT_OK(fs_->NewDirectory(dir, IOOptions(), &d, nullptr));
    ASSERT_OK(d->Fsync(IOOptions(), nullptr));
  }
  // The file's contents on the real disk, or nullopt if it does not exist.
  std::optional<std::string> OnDisk(const std::string& name) const {
    std::string contents;
    if (!std::filesystem::exists(Path(name))) return std::nullopt;
    EXPECT_OK(
        rocksdb::ReadFileToString(rocksdb::FileSystem::Default().get(), Path(name), &contents));
    return contents;
  }

  std::string dir_;
  std::shared_ptr<FaultInjectionFileSystem> fs_;
};

TEST_F(FaultInjectionFileSystemTest, UnsyncedAppendedBytesDisappear) {
  auto file = Create("a", "abc");
  ASSERT_OK(file->Sync(IOOptions(), nullptr));
  SyncDir(dir_);
  ASSERT_OK(file->Append("def", IOOptions(), nullptr));
  ASSERT_OK(file->Close(IOOptions(), nullptr));
  EXPECT_EQ(OnDisk("a"), "abcdef");

  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("a"), "abc");
}

TEST_F(FaultInjectionFileSystemTest, SyncedFileWithoutDirSyncVanishes) {
  WriteSynced("a", "abc");
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("a"), std::nullopt);
}

TEST_F(FaultInjectionFileSystemTest, FileAndDirSyncedSurvivesIntact) {
  WriteSynced("a", "abc");
  std::unique_ptr<rocksdb::FSDirectory> d;
  ASSERT_OK(fs_->NewDirectory(dir_, IOOptions(), &d, nullptr));
  ASSERT_OK(d->FsyncWithDirOptions(IOOptions(), nullptr, rocksdb::DirFsyncOptions()));
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("a"), "abc");
}

TEST_F(FaultInjectionFileSystemTest, NeverSyncedDirectoryVanishesWithItsContents) {
  ASSERT_OK(fs_->CreateDir(Path("sub"), IOOptions(), nullptr));
  WriteSynced("sub/a", "abc");
  SyncDir(Path("sub"));  // the file is durable inside sub, but sub is not in dir_
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_FALSE(std::filesystem::exists(Path("sub")));
}

TEST_F(FaultInjectionFileSystemTest, LinkNeedsDirSyncAndSharesDurability) {
  auto file = Create("a", "abc");
  ASSERT_OK(file->Sync(IOOptions(), nullptr));
  SyncDir(dir_);
  ASSERT_OK(fs_->LinkFile(Path("a"), Path("b"), IOOptions(), nullptr));
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("a"), "abc");
  EXPECT_EQ(OnDisk("b"), std::nullopt);

  file = Create("c", "abc");
  ASSERT_OK(file->Sync(IOOptions(), nullptr));
  ASSERT_OK(fs_->LinkFile(Path("c"), Path("d"), IOOptions(), nullptr));
  SyncDir(dir_);
  // Written through the first name, unsynced: lost under both names.
  ASSERT_OK(file->Append("def", IOOptions(), nullptr));
  ASSERT_OK(file->Close(IOOptions(), nullptr));
  EXPECT_EQ(OnDisk("d"), "abcdef");
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("c"), "abc");
  EXPECT_EQ(OnDisk("d"), "abc");
}

TEST_F(FaultInjectionFileSystemTest, RenameWithoutDirSyncReverts) {
  WriteSynced("old", "abc");
  WriteSynced("CURRENT", "v1");
  SyncDir(dir_);
  ASSERT_OK(fs_->RenameFile(Path("old"), Path("new"), IOOptions(), nullptr));
  WriteSynced("CURRENT.tmp", "v2");
  ASSERT_OK(fs_->RenameFile(Path("CURRENT.tmp"), Path("CURRENT"), IOOptions(), nullptr));
  EXPECT_EQ(OnDisk("CURRENT"), "v2");

  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("old"), "abc");
  EXPECT_EQ(OnDisk("new"), std::nullopt);
  EXPECT_EQ(OnDisk("CURRENT"), "v1");  // the replaced file comes back
  EXPECT_EQ(OnDisk("CURRENT.tmp"), std::nullopt);

  WriteSynced("CURRENT.tmp", "v2");
  ASSERT_OK(fs_->RenameFile(Path("CURRENT.tmp"), Path("CURRENT"), IOOptions(), nullptr));
  SyncDir(dir_);
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("CURRENT"), "v2");
  EXPECT_EQ(OnDisk("CURRENT.tmp"), std::nullopt);
}

TEST_F(FaultInjectionFileSystemTest, FailAfterStopsEveryLaterMutation) {
  auto file = Create("a", "abc");  // 2 ops: NewWritableFile, Append
  EXPECT_EQ(fs_->mutating_ops(), 2);
  fs_->FailAfter(1);
  EXPECT_OK(file->Append("def", IOOptions(), nullptr));
  EXPECT_TRUE(file->Append("ghi", IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(file->Sync(IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(file->Close(IOOptions(), nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSWritableFile> other;
  EXPECT_TRUE(fs_->NewWritableFile(Path("b"), FileOptions(), &other, nullptr).IsIOError());
  EXPECT_TRUE(fs_->CreateDir(Path("sub"), IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(fs_->RenameFile(Path("a"), Path("c"), IOOptions(), nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSDirectory> d;
  ASSERT_OK(fs_->NewDirectory(dir_, IOOptions(), &d, nullptr));
  EXPECT_TRUE(d->Fsync(IOOptions(), nullptr).IsIOError());
  EXPECT_EQ(fs_->mutating_ops(), 10);

  EXPECT_EQ(OnDisk("a"), "abcdef");
  EXPECT_EQ(OnDisk("b"), std::nullopt);
  EXPECT_EQ(OnDisk("c"), std::nullopt);
  EXPECT_FALSE(std::filesystem::exists(Path("sub")));

  // The still-open file is closed for the caller; the fault is cleared.
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_EQ(OnDisk("a"), std::nullopt);
  EXPECT_TRUE(file->Append("x", IOOptions(), nullptr).IsIOError());
  file.reset();
  EXPECT_OK(fs_->CreateDir(Path("sub"), IOOptions(), nullptr));
}

TEST_F(FaultInjectionFileSystemTest, FailAfterNegativeDisables) {
  fs_->FailAfter(0);
  EXPECT_TRUE(fs_->CreateDir(Path("sub"), IOOptions(), nullptr).IsIOError());
  fs_->FailAfter(-1);
  EXPECT_OK(fs_->CreateDir(Path("sub"), IOOptions(), nullptr));
}

TEST_F(FaultInjectionFileSystemTest, ConcurrentWritersKeepTheirSyncedBytes) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      auto file = Create("f" + std::to_string(t), "");
      for (int i = 0; i < 100; ++i) {
        EXPECT_OK(file->Append("0123456789", IOOptions(), nullptr));
        if (i % 10 == 9) {
          EXPECT_OK(file->Sync(IOOptions(), nullptr));
        }
      }
      EXPECT_OK(file->Append("unsynced", IOOptions(), nullptr));
      EXPECT_OK(file->Close(IOOptions(), nullptr));
    });
  }
  for (std::thread& thread : threads) thread.join();
  SyncDir(dir_);
  ASSERT_OK(fs_->DropUnsyncedData());
  for (int t = 0; t < 4; ++t) {
    std::string expected;
    for (int i = 0; i < 100; ++i) expected += "0123456789";
    EXPECT_EQ(OnDisk("f" + std::to_string(t)), expected);
  }
}

class FaultInjectionSstTest : public FaultInjectionFileSystemTest {
 protected:
  // Writes and Finish()es (syncs and closes) an SST through the wrapper.
  void WriteSst(const std::string& path) {
    std::unique_ptr<rocksdb::Env> env = MakeEnv(fs_);
    rocksdb::Options options;
    options.env = env.get();
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
    ASSERT_OK(writer.Open(path));
    for (int i = 0; i < 1000; ++i) {
      char key[16];
      snprintf(key, sizeof(key), "key%06d", i);
      ASSERT_OK(writer.Put(key, std::string(100, 'v')));
    }
    ASSERT_OK(writer.Finish());
  }
};

TEST_F(FaultInjectionSstTest, FinishedSstWithoutDirSyncVanishes) {
  WriteSst(Path("1.sst"));
  EXPECT_TRUE(std::filesystem::exists(Path("1.sst")));
  ASSERT_OK(fs_->DropUnsyncedData());
  EXPECT_FALSE(std::filesystem::exists(Path("1.sst")));
}

TEST_F(FaultInjectionSstTest, FinishedSstWithDirSyncSurvivesAndVerifies) {
  WriteSst(Path("1.sst"));
  SyncDir(dir_);
  ASSERT_OK(fs_->DropUnsyncedData());

  rocksdb::SstFileReader reader{rocksdb::Options()};
  ASSERT_OK(reader.Open(Path("1.sst")));
  EXPECT_OK(reader.VerifyChecksum());
  EXPECT_EQ(reader.GetTableProperties()->num_entries, 1000u);
}

}  // namespace
}  // namespace deltasidecar::table::testing
