#include "tools/loadgen/workload.h"

#include <algorithm>
#include <cstring>

#include "sidecar/wire_rows.h"
#include "table/byte_order.h"

namespace deltasidecar::loadgen {
namespace {

namespace dt = deltasidecar::table;

// Bytes of an upsert before the payload: op, null bitmap, id, writer, seq, amount.
constexpr size_t kFixedUpsertBytes = 1 + 1 + 8 + 4 + 8 + 8;

// The content hash of op `index` of writer `w`.
uint64_t OpHash(uint64_t seed, int w, uint64_t index) {
  return Mix64(Mix64(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(w) + 1) ^
               (index * 0xd1b54a32d192ed03ull));
}

double Amount(uint64_t h) { return static_cast<double>((h >> 17) % 100'000'000) / 100.0; }

template <typename U>
char* PutLe(U v, char* p) {
  StoreLittleEndian(v, p);
  return p + sizeof(U);
}

}  // namespace

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Workload::Workload(const Options& o) : o_(o) {
  // Payload length so that the packed upsert is about row_bytes.
  size_t len = 0;
  if (o.row_bytes > kFixedUpsertBytes + 1) {
    len = o.row_bytes - kFixedUpsertBytes - 1;
    while (len > 0 && kFixedUpsertBytes + VarintSize(len) + len > o.row_bytes) --len;
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
  for (uint64_t i = 0; i < n; ++i) AppendPacked(w, Next(w, p), out);
  p->bytes += out->size() - size_before;
}

// Appends the packed row of `op` (sidecar/wire_rows.h) without building a Row.
void Workload::AppendPacked(int w, const Op& op, std::string* out) const {
  char buf[kFixedUpsertBytes + 10];
  char* p = buf;
  if (op.is_delete) {
    *p++ = static_cast<char>(dt::RowOp::kDelete);
    p = PutLe(static_cast<uint64_t>(op.id), p);
    out->append(buf, p - buf);
    return;
  }
  uint64_t h = OpHash(o_.seed, w, op.index);
  *p++ = static_cast<char>(dt::RowOp::kUpsert);
  *p++ = 0;  // null bitmap: no NULLs
  p = PutLe(static_cast<uint64_t>(op.id), p);
  p = PutLe(static_cast<uint32_t>(w), p);
  p = PutLe(uint64_t{op.index}, p);
  double amount = Amount(h);
  uint64_t bits;
  std::memcpy(&bits, &amount, 8);
  p = PutLe(bits, p);
  p = EncodeVarint(payload_len_, p);
  out->append(buf, p - buf);
  out->append(payload_text_.data() + PayloadOffset(h), payload_len_);
}

dt::Row Workload::RowOf(int w, const Op& op) const {
  uint64_t h = OpHash(o_.seed, w, op.index);
  dt::Row row(5);
  row[0] = op.id;
  if (op.is_delete) return row;
  row[1] = int64_t{w};
  row[2] = static_cast<int64_t>(op.index);
  row[3] = Amount(h);
  row[4] = std::string(payload_text_.data() + PayloadOffset(h), payload_len_);
  return row;
}

bool Workload::SelfCheckEncoding(const dt::TableSchema& schema) const {
  for (int w = 0; w < std::min(o_.writers, 2); ++w) {
    SourcePosition pos = Start(w);
    for (int i = 0; i < 64 && pos.next_op < ops(w); ++i) {
      Op op = Next(w, &pos);
      std::string mine, theirs;
      AppendPacked(w, op, &mine);
      sidecar::AppendWireRow(schema, op.is_delete ? dt::RowOp::kDelete : dt::RowOp::kUpsert,
                             RowOf(w, op), &theirs);
      if (mine != theirs) return false;
    }
  }
  return true;
}

}  // namespace deltasidecar::loadgen
