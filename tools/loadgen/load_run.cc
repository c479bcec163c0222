// Sessions and recovery: connecting, Flink's restart, and the failure state
// every thread of a session reports to.
#include <algorithm>
#include <thread>

#include "fmt/core.h"
#include "fmt/ranges.h"
#include "tools/loadgen/load_run.h"
#include "tools/loadgen/log.h"

namespace deltasidecar::loadgen {

namespace v1 = deltasidecar::v1;

LoadRun::LoadRun(const Options& o, const Workload& wl, Reporter* reporter)
    : o_(o), wl_(wl), reporter_(reporter) {
  for (int w = 0; w < o.writers; ++w) writer_ids_.push_back(fmt::format("{}/{}", o.writer_prefix, w));
}

bool LoadRun::Run() {
  if (!Connect()) return false;
  for (;;) {
    Recovery r = Session();
    if (r == Recovery::kNone) return true;
    if (r == Recovery::kFatal) return false;
    if (!Recover(r)) return false;
  }
}

std::vector<std::string> LoadRun::Targets() const {
  return o_.targets.empty() ? std::vector<std::string>{o_.target} : o_.targets;
}

std::shared_ptr<grpc::Channel> LoadRun::NewChannel(int index, const std::string& given) const {
  grpc::ChannelArguments args;
  // A restarted sidecar must be found again quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  // Without this, gRPC 1.51 waits ~5 s before it re-resolves a target that
  // refused a connection (measured), which would stall every restart.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  args.SetMaxReceiveMessageSize(-1);
  // One connection per writer: separate channels with different arguments
  // never share a subchannel.
  args.SetInt("delta.loadgen.channel", index);
  std::string target = given;
  if (!target.empty() && target[0] == '/') target = "unix:" + target;
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void LoadRun::OpenChannels() {
  const std::vector<std::string> targets = Targets();
  channels_.clear();
  for (int i = 0; i < o_.writers; ++i) channels_.push_back(NewChannel(i, targets[i % targets.size()]));
  coordinators_.clear();
  for (size_t t = 0; t < targets.size(); ++t) {
    coordinators_.push_back(v1::DeltaSidecar::NewStub(NewChannel(o_.writers + t, targets[t])));
  }
  coordinator_ = coordinators_.front().get();
}

grpc::Status LoadRun::RegisterOne(int w, std::optional<int64_t> restore,
                                  v1::RegisterWriterResponse* resp) {
  grpc::ClientContext ctx;
  SetUnaryDeadline(&ctx, kUnaryTimeout);
  v1::RegisterWriterRequest req;
  req.set_table(o_.table);
  req.set_writer_id(writer_ids_[w]);
  if (restore) req.set_restored_checkpoint_id(*restore);
  // On the writer's own sidecar, where it stages.
  return v1::DeltaSidecar::NewStub(channels_[w])->RegisterWriter(&ctx, req, resp);
}

bool LoadRun::Connect() {
  auto deadline = Clock::now() + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    OpenChannels();
    grpc::Status s;
    {
      grpc::ClientContext ctx;
      SetUnaryDeadline(&ctx, kUnaryTimeout);
      v1::CreateTableRequest req;
      req.set_table(o_.table);
      req.set_schema(kSchema);
      req.set_primary_key(kPrimaryKey);
      req.set_buckets(o_.buckets);
      req.set_if_not_exists(true);
      v1::CreateTableResponse resp;
      s = coordinator_->CreateTable(&ctx, req, &resp);
    }
    slots_.assign(o_.writers, WriterSlot());
    int64_t base = 0;
    for (int w = 0; s.ok() && w < o_.writers; ++w) {
      v1::RegisterWriterResponse resp;
      s = RegisterOne(w, std::nullopt, &resp);
      if (s.ok()) {
        slots_[w].epoch = resp.epoch();
        slots_[w].start = wl_.Start(w);
        // A table that already holds this writer's checkpoints (an earlier
        // run): continue after them rather than collide with them.
        base = std::max(base, resp.last_committed_checkpoint_id());
      }
    }
    if (s.ok()) {
      last_used_id_ = base;
      return true;
    }
    if (RecoveryFor(s.error_code()) != Recovery::kRestore || Clock::now() + backoff > deadline) {
      Log("cannot start on {}: {}", fmt::format("{}", fmt::join(Targets(), ",")), Describe(s));
      return false;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

// Flink's restart: re-register every writer with the restored checkpoint,
// commit what it and the sidecar say is pending, replay from its positions.
bool LoadRun::Recover(Recovery kind) {
  auto began = Clock::now();
  auto deadline = began + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  ++restarts_;
  for (int attempt = 1;; ++attempt) {
    std::optional<int64_t> restore = kind == Recovery::kRewrite ? last_committed_ : last_completed_;
    OpenChannels();
    std::vector<int64_t> epochs(o_.writers);
    v1::CommitRequest commit;
    grpc::Status s;
    for (int w = 0; s.ok() && w < o_.writers; ++w) {
      v1::RegisterWriterResponse resp;
      s = RegisterOne(w, restore, &resp);
      if (!s.ok()) break;
      epochs[w] = resp.epoch();
      for (const auto& p : resp.pending()) *commit.add_committables() = p;
    }
    if (s.ok() && restore) {
      for (const auto& c : completed_.at(*restore).committables) *commit.add_committables() = c;
    }
    if (s.ok() && commit.committables_size() > 0) {
      grpc::ClientContext ctx;
      SetUnaryDeadline(&ctx, kCommitTimeout);
      v1::CommitResponse resp;
      s = coordinator_->Commit(&ctx, commit, &resp);
    }
    if (s.ok()) {
      AdoptRestored(restore, epochs);
      Log("restart {}: restored {} after {:.1f} s; replaying, next checkpoint {}", restarts_,
          restore ? fmt::format("checkpoint {}", *restore) : "from the start",
          std::chrono::duration<double>(Clock::now() - began).count(), last_used_id_ + 1);
      return true;
    }
    Recovery r = RecoveryFor(s.error_code());
    if (r == Recovery::kRewrite && kind != Recovery::kRewrite) {
      Log("restart {}: {}; rewriting from the last committed checkpoint", restarts_, Describe(s));
      kind = Recovery::kRewrite;
      continue;
    }
    if (r != Recovery::kRestore) {
      Log("restart {} failed: {}", restarts_, Describe(s));
      return false;
    }
    if (Clock::now() + backoff > deadline) {
      Log("sidecar not back within {} s: {}", o_.max_restart_seconds, Describe(s));
      return false;
    }
    if (attempt == 1) {
      Log("restart {}: waiting for the sidecar ({})", restarts_, Describe(s));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

void LoadRun::AdoptRestored(std::optional<int64_t> restore, const std::vector<int64_t>& epochs) {
  if (restore) {
    for (auto it = completed_.upper_bound(last_committed_.value_or(-1));
         it != completed_.end() && it->first <= *restore; ++it) {
      ++checkpoints_committed_;
    }
    last_committed_ = restore;
    last_completed_ = restore;
    completed_.erase(completed_.begin(), completed_.find(*restore));
    completed_.erase(completed_.upper_bound(*restore), completed_.end());
  } else {
    last_completed_.reset();
    last_committed_.reset();
    completed_.clear();
  }
  slots_.assign(o_.writers, WriterSlot());
  for (int w = 0; w < o_.writers; ++w) {
    slots_[w].epoch = epochs[w];
    slots_[w].start = restore ? completed_.at(*restore).positions[w] : wl_.Start(w);
    slots_[w].last_prepared = last_used_id_;
  }
}

// One session: writers stream from their start positions until the run
// finishes or fails. Returns what the failure asks for (kNone: finished).
Recovery LoadRun::Session() {
  {
    std::lock_guard lock(mu_);
    failure_ = Recovery::kNone;
    done_ = false;
    requested_ = last_used_id_;
    throttle_floor_ = last_used_id_;
    for (auto& s : slots_) s.last_prepared = last_used_id_;
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < o_.writers; ++w) threads.emplace_back([this, w] { WriterLoop(w); });
  threads.emplace_back([this] { CommitLoop(); });
  bool finished = Coordinate();
  if (!finished) Fail(Recovery::kRestore, "run failed");  // wakes and cancels every writer
  for (auto& t : threads) t.join();
  std::lock_guard lock(mu_);
  return finished && failure_ == Recovery::kNone ? Recovery::kNone : failure_;
}

void LoadRun::Fail(Recovery r, const std::string& what) {
  std::lock_guard lock(mu_);
  if (failure_ == Recovery::kNone || r > failure_) {
    if (failure_ == Recovery::kNone || r == Recovery::kFatal || r == Recovery::kRewrite) {
      Log("{}", what);
    }
    failure_ = std::max(failure_, r);
  }
  for (auto& s : slots_) {
    if (s.stream_ctx) s.stream_ctx->TryCancel();
    if (s.unary_ctx) s.unary_ctx->TryCancel();
  }
  cv_.notify_all();
}

bool LoadRun::Attach(int w, grpc::ClientContext* ctx, bool stream) {
  std::lock_guard lock(mu_);
  if (failure_ != Recovery::kNone) return false;
  (stream ? slots_[w].stream_ctx : slots_[w].unary_ctx) = ctx;
  return true;
}

void LoadRun::Detach(int w, bool stream) {
  std::lock_guard lock(mu_);
  (stream ? slots_[w].stream_ctx : slots_[w].unary_ctx) = nullptr;
}

}  // namespace deltasidecar::loadgen
