// The staging store's stored records and their checksums: what a registry
// record, a seal record and a staged batch's value hold, byte for byte. Used
// by StagingStore (checkpoint/staging_store.cc) only; the formats are
// described here so that a dump of the store can be read.
//
// Value encodings (all integers little-endian unless noted):
//
//   registry record  u8 version=1, i64 epoch, i64 incarnation, i64 last_sealed
//                    (-1 none), i64 last_committed (-1 none), u64 next_batch_seq,
//                    u64 open_rows, u64 open_batches, u64 open_checksum,
//                    u64 XXH3-64 of all preceding bytes
//   seal record      u8 version=1, i64 base, u64 first_seq, u64 batches, u64 rows,
//                    u64 checksum, i64 epoch, u64 XXH3-64 of all preceding bytes
//   staged batch     payload, u32 rows, u64 batch checksum
//
// Checksums. A batch's checksum is
//   c = XXH3_64bits_withSeed(le32(rows), XXH3_64bits_withSeed(payload, seq))
// so a value that is damaged, has the wrong row count, or sits under another
// sequence number fails. A checkpoint's checksum chains its batches in order:
//   h_0 = 0,  h_i = XXH3_64bits_withSeed(le64(c_i), h_{i-1})
// which covers every payload (through c_i) and their order without hashing the
// payloads twice. The registry keeps the running h of the open batches; Seal
// copies it into the seal record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "checkpoint/staging_store.h"

namespace deltasidecar::checkpoint {

inline constexpr uint8_t kRecordVersion = 1;
inline constexpr size_t kRegistryBytes = 1 + 8 * 8 + 8;
inline constexpr size_t kSealBytes = 1 + 6 * 8 + 8;
inline constexpr size_t kBatchTrailerBytes = 4 + 8;

// A batch's checksum c (above) and the chain h_i of a checkpoint's batches.
uint64_t BatchChecksum(std::string_view payload, uint32_t rows, uint64_t seq);
uint64_t ChainChecksum(uint64_t prev, uint64_t batch_checksum);

// A staged batch's value: the payload, then a trailer of u32 rows and the
// u64 batch checksum.
struct BatchValue {
  std::string_view payload;
  uint32_t rows = 0;
  uint64_t checksum = 0;
};
// nullopt when the value is shorter than its trailer.
std::optional<BatchValue> ParseBatchValue(std::string_view value);

// Follows one checkpoint's batches in sequence order, checking each against
// its stored checksum, and sums them for the comparison with the seal (or
// with the open-batch counters a registry record keeps).
class BatchChain {
 public:
  explicit BatchChain(uint64_t first_seq) : next_seq_(first_seq) {}

  // Takes the batch stored under `seq` with `value`. DATA_LOSS naming `what`
  // (e.g. "checkpoint 7 of writer w of table t") when the sequence skips or
  // repeats, there are more than `max_batches`, the value is truncated or its
  // checksum is wrong; on success `*batch` is the parsed value.
  absl::Status Add(uint64_t seq, std::string_view value, uint64_t max_batches,
                   std::string_view what, BatchValue* batch);
  // True when the batches taken are exactly `batches`, `rows` and `checksum`.
  bool Matches(uint64_t batches, uint64_t rows, uint64_t checksum) const {
    return batches_ == batches && rows_ == rows && chain_ == checksum;
  }

  uint64_t batches() const { return batches_; }
  uint64_t rows() const { return rows_; }
  uint64_t checksum() const { return chain_; }
  uint64_t next_seq() const { return next_seq_; }

 private:
  uint64_t next_seq_;
  uint64_t batches_ = 0;
  uint64_t rows_ = 0;
  uint64_t chain_ = 0;
};

struct RegistryRecord {
  int64_t epoch = 0;
  int64_t incarnation = 0;
  int64_t last_sealed = -1;
  int64_t last_committed = -1;
  uint64_t next_batch_seq = 0;
  uint64_t open_rows = 0;
  uint64_t open_batches = 0;
  uint64_t open_checksum = 0;
};
std::string EncodeRegistry(const RegistryRecord& r);
// DATA_LOSS naming the writer when the record is damaged.
absl::StatusOr<RegistryRecord> DecodeRegistry(std::string_view v, const WriterKey& w);

struct SealRecord {
  int64_t base = -1;
  uint64_t first_seq = 0;
  uint64_t batches = 0;
  uint64_t rows = 0;
  uint64_t checksum = 0;
  int64_t epoch = 0;
};
std::string EncodeSeal(const SealRecord& s);
// DATA_LOSS naming the writer and checkpoint when the record is damaged.
absl::StatusOr<SealRecord> DecodeSeal(std::string_view v, const WriterKey& w, int64_t id);
// The sealed checkpoint `id` a seal record describes (identity left empty).
SealedCheckpoint ToSealed(int64_t id, const SealRecord& s);

// "writer W of table T", for messages.
std::string Describe(const WriterKey& w);

}  // namespace deltasidecar::checkpoint
