#include "table/schema.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace deltasidecar::table {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Asserts INVALID_ARGUMENT whose message contains `text`.
void ExpectInvalid(const absl::StatusOr<TableSchema>& s, std::string_view text) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning: " << text;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(std::string(text)));
}

TEST(SchemaTest, ParsesEveryType) {
  auto s = TableSchema::Parse(
      "b BOOLEAN, t TINYINT, sm SMALLINT, i INT, id BIGINT, f FLOAT, d DOUBLE, "
      "dec DECIMAL(10,2), s STRING, bin BINARY, dt DATE, dtm DATETIME, ts TIMESTAMP",
      "id", 8);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<Column>& c = s->columns();
  ASSERT_EQ(c.size(), 13u);
  EXPECT_EQ(c[0].type, ColumnType::kBoolean);
  EXPECT_EQ(c[1].type, ColumnType::kTinyint);
  EXPECT_EQ(c[2].type, ColumnType::kSmallint);
  EXPECT_EQ(c[3].type, ColumnType::kInt);
  EXPECT_EQ(c[4].type, ColumnType::kBigint);
  EXPECT_EQ(c[5].type, ColumnType::kFloat);
  EXPECT_EQ(c[6].type, ColumnType::kDouble);
  EXPECT_EQ(c[7].type, ColumnType::kDecimal);
  EXPECT_EQ(c[7].precision, 10);
  EXPECT_EQ(c[7].scale, 2);
  EXPECT_EQ(c[8].type, ColumnType::kString);
  EXPECT_EQ(c[9].type, ColumnType::kBinary);
  EXPECT_EQ(c[10].type, ColumnType::kDate);
  EXPECT_EQ(c[11].type, ColumnType::kDatetime);
  EXPECT_EQ(c[12].type, ColumnType::kTimestamp);
  EXPECT_EQ(s->buckets(), 8);
  EXPECT_THAT(s->key_columns(), ElementsAre(4));
  EXPECT_THAT(s->value_columns(), ElementsAre(0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12));
  EXPECT_FALSE(c[4].nullable);
  EXPECT_TRUE(c[0].nullable);
}

TEST(SchemaTest, CaseAndWhitespaceTolerant) {
  auto s = TableSchema::Parse(
      "  id   bigint  ,\tprice decimal( 10 , 2 ) not null,name String NULL, q DeCiMaL (5,0)",
      " id ");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->columns()[1].TypeString(), "DECIMAL(10,2)");
  EXPECT_FALSE(s->columns()[1].nullable);
  EXPECT_TRUE(s->columns()[2].nullable);
  EXPECT_EQ(s->columns()[3].TypeString(), "DECIMAL(5,0)");
  EXPECT_EQ(s->buckets(), kDefaultBuckets);
}

TEST(SchemaTest, PlainDecimalIs38_18) {
  auto s = TableSchema::Parse("id INT, d DECIMAL", "id");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->columns()[1].precision, 38);
  EXPECT_EQ(s->columns()[1].scale, 18);
}

TEST(SchemaTest, KeyOrderAndValueColumns) {
  auto s = TableSchema::Parse("a INT, b STRING, c DATE, d DOUBLE", "c, a");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->key_columns(), ElementsAre(2, 0));
  EXPECT_THAT(s->value_columns(), ElementsAre(1, 3));
  EXPECT_TRUE(s->IsKeyColumn(0));
  EXPECT_FALSE(s->IsKeyColumn(1));
  EXPECT_TRUE(s->IsKeyColumn(2));
  EXPECT_FALSE(s->IsKeyColumn(99));
  EXPECT_FALSE(s->IsKeyColumn(-1));
  EXPECT_FALSE(s->columns()[0].nullable);
  EXPECT_FALSE(s->columns()[2].nullable);
  EXPECT_EQ(s->ColumnIndex("b"), 1);
  EXPECT_EQ(s->ColumnIndex("zz"), std::nullopt);
}

