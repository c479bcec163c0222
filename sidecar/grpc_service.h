// The deltasidecar.v1 gRPC service: a thin adapter from protobuf messages to
// SidecarServer. Unary and server-streaming calls run on gRPC's synchronous
// thread pool (they block on disk); the Write stream is a callback reactor
// that reads the next batch only after staging and acknowledging the previous
// one, so HTTP/2 flow control bounds what a fast client can queue.
#pragma once

#include "absl/status/status.h"
#include "deltasidecar/v1/sidecar.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "sidecar/sidecar_server.h"

namespace deltasidecar::sidecar {

// The one conversion of a status at the edge (the codes are the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

class GrpcService final
    : public v1::DeltaSidecar::WithCallbackMethod_Write<v1::DeltaSidecar::Service> {
 public:
  explicit GrpcService(SidecarServer* server) : server_(server) {}

  grpc::Status CreateTable(grpc::ServerContext*, const v1::CreateTableRequest*,
                           v1::CreateTableResponse*) override;
  grpc::Status DescribeTable(grpc::ServerContext*, const v1::DescribeTableRequest*,
                             v1::DescribeTableResponse*) override;
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

 private:
  SidecarServer* server_;
};

}  // namespace deltasidecar::sidecar
