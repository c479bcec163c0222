#include "table/writer_claims.h"

#include <filesystem>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "table/base/file_util.h"
#include "table/table.h"
#include "table/testing/temp_table_testing.h"

namespace deltasidecar::table {
namespace {

namespace fs = std::filesystem;

class WriterClaimsTest : public temp_table_testing::TempTableTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CreateTable("claims_test", "id BIGINT, name STRING", "id", 2));
    table_ = Open();
    ASSERT_NE(table_, nullptr);
  }

  MutationBatch OneRow(int64_t id) {
    MutationBatch b;
    b.Upsert(schema_, Row{Value(id), Value(std::string("x"))});
    return b;
  }

  std::unique_ptr<Table> table_;
};

TEST(IncarnationIdentityTest, NamesAndParsesIncarnations) {
  EXPECT_EQ(IncarnationIdentity("job/0", 0), "job/0");
  EXPECT_EQ(IncarnationIdentity("job/0", 3), "job/0#3");
  EXPECT_EQ(IncarnationOf("job/0", "job/0"), 0);
  EXPECT_EQ(IncarnationOf("job/0#3", "job/0"), 3);
  EXPECT_EQ(IncarnationOf("job/0#03", "job/0"), std::nullopt);
  EXPECT_EQ(IncarnationOf("job/0#0", "job/0"), std::nullopt);
  EXPECT_EQ(IncarnationOf("job/1#3", "job/0"), std::nullopt);
  EXPECT_EQ(IncarnationOf("job/0#", "job/0"), std::nullopt);
}

TEST_F(WriterClaimsTest, LatestFollowsClaimsAndOneNumberHasOneOwner) {
  WriterClaims& claims = table_->claims();
  auto none = claims.Latest("w");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(claims.Claim("w", 0, "store-a").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(claims.Claim("w", 0, "store-b").status()));
  ASSERT_TRUE(claims.Claim("w", 2, "store-b").ok());
  auto latest = claims.Latest("w");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->incarnation, 2);
  EXPECT_EQ((*latest)->owner, "store-b");
  EXPECT_EQ((*latest)->writer_id, "w");
  // Another writer's claims are its own, also for ids that share a prefix.
  auto other = claims.Latest("w#2");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
}

// A claim keeps the checkpoint its registration restored from (-1: a fresh
// start); claims written without one read back as not known.
TEST_F(WriterClaimsTest, AClaimRecordsTheCheckpointItsRegistrationRestored) {
  WriterClaims& claims = table_->claims();
  ASSERT_TRUE(claims.Claim("w", 0, "store-a").ok());
  auto latest = claims.Latest("w");
  ASSERT_TRUE(latest.ok() && latest->has_value()) << latest.status();
  EXPECT_EQ((*latest)->restored, std::nullopt);
  auto snapshot = table_->LatestSnapshot();
  ASSERT_TRUE(snapshot.ok());
  for (int64_t restored : {int64_t{-1}, int64_t{7}}) {
    auto next = claims.ClaimNext("w", "store-b", **snapshot, restored);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->restored, restored);
    latest = claims.Latest("w");
    ASSERT_TRUE(latest.ok() && latest->has_value()) << latest.status();
    EXPECT_EQ((*latest)->incarnation, next->incarnation);
    EXPECT_EQ((*latest)->restored, restored);
  }
  EXPECT_TRUE(absl::IsInvalidArgument(claims.Claim("w", 9, "store-b", -2).status()));
}

// A superseded incarnation's checkpoint stays committable while every later
// claim restored from it or later, and no later incarnation committed.
TEST_F(WriterClaimsTest, ASupersededCheckpointIsKeptByEveryLaterRestoreUntilTheNextCommit) {
  WriterClaims& claims = table_->claims();
  ASSERT_TRUE(claims.Claim("w", 0, "store-a", -1).ok());
  auto kept = [&](int64_t checkpoint) {
    auto latest = table_->LatestSnapshot();
    EXPECT_TRUE(latest.ok());
    auto r = claims.CompletedBeforeSuperseded("w", 0, checkpoint, **latest);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && *r;
  };
  EXPECT_TRUE(kept(5));  // not superseded
  ASSERT_TRUE(claims.Claim("w", 1, "store-b", 5).ok());
  EXPECT_TRUE(kept(5));
  EXPECT_TRUE(kept(4));
  EXPECT_FALSE(kept(6));  // sealed after the restore point: abandoned
  ASSERT_TRUE(claims.Claim("w", 2, "store-a", 4).ok());
  EXPECT_FALSE(kept(5));  // a later restore went back before it
  EXPECT_TRUE(kept(4));
  ASSERT_TRUE(claims.Claim("w", 3, "store-b").ok());
  EXPECT_FALSE(kept(4));  // a claim without its restore point keeps nothing
  ASSERT_TRUE(claims.Claim("v", 0, "store-a", -1).ok());
  ASSERT_TRUE(claims.Claim("v", 1, "store-b", 5).ok());
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  auto before = claims.CompletedBeforeSuperseded("v", 0, 5, **latest);
  ASSERT_TRUE(before.ok() && *before);
  ASSERT_TRUE(table_->Commit(OneRow(1), {{"v#1", 6}}).ok());
  latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  auto after = claims.CompletedBeforeSuperseded("v", 0, 5, **latest);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);  // the new incarnation committed first
}

