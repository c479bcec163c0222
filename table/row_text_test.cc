// Rows as text (row_json.h, row_csv.h): JSON input and output rules, CSV,
// TIMESTAMP_LTZ's text forms and nested columns. Binary forms are in
// row_test.cc.
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/nested_value.h"
#include "table/testing/row_testing.h"

namespace deltasidecar::table {
namespace {

using namespace row_testing;  // NOLINT: the helpers of every row test
using ::testing::HasSubstr;
using json = nlohmann::json;

// ----------------------------------------------------------------------------
// JSON and CSV.

void ExpectInvalid(const absl::StatusOr<Row>& r, std::string_view text) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning: " << text;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(text)));
}

// Each row, written as JSON and read back, is the same row.
void ExpectJsonRoundTrips(const TableSchema& s, const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    absl::StatusOr<Row> back = RowFromJson(s, json::parse(RowToJson(s, row).dump()));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == row);
  }
}

TEST(RowJsonTest, ParsesEveryType) {
  TableSchema s = AllTypesSchema();
  json j = json::parse(R"j({
    "kb": true, "kt": -128, "ks": 32767, "ki": -2147483648, "kl": -9223372036854775808,
    "kd": "-1234.5", "kstr": "k\u0000ey", "kbin": "AP8B", "kdate": "1970-01-02",
    "kdt": "1970-01-01T00:00:01.5Z", "kts": "1969-12-31 23:59:59.999999999",
    "vb": false, "vt": 127, "vs": -1, "vi": 0, "vl": 9223372036854775807, "vf": 0.1,
    "vd": "-Infinity", "vdec": 12345678901234567890123456789012345678, "vdec2": 0.25,
    "vstr": "", "vbin": "", "vdate": "0001-01-01", "vdt": -1, "vts": 1, "_op": "upsert"
  })j");
  absl::StatusOr<Row> r = RowFromJson(s, j);
  ASSERT_TRUE(r.ok()) << r.status();
  const Row& row = *r;
  auto at = [&](std::string_view name) { return row[*s.ColumnIndex(name)]; };
  EXPECT_TRUE(at("kb") == B(true));
  EXPECT_TRUE(at("kl") == I(kMin64));
  EXPECT_TRUE(at("kd") == Dec(-12345000000000));
  EXPECT_TRUE(at("kstr") == S(std::string("k\0ey", 4)));
  EXPECT_TRUE(at("kbin") == S(std::string("\0\xff\x01", 3)));
  EXPECT_TRUE(at("kdate") == I(1));
  EXPECT_TRUE(at("kdt") == I(1500));
  EXPECT_TRUE(at("kts") == I(-1));
  EXPECT_TRUE(at("vf") == D(0.1f)) << "FLOAT is rounded to float precision";
  EXPECT_TRUE(at("vd") == D(-INFINITY));
  EXPECT_TRUE(at("vdec2") == Dec(static_cast<__int128>(25) * static_cast<__int128>(1e18) *
                                 static_cast<__int128>(1e18)));
  EXPECT_TRUE(at("vstr") == S(""));
  EXPECT_TRUE(at("vdate") == I(-719162));
  EXPECT_TRUE(at("vdt") == I(-1));
  EXPECT_TRUE(at("vts") == I(1));

  // Text -> row -> text is the identity on canonical text.
  json back = json::parse(RowToJson(s, row).dump());
  absl::StatusOr<Row> again = RowFromJson(s, back);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again == row);
}

