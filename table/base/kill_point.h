// Named kill points: the instants where a crash hurts most, marked in the
// code so that a crash test can kill the process exactly there instead of
// hoping a random SIGKILL lands on them (RocksDB's crash test does the same).
//
// Each point is defined at namespace scope in the file that reaches it, so
// its name and meaning sit beside the code they describe:
//
//   const KillPoint kSealAfterWrite("seal.after_write",
//                                   "the seal is durable; PrepareCommit has not answered");
//   ...
//   kSealAfterWrite.Reach();
//
// This mechanism knows none of its callers: a point registers itself when it
// is constructed (static initialisation), and RegisteredKillPoints() lists
// every point linked into the binary.
//
// They are compiled into every build and disarmed unless the environment
// variable DELTA_SIDECAR_KILL_POINT names one when ArmKillPointFromEnvironment
// runs (delta-sidecar does at start, after static initialisation):
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
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"

namespace deltasidecar {

class KillPoint;

namespace internal {
extern std::atomic<const KillPoint*> armed_kill_point;  // null when none
void ReachArmedKillPoint(const KillPoint& point);
}  // namespace internal

class KillPoint {
 public:
  // `name` and `when` must outlive the program (string literals). Names are
  // unique within a binary; a duplicate aborts at start.
  KillPoint(std::string_view name, std::string_view when);
  KillPoint(const KillPoint&) = delete;
  KillPoint& operator=(const KillPoint&) = delete;

  std::string_view name() const { return name_; }
  // What has happened and what has not when the process dies here.
  std::string_view when() const { return when_; }

  void Reach() const {
    if (ABSL_PREDICT_FALSE(internal::armed_kill_point.load(std::memory_order_relaxed) == this)) {
      internal::ReachArmedKillPoint(*this);
    }
  }

 private:
  const std::string_view name_;
  const std::string_view when_;
};

// Every kill point linked into this binary, sorted by name.
std::vector<const KillPoint*> RegisteredKillPoints();

// Arms the kill point DELTA_SIDECAR_KILL_POINT names, if it is set. Returns
// the armed point's name (nullopt when unset) or INVALID_ARGUMENT for an
// unknown name or a bad count, listing the valid names.
absl::StatusOr<std::optional<std::string_view>> ArmKillPointFromEnvironment();
// Arms `point` to fire on its `hit`-th reach (tests of the mechanism).
void ArmKillPoint(const KillPoint& point, int64_t hit = 1);

}  // namespace deltasidecar
