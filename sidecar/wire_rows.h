// The packed row encoding of the gRPC API (RecordBatch.rows), specified in
// docs/protocol.md. Little-endian, no per-row framing beyond the op byte:
//
//   upsert row: 0x01, null bitmap over ALL columns (ceil(n/8) bytes, bit i
//               least-significant-first within byte i/8 set = column i NULL),
//               then every non-null column in schema order
//   delete row: 0x02, then the primary-key columns in key order (never NULL)
//
//   BOOLEAN 1 byte (0 or 1); TINYINT 1; SMALLINT 2; INT and DATE 4; BIGINT,
//   DATETIME, TIMESTAMP 8 (two's complement); FLOAT 4 and DOUBLE 8 (IEEE-754);
//   DECIMAL 16 (two's complement unscaled value, within the column's
//   precision); STRING and BINARY: unsigned LEB128 length, then the bytes
//   (STRING must be UTF-8); ARRAY, MAP, STRUCT: unsigned LEB128 length, then
//   the nested encoding of table/nested_value.h, whose leaves are checked as
//   the top-level columns are (UTF-8, DECIMAL and TIMESTAMP_LTZ precision,
//   DATE and DATETIME range); max_value_bytes bounds the whole nested value.
//
// Pure functions over caller-owned buffers; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::sidecar {

struct WireLimits {
  uint32_t max_rows = 1'000'000;          // rows in one RecordBatch
  uint64_t max_bytes = 64ull << 20;       // bytes of one RecordBatch
  uint32_t max_value_bytes = 16u << 20;   // one STRING/BINARY/nested value
};

// Decodes `row_count` packed rows, validates each against `schema`, and
// appends it to `out` in the table's key/value encoding (table/row.h).
// On error nothing is appended and the status is INVALID_ARGUMENT naming the
// row index, the column and the reason ("row 17: column 'price'
// (DECIMAL(10,2)): 123456789012 does not fit"), or for a batch over a limit,
// the limit. A row count that does not match the bytes is INVALID_ARGUMENT.
absl::Status DecodeWireRows(const table::TableSchema& schema, std::string_view rows,
                            uint32_t row_count, const WireLimits& limits,
                            table::MutationBatch* out);

// Appends one row in the packed encoding. `row` must be valid for `schema`
// (for a delete only its key columns are read).
void AppendWireRow(const table::TableSchema& schema, table::RowOp op, const table::Row& row,
                   std::string* out);

// Re-encodes a stored table entry (encoded key and value, table/row.h) as one
// packed row: an upsert with all columns, or a delete with its key columns.
// DATA_LOSS when the stored bytes do not decode.
absl::Status AppendWireRowFromEntry(const table::TableSchema& schema, std::string_view key,
                                    std::string_view value, std::string* out);

// Decodes packed rows back into Rows (used by clients and tests). Same errors
// as DecodeWireRows.
absl::Status ParseWireRows(const table::TableSchema& schema, std::string_view rows,
                           uint32_t row_count, const WireLimits& limits,
                           std::vector<std::pair<table::RowOp, table::Row>>* out);

}  // namespace deltasidecar::sidecar
