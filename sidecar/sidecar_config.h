// SidecarConfig: everything the delta-sidecar process is told at startup,
// from its command line and DELTA_SIDECAR_* environment variables (see
// `delta-sidecar --help`). This is the only layer that knows the flags; the
// classes it configures never name them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "sidecar/event_log.h"
#include "sidecar/server_security.h"
#include "sidecar/sidecar_server.h"

namespace deltasidecar::sidecar {

struct SidecarConfig {
  // Address of the gRPC port: host:port, or unix:/path/to.sock (--listen).
  std::string listen = "127.0.0.1:7543";
  // The server: data_dir and table_root (required), the staging limits (0:
  // none), the tables' commit memory, compaction and retention, and the
  // maintenance interval (60s), the preparer's threads (2) and the orphan
  // sweep's age (1h), with the defaults SidecarOptions gives them.
  // `metrics` and `events` stay null: the process makes them.
  SidecarOptions server;
  // On SIGTERM, how long in-flight calls may take before they are cancelled.
  absl::Duration shutdown_timeout = absl::Seconds(30);
  // host:port of the Prometheus endpoint; empty (the default): none.
  std::string metrics_listen;
  LogFormat log_format = LogFormat::kText;
  // PEM files of the gRPC port; all empty (the default): plaintext.
  TlsFiles tls;
  // File holding the bearer token every call must carry; empty (the default): none.
  std::string auth_token_file;
  // Largest message accepted, in MiB: 80 by default, as a RecordBatch may
  // hold 64 MiB of rows.
  uint32_t max_receive_message_mb = 80;
  // Address of a plaintext port serving only the gRPC health service;
  // empty (the default): none.
  std::string health_listen;
};

// What the command line asks for: run with `config`, or exit at once with
// `exit_code` when there is no config: 0 after --help or --list-kill-points
// printed what they print, 2 after a usage error was printed
// ("delta-sidecar: ..." on stderr, naming the flag).
struct CommandLine {
  std::optional<SidecarConfig> config;
  int exit_code = 0;
};
CommandLine ParseCommandLine(int argc, char** argv);

}  // namespace deltasidecar::sidecar
