#include "checkpoint/staging_records.h"

#include <xxhash.h>

#include <initializer_list>

#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"

namespace deltasidecar::checkpoint {
namespace {

// Registry and seal records share one framing: the version byte, the fields
// as little-endian 64-bit integers, and an XXH3-64 of everything before it.
std::string FrameRecord(std::initializer_list<uint64_t> fields) {
  std::string out;
  out.reserve(1 + 8 * fields.size() + 8);
  out.push_back(static_cast<char>(kRecordVersion));
  for (uint64_t f : fields) PutLittleEndian<uint64_t>(f, &out);
  PutLittleEndian<uint64_t>(XXH3_64bits(out.data(), out.size()), &out);
  return out;
}

// Whether `v` is a record of `size` bytes in that framing, with a good checksum.
bool IsFramedRecord(std::string_view v, size_t size) {
  return v.size() == size && static_cast<uint8_t>(v[0]) == kRecordVersion &&
         GetLittleEndian<uint64_t>(v.data() + v.size() - 8) == XXH3_64bits(v.data(), v.size() - 8);
}

}  // namespace

uint64_t BatchChecksum(std::string_view payload, uint32_t rows, uint64_t seq) {
  char r[4];
  StoreLittleEndian<uint32_t>(rows, r);
  return XXH3_64bits_withSeed(r, sizeof(r),
                              XXH3_64bits_withSeed(payload.data(), payload.size(), seq));
}
std::optional<BatchValue> ParseBatchValue(std::string_view value) {
  if (value.size() < kBatchTrailerBytes) return std::nullopt;
  BatchValue b;
  b.payload = value.substr(0, value.size() - kBatchTrailerBytes);
  b.rows = GetLittleEndian<uint32_t>(value.data() + b.payload.size());
  b.checksum = GetLittleEndian<uint64_t>(value.data() + b.payload.size() + 4);
  return b;
}

uint64_t ChainChecksum(uint64_t prev, uint64_t batch_checksum) {
  char c[8];
  StoreLittleEndian<uint64_t>(batch_checksum, c);
  return XXH3_64bits_withSeed(c, sizeof(c), prev);
}

absl::Status BatchChain::Add(uint64_t seq, std::string_view value, uint64_t max_batches,
                             std::string_view what, BatchValue* batch) {
  if (seq != next_seq_ || batches_ >= max_batches) {
    if (seq > next_seq_ && batches_ < max_batches) {
      return absl::DataLossError(Cat(what, ": batch seq ", next_seq_, " is missing"));
    }
    return absl::DataLossError(Cat(what, ": unexpected batch seq ", seq));
  }
  std::optional<BatchValue> parsed = ParseBatchValue(value);
  if (!parsed) return absl::DataLossError(Cat(what, ", batch seq ", seq, ": value is truncated"));
  const uint64_t actual = BatchChecksum(parsed->payload, parsed->rows, seq);
  if (parsed->checksum != actual) {
    return absl::DataLossError(Cat(what, ", batch seq ", seq, ": checksum mismatch"));
  }
  chain_ = ChainChecksum(chain_, actual);
  rows_ += parsed->rows;
  ++batches_;
  ++next_seq_;
  *batch = *parsed;
  return absl::OkStatus();
}

std::string Describe(const WriterKey& w) {
  return Cat("writer ", w.writer_id, " of table ", w.table);
}



std::string EncodeRegistry(const RegistryRecord& r) {
  return FrameRecord({static_cast<uint64_t>(r.epoch), static_cast<uint64_t>(r.incarnation),
                      static_cast<uint64_t>(r.last_sealed), static_cast<uint64_t>(r.last_committed),
                      r.next_batch_seq, r.open_rows, r.open_batches, r.open_checksum});
}

absl::StatusOr<RegistryRecord> DecodeRegistry(std::string_view v, const WriterKey& w) {
  if (!IsFramedRecord(v, kRegistryBytes)) {
    return absl::DataLossError(Cat("registry record of ", Describe(w), " is corrupt"));
  }
  const char* p = v.data() + 1;
  RegistryRecord r;
  r.epoch = static_cast<int64_t>(GetLittleEndian<uint64_t>(p));
  r.incarnation = static_cast<int64_t>(GetLittleEndian<uint64_t>(p + 8));
  r.last_sealed = static_cast<int64_t>(GetLittleEndian<uint64_t>(p + 16));
  r.last_committed = static_cast<int64_t>(GetLittleEndian<uint64_t>(p + 24));
  r.next_batch_seq = GetLittleEndian<uint64_t>(p + 32);
  r.open_rows = GetLittleEndian<uint64_t>(p + 40);
  r.open_batches = GetLittleEndian<uint64_t>(p + 48);
  r.open_checksum = GetLittleEndian<uint64_t>(p + 56);
  return r;
}


std::string EncodeSeal(const SealRecord& s) {
  return FrameRecord({static_cast<uint64_t>(s.base), s.first_seq, s.batches, s.rows, s.checksum,
                      static_cast<uint64_t>(s.epoch)});
}

absl::StatusOr<SealRecord> DecodeSeal(std::string_view v, const WriterKey& w, int64_t id) {
  if (!IsFramedRecord(v, kSealBytes)) {
    return absl::DataLossError(
        Cat("seal record of checkpoint ", id, " of ", Describe(w), " is corrupt"));
  }
  const char* p = v.data() + 1;
  SealRecord s;
  s.base = static_cast<int64_t>(GetLittleEndian<uint64_t>(p));
  s.first_seq = GetLittleEndian<uint64_t>(p + 8);
  s.batches = GetLittleEndian<uint64_t>(p + 16);
  s.rows = GetLittleEndian<uint64_t>(p + 24);
  s.checksum = GetLittleEndian<uint64_t>(p + 32);
  s.epoch = static_cast<int64_t>(GetLittleEndian<uint64_t>(p + 40));
  return s;
}

SealedCheckpoint ToSealed(int64_t id, const SealRecord& s) {
  SealedCheckpoint c;
  c.checkpoint_id = id;
  c.epoch = s.epoch;
  c.rows = s.rows;
  c.batches = s.batches;
  c.checksum = s.checksum;
  return c;
}
}  // namespace deltasidecar::checkpoint
