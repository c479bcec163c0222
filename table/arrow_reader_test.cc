// The Arrow reader against the table's own scan: every type, nulls, deletes,
// several files per bucket, time travel, projection, key filters, changes,
// parallel reading, and the ownership rules of the C data interface (batches
// that outlive their stream, children moved out of a batch, a stream released
// half-read while its workers run). Run under ASan/valgrind to check memory.
#include "table/arrow_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/arrow_c_api.h"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kColumns[] =
    "k STRING, id BIGINT, b BOOLEAN, t TINYINT, s SMALLINT, i INT, f FLOAT, d DOUBLE, "
    "m DECIMAL(12,2), big DECIMAL(38,10), name STRING, bin BINARY, day DATE, dt DATETIME, ts TIMESTAMP, "
    "seen TIMESTAMP_LTZ(3)";

bool Valid(const ArrowArray* a, int64_t i) {
  if (a->null_count == 0 || a->buffers[0] == nullptr) return true;
  const auto* bits = static_cast<const uint8_t*>(a->buffers[0]);
  return (bits[(a->offset + i) / 8] >> ((a->offset + i) % 8)) & 1;
}

template <typename T>
T At(const ArrowArray* a, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t*>(a->buffers[1]) + (a->offset + i) * sizeof(T), sizeof(T));
  return v;
}

// One Arrow value back as a table Value, by the column's Arrow format.
Value ValueAt(const std::string& format, const ArrowArray* a, int64_t i) {
  if (!Valid(a, i)) return Value();
  if (format == "b") {
    const auto* bits = static_cast<const uint8_t*>(a->buffers[1]);
    return Value(static_cast<bool>((bits[(a->offset + i) / 8] >> ((a->offset + i) % 8)) & 1));
  }
  if (format == "c") return Value(int64_t{At<int8_t>(a, i)});
  if (format == "s") return Value(int64_t{At<int16_t>(a, i)});
  if (format == "i" || format == "tdD") return Value(int64_t{At<int32_t>(a, i)});
  if (format == "l" || format == "tsm:UTC" || format == "tsn:UTC") return Value(At<int64_t>(a, i));
  if (format == "f") return Value(static_cast<double>(At<float>(a, i)));
  if (format == "g") return Value(At<double>(a, i));
  if (format.rfind("d:", 0) == 0) return Value(At<__int128>(a, i));
  if (format == "u" || format == "z") {
    const auto* off = static_cast<const int32_t*>(a->buffers[1]);
    const char* data = static_cast<const char*>(a->buffers[2]);
    return Value(std::string(data + off[a->offset + i], off[a->offset + i + 1] - off[a->offset + i]));
  }
  ADD_FAILURE() << "unexpected format " << format;
  return Value();
}

struct Read {
  std::vector<std::string> formats, names;
  std::vector<int64_t> flags;
  std::vector<std::vector<Value>> rows;  // in output column order
  int batches = 0;
};

Read Drain(ArrowArrayStream* stream) {
  Read r;
  ArrowSchema schema;
  EXPECT_EQ(stream->get_schema(stream, &schema), 0);
  EXPECT_EQ(std::string(schema.format), "+s");
  for (int64_t c = 0; c < schema.n_children; ++c) {
    r.formats.push_back(schema.children[c]->format);
    r.names.push_back(schema.children[c]->name);
    r.flags.push_back(schema.children[c]->flags);
  }
  schema.release(&schema);
  EXPECT_EQ(schema.release, nullptr);
  while (true) {
    ArrowArray batch;
    int rc = stream->get_next(stream, &batch);
    EXPECT_EQ(rc, 0) << (stream->get_last_error(stream) ? stream->get_last_error(stream) : "");
    if (rc != 0 || batch.release == nullptr) break;
    ++r.batches;
    EXPECT_EQ(batch.n_children, static_cast<int64_t>(r.formats.size()));
    for (int64_t i = 0; i < batch.length; ++i) {
      std::vector<Value> row;
      for (int64_t c = 0; c < batch.n_children; ++c) {
        EXPECT_EQ(batch.children[c]->length, batch.length);
        row.push_back(ValueAt(r.formats[c], batch.children[c], i));
      }
      r.rows.push_back(std::move(row));
    }
    batch.release(&batch);
  }
  stream->release(stream);
  EXPECT_EQ(stream->release, nullptr);
  return r;
}

