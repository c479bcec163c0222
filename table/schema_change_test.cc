// Schema evolution: parsing and applying changes, reading values written
// under one version as another, and ALTER on a table (time travel, reopen,
// compaction, changes, point lookups).
#include "table/schema_change.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/schema_projection.h"
#include "table/table.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TableSchema Schema(std::string_view columns, std::string_view key = "id") {
  auto s = TableSchema::Parse(columns, key, 4);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

absl::StatusOr<TableSchema> Apply(const TableSchema& from, std::vector<std::string> texts, int64_t id = 1) {
  auto changes = ParseSchemaChanges(texts);
  if (!changes.ok()) return changes.status();
  return ApplySchemaChanges(from, *changes, id);
}

void ExpectInvalid(const absl::StatusOr<TableSchema>& s, std::string_view text) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning: " << text;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(std::string(text)));
}

TEST(SchemaChangeTest, ParsesEachKindAndPrintsItBack) {
  for (std::string text : {"ADD COLUMN note STRING", "ADD COLUMN note STRING FIRST",
                           "ADD COLUMN m MAP<STRING,INT> AFTER name", "DROP COLUMN note",
                           "RENAME COLUMN a TO b", "ALTER COLUMN n TYPE DECIMAL(12,2)"}) {
    auto c = ParseSchemaChange(text);
    ASSERT_TRUE(c.ok()) << text << ": " << c.status();
    EXPECT_EQ(c->ToString(), text);
  }
  auto lower = ParseSchemaChange("  add column x decimal(10, 2) null after y ");
  ASSERT_TRUE(lower.ok()) << lower.status();
  EXPECT_EQ(lower->ToString(), "ADD COLUMN x DECIMAL(10,2) AFTER y");
}

TEST(SchemaChangeTest, RefusesMalformedChangesByName) {
  EXPECT_THAT(std::string(ParseSchemaChange("ADD x INT").status().message()), HasSubstr("expected ADD COLUMN"));
  EXPECT_THAT(std::string(ParseSchemaChange("ADD COLUMN x INT NOT NULL").status().message()),
              HasSubstr("must be nullable"));
  EXPECT_THAT(std::string(ParseSchemaChange("RENAME COLUMN a b").status().message()), HasSubstr("TO"));
  EXPECT_THAT(std::string(ParseSchemaChange("DROP COLUMN a b").status().message()), HasSubstr("unexpected 'b'"));
  EXPECT_THAT(std::string(ParseSchemaChange("ALTER COLUMN a TYPE NUMBER").status().message()),
              HasSubstr("NUMBER"));
}

TEST(SchemaChangeTest, AppliesChangesAndKeepsColumnIds) {
  TableSchema v0 = Schema("id BIGINT, name STRING, n INT");
  auto v1 = Apply(v0, {"ADD COLUMN note STRING AFTER id", "RENAME COLUMN name TO title",
                       "DROP COLUMN n", "ADD COLUMN n BIGINT"});
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->id(), 1);
  EXPECT_EQ(v1->ColumnsString(), "id BIGINT NOT NULL, note STRING, title STRING, n BIGINT");
  // The new n is another column than the dropped one: its id is new.
  EXPECT_EQ(v1->column_ids(), (std::vector<int>{0, 3, 1, 4}));
  EXPECT_EQ(v1->last_column_id(), 4);
  auto renamed_key = Apply(*v1, {"RENAME COLUMN id TO order_id"}, 2);
  ASSERT_TRUE(renamed_key.ok()) << renamed_key.status();
  EXPECT_EQ(renamed_key->columns()[renamed_key->key_columns()[0]].name, "order_id");
}

