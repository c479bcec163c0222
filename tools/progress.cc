#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

#include "fmt/core.h"

namespace deltasidecar::tools {

Progress::Progress(std::string what)
    : what_(std::move(what)), on_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (on_ && shown_) fmt::print(stderr, "\n");
}

bool Progress::Due() {
  if (!on_) return false;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100)) return false;
  return true;
}

void Progress::Show(std::string_view status) {
  if (!on_) return;
  // "\033[K" clears what a longer earlier line left to the right.
  fmt::print(stderr, "\r{}: {}\033[K", what_, status);
  std::fflush(stderr);
  last_ = std::chrono::steady_clock::now();
  shown_ = true;
}

void Progress::Done(std::string_view status) {
  if (!on_) return;
  fmt::print(stderr, "\r{}: {}\033[K\n", what_, status);
  std::fflush(stderr);
  on_ = false;
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace deltasidecar::tools