// A row as text, for comparing and for readable failures.
std::string Text(const std::vector<Value>& row) {
  json j = json::array();
  for (const Value& v : row) {
    if (IsNull(v)) j.push_back(nullptr);
    else if (auto* b = std::get_if<bool>(&v)) j.push_back(*b);
    else if (auto* i = std::get_if<int64_t>(&v)) j.push_back(*i);
    else if (auto* d = std::get_if<double>(&v)) j.push_back(*d);
    else if (auto* m = std::get_if<__int128>(&v)) {
      j.push_back(std::to_string(static_cast<int64_t>(*m >> 64)) + ":" +
                  std::to_string(static_cast<uint64_t>(*m)));
    } else j.push_back(json::binary_t(std::vector<uint8_t>(StringOf(v).begin(), StringOf(v).end())));
  }
  return j.dump();
}

std::vector<std::string> Sorted(const std::vector<std::vector<Value>>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(Text(r));
  std::sort(out.begin(), out.end());
  return out;
}

class ArrowReaderTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("arrow_reader_test", kColumns, "k,id", 4));
    TableOptions options;
    options.commit_memory_bytes = 64 << 10;  // big commits write several files per bucket
    table_ = Open(options);
    ASSERT_NE(table_, nullptr);
  }

  Row RandomRow(std::mt19937_64& rng, int64_t id) {
    auto maybe = [&](Value v) { return rng() % 5 == 0 ? Value() : v; };
    std::string bin(rng() % 6, '\0');
    for (char& c : bin) c = static_cast<char>(rng() % 3);  // embedded NULs
    __int128 big = (static_cast<__int128>(static_cast<int64_t>(rng())) << 40) | (rng() & 0xffffffffff);
    return Row{Value(std::string(1, static_cast<char>('a' + id % 3))),
               Value(id),
               maybe(Value(rng() % 2 == 0)),
               maybe(Value(static_cast<int64_t>(static_cast<int8_t>(rng())))),
               maybe(Value(static_cast<int64_t>(static_cast<int16_t>(rng())))),
               maybe(Value(static_cast<int64_t>(static_cast<int32_t>(rng())))),
               maybe(Value(static_cast<double>(static_cast<float>(rng() % 1000) / 8))),
               maybe(Value(static_cast<double>(static_cast<int64_t>(rng() % 100000) - 50000) / 3)),
               maybe(Value(static_cast<__int128>(static_cast<int64_t>(rng() % 99999999999) - 49999999999))),
               maybe(Value(big)),
               maybe(Value(std::string("name-") + std::to_string(rng() % 1000) + "\xc3\xa9")),
               maybe(Value(bin)),
               maybe(Value(static_cast<int64_t>(rng() % 40000) - 10000)),
               maybe(Value(static_cast<int64_t>(rng() % 4000000000000))),
               maybe(Value(static_cast<int64_t>(rng() % 4000000000000000000))),
               // TIMESTAMP_LTZ(3): whole milliseconds, either side of 1970.
               maybe(Value((static_cast<int64_t>(rng() % 8000000000000) - 4000000000000) * 1000000))};
  }

  // Commits `n` snapshots of random upserts and deletes over keys [0, keys).
  // With `one_k_per_commit`, commit s writes only keys whose k is
  // "a" + (seed + s) % 3, so its files cover a third of the key space (as
  // when writes arrive roughly in key order).
  std::vector<int64_t> Populate(int n, int rows_per_commit, int keys, uint64_t seed,
                                bool one_k_per_commit = false) {
    std::mt19937_64 rng(seed);
    std::vector<int64_t> ids;
    for (int s = 0; s < n; ++s) {
      auto w = table_->NewCommit({});
      EXPECT_TRUE(w.ok());
      for (int r = 0; r < rows_per_commit; ++r) {
        int64_t id = static_cast<int64_t>(rng() % keys);
        Row row = RandomRow(rng, id);
        if (one_k_per_commit) row[0] = Value(std::string(1, static_cast<char>('a' + (seed + s) % 3)));
        std::string key = EncodeKey(schema_, row), value;
        if (rng() % 6 == 0) {
          value = std::string(DeleteValue());
        } else {
          AppendUpsertValue(schema_, row, &value);
        }
        EXPECT_TRUE((*w)->Add(key, value).ok());
      }
      auto done = (*w)->Finish();
      EXPECT_TRUE(done.ok()) << done.status();
      ids.push_back(done->snapshot_id);
    }
    return ids;
  }

  // The table's own scan, projected and filtered, as sorted text rows.
  std::vector<std::string> Expected(int64_t snapshot, const std::vector<int>& columns,
                                    const KeyRange& range) {
    auto snap = table_->SnapshotById(snapshot);
    EXPECT_TRUE(snap.ok());
    auto it = table_->NewScan(**snap);
    EXPECT_TRUE(it.ok());
    std::vector<std::vector<Value>> rows;
    for (; (*it)->Valid(); (*it)->Next()) {
      if (!range.Contains((*it)->key())) continue;
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok());
      std::vector<Value> out;
      for (int c : columns) out.push_back((*row)[c]);
      rows.push_back(out);
    }
    return Sorted(rows);
  }

  Read Scan(int64_t snapshot, const ArrowReadOptions& options) {
    auto snap = table_->SnapshotById(snapshot);
    EXPECT_TRUE(snap.ok());
    ArrowArrayStream stream;
    absl::Status s = ScanToArrow(table_, *snap, options, &stream);
    EXPECT_TRUE(s.ok()) << s;
    return Drain(&stream);
  }

  std::vector<int> All() {
    std::vector<int> all;
    for (size_t i = 0; i < schema_.columns().size(); ++i) all.push_back(static_cast<int>(i));
    return all;
  }

  std::shared_ptr<Table> table_;
};