TEST(SchemaTest, KeyColumnDeclaredNullBecomesNotNull) {
  auto s = TableSchema::Parse("id INT NULL, v INT", "id");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->columns()[0].nullable);
}

TEST(SchemaTest, ColumnsStringRoundTrips) {
  auto s =
      TableSchema::Parse("id BIGINT, price decimal(10,2), name STRING not null, f FLOAT", "id");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ColumnsString(),
            "id BIGINT NOT NULL, price DECIMAL(10,2), name STRING NOT NULL, f FLOAT");
  auto again = TableSchema::Parse(s->ColumnsString(), "id");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ColumnsString(), s->ColumnsString());
  EXPECT_EQ(again->ToJson(), s->ToJson());
}

TEST(SchemaTest, ToJsonExactForm) {
  auto s = TableSchema::Parse("id BIGINT, price DECIMAL(10,2)", "id", 16);
  ASSERT_TRUE(s.ok()) << s.status();
  nlohmann::json expected =
      nlohmann::json::parse(R"j({"columns":[{"name":"id","type":"BIGINT","nullable":false},)j"
                            R"j({"name":"price","type":"DECIMAL(10,2)","nullable":true}],)j"
                            R"j("primary_key":["id"],"buckets":16})j");
  EXPECT_EQ(s->ToJson(), expected);
}

TEST(SchemaTest, JsonRoundTrip) {
  auto s = TableSchema::Parse(
      "k1 STRING, v DOUBLE, k2 TIMESTAMP, d DECIMAL(38,38), b BINARY NOT NULL", "k2,k1", 4096);
  ASSERT_TRUE(s.ok()) << s.status();
  auto back = TableSchema::FromJson(nlohmann::json::parse(s->ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), s->ToJson());
  EXPECT_THAT(back->key_columns(), ElementsAre(2, 0));
  EXPECT_EQ(back->buckets(), 4096);
  EXPECT_EQ(back->ColumnsString(), s->ColumnsString());
}

TEST(SchemaTest, MakeFromParts) {
  std::vector<Column> cols(2);
  cols[0].name = "id";
  cols[0].type = ColumnType::kInt;
  cols[1].name = "amount";
  cols[1].type = ColumnType::kDecimal;
  cols[1].precision = 20;
  cols[1].scale = 4;
  auto s = TableSchema::Make(cols, {"id"}, 1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ColumnsString(), "id INT NOT NULL, amount DECIMAL(20,4)");

  cols[1].precision = 39;
  ExpectInvalid(TableSchema::Make(cols, {"id"}, 1), "amount");
  cols[1].precision = 4;
  cols[1].scale = 5;
  ExpectInvalid(TableSchema::Make(cols, {"id"}, 1), "DECIMAL(4,5)");
  cols[1].scale = -1;
  ExpectInvalid(TableSchema::Make(cols, {"id"}, 1), "amount");
  cols[1].scale = 0;
  cols[1].type = static_cast<ColumnType>(42);
  ExpectInvalid(TableSchema::Make(cols, {"id"}, 1), "invalid type code 42");
}

TEST(SchemaTest, TypeErrors) {
  ExpectInvalid(TableSchema::Parse("id BIGNT", "id"), "unknown type 'BIGNT' for column 'id'");
  ExpectInvalid(TableSchema::Parse("id INT, v big-int", "id"), "unknown type 'big-int'");
  ExpectInvalid(TableSchema::Parse("id INT, v", "id"), "missing type for column 'v'");
  ExpectInvalid(TableSchema::Parse("id INT(5)", "id"), "'INT' for column 'id' takes no parameters");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(10)", "id"), "'(10)' for column 'p'");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(a,b)", "id"), "column 'p'");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(0,0)", "id"), "column 'p'");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(39,2)", "id"), "DECIMAL(39,2)");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(10,11)", "id"), "DECIMAL(10,11)");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL(10,2", "id"), "unclosed '('");
  ExpectInvalid(TableSchema::Parse("id INT, p DECIMAL 10,2)", "id"), "unbalanced ')'");
  ExpectInvalid(TableSchema::Parse("id INT NOT", "id"),
                "unexpected 'NOT' after the type of column 'id'");
  ExpectInvalid(TableSchema::Parse("id INT PRIMARY KEY", "id"), "'PRIMARY KEY'");
  ExpectInvalid(TableSchema::Parse("id INT, m MAP<STRING,STRING", "id"), "unclosed '<'");
  ExpectInvalid(TableSchema::Parse("id INT, v INT>", "id"), "unbalanced '>'");
}

