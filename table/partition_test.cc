// Partitions: the partition of a key, partition specs and their text forms,
// the schema's partition columns, and on a table: one partition per file,
// pruned reads and lookups, compaction per partition, drops (also as
// changes), expiry by the partition's time, and reopening.
#include "table/partition.h"

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/table.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TableSchema Partitioned(std::string_view columns = "region STRING, dt DATE, id BIGINT, v STRING",
                        std::string_view key = "id", std::string_view by = "dt, region",
                        int buckets = 4) {
  auto s = TableSchema::Parse(columns, key, buckets, by);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

std::string Key(const TableSchema& schema, const std::string& json) {
  auto row = RowFromJson(schema, nlohmann::json::parse(json), /*key_only=*/true);
  EXPECT_TRUE(row.ok()) << row.status();
  return EncodeKey(schema, *row);
}

std::string Spec(const TableSchema& schema, std::string_view text) {
  auto p = ParsePartitionSpec(schema, text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : "";
}

TEST(PartitionSchemaTest, PartitionColumnsLeadTheKeyAndRoundTripThroughJson) {
  TableSchema s = Partitioned();
  EXPECT_EQ(s.partition_key_count(), 2);
  std::vector<std::string> key;
  for (int k : s.key_columns()) key.push_back(s.columns()[k].name);
  EXPECT_EQ(key, (std::vector<std::string>{"dt", "region", "id"}));
  EXPECT_EQ(s.ToJson()["partition_keys"], nlohmann::json::parse(R"(["dt","region"])"));
  auto back = TableSchema::FromJson(s.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->partition_key_count(), 2);
  EXPECT_EQ(back->ToJson(), s.ToJson());
  // An unpartitioned schema writes no member, as before partitions.
  auto plain = TableSchema::Parse("id BIGINT, v STRING", "id", 4);
  EXPECT_FALSE(plain->ToJson().contains("partition_keys"));
}

TEST(PartitionSchemaTest, RefusesBadPartitionColumns) {
  auto whole_key = TableSchema::Parse("dt DATE, v STRING", "dt", 4, "dt");
  EXPECT_THAT(std::string(whole_key.status().message()), HasSubstr("needs at least one more column"));
  auto unknown = TableSchema::Parse("dt DATE, id BIGINT", "id", 4, "day");
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("day"));
  auto floating = TableSchema::Parse("f DOUBLE, id BIGINT", "id", 4, "f");
  EXPECT_EQ(floating.status().code(), absl::StatusCode::kInvalidArgument);
  nlohmann::json j = Partitioned().ToJson();
  j["partition_keys"] = nlohmann::json::parse(R"(["region"])");  // not the leading key column
  EXPECT_THAT(std::string(TableSchema::FromJson(j).status().message()), HasSubstr("leading primary-key"));
}

TEST(PartitionKeyTest, ThePartitionIsTheKeysPrefix) {
  TableSchema s = Partitioned();
  const std::string key = Key(s, R"({"region":"e\u0000u","dt":"2026-12-01","id":7})");
  auto p = PartitionOfKey(s, key);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, Spec(s, std::string("dt=2026-12-01,region=e") + '\0' + "u"));
  EXPECT_EQ(key.substr(p->size()), Key(Partitioned("id BIGINT", "id", "", 4), R"({"id":7})"));
  auto text = PartitionText(s, *p);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, std::string("dt=2026-12-01/region=e") + '\0' + "u");
  // A key cut inside a partition column is not a key of the table.
  EXPECT_EQ(PartitionOfKey(s, key.substr(0, 6)).status().code(), absl::StatusCode::kDataLoss);
  // Unpartitioned: no prefix.
  auto plain = TableSchema::Parse("id BIGINT", "id", 4);
  EXPECT_EQ(*PartitionOfKey(*plain, "\x80\x00\x00\x00\x00\x00\x00\x01"), "");
}

