#include "sidecar/grpc_service.h"

#include "table/base/absl_compat.h"

namespace deltasidecar::sidecar {

namespace {

// The sink of a streamed read: each message is sent on `writer`. CANCELLED
// once the client cancelled or went away, which ends the read.
ReadService::ScanSink SinkTo(grpc::ServerContext* ctx,
                             grpc::ServerWriter<v1::ScanResponse>* writer) {
  return [ctx, writer](const v1::ScanResponse& message) -> absl::Status {
    if (ctx->IsCancelled()) return absl::CancelledError("the client cancelled");
    if (!writer->Write(message)) return absl::CancelledError("the client went away");
    return absl::OkStatus();
  };
}

grpc::Status ShuttingDownStatus() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the sidecar is shutting down: the batches acknowledged on this stream are "
                      "staged; send the others on a new stream once a sidecar is back");
}

}  // namespace

// One Write stream. It reads a batch, stages it, acknowledges it, and only
// then reads the next one.
//
// Lifecycle: Finish is called exactly once, by whoever moves `state_` to
// kFinished under the service's streams_mu_ (the reactor itself, or
// GrpcService::ShutdownStreams for a stream waiting in a read). gRPC
// calls OnDone only after Finish and every pending operation, so a reactor
// that is not kFinished yet stays alive, and one in `streams_` stays alive
// while streams_mu_ is held (OnDone removes it under that lock first).
class WriteReactor : public grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse> {
 public:
  WriteReactor(GrpcService* service, grpc::CallbackServerContext* ctx)
      : service_(service), server_(service->server_), ctx_(ctx) {}

