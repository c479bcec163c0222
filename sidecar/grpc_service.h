// The deltasidecar.v1 gRPC service: a thin adapter over ReadService and
// WriteService (which know nothing of gRPC); each call is one call of theirs
// and one status conversion. Unary and server-streaming calls run on gRPC's
// synchronous thread pool (they block on disk; a FollowChanges read holds its
// thread for as long as it follows, asleep between polls, and the pool grows
// with the calls); the Write stream is a callback reactor
// that reads the next batch only after staging and acknowledging the previous
// one, so HTTP/2 flow control bounds what a fast client can queue.
//
// Shutdown: grpc::Server::Shutdown waits for every open call, and a Write
// stream whose client sends nothing, or a FollowChanges read waiting for the
// next snapshot, would hold it until the deadline. So the service keeps
// track of its open Write streams, and ShutdownStreams() (called just before
// grpc::Server::Shutdown) ends them and wakes the following reads.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "deltasidecar/v1/sidecar.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "sidecar/read_service.h"
#include "sidecar/sidecar_server.h"
#include "sidecar/write_service.h"

namespace deltasidecar::sidecar {

// The one conversion of a status at the edge (the codes are the same numbers).
// A reason the status carries (checkpoint::kReasonPayloadUrl) is sent as the
// call's trailing metadata entry `delta-sidecar-reason`.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* ctx);

class WriteReactor;  // one open Write stream (grpc_service.cc)

class GrpcService final
    : public v1::DeltaSidecar::WithCallbackMethod_Write<v1::DeltaSidecar::Service> {
 public:
  // `server` must outlive the service.
  explicit GrpcService(SidecarServer* server)
      : server_(server),
        reads_([server](const std::string& name) { return server->GetTable(name); }),
        writes_(server) {}

  // The first step of a graceful shutdown, before grpc::Server::Shutdown:
  // every open Write stream that waits for the client's next batch is
  // finished at once with UNAVAILABLE ("the sidecar is shutting down"); a
  // stream that is staging a batch stages and acknowledges it first, then
  // finishes the same way; a stream opened from now on finishes at once.
  // A FollowChanges read ends at its next wait for a snapshot with
  // UNAVAILABLE ("the sidecar is shutting down"), at once when it is waiting.
  // Other calls are left alone (grpc::Server::Shutdown lets them finish
  // within its deadline). Returns without waiting for the streams to end.
  void ShutdownStreams();

  grpc::Status CreateTable(grpc::ServerContext*, const v1::CreateTableRequest*,
                           v1::CreateTableResponse*) override;
  grpc::Status DescribeTable(grpc::ServerContext*, const v1::DescribeTableRequest*,
                             v1::DescribeTableResponse*) override;
  grpc::Status AlterTable(grpc::ServerContext*, const v1::AlterTableRequest*,
                          v1::AlterTableResponse*) override;
  grpc::Status DropPartition(grpc::ServerContext*, const v1::DropPartitionRequest*,
                             v1::DropPartitionResponse*) override;
  grpc::Status RegisterWriter(grpc::ServerContext*, const v1::RegisterWriterRequest*,
                              v1::RegisterWriterResponse*) override;
  grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>* Write(
      grpc::CallbackServerContext*) override;
  grpc::Status PrepareCommit(grpc::ServerContext*, const v1::PrepareCommitRequest*,
                             v1::Committable*) override;
  grpc::Status Commit(grpc::ServerContext*, const v1::CommitRequest*, v1::CommitResponse*) override;
  grpc::Status Abort(grpc::ServerContext*, const v1::AbortRequest*, v1::AbortResponse*) override;
  grpc::Status Scan(grpc::ServerContext*, const v1::ScanRequest*,
                    grpc::ServerWriter<v1::ScanResponse>*) override;
  grpc::Status Get(grpc::ServerContext*, const v1::GetRequest*, v1::GetResponse*) override;
  grpc::Status Changes(grpc::ServerContext*, const v1::ChangesRequest*,
                       grpc::ServerWriter<v1::ScanResponse>*) override;
  grpc::Status History(grpc::ServerContext*, const v1::HistoryRequest*,
                       v1::HistoryResponse*) override;
  grpc::Status FollowChanges(grpc::ServerContext*, const v1::FollowChangesRequest*,
                             grpc::ServerWriter<v1::ScanResponse>*) override;

 private:
  friend class WriteReactor;

  SidecarServer* const server_;
  const ReadService reads_;
  const WriteService writes_;
  // Guards the set and the shutdown flag here (following reads wait on the
  // flag), and every open reactor's
  // state. Never held while calling into gRPC (StartRead, StartWrite,
  // Finish): those may run reactions, OnDone included, which take it.
  absl::Mutex streams_mu_;
  bool shutting_down_ ABSL_GUARDED_BY(streams_mu_) = false;
  // Open Write streams: a reactor is added when it starts reading and removed
  // in its OnDone, so every pointer here is alive while streams_mu_ is held.
  std::unordered_set<WriteReactor*> streams_ ABSL_GUARDED_BY(streams_mu_);
  // Open FollowChanges reads; each holds a server thread while it waits.
  static constexpr int kMaxFollows = 256;
  int follows_ ABSL_GUARDED_BY(streams_mu_) = 0;
};

}  // namespace deltasidecar::sidecar
