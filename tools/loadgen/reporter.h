// --report: one JSON object per line, each with "t" (seconds since start) and
// "event": "acked" (every 250 ms: rows acknowledged so far, all sessions),
// "prepare" (writer, checkpoint, rows, ms), "commit" (checkpoint, ms).
//
// Thread-safe: Event() may be called from any thread; acked_rows is atomic.
// Without a path every method does nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "nlohmann/json.hpp"

namespace deltasidecar::loadgen {

class Reporter {
 public:
  explicit Reporter(const std::string& path);
  ~Reporter();  // stops the sampler and closes the file
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  bool failed_to_open(const std::string& path) const { return !path.empty() && out_ == nullptr; }
  bool on() const { return out_ != nullptr; }
  // Starts the thread that writes an "acked" event every 250 ms.
  void Start();
  // Writes `e` with its "t" added.
  void Event(nlohmann::ordered_json e);

  std::atomic<uint64_t> acked_rows{0};

 private:
  std::FILE* out_ = nullptr;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_, write_mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread sampler_;
};

}  // namespace deltasidecar::loadgen
