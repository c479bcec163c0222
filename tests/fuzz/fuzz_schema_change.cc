// Fuzz target for schema evolution's decoders: ParseSchemaChange (the change
// texts a client passes to AlterTable or deltactl alter), ApplySchemaChanges,
// DecodeSchemaFile (a schema version file), and the projection of a value
// between the two versions. The input is split into lines:
//   <columns of version 0>\n<change>\n<change>...
// (an unusable first line means a fixed schema) and is also decoded whole as
// a schema version file.
// Errors must be INVALID_ARGUMENT (DATA_LOSS or FAILED_PRECONDITION for the
// file); a parsed change must print back to text that parses to the same
// change; an accepted ALTER must round-trip through its file, and a value
// written under version 0 must read under the new version with every kept
// column's value unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "table/row.h"
#include "table/schema_change.h"
#include "table/schema_projection.h"

namespace {

namespace dt = deltasidecar::table;

[[noreturn]] void Fail(const char* what, const std::string& expected, const std::string& got) {
  std::fprintf(stderr, "%s\n  expected: %s\n  got:      %s\n", what, expected.c_str(), got.c_str());
  std::abort();
}

void CheckError(const absl::Status& s, const char* what) {
  if (!s.ok() && !absl::IsInvalidArgument(s)) Fail(what, "INVALID_ARGUMENT", s.ToString());
}

std::string_view NextLine(std::string_view* rest) {
  size_t end = rest->find('\n');
  std::string_view line = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return line;
}

dt::TableSchema BaseSchema(std::string_view columns) {
  auto parsed = dt::TableSchema::Parse(columns, "id", 4);
  if (parsed.ok()) return *parsed;
  return *dt::TableSchema::Parse("id BIGINT, a INT, b STRING, c FLOAT, d DECIMAL(10,2), e TINYINT",
                                 "id", 4);
}

// A row of `schema` with a value in every column that has a simple type.
dt::Row SampleRow(const dt::TableSchema& schema) {
  dt::Row row(schema.columns().size());
  for (size_t i = 0; i < row.size(); ++i) {
    switch (schema.columns()[i].type) {
      case dt::ColumnType::kTinyint:
      case dt::ColumnType::kSmallint:
      case dt::ColumnType::kInt:
      case dt::ColumnType::kBigint:
        row[i] = dt::Value(int64_t{-7});
        break;
      case dt::ColumnType::kFloat:
      case dt::ColumnType::kDouble:
        row[i] = dt::Value(2.5);
        break;
      case dt::ColumnType::kDecimal:
        row[i] = dt::Value(static_cast<__int128>(-1234));
        break;
      case dt::ColumnType::kString:
      case dt::ColumnType::kBinary:
        row[i] = dt::Value(std::string("v"));
        break;
      default:
        break;  // NULL
    }
  }
  return row;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto file = dt::DecodeSchemaFile(input, "fuzz input");
  if (!file.ok() && !absl::IsDataLoss(file.status()) && !absl::IsFailedPrecondition(file.status())) {
    Fail("DecodeSchemaFile", "DATA_LOSS or FAILED_PRECONDITION", file.status().ToString());
  }

  std::string_view rest = input;
  const dt::TableSchema base = BaseSchema(NextLine(&rest));
  std::vector<dt::SchemaChange> changes;
  while (!rest.empty()) {
    std::string_view line = NextLine(&rest);
    absl::StatusOr<dt::SchemaChange> change = dt::ParseSchemaChange(line);
    CheckError(change.status(), "ParseSchemaChange");
    if (!change.ok()) continue;
    const std::string text = change->ToString();
    absl::StatusOr<dt::SchemaChange> again = dt::ParseSchemaChange(text);
    if (!again.ok() || again->ToString() != text) {
      Fail("ParseSchemaChange(ToString())", text, again.ok() ? again->ToString() : again.status().ToString());
    }
    changes.push_back(*std::move(change));
  }
  absl::StatusOr<dt::TableSchema> next = dt::ApplySchemaChanges(base, changes, 1);
  CheckError(next.status(), "ApplySchemaChanges");
  if (!next.ok()) return 0;

  const std::string bytes = dt::EncodeSchemaFile({*next, "fuzz", 1});
  auto back = dt::DecodeSchemaFile(bytes, "encoded");
  if (!back.ok()) Fail("DecodeSchemaFile(EncodeSchemaFile())", "OK", back.status().ToString());
  if (back->schema.ColumnsString() != next->ColumnsString() ||
      back->schema.column_ids() != next->column_ids()) {
    Fail("schema file round trip", next->ColumnsString(), back->schema.ColumnsString());
  }

  auto from = std::make_shared<const dt::TableSchema>(base);
  auto to = std::make_shared<const dt::TableSchema>(*next);
  const dt::Row row = SampleRow(base);
  std::string value;
  dt::AppendUpsertValue(base, row, &value);
  std::string projected;
  absl::Status s = dt::ValueProjector(from, to).Project(value, &projected);
  if (!s.ok()) Fail("Project", "OK", s.ToString());
  dt::Row read(to->columns().size());
  s = dt::DecodeValue(*to, projected, &read);
  if (!s.ok()) Fail("DecodeValue(projected)", "OK", s.ToString());
  for (size_t i = 0; i < read.size(); ++i) {
    if (to->IsKeyColumn(static_cast<int>(i))) continue;
    for (size_t j = 0; j < row.size(); ++j) {
      if (base.column_ids()[j] == to->column_ids()[i] && read[i] != row[j]) {
        Fail("a kept column's value changed", base.columns()[j].name, to->columns()[i].name);
      }
    }
  }
  return 0;
}
