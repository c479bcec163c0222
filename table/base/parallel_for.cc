#include "table/base/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "table/base/status_macros.h"

namespace deltasidecar {

namespace {

// Runs fn over [0, n) on `threads` new threads, each first setting its
// niceness to `nice` when that is above 0.
absl::Status RunOnThreads(size_t n, int threads, int nice,
                          const std::function<absl::Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      if (nice > 0) {
        // Best effort: the work is the same at any priority.
        setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
      }
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

int ThreadsFor(size_t n, int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<int>(std::min<size_t>(threads, n));
}

}  // namespace

absl::Status ParallelFor(size_t n, int threads, const std::function<absl::Status(size_t)>& fn) {
  threads = ThreadsFor(n, threads);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) RETURN_IF_ERROR(fn(i));
    return absl::OkStatus();
  }
  return RunOnThreads(n, threads, 0, fn);
}

absl::Status ParallelForAtNice(size_t n, int threads, int nice,
                               const std::function<absl::Status(size_t)>& fn) {
  if (nice <= 0) return ParallelFor(n, threads, fn);
  threads = ThreadsFor(n, threads);
  if (threads == 0) return absl::OkStatus();
  return RunOnThreads(n, threads, std::min(nice, 19), fn);
}

}  // namespace deltasidecar