TEST(SchemaChangeTest, RefusesChangesThatWouldLoseOrMisplaceValues) {
  TableSchema v0 = Schema("id BIGINT, name STRING, n INT, f DOUBLE, d DECIMAL(10,2)");
  ExpectInvalid(Apply(v0, {"DROP COLUMN id"}), "primary-key column cannot be dropped");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN id TYPE DECIMAL(20,0)"}), "primary-key column cannot change");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN n TYPE SMALLINT"}), "INT cannot become SMALLINT");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN f TYPE FLOAT"}), "DOUBLE cannot become FLOAT");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN d TYPE DECIMAL(12,3)"}), "cannot become DECIMAL(12,3)");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN name TYPE BINARY"}), "STRING cannot become BINARY");
  ExpectInvalid(Apply(v0, {"ALTER COLUMN n TYPE INT"}), "is INT already");
  ExpectInvalid(Apply(v0, {"ADD COLUMN NAME INT"}), "exists");
  ExpectInvalid(Apply(v0, {"RENAME COLUMN n TO Name"}), "exists");
  ExpectInvalid(Apply(v0, {"DROP COLUMN missing"}), "there is no column 'missing'");
  ExpectInvalid(Apply(v0, {"ADD COLUMN x INT AFTER missing"}), "no column 'missing'");
  EXPECT_TRUE(Apply(v0, {"ALTER COLUMN n TYPE BIGINT", "ALTER COLUMN d TYPE DECIMAL(20,2)"}).ok());
}

TEST(SchemaChangeTest, SchemaFileRoundTripsAndRefusesDamage) {
  auto v1 = Apply(Schema("id BIGINT, name STRING"), {"DROP COLUMN name", "ADD COLUMN tags ARRAY<STRING>"});
  ASSERT_TRUE(v1.ok()) << v1.status();
  std::string bytes = EncodeSchemaFile({*v1, "DROP COLUMN name; ADD COLUMN tags ARRAY<STRING>", 42});
  auto back = DecodeSchemaFile(bytes, "f");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->schema.ColumnsString(), v1->ColumnsString());
  EXPECT_EQ(back->schema.column_ids(), v1->column_ids());
  EXPECT_EQ(back->schema.id(), 1);
  EXPECT_EQ(back->changes, "DROP COLUMN name; ADD COLUMN tags ARRAY<STRING>");
  bytes[10] ^= 1;
  EXPECT_EQ(DecodeSchemaFile(bytes, "f").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SchemaFileName(7), "schema-00000000000000000007");
  EXPECT_EQ(ParseSchemaFileName(SchemaFileName(7)), 7);
  EXPECT_EQ(ParseSchemaFileName("schema-7"), -1);
}

TEST(SchemaChangeTest, ProjectsValuesByColumnId) {
  auto v0 = std::make_shared<const TableSchema>(Schema("id BIGINT, name STRING, n INT, gone STRING"));
  auto v1s = Apply(*v0, {"RENAME COLUMN name TO title", "ALTER COLUMN n TYPE BIGINT",
                         "DROP COLUMN gone", "ADD COLUMN gone STRING FIRST"});
  ASSERT_TRUE(v1s.ok()) << v1s.status();
  auto v1 = std::make_shared<const TableSchema>(*v1s);
  std::string value;
  AppendUpsertValue(*v0, Row{Value(int64_t{1}), Value(std::string("a")), Value(int64_t{-7}),
                             Value(std::string("old"))}, &value);
  std::string projected;
  ASSERT_TRUE(ValueProjector(v0, v1).Project(value, &projected).ok());
  EXPECT_EQ(static_cast<uint8_t>(projected[0]), kUpsertWithSchemaByte);
  Row row(v1->columns().size());
  ASSERT_TRUE(DecodeValue(*v1, projected, &row).ok());
  EXPECT_TRUE(IsNull(row[0]));  // the new 'gone' is not the dropped one
  EXPECT_EQ(StringOf(row[2]), "a");
  EXPECT_EQ(IntOf(row[3]), -7);
  // Decoding under the wrong version is refused, not misread.
  Row wrong(v0->columns().size());
  EXPECT_EQ(DecodeValue(*v0, projected, &wrong).code(), absl::StatusCode::kDataLoss);

  // And back: a column narrower in the version read is refused when it holds a value.
  std::string back;
  EXPECT_EQ(ValueProjector(v1, v0).Project(projected, &back).code(),
            absl::StatusCode::kFailedPrecondition);
}

class AlterTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("alter_test_" + RandomId());
    ASSERT_TRUE(Table::Create(root_, "t", Schema("id BIGINT, name STRING, n INT")).ok());
    table_ = Open();
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<Table> Open() {
    auto t = Table::Open(root_, "t");
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }

  // Upserts rows given as JSON objects under the current schema.
  int64_t Upsert(const std::vector<std::string>& rows) {
    auto schema = table_->CurrentSchema();
    EXPECT_TRUE(schema.ok()) << schema.status();
    MutationBatch batch;
    for (const auto& r : rows) {
      auto row = RowFromJson(**schema, nlohmann::json::parse(r));
      EXPECT_TRUE(row.ok()) << row.status();
      batch.Upsert(**schema, *row);
    }
    auto c = table_->Commit(batch);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->snapshot_id : -1;
  }

  int64_t Alter(std::vector<std::string> texts) {
    auto changes = ParseSchemaChanges(texts);
    EXPECT_TRUE(changes.ok()) << changes.status();
    auto r = table_->Alter(*changes);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->snapshot_id : -1;
  }

  // Every live row of snapshot `id` (latest when -1) as JSON, under its version.
  std::vector<std::string> Scan(int64_t id = -1, Table* t = nullptr) {
    Table* tab = t != nullptr ? t : table_.get();
    auto snap = id < 0 ? tab->LatestSnapshot() : tab->SnapshotById(id);
    EXPECT_TRUE(snap.ok()) << snap.status();
    auto schema = tab->SchemaOf(**snap);
    EXPECT_TRUE(schema.ok()) << schema.status();
    auto it = tab->NewScan(**snap);
    EXPECT_TRUE(it.ok()) << it.status();
    std::vector<std::string> out;
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = DecodeRow(**schema, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok()) << row.status();
      out.push_back(RowToJson(**schema, *row).dump());
    }
    EXPECT_TRUE((*it)->status().ok()) << (*it)->status();
    return out;
  }

  fs::path root_;
  std::unique_ptr<Table> table_;
};

TEST_F(AlterTableTest, OldRowsReadUnderTheNewSchemaAndOldSnapshotsUnderTheirOwn) {
  const int64_t before = Upsert({R"({"id":1,"name":"a","n":10})", R"({"id":2,"name":"b","n":20})"});
  const int64_t altered = Alter({"ADD COLUMN note STRING AFTER id", "RENAME COLUMN name TO title",
                                 "ALTER COLUMN n TYPE BIGINT"});
  auto snap = table_->SnapshotById(altered);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ((*snap)->kind, SnapshotKind::kAlter);
  EXPECT_EQ((*snap)->schema_id, 1);
  Upsert({R"({"id":2,"note":"x","title":"b2","n":5000000000})", R"({"id":3,"title":"c"})"});

  EXPECT_THAT(Scan(), ::testing::ElementsAre(R"({"id":1,"note":null,"title":"a","n":10})",
                                             R"({"id":2,"note":"x","title":"b2","n":5000000000})",
                                             R"({"id":3,"note":null,"title":"c","n":null})"));
  EXPECT_THAT(Scan(before), ::testing::ElementsAre(R"({"id":1,"name":"a","n":10})",
                                                   R"({"id":2,"name":"b","n":20})"));
  // Another process opening the table reads the same.
  auto other = Open();
  EXPECT_EQ(Scan(-1, other.get()), Scan());
  EXPECT_EQ(Scan(before, other.get()), Scan(before));

  // A point lookup hands out the value under the version read.
  auto latest = table_->LatestSnapshot();
  auto schema = table_->CurrentSchema();
  Row key(4);
  key[0] = Value(int64_t{1});
  auto v = table_->Get(**latest, EncodeKey(**schema, key));
  ASSERT_TRUE(v.ok() && v->has_value()) << v.status();
  auto row = DecodeRow(**schema, EncodeKey(**schema, key), **v);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(StringOf((*row)[2]), "a");

  // Changes across the ALTER read under the end's version.
  auto changes = table_->NewChanges(0, (*latest)->id);
  ASSERT_TRUE(changes.ok()) << changes.status();
  int rows = 0;
  for (; (*changes)->Valid(); (*changes)->Next(), ++rows) {
    ASSERT_TRUE(DecodeRow(**schema, (*changes)->key(), (*changes)->value()).ok());
  }
  EXPECT_TRUE((*changes)->status().ok()) << (*changes)->status();
  EXPECT_EQ(rows, 3);
}

