// delta-sidecar: the gRPC server process. See --help.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "fmt/core.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "sidecar/grpc_service.h"
#include "sidecar/sidecar_server.h"
#include "table/kill_point.h"

int main(int argc, char** argv) {
  // glibc gives each busy thread its own arena (up to 8 per core); freed
  // commit buffers then stay resident in many of them. Two arenas keep peak
  // RSS ~25% lower at the same throughput (docs/benchmarks.md). An explicit
  // MALLOC_ARENA_MAX in the environment wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  std::string listen = "127.0.0.1:7543";
  deltasidecar::sidecar::SidecarOptions options;
  std::string shutdown_timeout = "30s";
  CLI::App app{
      "delta-sidecar: receives record streams over gRPC (deltasidecar.v1), stages them in\n"
      "RocksDB per writer and checkpoint, and commits sealed checkpoints exactly once to\n"
      "delta tables. Every option can also come from the environment variable shown."};
  app.add_option("--listen", listen, "Address to serve on: host:port, or unix:/path/to.sock")
      ->envname("DELTA_SIDECAR_LISTEN")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory of the staging store")
      ->envname("DELTA_SIDECAR_DATA_DIR")
      ->required();
  app.add_option("--table-root", options.table_root,
                 "Directory of the delta tables (the same as deltactl --root)")
      ->envname("DELTA_SIDECAR_TABLE_ROOT")
      ->required();
  app.add_option("--shutdown-timeout", shutdown_timeout,
                 "On SIGTERM, how long in-flight calls may take before they are cancelled")
      ->envname("DELTA_SIDECAR_SHUTDOWN_TIMEOUT")
      ->capture_default_str();
  app.add_option("--max-staged-bytes", options.max_staged_bytes,
                 "Refuse writes with RESOURCE_EXHAUSTED when staged data exceeds this many bytes "
                 "(0: only the disk limits it)")
      ->envname("DELTA_SIDECAR_MAX_STAGED_BYTES")
      ->capture_default_str();
  uint64_t commit_memory_mb = options.table_options.commit_memory_bytes >> 20;
  app.add_option("--commit-memory-mb", commit_memory_mb,
                 "MiB one commit buffers before it sorts and writes them as one file per bucket; "
                 "a larger checkpoint is written as several files per bucket (merged by compaction)")
      ->envname("DELTA_SIDECAR_COMMIT_MEMORY_MB")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20))
      ->capture_default_str();
  namespace table = deltasidecar::table;
  table::CompactionOptions& compaction = options.table_options.compaction;
  app.add_option("--compaction-trigger-files", compaction.trigger_files,
                 "After a commit, compact a bucket once it has this many files (0: never)")
      ->envname("DELTA_SIDECAR_COMPACTION_TRIGGER_FILES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  table::RetentionOptions& retention = options.table_options.retention;
  std::string retain_max_age = absl::FormatDuration(retention.max_age);
  app.add_option("--retain-min-snapshots", retention.min_snapshots,
                 "Snapshot expiry always keeps at least this many snapshots")
      ->envname("DELTA_SIDECAR_RETAIN_MIN_SNAPSHOTS")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  app.add_option("--retain-max-age", retain_max_age,
                 "...and every snapshot younger than this (time travel reaches this far back)")
      ->envname("DELTA_SIDECAR_RETAIN_MAX_AGE")
      ->capture_default_str();
  app.add_option("--retain-max-snapshots", retention.max_snapshots,
                 "...but never more than this many")
      ->envname("DELTA_SIDECAR_RETAIN_MAX_SNAPSHOTS")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  // Runs during parsing, before the required flags are checked.
  app.add_flag_callback(
         "--list-kill-points",
         [] {
           for (int i = 0; i < static_cast<int>(table::KillPoint::kCount); ++i) {
             const auto& info = table::KillPointInfoOf(static_cast<table::KillPoint>(i));
             fmt::print("{:<28} {}\n", info.name, info.when);
           }
           throw CLI::Success();
         },
         "Print the named kill points (armed by DELTA_SIDECAR_KILL_POINT=name[:n] for crash "
         "tests; see docs/crashtest.md) and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "delta-sidecar: error: {}\n", e.what());
    return 2;
  }
  options.table_options.commit_memory_bytes = commit_memory_mb << 20;
  if (!absl::ParseDuration(retain_max_age, &retention.max_age) || retention.max_age < absl::ZeroDuration()) {
    fmt::print(stderr, "delta-sidecar: --retain-max-age: cannot parse '{}' (use e.g. 1h or 90s)\n",
               retain_max_age);
    return 2;
  }
  if (retention.max_snapshots < retention.min_snapshots) {
    fmt::print(stderr, "delta-sidecar: --retain-max-snapshots {} is below --retain-min-snapshots {}\n",
               retention.max_snapshots, retention.min_snapshots);
    return 2;
  }
  auto armed = table::ArmKillPointFromEnvironment();
  if (!armed.ok()) {
    fmt::print(stderr, "delta-sidecar: {}\n", std::string(armed.status().message()));
    return 2;
  }
  if (armed->has_value()) {
    fmt::print(stderr, "delta-sidecar: kill point {} armed: this process will SIGKILL itself there "
               "(crash testing only)\n", **armed);
  }
  absl::Duration shutdown_deadline;
  if (!absl::ParseDuration(shutdown_timeout, &shutdown_deadline)) {
    fmt::print(stderr, "delta-sidecar: --shutdown-timeout: cannot parse '{}' (use e.g. 30s)\n",
               shutdown_timeout);
    return 2;
  }

  // Signals are taken by one thread that calls Shutdown; block them everywhere else.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = deltasidecar::sidecar::SidecarServer::Open(options);
  if (!server.ok()) {
    fmt::print(stderr, "delta-sidecar: {}\n", std::string(server.status().message()));
    return 1;
  }

  deltasidecar::sidecar::GrpcService service(server->get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(80 << 20);  // a RecordBatch may hold 64 MiB of rows
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server) {
    fmt::print(stderr, "delta-sidecar: cannot listen on {}\n", listen);
    return 1;
  }
  // With port 0 the system picked one: report the real address.
  std::string serving = listen;
  if (port > 0 && listen.rfind("unix:", 0) != 0 && listen.size() > 2 &&
      listen.compare(listen.size() - 2, 2, ":0") == 0) {
    serving = listen.substr(0, listen.size() - 1) + std::to_string(port);
  }
  fmt::print(stderr, "delta-sidecar: serving on {} (tables in {}, staging in {})\n", serving,
             options.table_root, options.data_dir);

  int sig = 0;
  sigwait(&signals, &sig);
  fmt::print(stderr, "delta-sidecar: signal {}, shutting down\n", sig);
  // End the Write streams (an idle one would hold the shutdown until the
  // deadline; one staging a batch acknowledges it first), stop accepting
  // calls, let in-flight ones (a commit included) finish within the deadline,
  // then close the staging store cleanly (the destructors below).
  grpc_server->GetHealthCheckService()->Shutdown();
  service.ShutdownWriteStreams();
  grpc_server->Shutdown(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(shutdown_deadline));
  (*server)->Shutdown();
  grpc_server.reset();
  server->reset();
  fmt::print(stderr, "delta-sidecar: stopped\n");
  return 0;
}
