// The checkpoint coordinator (on the run's main thread) and the committer
// thread: Flink's checkpoint triggering, completion and
// notifyCheckpointComplete.
#include <algorithm>
#include <thread>

#include "fmt/core.h"
#include "tools/loadgen/load_run.h"
#include "tools/loadgen/log.h"

namespace deltasidecar::loadgen {

namespace v1 = deltasidecar::v1;

// Completes the checkpoints every writer prepared (CommitLoop commits them),
// triggers checkpoints by time and the final one. Returns true when the run
// is done.
bool LoadRun::Coordinate() {
  auto last_trigger = Clock::now();
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(o_.checkpoint_interval_ms, 1));
  std::unique_lock lock(mu_);
  for (;;) {
    if (failure_ != Recovery::kNone) return false;
    if (CompleteReadyCheckpoint()) continue;
    bool all_exhausted = std::all_of(slots_.begin(), slots_.end(),
                                     [](const WriterSlot& s) { return s.exhausted; });
    if (all_exhausted) {
      if (FinishWhenDrained()) return true;
    } else if (o_.checkpoint_rows == 0 && Clock::now() - last_trigger >= interval &&
               TriggerCheckpoint()) {
      last_trigger = Clock::now();
    }
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

bool LoadRun::CompleteReadyCheckpoint() {
  if (slots_[0].prepared.empty()) return false;
  const int64_t id = slots_[0].prepared.begin()->first;
  for (const auto& s : slots_) {
    if (s.prepared.count(id) == 0) return false;
  }
  CheckpointState state;
  for (auto& s : slots_) {
    auto node = s.prepared.extract(id);
    state.positions.push_back(node.mapped().position);
    state.committables.push_back(std::move(node.mapped().committable));
  }
  last_completed_ = id;
  const CheckpointState& stored = completed_[id] = std::move(state);
  if (o_.progress) {
    uint64_t rows = 0;
    for (const auto& p : stored.positions) rows += p.next_op;
    Log("checkpoint {} complete: {} rows", id, rows);
  }
  cv_.notify_all();  // the committer
  return true;
}

bool LoadRun::FinishWhenDrained() {
  int64_t final_id = 0;
  for (const auto& s : slots_) {
    final_id = std::max(final_id, s.last_prepared + (s.unprepared_ops > 0 ? 1 : 0));
  }
  if (final_id > requested_) {
    requested_ = final_id;
    cv_.notify_all();
  }
  bool all_prepared = true;
  for (const auto& s : slots_) {
    all_prepared = all_prepared && s.last_prepared >= final_id && s.prepared.empty();
  }
  if (!all_prepared || !(final_id == 0 || (last_committed_ && *last_committed_ >= final_id) ||
                         final_id <= throttle_floor_)) {
    return false;
  }
  final_bytes_ = 0;
  if (last_committed_) {
    for (const auto& p : completed_.at(*last_committed_).positions) final_bytes_ += p.bytes;
  }
  done_ = true;
  cv_.notify_all();
  return true;
}

bool LoadRun::TriggerCheckpoint() {
  int64_t min_prepared = slots_[0].last_prepared;
  for (const auto& s : slots_) min_prepared = std::min(min_prepared, s.last_prepared);
  if (min_prepared < requested_ || requested_ + 1 > throttle_floor_ + kMaxUncommittedCheckpoints) {
    return false;
  }
  requested_ = std::max(requested_, min_prepared) + 1;
  cv_.notify_all();
  return true;
}

// Flink's notifyCheckpointComplete: commits the newest completed checkpoint
// (Commit(N) also commits every sealed checkpoint < N), off the coordinator's
// thread so that checkpoints keep being triggered while a commit runs.
void LoadRun::CommitLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] {
      return failure_ != Recovery::kNone || done_ ||
             (last_completed_ && (!last_committed_ || *last_completed_ > *last_committed_));
    });
    if (failure_ != Recovery::kNone || done_) return;
    int64_t id = *last_completed_;
    CheckpointState state = completed_.at(id);
    lock.unlock();
    // A late notifyCheckpointComplete; it also lets a benchmark time commits
    // whose checkpoints are prepared by then.
    if (o_.commit_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.commit_delay_ms));
    bool ok = CommitCheckpoint(id, state);
    lock.lock();
    if (!ok) return;
  }
}

// Commits checkpoint `id`, retrying UNAVAILABLE with the same committables
// until --max-restart-seconds; false after Fail().
bool LoadRun::CommitCheckpoint(int64_t id, const CheckpointState& state) {
  v1::CommitRequest req;
  for (const auto& c : state.committables) *req.add_committables() = c;
  if (o_.progress) Log("checkpoint {} committing", id);
  auto began = Clock::now();
  auto deadline = began + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    grpc::ClientContext ctx;
    SetUnaryDeadline(&ctx, kCommitTimeout);
    v1::CommitResponse resp;
    // Through any sidecar of the root: the checkpoint's own turn of them.
    grpc::Status s = coordinators_[id % coordinators_.size()]->Commit(&ctx, req, &resp);
    if (s.ok()) break;
    Recovery r = RecoveryFor(s.error_code());
    if (r != Recovery::kRestore || Clock::now() + backoff > deadline) {
      Fail(r == Recovery::kRestore ? Recovery::kFatal : r,
           fmt::format("Commit of checkpoint {}: {}", id, Describe(s)));
      return false;
    }
    // Retried with the same committables, never by rewriting data. If the
    // sidecar went away, the writers notice too and the run restarts instead.
    if (Failed()) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    if (Failed()) return false;
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  reporter_->Event({{"event", "commit"}, {"checkpoint", id}, {"ms", ms}});
  std::lock_guard lock(mu_);
  for (auto it = completed_.upper_bound(last_committed_.value_or(-1));
       it != completed_.end() && it->first <= id; ++it) {
    ++checkpoints_committed_;
  }
  last_committed_ = id;
  completed_.erase(completed_.begin(), completed_.find(id));
  throttle_floor_ = std::max(throttle_floor_, id);
  cv_.notify_all();
  if (o_.progress) {
    uint64_t rows = 0;
    for (const auto& p : state.positions) rows += p.next_op;
    double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    Log("checkpoint {} committed: {} rows, {:.0f} rows/s, commit {:.0f} ms", id, rows,
        rows / std::max(secs, 1e-9), ms);
  }
  return true;
}

}  // namespace deltasidecar::loadgen