TEST(RowJsonTest, OutputForms) {
  TableSchema s = MustParse(
      "z INT, b BOOLEAN, f FLOAT, d DOUBLE, n DOUBLE, p DECIMAL(10,2), q DECIMAL(5,0), "
      "bin BINARY, dt DATE, dtm DATETIME, ts TIMESTAMP, str STRING, nul STRING",
      "z");
  Row row = {I(-3),
             B(true),
             D(0.1f),
             D(2.5),
             D(std::nan("")),
             Dec(-5),
             Dec(7),
             S("\x01\x02\x03\xff"),
             I(-1),
             I(-1),
             I(-1),
             S("x,\"y\"\n"),
             kNull};
  EXPECT_EQ(RowToJson(s, row).dump(),
            R"({"z":-3,"b":true,"f":0.1,"d":2.5,"n":"NaN","p":"-0.05","q":"7",)"
            R"("bin":"AQID/w==","dt":"1969-12-31","dtm":"1969-12-31 23:59:59.999",)"
            R"("ts":"1969-12-31 23:59:59.999999999","str":"x,\"y\"\n","nul":null})");
  EXPECT_EQ(CsvHeader(s), "z,b,f,d,n,p,q,bin,dt,dtm,ts,str,nul");
  EXPECT_EQ(RowToCsv(s, row),
            "-3,true,0.1,2.5,NaN,-0.05,7,AQID/w==,1969-12-31,1969-12-31 23:59:59.999,"
            "1969-12-31 23:59:59.999999999,\"x,\"\"y\"\"\n\",");
  Row more = {I(0),  B(false),   D(INFINITY),        D(-INFINITY), D(1e300), Dec(1230), Dec(0),
              S(""), I(2932896), I(253402300799999), I(0),         S(""),    S("plain")};
  EXPECT_EQ(RowToCsv(s, more),
            "0,false,Infinity,-Infinity,1e+300,12.30,0,\"\",9999-12-31,9999-12-31 23:59:59.999,"
            "1970-01-01 00:00:00.000000000,\"\",plain");
  json j = RowToJson(s, more);
  EXPECT_EQ(j["f"], "Infinity");
  EXPECT_EQ(j["p"], "12.30");
}

TEST(RowJsonTest, TimeExtremes) {
  TableSchema s = MustParse("id INT, dt DATE, dtm DATETIME, ts TIMESTAMP", "id");
  Row low = {I(0), I(-719162), I(-62135596800000), I(kMin64)};
  Row high = {I(1), I(2932896), I(253402300799999), I(kMax64)};
  EXPECT_EQ(RowToCsv(s, low), "0,0001-01-01,0001-01-01 00:00:00.000,1677-09-21 00:12:43.145224192");
  EXPECT_EQ(RowToCsv(s, high),
            "1,9999-12-31,9999-12-31 23:59:59.999,2262-04-11 23:47:16.854775807");
  ExpectJsonRoundTrips(s, {low, high});
}

