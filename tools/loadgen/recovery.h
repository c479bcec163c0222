// How the load generator reacts to a failed call.
#pragma once

#include <string>

#include "grpcpp/grpcpp.h"

namespace deltasidecar::loadgen {

// What a failure asks of the run. Ordered: a later value overrides an earlier.
enum class Recovery {
  kNone,
  kRestore,  // restart from the last completed checkpoint (UNAVAILABLE, broken stream)
  kRewrite,  // restart from the last committed checkpoint (DATA_LOSS)
  kFatal,    // give up (a bug, or a request the sidecar refuses for good)
};

Recovery RecoveryFor(grpc::StatusCode code);

// "message (code N)".
std::string Describe(const grpc::Status& s);

}  // namespace deltasidecar::loadgen