TEST(PartitionKeyTest, SpecsNameEveryPartitionColumnOnce) {
  TableSchema s = Partitioned();
  EXPECT_EQ(Spec(s, "region=eu/dt=2026-12-01"), Spec(s, "dt=2026-12-01,region=eu"));
  auto json = PartitionJson(s, Spec(s, "dt=2026-12-01/region=eu"));
  EXPECT_EQ(*json, nlohmann::json::parse(R"({"dt":"2026-12-01","region":"eu"})"));
  auto bad = [&](std::string_view text, std::string_view why) {
    auto p = ParsePartitionSpec(s, text);
    ASSERT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(std::string(why))) << text;
  };
  bad("dt=2026-12-01", "missing primary-key column 'region'");
  bad("dt=2026-12-01/region=eu/id=3", "'id' is not a partition column (they are dt, region)");
  bad("dt=2026-12-01/dt=2026-12-02/region=eu", "names 'dt' twice");
  bad("dt=2026-12-41/region=eu", "DATE");
  bad("dt", "expected column=value");
  bad(std::string(kMaxPartitionSpecBytes + 1, 'x'), "at most");
  auto plain = TableSchema::Parse("id BIGINT", "id", 4);
  EXPECT_THAT(std::string(ParsePartitionSpec(*plain, "id=1").status().message()), HasSubstr("not partitioned"));
  // Typed values: an integer column takes its number.
  TableSchema by_int = Partitioned("shard INT, id BIGINT", "id", "shard");
  EXPECT_EQ(Spec(by_int, "shard=-3"), Key(Partitioned("shard INT, x INT", "shard,x", "", 4), R"({"shard":-3,"x":0})").substr(0, 4));
}

TEST(PartitionKeyTest, PartitionEndBoundsExactlyThePartitionsKeys) {
  EXPECT_EQ(*PartitionEnd("ab"), "ac");
  EXPECT_EQ(*PartitionEnd(std::string("a\xff", 2)), "b");
  EXPECT_FALSE(PartitionEnd(std::string("\xff\xff", 2)).has_value());
  TableSchema s = Partitioned();
  const std::string p = Spec(s, "dt=2026-12-01/region=eu");
  const std::string next = Spec(s, "dt=2026-12-01/region=eu2");
  const std::string in = Key(s, R"({"region":"eu","dt":"2026-12-01","id":9223372036854775807})");
  EXPECT_LT(in, *PartitionEnd(p));
  EXPECT_GE(next, *PartitionEnd(p));
}

TEST(PartitionKeyTest, PartitionTimeComesFromTheFirstTimeColumn) {
  TableSchema s = Partitioned();
  auto t = PartitionTime(s, Spec(s, "dt=2026-12-01/region=eu"));
  ASSERT_TRUE(t.ok() && t->has_value());
  EXPECT_EQ(absl::FormatTime("%Y-%m-%d %H:%M:%S", **t, absl::UTCTimeZone()), "2026-12-01 00:00:00");
  TableSchema by_shard = Partitioned("shard INT, id BIGINT", "id", "shard");
  EXPECT_FALSE(PartitionTimeColumn(by_shard).has_value());
  EXPECT_FALSE(PartitionTime(by_shard, Spec(by_shard, "shard=3"))->has_value());
}

TEST(PartitionKeyTest, AStringPartitionColumnReadsAsADayOrAnHour) {
  // MaxCompute's ds = '20261201' (and hourly ds, dashed dates, date-times).
  TableSchema s = Partitioned("ds STRING, shard INT, id BIGINT", "id", "ds, shard");
  ASSERT_EQ(PartitionTimeColumn(s), s.ColumnIndex("ds"));
  auto at = [&](std::string_view ds) -> std::string {
    auto t = PartitionTime(s, Spec(s, Cat("ds=", ds, "/shard=1")));
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok() || !t->has_value()) return "none";
    return absl::FormatTime("%Y-%m-%d %H:%M:%S", **t, absl::UTCTimeZone());
  };
  EXPECT_EQ(at("20261201"), "2026-12-01 00:00:00");
  EXPECT_EQ(at("2026120113"), "2026-12-01 13:00:00");
  EXPECT_EQ(at("2026-12-01"), "2026-12-01 00:00:00");
  EXPECT_EQ(at("2026-12-01 13:45:10"), "2026-12-01 13:45:10");
  for (std::string_view bad : {"", "eu", "20261301", "2026120125", "2026-02-30", "202612011", "2026-12-01x"}) {
    EXPECT_EQ(at(bad), "none") << bad;
  }
  // A time-typed partition column comes first, wherever it is.
  TableSchema both = Partitioned("ds STRING, dt DATE, id BIGINT", "id", "ds, dt");
  EXPECT_EQ(PartitionTimeColumn(both), both.ColumnIndex("dt"));
}

class PartitionedTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("partition_test_" + RandomId());
    TableOptions options;
    options.compaction.trigger_files = 0;
    ASSERT_TRUE(Table::Create(root_, "t", Partitioned("dt DATE, id BIGINT, v STRING", "id", "dt", 4),
                              options, {{"partition.expiration-time", "48h"}})
                    .ok());
    auto t = Table::Open(root_, "t");
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = std::move(*t);
  }
  void TearDown() override { fs::remove_all(root_); }

  const TableSchema& schema() { return table_->schema(); }

  // Upserts ids [from, to) on each day, with `v`; or deletes them.
  int64_t Write(const std::vector<std::string>& days, int from, int to, std::string_view v,
                bool del = false) {
    MutationBatch batch;
    for (const auto& d : days) {
      for (int id = from; id < to; ++id) {
        auto row = RowFromJson(schema(), nlohmann::json{{"dt", d}, {"id", id}, {"v", v}});
        EXPECT_TRUE(row.ok()) << row.status();
        if (del) {
          batch.Delete(schema(), *row);
        } else {
          batch.Upsert(schema(), *row);
        }
      }
    }
    auto c = table_->Commit(batch);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->snapshot_id : -1;
  }

  // day -> id -> v of every live row of snapshot `id` (latest when -1),
  // read with `bounds`, keeping only rows inside them.
  std::map<std::string, std::map<int64_t, std::string>> Read(int64_t id = -1, const ReadBounds& bounds = {},
                                                             ReadStats* stats = nullptr) {
    auto snap = id < 0 ? table_->LatestSnapshot() : table_->SnapshotById(id);
    EXPECT_TRUE(snap.ok()) << snap.status();
    auto it = table_->NewScan(**snap, bounds, stats);
    EXPECT_TRUE(it.ok()) << it.status();
    std::map<std::string, std::map<int64_t, std::string>> out;
    for (; (*it)->Valid(); (*it)->Next()) {
      std::string_view key = (*it)->key();
      if (!bounds.Contains(key)) continue;
      auto row = DecodeRow(schema(), key, (*it)->value());
      EXPECT_TRUE(row.ok()) << row.status();
      auto j = RowToJson(schema(), *row);
      out[j["dt"].get<std::string>()][j["id"].get<int64_t>()] = j["v"].get<std::string>();
    }
    EXPECT_TRUE((*it)->status().ok()) << (*it)->status();
    return out;
  }

  ReadBounds Of(std::string_view spec) {
    const std::string p = Spec(schema(), spec);
    return ReadBounds{p, PartitionEnd(p), std::nullopt};
  }

  // Every file (section) of the latest snapshot holds one partition: its
  // recorded partition, which starts each of its keys.
  void ExpectOnePartitionPerFile() {
    auto snap = table_->LatestSnapshot();
    for (const auto& files : (*snap)->buckets) {
      for (const auto& f : files) {
        ASSERT_FALSE(f.partition.empty()) << f.name;
        if (f.key_range_known) {
          EXPECT_TRUE(std::string_view(f.min_key).starts_with(f.partition)) << f.name;
          EXPECT_TRUE(std::string_view(f.max_key).starts_with(f.partition)) << f.name;
        }
      }
    }
  }

  fs::path root_;
  std::unique_ptr<Table> table_;
};

