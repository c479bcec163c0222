// SidecarProcess: the delta-sidecar process around SidecarServer. It opens
// the server, serves it over gRPC (with TLS, a bearer token, RPC metrics and
// a message limit as configured), optionally serves Prometheus metrics and a
// plaintext health-only port, and shuts all of it down gracefully.
//
// Signals: Run blocks SIGTERM and SIGINT in every thread (before any thread
// starts) and waits for them with sigwait on its own thread; no signal
// handler runs. The waiting thread then calls Shutdown.
//
// Every line it logs goes through one EventLog (text or JSON), the staging
// store's included.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/exposer.h"
#include "sidecar/event_log.h"
#include "sidecar/grpc_service.h"
#include "sidecar/metrics.h"
#include "sidecar/server_security.h"
#include "sidecar/sidecar_config.h"
#include "sidecar/sidecar_server.h"

namespace deltasidecar::sidecar {

class SidecarProcess {
 public:
  // Runs the sidecar until SIGTERM or SIGINT, then shuts it down within
  // config.shutdown_timeout. Returns the process's exit code: 0 after a clean
  // shutdown; 2 when the configuration is unusable (a kill point that does
  // not parse, TLS flags set without the ones they need); 1 when the start
  // fails otherwise. Failures are logged as "start_failed".
  static int Run(const SidecarConfig& config);

  // Opens the server and starts serving (the process must already block the
  // signals it waits for). Errors are logged as "start_failed" and returned.
  static absl::StatusOr<std::unique_ptr<SidecarProcess>> Start(
      const SidecarConfig& config, std::shared_ptr<EventLog> events,
      std::shared_ptr<grpc::ServerCredentials> credentials,
      std::unique_ptr<BearerTokenCheck> token_check);

  // Ends the Write streams (an idle one would hold the shutdown until the
  // deadline; one staging a batch acknowledges it first), stops accepting
  // calls, lets in-flight ones (a commit included) finish within `timeout`
  // and cancels the rest, then closes the staging store cleanly. Call once.
  void Shutdown(absl::Duration timeout);

  ~SidecarProcess();

 private:
  SidecarProcess(const SidecarConfig& config, std::shared_ptr<EventLog> events);
  absl::Status ServeMetrics();
  absl::Status ServeGrpc(std::shared_ptr<grpc::ServerCredentials> credentials);
  absl::Status ServeHealth();
  // Logs a failed start ("start_failed" with `fields`, and `message` for
  // people) and returns `status`.
  absl::Status StartFailed(absl::Status status, std::initializer_list<LogField> fields,
                           LogText message);

  const SidecarConfig config_;
  const std::shared_ptr<EventLog> events_;
  const std::shared_ptr<SidecarMetrics> metrics_;
  std::unique_ptr<BearerTokenCheck> token_check_;
  std::unique_ptr<SidecarServer> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  // The services outlive the gRPC servers that serve them (declared first).
  std::unique_ptr<GrpcService> service_;
  std::unique_ptr<AuthenticatedService> authenticated_;
  grpc::CallbackGenericService unimplemented_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<grpc::Server> health_server_;
  std::string serving_address_;  // config_.listen with the port the system picked
};

}  // namespace deltasidecar::sidecar
