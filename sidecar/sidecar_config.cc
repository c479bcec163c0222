#include "sidecar/sidecar_config.h"

#include <cstdio>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "table/base/absl_compat.h"
#include "table/base/kill_point.h"
#include "table/base/status_macros.h"

namespace deltasidecar::sidecar {

namespace {

// What CLI11 fills as text, or in other units than the config's; FromFlags
// converts and checks it.
struct FlagText {
  std::string shutdown_timeout;
  std::string retain_max_age;
  std::string consumer_max_age;
  std::string maintenance_interval;
  std::string prepared_wait;
  std::string orphan_age;
  std::string log_format = "text";
  uint64_t commit_memory_mb = 0;
};

// --listen, the directories, shutdown, the staging limits and commit memory.
void AddServerFlags(CLI::App& app, SidecarConfig& config, FlagText& text) {
  SidecarOptions& options = config.server;
  app.add_option("--listen", config.listen, "Address to serve on: host:port, or unix:/path/to.sock")
      ->envname("DELTA_SIDECAR_LISTEN")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory of the staging store")
      ->envname("DELTA_SIDECAR_DATA_DIR")
      ->required();
  app.add_option("--table-root", options.table_root,
                 "Directory of the delta tables (the same as deltactl --root)")
      ->envname("DELTA_SIDECAR_TABLE_ROOT")
      ->required();
  text.shutdown_timeout = absl::FormatDuration(config.shutdown_timeout);
  app.add_option("--shutdown-timeout", text.shutdown_timeout,
                 "On SIGTERM, how long in-flight calls may take before they are cancelled")
      ->envname("DELTA_SIDECAR_SHUTDOWN_TIMEOUT")
      ->capture_default_str();
  app.add_option("--max-staged-bytes", options.max_staged_bytes,
                 "Refuse writes with RESOURCE_EXHAUSTED when staged data exceeds this many bytes "
                 "(0: only the disk limits it)")
      ->envname("DELTA_SIDECAR_MAX_STAGED_BYTES")
      ->capture_default_str();
  app.add_option("--max-staged-bytes-per-writer", options.max_staged_bytes_per_writer,
                 "Refuse a writer's batches with RESOURCE_EXHAUSTED when what it has staged and "
                 "not committed (open and sealed) would exceed this many bytes (0: no quota)")
      ->envname("DELTA_SIDECAR_MAX_STAGED_BYTES_PER_WRITER")
      ->capture_default_str();
  text.commit_memory_mb = options.table_options.commit_memory_bytes >> 20;
  app.add_option("--commit-memory-mb", text.commit_memory_mb,
                 "MiB one commit buffers before it sorts and writes them as one file per bucket; "
                 "a larger checkpoint is written as several files per bucket (merged by compaction)")
      ->envname("DELTA_SIDECAR_COMMIT_MEMORY_MB")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20))
      ->capture_default_str();
}

