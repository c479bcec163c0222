#include "table/manifest.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
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

// `b` as a bucket of a table of `buckets`; throws when it is none.
int CheckBucket(int64_t b, int buckets) {
  if (b < 0 || b >= buckets) {
    throw std::runtime_error("bucket " + std::to_string(b) + " is not below the table's " +
                             std::to_string(buckets));
  }
  return static_cast<int>(b);
}

int BucketField(const json& e, int buckets) {
  return CheckBucket(JsonInt(e.at("bucket")), buckets);
}

// Throws unless `name` is a data file name of `bucket` (IsDataFileName).
void CheckDataFileName(const std::string& name, int bucket) {
  if (!IsDataFileName(name, bucket)) {
    throw std::runtime_error("'" + name + "' is not a data file name of bucket " +
                             std::to_string(bucket));
  }
}

constexpr size_t kNowhere = static_cast<size_t>(-1);

// The position of the file `name` in `files`, or kNowhere.
size_t Position(BucketFiles::Files files, std::string_view name) {
  auto it = std::find_if(files.begin(), files.end(),
                         [&](const DataFileMeta& f) { return f.name == name; });
  return it == files.end() ? kNowhere : static_cast<size_t>(it - files.begin());
}

// The names of a bucket's files, to look up: a bucket holds a few files, so
// a search through them beats hashing their names, except in a long list.
class NameSet {
 public:
  explicit NameSet(BucketFiles::Files files) : files_(files) {
    if (files.size() <= kSearched) return;
    for (const auto& f : files) hashed_.insert(f.name);
  }
  bool contains(std::string_view name) const {
    if (files_.size() > kSearched) return hashed_.contains(name);
    return Position(files_, name) != kNowhere;
  }

 private:
  static constexpr size_t kSearched = 32;
  BucketFiles::Files files_;
  absl::flat_hash_set<std::string_view> hashed_;
};

// `s` as a JSON string, escaped as nlohmann::json::dump() escapes it.
void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append(absl::StrFormat("\\u%04x", static_cast<unsigned char>(c)));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string NewManifestFileName() { return Cat(RandomId(), kSuffix); }