TEST_F(PartitionedTableTest, EachPartitionHasItsOwnFilesAndReadsOpenOnlyThose) {
  Write({"2026-11-01", "2026-11-02", "2026-11-03"}, 0, 50, "a");
  Write({"2026-11-02"}, 10, 20, "b");
  ExpectOnePartitionPerFile();
  auto parts = Table::Partitions(**table_->LatestSnapshot());
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(*PartitionText(schema(), parts[1].partition), "dt=2026-11-02");
  EXPECT_EQ(parts[1].entries, 60u);
  EXPECT_EQ(parts[0].entries, 50u);

  ReadStats all, one;
  auto everything = Read(-1, {}, &all);
  EXPECT_EQ(everything.size(), 3u);
  auto day = Read(-1, Of("dt=2026-11-02"), &one);
  ASSERT_EQ(day.size(), 1u);
  EXPECT_EQ(day["2026-11-02"].size(), 50u);
  EXPECT_EQ(day["2026-11-02"][15], "b");
  EXPECT_EQ(day["2026-11-02"][25], "a");
  EXPECT_EQ(one.files_skipped.load(), all.files_opened.load() - one.files_opened.load());
  EXPECT_LT(one.files_opened.load(), all.files_opened.load());
  // Changes of one partition open its files only, too.
  ReadStats changed;
  auto it = table_->NewChanges(0, 2, Of("dt=2026-11-03"), &changed);
  ASSERT_TRUE(it.ok());
  EXPECT_GT(changed.files_skipped.load(), 0);

  // A lookup finds a row of its own partition only.
  auto snap = table_->LatestSnapshot();
  auto v = table_->Get(**snap, Key(schema(), R"({"dt":"2026-11-02","id":15})"));
  ASSERT_TRUE(v.ok() && v->has_value());
  auto none = table_->Get(**snap, Key(schema(), R"({"dt":"2026-11-04","id":15})"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(PartitionedTableTest, CompactionMergesEachPartitionApart) {
  for (int round = 0; round < 3; ++round) {
    Write({"2026-11-01", "2026-11-02"}, 0, 40, "r" + std::to_string(round));
  }
  Write({"2026-11-01"}, 0, 10, "", /*del=*/true);
  auto before = Read();
  auto compacted = table_->Compact(/*full=*/true);
  ASSERT_TRUE(compacted.ok() && compacted->has_value()) << compacted.status();
  ExpectOnePartitionPerFile();
  EXPECT_EQ(Read(), before);
  auto snap = table_->LatestSnapshot();
  for (const auto& files : (*snap)->buckets) {
    std::set<std::string> partitions;
    for (const auto& f : files) EXPECT_TRUE(partitions.insert(f.partition).second) << "two files of one partition";
  }
  EXPECT_EQ(before["2026-11-01"].size(), 30u);
  EXPECT_EQ(before["2026-11-02"][5], "r2");
  auto verified = table_->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->empty());
}

TEST_F(PartitionedTableTest, DroppingAPartitionIsOneSnapshotAndChangesSayDelete) {
  const int64_t first = Write({"2026-11-01", "2026-11-02", "2026-11-03"}, 0, 20, "a");
  Write({"2026-11-02"}, 0, 5, "b");
  auto dropped = table_->DropPartitions({Spec(schema(), "dt=2026-11-02"), Spec(schema(), "dt=2026-11-03")});
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  auto snap = table_->SnapshotById(*dropped);
  EXPECT_EQ((*snap)->kind, SnapshotKind::kDropPartition);
  EXPECT_FALSE((*snap)->removed.empty());
  auto after = Read();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.begin()->first, "2026-11-01");
  // Time travel still sees the partition before the drop.
  EXPECT_EQ(Read(first).size(), 3u);
  // A later commit writes the partition again; changes across the drop end in
  // that write, the other dropped keys in deletes.
  const int64_t again = Write({"2026-11-02"}, 3, 4, "c");
  auto it = table_->NewChanges(first, again);
  ASSERT_TRUE(it.ok()) << it.status();
  int deletes = 0, upserts = 0;
  for (; (*it)->Valid(); (*it)->Next()) {
    auto row = DecodeRow(schema(), (*it)->key(), (*it)->value());
    auto j = RowToJson(schema(), *row);
    if (*ValueOp((*it)->value()) == RowOp::kDelete) {
      ++deletes;
      EXPECT_NE(j["dt"], "2026-11-01");
    } else {
      ++upserts;
      EXPECT_EQ(j["dt"], "2026-11-02");
      EXPECT_EQ(j["id"], 3);
      EXPECT_EQ(j["v"], "c");
    }
  }
  EXPECT_EQ(upserts, 1);
  EXPECT_EQ(deletes, 39);
  // Dropping what has no files is NOT_FOUND and writes nothing.
  auto latest = (*table_->LatestSnapshot())->id;
  auto missing = table_->DropPartitions({Spec(schema(), "dt=2026-10-01")});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("dt=2026-10-01"));
  EXPECT_EQ((*table_->LatestSnapshot())->id, latest);
  // Expiry removes the dropped files once no retained snapshot names them.
  auto expired = table_->Expire(1);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_GT(expired->files_removed, 0);
  EXPECT_EQ(Read().size(), 2u);
}

