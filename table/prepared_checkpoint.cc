#include "table/prepared_checkpoint.h"

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/snapshot_json.h"
#include "table/table_layout.h"
#include "xxhash.h"

namespace deltasidecar::table {
namespace {

using json = nlohmann::json;
constexpr char kPreparedDir[] = "prepared";
constexpr std::string_view kPreparedMagic = "DPREP1";
// 2: files may be multi-bucket files (docs/table-format.md §4.2).
constexpr int64_t kPreparedFormat = 2;
// A prepared checkpoint lists each file once; 64 MiB holds millions of them.
constexpr uint64_t kMaxPreparedBytes = 64ull << 20;

std::string ChecksumHex(uint64_t checksum) { return fmt::format("{:016x}", checksum); }

absl::StatusOr<uint64_t> ParseChecksumHex(std::string_view hex, std::string_view what) {
  uint64_t v = 0;
  if (hex.size() != 16 || !absl::SimpleHexAtoi(AV(hex), &v)) {
    return absl::DataLossError(Cat(what, ": checksum '", hex, "' is not 16 hex digits"));
  }
  return v;
}

}  // namespace

std::string PreparedIdentityHash(std::string_view identity) {
  const XXH128_hash_t h = XXH3_128bits(identity.data(), identity.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

std::string PreparedFileName(std::string_view identity, int64_t checkpoint_id, uint64_t checksum) {
  return fmt::format("{}-{:020d}-{}", PreparedIdentityHash(identity), checkpoint_id,
                     ChecksumHex(checksum));
}

std::optional<PreparedFileId> ParsePreparedFileName(std::string_view name) {
  // <32 hex>-<20 digits>-<16 hex>
  constexpr size_t kHash = 32, kCheckpoint = 20, kChecksum = 16;
  if (name.size() != kHash + 1 + kCheckpoint + 1 + kChecksum || name[kHash] != '-' ||
      name[kHash + 1 + kCheckpoint] != '-') {
    return std::nullopt;
  }
  const std::string_view hash = name.substr(0, kHash);
  const std::string_view checkpoint = name.substr(kHash + 1, kCheckpoint);
  PreparedFileId id{std::string(name), std::string(hash), 0, 0};
  const bool hex_hash = hash.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  const bool digits = checkpoint.find_first_not_of("0123456789") == std::string_view::npos;
  auto checksum = ParseChecksumHex(name.substr(kHash + 1 + kCheckpoint + 1), name);
  if (!hex_hash || !digits || !checksum.ok() ||
      !absl::SimpleAtoi(AV(checkpoint), &id.checkpoint_id)) {
    return std::nullopt;
  }
  id.checksum = *checksum;
  return id;
}

std::string EncodePrepared(const PreparedCheckpoint& p) {
  json parts = json::array();
  for (const PreparedPart& part : p.parts) {
    std::vector<ManifestAdd> adds;
    adds.reserve(part.files.size());
    for (const DataFileMeta& f : part.files) adds.push_back({f, std::nullopt});
    json files = FileAdditionsToJson(adds);
    parts.push_back({{"checkpoint", part.checkpoint_id},
                     {"rows", part.digest.rows},
                     {"checksum", ChecksumHex(part.digest.checksum)},
                     {"files", std::move(files)}});
  }
  json j = {{"format", kPreparedFormat},
            {"identity", p.identity},
            {"writer", p.writer_id},
            {"incarnation", p.incarnation},
            {"owner", p.owner},
            {"time_ms", p.time_ms},
            {"parts", std::move(parts)}};
  return FrameChecksummed(kPreparedMagic, j.dump() + "\n");
}

absl::StatusOr<PreparedCheckpoint> DecodePrepared(std::string_view contents, std::string_view what,
                                                  int buckets) {
  ASSIGN_OR_RETURN(std::string_view body, UnframeChecksummed(kPreparedMagic, contents, what));
  PreparedCheckpoint p;
  try {
    const json j = json::parse(body);
    const int64_t format = JsonInt(j.at("format"));
    if (format < 1 || format > kPreparedFormat) {
      return absl::FailedPreconditionError(
          Cat(what, ": unsupported prepared checkpoint format ", j.at("format").dump()));
    }
    p.identity = j.at("identity").get<std::string>();
    p.writer_id = j.at("writer").get<std::string>();
    p.incarnation = JsonInt(j.at("incarnation"));
    p.owner = j.at("owner").get<std::string>();
    p.time_ms = JsonInt(j.at("time_ms"));
    for (const json& jp : j.at("parts")) {
      PreparedPart part;
      part.checkpoint_id = JsonInt(jp.at("checkpoint"));
      part.digest.rows = JsonCount(jp.at("rows"));
      ASSIGN_OR_RETURN(part.digest.checksum,
                       ParseChecksumHex(jp.at("checksum").get<std::string>(), what));
      std::vector<ManifestAdd> adds;
      FileAdditionsFromJson(jp.at("files"), buckets, &adds);
      for (ManifestAdd& a : adds) {
        if (!a.Appended()) throw std::runtime_error("a prepared file has a 'before' or 'first'");
        part.files.push_back(std::move(a.file));
      }
      if (!p.parts.empty() && part.checkpoint_id <= p.parts.back().checkpoint_id) {
        return absl::DataLossError(Cat(what, ": checkpoint ids are not ascending"));
      }
      p.parts.push_back(std::move(part));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
  if (p.parts.empty()) return absl::DataLossError(Cat(what, " names no checkpoint"));
  if (absl::Status v = ValidateWriterId(p.identity); !v.ok()) {
    return absl::DataLossError(Cat(what, ": ", v.message()));
  }
  return p;
}

PreparedCheckpoints::PreparedCheckpoints(rocksdb::FileSystem* fs, std::string table_dir,
                                         int buckets)
    : fs_(fs), dir_(JoinPath(table_dir, kPreparedDir)), buckets_(buckets) {}

absl::StatusOr<PreparedCheckpoint> PreparedCheckpoints::Load(const std::string& name) {
  const std::string path = JoinPath(dir_, name);
  ASSIGN_OR_RETURN(std::string contents, ReadWholeFile(fs_, path, kMaxPreparedBytes));
  ASSIGN_OR_RETURN(PreparedCheckpoint p, DecodePrepared(contents, path, buckets_));
  if (PreparedFileName(p.identity, p.newest().checkpoint_id, p.newest().digest.checksum) != name) {
    return absl::DataLossError(Cat(path, " holds checkpoint ", p.newest().checkpoint_id, " of '",
                                   p.identity, "', which its name does not match"));
  }
  return p;
}

absl::StatusOr<std::optional<PreparedCheckpoint>> PreparedCheckpoints::Find(
    std::string_view identity, int64_t checkpoint_id, uint64_t checksum) {
  const std::string name = PreparedFileName(identity, checkpoint_id, checksum);
  if (!FileExists(fs_, JoinPath(dir_, name))) return std::optional<PreparedCheckpoint>();
  auto p = Load(name);
  if (absl::IsNotFound(p.status())) return std::optional<PreparedCheckpoint>();  // swept meanwhile
  if (!p.ok()) return p.status();
  return std::optional<PreparedCheckpoint>(std::move(*p));
}

absl::StatusOr<std::vector<uint64_t>> PreparedCheckpoints::ChecksumsOf(std::string_view identity,
                                                                       int64_t checkpoint_id) {
  const std::string hash = PreparedIdentityHash(identity);
  ASSIGN_OR_RETURN(std::vector<PreparedFileId> files, List());
  std::vector<uint64_t> out;
  for (const PreparedFileId& f : files) {
    if (f.identity_hash == hash && f.checkpoint_id == checkpoint_id) out.push_back(f.checksum);
  }
  return out;
}

absl::StatusOr<std::vector<PreparedFileId>> PreparedCheckpoints::List() {
  auto names = ListDir(fs_, dir_);
  if (absl::IsNotFound(names.status())) return std::vector<PreparedFileId>();
  if (!names.ok()) return names.status();
  std::vector<PreparedFileId> out;
  for (const auto& n : *names) {
    // Temporary files of a Create in flight (or crashed) are not listed.
    if (auto id = ParsePreparedFileName(n)) out.push_back(*std::move(id));
  }
  return out;
}

absl::StatusOr<PreparedCheckpoint> PreparedCheckpoints::Create(const PreparedCheckpoint& p) {
  if (p.parts.empty()) return absl::InvalidArgumentError("a prepared checkpoint names no checkpoint");
  RETURN_IF_ERROR(CreateDirDurably(fs_, dir_));
  const std::string name =
      PreparedFileName(p.identity, p.newest().checkpoint_id, p.newest().digest.checksum);
  const std::string tmp = JoinPath(dir_, Cat(kTmpPrefix, RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs_, tmp, EncodePrepared(p)));
  absl::Status s = LinkNoReplace(fs_, tmp, JoinPath(dir_, name));
  RemoveFile(fs_, tmp).IgnoreError();
  if (absl::IsAlreadyExists(s)) return Load(name);
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(SyncDir(fs_, dir_));
  return p;
}

absl::Status PreparedCheckpoints::RemoveFrom(std::string_view identity, int64_t checkpoint_id) {
  const std::string hash = PreparedIdentityHash(identity);
  ASSIGN_OR_RETURN(std::vector<PreparedFileId> files, List());
  bool removed = false;
  for (const PreparedFileId& f : files) {
    if (f.identity_hash != hash || f.checkpoint_id < checkpoint_id) continue;
    RETURN_IF_ERROR(RemoveFile(fs_, JoinPath(dir_, f.name)));
    removed = true;
  }
  return removed ? SyncDir(fs_, dir_) : absl::OkStatus();
}

absl::Status PreparedCheckpoints::Remove(const std::string& name) {
  return RemoveFile(fs_, JoinPath(dir_, name));
}

}  // namespace deltasidecar::table
