// Test helpers shared by the staging store's tests: staged payloads,
// registration as a lone sidecar does, and the StagingStoreTest fixture (a
// store in a fresh directory, raw access to its RocksDB files).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/staging_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/testing/status_testing.h"

namespace deltasidecar::checkpoint::staging_testing {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A payload of `rows` staged entries whose keys name `tag`.
inline std::string Payload(std::string_view tag, int rows, size_t value_bytes = 16) {
  std::string p;
  for (int i = 0; i < rows; ++i) {
    AppendStagedEntry(Cat(tag, "/", i), std::string(value_bytes, static_cast<char>('a' + i % 26)),
                      &p);
  }
  return p;
}

// Registers as a sidecar alone on its table root does: the store's current
// incarnation goes on unless the registration rewinds past a committed
// checkpoint, which takes the next one. (Which incarnation is free is the
// table's to say: table/writer_claims.h.)
inline absl::StatusOr<Registration> RegisterAs(StagingStore& store, const WriterKey& w,
                                               std::optional<int64_t> restored,
                                               int64_t table_last) {
  int64_t incarnation = 0;
  if (auto current = store.Lookup(w); current.ok()) {
    incarnation = current->incarnation;
    if (NeedsNewIncarnation(restored, std::max(current->last_committed, table_last))) {
      ++incarnation;
    }
  }
  return store.Register(w, restored, table_last, incarnation);
}

class StagingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("staging_store_test_" + RandomId());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<StagingStore> OpenStore(StagingOptions options = {}) {
    options.path = dir_.string();
    auto store = StagingStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  void Reopen(StagingOptions options = {}) {
    store_.reset();
    store_ = OpenStore(options);
  }

  std::vector<std::string> ReadAll(const WriterKey& w, int64_t cp) {
    std::vector<std::string> out;
    absl::Status s = store_->ReadSealed(w, cp, [&](std::string_view p) {
      out.emplace_back(p);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Runs `fn` on a raw RocksDB handle to one of the store's two databases
  // (store closed): the state (registry, seals, marks) in its directory, or
  // the staged batches in its "batches" subdirectory, with every column
  // family open in creation order (the default one first).
  using RawFn = std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>;
  void WithRawDb(const RawFn& fn, bool batches = true) {
    store_.reset();
    rocksdb::Options o;
    std::vector<std::string> names;
    const std::string path = batches ? (dir_ / "batches").string() : dir_.string();
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, path, families, &handles, &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::unique_ptr<rocksdb::DB> db(raw);
    fn(db.get(), handles);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
  }

  // Keys under `prefix` in any column family of the store (closes the store).
  std::vector<std::string> RawKeys(std::string_view prefix) {
    std::vector<std::string> keys;
    for (bool batches : {false, true}) {
    WithRawDb([&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
      for (auto* h : handles) {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
        for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
          if (!it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
          keys.push_back(it->key().ToString());
        }
        EXPECT_TRUE(it->status().ok());
      }
    }, batches);
    }
    return keys;
  }

  fs::path dir_;
  std::unique_ptr<StagingStore> store_;
};

}  // namespace deltasidecar::checkpoint::staging_testing