TEST_F(WriterClaimsTest, ClaimNextSkipsIncarnationsTheTableCommitted) {
  // A table written before claims existed: "w" and "w#4" committed.
  ASSERT_TRUE(table_->Commit(OneRow(1), {{"w", 1}}).ok());
  ASSERT_TRUE(table_->Commit(OneRow(2), {{"w#4", 1}}).ok());
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  auto next = table_->claims().ClaimNext("w", "store-a", **latest);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->incarnation, 5);
  next = table_->claims().ClaimNext("w", "store-a", **latest);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->incarnation, 6);
}

TEST_F(WriterClaimsTest, ConcurrentClaimsFromManyHandlesNeverShareANumber) {
  constexpr int kThreads = 8;
  constexpr int kClaimsEach = 10;
  absl::Mutex mu;
  std::multiset<int64_t> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread is a process of its own: its own table handle.
      auto table = Table::Open(root_, "t", {});
      ASSERT_TRUE(table.ok());
      auto latest = (*table)->LatestSnapshot();
      ASSERT_TRUE(latest.ok());
      for (int i = 0; i < kClaimsEach; ++i) {
        auto c = (*table)->claims().ClaimNext("w", "store-" + std::to_string(t), **latest);
        ASSERT_TRUE(c.ok()) << c.status();
        absl::MutexLock l(&mu);
        got.insert(c->incarnation);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(got.size(), size_t{kThreads * kClaimsEach});
  EXPECT_EQ(std::set<int64_t>(got.begin(), got.end()).size(), got.size());
  EXPECT_EQ(*got.rbegin(), kThreads * kClaimsEach - 1);
}

TEST_F(WriterClaimsTest, FenceRefusesACommitOnceAnotherOwnerClaimed) {
  ASSERT_TRUE(table_->claims().Claim("w", 0, "store-a").ok());
  auto commit = table_->NewCommit({{"w", 1}}, CommitFence{"store-a", {"w"}});
  ASSERT_TRUE(commit.ok());
  ASSERT_TRUE((*commit)->Add(OneRow(1).key(0), OneRow(1).value(0)).ok());
  // The writer moves before the snapshot is published.
  ASSERT_TRUE(table_->claims().Claim("w", 1, "store-b").ok());
  auto r = (*commit)->Finish();
  ASSERT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("fenced"), std::string_view::npos) << r.status();
  auto latest = table_->LatestSnapshot();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)->id, 0);
  EXPECT_EQ((*latest)->FileCount(), 0u);
  EXPECT_TRUE(table_->CheckFence({"store-b", {"w"}}).ok());
  EXPECT_TRUE(table_->CheckFence({"store-a", {"unclaimed"}}).ok());
}

TEST_F(WriterClaimsTest, AlreadyCommittedMustMatchTheRecordedDigest) {
  const CheckpointDigest sealed{1, 0xabc};
  ASSERT_TRUE(table_->Commit(OneRow(1), {{"w", 1, sealed}}).ok());
  auto same = table_->FindCommit({"w", 1, sealed});
  ASSERT_TRUE(same.ok() && same->has_value()) << same.status();
  // Another checkpoint under the same identity: never "already committed".
  auto other = table_->FindCommit({"w", 1, CheckpointDigest{1, 0xdef}});
  ASSERT_TRUE(absl::IsFailedPrecondition(other.status())) << other.status();
  auto retry = table_->Commit(OneRow(2), {{"w", 1, CheckpointDigest{2, 0xabc}}});
  ASSERT_TRUE(absl::IsFailedPrecondition(retry.status())) << retry.status();
  // Without a digest (deltactl import) only the identity is compared.
  auto plain = table_->FindCommit({"w", 1});
  ASSERT_TRUE(plain.ok() && plain->has_value());
  // The digest survives the snapshot file.
  auto reopened = Table::Open(root_, "t", {});
  ASSERT_TRUE(reopened.ok());
  auto snap = (*reopened)->SnapshotById(1);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ((*snap)->identities.size(), 1u);
  EXPECT_EQ((*snap)->identities[0].digest, sealed);
}

}  // namespace
}  // namespace deltasidecar::table
