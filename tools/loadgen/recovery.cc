#include "tools/loadgen/recovery.h"

#include "fmt/core.h"

namespace deltasidecar::loadgen {

Recovery RecoveryFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Recovery::kNone;
    case grpc::StatusCode::DATA_LOSS:
      return Recovery::kRewrite;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
    // A killed server sometimes surfaces as these ("Stream removed", "Socket closed").
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return Recovery::kRestore;
    default:
      return Recovery::kFatal;
  }
}

std::string Describe(const grpc::Status& s) {
  return fmt::format("{} (code {})", s.error_message(), static_cast<int>(s.error_code()));
}

}  // namespace deltasidecar::loadgen
