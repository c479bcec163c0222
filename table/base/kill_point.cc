#include "table/base/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "absl/strings/numbers.h"
#include "table/base/absl_compat.h"

namespace deltasidecar {

namespace {

// Function-local so that points in other translation units may register
// during static initialisation in any order.
struct Registry {
  std::mutex mu;
  std::vector<const KillPoint*> points;
};
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

std::atomic<int64_t> remaining_hits{0};
std::atomic<int64_t> hits{0};

}  // namespace

namespace internal {
std::atomic<const KillPoint*> armed_kill_point{nullptr};

void ReachArmedKillPoint(const KillPoint& point) {
  const int64_t n = hits.fetch_add(1) + 1;
  if (remaining_hits.fetch_sub(1) != 1) return;
  std::string line = Cat("kill point ", point.name(), " reached (hit ", n, "): SIGKILL\n");
  // write(2) and raise(3) only: nothing that could flush or run destructors.
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
  ::raise(SIGKILL);
}
}  // namespace internal

KillPoint::KillPoint(std::string_view name, std::string_view when) : name_(name), when_(when) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const KillPoint* p : r.points) {
    if (p->name() == name) {
      std::fprintf(stderr, "kill point %.*s is defined twice\n", static_cast<int>(name.size()),
                   name.data());
      std::abort();
    }
  }
  r.points.push_back(this);
}

std::vector<const KillPoint*> RegisteredKillPoints() {
  Registry& r = TheRegistry();
  std::vector<const KillPoint*> points;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    points = r.points;
  }
  std::sort(points.begin(), points.end(),
            [](const KillPoint* a, const KillPoint* b) { return a->name() < b->name(); });
  return points;
}

void ArmKillPoint(const KillPoint& point, int64_t hit) {
  hits = 0;
  remaining_hits = hit;
  internal::armed_kill_point = &point;
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
  const std::vector<const KillPoint*> points = RegisteredKillPoints();
  for (const KillPoint* p : points) {
    if (p->name() == spec) {
      ArmKillPoint(*p, hit);
      return std::optional<std::string_view>(p->name());
    }
  }
  std::string names;
  for (const KillPoint* p : points) names += Cat(names.empty() ? "" : ", ", p->name());
  return absl::InvalidArgumentError(
      Cat("DELTA_SIDECAR_KILL_POINT='", env, "' names no kill point; known: ", names));
}

}  // namespace deltasidecar
