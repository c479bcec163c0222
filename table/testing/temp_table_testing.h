// A gtest fixture for tests of one table: table "t", created in a new
// temporary root that is removed after the test.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/table.h"

namespace deltasidecar::table::temp_table_testing {

class TempTableTest : public ::testing::Test {
 protected:
  // Creates table "t" (columns, primary key, bucket count as in
  // TableSchema::Parse) under a new root named after `prefix`, and sets
  // schema_. Call through ASSERT_NO_FATAL_FAILURE.
  void CreateTable(std::string_view prefix, std::string_view columns, std::string_view primary_key,
                   int buckets) {
    root_ = std::filesystem::path(::testing::TempDir()) / (std::string(prefix) + "_" + RandomId());
    auto schema = TableSchema::Parse(columns, primary_key, buckets);
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *schema;
    ASSERT_TRUE(Table::Create(root_, "t", schema_).ok());
  }

  // Opens table "t"; nullptr, and a test failure, on error.
  std::unique_ptr<Table> Open(const TableOptions& options = {}) {
    auto t = Table::Open(root_, "t", options);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }

  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  std::filesystem::path root_;
  TableSchema schema_;
};

}  // namespace deltasidecar::table::temp_table_testing
