#include "table/manifest.h"

#include <random>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/testing/data_file_testing.h"

namespace deltasidecar::table {
namespace {

using data_file_testing::File;

std::vector<std::string> Names(const BucketFiles& buckets) {
  std::vector<std::string> out;
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (const auto& f : buckets[b]) out.push_back(absl::StrFormat("%d:%s", b, f.name.str()));
    out.push_back("|");
  }
  return out;
}

TEST(ManifestTest, RoundTripsAndEveryFlippedByteIsDataLoss) {
  Manifest m;
  m.removed = {{1, File(1, 7).name}};
  m.added = {{File(0, 8), std::nullopt}, {File(1, 9), File(1, 3).name}};
  const std::string encoded = EncodeManifest(m);
  auto d = DecodeManifest(encoded, "m", 2);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->removed.size(), 1u);
  EXPECT_EQ(d->removed[0].bucket, 1);
  EXPECT_EQ(d->removed[0].name, File(1, 7).name);
  ASSERT_EQ(d->added.size(), 2u);
  EXPECT_EQ(d->added[0].file.name, File(0, 8).name);
  EXPECT_FALSE(d->added[0].before.has_value());
  EXPECT_EQ(d->added[1].file.bucket, 1);
  EXPECT_EQ(d->added[1].file.size_bytes, 109u);
  EXPECT_EQ(d->added[1].before, File(1, 3).name);
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string bad = encoded;
    bad[i] ^= 0x20;
    EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(bad, "m", 2).status())) << "byte " << i;
  }
  // A bucket the table does not have.
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(encoded, "m", 1).status()));
}

DataFileMeta Section(int bucket, int n, uint64_t entries) {
  DataFileMeta f = File(bucket, n);
  f.name = absl::StrFormat("multi-%032x.sst", n);
  f.entries = entries;
  f.section_bytes = 10 * entries;
  f.size_bytes = 100000 + n;
  return f;
}

size_t Occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Two multi-bucket files over 300 buckets, listed bucket by bucket as a
// commit's diff lists them, with a file of one bucket between them in
// bucket 7: each multi-bucket file is written once, and applying the
// decoded manifest gives every bucket the same files in the same order.
TEST(ManifestTest, AMultiBucketFileIsWrittenOnceAndKeepsEveryBucketsOrder) {
  Manifest m;
  for (int b = 0; b < 300; ++b) {
    if (b % 3 != 1) m.added.push_back({Section(b, 1, 4), std::nullopt});
    if (b == 7) m.added.push_back({File(7, 2), std::nullopt});
    if (b % 2 == 0) m.added.push_back({Section(b, 3, 5), std::nullopt});
  }
  const std::string encoded = EncodeManifest(m);
  EXPECT_EQ(Occurrences(encoded, Section(0, 1, 0).name), 1u) << encoded.substr(0, 400);
  EXPECT_EQ(Occurrences(encoded, Section(0, 3, 0).name), 1u);
  EXPECT_LT(encoded.size(), 1200u);
  auto d = DecodeManifest(encoded, "m", 300);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->added.size(), m.added.size());
  BucketFiles want(300), got(300);
  ASSERT_TRUE(ApplyManifest(m, "m", &want).ok());
  ASSERT_TRUE(ApplyManifest(*d, "m", &got).ok());
  EXPECT_EQ(Names(got), Names(want));
  // Counts are the file's totals shared out; keys are not recorded.
  uint64_t entries = 0, bytes = 0;
  for (const auto& files : got) {
    for (const auto& f : files) {
      if (f.name != Section(0, 1, 0).name) continue;
      entries += f.entries;
      bytes += f.section_bytes;
      EXPECT_FALSE(f.key_range_known);
      EXPECT_EQ(f.size_bytes, Section(0, 1, 0).size_bytes);
    }
  }
  EXPECT_EQ(entries, 200u * 4u);
  EXPECT_EQ(bytes, Section(0, 1, 0).size_bytes);
  // Encoded again (as a base manifest would be), it reads the same.
  auto again = DecodeManifest(EncodeManifest(*d), "m", 300);
  ASSERT_TRUE(again.ok()) << again.status();
  BucketFiles third(300);
  ASSERT_TRUE(ApplyManifest(*again, "m", &third).ok());
  EXPECT_EQ(Names(third), Names(want));
  // A table with fewer buckets than the bitmap names.
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(encoded, "m", 200).status()));
}

