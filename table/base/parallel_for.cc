#include "table/base/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "table/base/status_macros.h"

namespace deltasidecar {

absl::Status ParallelFor(size_t n, int threads, const std::function<absl::Status(size_t)>& fn) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(threads, n));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) RETURN_IF_ERROR(fn(i));
    return absl::OkStatus();
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
        absl::Status s = fn(i);
        if (!s.ok()) {
          errors[t] = s;
          failed = true;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors) RETURN_IF_ERROR(e);
  return absl::OkStatus();
}

}  // namespace deltasidecar
