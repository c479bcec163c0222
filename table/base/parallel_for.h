// A small fork-join helper for work split into independent items.
#pragma once

#include <cstddef>
#include <functional>

#include "absl/status/status.h"

namespace deltasidecar {

// Runs fn(i) for every i in [0, n) on up to `threads` threads (0: one per
// core; never more than n) while the caller waits, and returns one of
// the errors if any call failed; after a failure no new item is started.
absl::Status ParallelFor(size_t n, int threads, const std::function<absl::Status(size_t)>& fn);

// As ParallelFor, but on threads of its own (also when one would do) that
// run at CPU niceness `nice` (1-19; 0 is ParallelFor): work that should take
// the cores the rest of the process leaves idle, as compaction's merges.
// The caller's own priority is left as it is. Linux sets niceness per
// thread; where raising it fails, the threads run at the caller's.
absl::Status ParallelForAtNice(size_t n, int threads, int nice,
                               const std::function<absl::Status(size_t)>& fn);

}  // namespace deltasidecar
