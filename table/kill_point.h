// Named kill points: the instants where a crash hurts most, marked in the
// code so that a crash test can kill the process exactly there instead of
// hoping a random SIGKILL lands on them (RocksDB's crash test does the same).
//
// They are compiled into every build and disarmed unless the environment
// variable DELTA_SIDECAR_KILL_POINT names one when ArmKillPointFromEnvironment
// runs (delta-sidecar does at start):
//
//   DELTA_SIDECAR_KILL_POINT=commit.after_publish      die the first time
//   DELTA_SIDECAR_KILL_POINT=commit.after_publish:3    die the third time
//
// Reaching the armed point writes one line to stderr,
//   kill point <name> reached (hit <n>): SIGKILL
// and raises SIGKILL, so nothing runs afterwards: no destructor, no flush.
// A disarmed kill point costs one relaxed atomic load and a well-predicted
// branch.
#pragma once

#include <atomic>
#include <optional>
#include <string_view>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"

namespace deltasidecar::table {

enum class KillPoint : int {
  kStageAfterWrite,          // a batch is in the staging store; Write has not acknowledged it
  kSealBeforeWrite,          // PrepareCommit checked; nothing sealed yet
  kSealAfterWrite,           // the seal is durable; PrepareCommit has not answered
  kRegisterAfterWrite,       // the new epoch is durable; RegisterWriter has not answered
  kAbortAfterWrite,          // the abort is durable; Abort has not answered
  kCommitMidDataFiles,       // some of a commit's table files are written, not all
  kCommitAfterDataFiles,     // all table files written and synced; no snapshot yet
  kCommitAfterPublish,       // the table snapshot is published; the staging store not told
  kCommitAfterBookkeeping,   // the staging store marked it committed; Commit has not answered
  kCompactionAfterDataFiles, // a compaction's output is written; not published
  kCompactionAfterPublish,   // a compaction snapshot is published; its inputs not removed
  kExpireMidway,             // expiry removed a snapshot; not yet the files only it used
  kCount,
};

struct KillPointInfo {
  std::string_view name;
  std::string_view when;
};
// Name and description of each kill point, indexed by KillPoint.
const KillPointInfo& KillPointInfoOf(KillPoint point);

// Arms the kill point DELTA_SIDECAR_KILL_POINT names, if it is set. Returns
// the armed point's name (nullopt when unset) or INVALID_ARGUMENT for an
// unknown name or a bad count, listing the valid names.
absl::StatusOr<std::optional<std::string_view>> ArmKillPointFromEnvironment();
// Arms `point` to fire on its `hit`-th reach (tests of the mechanism).
void ArmKillPoint(KillPoint point, int64_t hit = 1);

namespace internal {
extern std::atomic<int> armed_kill_point;  // -1 when none
void ReachArmedKillPoint(KillPoint point);
}  // namespace internal

inline void ReachKillPoint(KillPoint point) {
  if (ABSL_PREDICT_FALSE(internal::armed_kill_point.load(std::memory_order_relaxed) ==
                         static_cast<int>(point))) {
    internal::ReachArmedKillPoint(point);
  }
}

}  // namespace deltasidecar::table
