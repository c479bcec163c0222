// ReadService: the read half of the deltasidecar.v1 API (DescribeTable, Scan,
// Get, Changes, History) over delta tables, without gRPC. Requests and
// responses are the API's protobuf messages, used as plain data; streamed
// results go to a sink one message at a time.
//
// It selects the snapshot a request names (an id, a time, or the latest),
// encodes keys, and packs rows in the wire encoding (sidecar/wire_rows.h);
// Scan and Changes with format ARROW_IPC instead send an Arrow IPC stream
// (table/arrow_reader.h, table/arrow_ipc_writer.h) in chunks of kBatchBytes.
//
// Thread-safety: every method may be called concurrently (tables are).
// Errors: the table's (NOT_FOUND for an unknown table or an expired or
// unknown snapshot, DATA_LOSS for stored bytes that do not decode);
// INVALID_ARGUMENT for a malformed Get key, an unknown read format, or
// columns or a key filter that are wrong (or given with format ROWS); whatever the sink returns, which
// ends the stream.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "deltasidecar/v1/sidecar.pb.h"
#include "table/table.h"

namespace deltasidecar::sidecar {

class ReadService {
 public:
  // Opens (or returns the cached) table by name; NOT_FOUND when it does not exist.
  using TableSource =
      std::function<absl::StatusOr<std::shared_ptr<table::Table>>(const std::string& name)>;
  // Takes one message of a streamed result. An error ends the stream and is
  // returned by the call (CANCELLED when the client went away, say).
  using ScanSink = std::function<absl::Status(const v1::ScanResponse& message)>;

  // Messages of a ROWS stream hold at most this many rows, and stop growing
  // once they hold this many bytes; ARROW_IPC chunks hold at most kBatchBytes.
  static constexpr uint32_t kBatchRows = 8192;
  static constexpr size_t kBatchBytes = 1 << 20;

  explicit ReadService(TableSource tables) : tables_(std::move(tables)) {}

  // The table's columns, primary key, buckets and latest snapshot id.
  absl::Status DescribeTable(const v1::DescribeTableRequest& request,
                             v1::DescribeTableResponse* response) const;
  // The live rows of the selected snapshot, ordered by primary key (ROWS) or
  // bucket by bucket and by key within a bucket (ARROW_IPC, whose columns and
  // key filter apply). Every message names the snapshot read; a read of
  // nothing still sends one message (an empty batch, or a whole IPC stream of
  // no batches).
  absl::Status Scan(const v1::ScanRequest& request, const ScanSink& sink) const;
  // The row of one primary key (found = false when there is none).
  absl::Status Get(const v1::GetRequest& request, v1::GetResponse* response) const;
  // The latest entry per key committed after from_snapshot_id up to
  // to_snapshot_id (the latest snapshot when absent or negative), deletes
  // included; messages name to_snapshot_id. INVALID_ARGUMENT when from > to.
  absl::Status Changes(const v1::ChangesRequest& request, const ScanSink& sink) const;
  // Every retained snapshot, oldest first, with the identities it committed.
  absl::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) const;

 private:
  const TableSource tables_;
};

}  // namespace deltasidecar::sidecar
