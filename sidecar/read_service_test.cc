// ReadService on a real table in a temporary directory, without gRPC or a
// sidecar: the table is written through table::Table directly.
#include "sidecar/read_service.h"

#include <filesystem>
#include <fstream>
#include <cstring>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/wire_rows.h"
#include "table/arrow_ipc_writer.h"
#include "table/arrow_reader.h"
#include "table/base/absl_compat.h"
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

TEST_F(ReadServiceTest, AScanOfSomeBucketsReturnsTheirRowsBucketByBucket) {
  std::vector<table::Row> rows;
  for (int64_t i = 0; i < 200; ++i) rows.push_back(MakeRow(i, "n" + std::to_string(i)));
  const int64_t snap = Commit(rows, {7});
  const ReadService service = Service();
  auto scan = [&](std::vector<uint32_t> buckets, absl::Status* status) {
    std::vector<v1::ScanResponse> messages;
    v1::ScanRequest req;
    req.set_table(kTable);
    for (uint32_t b : buckets) req.add_buckets(b);
    *status = service.Scan(req, [&](const v1::ScanResponse& m) {
      messages.push_back(m);
      return absl::OkStatus();
    });
    return messages;
  };
  absl::Status s;
  std::vector<int64_t> snaps;
  auto all = Decode(scan({}, &s), &snaps);
  ASSERT_TRUE(s.ok()) << s;
  auto b0 = Decode(scan({0}, &s), &snaps);
  ASSERT_TRUE(s.ok()) << s;
  auto b1 = Decode(scan({1}, &s), &snaps);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(snaps, ::testing::Each(snap));
  EXPECT_EQ(all.size(), 199u);
  EXPECT_FALSE(b0.empty());
  EXPECT_FALSE(b1.empty());
  // Each key is in exactly the bucket it hashes to: the two halves are the whole.
  auto both = b0;
  both.insert(b1.begin(), b1.end());
  EXPECT_EQ(both.size(), b0.size() + b1.size());
  EXPECT_EQ(both, all);
  for (const auto& [id, op_name] : b1) {
    auto key = table::EncodeKey(schema_, MakeRow(id, ""));
    EXPECT_EQ(table::BucketOf(key, 2), 1) << id;
  }
  // Both buckets in the order given: bucket 1's rows first.
  std::vector<v1::ScanResponse> messages = scan({1, 0}, &s);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<std::pair<table::RowOp, table::Row>> ordered;
  for (const auto& m : messages) {
    ASSERT_TRUE(ParseWireRows(schema_, m.batch().rows(), m.batch().row_count(), WireLimits(),
                              &ordered).ok());
  }
  ASSERT_EQ(ordered.size(), 199u);
  EXPECT_TRUE(b1.count(table::IntOf(ordered.front().second[0])));
  EXPECT_TRUE(b0.count(table::IntOf(ordered.back().second[0])));

  scan({2}, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("bucket 2 is not below the table's bucket count 2"));
  scan({1, 1}, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("named twice"));
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

TEST_F(ReadServiceTest, FollowSendsEachAppendSnapshotOnceAndMovesTheConsumer) {
  const int64_t first = Commit({MakeRow(1, "a"), MakeRow(2, "b")});
  const int64_t second = Commit({MakeRow(1, "a2"), MakeRow(2, "b2")});
  auto compacted = table_->Compact(/*full=*/true);
  ASSERT_TRUE(compacted.ok() && compacted->has_value()) << compacted.status();
  const ReadService service = Service();

  v1::FollowChangesRequest request;
  request.set_table(kTable);
  request.set_from_snapshot_id(first - 1);
  request.set_consumer("c");
  std::vector<v1::ScanResponse> messages;
  auto sink = [&](const v1::ScanResponse& m) {
    messages.push_back(m);
    return absl::OkStatus();
  };
  // The first wait with nothing new sees one more commit land; the second ends the read.
  int64_t third = -1;
  int waits = 0;
  std::vector<absl::Duration> intervals;
  auto wait = [&](absl::Duration d) -> absl::Status {
    if (d == absl::ZeroDuration()) return absl::OkStatus();
    intervals.push_back(d);
    if (++waits == 1) {
      third = Commit({MakeRow(3, "c")}, {1});
      return absl::OkStatus();
    }
    return absl::CancelledError("the client cancelled");
  };
  absl::Status s = service.FollowChanges(request, sink, wait);
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(Cat("sent whole up to snapshot ", third)));
  EXPECT_THAT(intervals, ElementsAre(ReadService::kDefaultPoll, ReadService::kDefaultPoll));

  // Per snapshot: its rows, then its end; nothing for the compaction.
  std::vector<int64_t> ends;
  std::vector<std::vector<v1::ScanResponse>> per_snapshot(1);
  for (const auto& m : messages) {
    if (m.snapshot_end()) {
      ends.push_back(m.snapshot_id());
      per_snapshot.emplace_back();
    } else {
      per_snapshot.back().push_back(m);
    }
  }
  EXPECT_THAT(ends, ElementsAre(first, second, third));
  std::vector<int64_t> snaps;
  EXPECT_EQ(Decode(per_snapshot[1], &snaps)[2].second, "b2");
  auto last = Decode(per_snapshot[2], &snaps);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1].first, table::RowOp::kDelete);
  EXPECT_EQ(last[3].second, "c");
  auto position = table_->consumers().Get("c");
  ASSERT_TRUE(position.ok() && position->has_value()) << position.status();
  EXPECT_EQ((*position)->position, third);

  // Without a starting snapshot the consumer's position is the start.
  messages.clear();
  request.clear_from_snapshot_id();
  request.set_poll_interval_ms(1);  // raised to the minimum
  intervals.clear();
  EXPECT_TRUE(absl::IsCancelled(service.FollowChanges(request, sink, wait)));
  EXPECT_TRUE(messages.empty());
  EXPECT_THAT(intervals, ElementsAre(ReadService::kMinPoll));

  request.set_consumer("../c");
  EXPECT_TRUE(absl::IsInvalidArgument(service.FollowChanges(request, sink, wait)));
  request.set_consumer("");
  request.set_from_snapshot_id(-1);
  EXPECT_TRUE(absl::IsInvalidArgument(service.FollowChanges(request, sink, wait)));
  request.set_from_snapshot_id(third + 5);
  EXPECT_TRUE(absl::IsNotFound(service.FollowChanges(request, sink, wait)));
}

