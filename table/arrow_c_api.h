/* libdeltatable_arrow: a C ABI for reading delta tables as Arrow streams,
 * for callers without C++ (Python through ctypes, then pyarrow's
 * RecordBatchReader._import_from_c). See docs/arrow.md.
 *
 * Every function returns 0 on success. On failure it returns a nonzero
 * absl::StatusCode (3 INVALID_ARGUMENT, 5 NOT_FOUND, 15 DATA_LOSS, ...), leaves
 * *out untouched, and deltatable_arrow_last_error() returns the message (per
 * thread, valid until the next call on that thread).
 *
 * `columns` is NULL or a JSON array of column names; `filter` is NULL or a JSON
 * object of primary-key bounds (table/arrow_scan_options.h). Each is at most
 * 64 KiB. `threads` 0 means one per core; 1 gives a repeatable order.
 * The filled stream must be released by the caller (stream->release). */
#ifndef DELTATABLE_ARROW_C_API_H_
#define DELTATABLE_ARROW_C_API_H_

#include <stdint.h>

#include "table/arrow_c_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Live rows of snapshot `snapshot` (>= 0), or of the newest snapshot committed
 * at or before `as_of_ms` (ms since the epoch) when snapshot < 0 and
 * as_of_ms >= 0, or of the latest snapshot when both are negative. */
int deltatable_arrow_scan(const char* root, const char* table, int64_t snapshot, int64_t as_of_ms,
                          const char* columns, const char* filter, int64_t batch_rows,
                          int threads, struct ArrowArrayStream* out);

/* What changed after snapshot `from` up to `to` (latest when negative), with
 * an "_op" column ("upsert" or "delete"). */
int deltatable_arrow_changes(const char* root, const char* table, int64_t from, int64_t to,
                             const char* columns, const char* filter, int64_t batch_rows,
                             struct ArrowArrayStream* out);

/* The id of the snapshot a scan with these arguments reads. */
int deltatable_arrow_resolve_snapshot(const char* root, const char* table, int64_t snapshot,
                                      int64_t as_of_ms, int64_t* out);

const char* deltatable_arrow_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* DELTATABLE_ARROW_C_API_H_ */
