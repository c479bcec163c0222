// Fuzz target for the table engine's data-file reader (table/data_file.h):
// the input is written as a data file and read through DataFiles, twice:
//  1. with the DataFileMeta a snapshot would record for other bytes (its xxh3
//     off by one bit): the whole-file check must refuse the file with
//     DATA_LOSS before RocksDB opens it (NewScanIterator, Get and Verify);
//  2. with the XXH3-64 of the input itself in the meta, so the bytes get past
//     that check and RocksDB's SST parsing (footer, index, properties, filter
//     and data blocks, their checksums and LZ4) sees them. Any error status is
//     fine; a scan must return strictly increasing keys, and every key it
//     returns must be found again by Get, with the same value; then the same
//     again with the bytes read as one bucket's section of a multi-bucket file.
// In production only (1) can happen to a damaged file: a snapshot records the
// xxh3 of the file as written. (2) says what RocksDB does with arbitrary bytes.
//
// Set FUZZ_DATA_FILE_VERIFIED_ONLY=1 to run (1) alone. CTest does, because
// (2) makes Debian's RocksDB 7.8.3 (built with assertions) abort within
// seconds of fuzzing; the inputs are kept in corpus/fuzz_data_file_rocksdb_asserts/,
// which CTest runs in verified mode, so the whole-file check must keep them
// from RocksDB:
//  - properties_block_hash_index_no_buckets.sst: a footer with XXH3 block
//    checksums, but RocksDB parses the properties block before checking its
//    checksum (as data_file.cc says) and fails `num_buckets_ > 0` in
//    DataBlockHashIndex::Initialize (table/block_based/data_block_hash_index.cc:79),
//    from ReadTablePropertiesHelper in SstFileReader::Open;
//  - no_checksum_footer_unknown_compression.sst: a footer whose checksum type
//    is 0 (kNoChecksum) turns block checksums off, and an unknown compression
//    type in the metaindex block's trailer fails `assert(false)` in
//    CompressionTypeSupported (util/compression.h:559), also from Open.
// To fuzz (2) past these, run libFuzzer with -fork=1 -ignore_crashes=1.
//
// FUZZ_DATA_FILE_WRITE_SEEDS=<dir>: write the seed corpus (small data files
// written by DataFiles::NewWriter, as a commit writes them) into <dir> and exit.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "table/data_file.h"
#include "table/mutation_batch.h"
#include "table/row.h"
#include "table/schema.h"
#include "xxhash.h"

namespace {

namespace dt = deltasidecar::table;

// A name of the form a snapshot records (bucket, 32 hex digits); DataFiles
// caches readers by name, so each input is evicted after use.
constexpr char kFileName[] = "00000-0123456789abcdef0123456789abcdef.sst";
// The same bytes read as a multi-bucket file: one bucket's section at a time.
constexpr char kMultiFileName[] = "multi-0123456789abcdef0123456789abcdef.sst";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_data_file: %s\n", what.c_str());
  std::abort();
}

struct World {
  std::string dir;
  std::unique_ptr<dt::DataFiles> files;
  bool verified_only = false;
};

World& Get() {
  static World* w = [] {
    auto* world = new World();
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/fuzz_data_file-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp failed for " + pattern);
    world->dir = pattern;
    world->files = std::make_unique<dt::DataFiles>(deltasidecar::Storage::Make(nullptr), world->dir,
                                                   dt::DataFileOptions());
    const char* v = std::getenv("FUZZ_DATA_FILE_VERIFIED_ONLY");
    world->verified_only = v != nullptr && *v != '\0' && *v != '0';
    // Only the directory is removed at exit: RocksDB's statics may be gone by
    // then, so the DataFiles object is left alone.
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(Get().dir, ec);
    });
    return world;
  }();
  return *w;
}

std::string Xxh3Hex(std::string_view bytes) {
  return absl::StrFormat("%016x", XXH3_64bits(bytes.data(), bytes.size()));
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) Fail("cannot create " + path);
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    Fail("cannot write " + path);
  }
  if (std::fclose(f) != 0) Fail("cannot close " + path);
}

void ExpectDataLoss(const absl::Status& s, const char* what) {
  if (!absl::IsDataLoss(s)) {
    Fail(std::string(what) + " of a file that fails its whole-file check: " + s.ToString());
  }
}

void ReadChecked(dt::DataFiles& files, const dt::DataFileMeta& meta) {
  auto it = files.NewScanIterator(meta);
  std::vector<std::pair<std::string, std::string>> seen;
  if (it.ok()) {
    std::string last;
    size_t n = 0;
    for ((*it)->SeekToFirst(); (*it)->Valid() && n < 100000; (*it)->Next(), ++n) {
      std::string key = (*it)->key().ToString();
      if (n > 0 && key <= last) Fail("scan keys are not strictly increasing");
      if (seen.size() < 16) seen.emplace_back(key, (*it)->value().ToString());
      last = std::move(key);
    }
    (void)(*it)->status();
    it->reset();
  }
  for (const auto& [key, value] : seen) {
    auto got = files.Get(meta, key);
    // A damaged block may fail here although the scan read past it (the scan
    // does not use the filter); what Get returns must agree with the scan.
    if (got.ok() && got->has_value() && **got != value) Fail("Get and scan disagree on a value");
  }
  (void)files.Get(meta, "");
  (void)files.Get(meta, std::string(8, '\x80'));
  (void)files.Verify(meta);
}

