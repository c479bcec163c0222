// ReadService on a real table in a temporary directory, without gRPC or a
// sidecar: the table is written through table::Table directly.
#include "sidecar/read_service.h"

#include <filesystem>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/wire_rows.h"
#include "table/base/file_util.h"
#include "table/mutation_batch.h"
#include "table/row.h"

namespace deltasidecar::sidecar {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTable[] = "orders";

table::Row MakeRow(int64_t id, std::string name) { return {id, std::move(name)}; }

class ReadServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::path(::testing::TempDir()) / ("read_service_test_" + RandomId())).string();
    fs::create_directories(root_);
    auto schema = table::TableSchema::Parse("id BIGINT, name STRING", "id", 2);
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *schema;
    ASSERT_TRUE(table::Table::Create(root_, kTable, schema_).ok());
    auto opened = table::Table::Open(root_, kTable);
    ASSERT_TRUE(opened.ok()) << opened.status();
    table_ = std::move(*opened);
  }
  void TearDown() override {
    table_.reset();
    fs::remove_all(root_);
  }

  ReadService Service() {
    return ReadService([this](const std::string& name)
                           -> absl::StatusOr<std::shared_ptr<table::Table>> {
      if (name != kTable) return absl::NotFoundError("no table " + name);
      return table_;
    });
  }

  // Commits upserts of `upserts` and deletes of the ids in `deletes`; returns the snapshot id.
  int64_t Commit(const std::vector<table::Row>& upserts, const std::vector<int64_t>& deletes = {}) {
    table::MutationBatch batch;
    for (const auto& r : upserts) batch.Upsert(schema_, r);
    for (int64_t id : deletes) batch.Delete(schema_, MakeRow(id, ""));
    auto result = table_->Commit(batch);
    EXPECT_TRUE(result.ok()) << result.status();
    auto latest = table_->LatestSnapshot();
    EXPECT_TRUE(latest.ok()) << latest.status();
    return (*latest)->id;
  }

  // The rows of streamed messages (op and id -> name), and the messages' snapshot ids.
  std::map<int64_t, std::pair<table::RowOp, std::string>> Decode(
      const std::vector<v1::ScanResponse>& messages, std::vector<int64_t>* snapshots) {
    std::map<int64_t, std::pair<table::RowOp, std::string>> out;
    for (const auto& m : messages) {
      snapshots->push_back(m.snapshot_id());
      std::vector<std::pair<table::RowOp, table::Row>> rows;
      absl::Status s =
          ParseWireRows(schema_, m.batch().rows(), m.batch().row_count(), WireLimits(), &rows);
      EXPECT_TRUE(s.ok()) << s;
      for (const auto& [op, row] : rows) {
        out[table::IntOf(row[0])] = {op, op == table::RowOp::kUpsert
                                             ? std::string(table::StringOf(row[1]))
                                             : std::string()};
      }
    }
    return out;
  }

  std::string root_;
  table::TableSchema schema_;
  std::shared_ptr<table::Table> table_;
};

TEST_F(ReadServiceTest, DescribesTheTable) {
  const int64_t snap = Commit({MakeRow(1, "a")});
  v1::DescribeTableRequest req;
  req.set_table(kTable);
  v1::DescribeTableResponse resp;
  ASSERT_TRUE(Service().DescribeTable(req, &resp).ok());
  EXPECT_EQ(resp.table(), kTable);
  ASSERT_EQ(resp.columns_size(), 2);
  EXPECT_EQ(resp.columns(0).name(), "id");
  EXPECT_EQ(resp.columns(0).type(), "BIGINT");
  EXPECT_EQ(resp.columns(1).name(), "name");
  EXPECT_THAT(resp.primary_key(), ElementsAre("id"));
  EXPECT_EQ(resp.buckets(), 2);
  EXPECT_EQ(resp.latest_snapshot_id(), snap);
}

TEST_F(ReadServiceTest, UnknownTableIsNotFound) {
  v1::HistoryRequest req;
  req.set_table("missing");
  v1::HistoryResponse resp;
  EXPECT_TRUE(absl::IsNotFound(Service().History(req, &resp)));
}

TEST_F(ReadServiceTest, ScansTheLatestOrASelectedSnapshot) {
  const int64_t first = Commit({MakeRow(1, "a"), MakeRow(2, "b")});
  const int64_t second = Commit({MakeRow(3, "c"), MakeRow(1, "a2")}, {2});
  const ReadService service = Service();

  std::vector<v1::ScanResponse> messages;
  auto sink = [&](const v1::ScanResponse& m) {
    messages.push_back(m);
    return absl::OkStatus();
  };
  v1::ScanRequest req;
  req.set_table(kTable);
  ASSERT_TRUE(service.Scan(req, sink).ok());
  std::vector<int64_t> snaps;
  auto rows = Decode(messages, &snaps);
  EXPECT_THAT(snaps, ElementsAre(second));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].second, "a2");
  EXPECT_EQ(rows[3].second, "c");

  messages.clear();
  snaps.clear();
  req.mutable_snapshot()->set_snapshot_id(first);
  ASSERT_TRUE(service.Scan(req, sink).ok());
  rows = Decode(messages, &snaps);
  EXPECT_THAT(snaps, ElementsAre(first));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].second, "a");
  EXPECT_EQ(rows[2].second, "b");
}

