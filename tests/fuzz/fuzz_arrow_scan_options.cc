// Fuzz target for the Arrow reader's client-supplied options
// (table/arrow_scan_options.h): the first byte picks the parser (even: column
// list, odd: key filter), the rest is its text; a column list is parsed both
// as JSON and, split at commas, as the name list of a gRPC ScanRequest.
// Beyond not crashing:
//   - any accepted column list names valid, distinct columns;
//   - any accepted filter is a consistent range: an exact key lies inside it
//     or the range is empty, and an exact key re-encodes from its own decode;
//   - text over the size limit is refused.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "table/arrow_scan_options.h"
#include "table/row.h"
#include "tests/fuzz/fuzz_row_schema.h"

namespace {

namespace dt = deltasidecar::table;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_arrow_scan_options: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const dt::TableSchema& schema = deltasidecar::fuzz::RowFuzzSchema();
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    std::vector<std::string> names;
    for (size_t start = 0;;) {
      size_t comma = text.find(',', start);
      names.emplace_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    auto from_names = dt::ParseColumnNames(schema, names);
    if (from_names.ok()) {
      if (text.size() > dt::kMaxScanOptionBytes) Fail("name list over the limit was accepted");
      std::set<int> seen;
      for (int c : *from_names) {
        if (c < 0 || static_cast<size_t>(c) >= schema.columns().size()) Fail("name list: index out of range");
        if (!seen.insert(c).second) Fail("name list: column named twice");
      }
    } else if (from_names.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("name list: not INVALID_ARGUMENT");
    }
    auto columns = dt::ParseColumnList(schema, text);
    if (!columns.ok()) {
      if (columns.status().code() != absl::StatusCode::kInvalidArgument) Fail("column list: not INVALID_ARGUMENT");
      return 0;
    }
    if (text.size() > dt::kMaxScanOptionBytes) Fail("column list over the limit was accepted");
    std::set<int> seen;
    for (int c : *columns) {
      if (c < 0 || static_cast<size_t>(c) >= schema.columns().size()) Fail("column index out of range");
      if (!seen.insert(c).second) Fail("column named twice");
    }
    return 0;
  }
  auto range = dt::ParseKeyFilter(schema, text);
  if (!range.ok()) {
    if (range.status().code() != absl::StatusCode::kInvalidArgument) Fail("filter: not INVALID_ARGUMENT");
    return 0;
  }
  if (text.size() > dt::kMaxScanOptionBytes) Fail("filter over the limit was accepted");
  if (range->exact) {
    if (!range->Empty() && !range->Contains(*range->exact)) Fail("exact key outside its range");
    dt::Row row(schema.columns().size());
    if (!dt::DecodeKey(schema, *range->exact, &row).ok()) Fail("exact key does not decode");
    if (dt::EncodeKey(schema, row) != *range->exact) Fail("exact key does not re-encode");
  }
  return 0;
}