TEST(RowJsonTest, DecimalExtremesAndRules) {
  TableSchema s = MustParse("id INT, a DECIMAL(38,0), b DECIMAL(38,38), c DECIMAL(10,2)", "id");
  std::string nines(38, '9');
  auto r = RowFromJson(s, json{{"id", 1}, {"a", "-" + nines}, {"b", "0." + nines}, {"c", "+12.3"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[1] == Dec(-MaxDecimal38()));
  EXPECT_TRUE((*r)[2] == Dec(MaxDecimal38()));
  EXPECT_TRUE((*r)[3] == Dec(1230));
  json out = RowToJson(s, *r);
  EXPECT_EQ(out["a"], "-" + nines);
  EXPECT_EQ(out["b"], "0." + nines);
  EXPECT_EQ(out["c"], "12.30");

  auto c = [&](json v) { return RowFromJson(s, json{{"id", 1}, {"c", v}}); };
  EXPECT_TRUE(c(12345678.99).ok());
  EXPECT_TRUE((*c(0.1))[3] == Dec(10));
  EXPECT_TRUE((*c(-7))[3] == Dec(-700));
  EXPECT_TRUE((*c("1.500"))[3] == Dec(150)) << "trailing zeros lose nothing";
  ExpectInvalid(c("1.234"),
                "column 'c' (DECIMAL(10,2)): '1.234' has more than 2 fractional digits");
  ExpectInvalid(c(0.125), "has more than 2 fractional digits");
  ExpectInvalid(c("123456789"), "does not fit DECIMAL(10,2)");
  ExpectInvalid(c(1e20), "does not fit DECIMAL(10,2)");
  ExpectInvalid(c("1e5"), "not a decimal number");
  ExpectInvalid(c(".5"), "not a decimal number");
  ExpectInvalid(c("5."), "not a decimal number");
  ExpectInvalid(c(" 5"), "not a decimal number");
  ExpectInvalid(c(true), "column 'c'");
  ExpectInvalid(RowFromJson(s, json{{"id", 1}, {"a", nines + "0"}}), "does not fit DECIMAL(38,0)");
}

TEST(RowJsonTest, IntegerRules) {
  TableSchema s = MustParse("id BIGINT, t TINYINT, sm SMALLINT, i INT", "id");
  auto with = [&](const char* col, json v) { return RowFromJson(s, json{{"id", 1}, {col, v}}); };
  ExpectInvalid(with("t", 300), "column 't' (TINYINT): 300 is out of range");
  ExpectInvalid(with("t", -129), "-129 is out of range");
  ExpectInvalid(with("sm", 32768), "column 'sm' (SMALLINT): 32768 is out of range");
  ExpectInvalid(with("i", 2147483648LL), "column 'i' (INT): 2147483648 is out of range");
  ExpectInvalid(with("i", "1"), "column 'i' (INT): expected an integer, got string");
  ExpectInvalid(with("i", 1.5), "column 'i' (INT): expected an integer, got non-integer number");
  ExpectInvalid(with("i", 1.0), "expected an integer");
  ExpectInvalid(RowFromJson(s, json::parse(R"({"id": 9223372036854775808})")),
                "column 'id' (BIGINT): 9223372036854775808 is out of range");
  EXPECT_TRUE(with("t", -128).ok());
  EXPECT_TRUE(RowFromJson(s, json::parse(R"({"id": 9223372036854775807})")).ok());
}

TEST(RowJsonTest, OtherTypeRules) {
  TableSchema s = MustParse(
      "id INT, b BOOLEAN, f FLOAT, d DOUBLE, str STRING, bin BINARY, dt DATE, dtm DATETIME, "
      "ts TIMESTAMP",
      "id");
  auto with = [&](const char* col, json v) { return RowFromJson(s, json{{"id", 1}, {col, v}}); };
  ExpectInvalid(with("b", 1), "column 'b' (BOOLEAN): expected true or false, got number");
  ExpectInvalid(with("b", "true"), "got string");
  ExpectInvalid(with("f", "1.5"), "column 'f' (FLOAT)");
  ExpectInvalid(with("f", 1e300), "column 'f' (FLOAT): 1e+300 is out of range");
  ExpectInvalid(with("d", "nan"), "column 'd' (DOUBLE)");
  EXPECT_TRUE(std::isnan(std::get<double>((*with("d", "NaN"))[3])));
  EXPECT_TRUE((*with("f", "Infinity"))[2] == D(INFINITY));
  EXPECT_TRUE((*with("d", 3))[3] == D(3));
  ExpectInvalid(with("str", 5), "column 'str' (STRING): expected a string, got number");
  ExpectInvalid(with("bin", "AQID/w"), "column 'bin' (BINARY)");
  ExpectInvalid(with("bin", "AQ ID/w=="), "column 'bin' (BINARY)");
  ExpectInvalid(with("bin", "AQID_w=="), "column 'bin' (BINARY)");
  ExpectInvalid(with("bin", 5), "column 'bin' (BINARY)");
  EXPECT_TRUE((*with("bin", "AQID/w=="))[5] == S("\x01\x02\x03\xff"));

  ExpectInvalid(with("dt", "2023-02-29"), "column 'dt' (DATE): '2023-02-29' is not a valid DATE");
  ExpectInvalid(with("dt", "0000-01-01"), "column 'dt'");
  ExpectInvalid(with("dt", "2023-1-01"), "column 'dt'");
  ExpectInvalid(with("dt", 5), "column 'dt'");
  EXPECT_TRUE((*with("dt", "2024-02-29"))[6] == I(19782));
  EXPECT_TRUE((*with("dt", "9999-12-31"))[6] == I(2932896));

  EXPECT_TRUE((*with("dtm", "2024-02-29 12:34:56"))[7] == I(1709210096000));
  EXPECT_TRUE((*with("dtm", "2024-02-29T12:34:56.7Z"))[7] == I(1709210096700));
  EXPECT_TRUE((*with("dtm", 1709210096123))[7] == I(1709210096123));
  ExpectInvalid(with("dtm", "2024-02-29 12:34:56.1234"), "column 'dtm' (DATETIME)");
  ExpectInvalid(with("dtm", "2024-02-29 24:00:00"), "column 'dtm'");
  ExpectInvalid(with("dtm", "2024-02-29 12:34:56."), "column 'dtm'");
  ExpectInvalid(with("dtm", "2024-02-29"), "column 'dtm'");
  ExpectInvalid(with("dtm", "2024-02-29 12:34:56ZZ"), "column 'dtm'");
  ExpectInvalid(with("dtm", 253402300800000), "253402300800000 is out of range");
  ExpectInvalid(with("dtm", 1.5), "column 'dtm'");

  EXPECT_TRUE((*with("ts", "2024-02-29 12:34:56.123456789Z"))[8] == I(1709210096123456789));
  EXPECT_TRUE((*with("ts", kMin64))[8] == I(kMin64));
  ExpectInvalid(with("ts", "2024-02-29 12:34:56.1234567890"), "column 'ts' (TIMESTAMP)");
  ExpectInvalid(with("ts", "2263-01-01 00:00:00"),
                "column 'ts' (TIMESTAMP): '2263-01-01 00:00:00' is out of range");
  ExpectInvalid(with("ts", "1677-01-01 00:00:00"), "is out of range");
}

TEST(RowJsonTest, ObjectRules) {
  TableSchema s = MustParse("id INT, k2 STRING, v INT, w STRING NOT NULL, _x INT", "id, k2");
  json full = {{"id", 1}, {"k2", "a"}, {"v", 2}, {"w", "x"}, {"_x", 3}, {"_op", "delete"}};
  absl::StatusOr<Row> r = RowFromJson(s, full);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[4] == I(3)) << "a column may start with '_'";

  ExpectInvalid(RowFromJson(s, json::array()), "expected a JSON object");
  ExpectInvalid(RowFromJson(s, json(5)), "expected a JSON object");
  // `full` changed by `change` is refused with `text`.
  auto refused = [&](const std::function<void(json&)>& change, std::string_view text) {
    json j = full;
    change(j);
    ExpectInvalid(RowFromJson(s, j), text);
  };
  refused([](json& j) { j["vv"] = 1; }, "unknown column 'vv'");
  refused([](json& j) { j.erase("k2"); }, "missing primary-key column 'k2'");
  refused([](json& j) { j["id"] = nullptr; }, "missing primary-key column 'id'");
  refused([](json& j) { j["w"] = nullptr; }, "column 'w' is NOT NULL");
  refused([](json& j) { j.erase("w"); }, "column 'w' is NOT NULL");
  json null_v = full;
  null_v["v"] = nullptr;
  null_v.erase("_x");
  absl::StatusOr<Row> nulls = RowFromJson(s, null_v);
  ASSERT_TRUE(nulls.ok()) << nulls.status();
  EXPECT_TRUE(IsNull((*nulls)[2]));
  EXPECT_TRUE(IsNull((*nulls)[4]));

  // key_only reads just the key, ignoring bad, unknown and missing other members.
  json key = {{"id", 1}, {"k2", "a"}, {"v", "not an int"}, {"zzz", 1}};
  absl::StatusOr<Row> k = RowFromJson(s, key, /*key_only=*/true);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE((*k)[0] == I(1));
  EXPECT_TRUE(IsNull((*k)[2]));
  ExpectInvalid(RowFromJson(s, json{{"id", 1}}, true), "missing primary-key column 'k2'");
  ExpectInvalid(RowFromJson(s, json{{"id", "1"}, {"k2", "a"}}, true), "column 'id' (INT)");
}

TEST(RowJsonTest, OutputKeepsSchemaOrder) {
  TableSchema s = MustParse("zeta INT, alpha INT, mid STRING", "zeta");
  Row row = {I(1), I(2), kNull};
  EXPECT_EQ(RowToJson(s, row).dump(), R"({"zeta":1,"alpha":2,"mid":null})");
}


// ----------------------------------------------------------------------------
// TIMESTAMP_LTZ as text.

TEST(RowTimestampLtzTest, TextForms) {
  TableSchema s = MustParse(
      "id INT, a TIMESTAMP_LTZ(0), b TIMESTAMP_LTZ(3), c TIMESTAMP_LTZ(6), d TIMESTAMP_LTZ(9)",
      "id");
  Row row = {I(1), I(1709210096000000000), I(1709210096123000000), I(-1000), I(-1)};
  EXPECT_EQ(RowToJson(s, row).dump(),
            R"({"id":1,"a":"2024-02-29T12:34:56Z","b":"2024-02-29T12:34:56.123Z",)"
            R"("c":"1969-12-31T23:59:59.999999Z","d":"1969-12-31T23:59:59.999999999Z"})");
  EXPECT_EQ(RowToCsv(s, row),
            "1,2024-02-29T12:34:56Z,2024-02-29T12:34:56.123Z,1969-12-31T23:59:59.999999Z,"
            "1969-12-31T23:59:59.999999999Z");
  Row extremes = {I(2), I(kMin64 / 1000000000 * 1000000000), I(kMin64 / 1000000 * 1000000),
                  I(kMax64 / 1000 * 1000), I(kMax64)};
  EXPECT_EQ(RowToCsv(s, extremes),
            "2,1677-09-21T00:12:44Z,1677-09-21T00:12:43.146Z,2262-04-11T23:47:16.854775Z,"
            "2262-04-11T23:47:16.854775807Z");
  ExpectJsonRoundTrips(s, {row, extremes});
}

TEST(RowTimestampLtzTest, JsonInputRules) {
  TableSchema s = MustParse("id INT, t TIMESTAMP_LTZ(3), n TIMESTAMP_LTZ(9)", "id");
  auto with = [&](const char* col, json v) { return RowFromJson(s, json{{"id", 1}, {col, v}}); };
  auto t = [&](json v) { return (*with("t", v))[1]; };
  EXPECT_TRUE(t("2024-02-29T12:34:56.123Z") == I(1709210096123000000));
  EXPECT_TRUE(t("2024-02-29 12:34:56.1Z") == I(1709210096100000000));
  EXPECT_TRUE(t("2024-02-29T12:34:56.123000000Z") == I(1709210096123000000));
  EXPECT_TRUE(t("2024-02-29T20:34:56.123+08:00") == I(1709210096123000000));
  EXPECT_TRUE(t("2024-02-29T01:04:56.123-11:30") == I(1709210096123000000));
  EXPECT_TRUE(t("1970-01-01T00:00:00-00:00") == I(0));
  EXPECT_TRUE(t(1709210096123000000) == I(1709210096123000000));
  EXPECT_TRUE((*with("n", "1677-09-21T00:12:43.145224192Z"))[2] == I(kMin64));
  EXPECT_TRUE((*with("n", "2262-04-11T23:47:16.854775807Z"))[2] == I(kMax64));
  EXPECT_TRUE((*with("n", kMax64))[2] == I(kMax64));

  // An instant names its zone.
  ExpectInvalid(with("t", "2024-02-29 12:34:56"),
                "column 't' (TIMESTAMP_LTZ(3)): '2024-02-29 12:34:56' is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-29T12:34:56ZZ"), "is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-29T12:34:56+8:00"), "is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-29T12:34:56+19:00"), "is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-29T12:34:56+08:60"), "is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-29T12:34:56.1234567890Z"), "is not a valid TIMESTAMP_LTZ");
  ExpectInvalid(with("t", "2024-02-30T12:34:56Z"), "is not a valid TIMESTAMP_LTZ");
  // Digits finer than the precision are refused, never rounded away.
  ExpectInvalid(with("t", "2024-02-29T12:34:56.1234Z"),
                "column 't' (TIMESTAMP_LTZ(3)): '2024-02-29T12:34:56.1234Z' has digits finer than "
                "the precision");
  ExpectInvalid(with("t", 1709210096123000001), "1709210096123000001 has digits finer");
  ExpectInvalid(with("t", kMin64), "has digits finer");
  ExpectInvalid(with("n", "2262-04-11T23:47:16.854775808Z"), "is out of range");
  ExpectInvalid(with("n", "2262-04-12T07:47:16.854775807+07:59"), "is out of range");
  ExpectInvalid(with("n", "1677-09-21T00:12:43.145224191Z"), "is out of range");
  ExpectInvalid(with("n", 1.5), "column 'n' (TIMESTAMP_LTZ(9)): expected");
  ExpectInvalid(with("n", true), "got boolean");
}

