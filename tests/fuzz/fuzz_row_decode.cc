// Fuzz target for the binary row decoders (DecodeKey, ValueOp, DecodeValue,
// DecodeRow), which read keys and values back from data files. Input layout:
//   <n: 1 byte> <key: min(n, rest) bytes> <value: the remaining bytes>
// and the whole input is also tried as a key and as a value. Errors must be
// DATA_LOSS or INVALID_ARGUMENT; a key that decodes must re-encode to the
// same bytes (keys are hashed into buckets, so their encoding is canonical);
// a decoded row must print as JSON and CSV.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"
#include "tests/fuzz/fuzz_row_schema.h"

namespace {

namespace dt = deltasidecar::table;
using deltasidecar::fuzz::CheckDecodeStatus;

void CheckKey(const dt::TableSchema& schema, std::string_view key, dt::Row* row) {
  absl::Status s = dt::DecodeKey(schema, key, row);
  CheckDecodeStatus(s, "DecodeKey");
  if (s.ok() && dt::EncodeKey(schema, *row) != key) {
    std::fprintf(stderr, "DecodeKey accepted a key that re-encodes differently\n");
    std::abort();
  }
}

void CheckValue(const dt::TableSchema& schema, std::string_view value, dt::Row* row) {
  CheckDecodeStatus(dt::ValueOp(value).status(), "ValueOp");
  CheckDecodeStatus(dt::DecodeValue(schema, value, row), "DecodeValue");
}

// STRING values decoded from bytes need not be UTF-8, so dump replaces.
void Print(const dt::TableSchema& schema, const dt::Row& row) {
  (void)dt::RowToJson(schema, row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)dt::RowToCsv(schema, row);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const dt::TableSchema& schema = deltasidecar::fuzz::RowFuzzSchema();
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::string_view key, value;
  if (size > 0) {
    size_t key_size = std::min<size_t>(data[0], size - 1);
    key = all.substr(1, key_size);
    value = all.substr(1 + key_size);
  }

  // One row reused across calls, as a scan does: stale string slots and
  // other alternatives must be overwritten, not appended to.
  dt::Row row(schema.columns().size());
  CheckKey(schema, key, &row);
  CheckKey(schema, all, &row);
  CheckValue(schema, value, &row);
  CheckValue(schema, all, &row);
  Print(schema, row);

  dt::Row wrong_size(1);
  if (!absl::IsInvalidArgument(dt::DecodeKey(schema, key, &wrong_size)) ||
      !absl::IsInvalidArgument(dt::DecodeValue(schema, value, &wrong_size))) {
    std::fprintf(stderr, "a row of the wrong size was not INVALID_ARGUMENT\n");
    std::abort();
  }

  absl::StatusOr<dt::Row> decoded = dt::DecodeRow(schema, key, value);
  CheckDecodeStatus(decoded.status(), "DecodeRow");
  if (decoded.ok()) {
    if (dt::EncodeKey(schema, *decoded) != key) {
      std::fprintf(stderr, "DecodeRow: key re-encodes differently\n");
      std::abort();
    }
    Print(schema, *decoded);
  }
  return 0;
}
