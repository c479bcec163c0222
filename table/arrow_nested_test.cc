// Nested columns (ARRAY, MAP, STRUCT) through the row codec, the JSON text
// form, CSV output and the Arrow reader, checked against the shared vectors of
// tests/vectors/nested_values.json (which the Python and Java codecs check
// too). The Arrow side is read back into the binary encoding from the Arrow
// buffers alone, so a vector's bytes are compared with what a consumer of the
// C data interface sees.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/arrow_c_api.h"
#include "table/arrow_reader.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"
#include "table/testing/arrow_value_encoding.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing_support::Encode;
using testing_support::Valid;

struct Vector {
  std::string type;
  nlohmann::ordered_json value;  // the JSON text form, members in the file's order
  std::string bytes;  // the nested encoding
};

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(digits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(digits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::vector<Vector> LoadVectors() {
  std::ifstream in(NESTED_VECTORS);
  EXPECT_TRUE(in.good()) << NESTED_VECTORS;
  auto doc = nlohmann::ordered_json::parse(in);
  std::vector<Vector> out;
  for (const auto& v : doc.at("vectors")) {
    out.push_back({v.at("type").get<std::string>(), v.at("json"), FromHex(v.at("hex").get<std::string>())});
  }
  return out;
}

// The schema "id BIGINT, v0 <type 0>, v1 <type 1>, ..." of all vectors.
TableSchema VectorSchema(const std::vector<Vector>& vectors) {
  std::string columns = "id BIGINT";
  for (size_t i = 0; i < vectors.size(); ++i) columns += Cat(", v", i, " ", vectors[i].type);
  auto schema = TableSchema::Parse(columns, "id", 2);
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

// Strips the length before a nested value's encoding.
std::string Body(const std::string& encoded) {
  const char* p = encoded.data();
  uint64_t n = 0;
  EXPECT_EQ(GetVarint(&p, encoded.data() + encoded.size(), &n), VarintResult::kOk);
  return std::string(p, n);
}

TEST(NestedVectorsTest, JsonFormEncodesToTheVectorBytesAndPrintsBackAsJsonAndCsv) {
  for (const Vector& v : LoadVectors()) {
    SCOPED_TRACE(v.type);
    auto schema = TableSchema::Parse(Cat("id BIGINT, v ", v.type), "id", 1);
    ASSERT_TRUE(schema.ok()) << schema.status();
    auto row = RowFromJson(*schema, json{{"id", 1}, {"v", json::parse(v.value.dump())}});
    ASSERT_TRUE(row.ok()) << row.status();
    EXPECT_EQ(Hex(StringOf((*row)[1])), Hex(v.bytes));
    EXPECT_EQ(RowToJson(*schema, *row)["v"].dump(), v.value.dump());
    // CSV: the value's compact JSON text, quoted when RFC 4180 needs it.
    std::string csv = RowToCsv(*schema, *row);
    while (!csv.empty() && (csv.back() == '\n' || csv.back() == '\r')) csv.pop_back();
    ASSERT_EQ(csv.substr(0, 2), "1,");
    std::string field = csv.substr(2);
    if (!field.empty() && field.front() == '"') {
      ASSERT_EQ(field.back(), '"');
      field = field.substr(1, field.size() - 2);
      for (size_t q = field.find("\"\""); q != std::string::npos; q = field.find("\"\"", q + 1)) {
        field.erase(q, 1);
      }
    }
    EXPECT_EQ(field, v.value.dump());
    // Stored and decoded again, the value is the same bytes.
    std::string value;
    AppendUpsertValue(*schema, *row, &value);
    auto back = DecodeRow(*schema, EncodeKey(*schema, *row), value);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(Hex(StringOf((*back)[1])), Hex(v.bytes));
  }
}

class ArrowNestedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vectors_ = LoadVectors();
    schema_ = VectorSchema(vectors_);
    root_ = fs::path(::testing::TempDir()) / ("arrow_nested_test_" + RandomId());
    ASSERT_TRUE(Table::Create(root_, "t", schema_).ok());
    auto t = Table::Open(root_, "t", {});
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = std::move(*t);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Row `id`: every vector's value when `id` is odd, every column NULL when even.
  Row MakeRow(int64_t id) {
    Row row{Value(id)};
    for (const Vector& v : vectors_) row.push_back(id % 2 == 1 ? Value(v.bytes) : Value());
    return row;
  }

  int64_t Commit(const std::vector<std::pair<std::string, std::string>>& entries) {
    auto w = table_->NewCommit({});
    EXPECT_TRUE(w.ok());
    for (const auto& [key, value] : entries) EXPECT_TRUE((*w)->Add(key, value).ok());
    auto done = (*w)->Finish();
    EXPECT_TRUE(done.ok()) << done.status();
    return done->snapshot_id;
  }

  std::pair<std::string, std::string> Upsert(int64_t id) {
    Row row = MakeRow(id);
    std::string value;
    AppendUpsertValue(schema_, row, &value);
    return {EncodeKey(schema_, row), value};
  }

  // Checks every batch of `stream` against MakeRow; returns the rows seen.
  int64_t CheckStream(ArrowArrayStream* stream, const std::vector<int>& columns, bool with_op) {
    ArrowSchema schema;
    EXPECT_EQ(stream->get_schema(stream, &schema), 0);
    int64_t rows = 0;
    while (true) {
      ArrowArray batch;
      int rc = stream->get_next(stream, &batch);
      EXPECT_EQ(rc, 0) << (stream->get_last_error(stream) ? stream->get_last_error(stream) : "");
      if (rc != 0 || batch.release == nullptr) break;
      const ArrowArray* ids = batch.children[0];
      for (int64_t i = 0; i < batch.length; ++i) {
        int64_t id;
        std::memcpy(&id, static_cast<const char*>(ids->buffers[1]) + 8 * i, 8);
        const bool deleted = with_op && Encode(schema.children[batch.n_children - 1],
                                               batch.children[batch.n_children - 1], i) == "\x06" "delete";
        Row expected = MakeRow(id);
        for (size_t c = 1; c < columns.size(); ++c) {
          SCOPED_TRACE(Cat("row ", id, " column ", schema.children[c]->name));
          const ArrowArray* a = batch.children[c];
          const Value& want = expected[columns[c]];
          if (deleted || IsNull(want)) {
            EXPECT_FALSE(Valid(a, i));
          } else {
            EXPECT_TRUE(Valid(a, i));
            EXPECT_EQ(Hex(Body(Encode(schema.children[c], a, i))), Hex(StringOf(want)));
          }
        }
        ++rows;
      }
      batch.release(&batch);
    }
    schema.release(&schema);
    stream->release(stream);
    return rows;
  }

  std::vector<Vector> vectors_;
  TableSchema schema_;
  fs::path root_;
  std::shared_ptr<Table> table_;
};

TEST_F(ArrowNestedTest, SchemaMapsArrayMapAndStruct) {
  ArrowSchema s;
  ASSERT_TRUE(ExportArrowSchema(schema_, {}, /*with_op=*/false, &s).ok());
  // ARRAY<INT>: a list of a nullable int32 "element".
  const ArrowSchema* list = s.children[1];
  EXPECT_EQ(std::string(list->format), "+l");
  ASSERT_EQ(list->n_children, 1);
  EXPECT_EQ(std::string(list->children[0]->name), "element");
  EXPECT_EQ(std::string(list->children[0]->format), "i");
  EXPECT_NE(list->children[0]->flags & ARROW_FLAG_NULLABLE, 0);
  // MAP<STRING,SMALLINT>: a map of entries {key not null, value nullable}.
  const ArrowSchema* map = s.children[2];
  EXPECT_EQ(std::string(map->format), "+m");
  ASSERT_EQ(map->n_children, 1);
  const ArrowSchema* entries = map->children[0];
  EXPECT_EQ(std::string(entries->format), "+s");
  EXPECT_EQ(entries->flags & ARROW_FLAG_NULLABLE, 0);
  ASSERT_EQ(entries->n_children, 2);
  EXPECT_EQ(std::string(entries->children[0]->name), "key");
  EXPECT_EQ(std::string(entries->children[0]->format), "u");
  EXPECT_EQ(entries->children[0]->flags & ARROW_FLAG_NULLABLE, 0);
  EXPECT_EQ(std::string(entries->children[1]->name), "value");
  EXPECT_EQ(std::string(entries->children[1]->format), "s");
  EXPECT_NE(entries->children[1]->flags & ARROW_FLAG_NULLABLE, 0);
  // STRUCT<p:TINYINT,q:STRING>: a struct of its fields.
  const ArrowSchema* st = s.children[3];
  EXPECT_EQ(std::string(st->format), "+s");
  ASSERT_EQ(st->n_children, 2);
  EXPECT_EQ(std::string(st->children[0]->name), "p");
  EXPECT_EQ(std::string(st->children[1]->format), "u");
  s.release(&s);
}

TEST_F(ArrowNestedTest, ScanGivesEveryVectorBackFromTheArrowBuffers) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (int64_t id = 0; id < 200; ++id) entries.push_back(Upsert(id));
  const int64_t snapshot = Commit(entries);
  auto snap = table_->SnapshotById(snapshot);
  ASSERT_TRUE(snap.ok());
  for (int threads : {1, 2}) {
    ArrowReadOptions options;
    options.threads = threads;
    options.batch_rows = 7;  // many batches: offsets restart in each
    ArrowArrayStream stream;
    ASSERT_TRUE(ScanToArrow(table_, *snap, options, &stream).ok());
    std::vector<int> all;
    for (size_t c = 0; c < schema_.columns().size(); ++c) all.push_back(static_cast<int>(c));
    EXPECT_EQ(CheckStream(&stream, all, false), 200);
  }
  // A projection of nested columns only, in another order.
  ArrowReadOptions options;
  options.columns = {0, 9, 1, 6};
  ArrowArrayStream stream;
  ASSERT_TRUE(ScanToArrow(table_, *snap, options, &stream).ok());
  EXPECT_EQ(CheckStream(&stream, options.columns, false), 200);
}

TEST_F(ArrowNestedTest, ChangesCarryNestedValuesAndDeletes) {
  const int64_t first = Commit({Upsert(1), Upsert(2)});
  const int64_t second = Commit({Upsert(3), {EncodeKey(schema_, MakeRow(1)), std::string(DeleteValue())}});
  ArrowReadOptions options;
  options.columns = {0, 1, 5, 9};
  ArrowArrayStream stream;
  ASSERT_TRUE(ChangesToArrow(table_, first, second, options, &stream).ok());
  EXPECT_EQ(CheckStream(&stream, options.columns, true), 2);
}

TEST_F(ArrowNestedTest, DamagedNestedValueIsDataLossNamingTheColumn) {
  Row row = MakeRow(1);
  // ARRAY<INT> [5, NULL, -1] with a bitmap bit set past its 3 elements.
  std::string bad = vectors_[0].bytes;
  bad[1] = static_cast<char>(bad[1] | 0x80);
  row[1] = Value(bad);
  std::string value;
  AppendUpsertValue(schema_, row, &value);
  const int64_t snapshot = Commit({{EncodeKey(schema_, row), value}});
  auto snap = table_->SnapshotById(snapshot);
  ASSERT_TRUE(snap.ok());
  ArrowReadOptions options;
  options.columns = {0, 1};
  ArrowArrayStream stream;
  ASSERT_TRUE(ScanToArrow(table_, *snap, options, &stream).ok());
  ArrowArray batch;
  EXPECT_EQ(stream.get_next(&stream, &batch), EBADMSG);
  EXPECT_THAT(std::string(stream.get_last_error(&stream)),
              ::testing::AllOf(::testing::HasSubstr("null bitmap has bits set past the last entry"),
                               ::testing::HasSubstr("column 'v0'")));
  stream.release(&stream);
}

}  // namespace
}  // namespace deltasidecar::table