// ---------------------------------------------------------------------------
// Nested columns (ARRAY, MAP, STRUCT): held in a Row as their nested encoding.

TableSchema NestedSchema() {
  return MustParse(
      "id BIGINT, tags ARRAY<STRING>, attrs MAP<STRING,BIGINT>, "
      "pt STRUCT<x:DOUBLE, y:DECIMAL(10,2), when:TIMESTAMP_LTZ(3), raw:BINARY>, "
      "deep ARRAY<MAP<INT,ARRAY<STRUCT<a:BOOLEAN,b:STRING>>>>, byday MAP<DATE,STRING>",
      "id");
}

Row NestedFromJsonOrDie(const TableSchema& s, std::string_view text) {
  absl::StatusOr<Row> row = RowFromJson(s, json::parse(text));
  EXPECT_TRUE(row.ok()) << row.status() << " for " << text;
  return row.ok() ? *row : Row(s.columns().size());
}

TEST(RowNestedTest, JsonValueAndCsvRoundTrip) {
  TableSchema s = NestedSchema();
  const std::string text =
      R"({"id":7,"tags":["a",null,"","c,\"d\""],"attrs":{"k1":1,"k2":null},)"
      R"("pt":{"x":1.5,"y":"12.30","when":"2024-02-29T12:34:56.123Z","raw":"AAE="},)"
      R"("deep":[{"-2":[],"1":[{"a":true,"b":"x"},null,{"a":null,"b":null}]},null,{}],)"
      R"("byday":{"2024-02-29":"leap"}})";
  Row row = NestedFromJsonOrDie(s, text);
  EXPECT_EQ(RowToJson(s, row).dump(), text);
  std::string key = EncodeKey(s, row);
  std::string value;
  AppendUpsertValue(s, row, &value);
  absl::StatusOr<Row> decoded = DecodeRow(s, key, value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == row);
  EXPECT_EQ(RowToJson(s, *decoded).dump(), text);
  // CSV holds each nested value as its compact JSON text.
  EXPECT_EQ(RowToCsv(s, row).rfind(R"(7,"[""a"",null,"""",""c,\""d\""""]",)", 0), 0u)
      << RowToCsv(s, row);

  // Empty containers, all-NULL fields, and NULL columns.
  const std::string empty =
      R"({"id":8,"tags":[],"attrs":{},"pt":{"x":null,"y":null,"when":null,"raw":null},)"
      R"("deep":null,"byday":null})";
  Row e = NestedFromJsonOrDie(s, empty);
  EXPECT_EQ(RowToJson(s, e).dump(), empty);
  value.clear();
  AppendUpsertValue(s, e, &value);
  decoded = DecodeRow(s, EncodeKey(s, e), value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == e);
}

