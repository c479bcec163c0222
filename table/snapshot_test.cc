#include "table/snapshot.h"

#include "gtest/gtest.h"
#include "table/base/file_util.h"

namespace deltasidecar::table {
namespace {

Snapshot Sample() {
  Snapshot s;
  s.id = 42;
  s.parent_id = 41;
  s.time_ms = 1795484174093;
  s.kind = SnapshotKind::kAppend;
  s.identities = {{"job/op-1", 7}, {"job/op-2", 7}};
  s.writers["job/op-1"] = {7, 42};
  s.writers["job/op-2"] = {7, 42};
  s.added_entries = 10;
  s.added_deletes = 2;
  s.buckets.resize(3);
  DataFileMeta f;
  f.name = "00001-0123456789abcdef0123456789abcdef.sst";
  f.bucket = 1;
  f.added_in = 42;
  f.size_bytes = 4096;
  f.entries = 10;
  f.deletes = 2;
  f.min_key = std::string("\x00\x01\xff", 3);
  f.max_key = "zz";
  f.xxh3 = "00112233445566ff";
  s.buckets.Append(1, f);
  s.manifests = {{"0123456789abcdef0123456789abcdef.manifest", 1, 1}};
  s.removed = {"00002-ffffffffffffffffffffffffffffffff.sst"};
  return s;
}

// A snapshot file of format 1 (files inline), as earlier builds wrote them.
std::string FormatOneSnapshot(std::string_view file_name) {
  const std::string body =
      std::string(
          R"({"added_deletes":0,"added_entries":1,"buckets":[[],[{"added_in":1,"deletes":0,"entries":1,)"
          R"("max_key":"gAAAAAAAAAE=","min_key":"gAAAAAAAAAE=","name":")") +
      std::string(file_name) +
      R"(","size":1155,"xxh3":"75dc771e2e410d4b"}]],"format":1,"id":1,"identities":[],"kind":"APPEND",)"
      R"("parent_id":0,"removed":[],"time_ms":1795484631617,"writers":{}})" "\n";
  return FrameChecksummed("DSNAP1", body);
}

TEST(SnapshotTest, RoundTrips) {
  Snapshot s = Sample();
  auto d = DecodeSnapshot(EncodeSnapshot(s), "test", 3);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, 42);
  EXPECT_EQ(d->parent_id, 41);
  EXPECT_EQ(d->time_ms, s.time_ms);
  EXPECT_EQ(d->kind, SnapshotKind::kAppend);
  EXPECT_EQ(d->identities, s.identities);
  EXPECT_EQ(d->writers.at("job/op-2").snapshot_id, 42);
  EXPECT_EQ(d->removed, s.removed);
  // The files are in the manifests: the buckets are for the table to fill.
  EXPECT_EQ(d->manifests, s.manifests);
  ASSERT_EQ(d->buckets.size(), 3u);
  EXPECT_EQ(d->FileCount(), 0u);
}

TEST(SnapshotTest, ReadsFormatOneWithItsFilesInline) {
  auto d = DecodeSnapshot(FormatOneSnapshot("00001-639441dd9d454d68901af6bee4f29f79.sst"), "old", 2);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->manifests.empty());
  ASSERT_EQ(d->buckets.size(), 2u);
  ASSERT_EQ(d->buckets[1].size(), 1u);
  const DataFileMeta& f = d->buckets[1][0];
  EXPECT_EQ(f.name, "00001-639441dd9d454d68901af6bee4f29f79.sst");
  EXPECT_EQ(f.bucket, 1);
  EXPECT_EQ(f.size_bytes, 1155u);
  EXPECT_EQ(f.xxh3, "75dc771e2e410d4b");
  EXPECT_EQ(d->TotalEntries(), 1u);
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeSnapshot(FormatOneSnapshot("00001-639441dd9d454d68901af6bee4f29f79.sst"), "old", 3)
          .status()));
  // A file name of another bucket.
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeSnapshot(FormatOneSnapshot("00000-639441dd9d454d68901af6bee4f29f79.sst"), "old", 2)
          .status()));
}

TEST(SnapshotTest, EveryFlippedByteIsDataLoss) {
  std::string encoded = EncodeSnapshot(Sample());
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string bad = encoded;
    bad[i] ^= 0x20;
    auto d = DecodeSnapshot(bad, "snap", 3);
    EXPECT_TRUE(absl::IsDataLoss(d.status())) << "byte " << i << ": " << d.status();
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(encoded.substr(0, encoded.size() - 1), "snap", 3).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot("", "snap", 3).status()));
}

TEST(SnapshotTest, BucketCountMustMatchTable) {
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(EncodeSnapshot(Sample()), "snap", 4).status()));
}

TEST(SnapshotTest, RejectsFileNamesOutsideTheTable) {
  Snapshot s = Sample();
  s.removed = {"../../etc/passwd"};
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(EncodeSnapshot(s), "snap", 3).status()));
  s = Sample();
  s.manifests[0].name = "../0123456789abcdef0123456789abcd.manifest";
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(EncodeSnapshot(s), "snap", 3).status()));
}

TEST(SnapshotTest, ContainsFollowsWriterCheckpoints) {
  Snapshot s = Sample();
  EXPECT_TRUE(s.Contains({"job/op-1", 7}));
  EXPECT_TRUE(s.Contains({"job/op-1", 3}));
  EXPECT_FALSE(s.Contains({"job/op-1", 8}));
  EXPECT_FALSE(s.Contains({"other", 1}));
}

TEST(SnapshotTest, FileNames) {
  EXPECT_EQ(SnapshotFileName(42), "snapshot-00000000000000000042");
  EXPECT_EQ(ParseSnapshotFileName("snapshot-00000000000000000042"), 42);
  EXPECT_EQ(ParseSnapshotFileName("snapshot-42"), -1);
  EXPECT_EQ(ParseSnapshotFileName(".tmp-abc"), -1);
  EXPECT_TRUE(IsDataFileName("00001-0123456789abcdef0123456789abcdef.sst", 1));
  EXPECT_FALSE(IsDataFileName("00001-0123456789abcdef0123456789abcdef.sst", 2));
  EXPECT_FALSE(IsDataFileName("00001-0123456789ABCDEF0123456789abcdef.sst", -1));
}

TEST(FramingTest, FooterFormat) {
  std::string framed = FrameChecksummed("DSNAP1", "{}\n");
  // zlib CRC-32 of "{}\n" is 0x4ed7a0ea... computed independently below.
  EXPECT_EQ(framed.substr(0, 3), "{}\n");
  EXPECT_EQ(framed.substr(3, 7), "DSNAP1 ");
  EXPECT_EQ(framed.back(), '\n');
  auto body = UnframeChecksummed("DSNAP1", framed, "x");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, "{}\n");
  EXPECT_TRUE(absl::IsDataLoss(UnframeChecksummed("DTABLE1", framed, "x").status()));
}

TEST(FramingTest, KnownCrc) {
  // CRC-32 (zlib / ISO-HDLC) of "123456789" is the published check value cbf43926.
  EXPECT_EQ(FrameChecksummed("M", "123456789"), "123456789M cbf43926 9\n");
}

}  // namespace
}  // namespace deltasidecar::table
