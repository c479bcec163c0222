#include "table/manifest.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/snapshot_json.h"

namespace deltasidecar::table {

namespace {
constexpr std::string_view kMagic = "DMANI1";
constexpr std::string_view kSuffix = ".manifest";
// 2: files may be multi-bucket files (docs/table-format.md §4.2).
constexpr int64_t kManifestFormat = 2;
using json = nlohmann::json;

int BucketField(const json& e, int buckets) {
  const int64_t b = JsonInt(e.at("bucket"));
  if (b < 0 || b >= buckets) {
    throw std::runtime_error("bucket " + std::to_string(b) + " is not below the table's " +
                             std::to_string(buckets));
  }
  return static_cast<int>(b);
}

// The position of the file `name` in `files`, or end.
std::vector<DataFileMeta>::iterator Find(std::vector<DataFileMeta>& files, std::string_view name) {
  return std::find_if(files.begin(), files.end(),
                      [&](const DataFileMeta& f) { return f.name == name; });
}

absl::flat_hash_set<std::string_view> Names(const std::vector<DataFileMeta>& files) {
  absl::flat_hash_set<std::string_view> out;
  for (const auto& f : files) out.insert(f.name);
  return out;
}

}  // namespace

std::string NewManifestFileName() { return Cat(RandomId(), kSuffix); }

bool IsManifestFileName(std::string_view name) {
  if (name.size() != 32 + kSuffix.size() || name.substr(32) != kSuffix) return false;
  return std::all_of(name.begin(), name.begin() + 32,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string EncodeManifest(const Manifest& m) {
  json removed = json::array();
  for (const auto& r : m.removed) removed.push_back({{"bucket", r.bucket}, {"name", r.name}});
  json added = json::array();
  for (const auto& a : m.added) {
    json e = DataFileToJson(a.file);
    e["bucket"] = a.file.bucket;
    if (a.before) e["before"] = *a.before;
    added.push_back(std::move(e));
  }
  json j = {{"format", kManifestFormat}, {"removed", std::move(removed)}, {"added", std::move(added)}};
  return FrameChecksummed(kMagic, j.dump() + "\n");
}

absl::StatusOr<Manifest> DecodeManifest(std::string_view contents, std::string_view what,
                                        int buckets) {
  auto body = UnframeChecksummed(kMagic, contents, what);
  if (!body.ok()) return body.status();
  Manifest m;
  try {
    json j = json::parse(*body);
    const int64_t format = JsonInt(j.at("format"));
    if (format < 1 || format > kManifestFormat) {
      return absl::FailedPreconditionError(
          Cat(what, ": unsupported manifest format ", j.at("format").dump()));
    }
    for (const auto& r : j.at("removed")) {
      m.removed.push_back({BucketField(r, buckets), r.at("name").get<std::string>()});
      if (!IsDataFileName(m.removed.back().name, m.removed.back().bucket)) {
        throw std::runtime_error("'" + m.removed.back().name + "' is not a data file name of bucket " +
                                 std::to_string(m.removed.back().bucket));
      }
    }
    for (const auto& a : j.at("added")) {
      ManifestAdd add{DataFileFromJson(a, BucketField(a, buckets)), std::nullopt};
      if (!IsDataFileName(add.file.name, add.file.bucket)) {
        throw std::runtime_error("'" + add.file.name + "' is not a data file name of bucket " +
                                 std::to_string(add.file.bucket));
      }
      if (a.contains("before")) add.before = a.at("before").get<std::string>();
      m.added.push_back(std::move(add));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
  return m;
}

absl::Status ApplyManifest(const Manifest& manifest, std::string_view what, BucketFiles* buckets) {
  auto bucket_of = [&](int b) -> std::vector<DataFileMeta>* {
    return b >= 0 && static_cast<size_t>(b) < buckets->size() ? &(*buckets)[b] : nullptr;
  };
  for (const auto& r : manifest.removed) {
    std::vector<DataFileMeta>* files = bucket_of(r.bucket);
    auto it = files ? Find(*files, r.name) : std::vector<DataFileMeta>::iterator();
    if (files == nullptr || it == files->end()) {
      return absl::DataLossError(
          Cat(what, " removes '", r.name, "', which is not live in bucket ", r.bucket));
    }
    files->erase(it);
  }
  for (const auto& a : manifest.added) {
    std::vector<DataFileMeta>* files = bucket_of(a.file.bucket);
    if (files == nullptr) {
      return absl::DataLossError(Cat(what, " adds to bucket ", a.file.bucket, ", which the table lacks"));
    }
    auto pos = files->end();
    if (a.before) {
      pos = Find(*files, *a.before);
      if (pos == files->end()) {
        return absl::DataLossError(Cat(what, " adds '", a.file.name, "' before '", *a.before,
                                       "', which is not live in bucket ", a.file.bucket));
      }
    }
    files->insert(pos, a.file);
  }
  return absl::OkStatus();
}

std::optional<Manifest> DiffBuckets(const BucketFiles& from, const BucketFiles& to) {
  if (from.size() != to.size()) return std::nullopt;
  Manifest m;
  for (size_t b = 0; b < to.size(); ++b) {
    const auto old_names = Names(from[b]);
    const auto new_names = Names(to[b]);
    std::vector<std::string_view> kept_old, kept_new;
    for (const auto& f : from[b]) {
      if (new_names.contains(f.name)) {
        kept_old.push_back(f.name);
      } else {
        m.removed.push_back({static_cast<int>(b), f.name});
      }
    }
    for (const auto& f : to[b]) {
      if (old_names.contains(f.name)) kept_new.push_back(f.name);
    }
    if (kept_old != kept_new) return std::nullopt;
    for (size_t i = 0; i < to[b].size(); ++i) {
      if (old_names.contains(to[b][i].name)) continue;
      ManifestAdd add{to[b][i], std::nullopt};
      for (size_t k = i + 1; k < to[b].size() && !add.before; ++k) {
        if (old_names.contains(to[b][k].name)) add.before = to[b][k].name;
      }
      m.added.push_back(std::move(add));
    }
  }
  return m;
}

Manifest BaseManifest(const BucketFiles& buckets) {
  Manifest m;
  for (const auto& files : buckets) {
    for (const auto& f : files) m.added.push_back({f, std::nullopt});
  }
  return m;
}

}  // namespace deltasidecar::table
