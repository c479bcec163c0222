#include "table/compaction_lease.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string_view>
#include <utility>

#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/table_layout.h"

namespace deltasidecar::table {

namespace {

constexpr uint64_t kMaxLeaseBytes = 256;

// "<holder> <expiry, ms since the epoch>\n"
std::string LeaseText(const std::string& holder, absl::Time expires) {
  return Cat(holder, " ", absl::ToUnixMillis(expires), "\n");
}

// The holder and expiry a lease file names; nullopt for text no holder
// writes (it is treated as expired).
std::optional<std::pair<std::string, absl::Time>> ParseLease(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || !text.ends_with('\n')) return std::nullopt;
  const std::string_view expiry = text.substr(space + 1, text.size() - space - 2);
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), ms);
  if (ec != std::errc() || end != expiry.data() + expiry.size()) return std::nullopt;
  return std::make_pair(std::string(text.substr(0, space)), absl::FromUnixMillis(ms));
}

}  // namespace

absl::StatusOr<std::optional<CompactionLease>> CompactionLease::TryTake(
    std::shared_ptr<rocksdb::FileSystem> fs, const std::string& table_dir, std::string holder,
    absl::Duration ttl) {
  if (holder.empty()) holder = RandomId();
  if (holder.size() > 128 || std::any_of(holder.begin(), holder.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
      })) {
    return absl::InvalidArgumentError(Cat("'", holder, "' cannot hold a compaction lease"));
  }
  const std::string path = JoinPath(table_dir, kCompactionLeaseFile);
  const std::string tmp = JoinPath(table_dir, Cat(kTmpPrefix, RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs.get(), tmp, LeaseText(holder, absl::Now() + ttl)));
  absl::Status linked;
  for (int attempt = 0; attempt < 2; ++attempt) {
    linked = LinkNoReplace(fs.get(), tmp, path);
    if (!absl::IsAlreadyExists(linked)) break;
    // Held: by another live holder (give way), by one whose lease expired,
    // or by this holder before it restarted.
    absl::StatusOr<std::string> text = ReadWholeFile(fs.get(), path, kMaxLeaseBytes);
    if (absl::IsNotFound(text.status())) continue;  // released meanwhile
    if (text.ok()) {
      auto lease = ParseLease(*text);
      if (lease && lease->first != holder && lease->second > absl::Now()) break;
      // Expired: removed only if it is still the one read, then taken again.
      absl::StatusOr<std::string> again = ReadWholeFile(fs.get(), path, kMaxLeaseBytes);
      if (again.ok() && *again != *text) break;
    }
    RemoveFile(fs.get(), path).IgnoreError();
  }
  RemoveFile(fs.get(), tmp).IgnoreError();
  if (absl::IsAlreadyExists(linked)) return std::optional<CompactionLease>();
  RETURN_IF_ERROR(linked);
  return std::optional<CompactionLease>(CompactionLease(std::move(fs), path, holder));
}

CompactionLease::CompactionLease(CompactionLease&& other) noexcept
    : fs_(std::move(other.fs_)), path_(std::move(other.path_)), holder_(std::exchange(other.holder_, "")) {}

CompactionLease::~CompactionLease() {
  if (holder_.empty()) return;
  absl::StatusOr<std::string> text = ReadWholeFile(fs_.get(), path_, kMaxLeaseBytes);
  if (!text.ok()) return;
  auto lease = ParseLease(*text);
  if (lease && lease->first == holder_) RemoveFile(fs_.get(), path_).IgnoreError();
}

}  // namespace deltasidecar::table
