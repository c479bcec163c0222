// The JSON form of a row (row_json.h): RowFromJson validates and converts
// every column, nested values included; RowToJson writes the text forms of
// value_text.h.
#include "table/row_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/base/status_macros.h"
#include "table/nested_value.h"
#include "table/value_text.h"

namespace deltasidecar::table {
namespace {

using json = nlohmann::json;

absl::Status ColumnError(const Column& column, std::string_view reason) {
  return absl::InvalidArgumentError(
      Cat("column '", column.name, "' (", column.TypeString(), "): ", reason));
}

std::string Describe(const json& j) {
  if (j.is_number_float()) return Cat("non-integer number ", j.dump());
  return j.type_name();
}

// A JSON integer as int64, or an error naming the column.
absl::Status JsonInt64(const Column& column, const json& j, int64_t* out) {
  if (!j.is_number_integer()) {
    return ColumnError(column, Cat("expected an integer, got ", Describe(j)));
  }
  if (j.is_number_unsigned() &&
      j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return ColumnError(column, Cat(j.get<uint64_t>(), " is out of range"));
  }
  *out = j.get<int64_t>();
  return absl::OkStatus();
}

absl::Status IntegerFromJson(const Column& column, const json& j, Value* out) {
  int64_t v = 0;
  RETURN_IF_ERROR(JsonInt64(column, j, &v));
  int bits = column.type == ColumnType::kTinyint    ? 8
             : column.type == ColumnType::kSmallint ? 16
             : column.type == ColumnType::kInt      ? 32
                                                    : 64;
  if (bits < 64 && (v < -(int64_t{1} << (bits - 1)) || v >= (int64_t{1} << (bits - 1)))) {
    return ColumnError(column, Cat(v, " is out of range"));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status FloatingFromJson(const Column& column, const json& j, Value* out) {
  double d;
  if (j.is_number()) {
    d = j.get<double>();
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") {
      d = std::numeric_limits<double>::quiet_NaN();
    } else if (s == "Infinity") {
      d = std::numeric_limits<double>::infinity();
    } else if (s == "-Infinity") {
      d = -std::numeric_limits<double>::infinity();
    } else {
      return ColumnError(column, Cat("expected a number, \"NaN\", \"Infinity\" or "
                                     "\"-Infinity\", got string '",
                                     s.substr(0, 64), "'"));
    }
  } else {
    return ColumnError(column, Cat("expected a number, got ", Describe(j)));
  }
  if (column.type == ColumnType::kFloat) {
    // Rejects exactly the finite values that round to infinity as a float:
    // those at or past the midpoint between FLT_MAX and 2^128. Comparing with
    // FLT_MAX itself would reject 3.4028235e+38, the text RowToJson writes
    // for FLT_MAX, so a scan's output could not be imported again.
    constexpr double kFloatOverflow = 0x1.ffffffp127;  // 2^128 - 2^103
    if (std::isfinite(d) && std::fabs(d) >= kFloatOverflow) {
      return ColumnError(column, Cat(j.dump(), " is out of range"));
    }
    // Round now so the in-memory row equals what the value encoding keeps.
    d = static_cast<float>(d);
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status DecimalFromJson(const Column& column, const json& j, Value* out) {
  std::string text;
  if (j.is_string()) {
    text = j.get<std::string>();
  } else if (j.is_number_unsigned()) {
    text = std::to_string(j.get<uint64_t>());
  } else if (j.is_number_integer()) {
    text = std::to_string(j.get<int64_t>());
  } else if (j.is_number_float()) {
    double d = j.get<double>();
    if (!std::isfinite(d)) return ColumnError(column, "expected a finite number");
    // Shortest round-trip digits, in fixed notation so no exponent appears.
    char buf[400];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::fixed);
    if (ec != std::errc()) return ColumnError(column, Cat(j.dump(), " is out of range"));
    text.assign(buf, end);
  } else {
    return ColumnError(column, Cat("expected a decimal string or number, got ", Describe(j)));
  }
  __int128 v = 0;
  absl::Status s = ParseDecimal(text, column.precision, column.scale, &v);
  if (!s.ok()) return ColumnError(column, std::string(s.message()));
  *out = v;
  return absl::OkStatus();
}

// Nanoseconds must be a multiple of 10^(9 - precision) and fit in int64.
absl::Status InstantFromJson(const Column& column, const json& j, Value* out) {
  int64_t unit = 1;
  for (int d = column.precision; d < 9; ++d) unit *= 10;
  auto check_precision = [&](int64_t ns, std::string_view shown) {
    if (ns % unit != 0) {
      return ColumnError(column, Cat(shown, " has digits finer than the precision"));
    }
    *out = ns;
    return absl::OkStatus();
  };
  if (j.is_number_integer()) {
    int64_t v = 0;
    RETURN_IF_ERROR(JsonInt64(column, j, &v));
    return check_precision(v, j.dump());
  }
  if (!j.is_string()) {
    return ColumnError(column, Cat("expected 'YYYY-MM-DDTHH:MM:SS[.fffffffff]Z' (or an offset "
                                   "such as +08:00 for Z) or integer nanoseconds, got ",
                                   Describe(j)));
  }
  const std::string& text = j.get_ref<const std::string&>();
  std::string shown = Cat("'", text.substr(0, 64), "'");
  std::string_view s = text;
  int64_t offset = 0, days = 0, second_of_day = 0, nanos = 0;
  if (!SplitZone(&s, &offset) || (!s.empty() && s.back() == 'Z') ||
      !ParseDateTime(s, 9, &days, &second_of_day, &nanos)) {
    return ColumnError(column, Cat(shown, " is not a valid TIMESTAMP_LTZ (expected "
                                          "'YYYY-MM-DDTHH:MM:SS[.fffffffff]Z' or an offset "
                                          "such as +08:00 for Z)"));
  }
  // Nanoseconds since 1970 only reach the years 1677..2262.
  __int128 ns =
      (static_cast<__int128>(days) * 86400 + second_of_day - offset) * kNanosPerSecond + nanos;
  if (ns < std::numeric_limits<int64_t>::min() || ns > std::numeric_limits<int64_t>::max()) {
    return ColumnError(column, Cat(shown, " is out of range"));
  }
  return check_precision(static_cast<int64_t>(ns), shown);
}

absl::Status TimeFromJson(const Column& column, const json& j, Value* out) {
  std::string_view expected = column.type == ColumnType::kDate ? "'YYYY-MM-DD'"
                              : column.type == ColumnType::kDatetime
                                  ? "'YYYY-MM-DD HH:MM:SS[.fff]'"
                                  : "'YYYY-MM-DD HH:MM:SS[.fffffffff]'";
  if (column.type != ColumnType::kDate && j.is_number_integer()) {
    int64_t v = 0;
    RETURN_IF_ERROR(JsonInt64(column, j, &v));
    // Epoch milliseconds must stay within the years the text form can spell.
    if (column.type == ColumnType::kDatetime &&
        (v < kMinDay * kMillisPerDay || v >= (kMaxDay + 1) * kMillisPerDay)) {
      return ColumnError(column, Cat(v, " is out of range"));
    }
    *out = v;
    return absl::OkStatus();
  }
  if (!j.is_string()) {
    return ColumnError(
        column, Cat("expected ", expected, column.type == ColumnType::kDate ? "" : " or an integer",
                    ", got ", Describe(j)));
  }
  const std::string& s = j.get_ref<const std::string&>();
  auto bad = [&] {
    return ColumnError(column, Cat("'", s.substr(0, 64), "' is not a valid ",
                                   ColumnTypeName(column.type), " (expected ", expected, ")"));
  };
  int64_t days;
  if (column.type == ColumnType::kDate) {
    if (s.size() != 10 || !ParseDatePart(s, &days)) return bad();
    *out = days;
    return absl::OkStatus();
  }
  int64_t second_of_day, nanos;
  int max_frac = column.type == ColumnType::kDatetime ? 3 : 9;
  if (!ParseDateTime(s, max_frac, &days, &second_of_day, &nanos)) return bad();
  if (column.type == ColumnType::kDatetime) {
    *out = days * kMillisPerDay + second_of_day * 1000 + nanos / 1'000'000;
    return absl::OkStatus();
  }
  // Nanoseconds since 1970 only reach the years 1677..2262.
  __int128 ns = (static_cast<__int128>(days) * 86400 + second_of_day) * kNanosPerSecond + nanos;
  if (ns < std::numeric_limits<int64_t>::min() || ns > std::numeric_limits<int64_t>::max()) {
    return ColumnError(column, Cat("'", s, "' is out of range"));
  }
  *out = static_cast<int64_t>(ns);
  return absl::OkStatus();
}

absl::Status ValueFromJson(const Column& column, const json& j, Value* out);

// The reason of a ColumnError, without its "column 'x' (T): " prefix.
std::string ReasonOf(const absl::Status& s) {
  std::string m(s.message());
  if (size_t at = m.find("): "); m.rfind("column '", 0) == 0 && at != std::string::npos) {
    return m.substr(at + 3);
  }
  return m;
}

absl::Status NestedFromJson(const Column& top, const Column& type, const json& j,
                            const std::string& path, std::string* out);

// One non-null child of a nested value at `path`, encoded as a value column.
absl::Status ChildFromJson(const Column& top, const Column& child, const json& j,
                           const std::string& path, std::string* out) {
  Value v;
  if (IsNested(child.type)) {
    std::string bytes;
    RETURN_IF_ERROR(NestedFromJson(top, child, j, path, &bytes));
    v = std::move(bytes);
  } else if (absl::Status s = ValueFromJson(child, j, &v); !s.ok()) {
    return ColumnError(top, Cat(path, " (", child.TypeString(), "): ", ReasonOf(s)));
  }
  AppendColumnValue(child, v, out);
  return absl::OkStatus();
}

// A MAP key from an object member name: the name itself for the string-valued
// key types, the name read as JSON (a number or true/false) for the others.
json MapKeyFromName(const Column& key, const std::string& name) {
  switch (key.type) {
    case ColumnType::kBoolean:
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
    case ColumnType::kFloat:
    case ColumnType::kDouble: {
      // "-0" reads as the integer 0; the key was the float -0.0.
      if (name == "-0" && (key.type == ColumnType::kFloat || key.type == ColumnType::kDouble)) {
        return -0.0;
      }
      json parsed = json::parse(name, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded() && (parsed.is_number() || parsed.is_boolean())) return parsed;
      return name;
    }
    default:
      return name;
  }
}

// Encodes JSON `j` as a non-null value of nested `type` (nested_value.h).
// Errors name the top-level column and the path inside it.
absl::Status NestedFromJson(const Column& top, const Column& type, const json& j,
                            const std::string& path, std::string* out) {
  auto here = [&](std::string_view step) { return path.empty() ? std::string(step) : Cat(path, step); };
  auto bad = [&](std::string_view reason) {
    return ColumnError(top, path.empty() ? std::string(reason) : Cat(path, ": ", reason));
  };
  if (type.type == ColumnType::kArray) {
    if (!j.is_array()) return bad(Cat("expected an array, got ", Describe(j)));
    PutVarint(j.size(), out);
    size_t bitmap = out->size();
    out->append((j.size() + 7) / 8, '\0');
    for (size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_null()) {
        (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
        continue;
      }
      RETURN_IF_ERROR(ChildFromJson(top, type.children[0], j[i], here(Cat("[", i, "]")), out));
    }
    return absl::OkStatus();
  }
  if (type.type == ColumnType::kStruct) {
    if (!j.is_object()) return bad(Cat("expected an object, got ", Describe(j)));
    size_t found = 0;
    size_t bitmap = out->size();
    out->append((type.children.size() + 7) / 8, '\0');
    for (size_t i = 0; i < type.children.size(); ++i) {
      const Column& field = type.children[i];
      auto it = j.find(field.name);
      if (it != j.end()) ++found;
      if (it == j.end() || it->is_null()) {
        (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
        continue;
      }
      RETURN_IF_ERROR(ChildFromJson(top, field, *it, here(Cat(".", field.name)), out));
    }
    if (found != j.size()) {
      for (const auto& [name, unused] : j.items()) {
        bool known = false;
        for (const Column& field : type.children) known = known || field.name == name;
        if (!known) return bad(Cat("unknown STRUCT field '", name, "'"));
      }
    }
    return absl::OkStatus();
  }
  // MAP: an object keyed by the key's text, or an array of [key, value] pairs.
  const Column& key = type.children[0];
  const Column& value = type.children[1];
  std::vector<std::pair<json, const json*>> entries;
  if (j.is_object()) {
    for (const auto& [name, v] : j.items()) entries.emplace_back(MapKeyFromName(key, name), &v);
  } else if (j.is_array()) {
    for (const json& pair : j) {
      if (!pair.is_array() || pair.size() != 2) {
        return bad(Cat("expected an object or an array of [key, value] pairs, got an array holding ",
                       pair.is_array() ? Cat("an array of ", pair.size()) : pair.type_name()));
      }
      entries.emplace_back(pair[0], &pair[1]);
    }
  } else {
    return bad(Cat("expected an object or an array of [key, value] pairs, got ", Describe(j)));
  }
  // Entries are stored in the order of their keys' text, the order in which a
  // JSON object's members are read, so that a MAP reads back from the object
  // RowToJson writes exactly as it was.
  struct Entry {
    std::string name;       // the key's text form
    std::string key_bytes;  // the key encoded as a value column
    const json* value;
  };
  std::vector<Entry> sorted;
  sorted.reserve(entries.size());
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    if (k.is_null()) return bad(Cat("key of entry ", i, " is null; MAP keys are never NULL"));
    std::string at = here(Cat("{", k.is_string() ? k.get<std::string>() : k.dump(), "}"));
    Value key_value;
    if (absl::Status s = ValueFromJson(key, k, &key_value); !s.ok()) {
      return ColumnError(top, Cat(at, " (", key.TypeString(), "): ", ReasonOf(s)));
    }
    Entry e{"", "", v};
    AppendValueText(key, key_value, &e.name);
    AppendColumnValue(key, key_value, &e.key_bytes);
    if (!seen.insert(e.key_bytes).second) return bad(Cat("duplicate MAP key ", k.dump()));
    sorted.push_back(std::move(e));
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Entry& a, const Entry& b) { return a.name < b.name; });
  PutVarint(sorted.size(), out);
  size_t bitmap = out->size();
  out->append((sorted.size() + 7) / 8, '\0');
  for (size_t i = 0; i < sorted.size(); ++i) {
    out->append(sorted[i].key_bytes);
    if (sorted[i].value->is_null()) {
      (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
      continue;
    }
    RETURN_IF_ERROR(ChildFromJson(top, value, *sorted[i].value, here(Cat("{", sorted[i].name, "}")), out));
  }
  return absl::OkStatus();
}

// Converts one non-null JSON member into the column's Value.
absl::Status ValueFromJson(const Column& column, const json& j, Value* out) {
  switch (column.type) {
    case ColumnType::kBoolean:
      if (!j.is_boolean()) {
        return ColumnError(column, Cat("expected true or false, got ", Describe(j)));
      }
      *out = j.get<bool>();
      return absl::OkStatus();
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
      return IntegerFromJson(column, j, out);
    case ColumnType::kFloat:
    case ColumnType::kDouble:
      return FloatingFromJson(column, j, out);
    case ColumnType::kDecimal:
      return DecimalFromJson(column, j, out);
    case ColumnType::kString:
      if (!j.is_string()) {
        return ColumnError(column, Cat("expected a string, got ", Describe(j)));
      }
      *out = j.get<std::string>();
      return absl::OkStatus();
    case ColumnType::kBinary: {
      if (!j.is_string()) {
        return ColumnError(column, Cat("expected a base64 string, got ", Describe(j)));
      }
      const std::string& text = j.get_ref<const std::string&>();
      std::string bytes;
      // absl is lenient (missing padding, whitespace); re-encoding pins the
      // one canonical padded spelling.
      if (!absl::Base64Unescape(text, &bytes) || absl::Base64Escape(bytes) != text) {
        return ColumnError(column, "expected standard base64 with padding");
      }
      *out = std::move(bytes);
      return absl::OkStatus();
    }
    case ColumnType::kDate:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
      return TimeFromJson(column, j, out);
    case ColumnType::kTimestampLtz:
      return InstantFromJson(column, j, out);
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct: {
      std::string bytes;
      RETURN_IF_ERROR(NestedFromJson(column, column, j, "", &bytes));
      *out = std::move(bytes);
      return absl::OkStatus();
    }
  }
  return ColumnError(column, "unsupported type");
}

absl::StatusOr<Row> RowFromJsonImpl(const TableSchema& schema, const json& obj, bool key_only) {
  if (!obj.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  const std::vector<Column>& columns = schema.columns();
  Row row(columns.size());
  // A member naming a column is that column even when the name starts with
  // '_' (column names may); only the other '_' members are ignored.
  size_t matched_plain = 0;  // members found that do not start with '_'
  auto read = [&](int index) -> absl::Status {
    const Column& column = columns[index];
    auto it = obj.find(column.name);
    if (it != obj.end() && column.name[0] != '_') ++matched_plain;
    if (it == obj.end() || it->is_null()) {
      if (schema.IsKeyColumn(index)) {
        return absl::InvalidArgumentError(Cat("missing primary-key column '", column.name, "'"));
      }
      if (!column.nullable) {
        return absl::InvalidArgumentError(Cat("column '", column.name, "' is NOT NULL"));
      }
      return absl::OkStatus();
    }
    return ValueFromJson(column, *it, &row[index]);
  };
  if (key_only) {
    for (int index : schema.key_columns()) RETURN_IF_ERROR(read(index));
    return row;
  }
  for (int i = 0; i < static_cast<int>(columns.size()); ++i) RETURN_IF_ERROR(read(i));
  size_t plain = 0;
  for (const auto& [name, unused] : obj.items()) plain += name.empty() || name[0] != '_';
  if (plain != matched_plain) {
    for (const auto& [name, unused] : obj.items()) {
      if ((name.empty() || name[0] != '_') && !schema.ColumnIndex(name)) {
        return absl::InvalidArgumentError(Cat("unknown column '", name, "'"));
      }
    }
  }
  return row;
}

}  // namespace

absl::StatusOr<Row> RowFromJson(const TableSchema& schema, const nlohmann::json& obj,
                                bool key_only) {
  // Every access is type-checked first; the catch only keeps a missed case
  // from escaping as an exception.
  try {
    return RowFromJsonImpl(schema, obj, key_only);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(Cat("malformed row JSON: ", e.what()));
  }
}

// STRING values are copied as they are; dump() throws on invalid UTF-8 unless
// the caller passes an error handler.
nlohmann::ordered_json RowToJson(const TableSchema& schema, const Row& row) {
  using ojson = nlohmann::ordered_json;
  const std::vector<Column>& columns = schema.columns();
  ojson result = ojson::object();
  // Appending to the underlying vector skips ordered_map's linear duplicate
  // check, which would make wide rows quadratic; names are unique already.
  auto& members = result.get_ref<ojson::object_t&>();
  members.reserve(columns.size());
  std::string text;
  for (size_t i = 0; i < columns.size(); ++i) {
    const Column& column = columns[i];
    const Value& v = row[i];
    ojson j;  // null
    if (!IsNull(v)) j = ValueToJson(column, v, &text);
    members.emplace_back(column.name, std::move(j));
  }
  return result;
}

}  // namespace deltasidecar::table