// Where no order keeps every bucket's own (file 1 before file 3 in bucket 0,
// 3 before 1 in bucket 1), the file in the way is written section by
// section and the others stay whole, also those added after it.
TEST(ManifestTest, AFileNoOrderAllowsIsWrittenBySectionAndTheRestWhole) {
  Manifest m;
  m.added.push_back({Section(0, 1, 4), std::nullopt});
  m.added.push_back({Section(1, 3, 4), std::nullopt});
  m.added.push_back({Section(1, 1, 4), std::nullopt});  // 3 before 1 in bucket 1
  m.added.push_back({Section(0, 3, 4), std::nullopt});  // 1 before 3 in bucket 0
  for (int b = 0; b < 2; ++b) m.added.push_back({Section(b, 5, 4), std::nullopt});
  const std::string encoded = EncodeManifest(m);
  EXPECT_EQ(Occurrences(encoded, Section(0, 1, 0).name), 2u) << encoded;
  EXPECT_EQ(Occurrences(encoded, Section(0, 3, 0).name), 1u) << encoded;
  EXPECT_EQ(Occurrences(encoded, Section(0, 5, 0).name), 1u) << encoded;
  auto d = DecodeManifest(encoded, "m", 2);
  ASSERT_TRUE(d.ok()) << d.status();
  BucketFiles want(2), got(2);
  ASSERT_TRUE(ApplyManifest(m, "m", &want).ok());
  ASSERT_TRUE(ApplyManifest(*d, "m", &got).ok());
  EXPECT_EQ(Names(got), Names(want));
  EXPECT_TRUE(d->added[0].file.key_range_known);
}

// Sections of one file placed differently (one before a file, one at the
// end) are written one by one.
TEST(ManifestTest, SectionsPlacedDifferentlyAreWrittenEach) {
  Manifest m;
  m.added.push_back({Section(0, 1, 4), File(0, 9).name});
  m.added.push_back({Section(1, 1, 4), std::nullopt});
  const std::string encoded = EncodeManifest(m);
  EXPECT_EQ(Occurrences(encoded, Section(0, 1, 0).name), 2u) << encoded;
  EXPECT_EQ(Occurrences(encoded, "\"before\""), 1u) << encoded;
}