TEST(RowNestedTest, EncodingIsTheDocumentedOne) {
  TableSchema s = MustParse("id INT, a ARRAY<INT>, m MAP<STRING,SMALLINT>, t STRUCT<p:TINYINT,q:STRING>", "id");
  Row row = NestedFromJsonOrDie(s, R"({"id":1,"a":[5,null,-1],"m":[["k",2],["",null]],"t":{"q":"z"}})");
  // ARRAY: count 3, bitmap 0b010, elements 5 and -1 as INT.
  EXPECT_EQ(Hex(StringOf(row[1])), "03 02 05 00 00 00 ff ff ff ff");
  // MAP: count 2, bitmap over values 0b01, "" -> NULL, "k" -> 2 (ordered by key text).
  EXPECT_EQ(Hex(StringOf(row[2])), "02 01 00 01 6b 02 00");
  // STRUCT: bitmap over the fields 0b01 (p NULL), then q.
  EXPECT_EQ(Hex(StringOf(row[3])), "01 01 7a");
  std::string value;
  AppendUpsertValue(s, row, &value);
  // op, value bitmap, then each nested value after its LEB128 length.
  EXPECT_EQ(Hex(value), "01 00 0a 03 02 05 00 00 00 ff ff ff ff 07 02 01 00 01 6b 02 00 03 01 01 7a");
}

