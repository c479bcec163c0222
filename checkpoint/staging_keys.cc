#include "checkpoint/staging_keys.h"

#include <limits>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/snapshot.h"
#include "table/base/status_macros.h"

namespace deltasidecar::checkpoint {

// Big-endian with the sign bit flipped: bytewise order equals numeric order.
void PutOrderedId(std::string* out, int64_t id) {
  PutBigEndian<uint64_t>(static_cast<uint64_t>(id) ^ (uint64_t{1} << 63), out);
}
int64_t GetOrderedId(const char* p) {
  return static_cast<int64_t>(GetBigEndian<uint64_t>(p) ^ (uint64_t{1} << 63));
}


// Key layout (see the header). `w` is the encoded writer: table '\0' writer_id.
// Marks a writer whose staged data may have been lost to a salvage (see
// OpenDbLocked); deleted when the writer registers again.
std::string LostKey(std::string_view w) {
  std::string k("x\0", 2);
  k.append(w);
  return k;
}

std::string RegistryKey(std::string_view w) {
  std::string k("r\0", 2);
  k.append(w);
  return k;
}
std::string TagPrefix(char tag, std::string_view w) {
  std::string k;
  k.reserve(w.size() + 3 + 16);
  k.push_back(tag);
  k.push_back('\0');
  k.append(w);
  k.push_back('\0');
  return k;
}
std::string TagPrefixEnd(char tag, std::string_view w) {
  std::string k = TagPrefix(tag, w);
  k.back() = '\x01';
  return k;
}
std::string DataBaseBegin(std::string_view w, int64_t base) {
  std::string k = TagPrefix('d', w);
  PutOrderedId(&k, base);
  return k;
}
std::string DataBaseEnd(std::string_view w, int64_t base) {
  if (base == std::numeric_limits<int64_t>::max()) return TagPrefixEnd('d', w);
  return DataBaseBegin(w, base + 1);
}
std::string DataKey(std::string_view w, int64_t base, uint64_t seq) {
  std::string k = DataBaseBegin(w, base);
  PutBigEndian<uint64_t>(seq, &k);
  return k;
}
std::string SealKey(std::string_view w, int64_t id) {
  std::string k = TagPrefix('s', w);
  PutOrderedId(&k, id);
  return k;
}
// First seal key above checkpoint `id`.
std::string SealKeyAfter(std::string_view w, int64_t id) {
  if (id == std::numeric_limits<int64_t>::max()) return TagPrefixEnd('s', w);
  return SealKey(w, id + 1);
}

// Marks a writer whose open (unsealed) batches were lost because the store
// was not closed cleanly (see OpenDbLocked); deleted when it registers again.
std::string UnsealedLostKey(std::string_view w) {
  std::string k("u\0", 2);
  k.append(w);
  return k;
}

// Present only between a clean close and the next open.
std::string CleanCloseKey() { return std::string("c\0clean-close", 13); }

// Marks a writer that has staged batches since its last seal, registration
// or abort of them (written, synced, before the first such batch is staged);
// after a crash only the writers marked so lost anything.
std::string OpenMarkKey(std::string_view w) {
  std::string k("o\0", 2);
  k.append(w);
  return k;
}
// Present once a store keeps open marks; a store without it (written by an
// earlier build) may have lost any registered writer's open batches.
std::string OpenMarksKeptKey() { return std::string("c\0open-marks", 13); }

// The column family holding the batches a writer staged under one base:
// "d:" hex(table '\0' writer_id) ":" base ":" n. The number n makes each
// name unique, so a family can be dropped while a new one for the same base
// is being written (see Impl::DropDataCfs).
std::string DataCfName(std::string_view w, int64_t base, uint64_t n) {
  return Cat("d:", absl::BytesToHexString(ToSlice(w).ToString()), ":", base, ":", n);
}
bool ParseDataCfName(std::string_view name, std::string* w, int64_t* base, uint64_t* n) {
  if (name.substr(0, 2) != "d:") return false;
  std::vector<std::string> parts = absl::StrSplit(std::string(name.substr(2)), ':');
  if (parts.size() != 3 || parts[0].size() % 2 != 0 ||
      parts[0].find_first_not_of("0123456789abcdef") != std::string::npos) {
    return false;
  }
  *w = absl::HexStringToBytes(parts[0]);
  return absl::SimpleAtoi(parts[1], base) && absl::SimpleAtoi(parts[2], n);
}

absl::StatusOr<std::string> EncodeWriter(const WriterKey& w) {
  if (w.table.empty() || w.table.size() > kMaxTableNameBytes ||
      w.table.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        Cat("table name must be 1-", kMaxTableNameBytes, " bytes without NUL"));
  }
  RETURN_IF_ERROR(table::ValidateWriterId(w.writer_id));
  std::string out = w.table;
  out.push_back('\0');
  out.append(w.writer_id);
  return out;
}

}  // namespace deltasidecar::checkpoint
