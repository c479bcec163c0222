// CheckpointPreparer: the background thread that turns sealed checkpoints
// into prepared checkpoints in the shared table root
// (checkpoint::CommitProtocol::Prepare), off the checkpoint barrier path:
// PrepareCommit answers after the durable seal and queues the writer here.
//
// A writer queued twice is prepared once; a preparation that fails for a
// passing reason (a full disk, a store reopening) is logged and tried again
// after a pause, one that fails for a lasting one (damaged staged data) is
// logged and left to the commit, which answers the same error. Commits
// never wait for this thread: one that gets there first prepares inline.
//
// Thread-safety: Queue may be called from any thread.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sidecar/event_log.h"

namespace deltasidecar::sidecar {

class CheckpointPreparer {
 public:
  // Prepares one writer (table, writer id).
  using PrepareFn = std::function<absl::Status(const std::string& table, const std::string& writer)>;

  // `events` must outlive the preparer.
  CheckpointPreparer(PrepareFn prepare, EventLog* events,
                     absl::Duration retry_after = absl::Seconds(1));
  ~CheckpointPreparer();  // Stop()s

  void Queue(const std::string& table, const std::string& writer_id);
  // Ends the thread after the preparation in progress; queued writers are
  // left (a restart prepares them again).
  void Stop();
  // Writers queued or in progress (for tests and metrics).
  size_t Pending();

 private:
  void Loop();

  const PrepareFn prepare_;
  EventLog* const events_;
  const absl::Duration retry_after_;
  absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> queued_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace deltasidecar::sidecar