  // Called once, by GrpcService::Write, before gRPC runs any reaction.
  void Start() {
    bool refuse = false;
    {
      absl::MutexLock lock(&service_->streams_mu_);
      if (service_->shutting_down_) {
        refuse = true;
        state_ = State::kFinished;
      } else {
        service_->streams_.insert(this);
        state_ = State::kStartingRead;
      }
    }
    if (refuse) {
      Finish(ShuttingDownStatus());
      return;
    }
    ReadNext();
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&service_->streams_mu_);
      // Shutdown finished the stream while this read was pending: a batch
      // that arrived meanwhile is not staged (and not acknowledged).
      if (state_ == State::kFinished) return;
      state_ = State::kStaging;
    }
    if (!ok) {  // the client closed its side: every batch it sent was acknowledged
      FinishWith(grpc::Status::OK);
      return;
    }
    if (!started_) {
      if (request_.table().empty() || request_.writer_id().empty()) {
        FinishWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "the first WriteRequest must name the table and writer_id"));
        return;
      }
      table_ = request_.table();
      writer_id_ = request_.writer_id();
      epoch_ = request_.epoch();
      schema_id_ = request_.schema_id();
      started_ = true;
      server_->events().Info("write_open", {{"table", table_}, {"writer", writer_id_}, {"epoch", epoch_}});
    }
    auto staged = server_->Write(table_, writer_id_, epoch_, schema_id_, request_.batch().rows(),
                                 request_.batch().row_count());
    if (!staged.ok()) {
      // Batches acknowledged before this one stay staged.
      absl::Status s(staged.status().code(),
                     Cat("batch ", request_.batch_seq(), ": ", staged.status().message()));
      staged.status().ForEachPayload(
          [&](absl::string_view url, const absl::Cord& v) { s.SetPayload(url, v); });
      FinishWith(ToGrpcStatus(s, ctx_));
      return;
    }
    ++batches_staged_;
    rows_staged_ += *staged;
    response_.set_batch_seq(request_.batch_seq());
    response_.set_rows_staged(*staged);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    bool stop = false;
    {
      absl::MutexLock lock(&service_->streams_mu_);
      stop = !ok || service_->shutting_down_;
      state_ = stop ? State::kFinished : State::kStartingRead;
    }
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "acknowledgement could not be sent"));
    } else if (stop) {
      Finish(ShuttingDownStatus());  // the batch being staged at shutdown is acknowledged
    } else {
      ReadNext();
    }
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&service_->streams_mu_);
      service_->streams_.erase(this);
    }
    server_->events().Log(
        end_code_ == grpc::StatusCode::OK ? LogLevel::kInfo : LogLevel::kWarn, "write_close",
        {{"table", table_}, {"writer", writer_id_}, {"epoch", epoch_}, {"batches", batches_staged_},
         {"rows", rows_staged_},
         {"code", StatusCodeLabel(static_cast<absl::StatusCode>(end_code_))},
         {"error", end_message_}});
    delete this;
  }

  // Every Finish of this stream goes through here (it hides the base's), so
  // OnDone can log how the stream ended. gRPC calls OnDone after Finish.
  void Finish(grpc::Status status) {
    end_code_ = status.error_code();
    end_message_ = status.error_message();
    grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>::Finish(std::move(status));
  }

 private:
  friend class GrpcService;

  enum class State {
    kStartingRead,  // StartRead is being called; shutdown leaves the stream to ReadNext
    kReading,       // a read is pending: shutdown may finish the stream
    kStaging,       // a batch is being staged or acknowledged; the reactor decides
    kFinished,      // Finish was called, or is about to be by whoever set this
  };

  // With state_ == kStartingRead. Runs inside Start or a reaction, so gRPC
  // keeps the reactor alive until it returns, even if the read completes on
  // another thread and the stream ends meanwhile.
  void ReadNext() {
    StartRead(&request_);
    bool stop = false;
    {
      absl::MutexLock lock(&service_->streams_mu_);
      if (state_ == State::kStartingRead) {  // else OnReadDone has taken over
        stop = service_->shutting_down_;
        state_ = stop ? State::kFinished : State::kReading;
      }
    }
    // Shutdown began while the read was being started: it left this stream
    // to us. The pending read then completes with ok=false (or finds
    // kFinished) and is ignored.
    if (stop) Finish(ShuttingDownStatus());
  }

  // From kStaging, where no one else finishes the stream.
  void FinishWith(grpc::Status status) {
    {
      absl::MutexLock lock(&service_->streams_mu_);
      state_ = State::kFinished;
    }
    Finish(std::move(status));
  }

  GrpcService* const service_;
  SidecarServer* const server_;
  grpc::CallbackServerContext* const ctx_;
  State state_ ABSL_GUARDED_BY(service_->streams_mu_) = State::kStartingRead;
  v1::WriteRequest request_;
  v1::WriteResponse response_;
  bool started_ = false;
  std::string table_;
  std::string writer_id_;
  int64_t epoch_ = 0;
  int64_t schema_id_ = 0;  // the version the stream's rows are packed for
  uint64_t batches_staged_ = 0;
  uint64_t rows_staged_ = 0;
  grpc::StatusCode end_code_ = grpc::StatusCode::OK;
  std::string end_message_;
};

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* ctx) {
  if (status.ok()) return grpc::Status::OK;
  if (auto reason = status.GetPayload(AV(checkpoint::kReasonPayloadUrl))) {
    ctx->AddTrailingMetadata("delta-sidecar-reason", std::string(*reason));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Each call is one call of the read or write service; ToGrpcStatus is the
// only conversion of its answer.

grpc::Status GrpcService::CreateTable(grpc::ServerContext* ctx, const v1::CreateTableRequest* req,
                                      v1::CreateTableResponse* resp) {
  return ToGrpcStatus(writes_.CreateTable(*req, resp), ctx);
}

grpc::Status GrpcService::DescribeTable(grpc::ServerContext* ctx,
                                        const v1::DescribeTableRequest* req,
                                        v1::DescribeTableResponse* resp) {
  return ToGrpcStatus(reads_.DescribeTable(*req, resp), ctx);
}

grpc::Status GrpcService::AlterTable(grpc::ServerContext* ctx, const v1::AlterTableRequest* req,
                                     v1::AlterTableResponse* resp) {
  return ToGrpcStatus(writes_.AlterTable(*req, resp), ctx);
}

grpc::Status GrpcService::DropPartition(grpc::ServerContext* ctx, const v1::DropPartitionRequest* req,
                                        v1::DropPartitionResponse* resp) {
  return ToGrpcStatus(writes_.DropPartition(*req, resp), ctx);
}

grpc::Status GrpcService::RegisterWriter(grpc::ServerContext* ctx,
                                         const v1::RegisterWriterRequest* req,
                                         v1::RegisterWriterResponse* resp) {
  return ToGrpcStatus(writes_.RegisterWriter(*req, resp), ctx);
}

grpc::Status GrpcService::PrepareCommit(grpc::ServerContext* ctx,
                                        const v1::PrepareCommitRequest* req,
                                        v1::Committable* resp) {
  return ToGrpcStatus(writes_.PrepareCommit(*req, resp), ctx);
}

grpc::Status GrpcService::Commit(grpc::ServerContext* ctx, const v1::CommitRequest* req,
                                 v1::CommitResponse* resp) {
  return ToGrpcStatus(writes_.Commit(*req, resp), ctx);
}

grpc::Status GrpcService::Abort(grpc::ServerContext* ctx, const v1::AbortRequest* req,
                                v1::AbortResponse* resp) {
  return ToGrpcStatus(writes_.Abort(*req, resp), ctx);
}

grpc::Status GrpcService::Scan(grpc::ServerContext* ctx, const v1::ScanRequest* req,
                               grpc::ServerWriter<v1::ScanResponse>* writer) {
  return ToGrpcStatus(reads_.Scan(*req, SinkTo(ctx, writer)), ctx);
}

grpc::Status GrpcService::Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                              v1::GetResponse* resp) {
  return ToGrpcStatus(reads_.Get(*req, resp), ctx);
}

grpc::Status GrpcService::Changes(grpc::ServerContext* ctx, const v1::ChangesRequest* req,
                                  grpc::ServerWriter<v1::ScanResponse>* writer) {
  return ToGrpcStatus(reads_.Changes(*req, SinkTo(ctx, writer)), ctx);
}

grpc::Status GrpcService::History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                                  v1::HistoryResponse* resp) {
  return ToGrpcStatus(reads_.History(*req, resp), ctx);
}

