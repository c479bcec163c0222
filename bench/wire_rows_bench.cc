// Packed row codec benchmark (sidecar/wire_rows.h), one core, no I/O:
//  - encode: AppendWireRow, as delta-loadgen and clients build a RecordBatch
//  - decode: DecodeWireRows into a MutationBatch, the sidecar's write path
//  - from entry: AppendWireRowFromEntry, stored key/value bytes back to packed rows
// Each figure is the median over --repeats passes of --rows rows, in ns per row.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "sidecar/wire_rows.h"
#include "table/mutation_batch.h"
#include "table/row.h"

namespace dt = deltasidecar::table;
namespace ds = deltasidecar::sidecar;
using Clock = std::chrono::steady_clock;

namespace {

// Rows that touch every fixed-width family, strings and a delete now and then.
dt::Row MakeRow(int64_t id, std::mt19937_64& rng) {
  static const char* kCities[] = {"berlin", "lisbon", "osaka", "lagos", "lima", "oslo", "perth", "quito"};
  dt::Row row(10);
  row[0] = id;
  row[1] = std::string(kCities[rng() % 8]) + "-" + std::to_string(rng() % 100000);
  row[2] = static_cast<double>(rng() % 1000000) / 100.0;
  row[3] = static_cast<int64_t>(rng() % 1000);
  row[4] = static_cast<int64_t>(1790000000000000000LL + static_cast<int64_t>(rng() % 1000000000000LL));
  row[5] = static_cast<__int128>(rng() % 100000000);
  row[6] = static_cast<double>(static_cast<float>(rng() % 1000) / 8.0f);
  row[7] = static_cast<int64_t>(rng() % 20000);
  if (rng() % 4 != 0) row[8] = (rng() & 1) != 0;
  std::string note(24, ' ');
  for (auto& c : note) c = static_cast<char>('a' + rng() % 26);
  row[9] = std::move(note);
  return row;
}

template <typename F>
double MedianNsPerRow(int repeats, size_t rows, F&& pass) {
  std::vector<double> ns;
  for (int i = 0; i < repeats; ++i) {
    auto start = Clock::now();
    pass();
    ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                 static_cast<double>(rows));
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 500'000;  // ~42 MB packed, within WireLimits::max_bytes
  int repeats = 11;
  CLI::App app{"Benchmarks the packed row codec of the gRPC API."};
  app.add_option("--rows", rows)->capture_default_str();
  app.add_option("--repeats", repeats)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto schema = dt::TableSchema::Parse(
      "id BIGINT, city STRING, amount DOUBLE, qty INT, ts TIMESTAMP, price DECIMAL(12,2), "
      "ratio FLOAT, day DATE, flag BOOLEAN, note STRING",
      "id", 16);
  if (!schema.ok()) {
    fmt::print(stderr, "schema: {}\n", schema.status().ToString());
    return 1;
  }
  std::mt19937_64 rng(1);
  std::vector<std::pair<dt::RowOp, dt::Row>> input;
  input.reserve(rows);
  for (int64_t i = 0; i < rows; ++i) {
    input.emplace_back(rng() % 10 == 0 ? dt::RowOp::kDelete : dt::RowOp::kUpsert, MakeRow(i, rng));
  }

  std::string packed;
  double encode = MedianNsPerRow(repeats, input.size(), [&] {
    packed.clear();
    for (const auto& [op, row] : input) ds::AppendWireRow(*schema, op, row, &packed);
  });

  dt::MutationBatch batch;
  double decode = MedianNsPerRow(repeats, input.size(), [&] {
    batch = dt::MutationBatch();
    absl::Status s = ds::DecodeWireRows(*schema, packed, static_cast<uint32_t>(input.size()),
                                        ds::WireLimits{}, &batch);
    if (!s.ok()) {
      fmt::print(stderr, "decode: {}\n", s.ToString());
      std::exit(1);
    }
  });

  std::string again;
  double from_entry = MedianNsPerRow(repeats, batch.size(), [&] {
    again.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      absl::Status s = ds::AppendWireRowFromEntry(*schema, batch.key(i), batch.value(i), &again);
      if (!s.ok()) {
        fmt::print(stderr, "from entry: {}\n", s.ToString());
        std::exit(1);
      }
    }
  });
  if (again != packed) {
    fmt::print(stderr, "packed rows differ after a round trip through the table encoding\n");
    return 1;
  }

  fmt::print("{} rows, {:.1f} packed bytes/row, median of {} passes\n", input.size(),
             static_cast<double>(packed.size()) / input.size(), repeats);
  fmt::print("encode (AppendWireRow):              {:.1f} ns/row\n", encode);
  fmt::print("decode (DecodeWireRows):             {:.1f} ns/row\n", decode);
  fmt::print("from entry (AppendWireRowFromEntry): {:.1f} ns/row\n", from_entry);
  return 0;
}
