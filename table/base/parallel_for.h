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

}  // namespace deltasidecar
