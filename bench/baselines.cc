// The physical limits the sidecar's ingest is judged against, measured on
// this machine with the same logical bytes and batch sizes the sidecar sees:
//
//   disk     sequential 1 MiB writes to a file on the data disk, fdatasync
//            every 64 MiB and at the end; and the latency of one fdatasync
//            after a 4 KiB append (what a WAL sync costs at best).
//   rocksdb  one WriteBatch per record batch, holding one Put of a ~40-byte
//            key and the batch's payload, WAL on and not synced per batch,
//            with the staging store's RocksDB options; the WAL is synced once
//            at the end, inside the timed span.
//   grpc     one bidi stream over loopback TCP to an in-process server that
//            acknowledges every message with a tiny one and does nothing else;
//            raw ByteBuffers of one batch each, 8 messages in flight.
//
// Payloads are incompressible bytes from a seeded PRNG, generated before any
// timing. Prints one flat JSON object (numbers only) on stdout and one line
// per figure on stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kDiskChunkBytes = kMiB;
constexpr uint64_t kDiskSyncEveryBytes = 64 * kMiB;
constexpr size_t kFsyncSamples = 200;
constexpr size_t kFsyncWarmup = 5;
constexpr size_t kFsyncAppendBytes = 4096;
constexpr int kGrpcWindow = 8;
// The staging store refuses batches above this (kMaxPayloadBytes).
constexpr uint64_t kMaxBatchBytes = uint64_t{1} << 30;
// Payload bytes held in memory; longer runs cycle through them.
constexpr uint64_t kMaxPoolBytes = uint64_t{2} << 30;
constexpr char kGrpcMethod[] = "/deltabaselines.Sink/Write";

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& what) { throw Failure(what); }
[[noreturn]] void FailErrno(const std::string& what) {
  Fail(fmt::format("{}: {}", what, std::strerror(errno)));
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Nearest rank.
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

double Round(double x, int digits) {
  double scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  return static_cast<double>(static_cast<int64_t>(x * scale + (x >= 0 ? 0.5 : -0.5))) / scale;
}

// Random bytes, generated once. At(pos, len) is the payload at logical
// position `pos` of a stream: distinct bytes as long as the stream fits the
// pool, a wrapped window of it after that.
class Pool {
 public:
  Pool(uint64_t bytes, uint64_t seed) : size_(bytes), data_(new char[bytes]) {
    // splitmix64
    uint64_t x = seed;
    uint64_t i = 0;
    for (; i + 8 <= size_; i += 8) {
      x += 0x9e3779b97f4a7c15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      std::memcpy(data_.get() + i, &z, 8);
    }
    for (; i < size_; ++i) data_[i] = static_cast<char>(i * 131 + 7);
  }
  const char* At(uint64_t pos, uint64_t len) const {
    if (len > size_) Fail(fmt::format("internal: slice of {} bytes from a pool of {}", len, size_));
    return data_.get() + pos % (size_ - len + 1);
  }
  uint64_t size() const { return size_; }

 private:
  uint64_t size_;
  std::unique_ptr<char[]> data_;
};

struct Config {
  uint64_t batch_rows = 0;
  uint64_t batch_bytes = 0;  // batch_rows * row_bytes
  uint64_t batches = 0;      // per run
  uint64_t total_bytes = 0;  // batches * batch_bytes, per run and baseline
};

// Median, min and max of the runs, under `key`, `key`_min, `key`_max.
struct Figure {
  std::vector<double> runs;
  double median() const { return Median(runs); }
  double min() const { return *std::min_element(runs.begin(), runs.end()); }
  double max() const { return *std::max_element(runs.begin(), runs.end()); }
};

void Emit(nlohmann::ordered_json& out, const std::string& key, const Figure& f, int digits,
          const std::string& label, const std::string& unit) {
  out[key] = Round(f.median(), digits);
  out[key + "_min"] = Round(f.min(), digits);
  out[key + "_max"] = Round(f.max(), digits);
  std::string runs;
  for (double r : f.runs) runs += fmt::format(" {:.{}f}", r, digits);
  fmt::print(stderr, "{}: {:.{}f} {} (median of {} runs; min {:.{}f}, max {:.{}f}; runs:{})\n", label,
             f.median(), digits, unit, f.runs.size(), f.min(), digits, f.max(), digits, runs);
}

void WriteAll(int fd, const char* p, size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      FailErrno(what);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void DataSync(int fd, const std::string& what) {
  if (::fdatasync(fd) != 0) FailErrno(what);
}

// ---------------------------------------------------------------------------
// 1. Disk

// Seconds to write `total` bytes sequentially in 1 MiB chunks, with an
// fdatasync every 64 MiB and one at the end.
double RunDiskSequential(const Pool& pool, const fs::path& dir, uint64_t total) {
  const fs::path path = dir / "disk-sequential.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) FailErrno("creating " + path.string());
  ::sync();  // start from a clean page cache (not timed)
  const auto start = Clock::now();
  uint64_t pos = 0;
  uint64_t unsynced = 0;
  while (pos < total) {
    const uint64_t len = std::min(kDiskChunkBytes, total - pos);
    WriteAll(fd, pool.At(pos, len), len, "writing " + path.string());
    pos += len;
    unsynced += len;
    if (unsynced >= kDiskSyncEveryBytes) {
      DataSync(fd, "fdatasync of " + path.string());
      unsynced = 0;
    }
  }
  DataSync(fd, "fdatasync of " + path.string());
  const double s = Seconds(start, Clock::now());
  ::close(fd);
  fs::remove(path);
  return s;
}

// fdatasync latencies in microseconds, each right after a 4 KiB append.
std::vector<double> RunFsyncLatency(const Pool& pool, const fs::path& dir) {
  const fs::path path = dir / "disk-fsync.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) FailErrno("creating " + path.string());
  ::sync();
  std::vector<double> us;
  for (size_t i = 0; i < kFsyncWarmup + kFsyncSamples; ++i) {
    WriteAll(fd, pool.At(i * kFsyncAppendBytes, kFsyncAppendBytes), kFsyncAppendBytes,
             "writing " + path.string());
    const auto start = Clock::now();
    DataSync(fd, "fdatasync of " + path.string());
    if (i >= kFsyncWarmup) us.push_back(Seconds(start, Clock::now()) * 1e6);
  }
  ::close(fd);
  fs::remove(path);
  return us;
}

// ---------------------------------------------------------------------------
// 2. RocksDB

// The option values of StagingStore::Open (checkpoint/staging_store.cc) with
// the default StagingOptions (64 MiB write buffers). Its event listener only
// steers error recovery and is left out.
rocksdb::Options StagingStoreOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.paranoid_checks = true;
  o.write_buffer_size = 64ull << 20;
  o.max_write_buffer_number = 3;
  o.min_write_buffer_number_to_merge = 1;
  o.max_background_jobs = 2;
  o.compression = rocksdb::kNoCompression;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 8 << 20;
  o.avoid_flush_during_shutdown = true;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(8 << 20);
  t.cache_index_and_filter_blocks = true;
  t.block_size = 64 << 10;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// A data key shaped like the staging store's: 'd' '\0' table '\0' writer '\0'
// base (8 bytes) seq (8 bytes, big-endian); 39 bytes.
std::string DataKeyPrefix() {
  std::string k("d\0baseline\0writer/0000\0", 23);
  const uint64_t base = static_cast<uint64_t>(int64_t{-1}) ^ (uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(base >> (8 * i)));
  return k;
}

void CheckRocks(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) Fail(fmt::format("{}: {}", what, s.ToString()));
}

// Seconds to stage every batch and sync the WAL once.
double RunRocksDb(const Pool& pool, const fs::path& dir, const Config& cfg) {
  const rocksdb::Options options = StagingStoreOptions();
  rocksdb::DB* raw = nullptr;
  CheckRocks(rocksdb::DB::Open(options, dir.string(), &raw), "opening RocksDB in " + dir.string());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string prefix = DataKeyPrefix();
  std::string key = prefix;
  rocksdb::WriteOptions wo;  // WAL on, not synced per batch
  wo.sync = false;
  ::sync();
  const auto start = Clock::now();
  for (uint64_t seq = 0; seq < cfg.batches; ++seq) {
    key.resize(prefix.size());
    for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>(seq >> (8 * i)));
    const char* payload = pool.At(seq * cfg.batch_bytes, cfg.batch_bytes);
    rocksdb::WriteBatch batch(key.size() + cfg.batch_bytes + 64);
    CheckRocks(batch.Put(rocksdb::Slice(key), rocksdb::Slice(payload, cfg.batch_bytes)),
               "building a WriteBatch");
    CheckRocks(db->Write(wo, &batch), "writing a batch");
  }
  CheckRocks(db->SyncWAL(), "syncing the WAL");
  const double s = Seconds(start, Clock::now());
  // Not timed: waits for running flushes and compactions.
  CheckRocks(db->Close(), "closing RocksDB");
  db.reset();
  fs::remove_all(dir);
  return s;
}

