// A one-line progress report on stderr for deltactl's long commands, redrawn
// in place while stderr is a terminal and silent otherwise, so pipes, logs
// and tests see exactly the output they saw before.
//
// Not thread-safe: callers whose work runs on several threads (a table's
// ProgressHook) already serialize the calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace deltasidecar::tools {

class Progress {
 public:
  // Shows "<what>: <status>" lines when stderr is a terminal.
  explicit Progress(std::string what);
  // Ends a line left without Done (the command failed), so that what is
  // printed next starts on its own line.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool on() const { return on_; }
  // True when a redraw is worthwhile: on, and the first call or at least
  // 100 ms since the last redraw. Cheap enough to ask once per row.
  bool Due();
  // Redraws the line with `status` (whatever Due says).
  void Show(std::string_view status);
  // Redraws the line a last time and ends it; later calls do nothing.
  void Done(std::string_view status);

 private:
  const std::string what_;
  bool on_;
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
};

// "512 B", "3.4 MiB", "1.2 GiB": a byte count the way a progress line shows it.
std::string HumanBytes(uint64_t bytes);

}  // namespace deltasidecar::tools
