// The staging store: registration, seals, commits, aborts, reads and reopening.
#include "checkpoint/staging_store.h"

#include <map>
#include <thread>

#include "checkpoint/staging_store_testing.h"
#include "table/snapshot.h"

namespace deltasidecar::checkpoint {
namespace {

using namespace staging_testing;  // NOLINT(build/namespaces): the fixture and its helpers

TEST(StagedEntryTest, RoundTripsAndRejectsMalformed) {
  std::string p;
  AppendStagedEntry("k1", "v1", &p);
  AppendStagedEntry("", "", &p);
  AppendStagedEntry(std::string(300, 'k'), std::string(70000, 'v'), &p);
  std::vector<std::pair<std::string, std::string>> seen;
  ASSERT_OK(ForEachStagedEntry(p, [&](std::string_view k, std::string_view v) {
    seen.emplace_back(k, v);
    return absl::OkStatus();
  }));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("k1"), std::string("v1")));
  EXPECT_EQ(seen[1], std::make_pair(std::string(), std::string()));
  EXPECT_EQ(seen[2].first.size(), 300u);
  EXPECT_EQ(seen[2].second.size(), 70000u);

  auto ignore = [](std::string_view, std::string_view) { return absl::OkStatus(); };
  EXPECT_CODE(ForEachStagedEntry(p.substr(0, p.size() - 1), ignore), kDataLoss);
  EXPECT_CODE(ForEachStagedEntry(std::string("\x05k", 2), ignore), kDataLoss);
  EXPECT_CODE(ForEachStagedEntry(std::string(11, '\xff'), ignore), kDataLoss);
  EXPECT_TRUE(ForEachStagedEntry("", ignore).ok());
  // The callback's error stops the walk and is returned as is.
  EXPECT_CODE(ForEachStagedEntry(p, [](std::string_view,
                                       std::string_view) { return absl::CancelledError("stop"); }),
              kCancelled);
}

TEST_F(StagingStoreTest, RoundTripSeveralWritersAndTables) {
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  const std::vector<WriterKey> writers = {{"t1", "w1"}, {"t1", "w2"}, {"t2", "w1"}};
  std::map<int, int64_t> epochs;
  for (size_t i = 0; i < writers.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, writers[i], std::nullopt, -1));
    EXPECT_EQ(reg.epoch, 1);
    EXPECT_EQ(reg.incarnation, 0);
    EXPECT_EQ(reg.table_writer_id, writers[i].writer_id);
    EXPECT_TRUE(reg.pending.empty());
    EXPECT_EQ(reg.last_committed, -1);
    epochs[i] = reg.epoch;
  }
  // Two checkpoints per writer, interleaved between writers.
  for (int cp = 1; cp <= 2; ++cp) {
    for (size_t i = 0; i < writers.size(); ++i) {
      for (int b = 0; b < 3; ++b) {
        ASSERT_OK_AND_ASSIGN(
            uint64_t seq,
            store_->Stage(writers[i], epochs[i], Payload(Cat(i, "-", cp, "-", b), b + 1), b + 1));
        EXPECT_EQ(seq, static_cast<uint64_t>((cp - 1) * 3 + b));
      }
    }
    for (size_t i = 0; i < writers.size(); ++i) {
      ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(writers[i], epochs[i], cp));
      EXPECT_EQ(sealed.checkpoint_id, cp);
      EXPECT_EQ(sealed.epoch, epochs[i]);
      EXPECT_EQ(sealed.batches, 3u);
      EXPECT_EQ(sealed.rows, 6u);
    }
  }
  for (size_t i = 0; i < writers.size(); ++i) {
    for (int cp = 1; cp <= 2; ++cp) {
      std::vector<std::string> got = ReadAll(writers[i], cp);
      ASSERT_EQ(got.size(), 3u);
      for (int b = 0; b < 3; ++b) EXPECT_EQ(got[b], Payload(Cat(i, "-", cp, "-", b), b + 1));
    }
  }
  ASSERT_OK_AND_ASSIGN(std::vector<WriterKey> listed, store_->Writers());
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].table, "t1");
  EXPECT_EQ(listed[0].writer_id, "w1");
  EXPECT_EQ(listed[2].table, "t2");

  // Committing one writer leaves the others alone.
  ASSERT_OK(store_->MarkCommitted(writers[1], 2));
  ASSERT_OK_AND_ASSIGN(auto w1_left, store_->SealedUpTo(writers[1], 100));
  EXPECT_TRUE(w1_left.empty());
  ASSERT_OK_AND_ASSIGN(auto w0_left, store_->SealedUpTo(writers[0], 100));
  EXPECT_EQ(w0_left.size(), 2u);
  EXPECT_EQ(ReadAll(writers[2], 2).size(), 3u);
  ASSERT_OK_AND_ASSIGN(Registration w1, store_->Lookup(writers[1]));
  EXPECT_EQ(w1.last_committed, 2);
  EXPECT_TRUE(w1.pending.empty());
}