// Commits, drops and compactions through separate handles (they race like
// processes): the final table equals the history replayed in snapshot order,
// each APPEND its batch and each DROP_PARTITION its partition, and every
// retained snapshot verifies.
TEST_F(PartitionedTableTest, DropsRaceCommitsAndCompactionsWithoutLosingOrKeepingRows) {
  const std::vector<std::string> days = {"2026-11-01", "2026-11-02", "2026-11-03"};
  std::mutex mu;
  std::map<int64_t, std::vector<std::pair<std::string, int>>> appended;  // snapshot -> (day, id)
  std::map<int64_t, std::string> drops;                                  // snapshot -> day
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    auto t = Table::Open(root_, "t");
    ASSERT_TRUE(t.ok());
    for (int c = 0; c < 40; ++c) {
      MutationBatch b;
      std::vector<std::pair<std::string, int>> rows;
      for (int i = 0; i < 6; ++i) {
        const std::string& day = days[(c + i) % days.size()];
        const int id = c * 10 + i;
        b.Upsert(schema(), *RowFromJson(schema(), nlohmann::json{{"dt", day}, {"id", id}, {"v", "x"}}));
        rows.emplace_back(day, id);
      }
      auto r = (*t)->Commit(b);
      ASSERT_TRUE(r.ok()) << r.status();
      std::lock_guard<std::mutex> lock(mu);
      appended[r->snapshot_id] = std::move(rows);
    }
    writing = false;
  });
  std::thread dropper([&] {
    auto t = Table::Open(root_, "t");
    ASSERT_TRUE(t.ok());
    for (int k = 0; writing; ++k) {
      const std::string day = days[k % 2 == 0 ? 1 : 2];
      auto d = (*t)->DropPartitions({Spec(schema(), "dt=" + day)});
      ASSERT_TRUE(d.ok() || absl::IsNotFound(d.status())) << d.status();
      if (d.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        drops[*d] = day;
      }
    }
  });
  std::thread compactor([&] {
    auto t = Table::Open(root_, "t");
    ASSERT_TRUE(t.ok());
    while (writing) {
      absl::Status st = (*t)->Compact(/*full=*/true).status();
      ASSERT_TRUE(st.ok() || absl::IsAborted(st)) << st;
    }
  });
  writer.join();
  dropper.join();
  compactor.join();
  EXPECT_FALSE(drops.empty());

  std::map<std::string, std::map<int64_t, std::string>> model;
  auto history = table_->History();
  ASSERT_TRUE(history.ok());
  for (const auto& snap : *history) {
    if (auto a = appended.find(snap->id); a != appended.end()) {
      for (const auto& [day, id] : a->second) model[day][id] = "x";
    } else if (auto d = drops.find(snap->id); d != drops.end()) {
      model.erase(d->second);
    }
  }
  EXPECT_EQ(Read(), model);
  ExpectOnePartitionPerFile();
  auto verified = table_->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_THAT(*verified, ::testing::IsEmpty());
}

