#include "table/arrow_scan_options.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {
namespace {

using nlohmann::json;

absl::StatusOr<json> ParseLimited(std::string_view what, std::string_view text) {
  if (text.size() > kMaxScanOptionBytes) {
    return absl::InvalidArgumentError(
        Cat(what, " is ", text.size(), " bytes; at most ", kMaxScanOptionBytes, " are allowed"));
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(Cat(what, ": malformed JSON"));
  return j;
}

// The smallest string greater than every string that starts with `prefix`;
// nullopt when there is none (the prefix is all 0xff bytes).
std::optional<std::string> PrefixSuccessor(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

// Encodes a filter operand: an object naming the first n key columns.
absl::StatusOr<std::string> EncodeKeyPrefix(const TableSchema& schema, const std::string& op,
                                            const json& operand, bool* whole_key) {
  const std::vector<int>& keys = schema.key_columns();
  if (!operand.is_object() || operand.empty() || operand.size() > keys.size()) {
    return absl::InvalidArgumentError(
        Cat("filter \"", op, "\": expected an object giving the first 1 to ", keys.size(),
            " primary-key columns"));
  }
  std::vector<Column> columns;
  std::vector<std::string> names;
  for (size_t i = 0; i < operand.size(); ++i) {
    columns.push_back(schema.columns()[keys[i]]);
    names.push_back(columns.back().name);
  }
  ASSIGN_OR_RETURN(TableSchema prefix, TableSchema::Make(columns, names, 1));
  auto row = RowFromJson(prefix, operand, /*key_only=*/true);
  if (!row.ok()) {
    return absl::InvalidArgumentError(
        Cat("filter \"", op, "\": ", row.status().message(),
            " (an operand names a prefix of the primary key (", absl::StrJoin(names, ", "), ")"));
  }
  *whole_key = operand.size() == keys.size();
  return EncodeKey(prefix, *row);
}

}  // namespace

absl::StatusOr<std::vector<int>> ParseColumnNames(const TableSchema& schema,
                                                  const std::vector<std::string>& names) {
  std::vector<int> out;
  if (names.empty()) {
    for (size_t i = 0; i < schema.columns().size(); ++i) out.push_back(static_cast<int>(i));
    return out;
  }
  size_t bytes = 0;
  for (const std::string& s : names) bytes += s.size() + 1;
  if (bytes > kMaxScanOptionBytes) {
    return absl::InvalidArgumentError(
        Cat("column list: ", bytes, " bytes, over the limit of ", kMaxScanOptionBytes));
  }
  absl::flat_hash_set<int> seen;
  for (const std::string& s : names) {
    std::optional<int> index = schema.ColumnIndex(s);
    if (!index) {
      return absl::InvalidArgumentError(Cat("column list: unknown column '", s.substr(0, 128), "'"));
    }
    if (!seen.insert(*index).second) {
      return absl::InvalidArgumentError(Cat("column list: column '", s.substr(0, 128), "' is named twice"));
    }
    out.push_back(*index);
  }
  return out;
}

absl::StatusOr<std::vector<int>> ParseColumnList(const TableSchema& schema, std::string_view text) {
  if (text.empty()) return ParseColumnNames(schema, {});
  ASSIGN_OR_RETURN(json j, ParseLimited("column list", text));
  if (j.is_null()) return ParseColumnNames(schema, {});
  if (!j.is_array()) {
    return absl::InvalidArgumentError("column list: expected a JSON array of column names");
  }
  std::vector<std::string> names;
  for (const json& name : j) {
    if (!name.is_string()) {
      return absl::InvalidArgumentError(
          Cat("column list: expected column names (strings), got ", name.type_name()));
    }
    names.push_back(name.get<std::string>());
  }
  if (names.empty()) return std::vector<int>{};
  return ParseColumnNames(schema, names);
}

absl::StatusOr<KeyRange> ParseKeyFilter(const TableSchema& schema, std::string_view text) {
  KeyRange range;
  if (text.empty()) return range;
  ASSIGN_OR_RETURN(json j, ParseLimited("filter", text));
  if (j.is_null()) return range;
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        "filter: expected an object such as {\"ge\": {\"id\": 1}, \"lt\": {\"id\": 9}}");
  }
  auto raise_lower = [&](std::string bound) {
    if (bound > range.lower) range.lower = std::move(bound);
  };
  auto lower_upper = [&](std::optional<std::string> bound) {
    if (bound && (!range.upper || *bound < *range.upper)) range.upper = std::move(bound);
  };
  for (const auto& [op, operand] : j.items()) {
    bool whole = false;
    if (op != "eq" && op != "ge" && op != "gt" && op != "le" && op != "lt") {
      return absl::InvalidArgumentError(Cat("filter: unknown member \"", op.substr(0, 32),
                                            "\" (use eq, ge, gt, le, lt)"));
    }
    ASSIGN_OR_RETURN(std::string key, EncodeKeyPrefix(schema, op, operand, &whole));
    if (op == "eq") {
      if (whole) {
        if (range.exact && *range.exact != key) {
          lower_upper(std::string());  // two different exact keys: nothing matches
        }
        range.exact = key;
      }
      raise_lower(key);
      lower_upper(PrefixSuccessor(key));
    } else if (op == "ge") {
      raise_lower(key);
    } else if (op == "gt") {
      std::optional<std::string> next = PrefixSuccessor(key);
      if (!next) {
        lower_upper(std::string());  // nothing sorts after every key with this prefix
      } else {
        raise_lower(*next);
      }
    } else if (op == "le") {
      lower_upper(PrefixSuccessor(key));
    } else {
      lower_upper(key);
    }
  }
  if (range.exact && !range.Contains(*range.exact)) range.upper = range.lower;
  return range;
}

}  // namespace deltasidecar::table
