#include "tools/loadgen/reporter.h"

#include <cmath>

namespace deltasidecar::loadgen {

Reporter::Reporter(const std::string& path) {
  if (!path.empty()) out_ = std::fopen(path.c_str(), "w");
}

Reporter::~Reporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
  if (out_ != nullptr) std::fclose(out_);
}

void Reporter::Start() {
  if (out_ == nullptr) return;
  sampler_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      lock.unlock();
      Event(nlohmann::ordered_json{{"event", "acked"}, {"rows", acked_rows.load()}});
      lock.lock();
    }
  });
}

void Reporter::Event(nlohmann::ordered_json e) {
  if (out_ == nullptr) return;
  e["t"] = std::round(
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() *
               1e4) /
           1e4;
  std::string line = e.dump() + "\n";
  std::lock_guard lock(write_mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
}

}  // namespace deltasidecar::loadgen
