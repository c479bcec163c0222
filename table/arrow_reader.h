// Reads a table as Arrow data through the Arrow C stream interface
// (arrow_c_abi.h): the merged live rows of a snapshot, or the changes between
// two snapshots, as a stream of record batches that any Arrow implementation
// imports without copying. No Arrow library is involved.
//
// Types map as follows (docs/arrow.md):
//   BOOLEAN bool, TINYINT int8, SMALLINT int16, INT int32, BIGINT int64,
//   FLOAT float32, DOUBLE float64, DECIMAL(p,s) decimal128(p,s), STRING utf8,
//   BINARY binary, DATE date32, DATETIME timestamp[ms, UTC],
//   TIMESTAMP and TIMESTAMP_LTZ(p) timestamp[ns, UTC]; ARRAY<T> list of
//   "element", MAP<K,V> map (keys not sorted), STRUCT<a:T,...> struct of its
//   fields, recursively (arrow_nested_column.h).
// A changes stream has one more column, "_op" (utf8 "upsert" or "delete");
// a delete carries its key columns and NULL in every other column.
//
// Rows come bucket by bucket, ordered by primary key within a bucket: sort
// when key order matters. With more than one thread, buckets are read in
// parallel and the order of batches varies between runs.
//
// Errors: those of Table (NOT_FOUND for an expired snapshot, DATA_LOSS for a
// damaged file or stored value, a nested one named with the place inside it),
// reported by the stream's get_next with the message in
// get_last_error. The stream owns what it reads and may outlive everything
// passed to the functions below; each batch it hands out owns its memory and
// may outlive the stream.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "table/arrow_c_abi.h"
#include "table/arrow_scan_options.h"
#include "table/table.h"

namespace deltasidecar::table {

struct ArrowReadOptions {
  // Schema indexes of the columns to return, in output order; empty means
  // all. Indexes into the schema version read (Table::SchemaOf of the
  // snapshot scanned, or of the last snapshot of changes).
  std::vector<int> columns;
  // Only rows whose encoded key is in this range. A scan opens only the files
  // whose key range overlaps it, and only one bucket for an exact key.
  KeyRange range;
  // A scan reads only these buckets (ascending, each below the table's bucket
  // count); empty means all. Changes ignore it.
  std::vector<int> buckets;
  // Rows per record batch (a batch also ends after ~64 MiB of string data).
  int64_t batch_rows = 64 * 1024;
  // Threads that read buckets of a scan; 0 means one per core (at most 8),
  // 1 reads in the caller's thread in a repeatable order.
  int threads = 0;
  // When set, counts the data files the read opens and skips; it must
  // outlive the stream.
  ReadStats* stats = nullptr;
};

// The Arrow schema of the given columns (all when empty), plus "_op" when `with_op`.
absl::Status ExportArrowSchema(const TableSchema& schema, const std::vector<int>& columns,
                               bool with_op, ArrowSchema* out);

// Fills `out` with a stream of the live rows of `snapshot`, under its schema version.
absl::Status ScanToArrow(std::shared_ptr<Table> table, std::shared_ptr<const Snapshot> snapshot,
                         const ArrowReadOptions& options, ArrowArrayStream* out);

// Fills `out` with a stream of Table::NewChanges(from, to) with an "_op"
// column, under the schema version of snapshot `to`.
// The key range skips files as in a scan: of the files added in (from, to],
// only those of the exact key's bucket (when the range has one) whose key
// range overlaps it are opened; it then filters rows.
absl::Status ChangesToArrow(std::shared_ptr<Table> table, int64_t from, int64_t to,
                            const ArrowReadOptions& options, ArrowArrayStream* out);

}  // namespace deltasidecar::table