// ---------------------------------------------------------------------------
// 3. gRPC

class SinkService;

// Like the sidecar's Write reactor minus the staging: read a message, ack
// it, read the next once the ack is written.
class SinkReactor : public grpc::ServerGenericBidiReactor {
 public:
  explicit SinkReactor(SinkService* service) : service_(service) { StartRead(&request_); }
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the ack could not be sent"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  SinkService* const service_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  uint64_t bytes_ = 0;
  uint64_t messages_ = 0;
};

class SinkService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    if (ctx->method() != kGrpcMethod) return grpc::CallbackGenericService::CreateReactor(ctx);
    return new SinkReactor(this);
  }
  // Totals of the streams that ended; updated before their Finish.
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> messages{0};
};

void SinkReactor::OnReadDone(bool ok) {
  if (!ok) {  // the client closed its side
    service_->bytes += bytes_;
    service_->messages += messages_;
    Finish(grpc::Status::OK);
    return;
  }
  bytes_ += request_.Length();
  ++messages_;
  request_.Clear();
  char ack[8];
  std::memcpy(ack, &messages_, sizeof(ack));
  grpc::Slice slice(ack, sizeof(ack));
  response_ = grpc::ByteBuffer(&slice, 1);
  StartWrite(&response_);
}

// Seconds from the first message sent to the last ack received, on a new
// connection; the stream then ends cleanly (not timed).
double RunGrpcClient(const std::string& target, const Pool& pool, const Config& cfg) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh connection per run
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    Fail("cannot connect to the in-process gRPC server at " + target);
  }
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = stub.PrepareCall(&ctx, kGrpcMethod, &cq);
  if (call == nullptr) Fail("cannot prepare the gRPC call");

  enum Tag : intptr_t { kStart = 1, kWrite, kRead, kWritesDone, kFinish };
  auto next = [&cq](Tag* tag, bool* ok) {
    void* t = nullptr;
    if (!cq.Next(&t, ok)) Fail("gRPC completion queue shut down");
    *tag = static_cast<Tag>(reinterpret_cast<intptr_t>(t));
  };
  auto drain = [&cq]() {
    cq.Shutdown();
    void* t = nullptr;
    bool ok = false;
    while (cq.Next(&t, &ok)) {
    }
  };
  // Ends a broken stream and reports why.
  int pending = 0;  // operations started whose tags are still to come
  auto abort_stream = [&](const std::string& what) {
    ctx.TryCancel();
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(kFinish));
    ++pending;
    while (pending > 0) {
      Tag tag;
      bool ok;
      next(&tag, &ok);
      --pending;
    }
    drain();
    Fail(fmt::format("gRPC stream: {} ({}: {})", what, static_cast<int>(status.error_code()),
                     status.error_message()));
  };

  Tag tag;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(kStart));
  next(&tag, &ok);
  if (!ok) abort_stream("the call could not start");

  grpc::ByteBuffer out;
  grpc::ByteBuffer ack;
  bool writing = false;
  bool reading = false;
  uint64_t sent = 0;
  uint64_t acked = 0;
  const auto start = Clock::now();
  while (acked < cfg.batches) {
    if (!writing && sent < cfg.batches && sent - acked < kGrpcWindow) {
      // A copy, as serializing the message would make.
      grpc::Slice slice(pool.At(sent * cfg.batch_bytes, cfg.batch_bytes), cfg.batch_bytes);
      out = grpc::ByteBuffer(&slice, 1);
      call->Write(out, reinterpret_cast<void*>(kWrite));
      writing = true;
      ++pending;
      ++sent;
    }
    if (!reading && acked < sent) {
      call->Read(&ack, reinterpret_cast<void*>(kRead));
      reading = true;
      ++pending;
    }
    next(&tag, &ok);
    --pending;
    if (tag == kWrite) {
      writing = false;
      if (!ok) abort_stream("a write failed");
    } else if (tag == kRead) {
      reading = false;
      if (!ok) abort_stream("the stream ended before every ack");
      if (ack.Length() != 8) abort_stream("an ack of unexpected size");
      ++acked;
    } else {
      abort_stream("unexpected completion");
    }
  }
  const double s = Seconds(start, Clock::now());
  // The last write's completion can come after its ack; WritesDone may start
  // only once no write is outstanding.
  while (writing) {
    next(&tag, &ok);
    --pending;
    if (tag != kWrite) abort_stream("unexpected completion");
    writing = false;
  }

  grpc::Status status;
  call->WritesDone(reinterpret_cast<void*>(kWritesDone));
  call->Finish(&status, reinterpret_cast<void*>(kFinish));
  for (int i = 0; i < 2; ++i) next(&tag, &ok);
  drain();
  if (!status.ok()) {
    Fail(fmt::format("gRPC stream ended with {}: {}", static_cast<int>(status.error_code()),
                     status.error_message()));
  }
  return s;
}