TEST(SchemaNestedTest, ParsesNestedTypesToAnyDepth) {
  auto s = TableSchema::Parse(
      "id INT, tags ARRAY<STRING>, m map< string, array<int> > NOT NULL, "
      "s STRUCT<x:INT, y STRING, z:STRUCT<d:DECIMAL(10,2),t:TIMESTAMP_LTZ(3)>>, "
      "deep ARRAY<MAP<BIGINT,ARRAY<STRUCT<a:BOOLEAN>>>>",
      "id");
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<Column>& c = s->columns();
  EXPECT_EQ(c[1].type, ColumnType::kArray);
  ASSERT_EQ(c[1].children.size(), 1u);
  EXPECT_EQ(c[1].children[0].name, "element");
  EXPECT_EQ(c[1].children[0].type, ColumnType::kString);
  EXPECT_EQ(c[2].type, ColumnType::kMap);
  EXPECT_FALSE(c[2].nullable);
  EXPECT_FALSE(c[2].children[0].nullable);  // MAP keys are never NULL
  EXPECT_TRUE(c[2].children[1].nullable);
  EXPECT_EQ(c[3].children[2].children[0].precision, 10);
  EXPECT_EQ(c[3].children[2].children[1].precision, 3);
  EXPECT_EQ(s->ColumnsString(),
            "id INT NOT NULL, tags ARRAY<STRING>, m MAP<STRING,ARRAY<INT>> NOT NULL, "
            "s STRUCT<x:INT,y:STRING,z:STRUCT<d:DECIMAL(10,2),t:TIMESTAMP_LTZ(3)>>, "
            "deep ARRAY<MAP<BIGINT,ARRAY<STRUCT<a:BOOLEAN>>>>");
  // Round trips through Parse and through the table.json form.
  auto again = TableSchema::Parse(s->ColumnsString(), "id");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ColumnsString(), s->ColumnsString());
  nlohmann::json j = s->ToJson();
  EXPECT_EQ(j["columns"][4]["type"], "ARRAY<MAP<BIGINT,ARRAY<STRUCT<a:BOOLEAN>>>>");
  auto from_json = TableSchema::FromJson(j);
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  EXPECT_EQ(from_json->ColumnsString(), s->ColumnsString());
  EXPECT_EQ(from_json->value_columns().size(), 4u);
}