TEST_F(ArrowReaderTest, TypesMapToArrowFormats) {
  ArrowSchema s;
  ASSERT_TRUE(ExportArrowSchema(schema_, {}, /*with_op=*/true, &s).ok());
  std::vector<std::string> formats;
  for (int64_t i = 0; i < s.n_children; ++i) formats.push_back(s.children[i]->format);
  EXPECT_THAT(formats, ::testing::ElementsAre("u", "l", "b", "c", "s", "i", "f", "g", "d:12,2",
                                              "d:38,10", "u", "z", "tdD", "tsm:UTC", "tsn:UTC", "tsn:UTC",
                                              "u"));
  EXPECT_EQ(std::string(s.children[15]->name), "seen");
  EXPECT_EQ(std::string(s.children[16]->name), "_op");
  EXPECT_EQ(s.children[0]->flags & ARROW_FLAG_NULLABLE, 0) << "key columns are NOT NULL";
  EXPECT_NE(s.children[2]->flags & ARROW_FLAG_NULLABLE, 0);
  // A child moved out of the schema is released on its own.
  ArrowSchema moved = *s.children[3];
  s.children[3]->release = nullptr;
  s.release(&s);
  EXPECT_EQ(std::string(moved.format), "c");
  moved.release(&moved);
}

TEST_F(ArrowReaderTest, EverySnapshotMatchesTheTableScan) {
  std::vector<int64_t> snaps = Populate(12, 900, 1500, 1);
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  size_t max_files = 0;
  for (const auto& b : (*latest)->buckets) max_files = std::max(max_files, b.size());
  ASSERT_GE(max_files, 3u) << "the test needs several files per bucket";
  for (int threads : {1, 2}) {
    for (int64_t id : snaps) {
      ArrowReadOptions options;
      options.threads = threads;
      options.batch_rows = 333;
      Read r = Scan(id, options);
      EXPECT_EQ(Sorted(r.rows), Expected(id, All(), {})) << "snapshot " << id << " threads " << threads;
    }
  }
}

TEST_F(ArrowReaderTest, ProjectionKeepsTheChosenColumnsInOrder) {
  Populate(3, 500, 400, 2);
  auto latest = (*table_->LatestSnapshot())->id;
  ArrowReadOptions options;
  options.columns = {10, 1, 8};  // name, id, m
  Read r = Scan(latest, options);
  EXPECT_THAT(r.names, ::testing::ElementsAre("name", "id", "m"));
  EXPECT_EQ(Sorted(r.rows), Expected(latest, options.columns, {}));
  options.columns = {1};  // key columns only: values need not be decoded
  EXPECT_EQ(Sorted(Scan(latest, options).rows), Expected(latest, {1}, {}));
}

TEST_F(ArrowReaderTest, KeyFiltersMatchTheFilteredScan) {
  Populate(6, 700, 600, 3);
  auto latest = (*table_->LatestSnapshot())->id;
  for (const char* filter :
       {R"({"eq":{"k":"b","id":301}})", R"({"eq":{"k":"a"}})", R"({"ge":{"k":"a","id":100},"lt":{"k":"c","id":5}})",
        R"({"gt":{"k":"b"}})", R"({"le":{"k":"a","id":3}})", R"({"gt":{"k":"c","id":9},"lt":{"k":"a"}})",
        R"({"eq":{"k":"a","id":1},"eq":{"k":"a","id":2}})"}) {
    auto range = ParseKeyFilter(schema_, filter);
    ASSERT_TRUE(range.ok()) << filter << ": " << range.status();
    ArrowReadOptions options;
    options.range = *range;
    Read r = Scan(latest, options);
    std::vector<std::string> expected = Expected(latest, All(), *range);
    EXPECT_EQ(Sorted(r.rows), expected) << filter;
  }
  // An exact key reads one bucket and finds its row.
  auto range = ParseKeyFilter(schema_, R"({"eq":{"k":"b","id":301}})");
  ASSERT_TRUE(range->exact.has_value());
  EXPECT_LE(Scan(latest, {.range = *range}).rows.size(), 1u);
}

