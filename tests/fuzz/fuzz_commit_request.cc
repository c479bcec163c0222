// Fuzz target for Commit: the input is a serialized deltasidecar.v1.CommitRequest
// (inputs that do not parse are skipped). Its committables are converted to
// CommittableRef by the service's own conversion (CommittablesFromProto)
// and handed to a real SidecarServer.
//
// The server lives in a temporary directory created once per process: table
// "t" (id BIGINT, name STRING, score DOUBLE; 2 buckets) with writer "w", whose
// checkpoint 1 is committed and checkpoint 2 is sealed, not committed. Checks:
//  - Commit never crashes; any error status is fine;
//  - an error commits nothing: the table's latest snapshot is unchanged;
//  - an OK answer names each table of the request once, in order of first
//    appearance, and an already_committed one adds no snapshot.
// An input that does commit (the valid committable of checkpoint 2, or a
// mutation of it that the server accepts) changes the state, so the next input
// gets a fresh server in a new subdirectory: every input starts from the same
// state, and crashes reproduce from one file.
//
// FUZZ_COMMIT_REQUEST_WRITE_SEEDS=<dir>: write the seed corpus (built from the
// real committables of the fresh state) into <dir> and exit.
// FUZZ_COMMIT_REQUEST_VERBOSE=1: print each input's Commit status.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deltasidecar/v1/sidecar.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "sidecar/write_service.h"
#include "sidecar/sidecar_server.h"

namespace {

namespace ds = deltasidecar::sidecar;
namespace v1 = deltasidecar::v1;

constexpr char kTable[] = "t";
constexpr char kWriter[] = "w";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_commit_request: %s\n", what.c_str());
  std::abort();
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Fail(std::string(what) + ": " + v.status().ToString());
  return *std::move(v);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string(what) + ": " + s.ToString());
}

void PutLE(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Packed rows (docs/protocol.md) of the table's schema.
std::string Upsert(int64_t id, std::string_view name, double score) {
  std::string out;
  out.push_back('\x01');
  out.push_back('\x00');  // null bitmap: nothing NULL
  PutLE(static_cast<uint64_t>(id), 8, &out);
  out.push_back(static_cast<char>(name.size()));  // names here are < 128 bytes
  out.append(name);
  uint64_t bits;
  std::memcpy(&bits, &score, 8);
  PutLE(bits, 8, &out);
  return out;
}

std::string Delete(int64_t id) {
  std::string out("\x02", 1);
  PutLE(static_cast<uint64_t>(id), 8, &out);
  return out;
}

struct World {
  std::string dir;  // this generation's directory under the process's temp dir
  std::unique_ptr<ds::SidecarServer> server;
  std::shared_ptr<deltasidecar::table::Table> table;
  ds::CommittableRef committed;  // checkpoint 1
  ds::CommittableRef sealed;     // checkpoint 2
};

std::string& TempRoot() {
  static std::string* root = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/fuzz_commit_request-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp failed for " + pattern);
    return new std::string(pattern);
  }();
  return *root;
}

World* current = nullptr;
int generation = 0;

std::unique_ptr<World> Build() {
  auto w = std::make_unique<World>();
  w->dir = TempRoot() + "/gen-" + std::to_string(generation++);
  ds::SidecarOptions options;
  options.data_dir = w->dir + "/data";
  options.table_root = w->dir + "/tables";
  options.table_options.commit_threads = 1;
  options.table_options.compaction.trigger_files = 0;  // no background compaction
  w->server = Check(ds::SidecarServer::Open(options), "SidecarServer::Open");
  Check(w->server->CreateTable(kTable, "id BIGINT, name STRING, score DOUBLE", "id", 2, false),
        "CreateTable");
  w->table = Check(w->server->GetTable(kTable), "GetTable");
  const int64_t epoch = Check(w->server->RegisterWriter(kTable, kWriter, std::nullopt), "RegisterWriter").epoch;
  std::string b1 = Upsert(1, "one", 1.5) + Upsert(2, "two", -2) + Upsert(3, "three", 0);
  Check(w->server->Write(kTable, kWriter, epoch, /*schema_id=*/0, b1, 3), "Write");
  w->committed = Check(w->server->PrepareCommit(kTable, kWriter, epoch, 1), "PrepareCommit(1)");
  Check(w->server->Commit({w->committed}), "Commit(1)");
  std::string b2 = Upsert(4, "four", 4) + Delete(2);
  std::string b3 = Upsert(1, "uno", 1.25);
  Check(w->server->Write(kTable, kWriter, epoch, /*schema_id=*/0, b2, 2), "Write");
  Check(w->server->Write(kTable, kWriter, epoch, /*schema_id=*/0, b3, 1), "Write");
  w->sealed = Check(w->server->PrepareCommit(kTable, kWriter, epoch, 2), "PrepareCommit(2)");
  return w;
}