TEST(RowNestedTest, JsonInputErrorsNameThePlace) {
  TableSchema s = NestedSchema();
  auto expect = [&](std::string_view text, std::string_view message) {
    absl::StatusOr<Row> row = RowFromJson(s, json::parse(text));
    ASSERT_FALSE(row.ok()) << text;
    EXPECT_EQ(row.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(row.status().message()), HasSubstr(std::string(message))) << text;
  };
  expect(R"({"id":1,"tags":"a"})", "column 'tags' (ARRAY<STRING>): expected an array, got string");
  expect(R"({"id":1,"tags":["a",2]})", "column 'tags' (ARRAY<STRING>): [1] (STRING): expected a string");
  expect(R"({"id":1,"attrs":{"k":"v"}})", "column 'attrs' (MAP<STRING,BIGINT>): {k} (BIGINT): expected an integer");
  expect(R"({"id":1,"attrs":[["k",1],["k",2]]})", "duplicate MAP key \"k\"");
  expect(R"({"id":1,"attrs":[["k",1,2]]})", "array of [key, value] pairs");
  expect(R"({"id":1,"attrs":[[null,1]]})", "MAP keys are never NULL");
  expect(R"({"id":1,"pt":{"x":1,"nope":2}})", "unknown STRUCT field 'nope'");
  expect(R"({"id":1,"pt":{"y":"1.234"}})", "column 'pt' (STRUCT<");
  expect(R"({"id":1,"pt":{"when":"2024-02-29T12:34:56.1234Z"}})", ".when (TIMESTAMP_LTZ(3))");
  expect(R"({"id":1,"deep":[{"x":[]}]})", "[0]{x} (INT)");
  expect(R"({"id":1,"deep":[{"1":[{"a":1}]}]})", "[0]{1}[0].a (BOOLEAN)");
  expect(R"({"id":1,"byday":{"2024-02-30":"x"}})", "{2024-02-30} (DATE)");
  // A MAP with non-string keys reads as an object keyed by the key's text or
  // as [key, value] pairs; it is written as the object, its entries in the
  // order of their keys' text (as an object's members are read back).
  Row a = NestedFromJsonOrDie(s, R"({"id":1,"deep":[[[3,[]],[-4,null],[10,[]]]]})");
  EXPECT_EQ(RowToJson(s, a)["deep"].dump(), R"([{"-4":null,"10":[],"3":[]}])");
  Row b = NestedFromJsonOrDie(s, RowToJson(s, a).dump());
  EXPECT_TRUE(a == b);
}

