// Fuzz target for the packed row decoder of the gRPC API (sidecar/wire_rows.h),
// which reads client bytes on every WriteRows call. Input layout:
//   <row_count: 1 byte> <packed rows: the remaining bytes>
// over the shared every-type schema. Checks:
//  - DecodeWireRows returns OK or INVALID_ARGUMENT, and on error leaves the
//    batch it appends to exactly as it was;
//  - ParseWireRows returns the same status, and its rows put through
//    MutationBatch::Upsert/Delete give the same bytes (the wire decoder
//    writes the table encoding directly, so the two paths must agree);
//  - a decoded batch re-encoded with AppendWireRowFromEntry decodes again to
//    identical bytes.
// Small limits put the max_rows and max_value_bytes checks within reach.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/wire_rows.h"
#include "table/mutation_batch.h"
#include "tests/fuzz/fuzz_row_schema.h"

namespace {

namespace dt = deltasidecar::table;
namespace ds = deltasidecar::sidecar;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_wire_rows: %s\n", what);
  std::abort();
}

bool SameBatch(const dt::MutationBatch& a, const dt::MutationBatch& b) {
  if (a.size() != b.size() || a.ByteSize() != b.ByteSize()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.key(i) != b.key(i) || a.value(i) != b.value(i)) return false;
  }
  return std::string_view(a.data(), a.ByteSize()) == std::string_view(b.data(), b.ByteSize());
}

// A batch already holding one entry, as when a stream appends to a batch.
dt::MutationBatch StartedBatch() {
  dt::MutationBatch batch;
  batch.Add("sentinel-key", dt::DeleteValue());
  return batch;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const dt::TableSchema& schema = deltasidecar::fuzz::RowFuzzSchema();
  const uint32_t row_count = data[0];
  std::string_view rows(reinterpret_cast<const char*>(data + 1), size - 1);
  ds::WireLimits limits;
  limits.max_rows = 250;
  limits.max_value_bytes = 300;

  dt::MutationBatch batch = StartedBatch();
  absl::Status s = ds::DecodeWireRows(schema, rows, row_count, limits, &batch);
  if (!s.ok() && !absl::IsInvalidArgument(s)) {
    std::fprintf(stderr, "DecodeWireRows: unexpected status %s\n", s.ToString().c_str());
    std::abort();
  }

  std::vector<std::pair<dt::RowOp, dt::Row>> parsed;
  absl::Status p = ds::ParseWireRows(schema, rows, row_count, limits, &parsed);
  if (p != s) {
    std::fprintf(stderr, "ParseWireRows: %s\nDecodeWireRows: %s\n", p.ToString().c_str(),
                 s.ToString().c_str());
    std::abort();
  }
  if (!s.ok()) {
    if (!SameBatch(batch, StartedBatch())) Fail("DecodeWireRows changed the batch on error");
    if (!parsed.empty()) Fail("ParseWireRows appended rows on error");
    return 0;
  }
  if (batch.size() != 1 + row_count || parsed.size() != row_count) Fail("wrong row count");

  dt::MutationBatch via_rows = StartedBatch();
  for (const auto& [op, row] : parsed) {
    if (op == dt::RowOp::kUpsert) {
      via_rows.Upsert(schema, row);
    } else {
      via_rows.Delete(schema, row);
    }
  }
  if (!SameBatch(batch, via_rows)) Fail("DecodeWireRows and ParseWireRows+Upsert disagree");

  std::string again_wire;
  for (size_t i = 1; i < batch.size(); ++i) {
    absl::Status e = ds::AppendWireRowFromEntry(schema, batch.key(i), batch.value(i), &again_wire);
    if (!e.ok()) {
      std::fprintf(stderr, "AppendWireRowFromEntry: %s\n", e.ToString().c_str());
      std::abort();
    }
  }
  dt::MutationBatch again = StartedBatch();
  absl::Status a = ds::DecodeWireRows(schema, again_wire, row_count, limits, &again);
  if (!a.ok()) {
    std::fprintf(stderr, "re-encoded rows do not decode: %s\n", a.ToString().c_str());
    std::abort();
  }
  if (!SameBatch(batch, again)) Fail("re-encoded rows decode to different bytes");
  return 0;
}
