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
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/exposer.h"
#include "sidecar/event_log.h"
#include "sidecar/grpc_service.h"
#include "sidecar/metrics.h"
#include "sidecar/rpc_metrics.h"
#include "sidecar/server_security.h"
#include "sidecar/sidecar_server.h"
#include "table/base/kill_point.h"

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
  app.add_option("--max-staged-bytes-per-writer", options.max_staged_bytes_per_writer,
                 "Refuse a writer's batches with RESOURCE_EXHAUSTED when what it has staged and "
                 "not committed (open and sealed) would exceed this many bytes (0: no quota)")
      ->envname("DELTA_SIDECAR_MAX_STAGED_BYTES_PER_WRITER")
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
  // Metrics, logs and the maintenance schedule (docs/operations.md, "Observe"
  // and "Background maintenance").
  std::string metrics_listen;
  std::string log_format = "text";
  std::string maintenance_interval = absl::FormatDuration(options.maintenance_interval);
  app.add_option("--metrics-listen", metrics_listen,
                 "Serve Prometheus metrics over HTTP at http://<host:port>/metrics (e.g. "
                 "127.0.0.1:9464); empty: off")
      ->envname("DELTA_SIDECAR_METRICS_LISTEN");
  app.add_option("--log-format", log_format,
                 "stderr log lines: text, or json (one object per line with time, level, event, "
                 "table, writer, epoch, checkpoint)")
      ->envname("DELTA_SIDECAR_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--maintenance-interval", maintenance_interval,
                 "Besides after each commit, run compaction and snapshot expiry on every table "
                 "this often (0: only after commits)")
      ->envname("DELTA_SIDECAR_MAINTENANCE_INTERVAL")
      ->capture_default_str();
  // Transport security, call authentication and message limits of the gRPC port
  // (docs/operations.md, "Security").
  deltasidecar::sidecar::TlsFiles tls;
  std::string auth_token_file;
  uint32_t max_receive_message_mb = 80;  // a RecordBatch may hold 64 MiB of rows
  std::string health_listen;
  app.add_option("--tls-cert", tls.cert_file,
                 "PEM certificate chain of the gRPC port; with --tls-key the port speaks TLS only")
      ->envname("DELTA_SIDECAR_TLS_CERT");
  app.add_option("--tls-key", tls.key_file, "PEM private key (unencrypted) of --tls-cert")
      ->envname("DELTA_SIDECAR_TLS_KEY");
  app.add_option("--tls-client-ca", tls.client_ca_file,
                 "PEM CA certificates: require every client to present a certificate they "
                 "signed (mutual TLS; needs --tls-cert)")
      ->envname("DELTA_SIDECAR_TLS_CLIENT_CA");
  app.add_option("--auth-token-file", auth_token_file,
                 "File holding a bearer token: every call must then carry the metadata "
                 "'authorization: Bearer <token>' or is refused UNAUTHENTICATED (the health "
                 "service stays open)")
      ->envname("DELTA_SIDECAR_AUTH_TOKEN_FILE");
  app.add_option("--max-receive-message-mb", max_receive_message_mb,
                 "Largest gRPC message the sidecar accepts, in MiB; a larger one is refused "
                 "with RESOURCE_EXHAUSTED (keep it above the 64 MiB batch limit plus headers)")
      ->envname("DELTA_SIDECAR_MAX_RECEIVE_MESSAGE_MB")
      ->check(CLI::Range(uint32_t{1}, uint32_t{2047}))
      ->capture_default_str();
  app.add_option("--health-listen", health_listen,
                 "Also serve only the gRPC health service, in plaintext, on this address (for "
                 "Kubernetes probes, which reach the pod IP and cannot speak TLS); empty: off")
      ->envname("DELTA_SIDECAR_HEALTH_LISTEN");
  // Runs during parsing, before the required flags are checked.
  app.add_flag_callback(
         "--list-kill-points",
         [] {
           for (const deltasidecar::KillPoint* point : deltasidecar::RegisteredKillPoints()) {
             fmt::print("{:<28} {}\n", point->name(), point->when());
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
  if (!absl::ParseDuration(maintenance_interval, &options.maintenance_interval) ||
      options.maintenance_interval < absl::ZeroDuration()) {
    fmt::print(stderr, "delta-sidecar: --maintenance-interval: cannot parse '{}' (use e.g. 60s or 5m)\n",
               maintenance_interval);
    return 2;
  }
  options.events = std::make_shared<deltasidecar::sidecar::EventLog>(
      *deltasidecar::sidecar::ParseLogFormat(log_format));  // checked by CLI11
  options.metrics = std::make_shared<deltasidecar::sidecar::SidecarMetrics>();
  deltasidecar::sidecar::EventLog& events = *options.events;
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
  auto armed = deltasidecar::ArmKillPointFromEnvironment();
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

  auto credentials = deltasidecar::sidecar::MakeServerCredentials(tls);
  if (!credentials.ok()) {
    events.Log(deltasidecar::sidecar::LogLevel::kError, "start_failed",
               {{"error", std::string(credentials.status().message())}},
               std::string(credentials.status().message()));
    return credentials.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::unique_ptr<deltasidecar::sidecar::BearerTokenCheck> token_check;
  if (!auth_token_file.empty()) {
    auto check = deltasidecar::sidecar::BearerTokenCheck::FromFile(auth_token_file);
    if (!check.ok()) {
      events.Log(deltasidecar::sidecar::LogLevel::kError, "start_failed",
                 {{"error", std::string(check.status().message())}},
                 std::string(check.status().message()));
      return 1;
    }
    token_check = *std::move(check);
  }
  const bool uses_tls = !tls.cert_file.empty();

  auto server = deltasidecar::sidecar::SidecarServer::Open(options);
  if (!server.ok()) {
    events.Log(deltasidecar::sidecar::LogLevel::kError, "start_failed",
               {{"error", server.status().message()}}, server.status().message());
    return 1;
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      fmt::print(stderr, "delta-sidecar: --metrics-listen {}: cannot listen: {}\n", metrics_listen,
                 e.what());
      return 1;
    }
    exposer->RegisterCollectable(options.metrics->collectable());
    // With port 0 the system picked one: report the real address.
    const auto ports = exposer->GetListeningPorts();
    std::string metrics_address = metrics_listen;
    if (!ports.empty() && metrics_address.size() > 2 &&
        metrics_address.compare(metrics_address.size() - 2, 2, ":0") == 0) {
      metrics_address = metrics_address.substr(0, metrics_address.size() - 1) + std::to_string(ports[0]);
    }
    events.Info("metrics_serving", {{"address", metrics_address}},
                fmt::format("metrics on http://{}/metrics", metrics_address));
  }

  deltasidecar::sidecar::GrpcService service(server->get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  std::unique_ptr<deltasidecar::sidecar::AuthenticatedService> authenticated;
  if (token_check != nullptr) {
    authenticated =
        std::make_unique<deltasidecar::sidecar::AuthenticatedService>(&service, token_check.get());
    builder.RegisterService(authenticated.get());
  } else {
    builder.RegisterService(&service);
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      std::make_unique<deltasidecar::sidecar::RpcMetricsInterceptorFactory>(options.metrics.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_receive_message_mb << 20));
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
  if (!uses_tls && !deltasidecar::sidecar::IsLocalOnlyAddress(listen)) {
    events.Warn("listen_unencrypted", {{"address", listen}},
                fmt::format("WARNING: --listen {} is reachable from other machines and the port "
                            "is not encrypted: whoever reaches it can read and write every "
                            "table{}. Set --tls-cert and --tls-key (and --tls-client-ca), or listen "
                            "on 127.0.0.1 or a unix socket.",
                            listen, token_check ? ", and the bearer token travels in clear text" : ""));
  }
  // The probe-only server starts after the main one, so its SERVING also
  // means that the main port is open.
  std::unique_ptr<grpc::Server> health_server;
  grpc::CallbackGenericService unimplemented_service;
  if (!health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(health_listen, grpc::InsecureServerCredentials());
    // gRPC refuses to build a server without a service of its own (the default
    // health service is added only while it starts); this one answers every
    // other method UNIMPLEMENTED.
    health_builder.RegisterCallbackGenericService(&unimplemented_service);
    health_server = health_builder.BuildAndStart();
    if (!health_server) {
      events.Log(deltasidecar::sidecar::LogLevel::kError, "start_failed",
                 {{"address", health_listen}},
                 fmt::format("cannot listen on --health-listen {}", health_listen));
      grpc_server->Shutdown();
      return 1;
    }
    events.Info("health_serving", {{"address", health_listen}},
                fmt::format("health service (only) on {}", health_listen));
  }
  events.Info("serving", {{"address", serving}},
              fmt::format("serving on {} (tables in {}, staging in {}, {}{})", serving,
                          options.table_root, options.data_dir,
                          uses_tls ? (tls.client_ca_file.empty() ? "TLS" : "mutual TLS") : "plaintext",
                          token_check ? ", bearer token required" : ""));

  int sig = 0;
  sigwait(&signals, &sig);
  events.Info("shutting_down", {{"signal", sig}}, fmt::format("signal {}, shutting down", sig));
  // End the Write streams (an idle one would hold the shutdown until the
  // deadline; one staging a batch acknowledges it first), stop accepting
  // calls, let in-flight ones (a commit included) finish within the deadline,
  // then close the staging store cleanly (the destructors below).
  grpc_server->GetHealthCheckService()->Shutdown();
  if (health_server) health_server->GetHealthCheckService()->Shutdown();
  service.ShutdownWriteStreams();
  grpc_server->Shutdown(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(shutdown_deadline));
  (*server)->Shutdown();
  if (health_server) health_server->Shutdown(std::chrono::system_clock::now());
  grpc_server.reset();
  server->reset();
  exposer.reset();
  events.Info("stopped", {}, "stopped");
  return 0;
}