TEST_F(AlterTableTest, ADroppedColumnAddedAgainDoesNotBringBackOldValues) {
  Upsert({R"({"id":1,"name":"a","n":10})"});
  Alter({"DROP COLUMN n"});
  EXPECT_THAT(Scan(), ::testing::ElementsAre(R"({"id":1,"name":"a"})"));
  Alter({"ADD COLUMN n INT"});
  Upsert({R"({"id":2,"name":"b","n":7})"});
  EXPECT_THAT(Scan(), ::testing::ElementsAre(R"({"id":1,"name":"a","n":null})",
                                             R"({"id":2,"name":"b","n":7})"));
  auto schema = table_->CurrentSchema();
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ((*schema)->id(), 2);
  auto changes = table_->SchemaChangesOf(2);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(*changes, "ADD COLUMN n INT");
}

TEST_F(AlterTableTest, CompactionAndVerifyAcrossVersions) {
  Upsert({R"({"id":1,"name":"a","n":1})", R"({"id":2,"name":"b","n":2})"});
  Alter({"ALTER COLUMN n TYPE BIGINT", "ADD COLUMN x DOUBLE"});
  Upsert({R"({"id":2,"name":"b2","x":1.5})"});
  Alter({"DROP COLUMN name"});
  Upsert({R"({"id":3,"n":3})"});
  const auto before = Scan();
  auto compacted = table_->Compact(/*full=*/true);
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  ASSERT_TRUE(compacted->has_value());
  EXPECT_EQ(Scan(), before);
  EXPECT_THAT(before, ::testing::ElementsAre(R"({"id":1,"n":1,"x":null})",
                                             R"({"id":2,"n":null,"x":1.5})",
                                             R"({"id":3,"n":3,"x":null})"));
  auto problems = table_->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status();
  EXPECT_TRUE(problems->empty()) << (*problems)[0];
}

TEST_F(AlterTableTest, AnInvalidChangeWritesNothing) {
  auto change = ParseSchemaChange("DROP COLUMN id");
  ASSERT_TRUE(change.ok());
  auto r = table_->Alter({*change});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)->id, 0);
  EXPECT_EQ((*latest)->schema_id, 0);
}

TEST_F(AlterTableTest, AVersionFileLeftByACrashedAlterIsSkipped) {
  // An ALTER that crashed after creating its version file, before its snapshot.
  fs::create_directories(root_ / "t" / "schemas");
  auto v1 = Apply(table_->schema(), {"ADD COLUMN lost INT"});
  ASSERT_TRUE(v1.ok());
  std::ofstream(root_ / "t" / "schemas" / SchemaFileName(1)) << EncodeSchemaFile({*v1, "ADD COLUMN lost INT", 1});
  Alter({"ADD COLUMN kept STRING"});
  auto schema = table_->CurrentSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ((*schema)->id(), 2);
  EXPECT_EQ((*schema)->ColumnsString(), "id BIGINT NOT NULL, name STRING, n INT, kept STRING");
}

}  // namespace
}  // namespace deltasidecar::table