TEST(SchemaNestedTest, RefusesNestedKeysAndMalformedTypes) {
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<INT>", "id, a"),
                "column 'a': nested type ARRAY<INT> cannot be a primary-key column");
  ExpectInvalid(TableSchema::Parse("s STRUCT<x:INT>", "s"), "column 's': nested type");
  ExpectInvalid(TableSchema::Parse("id INT, m MAP<ARRAY<INT>,INT>", "id"),
                "column 'm': a MAP key cannot be of nested type ARRAY<INT>");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY", "id"), "needs its element types: ARRAY<T>");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<>", "id"), "no element type");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<INT,INT>", "id"), "ARRAY takes one");
  ExpectInvalid(TableSchema::Parse("id INT, m MAP<INT>", "id"), "MAP takes a key type");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<FOO>", "id"), "unknown type 'FOO'");
  ExpectInvalid(TableSchema::Parse("id INT, a LIST<INT>", "id"), "unknown type 'LIST<INT>'");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<INT NOT NULL>", "id"), "always nullable");
  ExpectInvalid(TableSchema::Parse("id INT, s STRUCT<x:INT,X:INT>", "id"),
                "duplicate STRUCT field name 'X'");
  ExpectInvalid(TableSchema::Parse("id INT, s STRUCT<:INT>", "id"), "STRUCT<name:TYPE, ...>");
  ExpectInvalid(TableSchema::Parse("id INT, s STRUCT<1x:INT>", "id"), "invalid column name");
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<TIMESTAMP_NTZ>", "id"), "TIMESTAMP_NTZ");
  std::string deep = "INT";
  for (int i = 0; i < kMaxNestingDepth; ++i) deep = "ARRAY<" + deep + ">";
  EXPECT_TRUE(TableSchema::Parse("id INT, a " + deep, "id").ok());
  ExpectInvalid(TableSchema::Parse("id INT, a ARRAY<" + deep + ">", "id"),
                "nests deeper than 32 levels");
  // Make checks hand-built trees the same way.
  Column bad;
  bad.name = "m";
  bad.type = ColumnType::kMap;
  bad.children.resize(1);
  Column id;
  id.name = "id";
  id.type = ColumnType::kInt;
  ExpectInvalid(TableSchema::Make({id, bad}, {"id"}, 4), "MAP needs 2 child type(s), has 1");
}

TEST(SchemaNestedTest, TableJsonOfANestedColumn) {
  // Builds before nested types refuse this type string with "not supported
  // yet" (their ParseType); this build reads it.
  nlohmann::json j = {{"columns",
                       {{{"name", "id"}, {"type", "BIGINT"}, {"nullable", false}},
                        {{"name", "m"}, {"type", "MAP<STRING,STRUCT<a:INT>>"}, {"nullable", true}}}},
                      {"primary_key", {"id"}},
                      {"buckets", 4}};
  auto s = TableSchema::FromJson(j);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->columns()[1].children[1].children[0].name, "a");
  EXPECT_EQ(s->ToJson(), j);
  j["columns"][1]["type"] = "MAP<STRING,STRUCT<a:INT>";
  EXPECT_FALSE(TableSchema::FromJson(j).ok());
}

TEST(SchemaTest, TimestampLtzTakesAPrecision) {
  auto s = TableSchema::Parse(
      "k timestamp_ltz(3), a TIMESTAMP_LTZ, b Timestamp_Ltz ( 0 ) NOT NULL, c TIMESTAMP_LTZ(9)",
      "k");
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<Column>& c = s->columns();
  for (const Column& column : c) EXPECT_EQ(column.type, ColumnType::kTimestampLtz);
  EXPECT_EQ(c[0].precision, 3);
  EXPECT_EQ(c[1].precision, 6);  // Flink SQL's default
  EXPECT_EQ(c[2].precision, 0);
  EXPECT_EQ(c[3].precision, 9);
  EXPECT_EQ(FixedWidth(ColumnType::kTimestampLtz), 8u);
  EXPECT_EQ(ColumnTypeName(ColumnType::kTimestampLtz), "TIMESTAMP_LTZ");
  EXPECT_EQ(s->ColumnsString(),
            "k TIMESTAMP_LTZ(3) NOT NULL, a TIMESTAMP_LTZ(6), b TIMESTAMP_LTZ(0) NOT NULL, "
            "c TIMESTAMP_LTZ(9)");
  // table.json keeps the precision, and so does the column list.
  auto back = TableSchema::FromJson(nlohmann::json::parse(s->ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ColumnsString(), s->ColumnsString());
  EXPECT_EQ(s->ToJson()["columns"][0]["type"], "TIMESTAMP_LTZ(3)");
  auto again = TableSchema::Parse(s->ColumnsString(), "k");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), s->ToJson());

  ExpectInvalid(TableSchema::Parse("id INT, t TIMESTAMP_LTZ(10)", "id"),
                "TIMESTAMP_LTZ(10) is invalid; need 0 <= precision <= 9");
  ExpectInvalid(TableSchema::Parse("id INT, t TIMESTAMP_LTZ(3,1)", "id"),
                "invalid TIMESTAMP_LTZ parameter '(3,1)' for column 't'");
  ExpectInvalid(TableSchema::Parse("id INT, t TIMESTAMP_LTZ()", "id"), "column 't'");
  ExpectInvalid(TableSchema::Parse("id INT, t TIMESTAMP(3)", "id"), "takes no parameters");
  Column bad;
  bad.name = "t";
  bad.type = ColumnType::kTimestampLtz;
  bad.precision = -1;
  ExpectInvalid(TableSchema::Make({bad}, {"t"}, 1), "TIMESTAMP_LTZ(-1) is invalid");
}