// A compaction replaces two shared files in 100 buckets by one shared output
// in their place: the output is one entry per place its sections go to
// (`first` where the run started each bucket, whatever newer file follows
// it there; else `before` the file that follows it), each removed file one
// entry naming its buckets by bitmap (manifest format 3); the decoded
// manifest gives the same buckets.
TEST(ManifestTest, ASharedCompactionOutputAndTheFilesItReplacesAreOneEntryPerPlace) {
  constexpr int kBuckets = 100;
  enum Case { kFirst, kBeforeOneFile, kBeforeTwoFiles };
  for (const Case c : {kFirst, kBeforeOneFile, kBeforeTwoFiles}) {
    SCOPED_TRACE(c);
    BucketFiles from(kBuckets);
    for (int b = 0; b < kBuckets; ++b) {
      if (c != kFirst) from.Append(b, Section(b, 9, 4));
      from.Append(b, Section(b, 1, 4));
      if (b % 2 == 0) from.Append(b, Section(b, 2, 4));
      // The files after the run: one same file, or two different ones.
      from.Append(b, Section(b, c != kBeforeOneFile && b >= 50 ? 5 : 3, 4));
    }
    BucketFiles to = from;
    for (int b = 0; b < kBuckets; ++b) {
      to.Edit(b, [&](std::vector<DataFileMeta>& files) {
        const auto run = files.begin() + (c == kFirst ? 0 : 1);
        DataFileMeta output = Section(b, 4, 6);
        output.section_bytes = 1000;
        files.insert(files.erase(run, files.end() - 1), output);
      });
    }
    std::optional<Manifest> diff = DiffBuckets(from, to);
    ASSERT_TRUE(diff.has_value());
    EXPECT_EQ(diff->removed.size(), 150u);
    const std::string encoded = EncodeManifest(*diff);
    const size_t entries = c == kBeforeTwoFiles ? 2 : 1;
    EXPECT_EQ(Occurrences(encoded, Section(0, 4, 0).name), entries) << encoded;
    for (int n : {1, 2}) EXPECT_EQ(Occurrences(encoded, Section(0, n, 0).name), 1u) << encoded;
    EXPECT_EQ(Occurrences(encoded, "\"first\":true"), c == kFirst ? 1u : 0u) << encoded;
    EXPECT_EQ(Occurrences(encoded, "\"before\""), c == kFirst ? 0u : entries) << encoded;
    EXPECT_EQ(Occurrences(encoded, "\"bytes\":50000"), c == kBeforeTwoFiles ? 2u : 0u) << encoded;
    EXPECT_LT(encoded.size(), 900u);
    const std::string body = encoded.substr(0, encoded.rfind("\nDMANI1") + 1);
    EXPECT_EQ(nlohmann::json::parse(body).dump() + "\n", body);
    EXPECT_EQ(nlohmann::json::parse(body).at("format").get<int>(), 3);
    auto d = DecodeManifest(encoded, "m", kBuckets);
    ASSERT_TRUE(d.ok()) << d.status();
    BucketFiles got = from;
    ASSERT_TRUE(ApplyManifest(*d, "m", &got).ok());
    EXPECT_EQ(Names(got), Names(to));
    const size_t at = c == kFirst ? 0 : 1;
    EXPECT_EQ(got[5][at].entries + got[6][at].entries, 12u);  // the output's total, shared out
    EXPECT_EQ(got[5][at].section_bytes, c == kBeforeTwoFiles ? 1000u : Section(0, 4, 0).size_bytes / 100);
    // A table with fewer buckets than the bitmaps name.
    EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(encoded, "m", 50).status()));
  }
  // A file of one bucket removed from several by bitmap is no file of theirs.
  Manifest wrong;
  wrong.removed = {{3, File(3, 1).name}, {5, File(3, 1).name}};
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(EncodeManifest(wrong), "m", kBuckets).status()));
  // A file placed both first and before a file (no writer writes both).
  Manifest placed;
  placed.added = {{File(1, 4), File(1, 2).name}};
  const std::string text = EncodeManifest(placed);
  ASSERT_TRUE(DecodeManifest(text, "m", kBuckets).ok());
  std::string both = text.substr(0, text.rfind("\nDMANI1") + 1);
  both.replace(both.find("\"name\":"), 0, "\"first\":true,");
  auto refused = DecodeManifest(FrameChecksummed("DMANI1", both), "m", kBuckets);
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("both 'before' and 'first'"), std::string::npos)
      << refused.status();
}

