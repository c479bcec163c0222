// Fuzz target for the Arrow reader's decoder of stored nested values
// (table/arrow_nested_column.h) and the IPC writer of what it builds. Input
// layout: <column: 1 byte> <a nested encoding: the remaining bytes>, the
// column one of the row fuzz schema's nested columns (v_arr, v_map,
// v_struct, by the byte modulo 3). An input is either refused with DATA_LOSS
// or exported; an exported value read back from the Arrow buffers is a valid
// encoding of the type that exports to itself again (a fixed point: the
// input may differ from it only in non-minimal varints), and the IPC writer
// takes the batch.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "table/arrow_ipc_writer.h"
#include "table/arrow_nested_column.h"
#include "table/arrow_reader.h"
#include "table/base/byte_order.h"
#include "table/nested_value.h"
#include "table/testing/arrow_value_encoding.h"
#include "tests/fuzz/fuzz_row_schema.h"

namespace {

namespace dt = deltasidecar::table;
using dt::arrow_internal::NestedColumnBuilder;

[[noreturn]] void Fail(const char* what, const absl::Status& s = absl::OkStatus()) {
  std::fprintf(stderr, "%s %s\n", what, s.ToString().c_str());
  std::abort();
}

// Exports `bytes` (and a NULL after it) as column `index`; returns the value
// read back from the Arrow buffers, or nothing when the builder refused it.
bool ExportAndReadBack(const dt::TableSchema& schema, int index, std::string_view bytes,
                       std::string* back) {
  const dt::Column& column = schema.columns()[index];
  NestedColumnBuilder builder(column);
  absl::Status s = builder.Append(bytes);
  if (!s.ok() && !absl::IsDataLoss(s)) Fail("Append: unexpected status", s);
  builder.AppendNull();
  ArrowArray* array = builder.Finish();
  ArrowSchema arrow_schema;
  if (absl::Status e = dt::ExportArrowSchema(schema, {index}, false, &arrow_schema); !e.ok()) {
    Fail("ExportArrowSchema", e);
  }
  const int64_t rows = s.ok() ? 2 : 1;
  if (array->length != rows) Fail("the builder lost or added a row");
  if (s.ok()) {
    std::string encoded = dt::testing_support::Encode(arrow_schema.children[0], array, 0);
    const char* p = encoded.data();
    uint64_t n = 0;
    if (deltasidecar::GetVarint(&p, encoded.data() + encoded.size(), &n) !=
        deltasidecar::VarintResult::kOk) {
      Fail("read back: bad length");
    }
    back->assign(p, n);
    if (dt::testing_support::Valid(array, 1)) Fail("the NULL after the value reads as valid");
  }
  // The IPC writer takes a batch of this column.
  ArrowArray* children[] = {array};
  const void* buffers[] = {nullptr};
  ArrowArray batch{};
  batch.length = rows;
  batch.n_buffers = 1;
  batch.buffers = buffers;
  batch.n_children = 1;
  batch.children = children;
  std::string ipc;
  auto writer = dt::ArrowIpcWriter::Open(arrow_schema, [&](std::string_view b) {
    ipc.append(b);
    return absl::OkStatus();
  });
  if (!writer.ok()) Fail("IPC writer Open", writer.status());
  if (absl::Status w = (*writer)->WriteBatch(batch); !w.ok()) Fail("IPC writer WriteBatch", w);
  arrow_schema.release(&arrow_schema);
  array->release(array);
  delete array;
  return s.ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1 << 16)) return 0;
  const dt::TableSchema& schema = deltasidecar::fuzz::RowFuzzSchema();
  static const char* kColumns[] = {"v_arr", "v_map", "v_struct"};
  const int index = *schema.ColumnIndex(kColumns[data[0] % 3]);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string once, twice;
  if (!ExportAndReadBack(schema, index, bytes, &once)) return 0;
  if (absl::Status v = dt::ValidateNested(schema.columns()[index], once, dt::NestedCheck::kLayout);
      !v.ok()) {
    Fail("an exported value reads back as an invalid encoding:", v);
  }
  if (!ExportAndReadBack(schema, index, once, &twice) || twice != once) {
    Fail("an exported value does not export to itself again");
  }
  return 0;
}