TEST_F(ArrowReaderTest, FilterAndColumnErrorsAreClear) {
  EXPECT_THAT(std::string(ParseKeyFilter(schema_, R"({"eq":{"id":1}})").status().message()),
              ::testing::HasSubstr("prefix of the primary key"));
  EXPECT_THAT(std::string(ParseKeyFilter(schema_, R"({"near":{"k":"a"}})").status().message()),
              ::testing::HasSubstr("unknown member \"near\""));
  EXPECT_THAT(std::string(ParseKeyFilter(schema_, "{").status().message()), ::testing::HasSubstr("malformed"));
  EXPECT_THAT(std::string(ParseKeyFilter(schema_, std::string(kMaxScanOptionBytes + 1, ' ')).status().message()),
              ::testing::HasSubstr("at most"));
  EXPECT_THAT(std::string(ParseColumnList(schema_, R"(["id","nope"])").status().message()),
              ::testing::HasSubstr("unknown column 'nope'"));
  EXPECT_THAT(std::string(ParseColumnList(schema_, R"(["id","id"])").status().message()),
              ::testing::HasSubstr("named twice"));
  EXPECT_THAT(*ParseColumnList(schema_, R"(["ts","k"])"), ::testing::ElementsAre(14, 0));
}

TEST_F(ArrowReaderTest, ChangesCarryTheOperation) {
  std::vector<int64_t> snaps = Populate(5, 400, 300, 4);
  for (int64_t from : {snaps[0], snaps[2]}) {
    auto it = table_->NewChanges(from, snaps.back());
    ASSERT_TRUE(it.ok());
    std::vector<std::vector<Value>> expected;
    for (; (*it)->Valid(); (*it)->Next()) {
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      ASSERT_TRUE(row.ok());
      bool del = *ValueOp((*it)->value()) == RowOp::kDelete;
      row->push_back(Value(std::string(del ? "delete" : "upsert")));
      expected.push_back(*row);
    }
    ArrowArrayStream stream;
    ASSERT_TRUE(ChangesToArrow(table_, from, snaps.back(), {}, &stream).ok());
    Read r = Drain(&stream);
    EXPECT_EQ(r.names.back(), "_op");
    EXPECT_EQ(Sorted(r.rows), Sorted(expected));
    EXPECT_TRUE(std::any_of(r.rows.begin(), r.rows.end(),
                            [](const auto& row) { return StringOf(row.back()) == "delete"; }));
  }
}

