// WriteService: the write half of the deltasidecar.v1 API in terms of its
// protobuf messages, without gRPC: CreateTable, RegisterWriter,
// PrepareCommit, Commit and Abort, each translated to one SidecarServer call
// and its result back into the response. (The Write stream stages batch by
// batch through SidecarServer::Write; see grpc_service.cc.)
//
// Thread-safety and errors: SidecarServer's (sidecar/sidecar_server.h).
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "deltasidecar/v1/sidecar.pb.h"
#include "sidecar/sidecar_server.h"

namespace deltasidecar::sidecar {

// The committables of a Commit request as SidecarServer takes them, and back.
std::vector<CommittableRef> CommittablesFromProto(const v1::CommitRequest& request);
void ToProto(const CommittableRef& committable, v1::Committable* out);

class WriteService {
 public:
  // `server` must outlive this.
  explicit WriteService(SidecarServer* server) : server_(server) {}

  absl::Status CreateTable(const v1::CreateTableRequest& request,
                           v1::CreateTableResponse* response) const;
  absl::Status AlterTable(const v1::AlterTableRequest& request,
                          v1::AlterTableResponse* response) const;
  absl::Status DropPartition(const v1::DropPartitionRequest& request,
                             v1::DropPartitionResponse* response) const;
  absl::Status RegisterWriter(const v1::RegisterWriterRequest& request,
                              v1::RegisterWriterResponse* response) const;
  absl::Status PrepareCommit(const v1::PrepareCommitRequest& request,
                             v1::Committable* response) const;
  absl::Status Commit(const v1::CommitRequest& request, v1::CommitResponse* response) const;
  absl::Status Abort(const v1::AbortRequest& request, v1::AbortResponse* response) const;

 private:
  SidecarServer* const server_;
};

}  // namespace deltasidecar::sidecar