// Compaction and snapshot retention of the tables.
void AddTableFlags(CLI::App& app, SidecarConfig& config, FlagText& text) {
  table::CompactionOptions& compaction = config.server.table_options.compaction;
  app.add_option("--compaction-trigger-files", compaction.trigger_files,
                 "After a commit, compact a bucket once it has this many files (0: never)")
      ->envname("DELTA_SIDECAR_COMPACTION_TRIGGER_FILES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // Compaction is deferrable work: by default it yields the cores to ingest,
  // preparation and commits whenever they want them.
  config.server.table_options.compaction_nice = 10;
  app.add_option("--compaction-nice", config.server.table_options.compaction_nice,
                 "CPU niceness of the threads that merge files in a compaction (0-19; 0: the "
                 "sidecar's own): above 0 they use the cores that ingest and commits leave idle")
      ->envname("DELTA_SIDECAR_COMPACTION_NICE")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  table::RetentionOptions& retention = config.server.table_options.retention;
  text.retain_max_age = absl::FormatDuration(retention.max_age);
  app.add_option("--retain-min-snapshots", retention.min_snapshots,
                 "Snapshot expiry always keeps at least this many snapshots")
      ->envname("DELTA_SIDECAR_RETAIN_MIN_SNAPSHOTS")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  app.add_option("--retain-max-age", text.retain_max_age,
                 "...and every snapshot younger than this (time travel reaches this far back)")
      ->envname("DELTA_SIDECAR_RETAIN_MAX_AGE")
      ->capture_default_str();
  app.add_option("--retain-max-snapshots", retention.max_snapshots,
                 "...but never more than this many")
      ->envname("DELTA_SIDECAR_RETAIN_MAX_SNAPSHOTS")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  text.consumer_max_age = absl::FormatDuration(retention.consumer_max_age);
  app.add_option("--consumer-max-age", text.consumer_max_age,
                 "Beyond these, expiry keeps every snapshot from a named consumer's position on, "
                 "while that position was written within this long (0: consumers hold nothing)")
      ->envname("DELTA_SIDECAR_CONSUMER_MAX_AGE")
      ->capture_default_str();
}

// Metrics, logs and the maintenance schedule (docs/operations.md, "Observe"
// and "Background maintenance").
void AddObservabilityFlags(CLI::App& app, SidecarConfig& config, FlagText& text) {
  text.maintenance_interval = absl::FormatDuration(config.server.maintenance_interval);
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Serve Prometheus metrics over HTTP at http://<host:port>/metrics (e.g. "
                 "127.0.0.1:9464); empty: off")
      ->envname("DELTA_SIDECAR_METRICS_LISTEN");
  app.add_option("--log-format", text.log_format,
                 "stderr log lines: text, or json (one object per line with time, level, event, "
                 "table, writer, epoch, checkpoint)")
      ->envname("DELTA_SIDECAR_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--maintenance-interval", text.maintenance_interval,
                 "Besides after each commit, run compaction and snapshot expiry on every table "
                 "this often (0: only after commits)")
      ->envname("DELTA_SIDECAR_MAINTENANCE_INTERVAL")
      ->capture_default_str();
  text.prepared_wait = absl::FormatDuration(config.server.prepared_wait);
  app.add_option("--prepared-wait", text.prepared_wait,
                 "How long a Commit naming a checkpoint that another sidecar on the table root "
                 "sealed, or a RegisterWriter restoring a checkpoint another sidecar sealed, "
                 "waits for it to be prepared there before answering UNAVAILABLE")
      ->envname("DELTA_SIDECAR_PREPARED_WAIT")
      ->capture_default_str();
  app.add_option("--prepare-threads", config.server.prepare_threads,
                 "Threads that turn sealed checkpoints into table files in the background, "
                 "and that a Commit uses for its writers not prepared yet (each may buffer "
                 "--commit-memory-mb)")
      ->envname("DELTA_SIDECAR_PREPARE_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  text.orphan_age = absl::FormatDuration(config.server.orphan_age);
  app.add_option("--orphan-age", text.orphan_age,
                 "Maintenance also removes prepared checkpoints that can no longer be committed "
                 "and data files no snapshot or pending prepared checkpoint names, once older "
                 "than this (0: never)")
      ->envname("DELTA_SIDECAR_ORPHAN_AGE")
      ->capture_default_str();
}

// Transport security, call authentication and message limits of the gRPC
// port (docs/operations.md, "Security").
void AddSecurityFlags(CLI::App& app, SidecarConfig& config) {
  app.add_option("--tls-cert", config.tls.cert_file,
                 "PEM certificate chain of the gRPC port; with --tls-key the port speaks TLS only")
      ->envname("DELTA_SIDECAR_TLS_CERT");
  app.add_option("--tls-key", config.tls.key_file, "PEM private key (unencrypted) of --tls-cert")
      ->envname("DELTA_SIDECAR_TLS_KEY");
  app.add_option("--tls-client-ca", config.tls.client_ca_file,
                 "PEM CA certificates: require every client to present a certificate they "
                 "signed (mutual TLS; needs --tls-cert)")
      ->envname("DELTA_SIDECAR_TLS_CLIENT_CA");
  app.add_option("--auth-token-file", config.auth_token_file,
                 "File holding a bearer token: every call must then carry the metadata "
                 "'authorization: Bearer <token>' or is refused UNAUTHENTICATED (the health "
                 "service stays open)")
      ->envname("DELTA_SIDECAR_AUTH_TOKEN_FILE");
  app.add_option("--max-receive-message-mb", config.max_receive_message_mb,
                 "Largest gRPC message the sidecar accepts, in MiB; a larger one is refused "
                 "with RESOURCE_EXHAUSTED (keep it above the 64 MiB batch limit plus headers)")
      ->envname("DELTA_SIDECAR_MAX_RECEIVE_MESSAGE_MB")
      ->check(CLI::Range(uint32_t{1}, uint32_t{2047}))
      ->capture_default_str();
  app.add_option("--health-listen", config.health_listen,
                 "Also serve only the gRPC health service, in plaintext, on this address (for "
                 "Kubernetes probes, which reach the pod IP and cannot speak TLS); empty: off")
      ->envname("DELTA_SIDECAR_HEALTH_LISTEN");
}

void AddListKillPointsFlag(CLI::App& app) {
  // Runs during parsing, before the required flags are checked.
  app.add_flag_callback(
      "--list-kill-points",
      [] {
        for (const KillPoint* point : RegisteredKillPoints()) {
          fmt::print("{:<28} {}\n", point->name(), point->when());
        }
        throw CLI::Success();
      },
      "Print the named kill points (armed by DELTA_SIDECAR_KILL_POINT=name[:n] for crash "
      "tests; see docs/crashtest.md) and exit");
}

// Completes `config` from the flags CLI11 left as text; INVALID_ARGUMENT
// naming the flag when one does not parse or contradicts another.
absl::StatusOr<SidecarConfig> FromFlags(SidecarConfig config, const FlagText& text) {
  config.server.table_options.commit_memory_bytes = text.commit_memory_mb << 20;
  absl::Duration& interval = config.server.maintenance_interval;
  if (!absl::ParseDuration(text.maintenance_interval, &interval) ||
      interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        fmt::format("--maintenance-interval: cannot parse '{}' (use e.g. 60s or 5m)",
                    text.maintenance_interval));
  }
  if (!absl::ParseDuration(text.prepared_wait, &config.server.prepared_wait) ||
      config.server.prepared_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(fmt::format(
        "--prepared-wait: cannot parse '{}' (use e.g. 10s or 500ms)", text.prepared_wait));
  }
  if (!absl::ParseDuration(text.orphan_age, &config.server.orphan_age) ||
      config.server.orphan_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(fmt::format(
        "--orphan-age: cannot parse '{}' (use e.g. 1h, 30m, or 0 for never)", text.orphan_age));
  }
  ASSIGN_OR_RETURN(config.log_format, ParseLogFormat(text.log_format));  // checked by CLI11
  table::RetentionOptions& retention = config.server.table_options.retention;
  if (!absl::ParseDuration(text.retain_max_age, &retention.max_age) ||
      retention.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(fmt::format(
        "--retain-max-age: cannot parse '{}' (use e.g. 1h or 90s)", text.retain_max_age));
  }
  if (!absl::ParseDuration(text.consumer_max_age, &retention.consumer_max_age) ||
      retention.consumer_max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(fmt::format(
        "--consumer-max-age: cannot parse '{}' (use e.g. 24h or 30m)", text.consumer_max_age));
  }
  if (retention.max_snapshots < retention.min_snapshots) {
    return absl::InvalidArgumentError(
        fmt::format("--retain-max-snapshots {} is below --retain-min-snapshots {}",
                    retention.max_snapshots, retention.min_snapshots));
  }
  if (!absl::ParseDuration(text.shutdown_timeout, &config.shutdown_timeout)) {
    return absl::InvalidArgumentError(fmt::format(
        "--shutdown-timeout: cannot parse '{}' (use e.g. 30s)", text.shutdown_timeout));
  }
  return config;
}

}  // namespace

CommandLine ParseCommandLine(int argc, char** argv) {
  SidecarConfig config;
  FlagText text;
  CLI::App app{
      "delta-sidecar: receives record streams over gRPC (deltasidecar.v1), stages them in\n"
      "RocksDB per writer and checkpoint, and commits sealed checkpoints exactly once to\n"
      "delta tables. Every option can also come from the environment variable shown."};
  AddServerFlags(app, config, text);
  AddTableFlags(app, config, text);
  AddObservabilityFlags(app, config, text);
  AddSecurityFlags(app, config);
  AddListKillPointsFlag(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "delta-sidecar: error: {}\n", e.what());
    return {std::nullopt, 2};
  }
  absl::StatusOr<SidecarConfig> checked = FromFlags(std::move(config), text);
  if (!checked.ok()) {
    fmt::print(stderr, "delta-sidecar: {}\n", SV(checked.status().message()));
    return {std::nullopt, 2};
  }
  return {*std::move(checked), 0};
}

}  // namespace deltasidecar::sidecar
