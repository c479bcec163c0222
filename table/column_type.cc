// Column types in text: parsing "NAME TYPE [NOT NULL]" definitions and type
// names (nested ones included), checking them, and printing them back.
#include "table/column_type.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {
namespace {

constexpr int kMaxColumnNameLength = 128;
constexpr int kMaxDecimalPrecision = 38;
// Plain "DECIMAL" means what MaxCompute 1.0 meant by it.
constexpr int kDefaultDecimalPrecision = 38;
constexpr int kDefaultDecimalScale = 18;
constexpr int kMaxTimestampLtzPrecision = 9;
// Plain "TIMESTAMP_LTZ" means what it means in Flink SQL.
constexpr int kDefaultTimestampLtzPrecision = 6;

struct TypeEntry {
  std::string_view name;
  ColumnType type;
};

constexpr TypeEntry kTypes[] = {
    {"BOOLEAN", ColumnType::kBoolean},     {"TINYINT", ColumnType::kTinyint},
    {"SMALLINT", ColumnType::kSmallint},   {"INT", ColumnType::kInt},
    {"BIGINT", ColumnType::kBigint},       {"FLOAT", ColumnType::kFloat},
    {"DOUBLE", ColumnType::kDouble},       {"DECIMAL", ColumnType::kDecimal},
    {"STRING", ColumnType::kString},       {"BINARY", ColumnType::kBinary},
    {"DATE", ColumnType::kDate},           {"DATETIME", ColumnType::kDatetime},
    {"TIMESTAMP", ColumnType::kTimestamp}, {"TIMESTAMP_LTZ", ColumnType::kTimestampLtz},
    {"ARRAY", ColumnType::kArray},         {"MAP", ColumnType::kMap},
    {"STRUCT", ColumnType::kStruct},
};

bool IsKnownType(ColumnType type) {
  for (const TypeEntry& e : kTypes) {
    if (e.type == type) return true;
  }
  return false;
}

bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

// Local std::string_view helpers: Debian's Abseil has its own absl::string_view,
// which std::string_view does not convert to.
std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return out;
    s.remove_prefix(pos + 1);
  }
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    s = Trim(s);
    if (s.empty()) return out;
    size_t end = 0;
    while (end < s.size() && !IsSpace(s[end])) ++end;
    out.push_back(s.substr(0, end));
    s.remove_prefix(end);
  }
}

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Parses "p,s" (whitespace tolerant) into precision and scale. Range checks
// are left to ValidateColumn so that Make and Parse report them alike.
absl::Status ParseDecimalParams(std::string_view params, std::string_view column, Column* out) {
  std::vector<std::string_view> parts = Split(params, ',');
  auto bad = [&] {
    return Invalid(
        fmt::format("invalid DECIMAL parameters '({})' for column '{}': expected (precision,scale)",
                    params, column));
  };
  if (parts.size() != 2) return bad();
  std::string_view p = Trim(parts[0]);
  std::string_view s = Trim(parts[1]);
  // Four digits is already far out of range; the cap keeps stoi from overflowing.
  if (!IsAllDigits(p) || !IsAllDigits(s) || p.size() > 4 || s.size() > 4) return bad();
  out->precision = std::stoi(std::string(p));
  out->scale = std::stoi(std::string(s));
  return absl::OkStatus();
}

