// delta-loadgen: plays a stream processor with W parallel writers against a
// running delta-sidecar, through the real gRPC API, deterministically.
//
// Each writer owns the keys with id % W == w (the upstream shuffle by key that
// docs require) and generates its operations from a PRNG seeded by (seed, w);
// the content of op i is a pure function of (seed, w, i). So the final table is
// known in advance (--expect writes it exactly as `deltactl scan` prints it),
// and a run that survives sidecar crashes must end with exactly that table.
//
// The run loop follows Flink's checkpointing: writers stream batches; at each
// checkpoint N every writer drains its acknowledgements and calls
// PrepareCommit(N); once all have, checkpoint N is complete (its committables
// and the writers' source positions are the checkpoint state) and a committer
// thread commits the newest complete checkpoint ("notifyCheckpointComplete";
// Commit(N) also covers every sealed checkpoint < N) while writing goes on.
// A Commit failing with UNAVAILABLE is retried with the same committables,
// never by resending data. On any other failure (a broken stream) every
// writer re-registers with the last completed checkpoint as the restored id,
// the pending committables and the restored state's committables are
// committed again (idempotent), and the sources replay from their positions at
// that checkpoint. DATA_LOSS restarts from the last committed checkpoint
// instead, so the corrupt data is rewritten.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "deltasidecar/v1/sidecar.grpc.pb.h"
#include "fmt/core.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "sidecar/wire_rows.h"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/schema.h"

namespace v1 = deltasidecar::v1;
namespace dt = deltasidecar::table;
using deltasidecar::EncodeVarint;
using deltasidecar::StoreLittleEndian;
using deltasidecar::VarintSize;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kSchema[] = "id BIGINT, writer INT, seq BIGINT, amount DOUBLE, payload STRING";
constexpr char kPrimaryKey[] = "id";
// Bytes of an upsert before the payload: op, null bitmap, id, writer, seq, amount.
constexpr size_t kFixedUpsertBytes = 1 + 1 + 8 + 4 + 8 + 8;
constexpr int kMaxBatchesInFlight = 4;
// Checkpoints a writer may seal ahead of the last committed one: bounds the
// staged data when commits fall behind.
constexpr int64_t kMaxUncommittedCheckpoints = 2;
constexpr auto kUnaryTimeout = std::chrono::seconds(60);
constexpr auto kCommitTimeout = std::chrono::seconds(300);

struct Options {
  std::string target = "127.0.0.1:7543";
  std::string table;
  uint64_t rows = 0;
  uint64_t seed = 1;
  int writers = 2;
  uint64_t key_space = 0;  // 0: rows / 2
  double update_ratio = 0.3;
  double delete_ratio = 0.1;
  size_t row_bytes = 100;
  uint32_t batch_rows = 5000;
  uint64_t checkpoint_rows = 0;  // 0: checkpoint by time
  int64_t checkpoint_interval_ms = 1000;
  int buckets = 16;
  std::string expect_file;
  bool dry_run = false;
  bool progress = false;
  std::string writer_prefix;
  double max_restart_seconds = 60;
  double rate = 0;  // total rows per second across writers; 0: as fast as possible
  std::string report_file;  // JSON lines of timed events; empty: none
};

