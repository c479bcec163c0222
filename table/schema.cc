#include "table/schema.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "table/base/status_macros.h"
#include "table/column_type.h"

namespace deltasidecar::table {
namespace {

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

// Splits "a, b" into names; INVALID_ARGUMENT naming `what` for an empty one.
absl::StatusOr<std::vector<std::string>> SplitNames(std::string_view list, std::string_view what) {
  std::vector<std::string> names;
  if (column_text::IsBlank(list)) return names;
  std::string_view rest = list;
  for (;;) {
    const size_t comma = rest.find(',');
    std::string_view name = column_text::TrimSpace(rest.substr(0, comma));
    if (name.empty()) return Invalid(fmt::format("empty column name in {} '{}'", what, list));
    names.emplace_back(name);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return names;
}

}  // namespace

absl::StatusOr<TableSchema> TableSchema::Parse(std::string_view columns,
                                               std::string_view primary_key, int buckets) {
  return Parse(columns, primary_key, buckets, "");
}

absl::StatusOr<TableSchema> TableSchema::Parse(std::string_view columns,
                                               std::string_view primary_key, int buckets,
                                               std::string_view partition_by) {
  if (column_text::IsBlank(columns)) return Invalid("column list is empty");
  ASSIGN_OR_RETURN(std::vector<std::string_view> defs, column_text::SplitList(columns));
  std::vector<Column> parsed;
  parsed.reserve(defs.size());
  for (std::string_view def : defs) {
    ASSIGN_OR_RETURN(Column column, column_text::ParseDefinition(def));
    parsed.push_back(std::move(column));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> key, SplitNames(primary_key, "primary key"));
  ASSIGN_OR_RETURN(std::vector<std::string> partition, SplitNames(partition_by, "partition columns"));
  if (partition.empty()) return Make(std::move(parsed), std::move(key), buckets);
  // The partition columns lead the key; the key's other columns follow.
  std::vector<std::string> full = partition;
  for (std::string& k : key) {
    if (std::find(partition.begin(), partition.end(), k) == partition.end()) full.push_back(std::move(k));
  }
  ASSIGN_OR_RETURN(TableSchema schema, Make(std::move(parsed), std::move(full), buckets));
  return schema.WithPartitionKeys(static_cast<int>(partition.size()));
}

absl::StatusOr<TableSchema> TableSchema::Make(std::vector<Column> columns,
                                              std::vector<std::string> primary_key, int buckets) {
  if (buckets < 1 || buckets > kMaxBuckets) {
    return Invalid(fmt::format("bucket count {} is out of range [1, {}]", buckets, kMaxBuckets));
  }
  if (columns.empty()) return Invalid("schema has no columns");
  if (columns.size() > kMaxColumns) {
    return Invalid(
        fmt::format("schema has {} columns; at most {} are allowed", columns.size(), kMaxColumns));
  }
  absl::flat_hash_set<std::string> lower_names;
  for (Column& column : columns) {
    RETURN_IF_ERROR(column_text::Validate(&column));
    if (!lower_names.insert(absl::AsciiStrToLower(column.name)).second) {
      return Invalid(
          fmt::format("duplicate column name '{}' (names are case-insensitive)", column.name));
    }
  }
  if (primary_key.empty()) {
    return Invalid("primary key is empty; at least one column is required");
  }

  TableSchema schema;
  schema.columns_ = std::move(columns);
  schema.buckets_ = buckets;
  schema.is_key_.assign(schema.columns_.size(), false);
  for (const std::string& name : primary_key) {
    std::optional<int> index = schema.ColumnIndex(name);
    if (!index) {
      return Invalid(fmt::format("primary-key column '{}' is not in the schema", name));
    }
    if (schema.is_key_[*index]) {
      return Invalid(fmt::format("primary-key column '{}' is listed more than once", name));
    }
    Column& column = schema.columns_[*index];
    if (column.type == ColumnType::kFloat || column.type == ColumnType::kDouble) {
      return Invalid(fmt::format("column '{}': {} cannot be a primary-key column", name,
                                 ColumnTypeName(column.type)));
    }
    if (IsNested(column.type)) {
      return Invalid(fmt::format(
          "column '{}': nested type {} cannot be a primary-key column (ARRAY, MAP and STRUCT are "
          "for value columns only)",
          name, column.TypeString()));
    }
    column.nullable = false;
    schema.is_key_[*index] = true;
    schema.key_columns_.push_back(*index);
  }
  for (int i = 0; i < static_cast<int>(schema.columns_.size()); ++i) {
    if (!schema.is_key_[i]) schema.value_columns_.push_back(i);
    schema.column_ids_.push_back(i);
  }
  schema.last_column_id_ = static_cast<int>(schema.columns_.size()) - 1;
  return schema;
}

absl::StatusOr<TableSchema> TableSchema::WithVersion(int64_t id, std::vector<int> column_ids,
                                                     int last_column_id) const {
  if (id < 0) return Invalid(fmt::format("schema id {} is negative", id));
  if (column_ids.size() != columns_.size()) {
    return Invalid(fmt::format("{} column ids for {} columns", column_ids.size(), columns_.size()));
  }
  absl::flat_hash_set<int> seen;
  for (int c : column_ids) {
    if (c < 0 || c > last_column_id || !seen.insert(c).second) {
      return Invalid(fmt::format("column id {} is negative, repeated or above the last id {}", c,
                                 last_column_id));
    }
  }
  TableSchema out = *this;
  out.id_ = id;
  out.column_ids_ = std::move(column_ids);
  out.last_column_id_ = last_column_id;
  return out;
}

absl::StatusOr<TableSchema> TableSchema::WithPartitionKeys(int count) const {
  if (count < 0 || count >= static_cast<int>(key_columns_.size())) {
    return Invalid(fmt::format(
        "{} partition columns for a primary key of {} columns: the partition columns lead the "
        "primary key, which needs at least one more column (else a partition holds one row)",
        count, key_columns_.size()));
  }
  TableSchema out = *this;
  out.partition_keys_ = count;
  return out;
}

nlohmann::json TableSchema::ToJson() const {
  nlohmann::json cols = nlohmann::json::array();
  for (const Column& c : columns_) {
    cols.push_back({{"name", c.name}, {"type", c.TypeString()}, {"nullable", c.nullable}});
  }
  nlohmann::json key = nlohmann::json::array();
  for (int index : key_columns_) key.push_back(columns_[index].name);
  nlohmann::json j = {{"columns", std::move(cols)}, {"primary_key", std::move(key)}, {"buckets", buckets_}};
  if (partition_keys_ > 0) {
    nlohmann::json partition = nlohmann::json::array();
    for (int i = 0; i < partition_keys_; ++i) partition.push_back(columns_[key_columns_[i]].name);
    j["partition_keys"] = std::move(partition);
  }
  return j;
}

absl::StatusOr<TableSchema> TableSchema::FromJson(const nlohmann::json& j) {
  auto bad = [](std::string_view what) {
    return Invalid(fmt::format("malformed schema JSON: {}", what));
  };
  // Members are checked by hand so nlohmann never throws; the try is a backstop.
  try {
    if (!j.is_object()) return bad("expected an object");
    for (const auto& [member, unused] : j.items()) {
      if (member != "columns" && member != "primary_key" && member != "buckets" &&
          member != "partition_keys") {
        return bad(fmt::format("unknown member '{}'", member));
      }
    }
    auto cols = j.find("columns");
    auto key = j.find("primary_key");
    auto buckets = j.find("buckets");
    if (cols == j.end() || !cols->is_array()) return bad("'columns' must be an array");
    if (key == j.end() || !key->is_array()) return bad("'primary_key' must be an array");
    if (buckets == j.end() || !buckets->is_number_integer()) {
      return bad("'buckets' must be an integer");
    }
    std::vector<Column> columns;
    for (const nlohmann::json& c : *cols) {
      if (!c.is_object() || c.size() != 3) {
        return bad("each column must be {\"name\",\"type\",\"nullable\"}");
      }
      auto name = c.find("name");
      auto type = c.find("type");
      auto nullable = c.find("nullable");
      if (name == c.end() || !name->is_string() || type == c.end() || !type->is_string() ||
          nullable == c.end() || !nullable->is_boolean()) {
        return bad("each column must be {\"name\",\"type\",\"nullable\"}");
      }
      Column column;
      column.name = name->get<std::string>();
      std::string type_text = type->get<std::string>();
      RETURN_IF_ERROR(column_text::ParseTypeText(type_text, column.name, &column));
      column.nullable = nullable->get<bool>();
      columns.push_back(std::move(column));
    }
    std::vector<std::string> names;
    for (const nlohmann::json& k : *key) {
      if (!k.is_string()) return bad("'primary_key' must hold column names");
      names.push_back(k.get<std::string>());
    }
    // Range-check here: Make takes an int, and a huge count must not wrap into range.
    std::string bucket_text = buckets->dump();
    if (buckets->is_number_unsigned()
            ? buckets->get<uint64_t>() > kMaxBuckets
            : (buckets->get<int64_t>() < 1 || buckets->get<int64_t>() > kMaxBuckets)) {
      return Invalid(
          fmt::format("bucket count {} is out of range [1, {}]", bucket_text, kMaxBuckets));
    }
    ASSIGN_OR_RETURN(TableSchema schema, Make(std::move(columns), std::move(names), buckets->get<int>()));
    auto partition = j.find("partition_keys");
    if (partition == j.end()) return schema;
    if (!partition->is_array() || partition->empty()) {
      return bad("'partition_keys' must be a non-empty array of column names");
    }
    for (size_t i = 0; i < partition->size(); ++i) {
      const nlohmann::json& p = (*partition)[i];
      if (!p.is_string() || i >= schema.key_columns().size() ||
          p.get<std::string>() != schema.columns()[schema.key_columns()[i]].name) {
        return bad("'partition_keys' must name the leading primary-key columns, in key order");
      }
    }
    return schema.WithPartitionKeys(static_cast<int>(partition->size()));
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

std::optional<int> TableSchema::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

bool TableSchema::IsKeyColumn(int index) const {
  return index >= 0 && index < static_cast<int>(is_key_.size()) && is_key_[index];
}

std::string TableSchema::ColumnsString() const {
  std::string out;
  for (const Column& c : columns_) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}{}", c.name, c.TypeString(), c.nullable ? "" : " NOT NULL");
  }
  return out;
}

}  // namespace deltasidecar::table
