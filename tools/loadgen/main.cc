// delta-loadgen: plays a stream processor with W parallel writers against a
// running delta-sidecar, through the real gRPC API, deterministically.
//
// The content of every op is a pure function of the flags (workload.h), so
// the final table is known in advance (--expect writes it exactly as
// `deltactl scan` prints it), and a run that survives sidecar crashes
// (load_run.h) must end with exactly that table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/schema.h"
#include "tools/loadgen/expected_table.h"
#include "tools/loadgen/load_run.h"
#include "tools/loadgen/options.h"
#include "tools/loadgen/reporter.h"
#include "tools/loadgen/workload.h"

namespace deltasidecar::loadgen {
namespace {

constexpr char kDescription[] =
    "delta-loadgen: plays a stream processor with W parallel writers against a running\n"
    "delta-sidecar (deltasidecar.v1 over gRPC), deterministically: the same flags always\n"
    "produce the same final table, which --expect writes as `deltactl scan` prints it.\n"
    "Survives sidecar crashes like Flink: restart from the last completed checkpoint and\n"
    "replay. Prints one JSON summary line on stdout; progress and restarts on stderr.\n"
    "Exit status: 0 done, 1 failed, 2 bad usage.";

void AddFlags(CLI::App& app, Options& o) {
  app.add_option("--target", o.target, "Sidecar address: host:port, unix:/path or /path")
      ->capture_default_str();
  app.add_option("--targets", o.targets,
                 "Several sidecars on one table root (A,B,...): writer w stages on the "
                 "(w mod n)-th, and each checkpoint's one Commit, holding every writer's "
                 "committables, goes to the sidecars in turn; replaces --target")
      ->delimiter(',');
  app.add_option("--table", o.table, "Table to write (created if missing)")->required();
  app.add_option("--rows", o.rows, "Total operations across all writers")
      ->required()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--seed", o.seed, "Seed of every writer's PRNG")->capture_default_str();
  app.add_option("--writers", o.writers, "Parallel writers (writer w owns ids with id % W == w)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--key-space", o.key_space, "Keys 0..K-1 (default rows/2)");
  app.add_option("--update-ratio", o.update_ratio, "Share of ops that upsert an existing key")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--delete-ratio", o.delete_ratio, "Share of ops that delete an existing key")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--row-bytes", o.row_bytes, "Approximate packed size of an upserted row")
      ->capture_default_str()
      ->check(CLI::Range(size_t{31}, size_t{1} << 20));
  app.add_option("--rate", o.rate, "Total rows per second across writers (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--report", o.report_file,
                 "Write timed events as JSON lines: rows acknowledged every 250 ms, each "
                 "PrepareCommit and Commit with its latency");
  app.add_option("--batch-rows", o.batch_rows, "Rows per RecordBatch")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--checkpoint-rows", o.checkpoint_rows,
                 "Ops per writer between checkpoints; 0: by time (--checkpoint-interval-ms)")
      ->capture_default_str();
  app.add_option("--checkpoint-interval-ms", o.checkpoint_interval_ms,
                 "Checkpoint interval when --checkpoint-rows is 0")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{86'400'000}));
  app.add_option("--commit-delay-ms", o.commit_delay_ms,
                 "Wait this long after a checkpoint completes before committing it (a late "
                 "checkpoint-complete notification)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{600'000}));
  app.add_option("--buckets", o.buckets, "Buckets when the table is created")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--expect", o.expect_file,
                 "Write the expected final table here (JSON lines as `deltactl scan` prints them)");
  app.add_flag("--dry-run", o.dry_run, "With --expect: write the file and exit without a sidecar");
  app.add_flag("--progress", o.progress,
               "Progress on stderr, stamped with seconds since start: per checkpoint, each "
               "writer's prepare, its completion, and its commit (id, rows so far, rows/s, "
               "commit ms)");
  app.add_option("--writer-prefix", o.writer_prefix,
                 "Writer ids are <prefix>/<w> (default loadgen-<table>)");
  app.add_option("--max-restart-seconds", o.max_restart_seconds,
                 "How long one restart may wait for the sidecar to come back")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
}

// Fills the defaults that depend on other flags; false (after printing why)
// for a combination CLI11 cannot reject on its own.
bool ResolveFlags(Options& o) {
  if (o.key_space == 0) o.key_space = std::max<uint64_t>(o.rows / 2, 1);
  if (o.key_space < static_cast<uint64_t>(o.writers)) {
    fmt::print(stderr, "delta-loadgen: error: --key-space ({}) must be at least --writers ({})\n",
               o.key_space, o.writers);
    return false;
  }
  if (o.update_ratio + o.delete_ratio > 1.0) {
    fmt::print(stderr, "delta-loadgen: error: --update-ratio + --delete-ratio exceeds 1\n");
    return false;
  }
  if (o.dry_run && o.expect_file.empty()) {
    fmt::print(stderr, "delta-loadgen: error: --dry-run needs --expect\n");
    return false;
  }
  if (o.writer_prefix.empty()) o.writer_prefix = "loadgen-" + o.table;
  return true;
}

// The one JSON line on stdout that scripts parse.
void PrintSummary(const Options& o, const LoadRun& run, double secs) {
  nlohmann::ordered_json summary;
  summary["rows"] = o.rows;
  summary["writers"] = o.writers;
  summary["checkpoints"] = run.checkpoints();
  summary["restarts"] = run.restarts();
  summary["seconds"] = std::round(secs * 1000) / 1000;
  summary["rows_per_s"] = static_cast<uint64_t>(std::llround(o.rows / std::max(secs, 1e-9)));
  summary["mb_per_s"] = std::round(run.bytes() / std::max(secs, 1e-9) / 1e6 * 100) / 100;
  fmt::print("{}\n", summary.dump());
}

// Everything after the flags; returns the exit status.
int RunLoadgen(const Options& o) {
  auto schema = table::TableSchema::Parse(kSchema, kPrimaryKey, o.buckets);
  if (!schema.ok()) {
    fmt::print(stderr, "delta-loadgen: {}\n", SV(schema.status().message()));
    return 1;
  }
  Workload workload(o, *schema);
  if (o.dry_run) {
    if (!WriteExpected(workload, *schema, o.expect_file)) {
      fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.expect_file);
      return 1;
    }
    return 0;
  }
  Reporter reporter(o.report_file);
  if (reporter.failed_to_open(o.report_file)) {
    fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.report_file);
    return 1;
  }
  reporter.Start();
  auto began = std::chrono::steady_clock::now();
  LoadRun run(o, workload, &reporter);
  if (!run.Run()) return 1;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  if (!o.expect_file.empty() && !WriteExpected(workload, *schema, o.expect_file)) {
    fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.expect_file);
    return 1;
  }
  PrintSummary(o, run, secs);
  return 0;
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{kDescription};
  AddFlags(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "delta-loadgen: error: {}\n", e.what());
    return 2;
  }
  if (!ResolveFlags(o)) return 2;
  return RunLoadgen(o);
}

}  // namespace
}  // namespace deltasidecar::loadgen

int main(int argc, char** argv) { return deltasidecar::loadgen::Main(argc, argv); }