// ---------------------------------------------------------------------------

// The scratch directory: a fresh one inside --dir, removed at the end, and
// --dir itself when this program created it.
class Scratch {
 public:
  explicit Scratch(const fs::path& dir) {
    // The directories this creates, deepest first.
    std::error_code ec;
    for (fs::path p = fs::absolute(dir).lexically_normal(); !p.empty() && !fs::exists(p, ec);
         p = p.parent_path()) {
      if (p.has_filename()) created_.push_back(p);
      if (p == p.parent_path()) break;
    }
    fs::create_directories(dir);
    std::string tmpl = (dir / "delta-baselines.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) FailErrno("creating a scratch directory in " + dir.string());
    path_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) fmt::print(stderr, "delta-baselines: cannot remove {}: {}\n", path_.string(), ec.message());
    for (const fs::path& p : created_) fs::remove(p, ec);  // only if empty
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::vector<fs::path> created_;
};

double LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double load = -1;
  f >> load;
  return load;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t bytes = uint64_t{1} << 30;
  bool quick = false;
  uint64_t row_bytes = 100;
  uint64_t batch_rows = 1000;
  int repeat = 3;

  CLI::App app{
      "Measures the physical limits delta-sidecar's ingest is judged against on this machine: "
      "sequential disk writes with fdatasync, raw RocksDB WriteBatch ingest with the staging "
      "store's options, and a raw gRPC bidi stream over loopback. Each baseline moves the same "
      "logical bytes in batches of --batch-rows x --row-bytes. Prints one flat JSON object on "
      "stdout and one line per figure on stderr."};
  app.add_option("--dir", dir,
                 "Scratch directory on the data disk; the files go into a fresh subdirectory, "
                 "removed afterwards (and DIR too if this program created it)")
      ->required();
  auto* bytes_opt =
      app.add_option("--bytes", bytes, "Logical bytes per baseline and run (suffixes: K, M, G = 2^10..)")
          ->transform(CLI::AsSizeValue(false))
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  app.add_flag("--quick", quick, "Push 256 MiB per baseline and run")->excludes(bytes_opt);
  app.add_option("--row-bytes", row_bytes, "Bytes per row")
      ->check(CLI::Range(uint64_t{1}, kMaxBatchBytes))
      ->capture_default_str();
  app.add_option("--batch-rows", batch_rows,
                 "Rows per record batch (one WriteBatch, one gRPC message)")
      ->check(CLI::Range(uint64_t{1}, kMaxBatchBytes))
      ->capture_default_str();
  app.add_option("--repeat", repeat, "Runs per baseline; the median is reported, with min and max")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) bytes = 256 * kMiB;

  Config cfg;
  cfg.batch_rows = batch_rows;
  cfg.batch_bytes = batch_rows * row_bytes;
  if (cfg.batch_bytes / batch_rows != row_bytes || cfg.batch_bytes > kMaxBatchBytes) {
    fmt::print(stderr, "delta-baselines: a batch of {} rows of {} bytes is over {} bytes\n",
               batch_rows, row_bytes, kMaxBatchBytes);
    return 2;
  }
  cfg.batches = (bytes + cfg.batch_bytes - 1) / cfg.batch_bytes;
  cfg.total_bytes = cfg.batches * cfg.batch_bytes;

  const auto program_start = Clock::now();
  const double load = LoadAverage();
  nlohmann::ordered_json out;
  try {
    Scratch scratch(dir);
    fmt::print(stderr,
               "delta-baselines: {} run(s) per baseline of {:.1f} MB ({} batches of {} rows x {} "
               "bytes = {} bytes); scratch {}; load average {:.2f} on {} cores\n",
               repeat, cfg.total_bytes / 1e6, cfg.batches, batch_rows, row_bytes, cfg.batch_bytes,
               scratch.path().string(), load, std::thread::hardware_concurrency());
    const Pool pool(std::max<uint64_t>(std::min(cfg.total_bytes, kMaxPoolBytes), kFsyncAppendBytes),
                    /*seed=*/20240601);

    out["baseline_bytes"] = cfg.total_bytes;
    out["baseline_row_bytes"] = row_bytes;
    out["baseline_batch_rows"] = batch_rows;
    out["baseline_batch_bytes"] = cfg.batch_bytes;
    out["baseline_repeat"] = repeat;
    out["baseline_loadavg_1m"] = load;

    // 1. Disk.
    Figure disk_mbps;
    Figure fsync_p50;
    Figure fsync_p99;
    for (int r = 0; r < repeat; ++r) {
      const double s = RunDiskSequential(pool, scratch.path(), cfg.total_bytes);
      disk_mbps.runs.push_back(cfg.total_bytes / 1e6 / s);
      const std::vector<double> us = RunFsyncLatency(pool, scratch.path());
      fsync_p50.runs.push_back(Median(us));
      fsync_p99.runs.push_back(Percentile(us, 0.99));
    }
    Emit(out, "baseline_disk_mb_per_s", disk_mbps, 1,
         "disk: sequential 1 MiB writes, fdatasync every 64 MiB", "MB/s");
    Emit(out, "baseline_disk_fsync_p50_us", fsync_p50, 0,
         fmt::format("disk: fdatasync after a 4 KiB append, p50 of {}", kFsyncSamples), "us");
    Emit(out, "baseline_disk_fsync_p99_us", fsync_p99, 0,
         fmt::format("disk: fdatasync after a 4 KiB append, p99 of {}", kFsyncSamples), "us");

    // 2. RocksDB.
    Figure rocks_mbps;
    Figure rocks_rows;
    for (int r = 0; r < repeat; ++r) {
      const double s = RunRocksDb(pool, scratch.path() / fmt::format("rocksdb-{}", r), cfg);
      rocks_mbps.runs.push_back(cfg.total_bytes / 1e6 / s);
      rocks_rows.runs.push_back(static_cast<double>(cfg.batches * cfg.batch_rows) / s);
    }
    Emit(out, "baseline_rocksdb_mb_per_s", rocks_mbps, 1,
         "rocksdb: one WriteBatch per batch, WAL unsynced, one SyncWAL at the end", "MB/s");
    Emit(out, "baseline_rocksdb_rows_per_s", rocks_rows, 0, "rocksdb: rows", "rows/s");

    // 3. gRPC.
    Figure grpc_mbps;
    Figure grpc_msgs;
    {
      SinkService service;
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterCallbackGenericService(&service);
      builder.SetMaxReceiveMessageSize(-1);
      builder.SetMaxSendMessageSize(-1);
      std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
      if (server == nullptr || port <= 0) Fail("cannot start a gRPC server on 127.0.0.1");
      const std::string target = fmt::format("127.0.0.1:{}", port);
      try {
        for (int r = 0; r < repeat; ++r) {
          const uint64_t bytes_before = service.bytes.load();
          const uint64_t messages_before = service.messages.load();
          double s = 0;
          std::exception_ptr error;
          std::thread client([&] {
            try {
              s = RunGrpcClient(target, pool, cfg);
            } catch (...) {
              error = std::current_exception();
            }
          });
          client.join();
          if (error) std::rethrow_exception(error);
          const uint64_t got = service.bytes.load() - bytes_before;
          const uint64_t got_messages = service.messages.load() - messages_before;
          if (got != cfg.total_bytes || got_messages != cfg.batches) {
            Fail(fmt::format("gRPC server received {} bytes in {} messages, expected {} in {}", got,
                             got_messages, cfg.total_bytes, cfg.batches));
          }
          grpc_mbps.runs.push_back(cfg.total_bytes / 1e6 / s);
          grpc_msgs.runs.push_back(static_cast<double>(cfg.batches) / s);
        }
      } catch (...) {
        server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
        throw;
      }
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    Emit(out, "baseline_grpc_mb_per_s", grpc_mbps, 1,
         fmt::format("grpc: bidi stream over loopback TCP, {} messages in flight", kGrpcWindow),
         "MB/s");
    Emit(out, "baseline_grpc_msgs_per_s", grpc_msgs, 0, "grpc: messages", "msgs/s");
  } catch (const std::exception& e) {
    fmt::print(stderr, "delta-baselines: {}\n", e.what());
    return 1;
  }
  const double elapsed = Seconds(program_start, Clock::now());
  out["baseline_elapsed_s"] = Round(elapsed, 1);
  fmt::print(stderr, "delta-baselines: done in {:.1f} s\n", elapsed);
  fmt::print("{}\n", out.dump());
  return 0;
}
