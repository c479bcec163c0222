#include "sidecar/grpc_service.h"

#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"

namespace deltasidecar::sidecar {

namespace {

// Rows per ScanResponse message; also bounded by bytes.
constexpr uint32_t kScanBatchRows = 8192;
constexpr size_t kScanBatchBytes = 1 << 20;

absl::StatusOr<std::shared_ptr<const table::Snapshot>> SelectSnapshot(
    table::Table& table, const v1::SnapshotSelector& selector) {
  switch (selector.at_case()) {
    case v1::SnapshotSelector::kSnapshotId:
      return table.SnapshotById(selector.snapshot_id());
    case v1::SnapshotSelector::kAsOfUnixMs:
      return table.SnapshotAsOf(absl::FromUnixMillis(selector.as_of_unix_ms()));
    default:
      return table.LatestSnapshot();
  }
}

// Streams an iterator's entries as packed rows.
absl::Status StreamRows(const table::TableSchema& schema, table::TableIterator& it,
                        int64_t snapshot_id, grpc::ServerContext* ctx,
                        grpc::ServerWriter<v1::ScanResponse>* writer) {
  v1::ScanResponse resp;
  resp.set_snapshot_id(snapshot_id);
  std::string* rows = resp.mutable_batch()->mutable_rows();
  uint32_t count = 0;
  bool sent = false;
  auto flush = [&]() -> absl::Status {
    resp.mutable_batch()->set_row_count(count);
    if (!writer->Write(resp)) return absl::CancelledError("the client went away");
    sent = true;
    rows->clear();
    count = 0;
    return absl::OkStatus();
  };
  for (; it.Valid(); it.Next()) {
    RETURN_IF_ERROR(AppendWireRowFromEntry(schema, it.key(), it.value(), rows));
    if (++count >= kScanBatchRows || rows->size() >= kScanBatchBytes) {
      if (ctx->IsCancelled()) return absl::CancelledError("the client cancelled");
      RETURN_IF_ERROR(flush());
    }
  }
  RETURN_IF_ERROR(it.status());
  // The last message may hold no rows: a read of nothing still names the
  // snapshot it read.
  return count > 0 || !sent ? flush() : absl::OkStatus();
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
// GrpcService::ShutdownWriteStreams for a stream waiting in a read). gRPC
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
      started_ = true;
      server_->events().Info("write_open", {{"table", table_}, {"writer", writer_id_}, {"epoch", epoch_}});
    }
    auto staged = server_->Write(table_, writer_id_, epoch_, request_.batch().rows(),
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

grpc::Status GrpcService::CreateTable(grpc::ServerContext* ctx, const v1::CreateTableRequest* req,
                                      v1::CreateTableResponse*) {
  return ToGrpcStatus(server_->CreateTable(req->table(), req->schema(), req->primary_key(),
                                           req->buckets(), req->if_not_exists()), ctx);
}

grpc::Status GrpcService::DescribeTable(grpc::ServerContext* ctx, const v1::DescribeTableRequest* req,
                                        v1::DescribeTableResponse* resp) {
  auto table = server_->GetTable(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status(), ctx);
  const table::TableSchema& schema = (*table)->schema();
  resp->set_table(req->table());
  for (const auto& c : schema.columns()) {
    auto* col = resp->add_columns();
    col->set_name(c.name);
    col->set_type(c.TypeString());
    col->set_nullable(c.nullable);
  }
  for (int i : schema.key_columns()) resp->add_primary_key(schema.columns()[i].name);
  resp->set_buckets(schema.buckets());
  auto latest = (*table)->LatestSnapshot();
  if (!latest.ok()) return ToGrpcStatus(latest.status(), ctx);
  resp->set_latest_snapshot_id((*latest)->id);
  return grpc::Status::OK;
}

grpc::Status GrpcService::RegisterWriter(grpc::ServerContext* ctx, const v1::RegisterWriterRequest* req,
                                         v1::RegisterWriterResponse* resp) {
  std::optional<int64_t> restored;
  if (req->has_restored_checkpoint_id()) restored = req->restored_checkpoint_id();
  auto reg = server_->RegisterWriter(req->table(), req->writer_id(), restored);
  if (!reg.ok()) return ToGrpcStatus(reg.status(), ctx);
  resp->set_epoch(reg->epoch);
  resp->set_last_committed_checkpoint_id(reg->last_committed);
  resp->set_identity(reg->table_writer_id);
  for (const auto& p : reg->pending) {
    ToProto(ToCommittable(req->table(), req->writer_id(), p), resp->add_pending());
  }
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>* GrpcService::Write(
    grpc::CallbackServerContext* ctx) {
  auto* reactor = new WriteReactor(this, ctx);
  reactor->Start();
  return reactor;
}

void GrpcService::ShutdownWriteStreams() {
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

grpc::Status GrpcService::PrepareCommit(grpc::ServerContext* ctx, const v1::PrepareCommitRequest* req,
                                        v1::Committable* resp) {
  auto c = server_->PrepareCommit(req->table(), req->writer_id(), req->epoch(), req->checkpoint_id());
  if (!c.ok()) return ToGrpcStatus(c.status(), ctx);
  ToProto(*c, resp);
  return grpc::Status::OK;
}

void ToProto(const CommittableRef& c, v1::Committable* out) {
  out->set_table(c.table);
  out->set_writer_id(c.writer_id);
  out->set_epoch(c.epoch);
  out->set_checkpoint_id(c.checkpoint_id);
  out->set_rows(c.rows);
  out->set_checksum(c.checksum);
  out->set_identity(c.identity);
}

std::vector<CommittableRef> CommittablesFromProto(const v1::CommitRequest& req) {
  std::vector<CommittableRef> refs;
  for (const auto& c : req.committables()) {
    refs.push_back({c.table(), c.writer_id(), c.epoch(), c.checkpoint_id(), c.rows(), c.checksum(),
                    c.identity()});
  }
  return refs;
}

grpc::Status GrpcService::Commit(grpc::ServerContext* ctx, const v1::CommitRequest* req,
                                 v1::CommitResponse* resp) {
  auto results = server_->Commit(CommittablesFromProto(*req));
  if (!results.ok()) return ToGrpcStatus(results.status(), ctx);
  for (const auto& r : *results) {
    auto* out = resp->add_commits();
    out->set_table(r.table);
    out->set_snapshot_id(r.snapshot_id);
    out->set_already_committed(r.already_committed);
  }
  return grpc::Status::OK;
}

grpc::Status GrpcService::Abort(grpc::ServerContext* ctx, const v1::AbortRequest* req, v1::AbortResponse*) {
  return ToGrpcStatus(server_->Abort(req->table(), req->writer_id(), req->epoch(), req->checkpoint_id()), ctx);
}

grpc::Status GrpcService::Scan(grpc::ServerContext* ctx, const v1::ScanRequest* req,
                               grpc::ServerWriter<v1::ScanResponse>* writer) {
  auto table = server_->GetTable(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status(), ctx);
  auto snap = SelectSnapshot(**table, req->snapshot());
  if (!snap.ok()) return ToGrpcStatus(snap.status(), ctx);
  auto it = (*table)->NewScan(**snap);
  if (!it.ok()) return ToGrpcStatus(it.status(), ctx);
  return ToGrpcStatus(StreamRows((*table)->schema(), **it, (*snap)->id, ctx, writer), ctx);
}

grpc::Status GrpcService::Changes(grpc::ServerContext* ctx, const v1::ChangesRequest* req,
                                  grpc::ServerWriter<v1::ScanResponse>* writer) {
  auto table = server_->GetTable(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status(), ctx);
  int64_t to = req->has_to_snapshot_id() ? req->to_snapshot_id() : -1;
  if (to < 0) {
    auto latest = (*table)->LatestSnapshot();
    if (!latest.ok()) return ToGrpcStatus(latest.status(), ctx);
    to = (*latest)->id;
  }
  auto it = (*table)->NewChanges(req->from_snapshot_id(), to);
  if (!it.ok()) return ToGrpcStatus(it.status(), ctx);
  return ToGrpcStatus(StreamRows((*table)->schema(), **it, to, ctx, writer), ctx);
}

grpc::Status GrpcService::Get(grpc::ServerContext* ctx, const v1::GetRequest* req, v1::GetResponse* resp) {
  auto table = server_->GetTable(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status(), ctx);
  const table::TableSchema& schema = (*table)->schema();
  std::vector<std::pair<table::RowOp, table::Row>> rows;
  absl::Status s = ParseWireRows(schema, req->key().rows(), req->key().row_count(), WireLimits(), &rows);
  if (!s.ok()) return ToGrpcStatus(absl::InvalidArgumentError(Cat("key: ", s.message())), ctx);
  if (rows.size() != 1) return ToGrpcStatus(absl::InvalidArgumentError("key must hold exactly one row"), ctx);
  auto snap = SelectSnapshot(**table, req->snapshot());
  if (!snap.ok()) return ToGrpcStatus(snap.status(), ctx);
  std::string key = table::EncodeKey(schema, rows[0].second);
  auto value = (*table)->Get(**snap, key);
  if (!value.ok()) return ToGrpcStatus(value.status(), ctx);
  resp->set_snapshot_id((*snap)->id);
  resp->set_found(value->has_value());
  if (value->has_value()) {
    s = AppendWireRowFromEntry(schema, key, **value, resp->mutable_row()->mutable_rows());
    if (!s.ok()) return ToGrpcStatus(s, ctx);
    resp->mutable_row()->set_row_count(1);
  }
  return grpc::Status::OK;
}

grpc::Status GrpcService::History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                                  v1::HistoryResponse* resp) {
  auto table = server_->GetTable(req->table());
  if (!table.ok()) return ToGrpcStatus(table.status(), ctx);
  auto history = (*table)->History();
  if (!history.ok()) return ToGrpcStatus(history.status(), ctx);
  for (const auto& s : *history) {
    auto* info = resp->add_snapshots();
    info->set_id(s->id);
    info->set_time_unix_ms(s->time_ms);
    info->set_kind(std::string(table::SnapshotKindName(s->kind)));
    info->set_rows(s->added_entries);
    info->set_deletes(s->added_deletes);
    for (const auto& id : s->identities) {
      auto* c = info->add_identities();
      c->set_writer_id(id.writer_id);
      c->set_checkpoint_id(id.checkpoint_id);
    }
  }
  return grpc::Status::OK;
}

}  // namespace deltasidecar::sidecar