TEST_F(StagingStoreTest, UnknownAndInvalidWriters) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  EXPECT_CODE(store_->Lookup(w), kNotFound);
  EXPECT_CODE(store_->CheckEpoch(w, 1), kNotFound);
  EXPECT_CODE(store_->Stage(w, 1, "x", 1), kNotFound);
  EXPECT_CODE(store_->Seal(w, 1, 1), kNotFound);
  EXPECT_CODE(store_->MarkCommitted(w, 1), kNotFound);
  EXPECT_CODE(store_->Abort(w, 1, 1), kNotFound);
  EXPECT_CODE(store_->SealedUpTo(w, 1), kNotFound);
  EXPECT_CODE(store_->ReadSealed(w, 1, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"t", ""}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"t", "a\nb"}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{"", "w"}, std::nullopt, -1), kInvalidArgument);
  EXPECT_CODE(RegisterAs(*store_, WriterKey{std::string("a\0b", 3), "w"}, std::nullopt, -1),
              kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto listed, store_->Writers());
  EXPECT_TRUE(listed.empty());
  // A writer id of the maximum length works.
  const WriterKey longest{"t", std::string(table::kMaxWriterIdBytes, 'x')};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, longest, std::nullopt, -1));
  ASSERT_OK(store_->Stage(longest, reg.epoch, "p", 1).status());
  ASSERT_OK(store_->Seal(longest, reg.epoch, 1).status());
  EXPECT_THAT(ReadAll(longest, 1), ElementsAre("p"));
  // Seal with a negative id is refused.
  EXPECT_CODE(store_->Seal(longest, reg.epoch, -1), kInvalidArgument);
}

TEST_F(StagingStoreTest, EpochsFenceStageSealAndAbort) {
  store_ = OpenStore();
  const WriterKey w{"orders", "sink-0"};
  ASSERT_OK_AND_ASSIGN(Registration first, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, first.epoch, Payload("a", 2), 2).status());
  ASSERT_OK(store_->Seal(w, first.epoch, 1).status());
  ASSERT_OK_AND_ASSIGN(Registration second, RegisterAs(*store_, w, 1, -1));
  EXPECT_EQ(second.epoch, first.epoch + 1);
  ASSERT_EQ(second.pending.size(), 1u);

  absl::Status fenced = store_->CheckEpoch(w, first.epoch);
  EXPECT_EQ(fenced.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fenced.message(), "writer sink-0 of table orders is fenced: epoch 1 is older than 2");
  EXPECT_CODE(store_->Stage(w, first.epoch, "x", 1), kFailedPrecondition);
  EXPECT_CODE(store_->Seal(w, first.epoch, 2), kFailedPrecondition);
  EXPECT_CODE(store_->Abort(w, first.epoch, 1), kFailedPrecondition);
  EXPECT_CODE(store_->Stage(w, second.epoch + 1, "x", 1), kFailedPrecondition);
  ASSERT_OK(store_->CheckEpoch(w, second.epoch));

  // Nothing the zombie tried changed the state.
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 10));
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre(Payload("a", 2)));
  ASSERT_OK(store_->Stage(w, second.epoch, "b", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint two, store_->Seal(w, second.epoch, 2));
  EXPECT_EQ(two.epoch, second.epoch);
  EXPECT_THAT(ReadAll(w, 2), ElementsAre("b"));
}

