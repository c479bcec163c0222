// Table engine benchmark through the C++ API (no JSON): commit of 1M rows of
// ~100 bytes into 16 buckets, commit cost as the table grows, full scan and
// point lookups on the grown table. Prints figures and writes them as JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/table.h"

namespace dt = deltasidecar::table;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

// A ~100-byte row: 8-byte key, short strings drawn from small vocabularies
// (realistically compressible), numbers and a timestamp.
dt::Row MakeRow(int64_t id, std::mt19937_64& rng) {
  static const char* kCities[] = {"berlin", "lisbon", "osaka", "lagos", "lima", "oslo", "perth", "quito"};
  static const char* kStatus[] = {"created", "paid", "shipped", "delivered", "returned"};
  dt::Row row(7);
  row[0] = id;
  row[1] = std::string(kCities[rng() % 8]) + "-" + std::to_string(rng() % 100000);
  row[2] = std::string(kStatus[rng() % 5]);
  row[3] = static_cast<double>(rng() % 1000000) / 100.0;
  row[4] = static_cast<int64_t>(rng() % 1000);
  row[5] = static_cast<int64_t>(1790000000000000000LL + static_cast<int64_t>(rng() % 1000000000000LL));
  std::string note(49, ' ');
  for (auto& c : note) c = static_cast<char>('a' + rng() % 26);
  row[6] = std::move(note);
  return row;
}

