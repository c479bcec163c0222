#include "table/base/parallel_for.h"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace deltasidecar {
namespace {

int ThisThreadsNice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

TEST(ParallelForTest, RunsEveryItemOnceAndReturnsAnError) {
  std::vector<std::atomic<int>> runs(100);
  ASSERT_TRUE(ParallelFor(runs.size(), 3, [&](size_t i) {
                ++runs[i];
                return absl::OkStatus();
              }).ok());
  for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
  absl::Status s = ParallelFor(10, 2, [](size_t i) {
    return i == 7 ? absl::DataLossError("item 7") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

// The items run on threads of their own at the niceness asked for (also
// when one thread would do), and the caller's priority is left alone.
TEST(ParallelForTest, AtNiceRunsItemsOnThreadsOfLowerPriority) {
  const int before = ThisThreadsNice();
  if (before >= 19) GTEST_SKIP() << "this process already runs at the lowest priority";
  const int nice = std::min(before + 5, 19);
  for (int threads : {1, 3}) {
    std::mutex mu;
    std::set<int> seen;
    std::set<std::thread::id> ids;
    ASSERT_TRUE(ParallelForAtNice(20, threads, nice, [&](size_t) {
                  std::lock_guard<std::mutex> lock(mu);
                  seen.insert(ThisThreadsNice());
                  ids.insert(std::this_thread::get_id());
                  return absl::OkStatus();
                }).ok());
    EXPECT_EQ(seen, std::set<int>{nice}) << threads << " threads";
    EXPECT_FALSE(ids.contains(std::this_thread::get_id()));
    EXPECT_EQ(ThisThreadsNice(), before);
  }
  // Niceness 0 is ParallelFor: one thread is the caller's.
  std::set<std::thread::id> ids;
  ASSERT_TRUE(ParallelForAtNice(5, 1, 0, [&](size_t) {
                ids.insert(std::this_thread::get_id());
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_TRUE(ParallelForAtNice(0, 2, nice, [](size_t) { return absl::OkStatus(); }).ok());
}

}  // namespace
}  // namespace deltasidecar