TEST_F(StagingStoreTest, RestoreKeepsSealsUpToRestoredAndDropsLater) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 4; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), cp), cp).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->MarkCommitted(w, 1));
  ASSERT_OK(store_->Stage(w, reg.epoch, Payload("open", 1), 1).status());

  // Restored from checkpoint 3: 2 and 3 are pending, 4 and the open batch go.
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 3, 1));
  EXPECT_EQ(again.epoch, 2);
  EXPECT_EQ(again.incarnation, 0);
  EXPECT_EQ(again.table_writer_id, "w");
  EXPECT_EQ(again.last_committed, 1);
  ASSERT_EQ(again.pending.size(), 2u);
  EXPECT_EQ(again.pending[0].checkpoint_id, 2);
  EXPECT_EQ(again.pending[0].rows, 2u);
  EXPECT_EQ(again.pending[1].checkpoint_id, 3);
  EXPECT_EQ(again.pending[1].epoch, 1);
  EXPECT_CODE(store_->ReadSealed(w, 4, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  EXPECT_THAT(ReadAll(w, 2), ElementsAre(Payload("cp2", 2)));
  EXPECT_THAT(ReadAll(w, 3), ElementsAre(Payload("cp3", 3)));

  // Checkpoints after the restore continue above it; the open batch is gone.
  EXPECT_CODE(store_->Seal(w, again.epoch, 3), kFailedPrecondition);
  ASSERT_OK(store_->Stage(w, again.epoch, Payload("new", 1), 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, again.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre(Payload("new", 1)));
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  ASSERT_EQ(sealed.size(), 3u);
  ASSERT_OK(store_->MarkCommitted(w, 4));
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, RestoreReconcilesWithTableLastCommitted) {
  // The sidecar crashed after the table committed 1..2 but before
  // MarkCommitted: the table's record wins.
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), 1), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 3, 2));
  EXPECT_EQ(again.incarnation, 0);
  EXPECT_EQ(again.last_committed, 2);
  ASSERT_EQ(again.pending.size(), 1u);
  EXPECT_EQ(again.pending[0].checkpoint_id, 3);
  EXPECT_THAT(ReadAll(w, 3), ElementsAre(Payload("cp3", 1)));
  EXPECT_CODE(store_->ReadSealed(w, 2, [](std::string_view) { return absl::OkStatus(); }),
              kFailedPrecondition);
  ASSERT_OK(store_->MarkCommitted(w, 3));
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, FreshRegistrationDropsUncommitted) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  const WriterKey other{"t", "other"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration oreg, RegisterAs(*store_, other, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "a", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  ASSERT_OK(store_->Stage(w, reg.epoch, "b", 1).status());
  ASSERT_OK(store_->Stage(other, oreg.epoch, "o", 1).status());
  ASSERT_OK(store_->Seal(other, oreg.epoch, 1).status());

  ASSERT_OK_AND_ASSIGN(Registration fresh, RegisterAs(*store_, w, std::nullopt, -1));
  EXPECT_EQ(fresh.epoch, 2);
  EXPECT_EQ(fresh.incarnation, 0);  // nothing was committed: no collision
  EXPECT_TRUE(fresh.pending.empty());
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  EXPECT_TRUE(sealed.empty());
  // The new run numbers checkpoints from 1 again.
  ASSERT_OK(store_->Stage(w, fresh.epoch, "c", 1).status());
  ASSERT_OK(store_->Seal(w, fresh.epoch, 1).status());
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("c"));
  EXPECT_THAT(ReadAll(other, 1), ElementsAre("o"));
}

