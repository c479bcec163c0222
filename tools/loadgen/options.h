// The load generator's configuration (filled from the command line by
// main.cc) and the fixed schema of the table it writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace deltasidecar::loadgen {

constexpr char kSchema[] = "id BIGINT, writer INT, seq BIGINT, amount DOUBLE, payload STRING";
constexpr char kPrimaryKey[] = "id";

struct Options {
  std::string target = "127.0.0.1:7543";
  // Sidecars on one table root: writer w stages on targets[w % n], and the
  // Commit of checkpoint N goes to targets[N % n]. Empty: `target` alone.
  std::vector<std::string> targets;
  std::string table;
  uint64_t rows = 0;
  uint64_t seed = 1;
  int writers = 2;
  uint64_t key_space = 0;  // 0: rows / 2
  double update_ratio = 0.3;
  double delete_ratio = 0.1;
  size_t row_bytes = 100;
  uint32_t batch_rows = 5000;
  uint64_t checkpoint_rows = 0;  // 0: checkpoint by time
  int64_t checkpoint_interval_ms = 1000;
  int buckets = 16;
  std::string expect_file;
  bool dry_run = false;
  bool progress = false;
  std::string writer_prefix;
  double max_restart_seconds = 60;
  int64_t commit_delay_ms = 0;  // the committer waits this long before each Commit
  double rate = 0;          // total rows per second across writers; 0: as fast as possible
  std::string report_file;  // JSON lines of timed events; empty: none
};

}  // namespace deltasidecar::loadgen
