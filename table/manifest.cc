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
// 2: files may be multi-bucket files (docs/table-format.md §6.3).
// 3: an added entry may have `first`, a multi-bucket file entry `before`
// and `bytes` (one entry per place its sections go to), and a `removed`
// entry may name a file of several buckets by bitmap (§5.4); written only
// by a manifest that holds such an entry.
constexpr int64_t kManifestFormat = 3;
constexpr int64_t kManifestFormatWithoutBitmaps = 2;
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
// or sections of a multi-bucket file added to each of their buckets at one
// same place.
struct AddEntry {
  const ManifestAdd* single = nullptr;
  std::vector<const ManifestAdd*> sections;
  bool part = false;  // other entries hold other sections of the file
};

// The sections of one multi-bucket file that one entry can add: those that
// go to one place in their buckets (first; before one same file; or last).
struct Placement {
  std::string_view name;
  std::string_view before;  // empty: none
  bool first = false;
  bool operator==(const Placement&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Placement& p) {
    return H::combine(std::move(h), p.name, p.before, p.first);
  }
};

Placement PlacementOf(const ManifestAdd& a) {
  if (a.first) return {a.file.name, {}, true};
  return {a.file.name, a.before ? std::string_view(*a.before) : std::string_view(), false};
}

// The order in which `added` is written. The sections of a multi-bucket
// file that go to one place (the end of their buckets, the start, or before
// one same file, as a compaction's shared output does) are written as one
// entry, at a place that keeps the order of every bucket's additions (only
// that order matters: buckets are independent); files of one bucket one by
// one. Where no such place exists for some entries (bucket 1 adds X before
// Y and bucket 2 adds Y before X, as compaction outputs placed amid older
// files can), the entry blocking the way is written section by section and
// the rest stay whole.
std::vector<AddEntry> PlanAddEntries(const std::vector<ManifestAdd>& added) {
  absl::flat_hash_map<Placement, std::vector<const ManifestAdd*>> multi;
  absl::flat_hash_set<std::string_view> not_whole;  // sections that differ in the file's fields
  int top = 0;
  for (const ManifestAdd& a : added) top = std::max(top, a.file.bucket);
  // Whether every bucket adds entries in the order of their first appearance
  // in `added`, as a commit's appends (listed bucket by bucket) do.
  bool first_order_fits = true;
  std::vector<size_t> above_last(static_cast<size_t>(top) + 1, 0);  // per bucket
  std::vector<bool> first_section(added.size(), false);
  for (size_t i = 0; i < added.size(); ++i) {
    const ManifestAdd& a = added[i];
    size_t first_at = i;
    if (IsMultiBucketFileName(a.file.name)) {
      std::vector<const ManifestAdd*>& sections = multi[PlacementOf(a)];
      sections.push_back(&a);
      const DataFileMeta& first = sections.front()->file;
      if (a.file.added_in != first.added_in || a.file.size_bytes != first.size_bytes ||
          a.file.xxh3 != first.xxh3) {
        not_whole.insert(a.file.name);
      }
      first_at = static_cast<size_t>(sections.front() - added.data());
      first_section[i] = first_at == i;
    }
    if (first_at < above_last[a.file.bucket]) first_order_fits = false;
    above_last[a.file.bucket] = first_at + 1;
  }
  if (!not_whole.empty()) {
    absl::erase_if(multi, [&](const auto& m) { return not_whole.contains(m.first.name); });
  }
  absl::flat_hash_set<std::string_view> split;  // files of several entries
  {
    absl::flat_hash_set<std::string_view> seen;
    for (const auto& [place, sections] : multi) {
      if (!seen.insert(place.name).second) split.insert(place.name);
    }
  }
  auto whole = [&](std::vector<const ManifestAdd*> sections) {
    const bool part = split.contains(sections.front()->file.name);
    return AddEntry{nullptr, std::move(sections), part};
  };
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
        out.push_back(whole(std::move(multi[PlacementOf(added[i])])));
      }
    }
    return out;
  }
  // Each bucket's additions in order, and how many of them are written.
  std::vector<std::vector<const ManifestAdd*>> queues(static_cast<size_t>(top) + 1);
  for (const ManifestAdd& a : added) queues[a.file.bucket].push_back(&a);
  std::vector<size_t> written(queues.size(), 0);
  absl::flat_hash_map<Placement, size_t> at_head;
  std::vector<Placement> ready;  // entries at the head of all their buckets
  // Writes bucket b's additions up to the next section of an entry written whole.
  auto settle = [&](size_t b) {
    const auto& q = queues[b];
    while (written[b] < q.size()) {
      const ManifestAdd* head = q[written[b]];
      const Placement place = PlacementOf(*head);
      auto m = multi.find(place);
      if (m == multi.end()) {
        out.push_back({head, {}});
        ++written[b];
        continue;
      }
      if (++at_head[place] == m->second.size()) ready.push_back(m->first);
      return;
    }
  };
  for (size_t b = 0; b < queues.size(); ++b) settle(b);
  size_t unfinished = 0;  // buckets before it are all written
  for (;;) {
    while (!ready.empty()) {
      const Placement place = ready.back();
      ready.pop_back();
      const std::vector<const ManifestAdd*>& sections = multi[place];
      out.push_back(whole(sections));
      for (const ManifestAdd* s : sections) {
        ++written[s->file.bucket];
        settle(s->file.bucket);
      }
    }
    while (unfinished < queues.size() && written[unfinished] == queues[unfinished].size()) {
      ++unfinished;
    }
    if (unfinished == queues.size()) return out;
    // Every unfinished bucket waits on an entry that waits on another: the
    // entry at this bucket's head is written section by section instead.
    const auto blocking = multi.find(PlacementOf(*queues[unfinished][written[unfinished]]));
    const std::vector<const ManifestAdd*> sections = std::move(blocking->second);
    multi.erase(blocking);
    for (const ManifestAdd* s : sections) {
      const size_t b = static_cast<size_t>(s->file.bucket);
      if (written[b] < queues[b].size() && queues[b][written[b]] == s) settle(b);
    }
  }
}