TEST_F(ArrowReaderTest, FilteredChangesSkipFilesAndMatchTheFilteredRead) {
  // Several files per bucket per commit, deletes, and a full compaction in
  // the middle (its snapshot adds files that changes never read).
  std::vector<int64_t> snaps = Populate(3, 12000, 20000, 11, /*one_k_per_commit=*/true);
  auto compacted = table_->Compact(/*full=*/true);
  ASSERT_TRUE(compacted.ok() && compacted->has_value()) << compacted.status();
  for (int64_t id : Populate(4, 12000, 20000, 12, /*one_k_per_commit=*/true)) snaps.push_back(id);
  const int64_t to = snaps.back();

  // Expected: the unfiltered changes, filtered afterwards.
  auto unfiltered = [&](int64_t from, const KeyRange& range, ReadStats* stats) {
    auto it = table_->NewChanges(from, to, {}, stats);
    EXPECT_TRUE(it.ok()) << it.status();
    std::vector<std::vector<Value>> rows;
    for (; (*it)->Valid(); (*it)->Next()) {
      if (!range.Contains((*it)->key())) continue;
      auto row = DecodeRow(schema_, (*it)->key(), (*it)->value());
      EXPECT_TRUE(row.ok());
      row->push_back(Value(std::string(*ValueOp((*it)->value()) == RowOp::kDelete ? "delete" : "upsert")));
      rows.push_back(*row);
    }
    EXPECT_TRUE((*it)->status().ok());
    return Sorted(rows);
  };
  // Commits write k = c, a, b, (compaction), a, b, c, a: from each start
  // below, a filter on one k matches under half of the commits.
  for (int64_t from : {snaps[0] - 1, snaps[1], snaps[3]}) {
    ReadStats all;
    const std::vector<std::string> everything = unfiltered(from, KeyRange{}, &all);
    const auto commits = std::count_if(snaps.begin(), snaps.end(), [&](int64_t s) { return s > from; });
    ASSERT_GT(all.files_opened.load(), 4 * commits) << "several files per bucket and commit";
    EXPECT_EQ(all.files_skipped.load(), 0);
    for (const char* filter :
         {R"({"eq":{"k":"b","id":301}})", R"({"eq":{"k":"a"}})",
          R"({"ge":{"k":"b","id":100},"lt":{"k":"b","id":200}})", R"({"gt":{"k":"b"}})",
          R"({"gt":{"k":"c","id":9},"lt":{"k":"a"}})"}) {
      auto range = ParseKeyFilter(schema_, filter);
      ASSERT_TRUE(range.ok()) << filter << ": " << range.status();
      ReadStats stats;
      ArrowArrayStream stream;
      ASSERT_TRUE(ChangesToArrow(table_, from, to, {.range = *range, .stats = &stats}, &stream).ok());
      Read r = Drain(&stream);
      EXPECT_EQ(Sorted(r.rows), unfiltered(from, *range, nullptr)) << filter << " from " << from;
      EXPECT_EQ(stats.files_opened + stats.files_skipped, all.files_opened.load()) << filter;
      EXPECT_LT(stats.files_opened.load(), all.files_opened.load() / 2) << filter << " from " << from;
      if (range->Empty()) EXPECT_EQ(stats.files_opened.load(), 0) << filter;
      if (range->exact) EXPECT_LE(stats.files_opened.load(), (all.files_opened.load() + 3) / 4) << filter;
    }
    // A filter that matches everything skips nothing and returns everything.
    ReadStats stats;
    ArrowArrayStream stream;
    ASSERT_TRUE(ChangesToArrow(table_, from, to, {.stats = &stats}, &stream).ok());
    EXPECT_EQ(Sorted(Drain(&stream).rows), everything);
    EXPECT_EQ(stats.files_opened.load(), all.files_opened.load());
  }
}

TEST_F(ArrowReaderTest, BatchesOutliveTheStreamAndChildrenMoveOut) {
  Populate(2, 600, 500, 5);
  auto snap = table_->LatestSnapshot();
  ArrowArrayStream stream;
  ASSERT_TRUE(ScanToArrow(table_, *snap, {.batch_rows = 100, .threads = 2}, &stream).ok());
  ArrowArray first, second;
  ASSERT_EQ(stream.get_next(&stream, &first), 0);
  ASSERT_EQ(stream.get_next(&stream, &second), 0);
  ASSERT_NE(first.release, nullptr);
  // Released half-read while its workers still have batches queued.
  stream.release(&stream);
  ArrowArray name = *first.children[10];
  first.children[10]->release = nullptr;
  first.release(&first);
  EXPECT_EQ(name.length, 100);
  EXPECT_EQ(name.n_buffers, 3);
  name.release(&name);
  second.release(&second);
  table_.reset();  // the stream and batches held their own references
}

TEST_F(ArrowReaderTest, CAbiReportsErrorsAndTimeTravels) {
  std::vector<int64_t> snaps = Populate(3, 200, 150, 6);
  ArrowArrayStream stream;
  EXPECT_EQ(deltatable_arrow_scan(root_.c_str(), "nope", -1, -1, nullptr, nullptr, 0, 1, &stream),
            static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(deltatable_arrow_last_error(), ::testing::HasSubstr("nope"));
  EXPECT_EQ(deltatable_arrow_scan(root_.c_str(), "t", -1, -1, "[\"zz\"]", nullptr, 0, 1, &stream),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(deltatable_arrow_scan(root_.c_str(), "t", snaps[1], -1, nullptr, nullptr, 0, 1, &stream), 0);
  EXPECT_EQ(Sorted(Drain(&stream).rows), Expected(snaps[1], All(), {}));
  int64_t resolved = -1;
  auto s1 = table_->SnapshotById(snaps[1]);
  ASSERT_EQ(deltatable_arrow_resolve_snapshot(root_.c_str(), "t", -1, (*s1)->time_ms, &resolved), 0);
  EXPECT_GE(resolved, snaps[1]);
  EXPECT_EQ(deltatable_arrow_changes(root_.c_str(), "t", snaps[0], -1, "[\"id\"]", nullptr, 0, &stream), 0);
  Read r = Drain(&stream);
  EXPECT_THAT(r.names, ::testing::ElementsAre("id", "_op"));
  EXPECT_FALSE(r.rows.empty());
}

}  // namespace
}  // namespace deltasidecar::table
