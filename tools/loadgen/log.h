// delta-loadgen's progress and failure lines on stderr.
#pragma once

#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>

#include "fmt/core.h"

namespace deltasidecar::loadgen {

// When the process started: the origin of Log's timestamps.
extern const std::chrono::steady_clock::time_point g_start;

// Writes one progress or failure line on stderr, stamped with the seconds
// since start. Thread-safe (one fwrite per line).
template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  std::string line = fmt::format(
      "delta-loadgen: {:7.3f}s ",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count());
  fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace deltasidecar::loadgen
