#include "table/partition.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/row.h"
#include "table/row_json.h"
#include "table/value_text.h"

namespace deltasidecar::table {

namespace {

absl::Status NotAPartition(std::string_view why) {
  return absl::DataLossError(Cat("corrupt partition: ", why));
}

absl::StatusOr<Row> DecodePartition(const TableSchema& schema, std::string_view partition) {
  ASSIGN_OR_RETURN(TableSchema columns, PartitionSchema(schema));
  Row row(columns.columns().size());
  absl::Status s = DecodeKey(columns, partition, &row);
  if (!s.ok()) return NotAPartition(Cat(s.message()));
  return row;
}

bool IsTimeType(ColumnType type) {
  return type == ColumnType::kDate || type == ColumnType::kDatetime ||
         type == ColumnType::kTimestamp || type == ColumnType::kTimestampLtz;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A STRING partition value read as a UTC time: "YYYYMMDD", "YYYYMMDDHH",
// "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS"; nullopt for anything else.
std::optional<absl::Time> StringPartitionTime(std::string_view s) {
  int64_t days = 0, second_of_day = 0, nanos = 0;
  if (s.size() == 10 && s[4] == '-' && ParseDatePart(s, &days)) {
    return absl::FromUnixMillis(days * kMillisPerDay);
  }
  if (ParseDateTime(s, 9, &days, &second_of_day, &nanos)) {
    return absl::FromUnixMillis(days * kMillisPerDay) + absl::Seconds(second_of_day) + absl::Nanoseconds(nanos);
  }
  if ((s.size() == 8 || s.size() == 10) && AllDigits(s)) {
    const std::string dashed = Cat(s.substr(0, 4), "-", s.substr(4, 2), "-", s.substr(6, 2));
    const int hour = s.size() == 10 ? (s[8] - '0') * 10 + (s[9] - '0') : 0;
    if (hour > 23 || !ParseDatePart(dashed, &days)) return std::nullopt;
    return absl::FromUnixMillis(days * kMillisPerDay) + absl::Hours(hour);
  }
  return std::nullopt;
}

// A JSON number or boolean when `column` takes one and `text` is one, else
// the text as a JSON string (RowFromJson reads each type's text form).
nlohmann::json SpecValue(const Column& column, std::string_view text) {
  switch (column.type) {
    case ColumnType::kBoolean:
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint: {
      nlohmann::json v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (v.is_number() || v.is_boolean()) return v;
      break;
    }
    default:
      break;
  }
  return std::string(text);
}

}  // namespace

absl::StatusOr<std::string_view> PartitionOfKey(const TableSchema& schema, std::string_view key) {
  size_t at = 0;
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    const Column& column = schema.columns()[schema.key_columns()[i]];
    if (const size_t width = FixedWidth(column.type); width > 0) {
      if (key.size() - at < width) return NotAPartition(Cat("key ends inside column '", column.name, "'"));
      at += width;
      continue;
    }
    for (;;) {  // a string: escaped bytes up to the terminator 00 01
      const size_t zero = key.find('\0', at);
      if (zero == std::string_view::npos || zero + 1 >= key.size()) {
        return NotAPartition(Cat("key ends inside column '", column.name, "'"));
      }
      at = zero + 2;
      if (key[zero + 1] == '\x01') break;
      if (key[zero + 1] != '\xff') return NotAPartition(Cat("bad escape in column '", column.name, "'"));
    }
  }
  return key.substr(0, at);
}

std::optional<std::string> PartitionEnd(std::string_view partition) {
  std::string end(partition);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

absl::StatusOr<TableSchema> PartitionSchema(const TableSchema& schema) {
  if (!schema.partitioned()) return absl::InvalidArgumentError("the table is not partitioned");
  std::vector<Column> columns;
  std::vector<std::string> names;
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    columns.push_back(schema.columns()[schema.key_columns()[i]]);
    names.push_back(columns.back().name);
  }
  return TableSchema::Make(std::move(columns), std::move(names), 1);
}

absl::StatusOr<std::string> PartitionText(const TableSchema& schema, std::string_view partition) {
  ASSIGN_OR_RETURN(Row row, DecodePartition(schema, partition));
  std::string out;
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    const Column& column = schema.columns()[schema.key_columns()[i]];
    if (i > 0) out += '/';
    out += column.name;
    out += '=';
    AppendValueText(column, row[i], &out);
  }
  return out;
}

