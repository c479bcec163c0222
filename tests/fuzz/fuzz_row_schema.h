// The schema shared by the row fuzz targets: every column type in the value,
// every type that may be a key column in a composite primary key, a NOT NULL
// value column and a column whose name starts with '_' (RowFromJson ignores
// other '_' members). The TIMESTAMP_LTZ columns and then the nested columns
// come last so that seeds written before them stay meaningful with their NULL
// bits added (TIMESTAMP_LTZ's key encoding is TIMESTAMP's; nested columns
// cannot be keys).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "table/schema.h"

namespace deltasidecar::fuzz {

inline const table::TableSchema& RowFuzzSchema() {
  static const table::TableSchema* schema = [] {
    auto s = table::TableSchema::Parse(
        "k_bool BOOLEAN, k_tiny TINYINT, k_small SMALLINT, k_int INT, k_big BIGINT, "
        "k_dec DECIMAL(38,10), k_str STRING, k_bin BINARY, k_date DATE, k_dt DATETIME, "
        "k_ts TIMESTAMP, "
        "v_bool BOOLEAN, v_tiny TINYINT, v_small SMALLINT, v_int INT, v_big BIGINT, "
        "v_float FLOAT, v_double DOUBLE, v_dec DECIMAL(5,5), v_dec_default DECIMAL, "
        "v_str STRING, v_bin BINARY, v_date DATE, v_dt DATETIME, v_ts TIMESTAMP, "
        "v_req INT NOT NULL, _v_under STRING, v_ltz TIMESTAMP_LTZ(3), v_ltz9 TIMESTAMP_LTZ(9), "
        "v_arr ARRAY<STRING>, v_map MAP<INT,ARRAY<DECIMAL(5,2)>>, "
        "v_struct STRUCT<a:BOOLEAN,b:MAP<STRING,TIMESTAMP_LTZ(3)>,c:ARRAY<STRUCT<d:DOUBLE>>>",
        "k_bool, k_tiny, k_small, k_int, k_big, k_dec, k_str, k_bin, k_date, k_dt, k_ts",
        /*buckets=*/7);
    if (!s.ok()) {
      std::fprintf(stderr, "fuzz schema: %s\n", std::string(s.status().message()).c_str());
      std::abort();
    }
    return new table::TableSchema(*std::move(s));
  }();
  return *schema;
}

// Aborts with `what` and the status unless `s` is OK or has one of the two
// codes a decoder of untrusted bytes may return.
inline void CheckDecodeStatus(const absl::Status& s, const char* what) {
  if (s.ok() || absl::IsDataLoss(s) || absl::IsInvalidArgument(s)) return;
  std::fprintf(stderr, "%s: unexpected status %s\n", what, s.ToString().c_str());
  std::abort();
}

}  // namespace deltasidecar::fuzz
