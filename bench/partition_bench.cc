// Partition pruning benchmark through the table engine's C++ API: a table
// partitioned by day, one commit per day (with maintenance after each, as a
// committer runs it), then a full scan against scans of one partition, and a
// partition drop. Prints the medians and their ratio; --json writes them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/mutation_batch.h"
#include "table/partition.h"
#include "table/row.h"
#include "table/table.h"

namespace dt = deltasidecar::table;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] void Die(std::string_view what, const absl::Status& s) {
  fmt::print(stderr, "partition-bench: {}: {}\n", what, s.ToString());
  std::exit(1);
}

constexpr int64_t kFirstDay = 20'000;  // 2024-10-05, days since 1970-01-01

// Rows read (inside `bounds`) by a scan of the latest snapshot.
int64_t Scan(dt::Table& t, const dt::ReadBounds& bounds, dt::ReadStats* stats) {
  auto snap = t.LatestSnapshot();
  if (!snap.ok()) Die("snapshot", snap.status());
  auto it = t.NewScan(**snap, bounds, stats);
  if (!it.ok()) Die("scan", it.status());
  int64_t rows = 0;
  for (; (*it)->Valid(); (*it)->Next()) {
    if (bounds.Contains((*it)->key())) ++rows;
  }
  if (!(*it)->status().ok()) Die("scan", (*it)->status());
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/delta-partition-bench";
  std::string json_out;
  int partitions = 100;
  int64_t rows_per_partition = 20'000;
  int buckets = 16;
  int repeats = 5;
  CLI::App app{"Benchmarks partition pruning: a scan of one partition against a full scan."};
  app.add_option("--dir", dir, "Scratch table root (deleted first)")->capture_default_str();
  app.add_option("--partitions", partitions, "Days, one partition and one commit each")->capture_default_str();
  app.add_option("--rows-per-partition", rows_per_partition)->capture_default_str();
  app.add_option("--buckets", buckets)->capture_default_str();
  app.add_option("--repeats", repeats, "Measured scans of each kind")->capture_default_str();
  app.add_option("--json", json_out, "Also write the figures to this file");
  CLI11_PARSE(app, argc, argv);

  std::filesystem::remove_all(dir);
  auto schema = dt::TableSchema::Parse(
      "dt DATE, id BIGINT, city STRING, amount DOUBLE, note STRING", "id", buckets, "dt");
  if (!schema.ok()) Die("schema", schema.status());
  if (auto s = dt::Table::Create(dir, "bench", *schema); !s.ok()) Die("create", s);
  auto opened = dt::Table::Open(dir, "bench");
  if (!opened.ok()) Die("open", opened.status());
  dt::Table& t = **opened;

  std::mt19937_64 rng(42);
  std::vector<double> commits;
  for (int d = 0; d < partitions; ++d) {
    dt::MutationBatch batch;
    for (int64_t i = 0; i < rows_per_partition; ++i) {
      dt::Row row(5);
      row[0] = kFirstDay + d;
      row[1] = i;
      row[2] = fmt::format("city-{}", rng() % 1000);
      row[3] = static_cast<double>(rng() % 100000) / 100.0;
      std::string note(40, ' ');
      for (auto& c : note) c = static_cast<char>('a' + rng() % 26);
      row[4] = std::move(note);
      batch.Upsert(*schema, row);
    }
    auto start = Clock::now();
    auto r = t.Commit(batch);
    commits.push_back(Seconds(start, Clock::now()));
    if (!r.ok()) Die("commit", r.status());
    if (auto m = t.RunMaintenance(); !m.ok()) Die("maintenance", m);
  }
  auto snap = t.LatestSnapshot();
  if (!snap.ok()) Die("snapshot", snap.status());
  const int64_t total = partitions * rows_per_partition;
  fmt::print("table: {} partitions x {} rows = {} rows in {} files, {} buckets; commit of one day "
             "median {:.3f} s\n",
             partitions, rows_per_partition, total, (*snap)->FileCount(), buckets, Median(commits));

  // The encoded partition of day `d` (partition.h): its key's prefix.
  auto partition_of = [&](int d) {
    dt::Row key(5);
    key[0] = kFirstDay + d;
    key[1] = int64_t{0};
    auto p = dt::PartitionOfKey(*schema, dt::EncodeKey(*schema, key));
    if (!p.ok()) Die("partition", p.status());
    return std::string(*p);
  };
  std::vector<double> full, one;
  dt::ReadStats full_stats, one_stats;
  for (int r = 0; r < repeats; ++r) {
    dt::ReadStats stats;
    auto start = Clock::now();
    const int64_t n = Scan(t, {}, &stats);
    full.push_back(Seconds(start, Clock::now()));
    if (n != total) Die("full scan", absl::InternalError(fmt::format("{} rows, expected {}", n, total)));
    full_stats.files_opened = stats.files_opened.load();
  }
  for (int r = 0; r < repeats; ++r) {
    // A different day each time, so no scan rides on the last one's cache alone.
    const int day = (r * 37 + partitions / 2) % partitions;
    const std::string partition = partition_of(day);
    dt::ReadBounds bounds{partition, dt::PartitionEnd(partition), std::nullopt};
    dt::ReadStats stats;
    auto start = Clock::now();
    const int64_t n = Scan(t, bounds, &stats);
    one.push_back(Seconds(start, Clock::now()));
    if (n != rows_per_partition) {
      Die("partition scan", absl::InternalError(fmt::format("{} rows, expected {}", n, rows_per_partition)));
    }
    one_stats.files_opened = stats.files_opened.load();
    one_stats.files_skipped = stats.files_skipped.load();
  }
  const double ratio = Median(one) / Median(full);
  fmt::print("full scan: median {:.4f} s ({:.2f} M rows/s), {} files opened\n", Median(full),
             total / Median(full) / 1e6, full_stats.files_opened.load());
  fmt::print("one partition of {}: median {:.4f} s, {} files opened, {} skipped\n", partitions,
             Median(one), one_stats.files_opened.load(), one_stats.files_skipped.load());
  fmt::print("ratio one/full: {:.2f}% (target <= 2%)\n", ratio * 100);

  // Dropping a partition writes metadata only.
  auto start = Clock::now();
  auto dropped = t.DropPartitions({partition_of(0)});
  const double drop_s = Seconds(start, Clock::now());
  if (!dropped.ok()) Die("drop", dropped.status());
  fmt::print("drop one partition: {:.4f} s\n", drop_s);

  nlohmann::json out = {{"partitions", partitions},
                        {"rows_per_partition", rows_per_partition},
                        {"buckets", buckets},
                        {"files", (*snap)->FileCount()},
                        {"commit_day_median_s", Median(commits)},
                        {"full_scan_median_s", Median(full)},
                        {"partition_scan_median_s", Median(one)},
                        {"partition_scan_files_opened", one_stats.files_opened.load()},
                        {"full_scan_files_opened", full_stats.files_opened.load()},
                        {"ratio", ratio},
                        {"drop_partition_s", drop_s}};
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  fmt::print("{}\n", out.dump());
  std::filesystem::remove_all(dir);
  return 0;
}