TEST_F(StagingStoreTest, RewindGivesNewIncarnationAndIdentity) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 5; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat("cp", cp), 1), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->MarkCommitted(w, 4));
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());

  // Restored from savepoint 2 while the table holds checkpoint 4 of "w".
  ASSERT_OK_AND_ASSIGN(Registration rewound, RegisterAs(*store_, w, 2, 4));
  EXPECT_EQ(rewound.epoch, 2);
  EXPECT_EQ(rewound.incarnation, 1);
  EXPECT_EQ(rewound.table_writer_id, "w#1");
  EXPECT_EQ(rewound.last_committed, -1);
  EXPECT_TRUE(rewound.pending.empty());  // everything <= 2 is in the table already
  EXPECT_CODE(store_->ReadSealed(w, 5, [](std::string_view) { return absl::OkStatus(); }),
              kNotFound);
  ASSERT_OK_AND_ASSIGN(Registration looked, store_->Lookup(w));
  EXPECT_EQ(looked.table_writer_id, "w#1");
  EXPECT_EQ(looked.incarnation, 1);

  // Checkpoint 3 of the new identity stages and seals normally.
  ASSERT_OK(store_->Stage(w, rewound.epoch, "again3", 1).status());
  ASSERT_OK(store_->Seal(w, rewound.epoch, 3).status());
  EXPECT_THAT(ReadAll(w, 3), ElementsAre("again3"));
  ASSERT_OK(store_->MarkCommitted(w, 3));

  // Restoring from 3 under "w#1" (table: 3) is not a rewind.
  ASSERT_OK_AND_ASSIGN(Registration later, RegisterAs(*store_, w, 3, 3));
  EXPECT_EQ(later.incarnation, 1);
  EXPECT_EQ(later.table_writer_id, "w#1");
  EXPECT_EQ(later.last_committed, 3);
  // A fresh start after commits would reuse committed ids: also a rewind.
  ASSERT_OK_AND_ASSIGN(Registration fresh, RegisterAs(*store_, w, std::nullopt, 3));
  EXPECT_EQ(fresh.incarnation, 2);
  EXPECT_EQ(fresh.table_writer_id, "w#2");
  EXPECT_EQ(fresh.last_committed, -1);
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, SealIsIdempotentAndOrdered) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK(store_->Stage(w, reg.epoch, "a", 3).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint first, store_->Seal(w, reg.epoch, 5));
  ASSERT_OK(store_->Stage(w, reg.epoch, "b", 1).status());
  // A retried Seal(5) returns the same seal and leaves the open batch open.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint retried, store_->Seal(w, reg.epoch, 5));
  EXPECT_EQ(retried.checkpoint_id, 5);
  EXPECT_EQ(retried.rows, first.rows);
  EXPECT_EQ(retried.batches, first.batches);
  EXPECT_EQ(retried.checksum, first.checksum);
  EXPECT_EQ(retried.epoch, first.epoch);

  absl::Status older = store_->Seal(w, reg.epoch, 4).status();
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(older.message()),
              HasSubstr("checkpoint 4 is not after the last sealed checkpoint 5"));

  // An empty seal is valid.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint six, store_->Seal(w, reg.epoch, 6));
  EXPECT_EQ(six.batches, 1u);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint seven, store_->Seal(w, reg.epoch, 7));
  EXPECT_EQ(seven.batches, 0u);
  EXPECT_EQ(seven.rows, 0u);
  EXPECT_EQ(seven.checksum, 0u);
  EXPECT_TRUE(ReadAll(w, 7).empty());
  EXPECT_THAT(ReadAll(w, 6), ElementsAre("b"));

  // The same id sealed by a later epoch is not a retry.
  ASSERT_OK_AND_ASSIGN(Registration again, RegisterAs(*store_, w, 7, -1));
  EXPECT_CODE(store_->Seal(w, again.epoch, 7), kFailedPrecondition);

  // Equal payloads in different batches still give different checksums.
  ASSERT_OK(store_->Stage(w, again.epoch, "x", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint eight, store_->Seal(w, again.epoch, 8));
  ASSERT_OK(store_->Stage(w, again.epoch, "x", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint nine, store_->Seal(w, again.epoch, 9));
  EXPECT_NE(eight.checksum, nine.checksum);
}

TEST_F(StagingStoreTest, SealedUpToIsOrderedAndBounded) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  // Ids cross a byte boundary and the sign-flip boundary would show up as
  // misordering if the key encoding were wrong.
  const std::vector<int64_t> ids = {0, 1, 2, 255, 256, 65536, int64_t{1} << 40};
  for (int64_t id : ids) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat("p", id), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, id).status());
  }
  ASSERT_OK_AND_ASSIGN(auto all, store_->SealedUpTo(w, std::numeric_limits<int64_t>::max()));
  ASSERT_EQ(all.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(all[i].checkpoint_id, ids[i]);
    EXPECT_THAT(ReadAll(w, ids[i]), ElementsAre(Cat("p", ids[i])));
  }
  ASSERT_OK_AND_ASSIGN(auto some, store_->SealedUpTo(w, 256));
  ASSERT_EQ(some.size(), 5u);
  EXPECT_EQ(some.back().checkpoint_id, 256);
  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK_AND_ASSIGN(auto rest, store_->SealedUpTo(w, 256));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].checkpoint_id, 255);
  ASSERT_OK_AND_ASSIGN(auto none, store_->SealedUpTo(w, -1));
  EXPECT_TRUE(none.empty());
}

