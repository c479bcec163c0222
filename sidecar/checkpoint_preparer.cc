#include "sidecar/checkpoint_preparer.h"

#include <algorithm>

#include "sidecar/metrics.h"

namespace deltasidecar::sidecar {

CheckpointPreparer::CheckpointPreparer(PrepareFn prepare, EventLog* events, int threads,
                                       absl::Duration retry_after)
    : prepare_(std::move(prepare)), events_(events), retry_after_(retry_after) {
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { Loop(); });
}

CheckpointPreparer::~CheckpointPreparer() { Stop(); }

void CheckpointPreparer::Queue(const std::string& table, const std::string& writer_id,
                               PrepareCause cause) {
  absl::MutexLock lock(&mu_);
  queued_.emplace(WriterRef(table, writer_id), cause);
}

void CheckpointPreparer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t CheckpointPreparer::Pending() {
  absl::MutexLock lock(&mu_);
  size_t pending = running_.size();
  for (const auto& [writer, cause] : queued_) pending += running_.count(writer) ? 0 : 1;
  return pending;
}

const std::pair<const CheckpointPreparer::WriterRef, PrepareCause>* CheckpointPreparer::NextReady()
    const {
  for (const auto& entry : queued_) {
    if (!running_.count(entry.first)) return &entry;
  }
  return nullptr;
}

void CheckpointPreparer::Loop() {
  for (;;) {
    WriterRef next;
    PrepareCause cause;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || NextReady() != nullptr;
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      const auto* entry = NextReady();
      next = entry->first;
      cause = entry->second;
      queued_.erase(next);
      running_.insert(next);
    }
    const absl::Status s = prepare_(next.first, next.second, cause);
    absl::MutexLock lock(&mu_);
    if (!s.ok()) {
      // Damaged or discarded data stays so until the writer registers again,
      // which drops it; a commit that needs it answers the same error.
      const bool lasting = absl::IsDataLoss(s) || absl::IsFailedPrecondition(s) ||
                           absl::IsNotFound(s) || absl::IsInvalidArgument(s);
      events_->Warn("prepare_checkpoint_failed",
                    {{"table", next.first}, {"writer", next.second},
                     {"code", StatusCodeLabel(s.code())}, {"error", s.message()}});
      if (!lasting) {
        // Tried again after a pause (a commit that needs it prepares it inline).
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        mu_.AwaitWithTimeout(absl::Condition(&stopping), retry_after_);
        queued_.emplace(next, cause);
      }
    }
    running_.erase(next);
  }
}

}  // namespace deltasidecar::sidecar
