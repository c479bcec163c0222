// The two client-supplied inputs of an Arrow read: which columns, and which
// primary keys. Both arrive as JSON text from the C ABI in arrow_c_api.h (and
// so from Python); through gRPC (ScanRequest, ChangesRequest) the columns come
// as a list of names and the filter as the same JSON text. All are
// size-limited and fail with INVALID_ARGUMENT naming what is wrong;
// tests/fuzz/fuzz_arrow_scan_options.cc fuzzes the parsers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/schema.h"

namespace deltasidecar::table {

inline constexpr size_t kMaxScanOptionBytes = 64 << 10;

// A half-open range of encoded keys (row.h): lower <= key < upper. An empty
// lower bound and a missing upper bound are unbounded. `exact` is set when the
// filter names one whole primary key, which then lives in one bucket.
struct KeyRange {
  std::string lower;
  std::optional<std::string> upper;
  std::optional<std::string> exact;

  bool Contains(std::string_view key) const {
    return key >= std::string_view(lower) && (!upper || key < std::string_view(*upper));
  }
  // True when no key can match (lower >= upper).
  bool Empty() const { return upper && *upper <= lower; }
};

// `text` is a JSON array of column names (["id","price"]); empty text or
// "null" means every column. Returns the schema indexes in the order given.
// INVALID_ARGUMENT for malformed JSON, an unknown or repeated name, or text
// over kMaxScanOptionBytes.
absl::StatusOr<std::vector<int>> ParseColumnList(const TableSchema& schema, std::string_view text);

// The same from a list of names (the gRPC ScanRequest.columns); an empty list
// means every column. INVALID_ARGUMENT for an unknown or repeated name, or
// names of more than kMaxScanOptionBytes in all.
absl::StatusOr<std::vector<int>> ParseColumnNames(const TableSchema& schema,
                                                  const std::vector<std::string>& names);

// `text` is a JSON object whose members are bounds on the primary key:
//   {"eq": K}  {"ge": K} {"gt": K} {"le": K} {"lt": K}   (any combination)
// where each K is an object giving the first n >= 1 primary-key columns, in
// the JSON forms RowFromJson accepts ({"region":"eu","id":5} for a key
// (region, id); {"region":"eu"} alone is a prefix). Bounds combine with AND.
// Empty text or "null" means no filter. INVALID_ARGUMENT for malformed JSON,
// an unknown member, a K that is not a key prefix or has a bad value, or text
// over kMaxScanOptionBytes.
absl::StatusOr<KeyRange> ParseKeyFilter(const TableSchema& schema, std::string_view text);

}  // namespace deltasidecar::table
