// The run of delta-loadgen: W writers through the real gRPC API, checkpointed
// like Flink.
//
// Writers stream batches; at each checkpoint N every writer drains its
// acknowledgements and calls PrepareCommit(N); once all have, checkpoint N is
// complete (its committables and the writers' source positions are the
// checkpoint state) and a committer thread commits the newest complete
// checkpoint ("notifyCheckpointComplete"; Commit(N) also covers every sealed
// checkpoint < N) while writing goes on. A Commit failing with UNAVAILABLE is
// retried with the same committables, never by resending data. On any other
// failure (a broken stream) every writer re-registers with the last completed
// checkpoint as the restored id, the pending committables and the restored
// state's committables are committed again (idempotent), and the sources
// replay from their positions at that checkpoint. DATA_LOSS restarts from the
// last committed checkpoint instead, so the corrupt data is rewritten.
//
// Threads: Run() drives sessions on the calling thread (the coordinator); each
// session adds one thread per writer and one committer. mu_ guards the
// session state below it; the cross-session state is written only by the
// main thread between sessions, or under mu_ during one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "deltasidecar/v1/sidecar.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tools/loadgen/options.h"
#include "tools/loadgen/recovery.h"
#include "tools/loadgen/reporter.h"
#include "tools/loadgen/workload.h"

namespace deltasidecar::loadgen {

constexpr int kMaxBatchesInFlight = 4;
// Checkpoints a writer may seal ahead of the last committed one: bounds the
// staged data when commits fall behind.
constexpr int64_t kMaxUncommittedCheckpoints = 2;
constexpr auto kUnaryTimeout = std::chrono::seconds(60);
constexpr auto kCommitTimeout = std::chrono::seconds(300);

// State of a checkpoint once every writer prepared it.
struct CheckpointState {
  std::vector<SourcePosition> positions;  // per writer, after the checkpoint's last op
  std::vector<deltasidecar::v1::Committable> committables;
};

struct PreparedCheckpoint {
  SourcePosition position;
  deltasidecar::v1::Committable committable;
};

class LoadRun {
 public:
  LoadRun(const Options& o, const Workload& wl, Reporter* reporter);

  // Runs to the end; false after a fatal error (already logged).
  bool Run();

  uint64_t restarts() const { return restarts_; }
  uint64_t checkpoints() const { return checkpoints_committed_; }
  uint64_t bytes() const { return final_bytes_; }  // packed bytes up to the last commit

 private:
  using Clock = std::chrono::steady_clock;

  struct WriterSlot {
    int64_t epoch = 0;
    SourcePosition start;       // where this session's stream starts
    int64_t last_prepared = 0;  // highest checkpoint id this writer prepared
    uint64_t unprepared_ops = 0;
    bool exhausted = false;
    std::map<int64_t, PreparedCheckpoint> prepared;  // not yet complete
    grpc::ClientContext* stream_ctx = nullptr;
    grpc::ClientContext* unary_ctx = nullptr;
  };
  struct WriterStream;  // one writer's Write stream in one session (writer_loop.cc)

  // --- Sessions and recovery (load_run.cc).
  // A channel of its own (never sharing a connection) to `target`.
  std::shared_ptr<grpc::Channel> NewChannel(int index, const std::string& target) const;
  // The sidecars of the run: --targets, else --target.
  std::vector<std::string> Targets() const;
  // Fresh channels: one per writer and one for the coordinator's unary calls.
  void OpenChannels();
  // Registers writer w, restored from `restore` when given.
  grpc::Status RegisterOne(int w, std::optional<int64_t> restore,
                           deltasidecar::v1::RegisterWriterResponse* resp);
  // Creates the table and registers every writer afresh.
  bool Connect();
  // Flink's restart; false when the sidecar does not come back in time.
  bool Recover(Recovery kind);
  // After a successful restart: forget what `restore` supersedes, and start
  // every writer's next session from it.
  void AdoptRestored(std::optional<int64_t> restore, const std::vector<int64_t>& epochs);
  Recovery Session();
  // Records the failure (the most severe wins) and cancels every call.
  void Fail(Recovery r, const std::string& what);
  bool Failed() {
    std::lock_guard lock(mu_);
    return failure_ != Recovery::kNone;
  }
  // Registers `ctx` as the writer's current call so Fail() can cancel it;
  // false when the run already failed.
  bool Attach(int w, grpc::ClientContext* ctx, bool stream);
  void Detach(int w, bool stream);
  void SetUnaryDeadline(grpc::ClientContext* ctx, std::chrono::seconds timeout) const {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  }

  // --- One writer (writer_loop.cc).
  void WriterLoop(int w);
  // Publishes the writer's progress and waits until it may write on, or must
  // prepare (*prepare_id > 0). False when the session ends.
  bool AwaitTurn(WriterStream& ws, int64_t* prepare_id);
  // Drains the acknowledgements, seals checkpoint `id` and records it.
  bool PrepareCheckpoint(WriterStream& ws, int64_t id);
  bool ReadAck(WriterStream& ws);
  // Sleeps until the writer's next op is due under --rate.
  void PaceToRate(const WriterStream& ws) const;
  // Sends the next batch, cut at the checkpoint boundary.
  bool SendBatch(WriterStream& ws);
  // Closes the stream; a stream that ended early fails the session.
  void FinishStream(WriterStream& ws);

  // --- Checkpoint coordinator and committer (commit_coordinator.cc).
  bool Coordinate();  // true when the run finished
  // The coordinator's steps, each with mu_ held.
  // Moves the lowest checkpoint every writer prepared into completed_; false
  // when there is none.
  bool CompleteReadyCheckpoint();
  // Once every writer is exhausted: requests the final checkpoint; true when
  // it is committed and the run is done.
  bool FinishWhenDrained();
  // Requests the next checkpoint by time unless the writers are still sealing
  // the last one or commits fell behind; true when it did.
  bool TriggerCheckpoint();
  void CommitLoop();
  bool CommitCheckpoint(int64_t id, const CheckpointState& state);

  const Options o_;
  const Workload& wl_;
  Reporter* const reporter_;
  std::vector<std::string> writer_ids_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;  // one per writer
  // The coordinator's unary calls, one stub per target; coordinator_ is the first.
  std::vector<std::unique_ptr<deltasidecar::v1::DeltaSidecar::Stub>> coordinators_;
  deltasidecar::v1::DeltaSidecar::Stub* coordinator_ = nullptr;
  Clock::time_point started_ = Clock::now();

  // Across sessions (only the main thread writes these between sessions).
  int64_t last_used_id_ = 0;  // checkpoint ids are never reused
  std::optional<int64_t> last_completed_;
  std::optional<int64_t> last_committed_;
  std::map<int64_t, CheckpointState> completed_;  // from the last committed one on
  uint64_t restarts_ = 0;
  uint64_t checkpoints_committed_ = 0;
  uint64_t final_bytes_ = 0;

  const Clock::time_point rate_start_ = Clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WriterSlot> slots_;
  int64_t requested_ = 0;       // checkpoint id requested of every writer
  int64_t throttle_floor_ = 0;  // writers seal at most kMaxUncommittedCheckpoints past this
  Recovery failure_ = Recovery::kNone;
  bool done_ = false;
};

}  // namespace deltasidecar::loadgen
