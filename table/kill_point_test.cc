#include "table/kill_point.h"

#include <signal.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace deltasidecar::table {
namespace {

TEST(KillPointTest, NamesAreUniqueAndDescribed) {
  std::set<std::string_view> names;
  for (int i = 0; i < static_cast<int>(KillPoint::kCount); ++i) {
    const KillPointInfo& info = KillPointInfoOf(static_cast<KillPoint>(i));
    EXPECT_FALSE(info.name.empty());
    EXPECT_FALSE(info.when.empty());
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
  }
}

TEST(KillPointTest, DisarmedPointsDoNothing) {
  for (int i = 0; i < static_cast<int>(KillPoint::kCount); ++i) {
    ReachKillPoint(static_cast<KillPoint>(i));
  }
}

TEST(KillPointDeathTest, ArmedPointKillsOnItsNthHit) {
  EXPECT_EXIT(
      {
        ::setenv("DELTA_SIDECAR_KILL_POINT", "commit.after_publish:3", 1);
        auto armed = ArmKillPointFromEnvironment();
        if (!armed.ok() || !armed->has_value()) ::_exit(10);
        ReachKillPoint(KillPoint::kCommitAfterDataFiles);  // another point: ignored
        ReachKillPoint(KillPoint::kCommitAfterPublish);
        ReachKillPoint(KillPoint::kCommitAfterPublish);
        ReachKillPoint(KillPoint::kCommitAfterPublish);  // dies here
        ::_exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "kill point commit.after_publish reached \\(hit 3\\): SIGKILL");
}

TEST(KillPointTest, BadSpecificationsAreRefusedWithTheKnownNames) {
  ::setenv("DELTA_SIDECAR_KILL_POINT", "commit.after_lunch", 1);
  auto r = ArmKillPointFromEnvironment();
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_NE(r.status().message().find("commit.after_publish"), std::string_view::npos);
  ::setenv("DELTA_SIDECAR_KILL_POINT", "commit.after_publish:0", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ArmKillPointFromEnvironment().status()));
  ::setenv("DELTA_SIDECAR_KILL_POINT", "commit.after_publish:x", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ArmKillPointFromEnvironment().status()));
  ::unsetenv("DELTA_SIDECAR_KILL_POINT");
  auto none = ArmKillPointFromEnvironment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

}  // namespace
}  // namespace deltasidecar::table
