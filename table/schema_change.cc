#include "table/schema_change.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {

namespace {

constexpr std::string_view kSchemaMagic = "DSCHEMA1";
constexpr std::string_view kSchemaPrefix = "schema-";
constexpr int kSchemaFileFormat = 1;

absl::Status Invalid(std::string_view change, std::string_view why) {
  return absl::InvalidArgumentError(Cat(change, ": ", why));
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view TrimText(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Takes the first whitespace-separated word off *s.
std::string_view TakeWord(std::string_view* s) {
  *s = TrimText(*s);
  size_t end = 0;
  while (end < s->size() && !IsSpace((*s)[end])) ++end;
  std::string_view word = s->substr(0, end);
  *s = TrimText(s->substr(end));
  return word;
}

// Takes the last whitespace-separated word off *s.
std::string_view TakeLastWord(std::string_view* s) {
  *s = TrimText(*s);
  size_t start = s->size();
  while (start > 0 && !IsSpace((*s)[start - 1])) --start;
  std::string_view word = s->substr(start);
  *s = TrimText(s->substr(0, start));
  return word;
}

bool Is(std::string_view word, std::string_view keyword) {
  return word.size() == keyword.size() &&
         absl::AsciiStrToUpper(AV(word)) == absl::AsciiStrToUpper(AV(keyword));
}

std::optional<int> FindColumn(const std::vector<Column>& columns, std::string_view name) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

bool NameTaken(const std::vector<Column>& columns, std::string_view name, int except = -1) {
  const std::string lower = absl::AsciiStrToLower(AV(name));
  for (size_t i = 0; i < columns.size(); ++i) {
    if (static_cast<int>(i) != except && absl::AsciiStrToLower(columns[i].name) == lower) return true;
  }
  return false;
}

bool IsIntegral(ColumnType t) { return t >= ColumnType::kTinyint && t <= ColumnType::kBigint; }

}  // namespace

std::string SchemaChange::ToString() const {
  switch (kind) {
    case Kind::kAddColumn: {
      std::string s = Cat("ADD COLUMN ", column, " ", definition.TypeString());
      if (first) s += " FIRST";
      if (after) s += Cat(" AFTER ", *after);
      return s;
    }
    case Kind::kDropColumn:
      return Cat("DROP COLUMN ", column);
    case Kind::kRenameColumn:
      return Cat("RENAME COLUMN ", column, " TO ", new_name);
    case Kind::kWidenColumn:
      return Cat("ALTER COLUMN ", column, " TYPE ", definition.TypeString());
  }
  return "";
}

absl::StatusOr<SchemaChange> ParseSchemaChange(std::string_view text) {
  if (text.size() > kMaxSchemaChangeBytes) {
    return absl::InvalidArgumentError(Cat("a schema change of ", text.size(),
                                          " bytes is longer than the limit of ",
                                          kMaxSchemaChangeBytes));
  }
  text = TrimText(text);
  const std::string shown(text);
  std::string_view rest = text;
  const std::string_view verb = TakeWord(&rest);
  if (!Is(TakeWord(&rest), "COLUMN")) {
    return Invalid(shown, "expected ADD COLUMN, DROP COLUMN, RENAME COLUMN or ALTER COLUMN");
  }
  SchemaChange c;
  if (Is(verb, "ADD")) {
    c.kind = SchemaChange::Kind::kAddColumn;
    std::string_view def = rest;
    std::string_view probe = def;
    std::string_view last = TakeLastWord(&probe);
    if (Is(last, "FIRST")) {
      c.first = true;
      def = probe;
    } else {
      std::string_view before_last = probe;
      if (Is(TakeLastWord(&before_last), "AFTER")) {
        c.after = std::string(last);
        def = before_last;
      }
    }
    auto column = ParseColumnDefinition(def);
    if (!column.ok()) return Invalid(shown, SV(column.status().message()));
    if (!column->nullable) {
      return Invalid(shown, "a new column must be nullable: the rows written before it have no value for it");
    }
    c.column = column->name;
    c.definition = std::move(*column);
  } else if (Is(verb, "DROP")) {
    c.kind = SchemaChange::Kind::kDropColumn;
    c.column = std::string(TakeWord(&rest));
  } else if (Is(verb, "RENAME")) {
    c.kind = SchemaChange::Kind::kRenameColumn;
    c.column = std::string(TakeWord(&rest));
    if (!Is(TakeWord(&rest), "TO")) return Invalid(shown, "expected RENAME COLUMN <name> TO <new name>");
    c.new_name = std::string(TakeWord(&rest));
    // The new name must be a valid column name: check it as a definition would.
    auto check = ParseColumnDefinition(Cat(c.new_name, " INT"));
    if (c.new_name.empty() || !check.ok()) {
      return Invalid(shown, check.ok() ? std::string_view("missing the new name")
                                       : SV(check.status().message()));
    }
  } else if (Is(verb, "ALTER")) {
    c.kind = SchemaChange::Kind::kWidenColumn;
    c.column = std::string(TakeWord(&rest));
    if (!Is(TakeWord(&rest), "TYPE")) return Invalid(shown, "expected ALTER COLUMN <name> TYPE <type>");
    auto column = ParseColumnDefinition(Cat(c.column, " ", rest));
    if (!column.ok()) return Invalid(shown, SV(column.status().message()));
    c.definition = std::move(*column);
    rest = {};
  } else {
    return Invalid(shown, "expected ADD COLUMN, DROP COLUMN, RENAME COLUMN or ALTER COLUMN");
  }
  if (c.column.empty()) return Invalid(shown, "missing the column name");
  if (c.kind != SchemaChange::Kind::kAddColumn && !rest.empty()) {
    return Invalid(shown, Cat("unexpected '", rest, "' at the end"));
  }
  return c;
}

absl::StatusOr<std::vector<SchemaChange>> ParseSchemaChanges(const std::vector<std::string>& texts) {
  std::vector<SchemaChange> changes;
  changes.reserve(texts.size());
  for (const std::string& text : texts) {
    ASSIGN_OR_RETURN(SchemaChange c, ParseSchemaChange(text));
    changes.push_back(std::move(c));
  }
  return changes;
}

bool IsWideningOf(const Column& from, const Column& to) {
  if (IsIntegral(from.type) && IsIntegral(to.type)) return from.type <= to.type;
  if (from.type == ColumnType::kFloat) {
    return to.type == ColumnType::kFloat || to.type == ColumnType::kDouble;
  }
  if (from.type == ColumnType::kDecimal && to.type == ColumnType::kDecimal) {
    return from.scale == to.scale && from.precision <= to.precision;
  }
  return from.TypeString() == to.TypeString();
}

absl::StatusOr<TableSchema> ApplySchemaChanges(const TableSchema& from,
                                               const std::vector<SchemaChange>& changes,
                                               int64_t id) {
  if (changes.size() > kMaxSchemaChanges) {
    return absl::InvalidArgumentError(Cat(changes.size(), " schema changes in one ALTER; at most ",
                                          kMaxSchemaChanges, " are allowed"));
  }
  std::vector<Column> columns = from.columns();
  std::vector<int> ids = from.column_ids();
  int last_id = from.last_column_id();
  std::vector<bool> is_key(columns.size());
  for (int k : from.key_columns()) is_key[k] = true;
  std::vector<int> key_ids;  // key order, by column id
  for (int k : from.key_columns()) key_ids.push_back(ids[k]);

  for (const SchemaChange& c : changes) {
    const std::string shown = c.ToString();
    std::optional<int> index = FindColumn(columns, c.column);
    if (c.kind != SchemaChange::Kind::kAddColumn && !index) {
      return Invalid(shown, Cat("there is no column '", c.column, "'"));
    }
    switch (c.kind) {
      case SchemaChange::Kind::kAddColumn: {
        if (NameTaken(columns, c.column)) {
          return Invalid(shown, Cat("a column named '", c.column, "' exists (names are case-insensitive)"));
        }
        size_t at = columns.size();
        if (c.first) at = 0;
        if (c.after) {
          std::optional<int> after = FindColumn(columns, *c.after);
          if (!after) return Invalid(shown, Cat("there is no column '", *c.after, "' to add it after"));
          at = static_cast<size_t>(*after) + 1;
        }
        columns.insert(columns.begin() + at, c.definition);
        ids.insert(ids.begin() + at, ++last_id);
        is_key.insert(is_key.begin() + at, false);
        break;
      }
      case SchemaChange::Kind::kDropColumn:
        if (is_key[*index]) {
          return Invalid(shown, "a primary-key column cannot be dropped: every row's key and bucket depend on it");
        }
        columns.erase(columns.begin() + *index);
        ids.erase(ids.begin() + *index);
        is_key.erase(is_key.begin() + *index);
        break;
      case SchemaChange::Kind::kRenameColumn:
        if (NameTaken(columns, c.new_name, *index)) {
          return Invalid(shown, Cat("a column named '", c.new_name, "' exists (names are case-insensitive)"));
        }
        columns[*index].name = c.new_name;
        break;
      case SchemaChange::Kind::kWidenColumn: {
        Column& column = columns[*index];
        if (is_key[*index]) {
          return Invalid(shown, "the type of a primary-key column cannot change: every row's key and bucket depend on it");
        }
        if (column.TypeString() == c.definition.TypeString()) {
          return Invalid(shown, Cat("column '", c.column, "' is ", column.TypeString(), " already"));
        }
        if (!IsWideningOf(column, c.definition)) {
          return Invalid(shown, Cat(column.TypeString(), " cannot become ", c.definition.TypeString(),
                                    ": only TINYINT to SMALLINT to INT to BIGINT, FLOAT to DOUBLE and "
                                    "DECIMAL(p,s) to DECIMAL(q,s) with q > p keep every stored value"));
        }
        const bool nullable = column.nullable;
        column = c.definition;
        column.name = columns[*index].name;
        column.nullable = nullable;
        break;
      }
    }
  }
  std::vector<std::string> key_names;
  for (int key_id : key_ids) {
    auto at = std::find(ids.begin(), ids.end(), key_id);
    key_names.push_back(columns[at - ids.begin()].name);
  }
  ASSIGN_OR_RETURN(TableSchema made, TableSchema::Make(std::move(columns), std::move(key_names),
                                                       from.buckets()));
  ASSIGN_OR_RETURN(made, made.WithPartitionKeys(from.partition_key_count()));
  return made.WithVersion(id, std::move(ids), last_id);
}

std::string SchemaFileName(int64_t id) { return absl::StrFormat("schema-%020d", id); }

int64_t ParseSchemaFileName(std::string_view name) {
  if (name.size() != kSchemaPrefix.size() + 20 || name.substr(0, kSchemaPrefix.size()) != kSchemaPrefix) {
    return -1;
  }
  int64_t id = -1;
  if (!absl::SimpleAtoi(AV(name.substr(kSchemaPrefix.size())), &id) || id < 0) return -1;
  return id;
}

std::string EncodeSchemaFile(const SchemaFile& file) {
  nlohmann::json j = {{"format", kSchemaFileFormat},
                      {"id", file.schema.id()},
                      {"schema", file.schema.ToJson()},
                      {"column_ids", file.schema.column_ids()},
                      {"last_column_id", file.schema.last_column_id()},
                      {"changes", file.changes},
                      {"time_ms", file.time_ms}};
  return FrameChecksummed(kSchemaMagic, j.dump(2) + "\n");
}

absl::StatusOr<SchemaFile> DecodeSchemaFile(std::string_view contents, std::string_view what) {
  ASSIGN_OR_RETURN(std::string_view body, UnframeChecksummed(kSchemaMagic, contents, what));
  try {
    nlohmann::json j = nlohmann::json::parse(body);
    if (!j.at("format").is_number_integer() || j.at("format").get<int64_t>() != kSchemaFileFormat) {
      return absl::FailedPreconditionError(Cat(what, ": unsupported schema file format ", j.at("format").dump()));
    }
    auto schema = TableSchema::FromJson(j.at("schema"));
    if (!schema.ok()) return absl::DataLossError(Cat(what, ": ", schema.status().message()));
    auto versioned = schema->WithVersion(j.at("id").get<int64_t>(),
                                         j.at("column_ids").get<std::vector<int>>(),
                                         j.at("last_column_id").get<int>());
    if (!versioned.ok()) return absl::DataLossError(Cat(what, ": ", versioned.status().message()));
    return SchemaFile{std::move(*versioned), j.at("changes").get<std::string>(),
                      j.at("time_ms").get<int64_t>()};
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
}

}  // namespace deltasidecar::table