// Types users write that this table format does not have (yet), and why.
// The MaxCompute names among them would map onto STRING or TIMESTAMP only by
// dropping part of their meaning, so they are refused rather than aliased.
absl::Status Unsupported(std::string_view text, std::string_view column) {
  std::string_view name = text.substr(0, std::min(text.find('<'), text.find('(')));
  name = Trim(name);
  if (EqualsIgnoreCase(name, "TIMESTAMP_NTZ")) {
    return Invalid(fmt::format(
        "type '{}' of column '{}' is not supported: TIMESTAMP_NTZ is a wall-clock time without a "
        "zone, and this table's TIMESTAMP and DATETIME are instants (clients read them as UTC "
        "instants); declare TIMESTAMP to store the wall-clock time as if it were UTC",
        text, column));
  }
  if (EqualsIgnoreCase(name, "VARCHAR")) {
    return Invalid(fmt::format(
        "type '{}' of column '{}' is not supported: VARCHAR(n) limits values to n characters, "
        "which STRING does not enforce; declare STRING",
        text, column));
  }
  if (EqualsIgnoreCase(name, "CHAR")) {
    return Invalid(fmt::format(
        "type '{}' of column '{}' is not supported: CHAR(n) pads values to n characters, which "
        "STRING does not do; declare STRING",
        text, column));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string_view>> SplitColumnList(std::string_view list);
absl::Status ValidateName(const std::string& name);
absl::Status ParseType(std::string_view text, std::string_view column, Column* out, int depth);

// Parses the inside of "ARRAY<...>", "MAP<...>" or "STRUCT<...>" into
// out->children. `depth` is the nesting level of `out` (1 for a column's own type).
absl::Status ParseNestedType(std::string_view text, std::string_view name, std::string_view inner,
                             std::string_view column, Column* out, int depth) {
  if (depth > kMaxNestingDepth) {
    return Invalid(fmt::format("type of column '{}' nests deeper than {} levels", column,
                               kMaxNestingDepth));
  }
  auto bad = [&](std::string_view why) {
    return Invalid(fmt::format("malformed type '{}' for column '{}': {}", text, column, why));
  };
  if (Trim(inner).empty()) return bad("no element type inside '<>'");
  ASSIGN_OR_RETURN(std::vector<std::string_view> parts, SplitColumnList(inner));
  out->children.clear();
  auto child = [&](std::string_view child_name, std::string_view child_text) -> absl::Status {
    child_text = Trim(child_text);
    if (child_text.empty()) return bad("empty type");
    std::vector<std::string_view> words = Words(child_text);
    if (words.size() >= 2 && EqualsIgnoreCase(words.back(), "NULL")) {
      return bad(
          "NOT NULL and NULL cannot be declared inside a nested type (elements, map values and "
          "struct fields are always nullable, map keys never)");
    }
    Column c;
    c.name = std::string(child_name);
    RETURN_IF_ERROR(ParseType(child_text, column, &c, depth));
    out->children.push_back(std::move(c));
    return absl::OkStatus();
  };
  if (EqualsIgnoreCase(name, "ARRAY")) {
    out->type = ColumnType::kArray;
    if (parts.size() != 1) return bad("ARRAY takes one element type");
    return child("element", parts[0]);
  }
  if (EqualsIgnoreCase(name, "MAP")) {
    out->type = ColumnType::kMap;
    if (parts.size() != 2) return bad("MAP takes a key type and a value type");
    RETURN_IF_ERROR(child("key", parts[0]));
    return child("value", parts[1]);
  }
  out->type = ColumnType::kStruct;
  for (std::string_view part : parts) {
    part = Trim(part);
    size_t end = 0;
    while (end < part.size() && (absl::ascii_isalnum(static_cast<unsigned char>(part[end])) ||
                                 part[end] == '_')) {
      ++end;
    }
    std::string_view field = part.substr(0, end);
    std::string_view rest = Trim(part.substr(end));
    if (!rest.empty() && rest.front() == ':') rest = Trim(rest.substr(1));
    if (field.empty() || rest.empty()) return bad("expected STRUCT<name:TYPE, ...>");
    RETURN_IF_ERROR(child(field, rest));
  }
  return absl::OkStatus();
}

// Parses a type such as "bigint", "decimal( 10 , 2 )" or "map<string,array<int>>"
// into `out`'s type, precision, scale and children. `text` must already be
// trimmed. `depth` counts the nested types around it (0 for a column's type).
absl::Status ParseType(std::string_view text, std::string_view column, Column* out, int depth) {
  RETURN_IF_ERROR(Unsupported(text, column));
  out->children.clear();
  if (size_t open = text.find('<'); open != std::string_view::npos) {
    std::string_view name = Trim(text.substr(0, open));
    if (!EqualsIgnoreCase(name, "ARRAY") && !EqualsIgnoreCase(name, "MAP") &&
        !EqualsIgnoreCase(name, "STRUCT")) {
      return Invalid(fmt::format("unknown type '{}' for column '{}'", text, column));
    }
    if (text.back() != '>') {
      return Invalid(fmt::format("malformed type '{}' for column '{}'", text, column));
    }
    out->precision = 0;
    out->scale = 0;
    return ParseNestedType(text, name, text.substr(open + 1, text.size() - open - 2), column, out,
                           depth + 1);
  }
  for (std::string_view nested : {"ARRAY", "MAP", "STRUCT"}) {
    if (EqualsIgnoreCase(text, nested)) {
      return Invalid(fmt::format("type '{}' of column '{}' needs its element types: {}", text,
                                 column,
                                 nested == "ARRAY" ? "ARRAY<T>"
                                 : nested == "MAP" ? "MAP<K,V>"
                                                   : "STRUCT<name:T, ...>"));
    }
  }
  std::string_view name = text;
  std::string_view params;
  bool has_params = false;
  if (size_t open = text.find('('); open != std::string_view::npos) {
    name = Trim(text.substr(0, open));
    std::string_view rest = text.substr(open + 1);
    if (rest.empty() || rest.back() != ')') {
      return Invalid(fmt::format("malformed type '{}' for column '{}'", text, column));
    }
    params = rest.substr(0, rest.size() - 1);
    has_params = true;
  }
  const TypeEntry* entry = nullptr;
  for (const TypeEntry& e : kTypes) {
    if (EqualsIgnoreCase(e.name, name)) entry = &e;
  }
  if (entry == nullptr) {
    return Invalid(fmt::format("unknown type '{}' for column '{}'", name, column));
  }
  out->type = entry->type;
  out->precision = 0;
  out->scale = 0;
  if (entry->type == ColumnType::kDecimal) {
    if (!has_params) {
      out->precision = kDefaultDecimalPrecision;
      out->scale = kDefaultDecimalScale;
      return absl::OkStatus();
    }
    return ParseDecimalParams(params, column, out);
  }
  if (entry->type == ColumnType::kTimestampLtz) {
    if (!has_params) {
      out->precision = kDefaultTimestampLtzPrecision;
      return absl::OkStatus();
    }
    std::string_view p = Trim(params);
    if (!IsAllDigits(p) || p.size() > 4) {
      return Invalid(fmt::format(
          "invalid TIMESTAMP_LTZ parameter '({})' for column '{}': expected (precision)", params,
          column));
    }
    out->precision = std::stoi(std::string(p));
    return absl::OkStatus();
  }
  if (has_params) {
    return Invalid(fmt::format("type '{}' for column '{}' takes no parameters: '{}'", entry->name,
                               column, text));
  }
  return absl::OkStatus();
}

// Parses one "NAME TYPE [NOT NULL | NULL]" definition.
absl::StatusOr<Column> ParseColumn(std::string_view def) {
  def = Trim(def);
  if (def.empty()) return Invalid("empty column definition in column list");
  Column column;
  size_t name_end = 0;
  while (name_end < def.size() && !IsSpace(def[name_end])) ++name_end;
  column.name = std::string(def.substr(0, name_end));
  std::string_view rest = Trim(def.substr(name_end));
  if (rest.empty()) return Invalid(fmt::format("missing type for column '{}'", column.name));
  // The type ends at its closing parenthesis or at the first whitespace that is
  // not followed by '(' (so "decimal (10,2)" is one type).
  size_t type_end = 0;
  while (type_end < rest.size() &&
         absl::ascii_isalpha(static_cast<unsigned char>(rest[type_end]))) {
    ++type_end;
  }
  while (type_end < rest.size() && rest[type_end] == '_') {  // TIMESTAMP_LTZ and the like
    ++type_end;
    while (type_end < rest.size() &&
           absl::ascii_isalpha(static_cast<unsigned char>(rest[type_end]))) {
      ++type_end;
    }
  }
  size_t probe = type_end;
  while (probe < rest.size() && IsSpace(rest[probe])) ++probe;
  if (probe < rest.size() && rest[probe] == '<') {
    // A nested type: up to its matching '>' (SplitColumnList checked the balance).
    int angle = 0;
    type_end = probe;
    do {
      if (rest[type_end] == '<') ++angle;
      if (rest[type_end] == '>') --angle;
      ++type_end;
    } while (angle > 0 && type_end < rest.size());
  } else if (probe < rest.size() && rest[probe] == '(') {
    size_t close = rest.find(')', probe);
    if (close == std::string_view::npos) {
      return Invalid(fmt::format("unclosed '(' in type of column '{}': '{}'", column.name, rest));
    }
    type_end = close + 1;
  } else if (type_end == 0 || (type_end < rest.size() && !IsSpace(rest[type_end]))) {
    // Not a plain type name; let ParseType name the whole offending token.
    while (type_end < rest.size() && !IsSpace(rest[type_end])) ++type_end;
  }
  RETURN_IF_ERROR(ParseType(Trim(rest.substr(0, type_end)), column.name, &column, 0));

  std::vector<std::string_view> words = Words(rest.substr(type_end));
  if (words.size() == 1 && EqualsIgnoreCase(words[0], "NULL")) {
    column.nullable = true;
  } else if (words.size() == 2 && EqualsIgnoreCase(words[0], "NOT") &&
             EqualsIgnoreCase(words[1], "NULL")) {
    column.nullable = false;
  } else if (!words.empty()) {
    return Invalid(fmt::format(
        "unexpected '{}' after the type of column '{}' (expected NOT NULL, NULL or nothing)",
        Trim(rest.substr(type_end)), column.name));
  }
  return column;
}

// Splits on commas outside parentheses and angle brackets, so
// "DECIMAL(10,2)" and "MAP<STRING,STRING>" stay whole.
absl::StatusOr<std::vector<std::string_view>> SplitColumnList(std::string_view list) {
  std::vector<std::string_view> out;
  int depth = 0;
  int angle = 0;
  size_t start = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    char c = list[i];
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) {
        return Invalid(fmt::format("unbalanced ')' in column list '{}'", list));
      }
    } else if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (--angle < 0) {
        return Invalid(fmt::format("unbalanced '>' in column list '{}'", list));
      }
    } else if (c == ',' && depth == 0 && angle == 0) {
      out.push_back(list.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) {
    return Invalid(fmt::format("unclosed '(' in column list '{}'", list));
  }
  if (angle != 0) {
    return Invalid(fmt::format("unclosed '<' in column list '{}'", list));
  }
  out.push_back(list.substr(start));
  return out;
}

