#include "table/base/kill_point.h"

#include <signal.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace deltasidecar {
namespace {

// Points of this test binary; the project's own are defined beside the code
// that reaches them.
const KillPoint kTestFirst("test.first", "the test reached its first point");
const KillPoint kTestSecond("test.second", "the test reached its second point");

TEST(KillPointTest, NamesAreUniqueAndDescribed) {
  std::set<std::string_view> names;
  for (const KillPoint* point : RegisteredKillPoints()) {
    EXPECT_FALSE(point->name().empty());
    EXPECT_FALSE(point->when().empty());
    EXPECT_TRUE(names.insert(point->name()).second) << point->name();
  }
  EXPECT_EQ(names.count("test.first"), 1u);
  EXPECT_EQ(names.count("test.second"), 1u);
}

TEST(KillPointTest, DisarmedPointsDoNothing) {
  for (const KillPoint* point : RegisteredKillPoints()) point->Reach();
}

TEST(KillPointDeathTest, ArmedPointKillsOnItsNthHit) {
  EXPECT_EXIT(
      {
        ::setenv("DELTA_SIDECAR_KILL_POINT", "test.second:3", 1);
        auto armed = ArmKillPointFromEnvironment();
        if (!armed.ok() || !armed->has_value()) ::_exit(10);
        kTestFirst.Reach();  // another point: ignored
        kTestSecond.Reach();
        kTestSecond.Reach();
        kTestSecond.Reach();  // dies here
        ::_exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "kill point test.second reached \\(hit 3\\): SIGKILL");
}

TEST(KillPointTest, BadSpecificationsAreRefusedWithTheKnownNames) {
  ::setenv("DELTA_SIDECAR_KILL_POINT", "test.after_lunch", 1);
  auto r = ArmKillPointFromEnvironment();
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_NE(r.status().message().find("test.second"), std::string_view::npos);
  ::setenv("DELTA_SIDECAR_KILL_POINT", "test.second:0", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ArmKillPointFromEnvironment().status()));
  ::setenv("DELTA_SIDECAR_KILL_POINT", "test.second:x", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ArmKillPointFromEnvironment().status()));
  ::unsetenv("DELTA_SIDECAR_KILL_POINT");
  auto none = ArmKillPointFromEnvironment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

}  // namespace
}  // namespace deltasidecar
