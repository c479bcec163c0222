#include "sidecar/checkpoint_preparer.h"

#include "sidecar/metrics.h"

namespace deltasidecar::sidecar {

CheckpointPreparer::CheckpointPreparer(PrepareFn prepare, EventLog* events,
                                       absl::Duration retry_after)
    : prepare_(std::move(prepare)), events_(events), retry_after_(retry_after) {
  thread_ = std::thread([this] { Loop(); });
}

CheckpointPreparer::~CheckpointPreparer() { Stop(); }

void CheckpointPreparer::Queue(const std::string& table, const std::string& writer_id) {
  absl::MutexLock lock(&mu_);
  queued_.emplace(table, writer_id);
}

void CheckpointPreparer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

size_t CheckpointPreparer::Pending() {
  absl::MutexLock lock(&mu_);
  return queued_.size() + running_;
}

void CheckpointPreparer::Loop() {
  for (;;) {
    std::pair<std::string, std::string> next;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queued_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      next = *queued_.begin();
      queued_.erase(queued_.begin());
      ++running_;
    }
    const absl::Status s = prepare_(next.first, next.second);
    absl::MutexLock lock(&mu_);
    --running_;
    if (s.ok()) continue;
    // Damaged or discarded data stays so until the writer registers again,
    // which drops it; a commit that needs it answers the same error.
    const bool lasting = absl::IsDataLoss(s) || absl::IsFailedPrecondition(s) ||
                         absl::IsNotFound(s) || absl::IsInvalidArgument(s);
    events_->Warn("prepare_checkpoint_failed",
                  {{"table", next.first}, {"writer", next.second},
                   {"code", StatusCodeLabel(s.code())}, {"error", s.message()}});
    if (lasting) continue;
    // Tried again after a pause (a commit that needs it prepares it inline).
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), retry_after_);
    queued_.insert(std::move(next));
  }
}

}  // namespace deltasidecar::sidecar