void Destroy(World* w) {
  if (w == nullptr) return;
  std::string dir = w->dir;
  w->table.reset();
  w->server.reset();
  delete w;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Removes the temporary directory. The open server is left alone: RocksDB's
// own statics may already be destroyed by the time exit handlers run.
void AtExit() {
  std::error_code ec;
  std::filesystem::remove_all(TempRoot(), ec);
}

World& Get() {
  if (current == nullptr) {
    static bool registered = [] { return std::atexit(AtExit) == 0; }();
    (void)registered;
    current = Build().release();
  }
  return *current;
}

int64_t Latest(World& w) { return Check(w.table->LatestSnapshot(), "LatestSnapshot")->id; }


void WriteSeeds(const char* dir) {
  World& w = Get();
  std::filesystem::create_directories(dir);
  auto save = [&](const char* name, const v1::CommitRequest& req) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << req.SerializeAsString();
  };
  auto one = [&](const ds::CommittableRef& c) {
    v1::CommitRequest req;
    ds::ToProto(c, req.add_committables());
    return req;
  };
  save("valid_sealed.pb", one(w.sealed));
  save("already_committed.pb", one(w.committed));
  v1::CommitRequest both = one(w.committed);
  ds::ToProto(w.sealed, both.add_committables());
  save("valid_both.pb", both);
  ds::CommittableRef c = w.sealed;
  c.checksum ^= 1;
  save("bad_checksum.pb", one(c));
  c = w.sealed;
  c.rows += 1;
  save("bad_rows.pb", one(c));
  c = w.sealed;
  c.epoch += 1;
  save("bad_epoch.pb", one(c));
  c = w.sealed;
  c.checkpoint_id = 3;
  save("bad_never_sealed.pb", one(c));
  c = w.sealed;
  c.identity = "w#1";
  save("bad_old_identity.pb", one(c));
  c.identity = "other";
  save("bad_foreign_identity.pb", one(c));
  c = w.sealed;
  c.writer_id = "ghost";
  save("bad_unknown_writer.pb", one(c));
  c = w.sealed;
  c.table = "nope";
  save("bad_unknown_table.pb", one(c));
  c.table = "../x";
  save("bad_table_name.pb", one(c));
  v1::CommitRequest two_tables = one(w.sealed);
  c = w.sealed;
  c.table = "nope";
  ds::ToProto(c, two_tables.add_committables());
  save("valid_then_unknown_table.pb", two_tables);
  save("empty.pb", v1::CommitRequest());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool seeds = [] {
    if (const char* dir = std::getenv("FUZZ_COMMIT_REQUEST_WRITE_SEEDS"); dir != nullptr) {
      WriteSeeds(dir);
      std::fprintf(stderr, "fuzz_commit_request: wrote seeds to %s\n", dir);
      std::exit(0);
    }
    return true;
  }();
  (void)seeds;
  // Parsing a string field that is not UTF-8 logs an error: silence protobuf.
  static bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  v1::CommitRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  World& w = Get();
  const int64_t before = Latest(w);
  const std::vector<ds::CommittableRef> refs = ds::CommittablesFromProto(req);
  absl::StatusOr<std::vector<ds::TableCommitResult>> results = w.server->Commit(refs);
  std::vector<std::string> order;  // tables in order of first appearance
  for (const auto& r : refs) {
    if (std::find(order.begin(), order.end(), r.table) == order.end()) order.push_back(r.table);
  }
  bool changed = false;
  if (!results.ok()) {
    // Tables commit in order, each atomically, so "t" may have committed
    // before a later table failed; only "t" exists, so if "t" is the last
    // table named, the error is its own and must have changed nothing.
    if (Latest(w) != before) {
      if (order.empty() || order.back() == kTable) {
        Fail("a failed Commit changed the table: " + results.status().ToString());
      }
      changed = true;
    }
  } else {
    if (results->size() != order.size()) Fail("Commit answered a different number of tables");
    for (size_t i = 0; i < order.size(); ++i) {
      const ds::TableCommitResult& r = (*results)[i];
      if (r.table != order[i]) Fail("Commit answered tables out of order");
      if (!r.already_committed) changed = true;
    }
    if (!changed && Latest(w) != before) Fail("an already_committed answer added a snapshot");
    if (changed && Latest(w) == before) Fail("a commit added no snapshot");
  }
  if (std::getenv("FUZZ_COMMIT_REQUEST_VERBOSE") != nullptr) {
    std::fprintf(stderr, "  %zu committables: %s%s\n", refs.size(),
                 results.ok() ? "OK" : results.status().ToString().c_str(),
                 changed ? " (committed: next input gets a fresh server)" : "");
  }
  if (changed) {
    Destroy(current);
    current = nullptr;
  }
  return 0;
}