grpc::Status GrpcService::FollowChanges(grpc::ServerContext* ctx,
                                        const v1::FollowChangesRequest* req,
                                        grpc::ServerWriter<v1::ScanResponse>* writer) {
  // Sleeps for the poll interval, or until shutdown begins.
  auto wait = [this, ctx](absl::Duration interval) -> absl::Status {
    bool shutting_down;
    {
      absl::MutexLock lock(&streams_mu_);
      streams_mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), interval);
      shutting_down = shutting_down_;
    }
    if (shutting_down) {
      return absl::UnavailableError(
          "the sidecar is shutting down: follow again from the last snapshot received whole, "
          "once a sidecar is back");
    }
    if (ctx->IsCancelled()) return absl::CancelledError("the client cancelled");
    return absl::OkStatus();
  };
  {
    absl::MutexLock lock(&streams_mu_);
    if (follows_ >= kMaxFollows) {
      return ToGrpcStatus(absl::ResourceExhaustedError(Cat(
          kMaxFollows, " FollowChanges reads are open on this sidecar, the most it serves at once "
          "(each holds a server thread): retry later or follow through another sidecar")), ctx);
    }
    ++follows_;
  }
  absl::Status s = reads_.FollowChanges(*req, SinkTo(ctx, writer), wait);
  {
    absl::MutexLock lock(&streams_mu_);
    --follows_;
  }
  return ToGrpcStatus(s, ctx);
}

grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>* GrpcService::Write(
    grpc::CallbackServerContext* ctx) {
  auto* reactor = new WriteReactor(this, ctx);
  reactor->Start();
  return reactor;
}

void GrpcService::ShutdownStreams() {
  std::vector<WriteReactor*> idle;
  {
    absl::MutexLock lock(&streams_mu_);
    shutting_down_ = true;
    for (WriteReactor* r : streams_) {
      if (r->state_ == WriteReactor::State::kReading) {
        r->state_ = WriteReactor::State::kFinished;
        idle.push_back(r);
      }
    }
  }
  // Each of these is alive until its Finish (see WriteReactor); not touched after.
  for (WriteReactor* r : idle) r->Finish(ShuttingDownStatus());
}

}  // namespace deltasidecar::sidecar
