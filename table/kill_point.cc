#include "table/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "table/absl_compat.h"

namespace deltasidecar::table {

namespace {

constexpr KillPointInfo kInfo[] = {
    {"stage.after_write", "a batch is in the staging store; Write has not acknowledged it"},
    {"seal.before_write", "PrepareCommit was checked; nothing is sealed yet"},
    {"seal.after_write", "the seal is durable; PrepareCommit has not answered"},
    {"register.after_write", "the new epoch is durable; RegisterWriter has not answered"},
    {"abort.after_write", "the abort is durable; Abort has not answered"},
    {"commit.mid_data_files", "some of a commit's table data files are written, not all"},
    {"commit.after_data_files", "a commit's data files are written and synced; no snapshot yet"},
    {"commit.after_publish", "the table snapshot is published; the staging store is not told"},
    {"commit.after_bookkeeping", "the staging store marked the checkpoints committed; Commit has not answered"},
    {"compaction.after_data_files", "a compaction's output files are written; not published"},
    {"compaction.after_publish", "a compaction snapshot is published; its input files not removed"},
    {"expire.midway", "expiry removed a snapshot file but not yet the data files only it used"},
};
static_assert(sizeof(kInfo) / sizeof(kInfo[0]) == static_cast<size_t>(KillPoint::kCount),
              "every kill point needs a name");

std::atomic<int64_t> remaining_hits{0};
std::atomic<int64_t> hits{0};

}  // namespace

namespace internal {
std::atomic<int> armed_kill_point{-1};

void ReachArmedKillPoint(KillPoint point) {
  const int64_t n = hits.fetch_add(1) + 1;
  if (remaining_hits.fetch_sub(1) != 1) return;
  std::string line = Cat("kill point ", KillPointInfoOf(point).name, " reached (hit ", n, "): SIGKILL\n");
  // write(2) and raise(3) only: nothing that could flush or run destructors.
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
  ::raise(SIGKILL);
}
}  // namespace internal

const KillPointInfo& KillPointInfoOf(KillPoint point) { return kInfo[static_cast<int>(point)]; }

void ArmKillPoint(KillPoint point, int64_t hit) {
  hits = 0;
  remaining_hits = hit;
  internal::armed_kill_point = static_cast<int>(point);
}

absl::StatusOr<std::optional<std::string_view>> ArmKillPointFromEnvironment() {
  const char* env = std::getenv("DELTA_SIDECAR_KILL_POINT");
  if (env == nullptr || *env == '\0') return std::optional<std::string_view>();
  std::string_view spec(env);
  int64_t hit = 1;
  if (size_t colon = spec.rfind(':'); colon != std::string_view::npos) {
    if (!absl::SimpleAtoi(AV(spec.substr(colon + 1)), &hit) || hit < 1) {
      return absl::InvalidArgumentError(Cat("DELTA_SIDECAR_KILL_POINT='", spec,
                                            "': the count after ':' must be a positive integer"));
    }
    spec = spec.substr(0, colon);
  }
  for (int i = 0; i < static_cast<int>(KillPoint::kCount); ++i) {
    if (kInfo[i].name == spec) {
      ArmKillPoint(static_cast<KillPoint>(i), hit);
      return std::optional<std::string_view>(kInfo[i].name);
    }
  }
  std::string names;
  for (const auto& info : kInfo) names += Cat(names.empty() ? "" : ", ", info.name);
  return absl::InvalidArgumentError(
      Cat("DELTA_SIDECAR_KILL_POINT='", env, "' names no kill point; known: ", names));
}

}  // namespace deltasidecar::table