// Many multi-bucket files in random orders over many buckets (as a base
// manifest of a table compacted into shared files lists them): whatever is
// written whole or by section, the decoded manifest gives every bucket the
// same files in the same order.
TEST(ManifestTest, RandomOrdersOfSectionsKeepEveryBucketsOrder) {
  std::mt19937 rng(20261205);
  for (int round = 0; round < 50; ++round) {
    const int buckets = 1 + static_cast<int>(rng() % 40);
    Manifest m;
    std::vector<std::vector<int>> order(buckets);
    for (int b = 0; b < buckets; ++b) {
      for (int f = 1; f <= 8; ++f) {
        if (rng() % 3 != 0) order[b].push_back(f);
      }
      std::shuffle(order[b].begin(), order[b].end(), rng);
      if (rng() % 4 == 0) order[b].push_back(100 + b);  // a file of one bucket
    }
    for (int b = 0; b < buckets; ++b) {
      for (int f : order[b]) {
        m.added.push_back({f >= 100 ? File(b, f) : Section(b, f, 2), std::nullopt});
      }
    }
    const std::string encoded = EncodeManifest(m);
    auto d = DecodeManifest(encoded, "m", buckets);
    ASSERT_TRUE(d.ok()) << d.status();
    BucketFiles want(buckets), got(buckets);
    ASSERT_TRUE(ApplyManifest(m, "m", &want).ok());
    ASSERT_TRUE(ApplyManifest(*d, "m", &got).ok());
    ASSERT_EQ(Names(got), Names(want)) << "round " << round;
  }
}

// `removed` is written directly, not through a JSON library: it reads back,
// and any name is escaped as JSON requires.
TEST(ManifestTest, RemovedEntriesAreJsonOfEveryName) {
  Manifest m;
  m.removed = {{3, File(3, 1).name}, {0, Section(0, 2, 1).name}};
  m.added = {{File(3, 4), std::nullopt}};
  const std::string encoded = EncodeManifest(m);
  EXPECT_NE(encoded.find(Cat("\"removed\":[{\"bucket\":3,\"name\":\"", File(3, 1).name.str(), "\"},")),
            std::string::npos)
      << encoded;
  // The same bytes as the JSON library writes for it.
  const std::string body = encoded.substr(0, encoded.rfind("\nDMANI1") + 1);
  EXPECT_EQ(nlohmann::json::parse(body).dump() + "\n", body);
  auto d = DecodeManifest(encoded, "m", 4);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->removed.size(), 2u);
  EXPECT_EQ(d->removed[0].bucket, 3);
  EXPECT_EQ(d->removed[0].name, File(3, 1).name);
  EXPECT_EQ(d->removed[1].name, Section(0, 2, 1).name);
  // No decoder takes such a name, but the text stays JSON whatever it is.
  const std::string odd = "a\"b\\c\n\x01d\t/\x7f";
  Manifest strange;
  strange.removed = {{1, odd}};
  const std::string text = EncodeManifest(strange);
  auto j = nlohmann::json::parse(text.substr(0, text.rfind("\nDMANI1") + 1));
  EXPECT_EQ(j.at("removed").at(0).at("name").get<std::string>(), odd);
  EXPECT_EQ(j.at("format").get<int>(), 2);
  EXPECT_TRUE(j.at("added").empty());
}

TEST(ManifestTest, ApplyNamesWhatIsNotLive) {
  BucketFiles buckets(2);
  buckets.Append(1, File(1, 1));
  Manifest gone;
  gone.removed = {{1, File(1, 2).name}};
  absl::Status s = ApplyManifest(gone, "m7", &buckets);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("m7 removes '" + File(1, 2).name + "'"), std::string::npos) << s;
  Manifest misplaced;
  misplaced.added = {{File(0, 3), File(0, 1).name}};
  EXPECT_TRUE(absl::IsDataLoss(ApplyManifest(misplaced, "m8", &buckets)));
}

TEST(ManifestTest, NamesAreRandomAndChecked) {
  const std::string a = NewManifestFileName();
  EXPECT_TRUE(IsManifestFileName(a)) << a;
  EXPECT_NE(a, NewManifestFileName());
  EXPECT_FALSE(IsManifestFileName("../" + a));
  EXPECT_FALSE(IsManifestFileName(a + ".tmp"));
  EXPECT_FALSE(IsManifestFileName("0123456789ABCDEF0123456789abcdef.manifest"));
}

