#include "sidecar/read_service.h"

#include <utility>
#include <vector>

#include "table/base/absl_compat.h"
#include "table/row.h"
#include "table/snapshot.h"
#include "table/base/status_macros.h"
#include "sidecar/wire_rows.h"

namespace deltasidecar::sidecar {

namespace {

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

// Streams an iterator's entries as packed rows, in messages of at most
// kBatchRows rows or about kBatchBytes bytes.
absl::Status StreamRows(const table::TableSchema& schema, table::TableIterator& it,
                        int64_t snapshot_id, const ReadService::ScanSink& sink) {
  v1::ScanResponse message;
  message.set_snapshot_id(snapshot_id);
  std::string* rows = message.mutable_batch()->mutable_rows();
  uint32_t count = 0;
  bool sent = false;
  auto flush = [&]() -> absl::Status {
    message.mutable_batch()->set_row_count(count);
    RETURN_IF_ERROR(sink(message));
    sent = true;
    rows->clear();
    count = 0;
    return absl::OkStatus();
  };
  for (; it.Valid(); it.Next()) {
    RETURN_IF_ERROR(AppendWireRowFromEntry(schema, it.key(), it.value(), rows));
    if (++count >= ReadService::kBatchRows || rows->size() >= ReadService::kBatchBytes) {
      RETURN_IF_ERROR(flush());
    }
  }
  RETURN_IF_ERROR(it.status());
  // The last message may hold no rows: a read of nothing still names the
  // snapshot it read.
  return count > 0 || !sent ? flush() : absl::OkStatus();
}

}  // namespace

absl::Status ReadService::DescribeTable(const v1::DescribeTableRequest& request,
                                        v1::DescribeTableResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  const table::TableSchema& schema = table->schema();
  response->set_table(request.table());
  for (const auto& c : schema.columns()) {
    auto* column = response->add_columns();
    column->set_name(c.name);
    column->set_type(c.TypeString());
    column->set_nullable(c.nullable);
  }
  for (int i : schema.key_columns()) response->add_primary_key(schema.columns()[i].name);
  response->set_buckets(schema.buckets());
  ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
  response->set_latest_snapshot_id(latest->id);
  return absl::OkStatus();
}

absl::Status ReadService::Scan(const v1::ScanRequest& request, const ScanSink& sink) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto snapshot, SelectSnapshot(*table, request.snapshot()));
  ASSIGN_OR_RETURN(auto it, table->NewScan(*snapshot));
  return StreamRows(table->schema(), *it, snapshot->id, sink);
}

absl::Status ReadService::Changes(const v1::ChangesRequest& request, const ScanSink& sink) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  int64_t to = request.has_to_snapshot_id() ? request.to_snapshot_id() : -1;
  if (to < 0) {
    ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
    to = latest->id;
  }
  ASSIGN_OR_RETURN(auto it, table->NewChanges(request.from_snapshot_id(), to));
  return StreamRows(table->schema(), *it, to, sink);
}

absl::Status ReadService::Get(const v1::GetRequest& request, v1::GetResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  const table::TableSchema& schema = table->schema();
  std::vector<std::pair<table::RowOp, table::Row>> rows;
  absl::Status s = ParseWireRows(schema, request.key().rows(), request.key().row_count(),
                                 WireLimits(), &rows);
  if (!s.ok()) return absl::InvalidArgumentError(Cat("key: ", s.message()));
  if (rows.size() != 1) return absl::InvalidArgumentError("key must hold exactly one row");
  ASSIGN_OR_RETURN(auto snapshot, SelectSnapshot(*table, request.snapshot()));
  const std::string key = table::EncodeKey(schema, rows[0].second);
  ASSIGN_OR_RETURN(std::optional<std::string> value, table->Get(*snapshot, key));
  response->set_snapshot_id(snapshot->id);
  response->set_found(value.has_value());
  if (value.has_value()) {
    RETURN_IF_ERROR(
        AppendWireRowFromEntry(schema, key, *value, response->mutable_row()->mutable_rows()));
    response->mutable_row()->set_row_count(1);
  }
  return absl::OkStatus();
}

absl::Status ReadService::History(const v1::HistoryRequest& request,
                                  v1::HistoryResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto history, table->History());
  for (const auto& s : history) {
    auto* info = response->add_snapshots();
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
  return absl::OkStatus();
}

}  // namespace deltasidecar::sidecar