// An added entry's place: "before" (a file name) or "first" (true), or
// neither; throws on both.
void PlaceFromJson(const json& e, ManifestAdd* add) {
  if (auto b = e.find("before"); b != e.end()) add->before = b->get<std::string>();
  if (auto f = e.find("first"); f != e.end()) {
    if (!f->get<bool>()) throw std::runtime_error("'first' is present but false");
    if (add->before) throw std::runtime_error("an entry with both 'before' and 'first'");
    add->first = true;
  }
}

// Buckets as a bitmap, base64: bit b (of byte b / 8, least significant
// first) for bucket b.
std::string BucketBitmap(const std::vector<int>& buckets) {
  const int top = *std::max_element(buckets.begin(), buckets.end());
  std::string bits(static_cast<size_t>(top) / 8 + 1, '\0');
  for (int b : buckets) bits[b / 8] = static_cast<char>(bits[b / 8] | (1 << (b % 8)));
  return absl::Base64Escape(bits);
}

// The buckets of a bitmap (BucketBitmap) in member "buckets" of `e`, in
// ascending order; throws unless it names at least one of the table's.
std::vector<int> BucketsOfBitmap(const json& e, int buckets) {
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
  return in;
}

json WholeFileEntry(const AddEntry& entry) {
  const std::vector<const ManifestAdd*>& sections = entry.sections;
  const DataFileMeta& first = sections.front()->file;
  uint64_t entries = 0, deletes = 0, bytes = 0;
  std::vector<int> in;
  in.reserve(sections.size());
  for (const ManifestAdd* s : sections) {
    entries += s->file.entries;
    deletes += s->file.deletes;
    bytes += s->file.BucketBytes();
    in.push_back(s->file.bucket);
  }
  json e = {{"name", first.name},         {"added_in", first.added_in}, {"size", first.size_bytes},
            {"entries", entries},         {"deletes", deletes},         {"xxh3", first.xxh3},
            {"buckets", BucketBitmap(in)}};
  if (!first.partition.empty()) e["partition"] = absl::Base64Escape(first.partition);
  if (sections.front()->first) {
    e["first"] = true;
  } else if (sections.front()->before) {
    e["before"] = *sections.front()->before;
  }
  if (entry.part) e["bytes"] = std::min(bytes, first.size_bytes);
  return e;
}

