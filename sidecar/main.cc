// delta-sidecar: the gRPC server process. See --help.
#include <malloc.h>

#include <cstdlib>

#include "sidecar/sidecar_config.h"
#include "sidecar/sidecar_process.h"

int main(int argc, char** argv) {
  // glibc gives each busy thread its own arena (up to 8 per core); freed
  // commit buffers then stay resident in many of them. Two arenas keep peak
  // RSS ~25% lower at the same throughput (docs/benchmarks.md). An explicit
  // MALLOC_ARENA_MAX in the environment wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  deltasidecar::sidecar::CommandLine command_line =
      deltasidecar::sidecar::ParseCommandLine(argc, argv);
  if (!command_line.config.has_value()) return command_line.exit_code;
  return deltasidecar::sidecar::SidecarProcess::Run(*command_line.config);
}
