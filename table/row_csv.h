// The CSV form of a row. The text forms of the values are those of
// value_text.h.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::table {

// One CSV record (RFC 4180 quoting) with the same textual forms, NULL as empty.
std::string RowToCsv(const TableSchema& schema, const Row& row);
std::string CsvHeader(const TableSchema& schema);

}  // namespace deltasidecar::table