TEST_F(ReadServiceTest, AnEmptyReadStillNamesItsSnapshot) {
  const ReadService service = Service();
  std::vector<v1::ScanResponse> messages;
  v1::ScanRequest req;
  req.set_table(kTable);
  ASSERT_TRUE(service
                  .Scan(req,
                        [&](const v1::ScanResponse& m) {
                          messages.push_back(m);
                          return absl::OkStatus();
                        })
                  .ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].batch().row_count(), 0u);
}

TEST_F(ReadServiceTest, LargeScansAreSplitAndASinkErrorEndsThem) {
  std::vector<table::Row> many;
  for (int64_t i = 0; i < ReadService::kBatchRows + 10; ++i) many.push_back(MakeRow(i, "x"));
  Commit(many);
  const ReadService service = Service();
  v1::ScanRequest req;
  req.set_table(kTable);
  std::vector<uint32_t> counts;
  ASSERT_TRUE(service
                  .Scan(req,
                        [&](const v1::ScanResponse& m) {
                          counts.push_back(m.batch().row_count());
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_THAT(counts, ElementsAre(ReadService::kBatchRows, 10u));

  int calls = 0;
  absl::Status s = service.Scan(req, [&](const v1::ScanResponse&) {
    ++calls;
    return absl::CancelledError("gone");
  });
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(calls, 1);
}

TEST_F(ReadServiceTest, GetsOneKey) {
  const int64_t snap = Commit({MakeRow(7, "seven")});
  const ReadService service = Service();
  v1::GetRequest req;
  req.set_table(kTable);
  AppendWireRow(schema_, table::RowOp::kDelete, MakeRow(7, ""), req.mutable_key()->mutable_rows());
  req.mutable_key()->set_row_count(1);
  v1::GetResponse resp;
  ASSERT_TRUE(service.Get(req, &resp).ok());
  EXPECT_TRUE(resp.found());
  EXPECT_EQ(resp.snapshot_id(), snap);
  std::vector<std::pair<table::RowOp, table::Row>> rows;
  ASSERT_TRUE(ParseWireRows(schema_, resp.row().rows(), resp.row().row_count(), WireLimits(), &rows)
                  .ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(table::StringOf(rows[0].second[1]), "seven");

  req.mutable_key()->clear_rows();
  AppendWireRow(schema_, table::RowOp::kDelete, MakeRow(8, ""), req.mutable_key()->mutable_rows());
  resp.Clear();
  ASSERT_TRUE(service.Get(req, &resp).ok());
  EXPECT_FALSE(resp.found());

  req.mutable_key()->set_row_count(2);
  absl::Status bad = service.Get(req, &resp);
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_THAT(std::string(bad.message()), HasSubstr("key: "));
}

TEST_F(ReadServiceTest, ChangesAndHistory) {
  const int64_t first = Commit({MakeRow(1, "a"), MakeRow(2, "b")});
  const int64_t second = Commit({MakeRow(3, "c")}, {1});
  const ReadService service = Service();

  std::vector<v1::ScanResponse> messages;
  v1::ChangesRequest changes;
  changes.set_table(kTable);
  changes.set_from_snapshot_id(first);
  ASSERT_TRUE(service
                  .Changes(changes,
                           [&](const v1::ScanResponse& m) {
                             messages.push_back(m);
                             return absl::OkStatus();
                           })
                  .ok());
  std::vector<int64_t> snaps;
  auto rows = Decode(messages, &snaps);
  EXPECT_THAT(snaps, ElementsAre(second));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].first, table::RowOp::kDelete);
  EXPECT_EQ(rows[3].first, table::RowOp::kUpsert);

  changes.set_to_snapshot_id(first - 1);
  EXPECT_TRUE(absl::IsInvalidArgument(
      service.Changes(changes, [](const v1::ScanResponse&) { return absl::OkStatus(); })));

  v1::HistoryRequest history;
  history.set_table(kTable);
  v1::HistoryResponse resp;
  ASSERT_TRUE(service.History(history, &resp).ok());
  ASSERT_GE(resp.snapshots_size(), 2);
  EXPECT_EQ(resp.snapshots(resp.snapshots_size() - 1).id(), second);
  EXPECT_EQ(resp.snapshots(resp.snapshots_size() - 1).deletes(), 1u);
}

}  // namespace
}  // namespace deltasidecar::sidecar