absl::StatusOr<nlohmann::json> PartitionJson(const TableSchema& schema, std::string_view partition) {
  ASSIGN_OR_RETURN(Row row, DecodePartition(schema, partition));
  nlohmann::json out = nlohmann::json::object();
  std::string scratch;
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    const Column& column = schema.columns()[schema.key_columns()[i]];
    out[column.name] = ValueToJson(column, row[i], &scratch);
  }
  return out;
}

absl::StatusOr<std::string> ParsePartitionSpec(const TableSchema& schema, std::string_view text) {
  if (text.size() > kMaxPartitionSpecBytes) {
    return absl::InvalidArgumentError(Cat("partition spec of ", text.size(), " bytes; at most ",
                                          kMaxPartitionSpecBytes, " are allowed"));
  }
  if (!schema.partitioned()) {
    return absl::InvalidArgumentError("the table is not partitioned: it has no partition to name");
  }
  ASSIGN_OR_RETURN(TableSchema columns, PartitionSchema(schema));
  nlohmann::json values = nlohmann::json::object();
  // A separator starts the next part only where a column name and '='
  // follow it, so a value may hold '/' and ',' otherwise.
  auto next_part = [&](size_t from) {
    for (size_t at = text.find_first_of("/,", from); at != std::string_view::npos;
         at = text.find_first_of("/,", at + 1)) {
      size_t end = at + 1;
      while (end < text.size() && (absl::ascii_isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
      if (end > at + 1 && end < text.size() && text[end] == '=' &&
          !absl::ascii_isdigit(static_cast<unsigned char>(text[at + 1]))) {
        return at;
      }
    }
    return text.size();
  };
  for (size_t start = 0; start <= text.size();) {
    const size_t stop = next_part(start);
    const std::string_view part = text.substr(start, stop - start);
    start = stop + 1;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("partition spec '", text, "': expected column=value, got '", part, "'"));
    }
    const std::string name(part.substr(0, eq));
    std::optional<int> index = columns.ColumnIndex(name);
    if (!index) {
      std::string all;
      for (const Column& c : columns.columns()) all += Cat(all.empty() ? "" : ", ", c.name);
      return absl::InvalidArgumentError(Cat("partition spec '", text, "': '", name,
                                            "' is not a partition column (they are ", all, ")"));
    }
    if (values.contains(name)) {
      return absl::InvalidArgumentError(Cat("partition spec '", text, "' names '", name, "' twice"));
    }
    values[name] = SpecValue(columns.columns()[*index], part.substr(eq + 1));
  }
  auto row = RowFromJson(columns, values, /*key_only=*/true);
  if (!row.ok()) {
    return absl::InvalidArgumentError(Cat("partition spec '", text, "': ", row.status().message()));
  }
  return EncodeKey(columns, *row);
}

std::optional<int> PartitionTimeColumn(const TableSchema& schema) {
  std::optional<int> text;
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    const int index = schema.key_columns()[i];
    if (IsTimeType(schema.columns()[index].type)) return index;
    if (!text && schema.columns()[index].type == ColumnType::kString) text = index;
  }
  return text;
}

absl::StatusOr<std::optional<absl::Time>> PartitionTime(const TableSchema& schema,
                                                        std::string_view partition) {
  std::optional<int> index = PartitionTimeColumn(schema);
  if (!index) return std::optional<absl::Time>();
  ASSIGN_OR_RETURN(Row row, DecodePartition(schema, partition));
  int k = 0;
  while (schema.key_columns()[k] != *index) ++k;
  if (schema.columns()[*index].type == ColumnType::kString) return StringPartitionTime(StringOf(row[k]));
  const int64_t v = IntOf(row[k]);
  switch (schema.columns()[*index].type) {
    case ColumnType::kDate:
      return absl::FromUnixMillis(v * kMillisPerDay);
    case ColumnType::kDatetime:
      return absl::FromUnixMillis(v);
    default:
      return absl::FromUnixNanos(v);
  }
}

}  // namespace deltasidecar::table