// The sections of a whole-file entry, in ascending bucket order: the file's
// counts and bytes (`bytes` when the entry holds only some of the file's
// sections, else the file's size) shared out evenly (a manifest keeps only
// the totals), key ranges unknown; each placed as the entry says
// (PlaceFromJson).
void AddSections(const json& e, int buckets, std::vector<ManifestAdd>* out) {
  const std::vector<int> in = BucketsOfBitmap(e, buckets);
  ManifestAdd placed;
  PlaceFromJson(e, &placed);
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
  uint64_t bytes = file.size_bytes;
  if (auto b = e.find("bytes"); b != e.end()) {
    bytes = JsonCount(*b);
    if (bytes > file.size_bytes) throw std::runtime_error("'bytes' above the file's size");
  }
  const auto n = static_cast<unsigned __int128>(in.size());
  auto share = [&](uint64_t total, size_t k) {
    return static_cast<uint64_t>(total * (k + 1) / n - total * k / n);
  };
  for (size_t k = 0; k < in.size(); ++k) {
    DataFileMeta s = file;
    s.bucket = in[k];
    s.entries = share(entries, k);
    s.deletes = std::min(s.entries, share(deletes, k));
    s.section_bytes = std::max<uint64_t>(1, share(bytes, k));
    out->push_back({std::move(s), placed.before, placed.first});
  }
}

}  // namespace

json FileAdditionsToJson(const std::vector<ManifestAdd>& added) {
  json out = json::array();
  auto one = [&](const ManifestAdd& a) {
    json e = DataFileToJson(a.file);
    e["bucket"] = a.file.bucket;
    if (a.before) {
      e["before"] = *a.before;  // also when `first` says the same: readable by format 2
    } else if (a.first) {
      e["first"] = true;
    }
    out.push_back(std::move(e));
  };
  for (const AddEntry& e : PlanAddEntries(added)) {
    if (e.single != nullptr) {
      one(*e.single);
    } else {
      out.push_back(WholeFileEntry(e));
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
    PlaceFromJson(a, &add);
    out->push_back(std::move(add));
  }
}

std::string EncodeManifest(const Manifest& m) {
  // The JSON text nlohmann::json would write for {"added": …, "format": …,
  // "removed": […]} (keys in order), with `removed`, one short entry per
  // file, written directly.
  const json added = FileAdditionsToJson(m.added);
  bool bitmaps = std::any_of(added.begin(), added.end(), [](const json& e) {
    return e.contains("first") ||
           (e.contains("buckets") && (e.contains("before") || e.contains("bytes")));
  });
  // Each removed file once, with its buckets in the order first named.
  std::vector<std::pair<std::string_view, std::vector<int>>> removed;
  {
    absl::flat_hash_map<std::string_view, size_t> index;
    for (const ManifestRemove& r : m.removed) {
      auto [it, fresh] = index.emplace(r.name, removed.size());
      if (fresh) removed.push_back({r.name, {}});
      removed[it->second].second.push_back(r.bucket);
      bitmaps = bitmaps || removed[it->second].second.size() > 1;
    }
  }
  std::string body = "{\"added\":";
  body += added.dump();
  body += Cat(",\"format\":", bitmaps ? kManifestFormat : kManifestFormatWithoutBitmaps,
              ",\"removed\":[");
  for (size_t i = 0; i < removed.size(); ++i) {
    const auto& [name, in] = removed[i];
    if (in.size() == 1) {
      body += Cat(i == 0 ? "" : ",", "{\"bucket\":", in[0], ",\"name\":");
    } else {
      body += Cat(i == 0 ? "" : ",", "{\"buckets\":\"", BucketBitmap(in), "\",\"name\":");
    }
    AppendJsonString(name, &body);
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
      const SharedString name = r.at("name").get<std::string>();
      if (!r.contains("buckets")) {
        m.removed.push_back({BucketField(r, buckets), name});
        CheckDataFileName(name, m.removed.back().bucket);
        continue;
      }
      for (int b : BucketsOfBitmap(r, buckets)) {  // a multi-bucket file leaves these buckets
        CheckDataFileName(name, b);
        m.removed.push_back({b, name});
      }
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
    if (a.Appended()) {
      buckets->Append(a.file.bucket, a.file);
      continue;
    }
    const size_t at = a.before ? Position((*buckets)[a.file.bucket], *a.before) : 0;
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
      // First in `to` and before a kept file, which then starts the bucket
      // (kept files keep their order): placing it first says the same, in
      // every bucket whatever file follows it there.
      add.first = i == 0 && add.before;
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
