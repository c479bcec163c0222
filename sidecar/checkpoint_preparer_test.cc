// The preparer's pool: writers in parallel, one writer never on two
// threads, a writer queued while it is prepared is prepared again after.
#include "sidecar/checkpoint_preparer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace deltasidecar::sidecar {
namespace {

// Records every preparation; writer "w0" blocks until released.
class Recorder {
 public:
  absl::Status Prepare(const std::string& writer) {
    {
      absl::MutexLock lock(&mu_);
      const int now = ++running_[writer];
      max_running_[writer] = std::max(max_running_[writer], now);
    }
    if (writer == "w0") release_.WaitForNotification();
    absl::MutexLock lock(&mu_);
    --running_[writer];
    ++done_[writer];
    return absl::OkStatus();
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  // Waits until `writer` was prepared `times` times (false after 30 s).
  bool AwaitDone(const std::string& writer, int times) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_[writer] >= times; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30));
  }
  bool AwaitRunning(const std::string& writer) {
    absl::MutexLock lock(&mu_);
    auto running = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_[writer] > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&running), absl::Seconds(30));
  }
  int MaxRunning(const std::string& writer) {
    absl::MutexLock lock(&mu_);
    return max_running_[writer];
  }
  int Done(const std::string& writer) {
    absl::MutexLock lock(&mu_);
    return done_[writer];
  }

 private:
  absl::Notification release_;
  absl::Mutex mu_;
  std::map<std::string, int> running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> max_running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> done_ ABSL_GUARDED_BY(mu_);
};

class CheckpointPreparerTest : public ::testing::Test {
 protected:
  CheckpointPreparerTest() : out_(std::tmpfile()), events_(LogFormat::kText, out_) {}
  ~CheckpointPreparerTest() override { std::fclose(out_); }

  std::FILE* out_;
  EventLog events_;
  Recorder recorder_;
};

TEST_F(CheckpointPreparerTest, AWriterQueuedWhileInProgressWaitsForItThenRunsAgain) {
  CheckpointPreparer preparer(
      [this](const std::string&, const std::string& writer, PrepareCause) {
        return recorder_.Prepare(writer);
      },
      &events_, /*threads=*/2);
  // Destroyed first: a failed assertion must not leave a worker blocked.
  struct ReleaseOnExit {
    Recorder& r;
    ~ReleaseOnExit() { r.Release(); }
  } release_on_exit{recorder_};
  preparer.Queue("t", "w0");
  ASSERT_TRUE(recorder_.AwaitRunning("w0"));
  // Queued again while in progress, and ordered before w1: a free worker
  // that took w0 now would prepare it twice at once.
  preparer.Queue("t", "w0");
  preparer.Queue("t", "w0");
  preparer.Queue("t", "w1");
  ASSERT_TRUE(recorder_.AwaitDone("w1", 1));  // the second worker is free
  EXPECT_EQ(recorder_.MaxRunning("w0"), 1);
  EXPECT_EQ(recorder_.Done("w0"), 0);
  // w0, in progress and queued, counts once (w1's worker lets go just after it returns).
  for (absl::Time end = absl::Now() + absl::Seconds(30); preparer.Pending() > 1 && absl::Now() < end;) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(preparer.Pending(), 1u);
  recorder_.Release();
  // The queue calls made during the run are one more run, not lost.
  ASSERT_TRUE(recorder_.AwaitDone("w0", 2));
  preparer.Stop();
  EXPECT_EQ(recorder_.Done("w0"), 2);
  EXPECT_EQ(recorder_.MaxRunning("w0"), 1);
  EXPECT_EQ(preparer.Pending(), 0u);
}

TEST_F(CheckpointPreparerTest, ATransientFailureIsTriedAgainAndKeepsItsCause) {
  absl::Mutex mu;
  std::vector<PrepareCause> causes;
  CheckpointPreparer preparer(
      [&](const std::string&, const std::string&, PrepareCause cause) {
        absl::MutexLock lock(&mu);
        causes.push_back(cause);
        return causes.size() == 1 ? absl::UnavailableError("disk full") : absl::OkStatus();
      },
      &events_, /*threads=*/2, absl::Milliseconds(10));
  preparer.Queue("t", "w", PrepareCause::kRestart);
  absl::MutexLock lock(&mu);
  auto twice = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return causes.size() >= 2; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&twice), absl::Seconds(30)));
  EXPECT_EQ(causes[0], PrepareCause::kRestart);
  EXPECT_EQ(causes[1], PrepareCause::kRestart);
}

}  // namespace
}  // namespace deltasidecar::sidecar
