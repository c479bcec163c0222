#include "tools/loadgen/workload.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sidecar/wire_rows.h"
#include "table/schema.h"

namespace deltasidecar::loadgen {
namespace {

namespace dt = deltasidecar::table;

dt::TableSchema Schema() { return *dt::TableSchema::Parse(kSchema, kPrimaryKey, 16); }

Options MakeOptions(uint64_t seed, int writers, double update_ratio, double delete_ratio,
                    size_t row_bytes) {
  Options o;
  o.table = "t";
  o.rows = 1'000'000;
  o.key_space = o.rows / 2;
  o.seed = seed;
  o.writers = writers;
  o.update_ratio = update_ratio;
  o.delete_ratio = delete_ratio;
  o.row_bytes = row_bytes;
  return o;
}

uint64_t Fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

struct Digest {
  uint64_t bytes = 0;
  uint64_t hash = 0xcbf29ce484222325ull;
};

// The packed bytes every writer sends for its first `ops` ops, in batches of
// `batch` rows, hashed.
Digest SentBytes(const Workload& wl, uint64_t ops, uint64_t batch) {
  Digest d;
  for (int w = 0; w < wl.options().writers; ++w) {
    SourcePosition pos = wl.Start(w);
    std::string rows;
    uint64_t writer_bytes = 0;
    while (pos.next_op < ops) {
      rows.clear();
      wl.AppendOps(w, std::min(batch, ops - pos.next_op), &pos, &rows);
      d.hash = Fnv1a(rows, d.hash);
      writer_bytes += rows.size();
    }
    EXPECT_EQ(pos.bytes, writer_bytes);
    d.bytes += writer_bytes;
  }
  return d;
}

// The bytes on the wire are part of the benchmarks' and the crash tests'
// history: these digests were taken from the load generator's earlier,
// hand-rolled encoder (before it packed rows with sidecar::AppendWireRow),
// and must not change with the encoder behind it.
TEST(WorkloadTest, SendsTheSameBytesAsEver) {
  struct Case {
    Options options;
    uint64_t ops, batch;
    Digest expected;
  };
  const Case cases[] = {
      // The defaults with the seed of the loadgen integration test.
      {MakeOptions(7, 2, 0.3, 0.1, 100), 20'000, 5000, {3'632'724, 0x801c24a87d688dd5}},
      // Empty payloads (--row-bytes 31), many deletes, three writers.
      {MakeOptions(2024, 3, 0.3, 0.2, 31), 20'000, 2000, {1'592'304, 0x906a39ec28c7c248}},
      // Two-byte payload lengths, mostly updates.
      {MakeOptions(99, 4, 0.6, 0.1, 300), 5'000, 500, {5'431'968, 0xc73534b8e1473847}},
      // Three-byte payload lengths.
      {MakeOptions(5, 1, 0.3, 0.1, 20'000), 300, 100, {5'420'261, 0xe70415e39d0874f1}},
  };
  for (const Case& c : cases) {
    Workload wl(c.options, Schema());
    Digest d = SentBytes(wl, c.ops, c.batch);
    EXPECT_EQ(d.bytes, c.expected.bytes) << "seed " << c.options.seed;
    EXPECT_EQ(d.hash, c.expected.hash) << "seed " << c.options.seed << " hash 0x" << std::hex
                                       << d.hash;
  }
}

// What the sidecar decodes from the sent bytes is what the expected table
// (--expect) is built from.
TEST(WorkloadTest, SidecarDecodesTheRowsOfTheExpectedTable) {
  const dt::TableSchema schema = Schema();
  for (size_t row_bytes : {size_t{31}, size_t{100}, size_t{300}}) {
    Workload wl(MakeOptions(11, 3, 0.3, 0.2, row_bytes), schema);
    for (int w = 0; w < 3; ++w) {
      SourcePosition pos = wl.Start(w);
      SourcePosition replay = pos;
      std::string rows;
      wl.AppendOps(w, 3000, &pos, &rows);
      EXPECT_EQ(pos.bytes, rows.size());
      std::vector<std::pair<dt::RowOp, dt::Row>> decoded;
      ASSERT_TRUE(sidecar::ParseWireRows(schema, rows, 3000, sidecar::WireLimits(), &decoded).ok());
      int deletes = 0;
      for (const auto& [op_kind, row] : decoded) {
        Op op = wl.Next(w, &replay);
        ASSERT_EQ(op_kind, op.is_delete ? dt::RowOp::kDelete : dt::RowOp::kUpsert);
        EXPECT_EQ(row, wl.RowOf(w, op)) << "writer " << w << " op " << op.index;
        deletes += op.is_delete ? 1 : 0;
      }
      EXPECT_GT(deletes, 0);
    }
  }
}

TEST(WorkloadTest, UpsertsAreAboutRowBytes) {
  Workload wl(MakeOptions(7, 2, 0.3, 0.1, 100), Schema());
  EXPECT_EQ(wl.payload_len(), 100u - 31u);  // 30 fixed bytes, a 1-byte length
  Workload tiny(MakeOptions(7, 2, 0.3, 0.1, 31), Schema());
  EXPECT_EQ(tiny.payload_len(), 0u);
  Workload two_byte_length(MakeOptions(7, 2, 0.3, 0.1, 300), Schema());
  EXPECT_EQ(two_byte_length.payload_len(), 300u - 32u);
}

// A replay from a saved position sends exactly the bytes sent the first time.
TEST(WorkloadTest, ReplayFromAPositionRepeatsTheBytes) {
  Workload wl(MakeOptions(3, 2, 0.3, 0.1, 100), Schema());
  SourcePosition pos = wl.Start(1);
  std::string first, second;
  wl.AppendOps(1, 1000, &pos, &first);
  SourcePosition saved = pos;
  first.clear();
  wl.AppendOps(1, 1000, &pos, &first);
  wl.AppendOps(1, 1000, &saved, &second);
  EXPECT_EQ(first, second);
  EXPECT_EQ(pos.next_op, saved.next_op);
  EXPECT_EQ(pos.bytes, saved.bytes);
}

}  // namespace
}  // namespace deltasidecar::loadgen