// --report: one JSON object per line, each with "t" (seconds since start) and
// "event": "acked" (every 250 ms: rows acknowledged so far, all sessions),
// "prepare" (writer, checkpoint, rows, ms), "commit" (checkpoint, ms).
class Reporter {
 public:
  explicit Reporter(const std::string& path) {
    if (!path.empty()) out_ = std::fopen(path.c_str(), "w");
  }
  ~Reporter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (sampler_.joinable()) sampler_.join();
    if (out_ != nullptr) std::fclose(out_);
  }
  bool failed_to_open(const std::string& path) const { return !path.empty() && out_ == nullptr; }
  bool on() const { return out_ != nullptr; }
  void Start() {
    if (out_ == nullptr) return;
    sampler_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
        lock.unlock();
        Event(nlohmann::ordered_json{{"event", "acked"}, {"rows", acked_rows.load()}});
        lock.lock();
      }
    });
  }
  void Event(nlohmann::ordered_json e) {
    if (out_ == nullptr) return;
    e["t"] = std::round(std::chrono::duration<double>(Clock::now() - start_).count() * 1e4) / 1e4;
    std::string line = e.dump() + "\n";
    std::lock_guard lock(write_mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  std::atomic<uint64_t> acked_rows{0};

 private:
  std::FILE* out_ = nullptr;
  const Clock::time_point start_ = Clock::now();
  std::mutex mu_, write_mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread sampler_;
};

// ---------------------------------------------------------------------------
// The deterministic source.

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The content hash of op `index` of writer `w`.
uint64_t OpHash(uint64_t seed, int w, uint64_t index) {
  return Mix64(Mix64(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(w) + 1) ^
               (index * 0xd1b54a32d192ed03ull));
}

// Where a writer's source stands: everything needed to replay from here.
struct SourcePosition {
  uint64_t next_op = 0;    // ops produced so far
  uint64_t allocated = 0;  // keys handed out so far (slots 0..allocated-1)
  uint64_t rng = 0;        // splitmix64 state
  uint64_t bytes = 0;      // packed bytes of the ops produced so far
};

struct Op {
  bool is_delete = false;
  int64_t id = 0;
  uint64_t index = 0;  // op number within the writer
};

// Shared, read-only description of the workload.
class Workload {
 public:
  explicit Workload(const Options& o) : o_(o) {
    // Payload length so that the packed upsert is about row_bytes.
    size_t len = 0;
    if (o.row_bytes > kFixedUpsertBytes + 1) {
      len = o.row_bytes - kFixedUpsertBytes - 1;
      while (len > 0 && kFixedUpsertBytes + VarintSize(len) + len > o.row_bytes) --len;
    }
    payload_len_ = len;
    // Payload bytes are windows into one random lowercase text.
    payload_text_.resize(std::max<size_t>(65536, 2 * len + 1));
    uint64_t s = Mix64(o.seed ^ 0x5eed);
    for (char& c : payload_text_) {
      s = Mix64(s + 0x9e3779b97f4a7c15ull);
      c = static_cast<char>('a' + s % 26);
    }
    ops_.resize(o.writers);
    keys_.resize(o.writers);
    for (int w = 0; w < o.writers; ++w) {
      ops_[w] = o.rows / o.writers + (static_cast<uint64_t>(w) < o.rows % o.writers ? 1 : 0);
      keys_[w] = o.key_space > static_cast<uint64_t>(w)
                     ? (o.key_space - w + o.writers - 1) / o.writers
                     : 0;
    }
  }

  const Options& options() const { return o_; }
  uint64_t ops(int w) const { return ops_[w]; }
  uint64_t keys(int w) const { return keys_[w]; }
  size_t payload_len() const { return payload_len_; }

  SourcePosition Start(int w) const {
    SourcePosition p;
    p.rng = Mix64(o_.seed * 0x2545f4914f6cdd1dull +
                  static_cast<uint64_t>(w) * 0x9e3779b97f4a7c15ull + 7);
    return p;
  }

  // Produces op p->next_op of writer w and advances the position (without
  // counting bytes; AppendPacked does that).
  Op Next(int w, SourcePosition* p) const {
    double u = static_cast<double>(NextRandom(&p->rng) >> 11) * 0x1.0p-53;
    uint64_t r = NextRandom(&p->rng);
    Op op;
    op.index = p->next_op++;
    uint64_t slot;
    if (p->allocated > 0 && u < o_.delete_ratio) {
      op.is_delete = true;
      slot = r % p->allocated;
    } else if (p->allocated > 0 &&
               (u < o_.delete_ratio + o_.update_ratio || p->allocated == keys_[w])) {
      slot = r % p->allocated;
    } else {
      slot = p->allocated++;
    }
    op.id = static_cast<int64_t>(static_cast<uint64_t>(w) + slot * o_.writers);
    return op;
  }

  // Appends the packed row of `op` (sidecar/wire_rows.h) without building a Row.
  void AppendPacked(int w, const Op& op, std::string* out) const {
    char buf[kFixedUpsertBytes + 10];
    char* p = buf;
    if (op.is_delete) {
      *p++ = static_cast<char>(dt::RowOp::kDelete);
      p = PutLe(static_cast<uint64_t>(op.id), p);
      out->append(buf, p - buf);
      return;
    }
    uint64_t h = OpHash(o_.seed, w, op.index);
    *p++ = static_cast<char>(dt::RowOp::kUpsert);
    *p++ = 0;  // null bitmap: no NULLs
    p = PutLe(static_cast<uint64_t>(op.id), p);
    p = PutLe(static_cast<uint32_t>(w), p);
    p = PutLe(uint64_t{op.index}, p);
    double amount = Amount(h);
    uint64_t bits;
    std::memcpy(&bits, &amount, 8);
    p = PutLe(bits, p);
    p = EncodeVarint(payload_len_, p);
    out->append(buf, p - buf);
    out->append(payload_text_.data() + PayloadOffset(h), payload_len_);
  }

  // The row an upsert op writes (for the expected table and the self-check).
  dt::Row RowOf(int w, const Op& op) const {
    uint64_t h = OpHash(o_.seed, w, op.index);
    dt::Row row(5);
    row[0] = op.id;
    if (op.is_delete) return row;
    row[1] = int64_t{w};
    row[2] = static_cast<int64_t>(op.index);
    row[3] = Amount(h);
    row[4] = std::string(payload_text_.data() + PayloadOffset(h), payload_len_);
    return row;
  }

 private:
  static uint64_t NextRandom(uint64_t* state) {
    *state += 0x9e3779b97f4a7c15ull;
    return Mix64(*state);
  }
  template <typename U>
  static char* PutLe(U v, char* p) {
    StoreLittleEndian(v, p);
    return p + sizeof(U);
  }
  static double Amount(uint64_t h) { return static_cast<double>((h >> 17) % 100'000'000) / 100.0; }
  size_t PayloadOffset(uint64_t h) const { return h % (payload_text_.size() - payload_len_ + 1); }

  const Options o_;
  size_t payload_len_ = 0;
  std::string payload_text_;
  std::vector<uint64_t> ops_;   // per writer
  std::vector<uint64_t> keys_;  // key slots per writer
};

// The hand-rolled encoder must agree with the project's own (a cheap guard
// against silently benchmarking or checking the wrong bytes).
bool SelfCheckEncoding(const Workload& wl, const dt::TableSchema& schema) {
  for (int w = 0; w < std::min(wl.options().writers, 2); ++w) {
    SourcePosition pos = wl.Start(w);
    for (int i = 0; i < 64 && pos.next_op < wl.ops(w); ++i) {
      Op op = wl.Next(w, &pos);
      std::string mine, theirs;
      wl.AppendPacked(w, op, &mine);
      deltasidecar::sidecar::AppendWireRow(
          schema, op.is_delete ? dt::RowOp::kDelete : dt::RowOp::kUpsert, wl.RowOf(w, op), &theirs);
      if (mine != theirs) return false;
    }
  }
  return true;
}

// The final table: every writer's ops applied in order (writers own disjoint
// keys, so their order relative to each other does not matter). Written as
// `deltactl scan` prints it: one JSON object per line, by primary key.
bool WriteExpected(const Workload& wl, const dt::TableSchema& schema, const std::string& path) {
  const Options& o = wl.options();
  constexpr int64_t kAbsent = -1;
  constexpr int64_t kDeleted = -2;
  std::vector<std::vector<int64_t>> last(o.writers);  // per key slot: op index, or kAbsent/kDeleted
  for (int w = 0; w < o.writers; ++w) {
    last[w].assign(wl.keys(w), kAbsent);
    SourcePosition pos = wl.Start(w);
    while (pos.next_op < wl.ops(w)) {
      Op op = wl.Next(w, &pos);
      last[w][static_cast<uint64_t>(op.id) / o.writers] =
          op.is_delete ? kDeleted : static_cast<int64_t>(op.index);
    }
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  std::string text;
  for (uint64_t id = 0; id < o.key_space; ++id) {
    int w = static_cast<int>(id % o.writers);
    int64_t index = last[w][id / o.writers];
    if (index < 0) continue;
    Op op{false, static_cast<int64_t>(id), static_cast<uint64_t>(index)};
    text += dt::RowToJson(schema, wl.RowOf(w, op)).dump();
    text += '\n';
    if (text.size() > (1 << 20)) {
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    }
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.flush();
  return static_cast<bool>(out);
}

// ---------------------------------------------------------------------------
// The run.

// What a failure asks of the run.
enum class Recovery {
  kNone,
  kRestore,  // restart from the last completed checkpoint (UNAVAILABLE, broken stream)
  kRewrite,  // restart from the last committed checkpoint (DATA_LOSS)
  kFatal,    // give up (a bug, or a request the sidecar refuses for good)
};

Recovery RecoveryFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Recovery::kNone;
    case grpc::StatusCode::DATA_LOSS:
      return Recovery::kRewrite;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
    // A killed server sometimes surfaces as these ("Stream removed", "Socket closed").
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return Recovery::kRestore;
    default:
      return Recovery::kFatal;
  }
}

std::string Describe(const grpc::Status& s) {
  return fmt::format("{} (code {})", s.error_message(), static_cast<int>(s.error_code()));
}

// Progress and failure lines on stderr, stamped with the seconds since start.
const Clock::time_point g_start = Clock::now();
template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  std::string line = fmt::format("delta-loadgen: {:7.3f}s ",
                                 std::chrono::duration<double>(Clock::now() - g_start).count());
  fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// State of a checkpoint once every writer prepared it.
struct CheckpointState {
  std::vector<SourcePosition> positions;  // per writer, after the checkpoint's last op
  std::vector<v1::Committable> committables;
};

struct PreparedCheckpoint {
  SourcePosition position;
  v1::Committable committable;
};

class LoadRun {
 public:
  LoadRun(const Options& o, const Workload& wl, Reporter* reporter)
      : o_(o), wl_(wl), reporter_(reporter) {
    for (int w = 0; w < o.writers; ++w)
      writer_ids_.push_back(fmt::format("{}/{}", o.writer_prefix, w));
  }

  // Runs to the end; false after a fatal error (already printed).
  bool Run();

  uint64_t restarts() const { return restarts_; }
  uint64_t checkpoints() const { return checkpoints_committed_; }
  uint64_t bytes() const { return final_bytes_; }

 private:
  struct WriterSlot {
    int64_t epoch = 0;
    SourcePosition start;       // where this session's stream starts
    int64_t last_prepared = 0;  // highest checkpoint id this writer prepared
    uint64_t unprepared_ops = 0;
    bool exhausted = false;
    std::map<int64_t, PreparedCheckpoint> prepared;  // not yet complete
    grpc::ClientContext* stream_ctx = nullptr;
    grpc::ClientContext* unary_ctx = nullptr;
  };

  std::shared_ptr<grpc::Channel> NewChannel(int index) const;
  void Fail(Recovery r, const std::string& what);
  bool Failed() {
    std::lock_guard lock(mu_);
    return failure_ != Recovery::kNone;
  }
  bool Connect();
  bool Recover(Recovery kind);
  Recovery Session();
  void WriterLoop(int w);
  // Fresh channels: one per writer and one for the coordinator's unary calls.
  void OpenChannels();
  // Registers writer w, restored from `restore` when given.
  grpc::Status RegisterOne(int w, std::optional<int64_t> restore, v1::RegisterWriterResponse* resp);
  bool Coordinate();  // true when the run finished
  void CommitLoop();
  bool CommitCheckpoint(int64_t id, const CheckpointState& state);
  void SetUnaryDeadline(grpc::ClientContext* ctx, std::chrono::seconds timeout) const {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  }
  // Registers `ctx` as the writer's current call so Fail() can cancel it;
  // false when the run already failed.
  bool Attach(int w, grpc::ClientContext* ctx, bool stream);
  void Detach(int w, bool stream);

  const Options o_;
  const Workload& wl_;
  Reporter* const reporter_;
  std::vector<std::string> writer_ids_;
  std::vector<std::shared_ptr<grpc::Channel>>
      channels_;  // one per writer, last one the coordinator's
  std::unique_ptr<v1::DeltaSidecar::Stub> coordinator_;
  Clock::time_point started_ = Clock::now();

  // Across sessions (only the main thread writes these between sessions).
  int64_t last_used_id_ = 0;  // checkpoint ids are never reused
  std::optional<int64_t> last_completed_;
  std::optional<int64_t> last_committed_;
  std::map<int64_t, CheckpointState> completed_;  // from the last committed one on
  uint64_t restarts_ = 0;
  uint64_t checkpoints_committed_ = 0;
  uint64_t final_bytes_ = 0;

  const std::chrono::steady_clock::time_point rate_start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WriterSlot> slots_;
  int64_t requested_ = 0;       // checkpoint id requested of every writer
  int64_t throttle_floor_ = 0;  // writers seal at most kMaxUncommittedCheckpoints past this
  Recovery failure_ = Recovery::kNone;
  bool done_ = false;
};

std::shared_ptr<grpc::Channel> LoadRun::NewChannel(int index) const {
  grpc::ChannelArguments args;
  // A restarted sidecar must be found again quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  // Without this, gRPC 1.51 waits ~5 s before it re-resolves a target that
  // refused a connection (measured), which would stall every restart.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  args.SetMaxReceiveMessageSize(-1);
  // One connection per writer: separate channels with different arguments
  // never share a subchannel.
  args.SetInt("delta.loadgen.channel", index);
  std::string target = o_.target;
  if (!target.empty() && target[0] == '/') target = "unix:" + target;
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void LoadRun::Fail(Recovery r, const std::string& what) {
  std::lock_guard lock(mu_);
  if (failure_ == Recovery::kNone || r > failure_) {
    if (failure_ == Recovery::kNone || r == Recovery::kFatal || r == Recovery::kRewrite) {
      Log("{}", what);
    }
    failure_ = std::max(failure_, r);
  }
  for (auto& s : slots_) {
    if (s.stream_ctx) s.stream_ctx->TryCancel();
    if (s.unary_ctx) s.unary_ctx->TryCancel();
  }
  cv_.notify_all();
}

bool LoadRun::Attach(int w, grpc::ClientContext* ctx, bool stream) {
  std::lock_guard lock(mu_);
  if (failure_ != Recovery::kNone) return false;
  (stream ? slots_[w].stream_ctx : slots_[w].unary_ctx) = ctx;
  return true;
}

void LoadRun::Detach(int w, bool stream) {
  std::lock_guard lock(mu_);
  (stream ? slots_[w].stream_ctx : slots_[w].unary_ctx) = nullptr;
}

// Creates the table and registers every writer afresh.
bool LoadRun::Connect() {
  auto deadline = Clock::now() + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    OpenChannels();
    grpc::Status s;
    {
      grpc::ClientContext ctx;
      SetUnaryDeadline(&ctx, kUnaryTimeout);
      v1::CreateTableRequest req;
      req.set_table(o_.table);
      req.set_schema(kSchema);
      req.set_primary_key(kPrimaryKey);
      req.set_buckets(o_.buckets);
      req.set_if_not_exists(true);
      v1::CreateTableResponse resp;
      s = coordinator_->CreateTable(&ctx, req, &resp);
    }
    slots_.assign(o_.writers, WriterSlot());
    int64_t base = 0;
    for (int w = 0; s.ok() && w < o_.writers; ++w) {
      v1::RegisterWriterResponse resp;
      s = RegisterOne(w, std::nullopt, &resp);
      if (s.ok()) {
        slots_[w].epoch = resp.epoch();
        slots_[w].start = wl_.Start(w);
        // A table that already holds this writer's checkpoints (an earlier
        // run): continue after them rather than collide with them.
        base = std::max(base, resp.last_committed_checkpoint_id());
      }
    }
    if (s.ok()) {
      last_used_id_ = base;
      return true;
    }
    if (RecoveryFor(s.error_code()) != Recovery::kRestore || Clock::now() + backoff > deadline) {
      Log("cannot start on {}: {}", o_.target, Describe(s));
      return false;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

// Flink's restart: re-register every writer with the restored checkpoint,
// commit what it and the sidecar say is pending, replay from its positions.
bool LoadRun::Recover(Recovery kind) {
  auto began = Clock::now();
  auto deadline = began + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  ++restarts_;
  for (int attempt = 1;; ++attempt) {
    std::optional<int64_t> restore = kind == Recovery::kRewrite ? last_committed_ : last_completed_;
    OpenChannels();
    std::vector<int64_t> epochs(o_.writers);
    v1::CommitRequest commit;
    grpc::Status s;
    for (int w = 0; s.ok() && w < o_.writers; ++w) {
      v1::RegisterWriterResponse resp;
      s = RegisterOne(w, restore, &resp);
      if (!s.ok()) break;
      epochs[w] = resp.epoch();
      for (const auto& p : resp.pending()) *commit.add_committables() = p;
    }
    if (s.ok() && restore) {
      for (const auto& c : completed_.at(*restore).committables) *commit.add_committables() = c;
    }
    if (s.ok() && commit.committables_size() > 0) {
      grpc::ClientContext ctx;
      SetUnaryDeadline(&ctx, kCommitTimeout);
      v1::CommitResponse resp;
      s = coordinator_->Commit(&ctx, commit, &resp);
    }
    if (s.ok()) {
      if (restore) {
        for (auto it = completed_.upper_bound(last_committed_.value_or(-1));
             it != completed_.end() && it->first <= *restore; ++it) {
          ++checkpoints_committed_;
        }
        last_committed_ = restore;
        last_completed_ = restore;
        completed_.erase(completed_.begin(), completed_.find(*restore));
        completed_.erase(completed_.upper_bound(*restore), completed_.end());
      } else {
        last_completed_.reset();
        last_committed_.reset();
        completed_.clear();
      }
      slots_.assign(o_.writers, WriterSlot());
      for (int w = 0; w < o_.writers; ++w) {
        slots_[w].epoch = epochs[w];
        slots_[w].start = restore ? completed_.at(*restore).positions[w] : wl_.Start(w);
        slots_[w].last_prepared = last_used_id_;
      }
      Log("restart {}: restored {} after {:.1f} s; replaying, next checkpoint {}", restarts_,
          restore ? fmt::format("checkpoint {}", *restore) : "from the start",
          std::chrono::duration<double>(Clock::now() - began).count(), last_used_id_ + 1);
      return true;
    }
    Recovery r = RecoveryFor(s.error_code());
    if (r == Recovery::kRewrite && kind != Recovery::kRewrite) {
      Log("restart {}: {}; rewriting from the last committed checkpoint", restarts_, Describe(s));
      kind = Recovery::kRewrite;
      continue;
    }
    if (r != Recovery::kRestore) {
      Log("restart {} failed: {}", restarts_, Describe(s));
      return false;
    }
    if (Clock::now() + backoff > deadline) {
      Log("sidecar not back within {} s: {}", o_.max_restart_seconds, Describe(s));
      return false;
    }
    if (attempt == 1) {
      Log("restart {}: waiting for the sidecar ({})", restarts_, Describe(s));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

void LoadRun::WriterLoop(int w) {
  auto stub = v1::DeltaSidecar::NewStub(channels_[w]);
  const std::string& writer_id = writer_ids_[w];
  SourcePosition pos;
  int64_t epoch;
  {
    std::lock_guard lock(mu_);
    pos = slots_[w].start;
    epoch = slots_[w].epoch;
  }
  const uint64_t total = wl_.ops(w);
  grpc::ClientContext stream_ctx;
  if (!Attach(w, &stream_ctx, true)) return;
  auto stream = stub->Write(&stream_ctx);
  v1::WriteRequest req;
  v1::WriteResponse ack;
  uint64_t next_seq = 0, acked_seq = 0;  // batches sent / acknowledged
  std::vector<uint32_t> rows_in_flight;  // ring of row counts by batch seq
  rows_in_flight.resize(kMaxBatchesInFlight);
  uint64_t unprepared = 0;
  bool first = true;

  auto read_ack = [&]() -> bool {
    if (!stream->Read(&ack)) return false;
    uint32_t expect = rows_in_flight[acked_seq % kMaxBatchesInFlight];
    if (ack.batch_seq() != acked_seq || ack.rows_staged() != expect) {
      Fail(Recovery::kFatal,
           fmt::format("writer {}: ack for batch {} ({} rows), expected batch {} ({} rows)", w,
                       ack.batch_seq(), ack.rows_staged(), acked_seq, expect));
      return false;
    }
    ++acked_seq;
    reporter_->acked_rows += expect;
    return true;
  };

  for (;;) {
    int64_t prepare_id = 0;
    {
      std::unique_lock lock(mu_);
      WriterSlot& slot = slots_[w];
      slot.unprepared_ops = unprepared;
      if (pos.next_op == total && !slot.exhausted) {
        slot.exhausted = true;
        cv_.notify_all();
      }
      for (;;) {
        if (failure_ != Recovery::kNone || done_) break;
        bool at_boundary = o_.checkpoint_rows > 0 && unprepared >= o_.checkpoint_rows;
        if (requested_ > slot.last_prepared ||
            (at_boundary &&
             slot.last_prepared + 1 <= throttle_floor_ + kMaxUncommittedCheckpoints)) {
          prepare_id = slot.last_prepared + 1;
          break;
        }
        if (!at_boundary && !slot.exhausted) break;  // keep writing
        cv_.wait(lock);
      }
      if (failure_ != Recovery::kNone || done_) break;
    }

    if (prepare_id > 0) {
      // A checkpoint covers exactly what was acknowledged before it.
      bool ok = true;
      while (ok && acked_seq < next_seq) ok = read_ack();
      if (!ok) break;
      grpc::ClientContext ctx;
      SetUnaryDeadline(&ctx, kUnaryTimeout);
      if (!Attach(w, &ctx, false)) break;
      v1::PrepareCommitRequest preq;
      preq.set_table(o_.table);
      preq.set_writer_id(writer_id);
      preq.set_epoch(epoch);
      preq.set_checkpoint_id(prepare_id);
      v1::Committable committable;
      auto prepare_began = Clock::now();
      grpc::Status s = stub->PrepareCommit(&ctx, preq, &committable);
      Detach(w, false);
      if (s.ok()) {
        reporter_->Event({{"event", "prepare"}, {"writer", w}, {"checkpoint", prepare_id},
                          {"rows", committable.rows()},
                          {"ms", std::chrono::duration<double, std::milli>(Clock::now() - prepare_began).count()}});
      }
      if (!s.ok()) {
        Fail(RecoveryFor(s.error_code()),
             fmt::format("writer {}: PrepareCommit({}): {}", w, prepare_id, Describe(s)));
        break;
      }
      if (committable.rows() != unprepared) {
        Fail(Recovery::kFatal,
             fmt::format("writer {}: checkpoint {} sealed {} rows, {} were written", w, prepare_id,
                         committable.rows(), unprepared));
        break;
      }
      if (o_.progress) {
        Log("writer {} prepared checkpoint {}: {} rows", w, prepare_id, committable.rows());
      }
      std::lock_guard lock(mu_);
      WriterSlot& slot = slots_[w];
      slot.prepared[prepare_id] = PreparedCheckpoint{pos, std::move(committable)};
      slot.last_prepared = prepare_id;
      last_used_id_ = std::max(last_used_id_, prepare_id);
      unprepared = 0;
      slot.unprepared_ops = 0;
      cv_.notify_all();
      continue;
    }

    if (next_seq - acked_seq >= kMaxBatchesInFlight) {
      if (!read_ack()) break;
      continue;
    }

    if (o_.rate > 0) {
      // Pace this writer to its share of --rate: op i is due i / share seconds after the start.
      const double share = o_.rate / o_.writers;
      std::this_thread::sleep_until(rate_start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(pos.next_op / share)));
    }
    // The next batch, cut at the checkpoint boundary.
    uint64_t n = std::min<uint64_t>(o_.batch_rows, total - pos.next_op);
    if (o_.checkpoint_rows > 0) n = std::min(n, o_.checkpoint_rows - unprepared);
    if (first) {
      req.set_table(o_.table);
      req.set_writer_id(writer_id);
      req.set_epoch(epoch);
    }
    std::string* rows = req.mutable_batch()->mutable_rows();
    rows->clear();
    for (uint64_t i = 0; i < n; ++i) wl_.AppendPacked(w, wl_.Next(w, &pos), rows);
    pos.bytes += rows->size();
    req.mutable_batch()->set_row_count(static_cast<uint32_t>(n));
    req.set_batch_seq(next_seq);
    rows_in_flight[next_seq % kMaxBatchesInFlight] = static_cast<uint32_t>(n);
    if (!stream->Write(req)) break;
    if (first) {
      req.clear_table();
      req.clear_writer_id();
      req.clear_epoch();
      first = false;
    }
    ++next_seq;
    unprepared += n;
  }

  bool finished, failed;
  {
    std::lock_guard lock(mu_);
    finished = done_ && failure_ == Recovery::kNone;
    failed = failure_ != Recovery::kNone;
  }
  if (finished) {
    // Every batch was acknowledged and committed: close politely. A stream
    // broken by a sidecar restart while this writer idled no longer matters.
    stream->WritesDone();
    stream->Finish().ok();
    Detach(w, true);
    return;
  }
  grpc::Status s = stream->Finish();  // prompt: Fail() cancelled the call, or it broke
  Detach(w, true);
  if (!failed) {
    Fail(s.ok() ? Recovery::kRestore : RecoveryFor(s.error_code()),
         fmt::format("writer {}: Write stream ended: {}", w,
                     s.ok() ? std::string("closed by the sidecar") : Describe(s)));
  }
}

// Flink's notifyCheckpointComplete: commits the newest completed checkpoint
// (Commit(N) also commits every sealed checkpoint < N), off the coordinator's
// thread so that checkpoints keep being triggered while a commit runs.
void LoadRun::CommitLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] {
      return failure_ != Recovery::kNone || done_ ||
             (last_completed_ && (!last_committed_ || *last_completed_ > *last_committed_));
    });
    if (failure_ != Recovery::kNone || done_) return;
    int64_t id = *last_completed_;
    CheckpointState state = completed_.at(id);
    lock.unlock();
    bool ok = CommitCheckpoint(id, state);
    lock.lock();
    if (!ok) return;
  }
}

bool LoadRun::CommitCheckpoint(int64_t id, const CheckpointState& state) {
  v1::CommitRequest req;
  for (const auto& c : state.committables) *req.add_committables() = c;
  if (o_.progress) Log("checkpoint {} committing", id);
  auto began = Clock::now();
  auto deadline = began + std::chrono::duration<double>(o_.max_restart_seconds);
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    grpc::ClientContext ctx;
    SetUnaryDeadline(&ctx, kCommitTimeout);
    v1::CommitResponse resp;
    grpc::Status s = coordinator_->Commit(&ctx, req, &resp);
    if (s.ok()) break;
    Recovery r = RecoveryFor(s.error_code());
    if (r != Recovery::kRestore || Clock::now() + backoff > deadline) {
      Fail(r == Recovery::kRestore ? Recovery::kFatal : r,
           fmt::format("Commit of checkpoint {}: {}", id, Describe(s)));
      return false;
    }
    // Retried with the same committables, never by rewriting data. If the
    // sidecar went away, the writers notice too and the run restarts instead.
    if (Failed()) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    if (Failed()) return false;
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  reporter_->Event({{"event", "commit"}, {"checkpoint", id}, {"ms", ms}});
  std::lock_guard lock(mu_);
  for (auto it = completed_.upper_bound(last_committed_.value_or(-1));
       it != completed_.end() && it->first <= id; ++it) {
    ++checkpoints_committed_;
  }
  last_committed_ = id;
  completed_.erase(completed_.begin(), completed_.find(id));
  throttle_floor_ = std::max(throttle_floor_, id);
  cv_.notify_all();
  if (o_.progress) {
    uint64_t rows = 0;
    for (const auto& p : state.positions) rows += p.next_op;
    double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    Log("checkpoint {} committed: {} rows, {:.0f} rows/s, commit {:.0f} ms", id, rows,
        rows / std::max(secs, 1e-9), ms);
  }
  return true;
}

// The checkpoint coordinator (runs on the main thread): completes the
// checkpoints every writer prepared (CommitLoop commits them), triggers
// checkpoints by time and the final one. Returns true when the run is done.
bool LoadRun::Coordinate() {
  auto last_trigger = Clock::now();
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(o_.checkpoint_interval_ms, 1));
  std::unique_lock lock(mu_);
  for (;;) {
    if (failure_ != Recovery::kNone) return false;
    // Complete the lowest checkpoint that every writer prepared.
    std::optional<int64_t> complete;
    if (!slots_[0].prepared.empty()) {
      int64_t id = slots_[0].prepared.begin()->first;
      bool all = true;
      for (const auto& s : slots_) all = all && s.prepared.count(id) > 0;
      if (all) complete = id;
    }
    if (complete) {
      CheckpointState state;
      for (auto& s : slots_) {
        auto node = s.prepared.extract(*complete);
        state.positions.push_back(node.mapped().position);
        state.committables.push_back(std::move(node.mapped().committable));
      }
      last_completed_ = *complete;
      const CheckpointState& stored = completed_[*complete] = std::move(state);
      if (o_.progress) {
        uint64_t rows = 0;
        for (const auto& p : stored.positions) rows += p.next_op;
        Log("checkpoint {} complete: {} rows", *complete, rows);
      }
      cv_.notify_all();  // the committer
      continue;
    }
    bool all_exhausted = true;
    int64_t final_id = 0;
    int64_t min_prepared = slots_[0].last_prepared;
    for (const auto& s : slots_) {
      all_exhausted = all_exhausted && s.exhausted;
      final_id = std::max(final_id, s.last_prepared + (s.unprepared_ops > 0 ? 1 : 0));
      min_prepared = std::min(min_prepared, s.last_prepared);
    }
    if (all_exhausted) {
      if (final_id > requested_) {
        requested_ = final_id;
        cv_.notify_all();
      }
      bool all_prepared = true;
      for (const auto& s : slots_)
        all_prepared = all_prepared && s.last_prepared >= final_id && s.prepared.empty();
      if (all_prepared && (final_id == 0 || (last_committed_ && *last_committed_ >= final_id) ||
                           final_id <= throttle_floor_)) {
        final_bytes_ = 0;
        if (last_committed_) {
          for (const auto& p : completed_.at(*last_committed_).positions) final_bytes_ += p.bytes;
        }
        done_ = true;
        cv_.notify_all();
        return true;
      }
    } else if (o_.checkpoint_rows == 0 && Clock::now() - last_trigger >= interval &&
               min_prepared >= requested_ &&
               requested_ + 1 <= throttle_floor_ + kMaxUncommittedCheckpoints) {
      requested_ = std::max(requested_, min_prepared) + 1;
      last_trigger = Clock::now();
      cv_.notify_all();
    }
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

// One session: writers stream from their start positions until the run
// finishes or fails. Returns what the failure asks for (kNone: finished).
Recovery LoadRun::Session() {
  {
    std::lock_guard lock(mu_);
    failure_ = Recovery::kNone;
    done_ = false;
    requested_ = last_used_id_;
    throttle_floor_ = last_used_id_;
    for (auto& s : slots_) s.last_prepared = last_used_id_;
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < o_.writers; ++w) threads.emplace_back([this, w] { WriterLoop(w); });
  threads.emplace_back([this] { CommitLoop(); });
  bool finished = Coordinate();
  if (!finished) Fail(Recovery::kRestore, "run failed");  // wakes and cancels every writer
  for (auto& t : threads) t.join();
  std::lock_guard lock(mu_);
  return finished && failure_ == Recovery::kNone ? Recovery::kNone : failure_;
}

void LoadRun::OpenChannels() {
  channels_.clear();
  for (int i = 0; i <= o_.writers; ++i) channels_.push_back(NewChannel(i));
  coordinator_ = v1::DeltaSidecar::NewStub(channels_.back());
}

grpc::Status LoadRun::RegisterOne(int w, std::optional<int64_t> restore,
                                  v1::RegisterWriterResponse* resp) {
  grpc::ClientContext ctx;
  SetUnaryDeadline(&ctx, kUnaryTimeout);
  v1::RegisterWriterRequest req;
  req.set_table(o_.table);
  req.set_writer_id(writer_ids_[w]);
  if (restore) req.set_restored_checkpoint_id(*restore);
  return coordinator_->RegisterWriter(&ctx, req, resp);
}

bool LoadRun::Run() {
  if (!Connect()) return false;
  for (;;) {
    Recovery r = Session();
    if (r == Recovery::kNone) return true;
    if (r == Recovery::kFatal) return false;
    if (!Recover(r)) return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "delta-loadgen: plays a stream processor with W parallel writers against a running\n"
      "delta-sidecar (deltasidecar.v1 over gRPC), deterministically: the same flags always\n"
      "produce the same final table, which --expect writes as `deltactl scan` prints it.\n"
      "Survives sidecar crashes like Flink: restart from the last completed checkpoint and\n"
      "replay. Prints one JSON summary line on stdout; progress and restarts on stderr.\n"
      "Exit status: 0 done, 1 failed, 2 bad usage."};
  app.add_option("--target", o.target, "Sidecar address: host:port, unix:/path or /path")
      ->capture_default_str();
  app.add_option("--table", o.table, "Table to write (created if missing)")->required();
  app.add_option("--rows", o.rows, "Total operations across all writers")
      ->required()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--seed", o.seed, "Seed of every writer's PRNG")->capture_default_str();
  app.add_option("--writers", o.writers, "Parallel writers (writer w owns ids with id % W == w)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--key-space", o.key_space, "Keys 0..K-1 (default rows/2)");
  app.add_option("--update-ratio", o.update_ratio, "Share of ops that upsert an existing key")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--delete-ratio", o.delete_ratio, "Share of ops that delete an existing key")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--row-bytes", o.row_bytes, "Approximate packed size of an upserted row")
      ->capture_default_str()
      ->check(CLI::Range(size_t{31}, size_t{1} << 20));
  app.add_option("--rate", o.rate, "Total rows per second across writers (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--report", o.report_file,
                 "Write timed events as JSON lines: rows acknowledged every 250 ms, each "
                 "PrepareCommit and Commit with its latency");
  app.add_option("--batch-rows", o.batch_rows, "Rows per RecordBatch")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--checkpoint-rows", o.checkpoint_rows,
                 "Ops per writer between checkpoints; 0: by time (--checkpoint-interval-ms)")
      ->capture_default_str();
  app.add_option("--checkpoint-interval-ms", o.checkpoint_interval_ms,
                 "Checkpoint interval when --checkpoint-rows is 0")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{86'400'000}));
  app.add_option("--buckets", o.buckets, "Buckets when the table is created")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--expect", o.expect_file,
                 "Write the expected final table here (JSON lines as `deltactl scan` prints them)");
  app.add_flag("--dry-run", o.dry_run, "With --expect: write the file and exit without a sidecar");
  app.add_flag("--progress", o.progress,
               "Progress on stderr, stamped with seconds since start: per checkpoint, each "
               "writer's prepare, its completion, and its commit (id, rows so far, rows/s, "
               "commit ms)");
  app.add_option("--writer-prefix", o.writer_prefix,
                 "Writer ids are <prefix>/<w> (default loadgen-<table>)");
  app.add_option("--max-restart-seconds", o.max_restart_seconds,
                 "How long one restart may wait for the sidecar to come back")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "delta-loadgen: error: {}\n", e.what());
    return 2;
  }
  if (o.key_space == 0) o.key_space = std::max<uint64_t>(o.rows / 2, 1);
  if (o.key_space < static_cast<uint64_t>(o.writers)) {
    fmt::print(stderr, "delta-loadgen: error: --key-space ({}) must be at least --writers ({})\n",
               o.key_space, o.writers);
    return 2;
  }
  if (o.update_ratio + o.delete_ratio > 1.0) {
    fmt::print(stderr, "delta-loadgen: error: --update-ratio + --delete-ratio exceeds 1\n");
    return 2;
  }
  if (o.dry_run && o.expect_file.empty()) {
    fmt::print(stderr, "delta-loadgen: error: --dry-run needs --expect\n");
    return 2;
  }
  if (o.writer_prefix.empty()) o.writer_prefix = "loadgen-" + o.table;

  auto schema = dt::TableSchema::Parse(kSchema, kPrimaryKey, o.buckets);
  if (!schema.ok()) {
    fmt::print(stderr, "delta-loadgen: {}\n", deltasidecar::SV(schema.status().message()));
    return 1;
  }
  Workload workload(o);
  if (!SelfCheckEncoding(workload, *schema)) {
    fmt::print(stderr, "delta-loadgen: internal error: packed rows differ from AppendWireRow's\n");
    return 1;
  }
  if (o.dry_run) {
    if (!WriteExpected(workload, *schema, o.expect_file)) {
      fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.expect_file);
      return 1;
    }
    return 0;
  }

  Reporter reporter(o.report_file);
  if (reporter.failed_to_open(o.report_file)) {
    fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.report_file);
    return 1;
  }
  reporter.Start();
  auto began = Clock::now();
  LoadRun run(o, workload, &reporter);
  if (!run.Run()) return 1;
  double secs = std::chrono::duration<double>(Clock::now() - began).count();
  if (!o.expect_file.empty() && !WriteExpected(workload, *schema, o.expect_file)) {
    fmt::print(stderr, "delta-loadgen: cannot write {}\n", o.expect_file);
    return 1;
  }
  nlohmann::ordered_json summary;
  summary["rows"] = o.rows;
  summary["writers"] = o.writers;
  summary["checkpoints"] = run.checkpoints();
  summary["restarts"] = run.restarts();
  summary["seconds"] = std::round(secs * 1000) / 1000;
  summary["rows_per_s"] = static_cast<uint64_t>(std::llround(o.rows / std::max(secs, 1e-9)));
  summary["mb_per_s"] = std::round(run.bytes() / std::max(secs, 1e-9) / 1e6 * 100) / 100;
  fmt::print("{}\n", summary.dump());
  return 0;
}