bool IsManifestFileName(std::string_view name) {
  if (name.size() != 32 + kSuffix.size() || name.substr(32) != kSuffix) return false;
  return std::all_of(name.begin(), name.begin() + 32,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace {

// One entry of a manifest's `added`, as written: a file added to one bucket,
// or a multi-bucket file appended to each of its buckets (its sections).
struct AddEntry {
  const ManifestAdd* single = nullptr;
  std::vector<const ManifestAdd*> sections;
};

// The order in which `added` is written. A multi-bucket file whose sections
// are all appended (no `before`) is written once, at a place that keeps the
// order of every bucket's additions (only that order matters: buckets are
// independent); everything else section by section. Where no such place
// exists for some files (bucket 1 adds X before Y and bucket 2 adds Y before
// X, as compaction outputs placed amid older files can), the file blocking
// the way is written section by section and the rest stay whole.
std::vector<AddEntry> PlanAddEntries(const std::vector<ManifestAdd>& added) {
  absl::flat_hash_map<std::string_view, std::vector<const ManifestAdd*>> multi;
  absl::flat_hash_set<std::string_view> not_whole;  // some section has a `before`
  int top = 0;
  for (const ManifestAdd& a : added) top = std::max(top, a.file.bucket);
  // Whether every bucket adds files in the order of their first appearance
  // in `added`, as a commit's appends (listed bucket by bucket) do.
  bool first_order_fits = true;
  std::vector<size_t> above_last(static_cast<size_t>(top) + 1, 0);  // per bucket
  std::vector<bool> first_section(added.size(), false);
  for (size_t i = 0; i < added.size(); ++i) {
    const ManifestAdd& a = added[i];
    size_t first_at = i;
    if (IsMultiBucketFileName(a.file.name)) {
      std::vector<const ManifestAdd*>& sections = multi[a.file.name];
      sections.push_back(&a);
      const DataFileMeta& first = sections.front()->file;
      if (a.before || a.file.added_in != first.added_in || a.file.size_bytes != first.size_bytes ||
          a.file.xxh3 != first.xxh3) {
        not_whole.insert(a.file.name);
      }
      first_at = static_cast<size_t>(sections.front() - added.data());
      first_section[i] = first_at == i;
    }
    if (first_at < above_last[a.file.bucket]) first_order_fits = false;
    above_last[a.file.bucket] = first_at + 1;
  }
  for (std::string_view n : not_whole) multi.erase(n);
  std::vector<AddEntry> out;
  if (multi.empty()) {
    for (const ManifestAdd& a : added) out.push_back({&a, {}});
    return out;
  }
  if (first_order_fits && not_whole.empty()) {
    for (size_t i = 0; i < added.size(); ++i) {
      if (!IsMultiBucketFileName(added[i].file.name)) {
        out.push_back({&added[i], {}});
      } else if (first_section[i]) {
        out.push_back({nullptr, std::move(multi[added[i].file.name])});
      }
    }
    return out;
  }
  // Each bucket's additions in order, and how many of them are written.
  std::vector<std::vector<const ManifestAdd*>> queues(static_cast<size_t>(top) + 1);
  for (const ManifestAdd& a : added) queues[a.file.bucket].push_back(&a);
  std::vector<size_t> written(queues.size(), 0);
  absl::flat_hash_map<std::string_view, size_t> at_head;
  std::vector<std::string_view> ready;  // multi-bucket files at the head of all their buckets
  // Writes bucket b's additions up to the next section of a file written whole.
  auto settle = [&](size_t b) {
    const auto& q = queues[b];
    while (written[b] < q.size()) {
      const ManifestAdd* head = q[written[b]];
      auto m = multi.find(head->file.name);
      if (m == multi.end()) {
        out.push_back({head, {}});
        ++written[b];
        continue;
      }
      if (++at_head[head->file.name] == m->second.size()) ready.push_back(m->first);
      return;
    }
  };
  for (size_t b = 0; b < queues.size(); ++b) settle(b);
  size_t unfinished = 0;  // buckets before it are all written
  for (;;) {
    while (!ready.empty()) {
      const std::string_view name = ready.back();
      ready.pop_back();
      const std::vector<const ManifestAdd*>& sections = multi[name];
      out.push_back({nullptr, sections});
      for (const ManifestAdd* s : sections) {
        ++written[s->file.bucket];
        settle(s->file.bucket);
      }
    }
    while (unfinished < queues.size() && written[unfinished] == queues[unfinished].size()) {
      ++unfinished;
    }
    if (unfinished == queues.size()) return out;
    // Every unfinished bucket waits on a file that waits on another: the
    // file at this bucket's head is written section by section instead.
    const auto blocking = multi.find(queues[unfinished][written[unfinished]]->file.name);
    const std::vector<const ManifestAdd*> sections = std::move(blocking->second);
    multi.erase(blocking);
    for (const ManifestAdd* s : sections) {
      const size_t b = static_cast<size_t>(s->file.bucket);
      if (written[b] < queues[b].size() && queues[b][written[b]] == s) settle(b);
    }
  }
}

// A multi-bucket file's buckets: bit b (of byte b / 8, least significant
// first) for bucket b.
std::string BucketBitmap(const std::vector<const ManifestAdd*>& sections) {
  int top = 0;
  for (const ManifestAdd* s : sections) top = std::max(top, s->file.bucket);
  std::string bits(static_cast<size_t>(top) / 8 + 1, '\0');
  for (const ManifestAdd* s : sections) {
    bits[s->file.bucket / 8] = static_cast<char>(bits[s->file.bucket / 8] | (1 << (s->file.bucket % 8)));
  }
  return absl::Base64Escape(bits);
}

json WholeFileEntry(const std::vector<const ManifestAdd*>& sections) {
  const DataFileMeta& first = sections.front()->file;
  uint64_t entries = 0, deletes = 0;
  for (const ManifestAdd* s : sections) {
    entries += s->file.entries;
    deletes += s->file.deletes;
  }
  json e = {{"name", first.name},         {"added_in", first.added_in}, {"size", first.size_bytes},
            {"entries", entries},         {"deletes", deletes},         {"xxh3", first.xxh3},
            {"buckets", BucketBitmap(sections)}};
  if (!first.partition.empty()) e["partition"] = absl::Base64Escape(first.partition);
  return e;
}

// The sections of a whole-file entry, in ascending bucket order: the file's
// counts and bytes shared out evenly (a manifest keeps only the totals), key
// ranges unknown.
void AddSections(const json& e, int buckets, std::vector<ManifestAdd>* out) {
  std::string bits;
  if (!absl::Base64Unescape(e.at("buckets").get<std::string>(), &bits) ||
      bits.size() > static_cast<size_t>(buckets + 7) / 8) {
    throw std::runtime_error("'buckets' is not a bitmap of the table's buckets");
  }
  std::vector<int> in;
  for (size_t b = 0; b < bits.size() * 8; ++b) {
    if ((static_cast<unsigned char>(bits[b / 8]) >> (b % 8)) & 1) {
      in.push_back(CheckBucket(static_cast<int64_t>(b), buckets));
    }
  }
  if (in.empty()) throw std::runtime_error("a multi-bucket file with no bucket");
  DataFileMeta file;
  file.name = e.at("name").get<std::string>();
  if (!IsMultiBucketFileName(file.name)) {
    throw std::runtime_error("'" + file.name + "' is not a multi-bucket file name");
  }
  file.added_in = JsonInt(e.at("added_in"));
  file.size_bytes = JsonCount(e.at("size"));
  file.xxh3 = e.at("xxh3").get<std::string>();
  file.key_range_known = false;
  if (auto p = e.find("partition"); p != e.end()) {
    if (!absl::Base64Unescape(p->get<std::string>(), &file.partition)) {
      throw std::runtime_error("'partition' is not base64");
    }
  }
  const uint64_t entries = JsonCount(e.at("entries"));
  const uint64_t deletes = JsonCount(e.at("deletes"));
  if (deletes > entries) throw std::runtime_error("more deletes than entries");
  const auto n = static_cast<unsigned __int128>(in.size());
  auto share = [&](uint64_t total, size_t k) {
    return static_cast<uint64_t>(total * (k + 1) / n - total * k / n);
  };
  for (size_t k = 0; k < in.size(); ++k) {
    DataFileMeta s = file;
    s.bucket = in[k];
    s.entries = share(entries, k);
    s.deletes = std::min(s.entries, share(deletes, k));
    s.section_bytes = std::max<uint64_t>(1, share(file.size_bytes, k));
    out->push_back({std::move(s), std::nullopt});
  }
}

}  // namespace

json FileAdditionsToJson(const std::vector<ManifestAdd>& added) {
  json out = json::array();
  auto one = [&](const ManifestAdd& a) {
    json e = DataFileToJson(a.file);
    e["bucket"] = a.file.bucket;
    if (a.before) e["before"] = *a.before;
    out.push_back(std::move(e));
  };
  for (const AddEntry& e : PlanAddEntries(added)) {
    if (e.single != nullptr) {
      one(*e.single);
    } else {
      out.push_back(WholeFileEntry(e.sections));
    }
  }
  return out;
}

void FileAdditionsFromJson(const json& list, int buckets, std::vector<ManifestAdd>* out) {
  for (const auto& a : list) {
    if (a.contains("buckets")) {
      AddSections(a, buckets, out);
      continue;
    }
    ManifestAdd add{DataFileFromJson(a, BucketField(a, buckets)), std::nullopt};
    CheckDataFileName(add.file.name, add.file.bucket);
    if (a.contains("before")) add.before = a.at("before").get<std::string>();
    out->push_back(std::move(add));
  }
}

std::string EncodeManifest(const Manifest& m) {
  // The JSON text nlohmann::json would write for {"added": …, "format": …,
  // "removed": […]} (keys in order), with `removed`, one short entry per
  // file and bucket, written directly.
  std::string body = "{\"added\":";
  body += FileAdditionsToJson(m.added).dump();
  body += Cat(",\"format\":", kManifestFormat, ",\"removed\":[");
  for (size_t i = 0; i < m.removed.size(); ++i) {
    body += Cat(i == 0 ? "" : ",", "{\"bucket\":", m.removed[i].bucket, ",\"name\":");
    AppendJsonString(m.removed[i].name, &body);
    body.push_back('}');
  }
  body += "]}\n";
  return FrameChecksummed(kMagic, body);
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
      CheckDataFileName(m.removed.back().name, m.removed.back().bucket);
    }
    FileAdditionsFromJson(j.at("added"), buckets, &m.added);
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
  return m;
}

absl::Status ApplyManifest(const Manifest& manifest, std::string_view what, BucketFiles* buckets) {
  auto in_table = [&](int b) { return b >= 0 && static_cast<size_t>(b) < buckets->size(); };
  for (const auto& r : manifest.removed) {
    const size_t at = in_table(r.bucket) ? Position((*buckets)[r.bucket], r.name) : kNowhere;
    if (at == kNowhere) {
      return absl::DataLossError(
          Cat(what, " removes '", r.name, "', which is not live in bucket ", r.bucket));
    }
    buckets->Edit(r.bucket, [&](std::vector<DataFileMeta>& files) {
      files.erase(files.begin() + static_cast<ptrdiff_t>(at));
    });
  }
  for (const auto& a : manifest.added) {
    if (!in_table(a.file.bucket)) {
      return absl::DataLossError(Cat(what, " adds to bucket ", a.file.bucket, ", which the table lacks"));
    }
    if (!a.before) {
      buckets->Append(a.file.bucket, a.file);
      continue;
    }
    const size_t at = Position((*buckets)[a.file.bucket], *a.before);
    if (at == kNowhere) {
      return absl::DataLossError(Cat(what, " adds '", a.file.name, "' before '", *a.before,
                                     "', which is not live in bucket ", a.file.bucket));
    }
    buckets->Edit(a.file.bucket, [&](std::vector<DataFileMeta>& files) {
      files.insert(files.begin() + static_cast<ptrdiff_t>(at), a.file);
    });
  }
  return absl::OkStatus();
}

namespace {

// Appends to `m` what turns one bucket's `from` into `to` when `to` is
// `from` with files appended after its last one (a commit's usual change);
// false, adding nothing, otherwise. `appended`, when known, is what `to`
// holds after `from`'s files (BucketFiles::AppendedSince): `to` is then
// `from` and these, in one buffer, so adding them gives `to` exactly.
bool DiffAppendedBucket(BucketFiles::Files from, std::optional<BucketFiles::Files> appended,
                        BucketFiles::Files to, Manifest* m) {
  if (!appended) {
    if (to.size() < from.size()) return false;
    for (size_t i = 0; i < from.size(); ++i) {
      if (from[i].name != to[i].name) return false;
    }
    appended = to.subspan(from.size());
    for (const auto& f : *appended) {
      if (Position(from, f.name) != kNowhere) return false;  // moved, not added
    }
  }
  for (const auto& f : *appended) m->added.push_back({f, std::nullopt});
  return true;
}

}  // namespace

std::optional<Manifest> DiffBuckets(const BucketFiles& from, const BucketFiles& to) {
  if (from.size() != to.size()) return std::nullopt;
  Manifest m;
  for (size_t b = 0; b < to.size(); ++b) {
    if (DiffAppendedBucket(from[b], to.AppendedSince(from, b), to[b], &m)) continue;
    const NameSet old_names(from[b]);
    const NameSet new_names(to[b]);
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