dt::MutationBatch MakeBatch(const dt::TableSchema& schema, int64_t first_id, int64_t rows,
                            int64_t key_space, uint64_t seed) {
  std::mt19937_64 rng(seed);
  dt::MutationBatch batch;
  batch.Reserve(rows, rows * 110);
  for (int64_t i = 0; i < rows; ++i) {
    // key_space > 0: updates of random existing keys; else fresh sequential keys.
    int64_t id = key_space > 0 ? static_cast<int64_t>(rng() % key_space) : first_id + i;
    batch.Upsert(schema, MakeRow(id, rng));
  }
  return batch;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/delta-table-bench";
  std::string json_out;
  int64_t rows_per_commit = 1'000'000;
  int64_t table_rows = 10'000'000;
  int repeats = 3;
  int lookups = 20000;
  CLI::App app{"Benchmarks the delta table engine through its C++ API."};
  app.add_option("--dir", dir, "Scratch table root (deleted first)")->capture_default_str();
  app.add_option("--rows-per-commit", rows_per_commit)->capture_default_str();
  app.add_option("--table-rows", table_rows, "Rows in the grown table")->capture_default_str();
  app.add_option("--repeats", repeats, "Measured commits at each table size")->capture_default_str();
  app.add_option("--lookups", lookups)->capture_default_str();
  app.add_option("--json", json_out, "Also write the figures to this file");
  std::string curve_out;
  app.add_option("--curve", curve_out,
                 "Also write 'rows_in_table seconds' of every measured commit to this file (for plots)");
  CLI11_PARSE(app, argc, argv);

  std::filesystem::remove_all(dir);
  auto schema = dt::TableSchema::Parse(
      "id BIGINT, city STRING, status STRING, amount DOUBLE, qty INT, ts TIMESTAMP, note STRING", "id", 16);
  if (!schema.ok()) return 1;
  if (auto s = dt::Table::Create(dir, "bench", *schema); !s.ok()) {
    fmt::print(stderr, "create: {}\n", s.ToString());
    return 1;
  }
  auto table = dt::Table::Open(dir, "bench");
  if (!table.ok()) return 1;
  dt::Table& t = **table;

  auto commit = [&](const dt::MutationBatch& b) {
    auto start = Clock::now();
    auto r = t.Commit(b);
    double s = Seconds(start, Clock::now());
    if (!r.ok()) {
      fmt::print(stderr, "commit: {}\n", r.status().ToString());
      std::exit(1);
    }
    // Maintenance runs after the commit returns, as a committer would; not timed.
    auto m = t.RunMaintenance();
    if (!m.ok()) fmt::print(stderr, "maintenance: {}\n", m.ToString());
    return s;
  };

  nlohmann::ordered_json out;
  std::vector<std::pair<int64_t, double>> curve;  // table rows before the commit, seconds
  int64_t loaded = 0;
  uint64_t seed = 1;
  // Load the first rows_per_commit rows, then measure updates at that size.
  {
    auto b = MakeBatch(*schema, 0, rows_per_commit, 0, seed++);
    fmt::print("batch of {} rows: {:.1f} bytes/row encoded\n", b.size(), double(b.ByteSize()) / b.size());
    out["row_bytes"] = double(b.ByteSize()) / b.size();
    double s = commit(b);
    loaded += rows_per_commit;
    fmt::print("commit {} new rows into empty table: {:.3f} s\n", rows_per_commit, s);
    out["commit_into_empty_s"] = s;
  }
  std::vector<double> small;
  for (int i = 0; i < repeats; ++i) {
    auto b = MakeBatch(*schema, 0, rows_per_commit, loaded, seed++);
    small.push_back(commit(b));
    curve.emplace_back(loaded, small.back());
    fmt::print("commit {} updates at {} rows: {:.3f} s\n", rows_per_commit, loaded, small.back());
  }
  while (loaded < table_rows) {
    auto b = MakeBatch(*schema, loaded, rows_per_commit, 0, seed++);
    double s = commit(b);
    curve.emplace_back(loaded, s);
    loaded += rows_per_commit;
    fmt::print("grow: commit {} new rows -> {} rows: {:.3f} s\n", rows_per_commit, loaded, s);
  }
  std::vector<double> large;
  for (int i = 0; i < repeats; ++i) {
    auto b = MakeBatch(*schema, 0, rows_per_commit, loaded, seed++);
    large.push_back(commit(b));
    curve.emplace_back(loaded, large.back());
    fmt::print("commit {} updates at {} rows: {:.3f} s\n", rows_per_commit, loaded, large.back());
  }
  out["commit_1m_small_table_median_s"] = Median(small);
  out["commit_1m_large_table_median_s"] = Median(large);
  out["commit_growth_ratio"] = Median(large) / Median(small);

  auto snap = t.LatestSnapshot();
  if (!snap.ok()) return 1;
  fmt::print("table: {} rows in {} files\n", loaded, (*snap)->FileCount());
  out["table_rows"] = loaded;
  out["table_files"] = (*snap)->FileCount();

  // Full scan: merge-on-read iteration, then the same with every row decoded.
  for (bool decode : {false, true}) {
    auto start = Clock::now();
    auto it = t.NewScan(**snap);
    if (!it.ok()) return 1;
    int64_t n = 0;
    dt::Row row(schema->columns().size());
    for (; (*it)->Valid(); (*it)->Next()) {
      if (decode) {
        if (!dt::DecodeKey(*schema, (*it)->key(), &row).ok() ||
            !dt::DecodeValue(*schema, (*it)->value(), &row).ok()) return 1;
      }
      ++n;
    }
    if (!(*it)->status().ok()) {
      fmt::print(stderr, "scan: {}\n", (*it)->status().ToString());
      return 1;
    }
    double s = Seconds(start, Clock::now());
    fmt::print("full scan{}: {} rows in {:.3f} s = {:.2f} M rows/s\n", decode ? " with decode" : "", n, s, n / s / 1e6);
    out[decode ? "scan_decoded_rows_per_s" : "scan_rows_per_s"] = n / s;
  }

  // Point lookups of random keys (9 in 10 present).
  std::mt19937_64 rng(99);
  std::vector<double> us;
  us.reserve(lookups);
  int found = 0;
  for (int i = 0; i < lookups; ++i) {
    dt::Row key(schema->columns().size());
    key[0] = static_cast<int64_t>(rng() % (loaded + loaded / 9));
    std::string k = dt::EncodeKey(*schema, key);
    auto start = Clock::now();
    auto v = t.Get(**snap, k);
    us.push_back(Seconds(start, Clock::now()) * 1e6);
    if (!v.ok()) return 1;
    found += v->has_value();
  }
  fmt::print("point lookup: p50 {:.1f} us, p99 {:.1f} us, max {:.1f} us ({} of {} found)\n",
             Percentile(us, 0.5), Percentile(us, 0.99), Percentile(us, 1.0), found, lookups);
  out["lookup_p50_us"] = Percentile(us, 0.5);
  out["lookup_p99_us"] = Percentile(us, 0.99);

  if (!curve_out.empty()) {
    FILE* f = std::fopen(curve_out.c_str(), "w");
    if (f == nullptr) return 1;
    for (const auto& [rows, s] : curve) fmt::print(f, "{} {:.4f}\n", rows, s);
    std::fclose(f);
  }
  if (!json_out.empty()) {
    FILE* f = std::fopen(json_out.c_str(), "w");
    if (f) {
      fmt::print(f, "{}\n", out.dump(2));
      std::fclose(f);
    }
  }
  fmt::print("{}\n", out.dump());
  return 0;
}
