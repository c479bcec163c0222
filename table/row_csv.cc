// The CSV form of a row (row_csv.h), with the text forms of value_text.h.
#include "table/row_csv.h"

#include <string>

#include "table/value_text.h"

namespace deltasidecar::table {

// An empty STRING or BINARY is written as "" so that it differs from NULL,
// which is an empty field.
std::string RowToCsv(const TableSchema& schema, const Row& row) {
  const std::vector<Column>& columns = schema.columns();
  std::string out;
  std::string field;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (IsNull(row[i])) continue;
    field.clear();
    AppendValueText(columns[i], row[i], &field);
    if (!field.empty() && field.find_first_of(",\"\r\n") == std::string::npos) {
      out.append(field);
      continue;
    }
    out.push_back('"');
    for (char c : field) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

std::string CsvHeader(const TableSchema& schema) {
  std::string out;
  for (const Column& column : schema.columns()) {
    if (!out.empty()) out.push_back(',');
    out.append(column.name);
  }
  return out;
}

}  // namespace deltasidecar::table
