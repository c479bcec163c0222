// Fuzz target for the two schema decoders: TableSchema::Parse (the column
// list, primary key and bucket count a client passes to create a table) and
// TableSchema::FromJson (table.json). The input is split into lines:
//   <columns>\n<primary key>\n<buckets>
// (missing parts are empty; a bucket line that is not an integer means the
// default) and the whole input is also parsed as JSON for FromJson.
// Errors must be INVALID_ARGUMENT; an accepted schema must come back the same
// through ColumnsString/Parse and through ToJson/FromJson.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "table/schema.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace dt = deltasidecar::table;
using deltasidecar::fuzz::CheckInvalidArgument;
using deltasidecar::fuzz::Fail;
using deltasidecar::fuzz::NextLine;

void CheckRoundTrips(const dt::TableSchema& schema) {
  const std::string json_text = schema.ToJson().dump();
  std::string key;
  for (int index : schema.key_columns()) {
    if (!key.empty()) key += ", ";
    key += schema.columns()[index].name;
  }
  absl::StatusOr<dt::TableSchema> parsed =
      dt::TableSchema::Parse(schema.ColumnsString(), key, schema.buckets());
  if (!parsed.ok()) Fail("Parse(ColumnsString())", json_text, parsed.status().ToString());
  if (parsed->ToJson().dump() != json_text) {
    Fail("Parse(ColumnsString()) differs", json_text, parsed->ToJson().dump());
  }
  absl::StatusOr<dt::TableSchema> from_json = dt::TableSchema::FromJson(schema.ToJson());
  if (!from_json.ok()) Fail("FromJson(ToJson())", json_text, from_json.status().ToString());
  if (from_json->ToJson().dump() != json_text) {
    Fail("FromJson(ToJson()) differs", json_text, from_json->ToJson().dump());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string_view rest = input;
  std::string_view columns = NextLine(&rest);
  std::string_view primary_key = NextLine(&rest);
  std::string_view bucket_text = NextLine(&rest);
  int buckets = dt::kDefaultBuckets;
  std::from_chars(bucket_text.data(), bucket_text.data() + bucket_text.size(), buckets);
  absl::StatusOr<dt::TableSchema> schema = dt::TableSchema::Parse(columns, primary_key, buckets);
  CheckInvalidArgument(schema.status(), "TableSchema::Parse error code");
  if (schema.ok()) CheckRoundTrips(*schema);

  nlohmann::json j = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    absl::StatusOr<dt::TableSchema> from_json = dt::TableSchema::FromJson(j);
    CheckInvalidArgument(from_json.status(), "TableSchema::FromJson error code");
    if (from_json.ok()) CheckRoundTrips(*from_json);
  }
  return 0;
}