// The encapsulated messages of an Arrow IPC stream: the metadata size of each,
// up to the end-of-stream marker, which must end the bytes. Body lengths are
// read from the Message flatbuffer's bodyLength (field 3) through its vtable.
std::vector<int32_t> IpcFraming(const std::string& bytes) {
  std::vector<int32_t> sizes;
  size_t pos = 0;
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  while (true) {
    EXPECT_LE(pos + 8, bytes.size());
    if (pos + 8 > bytes.size()) return sizes;
    EXPECT_EQ(u32(pos), 0xFFFFFFFFu) << "at " << pos;
    const int32_t size = static_cast<int32_t>(u32(pos + 4));
    sizes.push_back(size);
    if (size == 0) {
      EXPECT_EQ(pos + 8, bytes.size()) << "bytes after the end marker";
      return sizes;
    }
    EXPECT_EQ((8 + size) % 8, 0);
    const size_t fb = pos + 8;
    const size_t table = fb + u32(fb);
    const size_t vtable = table - static_cast<int32_t>(u32(table));
    uint16_t vt_size, body_field = 0;
    std::memcpy(&vt_size, bytes.data() + vtable, 2);
    if (vt_size >= 4 + 2 * 4) std::memcpy(&body_field, bytes.data() + vtable + 4 + 2 * 3, 2);
    int64_t body = 0;
    if (body_field != 0) std::memcpy(&body, bytes.data() + table + body_field, 8);
    EXPECT_EQ(body % 8, 0);
    pos = fb + static_cast<size_t>(size) + static_cast<size_t>(body);
  }
}

class ReadServiceArrowTest : public ReadServiceTest {
 protected:
  std::vector<v1::ScanResponse> Collect(const v1::ScanRequest& req, absl::Status* status) {
    std::vector<v1::ScanResponse> messages;
    *status = Service().Scan(req, [&](const v1::ScanResponse& m) {
      messages.push_back(m);
      return absl::OkStatus();
    });
    return messages;
  }
  // The IPC stream the reader and the writer make of a scan, directly.
  std::string Direct(const table::ArrowReadOptions& options) {
    auto snapshot = table_->LatestSnapshot();
    EXPECT_TRUE(snapshot.ok());
    ArrowArrayStream stream{};
    EXPECT_TRUE(table::ScanToArrow(table_, *snapshot, options, &stream).ok());
    std::string out;
    absl::Status s = table::WriteArrowIpcStream(&stream, [&](std::string_view b) {
      out.append(b);
      return absl::OkStatus();
    });
    stream.release(&stream);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
};

TEST_F(ReadServiceArrowTest, ScanSendsTheIpcStreamInChunks) {
  std::vector<table::Row> many;
  for (int64_t i = 0; i < 150000; ++i) many.push_back(MakeRow(i, "name-" + std::to_string(i * 7)));
  const int64_t snap = Commit(many, {});
  v1::ScanRequest req;
  req.set_table(kTable);
  req.set_format(v1::ARROW_IPC);
  absl::Status s;
  auto messages = Collect(req, &s);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_GT(messages.size(), 2u);
  std::string stream;
  for (const auto& m : messages) {
    EXPECT_EQ(m.snapshot_id(), snap);
    EXPECT_FALSE(m.has_batch());
    EXPECT_LE(m.arrow_ipc().size(), ReadService::kBatchBytes);
    EXPECT_FALSE(m.arrow_ipc().empty());
    stream += m.arrow_ipc();
  }
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    EXPECT_EQ(messages[i].arrow_ipc().size(), ReadService::kBatchBytes);
  }
  table::ArrowReadOptions options;
  options.threads = 1;
  EXPECT_EQ(stream, Direct(options));
  // A schema, 150000 rows in batches of at most 64Ki rows, the end marker.
  EXPECT_GE(IpcFraming(stream).size(), 1u + 3u + 1u);

