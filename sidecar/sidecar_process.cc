#include "sidecar/sidecar_process.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "fmt/core.h"
#include "grpcpp/health_check_service_interface.h"
#include "sidecar/rpc_metrics.h"
#include "table/base/absl_compat.h"
#include "table/base/kill_point.h"

namespace deltasidecar::sidecar {

namespace {

// `address` with the port the system picked when it asked for port 0
// ("host:0"); unchanged otherwise, and for a unix socket.
std::string WithPickedPort(const std::string& address, int port) {
  if (port <= 0 || address.rfind("unix:", 0) == 0 || address.size() <= 2 ||
      address.compare(address.size() - 2, 2, ":0") != 0) {
    return address;
  }
  return address.substr(0, address.size() - 1) + std::to_string(port);
}

// SIGTERM and SIGINT, blocked in the calling thread and every thread it
// starts from now on, so that only Wait receives them.
class ShutdownSignals {
 public:
  ShutdownSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }
  // Blocks until one of them arrives; returns its number.
  int Wait() const {
    int sig = 0;
    sigwait(&signals_, &sig);
    return sig;
  }

 private:
  sigset_t signals_;
};

// Arms the kill point DELTA_SIDECAR_KILL_POINT names, if any (crash tests).
absl::Status ArmKillPoint(EventLog& events) {
  auto armed = ArmKillPointFromEnvironment();
  if (!armed.ok()) return armed.status();
  if (armed->has_value()) {
    events.Warn("kill_point_armed", {{"kill_point", **armed}},
                fmt::format("kill point {} armed: this process will SIGKILL itself there "
                            "(crash testing only)",
                            **armed));
  }
  return absl::OkStatus();
}

}  // namespace

int SidecarProcess::Run(const SidecarConfig& config) {
  auto events = std::make_shared<EventLog>(config.log_format);
  auto failed = [&](const absl::Status& s) {
    events->Log(LogLevel::kError, "start_failed", {{"error", s.message()}}, s.message());
  };
  if (absl::Status armed = ArmKillPoint(*events); !armed.ok()) {
    failed(armed);
    return 2;
  }
  // Before any other thread starts.
  const ShutdownSignals signals;
  auto credentials = MakeServerCredentials(config.tls);
  if (!credentials.ok()) {
    failed(credentials.status());
    return absl::IsInvalidArgument(credentials.status()) ? 2 : 1;
  }
  std::unique_ptr<BearerTokenCheck> token_check;
  if (!config.auth_token_file.empty()) {
    auto check = BearerTokenCheck::FromFile(config.auth_token_file);
    if (!check.ok()) {
      failed(check.status());
      return 1;
    }
    token_check = *std::move(check);
  }
  auto process = Start(config, events, *std::move(credentials), std::move(token_check));
  if (!process.ok()) return 1;

  const int sig = signals.Wait();
  events->Info("shutting_down", {{"signal", sig}}, fmt::format("signal {}, shutting down", sig));
  (*process)->Shutdown(config.shutdown_timeout);
  events->Info("stopped", {}, "stopped");
  return 0;
}

SidecarProcess::SidecarProcess(const SidecarConfig& config, std::shared_ptr<EventLog> events)
    : config_(config), events_(std::move(events)), metrics_(std::make_shared<SidecarMetrics>()) {}

SidecarProcess::~SidecarProcess() = default;

absl::Status SidecarProcess::StartFailed(absl::Status status,
                                         std::initializer_list<LogField> fields, LogText message) {
  events_->Log(LogLevel::kError, "start_failed", fields, message);
  return status;
}

