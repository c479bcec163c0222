// CheckpointPreparer: the background threads that turn sealed checkpoints
// into prepared checkpoints in the shared table root
// (checkpoint::CommitProtocol::Prepare), off the checkpoint barrier path:
// PrepareCommit answers after the durable seal and queues the writer here.
//
// A pool of `threads` workers prepares different writers at once; one writer
// is never prepared by two workers at once. A writer queued twice before a
// worker takes it is prepared once; one queued while it is being prepared
// is prepared again after (its newer seals may have come too late for the
// run in progress). A preparation that fails for a passing reason (a full
// disk, a store reopening) is logged and tried again after a pause (the
// worker keeps the writer meanwhile), one that fails for a lasting one
// (damaged staged data) is logged and left to the commit, which answers the
// same error. Commits never wait for these threads: one that gets there
// first prepares inline.
//
// Thread-safety: Queue may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sidecar/event_log.h"

namespace deltasidecar::sidecar {

// Why a writer was queued: after a seal (or an abort), or by the scan of
// every writer when the sidecar starts (sealed checkpoints a crash or a
// stop left unprepared).
enum class PrepareCause { kSeal, kRestart };

class CheckpointPreparer {
 public:
  // Prepares one writer (table, writer id).
  using PrepareFn = std::function<absl::Status(const std::string& table, const std::string& writer,
                                               PrepareCause cause)>;

  // `events` must outlive the preparer; `threads` is at least 1.
  CheckpointPreparer(PrepareFn prepare, EventLog* events, int threads = 2,
                     absl::Duration retry_after = absl::Seconds(1));
  ~CheckpointPreparer();  // Stop()s

  void Queue(const std::string& table, const std::string& writer_id,
             PrepareCause cause = PrepareCause::kSeal);
  // Ends the threads after the preparations in progress; queued writers are
  // left (a restart prepares them again).
  void Stop();
  // Writers queued or in progress (for tests and metrics).
  size_t Pending();

 private:
  using WriterRef = std::pair<std::string, std::string>;  // table, writer id

  void Loop();
  // A queued writer that no worker is preparing (nullptr: none).
  const std::pair<const WriterRef, PrepareCause>* NextReady() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PrepareFn prepare_;
  EventLog* const events_;
  const absl::Duration retry_after_;
  absl::Mutex mu_;
  // Queued writers; the cause of the first Queue call is kept.
  std::map<WriterRef, PrepareCause> queued_ ABSL_GUARDED_BY(mu_);
  std::set<WriterRef> running_ ABSL_GUARDED_BY(mu_);  // taken by a worker
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace deltasidecar::sidecar
