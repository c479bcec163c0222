// The deterministic source of delta-loadgen: W writers, each owning the keys
// with id % W == w (the upstream shuffle by key that the docs require), each
// generating its operations from a PRNG seeded by (seed, w). The content of
// op i is a pure function of (seed, w, i), so the final table is known in
// advance and a replay from a SourcePosition reproduces the same ops.
//
// Workload is immutable after construction; its const methods are
// thread-safe. A SourcePosition belongs to one writer's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "table/row.h"
#include "table/schema.h"
#include "tools/loadgen/options.h"

namespace deltasidecar::loadgen {

// Where a writer's source stands: everything needed to replay from here.
struct SourcePosition {
  uint64_t next_op = 0;    // ops produced so far
  uint64_t allocated = 0;  // keys handed out so far (slots 0..allocated-1)
  uint64_t rng = 0;        // splitmix64 state
  uint64_t bytes = 0;      // packed bytes of the ops produced so far
};

struct Op {
  bool is_delete = false;
  int64_t id = 0;
  uint64_t index = 0;  // op number within the writer
};

class Workload {
 public:
  // `schema` is the table's (kSchema, kPrimaryKey); rows are packed for it.
  Workload(const Options& o, const table::TableSchema& schema);

  const Options& options() const { return o_; }
  uint64_t ops(int w) const { return ops_[w]; }        // ops writer w produces in all
  uint64_t keys(int w) const { return keys_[w]; }      // key slots of writer w
  size_t payload_len() const { return payload_len_; }  // bytes of every upsert's payload

  // The position of writer w before its first op.
  SourcePosition Start(int w) const;

  // Produces op p->next_op of writer w and advances the position (without
  // counting bytes; AppendOps does that).
  Op Next(int w, SourcePosition* p) const;

  // Produces the next `n` ops of writer w, appends their packed rows to `out`
  // with the server's own encoder (sidecar::AppendWireRow), and advances the
  // position, bytes included.
  void AppendOps(int w, uint64_t n, SourcePosition* p, std::string* out) const;

  // The row an op writes: all columns of an upsert, only the key of a delete.
  table::Row RowOf(int w, const Op& op) const;


 private:
  // Sets the columns of `row` that `op` writes, reusing its payload buffer.
  void FillRow(int w, const Op& op, table::Row* row) const;
  static uint64_t NextRandom(uint64_t* state);
  size_t PayloadOffset(uint64_t h) const { return h % (payload_text_.size() - payload_len_ + 1); }

  const Options o_;
  const table::TableSchema schema_;
  size_t payload_len_ = 0;
  std::string payload_text_;
  std::vector<uint64_t> ops_;   // per writer
  std::vector<uint64_t> keys_;  // key slots per writer
};

}  // namespace deltasidecar::loadgen