TEST_F(StagingStoreTest, MarkCommittedDeletesDataAndIsIdempotent) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  const WriterKey other{"t", "w2"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration oreg, RegisterAs(*store_, other, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    for (int b = 0; b < 4; ++b) {
      ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(cp, b), 50), 50).status());
    }
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());
  ASSERT_OK(store_->Stage(other, oreg.epoch, "other", 1).status());
  ASSERT_OK(store_->Seal(other, oreg.epoch, 1).status());
  EXPECT_GT(store_->ApproximateBytes(), 0u);

  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK(store_->MarkCommitted(w, 2));  // a retry
  ASSERT_OK(store_->MarkCommitted(w, 1));  // an older one
  ASSERT_OK_AND_ASSIGN(auto left, store_->SealedUpTo(w, 100));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].checkpoint_id, 3);
  EXPECT_EQ(ReadAll(w, 3).size(), 4u);
  EXPECT_CODE(store_->ReadSealed(w, 2, [](std::string_view) { return absl::OkStatus(); }),
              kFailedPrecondition);

  ASSERT_OK(store_->MarkCommitted(w, 3));
  // The open batch survives the commit and seals into checkpoint 4.
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, reg.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre("open"));
  ASSERT_OK(store_->MarkCommitted(w, 4));
  ASSERT_OK_AND_ASSIGN(Registration looked, store_->Lookup(w));
  EXPECT_EQ(looked.last_committed, 4);
  EXPECT_TRUE(looked.pending.empty());

  // Nothing is left under the writer's data or seal prefixes; the other
  // writer's data is intact.
  const std::string wid = std::string("t\0w\0", 4);
  EXPECT_THAT(RawKeys("d\0" + wid), ::testing::IsEmpty());
  EXPECT_THAT(RawKeys("s\0" + wid), ::testing::IsEmpty());
  EXPECT_EQ(RawKeys(std::string("d\0t\0w2\0", 7)).size(), 1u);
  EXPECT_EQ(RawKeys(std::string("s\0t\0w2\0", 7)).size(), 1u);
}

// Seals are deleted key by key: a range tombstone per commit would stay in
// the state DB's memtable for hours (its records are small) and every new
// iterator re-fragments all of them, so each commit would get slower.
TEST_F(StagingStoreTest, CommitsAndRegistrationsLeaveNoRangeTombstones) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 6; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(cp), 10), 10).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
    if (cp == 2 || cp == 4) ASSERT_OK(store_->MarkCommitted(w, cp));
  }
  // A restore to checkpoint 5 keeps seal 5 and discards none committed; a
  // fresh registration discards everything not committed.
  ASSERT_OK_AND_ASSIGN(reg, RegisterAs(*store_, w, 5, 4));
  ASSERT_OK_AND_ASSIGN(auto kept, store_->SealedUpTo(w, 100));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].checkpoint_id, 5);
  ASSERT_OK_AND_ASSIGN(reg, RegisterAs(*store_, w, std::nullopt, 4));
  ASSERT_OK_AND_ASSIGN(kept, store_->SealedUpTo(w, 100));
  EXPECT_TRUE(kept.empty());

  uint64_t range_deletions = 0;
  WithRawDb(
      [&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
        for (auto* h : handles) {
          ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), h).ok());
          rocksdb::TablePropertiesCollection props;
          ASSERT_TRUE(db->GetPropertiesOfAllTables(h, &props).ok());
          for (const auto& [file, p] : props) range_deletions += p->num_range_deletions;
        }
      },
      /*batches=*/false);
  EXPECT_EQ(range_deletions, 0u);
}