// Seed files: data files as a commit writes them.
void WriteSeeds(const char* out_dir) {
  World& w = Get();
  std::filesystem::create_directories(out_dir);
  auto schema = dt::TableSchema::Parse("id BIGINT, name STRING, score DOUBLE", "id", 4);
  if (!schema.ok()) Fail(schema.status().ToString());
  struct Seed {
    const char* name;
    dt::DataFileOptions options;
    int rows;
    int delete_every;
    bool multi = false;
  };
  dt::DataFileOptions tiny_blocks;
  tiny_blocks.compression = rocksdb::kNoCompression;
  tiny_blocks.block_size = 256;
  const Seed seeds[] = {
      {"two_rows_lz4.sst", dt::DataFileOptions(), 2, 0},
      {"forty_rows_deletes_lz4.sst", dt::DataFileOptions(), 40, 5},
      {"thirty_rows_small_blocks_uncompressed.sst", tiny_blocks, 30, 4},
      {"multi_bucket_forty_rows_lz4.sst", dt::DataFileOptions(), 40, 6, true},
  };
  for (const Seed& seed : seeds) {
    dt::DataFiles files(deltasidecar::Storage::Make(nullptr), w.dir, seed.options);
    auto writer = seed.multi ? files.NewMultiBucketWriter(1) : files.NewWriter(0, 1);
    if (!writer.ok()) Fail(writer.status().ToString());
    for (int i = 0; i < seed.rows; ++i) {
      // Buckets 0, 1 and 3 of a multi-bucket file, ten or more rows each.
      if (seed.multi && i % 10 == 0 && i / 10 != 2) {
        absl::Status s = (*writer)->StartBucket(i < 30 ? i / 10 : 3);
        if (!s.ok()) Fail(s.ToString());
      }
      dt::Row row = {dt::Value(int64_t{i * 3 + 2}), dt::Value(absl::StrFormat("name-%d", i)),
                     dt::Value(i * 0.5)};
      if (i == 1) row[1] = dt::Value();  // a NULL
      std::string key = dt::EncodeKey(*schema, row);
      std::string value;
      if (seed.delete_every > 0 && i % seed.delete_every == seed.delete_every - 1) {
        value = std::string(dt::DeleteValue());
      } else {
        dt::AppendUpsertValue(*schema, row, &value);
      }
      absl::Status s = (*writer)->Add(key, value);
      if (!s.ok()) Fail(s.ToString());
    }
    auto metas = (*writer)->Finish();
    if (!metas.ok()) Fail(metas.status().ToString());
    const dt::DataFileMeta& meta = metas->at(0);
    const std::string from = files.PathOf(meta.name);
    absl::Status check = files.Verify(meta);
    if (!check.ok()) Fail(check.ToString());
    std::filesystem::copy_file(from, std::string(out_dir) + "/" + seed.name,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(from);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool seeds = [] {
    if (const char* dir = std::getenv("FUZZ_DATA_FILE_WRITE_SEEDS"); dir != nullptr) {
      WriteSeeds(dir);
      std::fprintf(stderr, "fuzz_data_file: wrote seeds to %s\n", dir);
      std::exit(0);
    }
    return true;
  }();
  (void)seeds;
  World& w = Get();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string path = w.files->PathOf(kFileName);
  WriteFile(path, bytes);

  dt::DataFileMeta meta;
  meta.name = kFileName;
  meta.bucket = 0;
  meta.added_in = 1;
  meta.size_bytes = size;
  meta.entries = 0;
  meta.min_key = "";
  meta.max_key = std::string(64, '\xff');
  meta.xxh3 = Xxh3Hex(bytes);

  // 1. The snapshot recorded other bytes: refused before RocksDB sees the file.
  dt::DataFileMeta other = meta;
  std::string changed = other.xxh3;
  changed[15] = changed[15] == '0' ? '1' : '0';
  other.xxh3 = changed;
  w.files->Evict(kFileName);
  ExpectDataLoss(w.files->NewScanIterator(other).status(), "NewScanIterator");
  ExpectDataLoss(w.files->Get(other, std::string(8, '\x80')).status(), "Get");
  ExpectDataLoss(w.files->Verify(other), "Verify");
  dt::DataFileMeta longer = meta;
  longer.size_bytes = size + 1;
  ExpectDataLoss(w.files->CheckWholeFile(longer), "CheckWholeFile");

  // 2. The xxh3 of these very bytes: RocksDB parses them.
  if (!w.verified_only) {
    ReadChecked(*w.files, meta);
    w.files->Evict(kFileName);
    // As a multi-bucket file: the section of one of the seeds' buckets.
    WriteFile(w.files->PathOf(kMultiFileName), bytes);
    dt::DataFileMeta section = meta;
    section.name = kMultiFileName;
    section.bucket = static_cast<int>(size % 4);
    ReadChecked(*w.files, section);
    w.files->Evict(kMultiFileName);
  }
  return 0;
}
