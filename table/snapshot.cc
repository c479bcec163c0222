#include "table/snapshot.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/manifest.h"
#include "table/schema.h"
#include "table/snapshot_json.h"

namespace deltasidecar::table {

namespace {
constexpr std::string_view kMagic = "DSNAP1";
constexpr std::string_view kPrefix = "snapshot-";
using json = nlohmann::json;

absl::StatusOr<SnapshotKind> KindFromName(std::string_view name) {
  if (name == "CREATE") return SnapshotKind::kCreate;
  if (name == "APPEND") return SnapshotKind::kAppend;
  if (name == "COMPACT") return SnapshotKind::kCompact;
  if (name == "ALTER") return SnapshotKind::kAlter;
  if (name == "DROP_PARTITION") return SnapshotKind::kDropPartition;
  return absl::DataLossError(Cat("unknown snapshot kind '", name, "'"));
}

std::string Unbase64(const std::string& s) {
  std::string out;
  if (!absl::Base64Unescape(s, &out)) throw std::runtime_error("bad base64 key");
  return out;
}


// Format 1: every bucket's files in the snapshot file itself.
absl::Status DecodeInlineBuckets(const json& jb, std::string_view what, int buckets, Snapshot* s) {
  if (buckets > 0 && static_cast<int>(jb.size()) != buckets) {
    return absl::DataLossError(Cat(what, " lists ", jb.size(), " buckets, the table has ", buckets));
  }
  s->buckets.resize(jb.size());
  for (size_t b = 0; b < jb.size(); ++b) {
    for (const auto& f : jb[b]) {
      DataFileMeta m = DataFileFromJson(f, static_cast<int>(b));
      if (!IsDataFileName(m.name, m.bucket)) {
        return absl::DataLossError(Cat(what, ": '", m.name, "' is not a data file name of bucket ", b));
      }
      s->buckets.Append(b, std::move(m));
    }
  }
  return absl::OkStatus();
}

// Format 2: the bucket count and the manifests; the buckets stay empty.
absl::Status DecodeManifestRefs(const json& j, std::string_view what, int buckets, Snapshot* s) {
  const uint64_t count = JsonCount(j.at("bucket_count"));
  if (count == 0 || count > kMaxBuckets || (buckets > 0 && count != static_cast<uint64_t>(buckets))) {
    return absl::DataLossError(Cat(what, " has ", count, " buckets, the table has ", buckets));
  }
  s->buckets.resize(count);
  for (const auto& m : j.at("manifests")) {
    ManifestRef ref{m.at("name").get<std::string>(), JsonCount(m.at("added")),
                    JsonCount(m.at("removed"))};
    if (!IsManifestFileName(ref.name)) {
      return absl::DataLossError(Cat(what, ": '", ref.name, "' is not a manifest file name"));
    }
    s->manifests.push_back(std::move(ref));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view SnapshotKindName(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::kCreate: return "CREATE";
    case SnapshotKind::kAppend: return "APPEND";
    case SnapshotKind::kCompact: return "COMPACT";
    case SnapshotKind::kAlter: return "ALTER";
    case SnapshotKind::kDropPartition: return "DROP_PARTITION";
  }
  return "UNKNOWN";
}

uint64_t Snapshot::TotalEntries() const {
  uint64_t n = 0;
  for (const auto& files : buckets)
    for (const auto& f : files) n += f.entries;
  return n;
}

size_t Snapshot::FileCount() const {
  size_t n = 0;
  for (const auto& files : buckets) n += files.size();
  return n;
}

int64_t Snapshot::CommittedCheckpoint(const std::string& identity) const {
  auto it = writers.find(identity);
  return it == writers.end() ? -1 : it->second.checkpoint_id;
}

bool Snapshot::Contains(const CommitIdentity& identity) const {
  auto it = writers.find(identity.writer_id);
  return it != writers.end() && identity.checkpoint_id <= it->second.checkpoint_id;
}

namespace {
bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
}  // namespace

bool IsMultiBucketFileName(std::string_view name) {
  // multi-<32 lowercase hex>.sst
  constexpr std::string_view kPrefix = "multi-";
  return name.size() == kPrefix.size() + 32 + 4 && name.substr(0, kPrefix.size()) == kPrefix &&
         name.substr(kPrefix.size() + 32) == ".sst" && IsLowerHex(name.substr(kPrefix.size(), 32));
}

bool IsDataFileName(std::string_view name, int bucket) {
  if (IsMultiBucketFileName(name)) return true;
  // <bucket: 5 digits>-<32 lowercase hex>.sst
  if (name.size() != 5 + 1 + 32 + 4 || name[5] != '-' || name.substr(38) != ".sst") return false;
  int b = 0;
  for (size_t i = 0; i < 5; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    b = b * 10 + (name[i] - '0');
  }
  if (!IsLowerHex(name.substr(6, 32))) return false;
  return bucket < 0 || b == bucket;
}

absl::Status ValidateWriterId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("writer id is empty");
  if (id.size() > kMaxWriterIdBytes) {
    return absl::InvalidArgumentError(Cat("writer id is ", id.size(), " bytes, over the limit of ", kMaxWriterIdBytes));
  }
  // Well-formed UTF-8 without control characters: it is stored in JSON and printed.
  size_t i = 0;
  while (i < id.size()) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > id.size()) return absl::InvalidArgumentError("writer id is not valid UTF-8");
    uint32_t cp = len == 1 ? c : (c & (0x7f >> len));
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(id[i + k]);
      if ((cc & 0xc0) != 0x80) return absl::InvalidArgumentError("writer id is not valid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return absl::InvalidArgumentError("writer id is not valid UTF-8");
    }
    if (cp < 0x20 || cp == 0x7f) return absl::InvalidArgumentError("writer id contains a control character");
    i += len;
  }
  return absl::OkStatus();
}