TEST(RowNestedTest, MalformedStoredBytesAreDataLoss) {
  TableSchema s = MustParse("id INT, a ARRAY<INT>, t STRUCT<p:BOOLEAN,q:ARRAY<STRING>>", "id");
  Row row = NestedFromJsonOrDie(s, R"({"id":1,"a":[1,null,3],"t":{"p":true,"q":["x"]}})");
  std::string good;
  AppendUpsertValue(s, row, &good);
  ASSERT_TRUE(DecodeRow(s, EncodeKey(s, row), good).ok());
  auto expect = [&](std::string value, std::string_view message) {
    absl::StatusOr<Row> r = DecodeRow(s, EncodeKey(s, row), value);
    ASSERT_FALSE(r.ok()) << Hex(value);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(message)));
  };
  ASSERT_EQ(Hex(good), "01 00 0a 03 02 01 00 00 00 03 00 00 00 07 00 01 04 01 00 01 78");
  std::string v = good;
  v[3] = 4;  // count 4 with three elements' bytes
  expect(v, "ARRAY column 'a'");
  v = good;
  v[4] = 0x0a;  // a bit past the count
  expect(v, "bits set past the last entry");
  v = good;
  v[3] = 0x7f;  // count larger than the bytes can hold
  expect(v, "exceeds the bytes left");
  v = good;
  v[15] = 2;  // boolean byte 2 in field p
  expect(v, "field 'p': corrupt value: bad boolean byte");
  v = good;
  v[16] = 9;  // inner array length runs past the struct
  expect(v, "field 'q': truncated nested value");
  v = good;
  v[2] = 9;  // outer length one short: the last element is cut
  expect(v, "ARRAY column 'a'");
  v = good.substr(0, good.size() - 1);
  expect(v, "STRUCT column 't'");
  v = good;
  v[3] = static_cast<char>(0x80);  // a two-byte count (256) the bytes cannot hold
  expect(v, "exceeds the bytes left");
}

