// One writer of a session: streams its source's batches, seals each
// checkpoint the coordinator requests (or --checkpoint-rows reaches) with
// PrepareCommit, and reports a broken stream to the run.
#include <algorithm>
#include <array>
#include <thread>

#include "fmt/core.h"
#include "tools/loadgen/load_run.h"
#include "tools/loadgen/log.h"

namespace deltasidecar::loadgen {

namespace v1 = deltasidecar::v1;

struct LoadRun::WriterStream {
  WriterStream(int w, const std::shared_ptr<grpc::Channel>& channel, uint64_t total)
      : w(w), stub(v1::DeltaSidecar::NewStub(channel)), total(total) {}

  const int w;
  const std::unique_ptr<v1::DeltaSidecar::Stub> stub;
  const uint64_t total;  // ops of this writer in the whole run
  SourcePosition pos;    // of the next op to send
  int64_t epoch = 0;
  grpc::ClientContext stream_ctx;  // outlives `stream`
  std::unique_ptr<grpc::ClientReaderWriter<v1::WriteRequest, v1::WriteResponse>> stream;
  v1::WriteRequest req;  // reused: the rows buffer keeps its capacity
  v1::WriteResponse ack;
  uint64_t next_seq = 0;   // batches sent
  uint64_t acked_seq = 0;  // batches acknowledged
  std::array<uint32_t, kMaxBatchesInFlight> rows_in_flight{};  // ring of row counts by batch seq
  uint64_t unprepared = 0;  // ops sent since the last checkpoint
  bool first = true;        // the first request also names table, writer and epoch
};

void LoadRun::WriterLoop(int w) {
  WriterStream ws(w, channels_[w], wl_.ops(w));
  {
    std::lock_guard lock(mu_);
    ws.pos = slots_[w].start;
    ws.epoch = slots_[w].epoch;
  }
  if (!Attach(w, &ws.stream_ctx, true)) return;
  ws.stream = ws.stub->Write(&ws.stream_ctx);
  for (;;) {
    int64_t prepare_id = 0;
    if (!AwaitTurn(ws, &prepare_id)) break;
    if (prepare_id > 0) {
      if (!PrepareCheckpoint(ws, prepare_id)) break;
      continue;
    }
    if (ws.next_seq - ws.acked_seq >= kMaxBatchesInFlight) {
      if (!ReadAck(ws)) break;
      continue;
    }
    PaceToRate(ws);
    if (!SendBatch(ws)) break;
  }
  FinishStream(ws);
}

bool LoadRun::AwaitTurn(WriterStream& ws, int64_t* prepare_id) {
  *prepare_id = 0;
  std::unique_lock lock(mu_);
  WriterSlot& slot = slots_[ws.w];
  slot.unprepared_ops = ws.unprepared;
  if (ws.pos.next_op == ws.total && !slot.exhausted) {
    slot.exhausted = true;
    cv_.notify_all();
  }
  for (;;) {
    if (failure_ != Recovery::kNone || done_) return false;
    bool at_boundary = o_.checkpoint_rows > 0 && ws.unprepared >= o_.checkpoint_rows;
    if (requested_ > slot.last_prepared ||
        (at_boundary && slot.last_prepared + 1 <= throttle_floor_ + kMaxUncommittedCheckpoints)) {
      *prepare_id = slot.last_prepared + 1;
      return true;
    }
    if (!at_boundary && !slot.exhausted) return true;  // keep writing
    cv_.wait(lock);
  }
}

bool LoadRun::PrepareCheckpoint(WriterStream& ws, int64_t id) {
  // A checkpoint covers exactly what was acknowledged before it.
  while (ws.acked_seq < ws.next_seq) {
    if (!ReadAck(ws)) return false;
  }
  grpc::ClientContext ctx;
  SetUnaryDeadline(&ctx, kUnaryTimeout);
  if (!Attach(ws.w, &ctx, false)) return false;
  v1::PrepareCommitRequest req;
  req.set_table(o_.table);
  req.set_writer_id(writer_ids_[ws.w]);
  req.set_epoch(ws.epoch);
  req.set_checkpoint_id(id);
  v1::Committable committable;
  auto began = Clock::now();
  grpc::Status s = ws.stub->PrepareCommit(&ctx, req, &committable);
  Detach(ws.w, false);
  if (!s.ok()) {
    Fail(RecoveryFor(s.error_code()),
         fmt::format("writer {}: PrepareCommit({}): {}", ws.w, id, Describe(s)));
    return false;
  }
  reporter_->Event({{"event", "prepare"},
                    {"writer", ws.w},
                    {"checkpoint", id},
                    {"rows", committable.rows()},
                    {"ms", std::chrono::duration<double, std::milli>(Clock::now() - began).count()}});
  if (committable.rows() != ws.unprepared) {
    Fail(Recovery::kFatal, fmt::format("writer {}: checkpoint {} sealed {} rows, {} were written",
                                       ws.w, id, committable.rows(), ws.unprepared));
    return false;
  }
  if (o_.progress) Log("writer {} prepared checkpoint {}: {} rows", ws.w, id, committable.rows());
  std::lock_guard lock(mu_);
  WriterSlot& slot = slots_[ws.w];
  slot.prepared[id] = PreparedCheckpoint{ws.pos, std::move(committable)};
  slot.last_prepared = id;
  last_used_id_ = std::max(last_used_id_, id);
  ws.unprepared = 0;
  slot.unprepared_ops = 0;
  cv_.notify_all();
  return true;
}

bool LoadRun::ReadAck(WriterStream& ws) {
  if (!ws.stream->Read(&ws.ack)) return false;
  uint32_t expect = ws.rows_in_flight[ws.acked_seq % kMaxBatchesInFlight];
  if (ws.ack.batch_seq() != ws.acked_seq || ws.ack.rows_staged() != expect) {
    Fail(Recovery::kFatal,
         fmt::format("writer {}: ack for batch {} ({} rows), expected batch {} ({} rows)", ws.w,
                     ws.ack.batch_seq(), ws.ack.rows_staged(), ws.acked_seq, expect));
    return false;
  }
  ++ws.acked_seq;
  reporter_->acked_rows += expect;
  return true;
}

void LoadRun::PaceToRate(const WriterStream& ws) const {
  if (o_.rate <= 0) return;
  // This writer's share of --rate: op i is due i / share seconds after the start.
  const double share = o_.rate / o_.writers;
  std::this_thread::sleep_until(rate_start_ + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(ws.pos.next_op / share)));
}