TEST_F(PartitionedTableTest, MaintenanceDropsPartitionsOlderThanTheExpirationTime) {
  const std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
  const std::string old_day = absl::FormatTime("%Y-%m-%d", absl::Now() - absl::Hours(24 * 5), absl::UTCTimeZone());
  Write({today, old_day, "2020-01-01"}, 0, 10, "a");
  EXPECT_EQ(table_->options().partition_expiration, absl::Hours(48));
  ASSERT_TRUE(table_->RunMaintenance().ok());
  auto left = Read();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.begin()->first, today);
  EXPECT_EQ((*table_->LatestSnapshot())->kind, SnapshotKind::kDropPartition);
  // Nothing older is left: the next run writes no snapshot.
  const int64_t latest = (*table_->LatestSnapshot())->id;
  ASSERT_TRUE(table_->RunMaintenance().ok());
  EXPECT_EQ((*table_->LatestSnapshot())->id, latest);
}

TEST_F(PartitionedTableTest, ReopenedTableKeepsPartitionsAndMultiBucketSectionsPrune) {
  // Few rows per bucket: each partition's rows are one multi-bucket file,
  // whose manifest entry has no key ranges; the recorded partition prunes.
  Write({"2026-11-01", "2026-11-02"}, 0, 30, "a");
  auto t = Table::Open(root_, "t");
  ASSERT_TRUE(t.ok()) << t.status();
  table_ = std::move(*t);
  EXPECT_EQ(table_->schema().partition_key_count(), 1);
  auto snap = table_->LatestSnapshot();
  bool multi = false;
  for (const auto& files : (*snap)->buckets) {
    for (const auto& f : files) multi |= IsMultiBucketFileName(f.name) && !f.key_range_known;
  }
  EXPECT_TRUE(multi);
  ExpectOnePartitionPerFile();
  ReadStats stats;
  EXPECT_EQ(Read(-1, Of("dt=2026-11-01"), &stats).size(), 1u);
  EXPECT_EQ(stats.files_opened.load(), stats.files_skipped.load());
}

TEST(PartitionedTableCreateTest, StringDayPartitionsExpire) {
  const fs::path root = fs::path(::testing::TempDir()) / ("partition_ds_" + RandomId());
  TableSchema schema = Partitioned("ds STRING, id BIGINT", "id", "ds");
  ASSERT_TRUE(Table::Create(root, "t", schema, {}, {{"partition.expiration-time", "72h"}}).ok());
  auto t = Table::Open(root, "t");
  ASSERT_TRUE(t.ok()) << t.status();
  const std::string today = absl::FormatTime("%Y%m%d", absl::Now(), absl::UTCTimeZone());
  MutationBatch batch;
  for (const std::string ds : {today, std::string("20200101"), std::string("2020-01-02"), std::string("latest")}) {
    batch.Upsert(schema, *RowFromJson(schema, nlohmann::json{{"ds", ds}, {"id", 1}}));
  }
  ASSERT_TRUE((*t)->Commit(batch).ok());
  auto expired = (*t)->ExpirePartitions(absl::Hours(72), absl::Now());
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 2);
  std::vector<std::string> left;
  for (const auto& p : Table::Partitions(**(*t)->LatestSnapshot())) left.push_back(*PartitionText(schema, p.partition));
  // A value that reads as no time never expires.
  EXPECT_EQ(left, (std::vector<std::string>{"ds=" + today, "ds=latest"}));
  fs::remove_all(root);
}

TEST(PartitionedTableCreateTest, ExpirationNeedsATimePartitionColumn) {
  const fs::path root = fs::path(::testing::TempDir()) / ("partition_create_" + RandomId());
  auto s = Table::Create(root, "t", Partitioned("shard INT, id BIGINT", "id", "shard"), {},
                         {{"partition.expiration-time", "24h"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("partition.expiration-time"));
  auto plain = Table::Create(root, "u", *TableSchema::Parse("id BIGINT", "id", 4));
  ASSERT_TRUE(plain.ok());
  auto t = Table::Open(root, "u");
  EXPECT_EQ((*t)->DropPartitions({"x"}).status().code(), absl::StatusCode::kInvalidArgument);
  fs::remove_all(root);
}

}  // namespace
}  // namespace deltasidecar::table