absl::Status ValidateType(Column* column, std::string_view name, int depth);

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return Invalid("empty column name");
  if (name.size() > kMaxColumnNameLength) {
    return Invalid(
        fmt::format("column name '{}' is longer than {} characters", name, kMaxColumnNameLength));
  }
  bool ok = absl::ascii_isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_';
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_');
  }
  if (!ok) {
    return Invalid(fmt::format("invalid column name '{}': expected [A-Za-z_][A-Za-z0-9_]*", name));
  }
  return absl::OkStatus();
}

// Checks a nested type's children (as Make receives them, perhaps not from
// Parse): their count, names, nullability and depth. `column` names the
// top-level column in errors.
absl::Status ValidateNestedChildren(Column* type, std::string_view column, int depth) {
  if (depth > kMaxNestingDepth) {
    return Invalid(fmt::format("type of column '{}' nests deeper than {} levels", column,
                               kMaxNestingDepth));
  }
  size_t expected = type->type == ColumnType::kArray ? 1 : type->type == ColumnType::kMap ? 2 : 0;
  if (expected != 0 && type->children.size() != expected) {
    return Invalid(fmt::format("column '{}': {} needs {} child type(s), has {}", column,
                               ColumnTypeName(type->type), expected, type->children.size()));
  }
  if (type->type == ColumnType::kStruct && type->children.empty()) {
    return Invalid(fmt::format("column '{}': STRUCT needs at least one field", column));
  }
  if (type->children.size() > kMaxColumns) {
    return Invalid(fmt::format("column '{}': STRUCT has more than {} fields", column, kMaxColumns));
  }
  absl::flat_hash_set<std::string> lower_names;
  for (size_t i = 0; i < type->children.size(); ++i) {
    Column& child = type->children[i];
    if (type->type == ColumnType::kArray) child.name = "element";
    if (type->type == ColumnType::kMap) child.name = i == 0 ? "key" : "value";
    if (type->type == ColumnType::kStruct) {
      if (absl::Status s = ValidateName(child.name); !s.ok()) {
        return Invalid(fmt::format("column '{}': STRUCT field: {}", column, std::string(s.message())));
      }
      if (!lower_names.insert(absl::AsciiStrToLower(child.name)).second) {
        return Invalid(fmt::format(
            "column '{}': duplicate STRUCT field name '{}' (names are case-insensitive)", column,
            child.name));
      }
    }
    child.nullable = !(type->type == ColumnType::kMap && i == 0);
    if (type->type == ColumnType::kMap && i == 0 && IsNested(child.type)) {
      return Invalid(fmt::format("column '{}': a MAP key cannot be of nested type {}", column,
                                 child.TypeString()));
    }
    RETURN_IF_ERROR(ValidateType(&child, column, depth));
  }
  return absl::OkStatus();
}