std::string SnapshotFileName(int64_t id) { return absl::StrFormat("snapshot-%020d", id); }

int64_t ParseSnapshotFileName(std::string_view name) {
  if (name.size() != kPrefix.size() + 20 || name.substr(0, kPrefix.size()) != kPrefix) return -1;
  int64_t id = -1;
  if (!absl::SimpleAtoi(AV(name.substr(kPrefix.size())), &id) || id < 0) return -1;
  return id;
}

std::string EncodeSnapshot(const Snapshot& s) {
  json j;
  j["format"] = s.schema_id > 0 ? 3 : 2;
  if (s.schema_id > 0) j["schema_id"] = s.schema_id;
  j["id"] = s.id;
  j["parent_id"] = s.parent_id;
  j["time_ms"] = s.time_ms;
  j["kind"] = SnapshotKindName(s.kind);
  json ids = json::array();
  for (const auto& id : s.identities) {
    json e = {{"writer", id.writer_id}, {"checkpoint", id.checkpoint_id}};
    if (id.digest) {
      e["rows"] = id.digest->rows;
      e["checksum"] = fmt::format("{:016x}", id.digest->checksum);
    }
    ids.push_back(std::move(e));
  }
  j["identities"] = std::move(ids);
  json writers = json::object();
  for (const auto& [w, st] : s.writers) writers[w] = {{"checkpoint", st.checkpoint_id}, {"snapshot", st.snapshot_id}};
  j["writers"] = std::move(writers);
  j["added_entries"] = s.added_entries;
  j["added_deletes"] = s.added_deletes;
  j["bucket_count"] = s.buckets.size();
  json manifests = json::array();
  for (const auto& m : s.manifests) {
    manifests.push_back({{"name", m.name}, {"added", m.added}, {"removed", m.removed}});
  }
  j["manifests"] = std::move(manifests);
  j["removed"] = s.removed;
  return FrameChecksummed(kMagic, j.dump() + "\n");
}

int64_t JsonInt(const json& v) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX)) {
    throw std::runtime_error("expected an integer, got " + std::string(v.type_name()));
  }
  return v.get<int64_t>();
}

uint64_t JsonCount(const json& v) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    throw std::runtime_error("expected a non-negative integer, got " + std::string(v.type_name()));
  }
  return v.get<uint64_t>();
}

json DataFileToJson(const DataFileMeta& f) {
  json j = {{"name", f.name},
            {"added_in", f.added_in},
            {"size", f.size_bytes},
            {"entries", f.entries},
            {"deletes", f.deletes},
            {"xxh3", f.xxh3}};
  if (f.key_range_known) {
    j["min_key"] = absl::Base64Escape(f.min_key);
    j["max_key"] = absl::Base64Escape(f.max_key);
  }
  if (f.section_bytes != 0) j["section_bytes"] = f.section_bytes;
  if (!f.partition.empty()) j["partition"] = absl::Base64Escape(f.partition);
  return j;
}

