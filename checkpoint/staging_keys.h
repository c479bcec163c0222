// The staging store's key layout and column-family names (the grammar is in
// checkpoint/staging_store.h). `w` is always the encoded writer,
// table '\0' writer_id (EncodeWriter). Used by StagingStore only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "checkpoint/staging_store.h"
#include "rocksdb/slice.h"

namespace deltasidecar::checkpoint {

inline constexpr size_t kMaxTableNameBytes = 1024;

// table '\0' writer_id; INVALID_ARGUMENT for a bad table name or writer id.
absl::StatusOr<std::string> EncodeWriter(const WriterKey& w);

// Big-endian with the sign bit flipped: bytewise order equals numeric order.
void PutOrderedId(std::string* out, int64_t id);
int64_t GetOrderedId(const char* p);

inline rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
inline std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// State DB keys.
std::string RegistryKey(std::string_view w);                  // r\0<w>
std::string SealKey(std::string_view w, int64_t id);          // s\0<w>\0<id:8>
std::string SealKeyAfter(std::string_view w, int64_t id);     // first seal key above `id`
// Marks a writer whose staged data may have been lost to a salvage;
// deleted when the writer registers again.
std::string LostKey(std::string_view w);                      // x\0<w>
// Marks a writer whose open (unsealed) batches were lost because the store
// was not closed cleanly; deleted when it registers again.
std::string UnsealedLostKey(std::string_view w);              // u\0<w>
// Marks a writer that has staged batches since its last seal, registration
// or abort of them (written, synced, before the first such batch is staged);
// after a crash only the writers marked so lost anything.
std::string OpenMarkKey(std::string_view w);                  // o\0<w>
// Present only between a clean close and the next open.
std::string CleanCloseKey();
// Present once a store keeps open marks; a store without it (written by an
// earlier build) may have lost any registered writer's open batches.
std::string OpenMarksKeptKey();
// <tag>\0<w>\0 and the first key after every key with that prefix.
std::string TagPrefix(char tag, std::string_view w);
std::string TagPrefixEnd(char tag, std::string_view w);

// Batch DB keys: d\0<w>\0<base:8><seq:8>.
std::string DataBaseBegin(std::string_view w, int64_t base);
std::string DataBaseEnd(std::string_view w, int64_t base);
std::string DataKey(std::string_view w, int64_t base, uint64_t seq);

// The column family holding the batches a writer staged under one base:
// "d:" hex(w) ":" base ":" n. The number n makes each name unique, so a
// family can be dropped while a new one for the same base is being written.
std::string DataCfName(std::string_view w, int64_t base, uint64_t n);
bool ParseDataCfName(std::string_view name, std::string* w, int64_t* base, uint64_t* n);

}  // namespace deltasidecar::checkpoint