absl::StatusOr<std::unique_ptr<SidecarProcess>> SidecarProcess::Start(
    const SidecarConfig& config, std::shared_ptr<EventLog> events,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    std::unique_ptr<BearerTokenCheck> token_check) {
  std::unique_ptr<SidecarProcess> p(new SidecarProcess(config, std::move(events)));
  p->token_check_ = std::move(token_check);
  SidecarOptions options = config.server;
  options.events = p->events_;
  options.metrics = p->metrics_;
  auto server = SidecarServer::Open(std::move(options));
  if (!server.ok()) {
    return p->StartFailed(server.status(), {{"error", server.status().message()}},
                          server.status().message());
  }
  p->server_ = *std::move(server);
  if (absl::Status s = p->ServeMetrics(); !s.ok()) return s;
  if (absl::Status s = p->ServeGrpc(std::move(credentials)); !s.ok()) return s;
  // The probe-only server starts after the main one, so its SERVING also
  // means that the main port is open.
  if (absl::Status s = p->ServeHealth(); !s.ok()) {
    p->grpc_server_->Shutdown();
    return s;
  }
  const bool tls = !config.tls.cert_file.empty();
  p->events_->Info(
      "serving", {{"address", p->serving_address_}},
      fmt::format("serving on {} (tables in {}, staging in {}, {}{})", p->serving_address_,
                  config.server.table_root, config.server.data_dir,
                  tls ? (config.tls.client_ca_file.empty() ? "TLS" : "mutual TLS") : "plaintext",
                  p->token_check_ ? ", bearer token required" : ""));
  return p;
}

absl::Status SidecarProcess::ServeMetrics() {
  const std::string& listen = config_.metrics_listen;
  if (listen.empty()) return absl::OkStatus();
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return StartFailed(absl::UnavailableError(e.what()), {{"address", listen}, {"error", e.what()}},
                       fmt::format("--metrics-listen {}: cannot listen: {}", listen, e.what()));
  }
  exposer_->RegisterCollectable(metrics_->collectable());
  const auto ports = exposer_->GetListeningPorts();
  const std::string address = WithPickedPort(listen, ports.empty() ? 0 : ports[0]);
  events_->Info("metrics_serving", {{"address", address}},
                fmt::format("metrics on http://{}/metrics", address));
  return absl::OkStatus();
}

absl::Status SidecarProcess::ServeGrpc(std::shared_ptr<grpc::ServerCredentials> credentials) {
  const std::string& listen = config_.listen;
  service_ = std::make_unique<GrpcService>(server_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  if (token_check_ != nullptr) {
    authenticated_ = std::make_unique<AuthenticatedService>(service_.get(), token_check_.get());
    builder.RegisterService(authenticated_.get());
  } else {
    builder.RegisterService(service_.get());
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcMetricsInterceptorFactory>(metrics_.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_receive_message_mb << 20));
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_) {
    return StartFailed(absl::UnavailableError(Cat("cannot listen on ", listen)),
                       {{"address", listen}}, fmt::format("cannot listen on {}", listen));
  }
  serving_address_ = WithPickedPort(listen, port);
  if (config_.tls.cert_file.empty() && !IsLocalOnlyAddress(listen)) {
    events_->Warn(
        "listen_unencrypted", {{"address", listen}},
        fmt::format("WARNING: --listen {} is reachable from other machines and the port "
                    "is not encrypted: whoever reaches it can read and write every "
                    "table{}. Set --tls-cert and --tls-key (and --tls-client-ca), or listen "
                    "on 127.0.0.1 or a unix socket.",
                    listen, token_check_ ? ", and the bearer token travels in clear text" : ""));
  }
  return absl::OkStatus();
}

absl::Status SidecarProcess::ServeHealth() {
  const std::string& listen = config_.health_listen;
  if (listen.empty()) return absl::OkStatus();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  // gRPC refuses to build a server without a service of its own (the default
  // health service is added only while it starts); this one answers every
  // other method UNIMPLEMENTED.
  builder.RegisterCallbackGenericService(&unimplemented_);
  health_server_ = builder.BuildAndStart();
  if (!health_server_) {
    return StartFailed(absl::UnavailableError(Cat("cannot listen on ", listen)),
                       {{"address", listen}},
                       fmt::format("cannot listen on --health-listen {}", listen));
  }
  events_->Info("health_serving", {{"address", listen}},
                fmt::format("health service (only) on {}", listen));
  return absl::OkStatus();
}

void SidecarProcess::Shutdown(absl::Duration timeout) {
  grpc_server_->GetHealthCheckService()->Shutdown();
  if (health_server_) health_server_->GetHealthCheckService()->Shutdown();
  service_->ShutdownStreams();
  grpc_server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  server_->Shutdown();
  if (health_server_) health_server_->Shutdown(std::chrono::system_clock::now());
  grpc_server_.reset();
  server_.reset();  // closes the staging store cleanly
  exposer_.reset();
}

}  // namespace deltasidecar::sidecar