  // Projection and a key filter are the reader's.
  req.add_columns("name");
  req.set_key_filter_json(R"({"ge": {"id": 10}, "lt": {"id": 20}})");
  messages = Collect(req, &s);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(messages.size(), 1u);
  options.columns = {1};
  auto range = table::ParseKeyFilter(schema_, req.key_filter_json());
  ASSERT_TRUE(range.ok());
  options.range = *range;
  EXPECT_EQ(messages[0].arrow_ipc(), Direct(options));
}

TEST_F(ReadServiceArrowTest, AScanOfSomeBucketsIsTheReadersScanOfThem) {
  std::vector<table::Row> rows;
  for (int64_t i = 0; i < 500; ++i) rows.push_back(MakeRow(i, "n" + std::to_string(i)));
  Commit(rows, {});
  v1::ScanRequest req;
  req.set_table(kTable);
  req.set_format(v1::ARROW_IPC);
  req.add_buckets(1);
  absl::Status s;
  auto messages = Collect(req, &s);
  ASSERT_TRUE(s.ok()) << s;
  std::string stream;
  for (const auto& m : messages) stream += m.arrow_ipc();
  table::ArrowReadOptions options;
  options.threads = 1;
  options.buckets = {1};
  EXPECT_EQ(stream, Direct(options));
  EXPECT_NE(stream, Direct(table::ArrowReadOptions{.threads = 1}));
}

TEST_F(ReadServiceArrowTest, ADamagedFileEndsTheIpcStreamWithDataLoss) {
  std::vector<table::Row> many;
  for (int64_t i = 0; i < 20000; ++i) many.push_back(MakeRow(i, "name-" + std::to_string(i)));
  Commit(many, {});
  // Flip bytes inside the first data block of every file.
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / kTable / "data")) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64);
    f.write("\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  }
  v1::ScanRequest req;
  req.set_table(kTable);
  req.set_format(v1::ARROW_IPC);
  absl::Status s;
  Collect(req, &s);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST_F(ReadServiceArrowTest, AnEmptyTableIsASchemaAndTheEndMarker) {
  v1::ScanRequest req;
  req.set_table(kTable);
  req.set_format(v1::ARROW_IPC);
  absl::Status s;
  auto messages = Collect(req, &s);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(IpcFraming(messages[0].arrow_ipc()).size(), 2u);
}

TEST_F(ReadServiceArrowTest, ChangesNameTheirLastSnapshot) {
  const int64_t first = Commit({MakeRow(1, "a"), MakeRow(2, "b")});
  const int64_t second = Commit({MakeRow(3, "c")}, {2});
  v1::ChangesRequest req;
  req.set_table(kTable);
  req.set_from_snapshot_id(first);
  req.set_format(v1::ARROW_IPC);
  std::vector<v1::ScanResponse> messages;
  ASSERT_TRUE(Service()
                  .Changes(req,
                           [&](const v1::ScanResponse& m) {
                             messages.push_back(m);
                             return absl::OkStatus();
                           })
                  .ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].snapshot_id(), second);
  EXPECT_EQ(IpcFraming(messages[0].arrow_ipc()).size(), 3u);
}

TEST_F(ReadServiceArrowTest, BadFormatsAndOptionsAreInvalidArguments) {
  Commit({MakeRow(1, "a")});
  v1::ScanRequest req;
  req.set_table(kTable);
  req.set_format(static_cast<v1::ReadFormat>(7));
  absl::Status s;
  Collect(req, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("format 7"));

  req.set_format(v1::ROWS);
  req.add_columns("name");
  Collect(req, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("ARROW_IPC"));

  req.set_format(v1::ARROW_IPC);
  req.add_columns("nope");
  Collect(req, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown column 'nope'"));

  req.clear_columns();
  req.set_key_filter_json(R"({"eq": {"name": "a"}})");
  Collect(req, &s);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;

  v1::ChangesRequest changes;
  changes.set_table(kTable);
  changes.set_format(static_cast<v1::ReadFormat>(-3));
  s = Service().Changes(changes, [](const v1::ScanResponse&) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("format -3"));
}

}  // namespace
}  // namespace deltasidecar::sidecar
