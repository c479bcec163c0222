#include "tools/loadgen/log.h"

namespace deltasidecar::loadgen {

const std::chrono::steady_clock::time_point g_start = std::chrono::steady_clock::now();

}  // namespace deltasidecar::loadgen