// Random appends (newest last) and compactions (a contiguous run replaced in
// place by one file, or by none): applying each step's diff to the previous
// state gives the new state, and so does folding every diff from empty.
TEST(ManifestTest, DiffsOfAppendsAndCompactionsFoldToTheState) {
  std::mt19937 rng(20261203);
  const int kBuckets = 4;
  BucketFiles state(kBuckets), folded(kBuckets);
  int next = 1;
  for (int step = 0; step < 400; ++step) {
    BucketFiles after = state;
    if (rng() % 3 != 0) {
      for (int b = 0; b < kBuckets; ++b) {
        if (rng() % 2) after.Append(b, File(b, next++));
      }
    } else {
      const int b = static_cast<int>(rng() % kBuckets);
      if (after[b].size() >= 2) {
        after.Edit(b, [&](std::vector<DataFileMeta>& files) {
          const size_t first = rng() % (files.size() - 1);
          const size_t count = 2 + rng() % (files.size() - first - 1);
          files.erase(files.begin() + first, files.begin() + first + count);
          if (rng() % 4 != 0) files.insert(files.begin() + first, File(b, next++));
        });
      }
    }
    std::optional<Manifest> diff = DiffBuckets(state, after);
    ASSERT_TRUE(diff.has_value()) << "step " << step;
    auto again = DecodeManifest(EncodeManifest(*diff), "m", kBuckets);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_TRUE(ApplyManifest(*again, "m", &folded).ok()) << "step " << step;
    ASSERT_EQ(Names(folded), Names(after)) << "step " << step;
    state = after;
  }
  BucketFiles from_base(kBuckets);
  ASSERT_TRUE(ApplyManifest(BaseManifest(state), "base", &from_base).ok());
  EXPECT_EQ(Names(from_base), Names(state));
}

// A copy shares every bucket until it changes one; the diff of the two is
// that bucket's change alone, and the original is left as it was.
TEST(ManifestTest, CopiesShareBucketsUntilOneChanges) {
  BucketFiles parent(3);
  parent.Append(0, File(0, 1));
  parent.Append(1, File(1, 2));
  BucketFiles next = parent;
  EXPECT_TRUE(next.SharesBucket(parent, 0));
  next.Append(1, File(1, 3));
  EXPECT_TRUE(next.SharesBucket(parent, 0));
  EXPECT_FALSE(next.SharesBucket(parent, 1));
  EXPECT_TRUE(next.SharesBucket(parent, 2));
  EXPECT_EQ(Names(parent), (std::vector<std::string>{"0:" + File(0, 1).name, "|",
                                                     "1:" + File(1, 2).name, "|", "|"}));
  std::optional<Manifest> diff = DiffBuckets(parent, next);
  ASSERT_TRUE(diff.has_value());
  EXPECT_TRUE(diff->removed.empty());
  ASSERT_EQ(diff->added.size(), 1u);
  EXPECT_EQ(diff->added[0].file.name, File(1, 3).name);
  EXPECT_FALSE(diff->added[0].before.has_value());
  // Applying a manifest to a copy changes the copy only.
  BucketFiles applied = parent;
  Manifest gone;
  gone.removed = {{0, File(0, 1).name}};
  ASSERT_TRUE(ApplyManifest(gone, "m", &applied).ok());
  EXPECT_TRUE(applied[0].empty());
  EXPECT_EQ(parent[0].size(), 1u);
  EXPECT_TRUE(applied.SharesBucket(parent, 1));
}

TEST(ManifestTest, AReorderedBucketHasNoDiff) {
  BucketFiles from(1), to(1);
  from.Append(0, File(0, 1));
  from.Append(0, File(0, 2));
  to.Append(0, File(0, 2));
  to.Append(0, File(0, 1));
  EXPECT_FALSE(DiffBuckets(from, to).has_value());
  EXPECT_FALSE(DiffBuckets(from, BucketFiles(2)).has_value());
}

}  // namespace
}  // namespace deltasidecar::table
