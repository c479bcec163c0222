// Counts every finished gRPC call of the server into SidecarMetrics
// (delta_sidecar_rpcs_total{method, code}), whatever ended it: the service,
// gRPC itself (a message too large), or the authentication wrapper.
//
// Installed with ServerBuilder::experimental().SetInterceptorCreators(...);
// it looks only at the status a call sends, once per call (a Write stream
// counts once, not per batch).
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "sidecar/metrics.h"

namespace deltasidecar::sidecar {

class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` must outlive the server.
  explicit RpcMetricsInterceptorFactory(SidecarMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  SidecarMetrics* const metrics_;
};

}  // namespace deltasidecar::sidecar