bool LoadRun::SendBatch(WriterStream& ws) {
  uint64_t n = std::min<uint64_t>(o_.batch_rows, ws.total - ws.pos.next_op);
  if (o_.checkpoint_rows > 0) n = std::min(n, o_.checkpoint_rows - ws.unprepared);
  v1::WriteRequest& req = ws.req;
  if (ws.first) {
    req.set_table(o_.table);
    req.set_writer_id(writer_ids_[ws.w]);
    req.set_epoch(ws.epoch);
  }
  std::string* rows = req.mutable_batch()->mutable_rows();
  rows->clear();
  wl_.AppendOps(ws.w, n, &ws.pos, rows);
  req.mutable_batch()->set_row_count(static_cast<uint32_t>(n));
  req.set_batch_seq(ws.next_seq);
  ws.rows_in_flight[ws.next_seq % kMaxBatchesInFlight] = static_cast<uint32_t>(n);
  if (!ws.stream->Write(req)) return false;
  if (ws.first) {
    req.clear_table();
    req.clear_writer_id();
    req.clear_epoch();
    ws.first = false;
  }
  ++ws.next_seq;
  ws.unprepared += n;
  return true;
}

void LoadRun::FinishStream(WriterStream& ws) {
  bool finished, failed;
  {
    std::lock_guard lock(mu_);
    finished = done_ && failure_ == Recovery::kNone;
    failed = failure_ != Recovery::kNone;
  }
  if (finished) {
    // Every batch was acknowledged and committed: close politely. A stream
    // broken by a sidecar restart while this writer idled no longer matters.
    ws.stream->WritesDone();
    ws.stream->Finish().ok();
    Detach(ws.w, true);
    return;
  }
  grpc::Status s = ws.stream->Finish();  // prompt: Fail() cancelled the call, or it broke
  Detach(ws.w, true);
  if (!failed) {
    Fail(s.ok() ? Recovery::kRestore : RecoveryFor(s.error_code()),
         fmt::format("writer {}: Write stream ended: {}", ws.w,
                     s.ok() ? std::string("closed by the sidecar") : Describe(s)));
  }
}

}  // namespace deltasidecar::loadgen
