#include "sidecar/write_service.h"

#include <optional>

#include "sidecar/read_service.h"
#include "table/base/status_macros.h"

namespace deltasidecar::sidecar {

std::vector<CommittableRef> CommittablesFromProto(const v1::CommitRequest& request) {
  std::vector<CommittableRef> refs;
  for (const auto& c : request.committables()) {
    refs.push_back({c.table(), c.writer_id(), c.epoch(), c.checkpoint_id(), c.rows(), c.checksum(),
                    c.identity()});
  }
  return refs;
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

absl::Status WriteService::CreateTable(const v1::CreateTableRequest& request,
                                       v1::CreateTableResponse*) const {
  table::TableProperties properties(request.options().begin(), request.options().end());
  return server_->CreateTable(request.table(), request.schema(), request.primary_key(),
                              request.buckets(), request.if_not_exists(), properties,
                              request.partition_by());
}

absl::Status WriteService::AlterTable(const v1::AlterTableRequest& request,
                                      v1::AlterTableResponse* response) const {
  std::vector<std::string> changes(request.changes().begin(), request.changes().end());
  ASSIGN_OR_RETURN(table::Table::AlterResult result, server_->AlterTable(request.table(), changes));
  response->set_snapshot_id(result.snapshot_id);
  response->set_schema_id(result.schema->id());
  AddColumns(*result.schema, response->mutable_columns());
  return absl::OkStatus();
}

absl::Status WriteService::DropPartition(const v1::DropPartitionRequest& request,
                                         v1::DropPartitionResponse* response) const {
  std::vector<std::string> specs(request.partitions().begin(), request.partitions().end());
  ASSIGN_OR_RETURN(int64_t id, server_->DropPartitions(request.table(), specs));
  response->set_snapshot_id(id);
  return absl::OkStatus();
}

absl::Status WriteService::RegisterWriter(const v1::RegisterWriterRequest& request,
                                          v1::RegisterWriterResponse* response) const {
  std::optional<int64_t> restored;
  if (request.has_restored_checkpoint_id()) restored = request.restored_checkpoint_id();
  ASSIGN_OR_RETURN(checkpoint::Registration reg,
                   server_->RegisterWriter(request.table(), request.writer_id(), restored));
  response->set_epoch(reg.epoch);
  response->set_last_committed_checkpoint_id(reg.last_committed);
  response->set_identity(reg.table_writer_id);
  ASSIGN_OR_RETURN(auto table, server_->GetTable(request.table()));
  ASSIGN_OR_RETURN(auto schema, table->CurrentSchema());
  response->set_schema_id(schema->id());
  for (const auto& p : reg.pending) {
    ToProto(ToCommittable(request.table(), request.writer_id(), p), response->add_pending());
  }
  return absl::OkStatus();
}

absl::Status WriteService::PrepareCommit(const v1::PrepareCommitRequest& request,
                                         v1::Committable* response) const {
  ASSIGN_OR_RETURN(CommittableRef c,
                   server_->PrepareCommit(request.table(), request.writer_id(), request.epoch(),
                                          request.checkpoint_id()));
  ToProto(c, response);
  return absl::OkStatus();
}

absl::Status WriteService::Commit(const v1::CommitRequest& request,
                                  v1::CommitResponse* response) const {
  ASSIGN_OR_RETURN(std::vector<TableCommitResult> results,
                   server_->Commit(CommittablesFromProto(request)));
  for (const auto& r : results) {
    auto* out = response->add_commits();
    out->set_table(r.table);
    out->set_snapshot_id(r.snapshot_id);
    out->set_already_committed(r.already_committed);
  }
  return absl::OkStatus();
}

absl::Status WriteService::Abort(const v1::AbortRequest& request, v1::AbortResponse*) const {
  return server_->Abort(request.table(), request.writer_id(), request.epoch(),
                        request.checkpoint_id());
}

}  // namespace deltasidecar::sidecar
