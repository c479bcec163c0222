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
// FollowChanges serves each new APPEND snapshot through Changes (one read
// of one snapshot range, from its parent to it), so it sends what Changes
// sends, in the same formats, one snapshot at a time: memory stays within
// one message whatever the backlog.
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
#include "absl/time/time.h"
#include "deltasidecar/v1/sidecar.pb.h"
#include "table/table.h"

namespace deltasidecar::sidecar {

// Adds `schema`'s columns (name, type, nullable) to a message that lists
// them (DescribeTableResponse, AlterTableResponse).
void AddColumns(const table::TableSchema& schema,
                google::protobuf::RepeatedPtrField<v1::Column>* out);

class ReadService {
 public:
  // Opens (or returns the cached) table by name; NOT_FOUND when it does not exist.
  using TableSource =
      std::function<absl::StatusOr<std::shared_ptr<table::Table>>(const std::string& name)>;
  // Takes one message of a streamed result. An error ends the stream and is
  // returned by the call (CANCELLED when the client went away, say).
  using ScanSink = std::function<absl::Status(const v1::ScanResponse& message)>;
  // Waits for up to the given time while a following read has nothing new.
  // OK to look again; an error (CANCELLED when the client went away,
  // UNAVAILABLE when the sidecar shuts down) ends the read with it.
  using FollowWait = std::function<absl::Status(absl::Duration)>;

  // Messages of a ROWS stream hold at most this many rows, and stop growing
  // once they hold this many bytes; ARROW_IPC chunks hold at most kBatchBytes.
  static constexpr uint32_t kBatchRows = 8192;
  static constexpr size_t kBatchBytes = 1 << 20;
  // FollowChanges looks for a new snapshot this often unless the request
  // says otherwise (poll_interval_ms, clamped to [kMinPoll, kMaxPoll]).
  static constexpr absl::Duration kDefaultPoll = absl::Milliseconds(200);
  static constexpr absl::Duration kMinPoll = absl::Milliseconds(10);
  static constexpr absl::Duration kMaxPoll = absl::Seconds(10);
  // A following consumer that has nothing new to read rewrites its position
  // this often, so that a reader still connected never becomes stale.
  static constexpr absl::Duration kConsumerRefresh = absl::Minutes(10);

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
  // Follows the table from the request's starting snapshot (see
  // FollowChangesRequest): for each snapshot after it, in id order, an
  // APPEND snapshot's changes as Changes from its parent to it would send
  // them, then one message with snapshot_end set; other snapshots send
  // nothing. When nothing is new it calls `wait` with the poll interval (and
  // between snapshots with zero), and returns what `wait` returns when that
  // is an error (the message then names the last snapshot sent whole). With a consumer, the position is
  // written at the start (before the starting snapshot is checked, so that
  // expiry holds it from then on) and after each snapshot sent whole.
  // Errors: those of Changes, INVALID_ARGUMENT for a negative starting
  // snapshot or a bad consumer name, the consumer file's.
  absl::Status FollowChanges(const v1::FollowChangesRequest& request, const ScanSink& sink,
                             const FollowWait& wait) const;
  // Every retained snapshot, oldest first, with the identities it committed.
  absl::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) const;

 private:
  const TableSource tables_;
};

}  // namespace deltasidecar::sidecar