// Checks the type of `column` (a column or a nested child at `depth`).
absl::Status ValidateType(Column* column, std::string_view name, int depth) {
  if (!IsKnownType(column->type)) {
    return Invalid(fmt::format("column '{}' has invalid type code {}", name,
                               static_cast<int>(column->type)));
  }
  if (IsNested(column->type)) {
    column->precision = 0;
    column->scale = 0;
    return ValidateNestedChildren(column, name, depth + 1);
  }
  if (!column->children.empty()) {
    return Invalid(fmt::format("column '{}': {} has no child types", name,
                               ColumnTypeName(column->type)));
  }
  if (column->type == ColumnType::kTimestampLtz) {
    column->scale = 0;
    if (column->precision < 0 || column->precision > kMaxTimestampLtzPrecision) {
      return Invalid(fmt::format(
          "column '{}': TIMESTAMP_LTZ({}) is invalid; need 0 <= precision <= 9", column->name,
          column->precision));
    }
    return absl::OkStatus();
  }
  if (column->type != ColumnType::kDecimal) {
    column->precision = 0;
    column->scale = 0;
    return absl::OkStatus();
  }
  if (column->precision < 1 || column->precision > kMaxDecimalPrecision || column->scale < 0 ||
      column->scale > column->precision) {
    return Invalid(fmt::format(
        "column '{}': DECIMAL({},{}) is invalid; need 1 <= precision <= 38 and 0 <= scale <= "
        "precision",
        name, column->precision, column->scale));
  }
  return absl::OkStatus();
}

