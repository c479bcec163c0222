// The staging store's limits and load: the byte limit, the per-writer quota,
// concurrent writers, and a measurement run by hand.
#include "checkpoint/staging_store.h"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "checkpoint/staging_store_testing.h"

namespace deltasidecar::checkpoint {
namespace {

using namespace staging_testing;  // NOLINT(build/namespaces): the fixture and its helpers

TEST_F(StagingStoreTest, MaxBytesRefusesStageUntilCommitFreesSpace) {
  StagingOptions options;
  options.max_bytes = 4 << 20;
  options.write_buffer_bytes = 512 << 10;
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  const std::string payload(64 << 10, 'p');
  int staged = 0;
  absl::Status refused;
  for (; staged < 1000; ++staged) {
    auto s = store_->Stage(w, reg.epoch, payload, 1);
    if (!s.ok()) {
      refused = s.status();
      break;
    }
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("limit of 4194304"));
  // RocksDB's estimates are approximate: 2 MiB of 4 always fit, 6.25 never.
  EXPECT_GE(staged, 32);
  EXPECT_LE(staged, 100);
  ASSERT_OK_AND_ASSIGN(SealedCheckpoint sealed, store_->Seal(w, reg.epoch, 1));
  EXPECT_EQ(sealed.batches, static_cast<uint64_t>(staged));
  ASSERT_OK(store_->MarkCommitted(w, 1));

  // The deleted data leaves RocksDB's estimates once flushed and compacted.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  absl::Status s;
  do {
    s = store_->Stage(w, reg.epoch, payload, 1).status();
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_OK(s);
  while (store_->ApproximateBytes() >= options.max_bytes / 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LT(store_->ApproximateBytes(), options.max_bytes / 2);
}

TEST_F(StagingStoreTest, ConcurrentStageOnFourWriters) {
  StagingOptions options;
  options.write_buffer_bytes = 1 << 20;
  store_ = OpenStore(options);
  constexpr int kWriters = 4;
  constexpr int kBatches = 300;
  std::vector<WriterKey> writers;
  std::vector<int64_t> epochs;
  for (int i = 0; i < kWriters; ++i) {
    writers.push_back(WriterKey{"t", Cat("w", i)});
    ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, writers.back(), std::nullopt, -1));
    epochs.push_back(reg.epoch);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      for (int b = 0; b < kBatches; ++b) {
        auto seq = store_->Stage(writers[i], epochs[i], Payload(Cat(i, "/", b), 20, 64), 20);
        if (!seq.ok() || *seq != static_cast<uint64_t>(b)) ++failures;
        if (b % 100 == 99) {
          auto sealed = store_->Seal(writers[i], epochs[i], b / 100 + 1);
          if (!sealed.ok() || sealed->batches != 100) ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_OK_AND_ASSIGN(auto sealed, store_->SealedUpTo(writers[i], 100));
    ASSERT_EQ(sealed.size(), 3u);
    for (int cp = 1; cp <= 3; ++cp) {
      std::vector<std::string> got = ReadAll(writers[i], cp);
      ASSERT_EQ(got.size(), 100u);
      for (int b = 0; b < 100; ++b) {
        EXPECT_EQ(got[b], Payload(Cat(i, "/", (cp - 1) * 100 + b), 20, 64));
      }
    }
  }
}

// --- measurements (run with --gtest_also_run_disabled_tests) ------------------

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
long MaxRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST_F(StagingStoreTest, DISABLED_Measure) {
  store_ = OpenStore();
  const WriterKey w{"t", "w"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  // 10k rows of ~100 bytes per batch.
  std::string payload;
  for (int i = 0; i < 10000; ++i) {
    AppendStagedEntry(Cat("key-", 1000000 + i), std::string(86, 'v'), &payload);
  }
  const int kBatches = 100;  // 1M rows
  const int kRounds = 10;
  double stage_s = 0, seal_s = 0, commit_s = 0, read_s = 0;
  uint64_t bytes = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int b = 0; b < kBatches; ++b) {
      ASSERT_OK(store_->Stage(w, reg.epoch, payload, 10000).status());
      bytes += payload.size();
    }
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_OK(store_->Seal(w, reg.epoch, round + 1).status());
    auto t2 = std::chrono::steady_clock::now();
    uint64_t read = 0;
    ASSERT_OK(store_->ReadSealed(w, round + 1, [&](std::string_view p) {
      read += p.size();
      return absl::OkStatus();
    }));
    auto t3 = std::chrono::steady_clock::now();
    ASSERT_OK(store_->MarkCommitted(w, round + 1));
    auto t4 = std::chrono::steady_clock::now();
    stage_s += Seconds(t1 - t0);
    seal_s += Seconds(t2 - t1);
    read_s += Seconds(t3 - t2);
    commit_s += Seconds(t4 - t3);
  }
  const double mb = bytes / 1e6;
  std::printf("payload %zu bytes/batch; %d rounds of %d batches (1M rows)\n", payload.size(),
              kRounds, kBatches);
  std::printf("Stage: %.0f MB/s (%.2f ms/batch)\n", mb / stage_s,
              1e3 * stage_s / (kRounds * kBatches));
  std::printf("Seal: %.2f ms avg\n", 1e3 * seal_s / kRounds);
  std::printf("ReadSealed: %.0f MB/s\n", mb / read_s);
  std::printf("MarkCommitted (1M rows): %.3f ms avg\n", 1e3 * commit_s / kRounds);
  std::printf("ApproximateBytes after: %llu; max RSS %ld MiB\n",
              static_cast<unsigned long long>(store_->ApproximateBytes()), MaxRssMiB());

  // Sustained ingest from 4 writers, committing every 2 s of data, for RSS.
  std::vector<WriterKey> writers;
  std::vector<int64_t> epochs;
  for (int i = 0; i < 4; ++i) {
    writers.push_back(WriterKey{"t", Cat("s", i)});
    ASSERT_OK_AND_ASSIGN(Registration r, RegisterAs(*store_, writers.back(), std::nullopt, -1));
    epochs.push_back(r.epoch);
  }
  std::atomic<uint64_t> total{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int cp = 1; cp <= 8; ++cp) {
        for (int b = 0; b < 50; ++b) {
          if (!store_->Stage(writers[i], epochs[i], payload, 10000).ok()) return;
          total += payload.size();
        }
        if (!store_->Seal(writers[i], epochs[i], cp).ok()) return;
        if (cp > 1) {
          (void)store_->ReadSealed(writers[i], cp - 1,
                                   [](std::string_view) { return absl::OkStatus(); });
          (void)store_->MarkCommitted(writers[i], cp - 1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = Seconds(std::chrono::steady_clock::now() - t0);
  std::printf("4 writers, stage+seal+read+commit: %.0f MB/s over %.1f s; max RSS %ld MiB\n",
              total.load() / 1e6 / secs, secs, MaxRssMiB());
}

TEST_F(StagingStoreTest, PerWriterQuotaRefusesOnlyThatWriterUntilItCommits) {
  StagingOptions options;
  options.max_bytes_per_writer = 1 << 20;
  store_ = OpenStore(options);
  const WriterKey w{"t", "w"};
  const WriterKey v{"t", "v"};
  ASSERT_OK_AND_ASSIGN(Registration reg, RegisterAs(*store_, w, std::nullopt, -1));
  ASSERT_OK_AND_ASSIGN(Registration vreg, RegisterAs(*store_, v, std::nullopt, -1));
  const std::string payload(100 << 10, 'p');
  int staged = 0;
  absl::Status refused;
  for (; staged < 100; ++staged) {
    auto s = store_->Stage(w, reg.epoch, payload, 1);
    if (!s.ok()) {
      refused = s.status();
      break;
    }
    if (staged == 4) ASSERT_OK(store_->Seal(w, reg.epoch, 1).status());  // sealed bytes count too
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("quota of 1048576"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("writer w of table t"));
  EXPECT_GE(staged, 9);
  EXPECT_LE(staged, 10);
  // Another writer is not concerned.
  ASSERT_OK(store_->Stage(v, vreg.epoch, payload, 1).status());
  // The quota survives a clean restart, and a commit frees it.
  Reopen(options);
  EXPECT_CODE(store_->Stage(w, reg.epoch, payload, 1), kResourceExhausted);
  ASSERT_OK(store_->Seal(w, reg.epoch, 2).status());
  ASSERT_OK(store_->MarkCommitted(w, 2));
  ASSERT_OK(store_->Stage(w, reg.epoch, payload, 1).status());
}


}  // namespace
}  // namespace deltasidecar::checkpoint