// MaxCompute's type names: those with an exact counterpart are accepted, the
// others refused with the reason.
TEST(SchemaTest, MaxComputeTypeNames) {
  auto s = TableSchema::Parse(
      "a TINYINT, b SMALLINT, c INT, d BIGINT, e FLOAT, f DOUBLE, g DECIMAL(20,4), h STRING, "
      "i BINARY, j DATE, k DATETIME, l TIMESTAMP, m BOOLEAN",
      "d");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ColumnsString(),
            "a TINYINT, b SMALLINT, c INT, d BIGINT NOT NULL, e FLOAT, f DOUBLE, g DECIMAL(20,4), "
            "h STRING, i BINARY, j DATE, k DATETIME, l TIMESTAMP, m BOOLEAN");
  ExpectInvalid(TableSchema::Parse("id INT, t TIMESTAMP_NTZ", "id"),
                "type 'TIMESTAMP_NTZ' of column 't' is not supported: TIMESTAMP_NTZ is a "
                "wall-clock time without a zone");
  ExpectInvalid(TableSchema::Parse("id INT, v VARCHAR(20)", "id"),
                "type 'VARCHAR(20)' of column 'v' is not supported: VARCHAR(n) limits values to n "
                "characters, which STRING does not enforce; declare STRING");
  ExpectInvalid(TableSchema::Parse("id INT, v char(4) NOT NULL", "id"),
                "type 'char(4)' of column 'v' is not supported: CHAR(n) pads values");
  // table.json is held to the same rules.
  auto j = nlohmann::json::parse(
      R"j({"columns":[{"name":"id","type":"VARCHAR(3)","nullable":false}],"primary_key":["id"],"buckets":1})j");
  EXPECT_THAT(std::string(TableSchema::FromJson(j).status().message()),
              HasSubstr("VARCHAR(n) limits"));
}

TEST(SchemaTest, ColumnListErrors) {
  ExpectInvalid(TableSchema::Parse("", "id"), "column list is empty");
  ExpectInvalid(TableSchema::Parse("id INT,", "id"), "empty column definition");
  ExpectInvalid(TableSchema::Parse("id INT,, v INT", "id"), "empty column definition");
  ExpectInvalid(TableSchema::Parse("id INT, 1abc INT", "id"), "invalid column name '1abc'");
  ExpectInvalid(TableSchema::Parse("id INT, a-b INT", "id"), "invalid column name 'a-b'");
  std::string long_name(129, 'x');
  ExpectInvalid(TableSchema::Parse(absl::StrCat("id INT, ", long_name, " INT"), "id"),
                "longer than 128");
  EXPECT_TRUE(
      TableSchema::Parse(absl::StrCat("id INT, ", std::string(128, 'x'), " INT"), "id").ok());
  EXPECT_TRUE(TableSchema::Parse("_id INT, _9 INT", "_id").ok());
  ExpectInvalid(TableSchema::Parse("id INT, Name STRING, NAME INT", "id"),
                "duplicate column name 'NAME'");
}