absl::Status ValidateColumn(Column* column) {
  RETURN_IF_ERROR(ValidateName(column->name));
  return ValidateType(column, column->name, 0);
}

}  // namespace

namespace column_text {

absl::StatusOr<std::vector<std::string_view>> SplitList(std::string_view list) {
  return SplitColumnList(list);
}

absl::StatusOr<Column> ParseDefinition(std::string_view def) { return ParseColumn(def); }

absl::Status ParseTypeText(std::string_view text, std::string_view column, Column* out) {
  return ParseType(Trim(text), column, out, 0);
}

absl::Status Validate(Column* column) { return ValidateColumn(column); }

std::string_view TrimSpace(std::string_view s) { return Trim(s); }

bool IsBlank(std::string_view s) { return Trim(s).empty(); }

}  // namespace column_text

std::string_view ColumnTypeName(ColumnType type) {
  for (const TypeEntry& e : kTypes) {
    if (e.type == type) return e.name;
  }
  return "UNKNOWN";
}

std::string Column::TypeString() const {
  if (type == ColumnType::kDecimal) return fmt::format("DECIMAL({},{})", precision, scale);
  if (type == ColumnType::kTimestampLtz) return fmt::format("TIMESTAMP_LTZ({})", precision);
  if (type == ColumnType::kArray && children.size() == 1) {
    return fmt::format("ARRAY<{}>", children[0].TypeString());
  }
  if (type == ColumnType::kMap && children.size() == 2) {
    return fmt::format("MAP<{},{}>", children[0].TypeString(), children[1].TypeString());
  }
  if (type == ColumnType::kStruct) {
    std::string out = "STRUCT<";
    for (size_t i = 0; i < children.size(); ++i) {
      out += fmt::format("{}{}:{}", i == 0 ? "" : ",", children[i].name, children[i].TypeString());
    }
    return out + ">";
  }
  return std::string(ColumnTypeName(type));
}

absl::StatusOr<Column> ParseColumnDefinition(std::string_view def) {
  ASSIGN_OR_RETURN(std::vector<std::string_view> parts, SplitColumnList(def));
  if (parts.size() != 1) {
    return Invalid(fmt::format("expected one column definition, got '{}'", Trim(def)));
  }
  ASSIGN_OR_RETURN(Column column, ParseColumn(parts[0]));
  RETURN_IF_ERROR(ValidateColumn(&column));
  return column;
}

size_t FixedWidth(ColumnType type) {
  switch (type) {
    case ColumnType::kBoolean:
    case ColumnType::kTinyint:
      return 1;
    case ColumnType::kSmallint:
      return 2;
    case ColumnType::kInt:
    case ColumnType::kDate:
    case ColumnType::kFloat:
      return 4;
    case ColumnType::kBigint:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz:
    case ColumnType::kDouble:
      return 8;
    case ColumnType::kDecimal:
      return 16;
    case ColumnType::kString:
    case ColumnType::kBinary:
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct:
      return 0;
  }
  return 0;
}

}  // namespace deltasidecar::table