TEST_F(StagingStoreTest, AbortDropsSealedOrOpenBatches) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int cp = 1; cp <= 3; ++cp) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat("cp", cp), 1).status());
    ASSERT_OK(store_->Seal(w, reg.epoch, cp).status());
  }
  ASSERT_OK(store_->Stage(w, reg.epoch, "open", 1).status());

  // A sealed checkpoint in the middle: later seals keep their data.
  ASSERT_OK(store_->Abort(w, reg.epoch, 2));
  ASSERT_OK(store_->Abort(w, reg.epoch, 2));  // idempotent
  ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(w, 100));
  ASSERT_EQ(sealed.size(), 2u);
  EXPECT_EQ(sealed[0].checkpoint_id, 1);
  EXPECT_EQ(sealed[1].checkpoint_id, 3);
  EXPECT_THAT(ReadAll(w, 1), ElementsAre("cp1"));
  EXPECT_THAT(ReadAll(w, 3), ElementsAre("cp3"));

  // Above the last seal: the open batches.
  ASSERT_OK(store_->Abort(w, reg.epoch, 4));
  ASSERT_OK(store_->Stage(w, reg.epoch, "after", 1).status());
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint four, store_->Seal(w, reg.epoch, 4));
  EXPECT_EQ(four.batches, 1u);
  EXPECT_THAT(ReadAll(w, 4), ElementsAre("after"));

  // The last seal itself; its id is not reused.
  ASSERT_OK(store_->Abort(w, reg.epoch, 4));
  EXPECT_CODE(store_->Seal(w, reg.epoch, 4), kFailedPrecondition);
  ASSERT_OK(store_->Stage(w, reg.epoch, "five", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 5).status());
  EXPECT_THAT(ReadAll(w, 5), ElementsAre("five"));

  ASSERT_OK(store_->MarkCommitted(w, 5));
  EXPECT_CODE(store_->Abort(w, reg.epoch, 3), kFailedPrecondition);  // committed
  EXPECT_THAT(RawKeys(std::string("d\0", 2)), ::testing::IsEmpty());
}

TEST_F(StagingStoreTest, CorruptStagedValueIsDataLoss) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int b = 0; b < 3; ++b)
    ASSERT_OK(store_->Stage(w, reg.epoch, Payload(Cat(b), 5), 5).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 7).status());

  // Flip one byte of the second batch's payload, behind the store's back.
  WithRawDb([](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_EQ(cfs.size(), 2u);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[1]));
    it->Seek(rocksdb::Slice("d\0", 2));
    ASSERT_TRUE(it->Valid());
    it->Next();
    ASSERT_TRUE(it->Valid());
    std::string key = it->key().ToString();
    std::string value = it->value().ToString();
    it.reset();
    value[3] ^= 0x20;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cfs[1], key, value).ok());
  });
  store_ = OpenStore();
  int served = 0;
  absl::Status s = store_->ReadSealed(w, 7, [&](std::string_view) {
    ++served;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("checkpoint 7 of writer w of table t"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("batch seq 1"));
  EXPECT_EQ(served, 1);  // the damaged batch is never handed out
}

TEST_F(StagingStoreTest, MissingBatchIsDataLoss) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  for (int b = 0; b < 3; ++b) ASSERT_OK(store_->Stage(w, reg.epoch, Cat("b", b), 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  ASSERT_OK(store_->Stage(w, reg.epoch, "c", 1).status());
  ASSERT_OK(store_->Seal(w, reg.epoch, 2).status());
  WithRawDb([&](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_EQ(cfs.size(), 3u);  // default (unused), checkpoint 1's batches, checkpoint 2's
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[1]));
    it->Seek(rocksdb::Slice("d\0", 2));
    it->Next();  // seq 1 of checkpoint 1
    ASSERT_TRUE(it->Valid());
    std::string key = it->key().ToString();
    it.reset();
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cfs[1], key).ok());
  });
  store_ = OpenStore();
  absl::Status s = store_->ReadSealed(w, 1, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("batch seq 1 is missing"));
  EXPECT_THAT(ReadAll(w, 2), ElementsAre("c"));
}