DataFileMeta DataFileFromJson(const json& f, int bucket) {
  DataFileMeta m;
  m.name = f.at("name").get<std::string>();
  m.bucket = bucket;
  m.added_in = JsonInt(f.at("added_in"));
  m.size_bytes = JsonCount(f.at("size"));
  m.entries = JsonCount(f.at("entries"));
  m.deletes = JsonCount(f.at("deletes"));
  // A multi-bucket file's section may have no key range (DataFileMeta).
  m.key_range_known = f.contains("min_key") || !IsMultiBucketFileName(m.name);
  if (m.key_range_known) {
    m.min_key = Unbase64(f.at("min_key").get<std::string>());
    m.max_key = Unbase64(f.at("max_key").get<std::string>());
  }
  m.xxh3 = f.at("xxh3").get<std::string>();
  if (auto it = f.find("section_bytes"); it != f.end()) m.section_bytes = JsonCount(*it);
  if (auto it = f.find("partition"); it != f.end()) m.partition = Unbase64(it->get<std::string>());
  return m;
}

absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view contents, std::string_view what,
                                        int buckets) {
  auto body = UnframeChecksummed(kMagic, contents, what);
  if (!body.ok()) return body.status();
  Snapshot s;
  try {
    json j = json::parse(*body);
    const int64_t format = JsonInt(j.at("format"));
    if (format < 1 || format > 3) {
      return absl::FailedPreconditionError(Cat(what, ": unsupported snapshot format ", j.at("format").dump()));
    }
    if (format == 3) {
      s.schema_id = JsonInt(j.at("schema_id"));
      if (s.schema_id <= 0) return absl::DataLossError(Cat(what, ": schema_id ", s.schema_id, " is not positive"));
    }
    s.id = JsonInt(j.at("id"));
    s.parent_id = JsonInt(j.at("parent_id"));
    s.time_ms = JsonInt(j.at("time_ms"));
    auto kind = KindFromName(j.at("kind").get<std::string>());
    if (!kind.ok()) return kind.status();
    s.kind = *kind;
    for (const auto& id : j.at("identities")) {
      CommitIdentity c{id.at("writer").get<std::string>(), JsonInt(id.at("checkpoint"))};
      if (id.contains("rows")) {
        const std::string hex = id.at("checksum").get<std::string>();
        uint64_t checksum = 0;
        if (hex.size() != 16 || !absl::SimpleHexAtoi(hex, &checksum)) {
          return absl::DataLossError(Cat(what, ": identity checksum '", hex, "' is not 16 hex digits"));
        }
        c.digest = CheckpointDigest{JsonCount(id.at("rows")), checksum};
      }
      s.identities.push_back(std::move(c));
    }
    for (const auto& [w, st] : j.at("writers").items()) {
      s.writers[w] = {JsonInt(st.at("checkpoint")), JsonInt(st.at("snapshot"))};
    }
    s.added_entries = JsonCount(j.at("added_entries"));
    s.added_deletes = JsonCount(j.at("added_deletes"));
    if (format == 1) {
      RETURN_IF_ERROR(DecodeInlineBuckets(j.at("buckets"), what, buckets, &s));
    } else {
      RETURN_IF_ERROR(DecodeManifestRefs(j, what, buckets, &s));
    }
    s.removed = j.at("removed").get<std::vector<std::string>>();
    for (const auto& name : s.removed) {
      if (!IsDataFileName(name, -1)) return absl::DataLossError(Cat(what, ": '", name, "' is not a data file name"));
    }
    for (const auto& id : s.identities) {
      if (absl::Status v = ValidateWriterId(id.writer_id); !v.ok()) return absl::DataLossError(Cat(what, ": ", v.message()));
    }
    for (const auto& [w, st] : s.writers) {
      if (absl::Status v = ValidateWriterId(w); !v.ok()) return absl::DataLossError(Cat(what, ": ", v.message()));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
  return s;
}

}  // namespace deltasidecar::table