TEST(SchemaTest, ColumnCountLimit) {
  std::string list = "id INT";
  for (int i = 1; i < 1024; ++i) absl::StrAppend(&list, ", c", i, " INT");
  auto ok = TableSchema::Parse(list, "id");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->columns().size(), 1024u);
  absl::StrAppend(&list, ", c1024 INT");
  ExpectInvalid(TableSchema::Parse(list, "id"), "1025 columns");
  ExpectInvalid(TableSchema::Make({}, {"id"}, 1), "no columns");
}

TEST(SchemaTest, PrimaryKeyErrors) {
  ExpectInvalid(TableSchema::Parse("id INT", "idd"),
                "primary-key column 'idd' is not in the schema");
  ExpectInvalid(TableSchema::Parse("id INT", ""), "primary key is empty");
  ExpectInvalid(TableSchema::Parse("id INT", "  "), "primary key is empty");
  ExpectInvalid(TableSchema::Parse("id INT, b INT", "id,,b"), "empty column name in primary key");
  ExpectInvalid(TableSchema::Parse("id INT, b INT", "id, b, id"), "'id' is listed more than once");
  ExpectInvalid(TableSchema::Parse("id INT, x FLOAT", "id, x"),
                "column 'x': FLOAT cannot be a primary-key column");
  ExpectInvalid(TableSchema::Parse("x DOUBLE", "x"),
                "column 'x': DOUBLE cannot be a primary-key column");
  // Names are matched exactly.
  ExpectInvalid(TableSchema::Parse("id INT", "ID"), "'ID' is not in the schema");
}

TEST(SchemaTest, BucketRange) {
  ExpectInvalid(TableSchema::Parse("id INT", "id", 0), "bucket count 0 is out of range [1, 4096]");
  ExpectInvalid(TableSchema::Parse("id INT", "id", 4097), "bucket count 4097");
  ExpectInvalid(TableSchema::Parse("id INT", "id", -3), "bucket count -3");
  EXPECT_TRUE(TableSchema::Parse("id INT", "id", 1).ok());
  EXPECT_TRUE(TableSchema::Parse("id INT", "id", 4096).ok());
}

TEST(SchemaTest, FromJsonRejectsMalformed) {
  const std::string good =
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":16})";
  ASSERT_TRUE(TableSchema::FromJson(nlohmann::json::parse(good)).ok());
  const char* bad[] = {
      R"([])",
      R"("x")",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"]})",
      R"({"columns":{},"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT"}],"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":"no"}],"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":1,"type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false,"x":1}],"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGNT","nullable":false}],"primary_key":["id"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":"id","buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":[1],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["x"],"buckets":16})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":"16"})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":16.5})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":0})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":4294967312})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":18446744073709551615})",
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":16,"extra":1})",
      R"({"columns":[],"primary_key":["id"],"buckets":16})",
  };
  for (const char* text : bad) {
    auto s = TableSchema::FromJson(nlohmann::json::parse(text));
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  auto s = TableSchema::FromJson(nlohmann::json::parse(
      R"({"columns":[{"name":"id","type":"BIGINT","nullable":false}],"primary_key":["id"],"buckets":4294967312})"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("4294967312"));
}

TEST(SchemaTest, ColumnTypeNames) {
  EXPECT_EQ(ColumnTypeName(ColumnType::kBigint), "BIGINT");
  EXPECT_EQ(ColumnTypeName(ColumnType::kDecimal), "DECIMAL");
  EXPECT_EQ(ColumnTypeName(ColumnType::kTimestamp), "TIMESTAMP");
  Column c;
  c.type = ColumnType::kDecimal;
  c.precision = 38;
  c.scale = 0;
  EXPECT_EQ(c.TypeString(), "DECIMAL(38,0)");
}

}  // namespace
}  // namespace deltasidecar::table
