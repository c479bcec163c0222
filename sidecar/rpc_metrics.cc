#include "sidecar/rpc_metrics.h"

#include <string>
#include <string_view>

namespace deltasidecar::sidecar {

namespace {

// "/deltasidecar.v1.DeltaSidecar/Commit" -> "Commit"; other services keep
// their name ("grpc.health.v1.Health/Check").
std::string_view MethodLabel(const char* full) {
  std::string_view m = full == nullptr ? "" : full;
  constexpr std::string_view kOurs = "/deltasidecar.v1.DeltaSidecar/";
  if (m.substr(0, kOurs.size()) == kOurs) return m.substr(kOurs.size());
  if (!m.empty() && m.front() == '/') m.remove_prefix(1);
  return m;
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(SidecarMetrics* metrics, std::string_view method)
      : metrics_(metrics), method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      metrics_->RpcFinished(method_,
                            StatusCodeLabel(static_cast<absl::StatusCode>(status.error_code())));
    }
    methods->Proceed();
  }

 private:
  SidecarMetrics* const metrics_;
  const std::string method_;
};

}  // namespace

grpc::experimental::Interceptor* RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcMetricsInterceptor(metrics_, MethodLabel(info->method()));
}

}  // namespace deltasidecar::sidecar
