#include "tools/loadgen/workload.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <variant>

#include "sidecar/wire_rows.h"
#include "table/base/byte_order.h"

namespace deltasidecar::loadgen {
namespace {

namespace dt = deltasidecar::table;

// Packed bytes of an upsert before its payload's length and bytes (op, null
// bitmap, id, writer, seq, amount), measured with the encoder itself.
size_t FixedUpsertBytes(const dt::TableSchema& schema) {
  std::string probe;
  sidecar::AppendWireRow(schema, dt::RowOp::kUpsert,
                         dt::Row{int64_t{0}, int64_t{0}, int64_t{0}, 0.0, std::string()}, &probe);
  return probe.size() - VarintSize(0);
}

// The splitmix64 finalizer.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The content hash of op `index` of writer `w`.
uint64_t OpHash(uint64_t seed, int w, uint64_t index) {
  return Mix64(Mix64(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(w) + 1) ^
               (index * 0xd1b54a32d192ed03ull));
}

double Amount(uint64_t h) { return static_cast<double>((h >> 17) % 100'000'000) / 100.0; }

}  // namespace

Workload::Workload(const Options& o, const dt::TableSchema& schema) : o_(o), schema_(schema) {
  // Payload length so that the packed upsert is about row_bytes.
  const size_t fixed = FixedUpsertBytes(schema);
  size_t len = 0;
  if (o.row_bytes > fixed + 1) {
    len = o.row_bytes - fixed - 1;
    while (len > 0 && fixed + VarintSize(len) + len > o.row_bytes) --len;
  }
  payload_len_ = len;
  // Payload bytes are windows into one random lowercase text.
  payload_text_.resize(std::max<size_t>(65536, 2 * len + 1));
  uint64_t s = Mix64(o.seed ^ 0x5eed);
  for (char& c : payload_text_) {
    s = Mix64(s + 0x9e3779b97f4a7c15ull);
    c = static_cast<char>('a' + s % 26);
  }
  ops_.resize(o.writers);
  keys_.resize(o.writers);
  for (int w = 0; w < o.writers; ++w) {
    ops_[w] = o.rows / o.writers + (static_cast<uint64_t>(w) < o.rows % o.writers ? 1 : 0);
    keys_[w] =
        o.key_space > static_cast<uint64_t>(w) ? (o.key_space - w + o.writers - 1) / o.writers : 0;
  }
}

SourcePosition Workload::Start(int w) const {
  SourcePosition p;
  p.rng =
      Mix64(o_.seed * 0x2545f4914f6cdd1dull + static_cast<uint64_t>(w) * 0x9e3779b97f4a7c15ull + 7);
  return p;
}

uint64_t Workload::NextRandom(uint64_t* state) {
  *state += 0x9e3779b97f4a7c15ull;
  return Mix64(*state);
}

Op Workload::Next(int w, SourcePosition* p) const {
  double u = static_cast<double>(NextRandom(&p->rng) >> 11) * 0x1.0p-53;
  uint64_t r = NextRandom(&p->rng);
  Op op;
  op.index = p->next_op++;
  uint64_t slot;
  if (p->allocated > 0 && u < o_.delete_ratio) {
    op.is_delete = true;
    slot = r % p->allocated;
  } else if (p->allocated > 0 &&
             (u < o_.delete_ratio + o_.update_ratio || p->allocated == keys_[w])) {
    slot = r % p->allocated;
  } else {
    slot = p->allocated++;
  }
  op.id = static_cast<int64_t>(static_cast<uint64_t>(w) + slot * o_.writers);
  return op;
}

void Workload::AppendOps(int w, uint64_t n, SourcePosition* p, std::string* out) const {
  const size_t size_before = out->size();
  dt::Row row(schema_.columns().size());  // one per batch, not per op
  for (uint64_t i = 0; i < n; ++i) {
    Op op = Next(w, p);
    FillRow(w, op, &row);
    sidecar::AppendWireRow(schema_, op.is_delete ? dt::RowOp::kDelete : dt::RowOp::kUpsert, row,
                           out);
  }
  p->bytes += out->size() - size_before;
}

void Workload::FillRow(int w, const Op& op, dt::Row* row) const {
  dt::Row& r = *row;
  r[0] = op.id;
  if (op.is_delete) return;  // a delete carries only its key
  uint64_t h = OpHash(o_.seed, w, op.index);
  r[1] = int64_t{w};
  r[2] = static_cast<int64_t>(op.index);
  r[3] = Amount(h);
  std::string_view payload(payload_text_.data() + PayloadOffset(h), payload_len_);
  if (auto* s = std::get_if<std::string>(&r[4])) {
    s->assign(payload);
  } else {
    r[4] = std::string(payload);
  }
}

dt::Row Workload::RowOf(int w, const Op& op) const {
  dt::Row row(schema_.columns().size());
  FillRow(w, op, &row);
  return row;
}

}  // namespace deltasidecar::loadgen