TEST_F(StagingStoreTest, ReopenPreservesRegistryAndData) {
  store_ = OpenStore();
  const WriterKey a{"t", "a"};
  const WriterKey b{"u", "b"};
  ASSERT_OK_AND_ASSIGN(Registration ra, RegisterAs(*store_, a, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration rb, RegisterAs(*store_, b, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(rb, RegisterAs(*store_, b, std::nullopt, -1));
  ASSERT_OK(store_->Stage(a, ra.epoch, "a1", 1).status());
  ASSERT_OK(store_->Seal(a, ra.epoch, 1).status());
  ASSERT_OK(store_->Stage(a, ra.epoch, "a2", 1).status());
  ASSERT_OK(store_->Seal(a, ra.epoch, 2).status());
  ASSERT_OK(store_->MarkCommitted(a, 1));
  ASSERT_OK(store_->Stage(a, ra.epoch, "a-open", 2).status());
  ASSERT_OK(store_->Stage(b, rb.epoch, "b1", 1).status());

  Reopen();
  ASSERT_OK_AND_ASSIGN(auto writers, store_->Writers());
  ASSERT_EQ(writers.size(), 2u);
  EXPECT_EQ(writers[0].writer_id, "a");
  EXPECT_EQ(writers[1].writer_id, "b");
  ASSERT_OK_AND_ASSIGN(Registration la, store_->Lookup(a));
  EXPECT_EQ(la.epoch, ra.epoch);
  EXPECT_EQ(la.last_committed, 1);
  ASSERT_EQ(la.pending.size(), 1u);
  EXPECT_EQ(la.pending[0].checkpoint_id, 2);
  ASSERT_OK_AND_ASSIGN(Registration lb, store_->Lookup(b));
  EXPECT_EQ(lb.epoch, 2);
  ASSERT_OK(store_->CheckEpoch(a, ra.epoch));
  EXPECT_THAT(ReadAll(a, 2), ElementsAre("a2"));
  // The open batches and the sequence numbers continue where they were.
  ASSERT_OK_AND_ASSIGN(uint64_t seq, store_->Stage(a, ra.epoch, "a-more", 1));
  EXPECT_EQ(seq, 3u);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint three, store_->Seal(a, ra.epoch, 3));
  EXPECT_EQ(three.rows, 3u);
  EXPECT_THAT(ReadAll(a, 3), ElementsAre("a-open", "a-more"));
  ASSERT_OK(store_->Seal(b, rb.epoch, 1).status());
  EXPECT_THAT(ReadAll(b, 1), ElementsAre("b1"));
}

TEST_F(StagingStoreTest, ReadSealedHoldsItsSnapshotAcrossCommitAndChunks) {
  StagingOptions options;
  options.write_buffer_bytes = 1 << 20;  // several flushes during the test
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string big(1 << 20, 'z');
  const int kBatches = 70;  // read in many chunks
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_OK(store_->Stage(w, reg.epoch, Cat(b, big), 1).status());
  }
  ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());
  int seen = 0;
  bool committed = false;
  absl::Status s = store_->ReadSealed(w, 1, [&](std::string_view p) {
    EXPECT_EQ(p, Cat(seen, big));
    if (++seen == 3 && !committed) {
      committed = true;
      // The data goes away under the read; the snapshot keeps it readable.
      EXPECT_TRUE(store_->MarkCommitted(w, 1).ok());
      EXPECT_TRUE(store_->Stage(w, reg.epoch, "more", 1).ok());
    }
    return absl::OkStatus();
  });
  ASSERT_OK(s);
  EXPECT_EQ(seen, kBatches);
}

}  // namespace
}  // namespace deltasidecar::checkpoint
