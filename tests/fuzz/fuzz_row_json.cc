// Fuzz target for RowFromJson (client-supplied import lines and lookup keys).
// The input is parsed as JSON; every row RowFromJson accepts must survive
//   - RowToJson and dump,
//   - the text round trip: RowFromJson(RowToJson(row)) prints the same,
//   - the binary round trip: DecodeRow(EncodeKey, AppendUpsertValue) prints
//     the same, and a delete decodes to the key columns alone.
// Any other outcome aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"
#include "tests/fuzz/fuzz_row_schema.h"

namespace {

namespace dt = deltasidecar::table;
using nlohmann::json;

[[noreturn]] void Fail(const char* what, const std::string& expected, const std::string& got) {
  std::fprintf(stderr, "%s\n  expected: %s\n  got:      %s\n", what, expected.c_str(), got.c_str());
  std::abort();
}

// RowToJson's output, dumped. RowToJson must not fail on a row RowFromJson made.
std::string Dump(const dt::TableSchema& schema, const dt::Row& row) {
  try {
    return dt::RowToJson(schema, row).dump();
  } catch (const std::exception& e) {
    Fail("RowToJson(...).dump() threw", "a JSON text", e.what());
  }
}

void CheckRow(const dt::TableSchema& schema, const dt::Row& row, bool key_only) {
  const std::string text = Dump(schema, row);

  if (key_only) {
    for (int index : schema.value_columns()) {
      if (!dt::IsNull(row[index])) Fail("key_only row has a non-key value", "null", text);
    }
  }

  json reparsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (reparsed.is_discarded()) Fail("RowToJson output does not parse", "JSON", text);
  absl::StatusOr<dt::Row> again = dt::RowFromJson(schema, reparsed, key_only);
  if (!again.ok()) Fail("RowFromJson rejects RowToJson output", text, again.status().ToString());
  if (std::string t = Dump(schema, *again); t != text) Fail("text round trip", text, t);

  const std::string key = dt::EncodeKey(schema, row);
  std::string value;
  dt::AppendUpsertValue(schema, row, &value);
  absl::StatusOr<dt::Row> decoded = dt::DecodeRow(schema, key, value);
  if (!decoded.ok()) Fail("DecodeRow of an encoded row", text, decoded.status().ToString());
  if (std::string t = Dump(schema, *decoded); t != text) Fail("binary round trip", text, t);

  absl::StatusOr<dt::Row> deleted = dt::DecodeRow(schema, key, dt::DeleteValue());
  if (!deleted.ok()) Fail("DecodeRow of a delete", text, deleted.status().ToString());
  dt::Row key_row(schema.columns().size());
  for (int index : schema.key_columns()) key_row[index] = row[index];
  if (Dump(schema, *deleted) != Dump(schema, key_row)) {
    Fail("delete round trip", Dump(schema, key_row), Dump(schema, *deleted));
  }

  int bucket = dt::BucketOf(key, schema.buckets());
  if (bucket < 0 || bucket >= schema.buckets()) Fail("BucketOf out of range", "", key);
  (void)dt::RowToCsv(schema, row);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const dt::TableSchema& schema = deltasidecar::fuzz::RowFuzzSchema();
  json obj = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return 0;
  for (bool key_only : {false, true}) {
    absl::StatusOr<dt::Row> row = dt::RowFromJson(schema, obj, key_only);
    if (!row.ok()) {
      if (!absl::IsInvalidArgument(row.status())) {
        Fail("RowFromJson error code", "INVALID_ARGUMENT", row.status().ToString());
      }
      continue;
    }
    CheckRow(schema, *row, key_only);
  }
  return 0;
}
