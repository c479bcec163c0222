#include "table/compaction_policy.h"

namespace deltasidecar::table {

std::optional<CompactionPick> PickCompaction(std::span<const DataFileMeta> files,
                                             const CompactionOptions& options) {
  const size_t n = files.size();
  if (options.trigger_files <= 0 || n < 2 || n < static_cast<size_t>(options.trigger_files)) {
    return std::nullopt;
  }
  double newer = 0;
  for (size_t i = 1; i < n; ++i) newer += static_cast<double>(files[i].BucketBytes());
  if (newer >= options.max_size_amplification * static_cast<double>(files[0].BucketBytes())) {
    return CompactionPick{0, n};
  }
  // Try runs ending at the newest file first, then at older ones.
  for (size_t end = n; end >= 2; --end) {
    double run = static_cast<double>(files[end - 1].BucketBytes());
    size_t first = end - 1;
    while (first > 0 &&
           static_cast<double>(files[first - 1].BucketBytes()) <= (1.0 + options.size_ratio) * run) {
      --first;
      run += static_cast<double>(files[first].BucketBytes());
    }
    if (end - first >= 2) return CompactionPick{first, end - first};
  }
  // Sizes fall off too steeply for any run: merge the newest files so that the
  // bucket drops below the trigger.
  size_t count = n - static_cast<size_t>(options.trigger_files) + 2;
  return CompactionPick{n - count, count};
}

}  // namespace deltasidecar::table