TEST(RowNestedTest, ValidateNestedInputChecksLeaves) {
  TableSchema s = MustParse("id INT, t STRUCT<s:STRING,d:DECIMAL(3,1),l:TIMESTAMP_LTZ(0),dt:DATE>", "id");
  const Column& t = s.columns()[1];
  Row row = NestedFromJsonOrDie(s, R"({"id":1,"t":{"s":"ok"}})");
  EXPECT_TRUE(ValidateNested(t, StringOf(row[1]), NestedCheck::kInput).ok());
  // STRUCT: bitmap 0b1110 (d, l, dt NULL), s = "\xff".
  std::string bad_utf8 = std::string("\x0e\x01\xff", 3);
  EXPECT_TRUE(ValidateNested(t, bad_utf8, NestedCheck::kLayout).ok());
  absl::Status st = ValidateNested(t, bad_utf8, NestedCheck::kInput);
  EXPECT_THAT(std::string(st.message()), HasSubstr("field 's': invalid UTF-8"));
  std::string big_decimal = std::string("\x0d", 1);  // only d present
  __int128 thousand = 1000;
  big_decimal.append(reinterpret_cast<const char*>(&thousand), 16);
  EXPECT_TRUE(ValidateNested(t, big_decimal, NestedCheck::kLayout).ok());
  st = ValidateNested(t, big_decimal, NestedCheck::kInput);
  EXPECT_THAT(std::string(st.message()), HasSubstr("field 'd': DECIMAL value does not fit"));
  std::string fine_ltz = std::string("\x0b", 1);  // only l present
  int64_t nanos = 1500000000;
  fine_ltz.append(reinterpret_cast<const char*>(&nanos), 8);
  st = ValidateNested(t, fine_ltz, NestedCheck::kInput);
  EXPECT_THAT(std::string(st.message()), HasSubstr("finer than the precision"));
}


}  // namespace
}  // namespace deltasidecar::table
