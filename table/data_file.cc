#include "table/data_file.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rocksdb/file_checksum.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "xxhash.h"
#include "table/base/absl_compat.h"
#include "table/row.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {

namespace {
// Bloom filter entries are "prefixes" capped far beyond any realistic key, i.e.
// whole keys; a point lookup seeks with prefix_same_as_start so the filter is
// consulted before any data block is read.
constexpr size_t kFilterPrefixCap = 4096;

std::string HexOf(std::string_view bytes) { return absl::BytesToHexString(AV(bytes)); }

// Whole-file checksum: XXH3-64 of every byte, as 8 big-endian bytes. XXH3
// rather than RocksDB's CRC-32C generator because Debian's RocksDB is built
// without SSE4.2 and computes CRC-32C in software, several times slower.
class Xxh3FileChecksum : public rocksdb::FileChecksumGenerator {
 public:
  Xxh3FileChecksum() : state_(XXH3_createState()) { XXH3_64bits_reset(state_); }
  ~Xxh3FileChecksum() override { XXH3_freeState(state_); }
  void Update(const char* data, size_t n) override { XXH3_64bits_update(state_, data, n); }
  void Finalize() override {
    uint64_t h = XXH3_64bits_digest(state_);
    digest_.resize(8);
    for (int i = 0; i < 8; ++i) digest_[i] = static_cast<char>(h >> (56 - 8 * i));
  }
  std::string GetChecksum() const override { return digest_; }
  const char* Name() const override { return "XXH3_64"; }

 private:
  XXH3_state_t* state_;
  std::string digest_;
};

class Xxh3FileChecksumFactory : public rocksdb::FileChecksumGenFactory {
 public:
  std::unique_ptr<rocksdb::FileChecksumGenerator> CreateFileChecksumGenerator(
      const rocksdb::FileChecksumGenContext&) override {
    return std::make_unique<Xxh3FileChecksum>();
  }
  static const char* kClassName() { return "Xxh3FileChecksumFactory"; }
  const char* Name() const override { return kClassName(); }
};

absl::Status CorruptFile(const std::string& path, std::string_view why) {
  return absl::DataLossError(Cat("data file ", path, " ", why));
}
}  // namespace

DataFileWriter::~DataFileWriter() {
  if (!finished_ && fs_ != nullptr) RemoveFile(fs_, path_).IgnoreError();
}

absl::Status DataFileWriter::Add(std::string_view key, std::string_view value) {
  rocksdb::Status s = writer_->Put(rocksdb::Slice(key.data(), key.size()),
                                   rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return FromRocks(s, Cat("writing ", path_));
  if (entries_ == 0) meta_.min_key.assign(key);
  ++entries_;
  if (!value.empty() && static_cast<RowOp>(value[0]) == RowOp::kDelete) ++deletes_;
  return absl::OkStatus();
}

absl::StatusOr<DataFileMeta> DataFileWriter::Finish() {
  rocksdb::ExternalSstFileInfo info;
  rocksdb::Status s = writer_->Finish(&info);
  if (!s.ok()) return FromRocks(s, Cat("finishing ", path_));
  finished_ = true;
  meta_.size_bytes = info.file_size;
  meta_.entries = entries_;
  meta_.deletes = deletes_;
  meta_.max_key = info.largest_key;
  meta_.xxh3 = HexOf(info.file_checksum);
  return meta_;
}

DataFiles::DataFiles(std::shared_ptr<Storage> storage, std::string data_dir,
                     DataFileOptions options)
    : storage_(std::move(storage)), data_dir_(std::move(data_dir)), options_(options) {
  rocksdb::BlockBasedTableOptions bbto;
  bbto.block_size = options_.block_size;
  bbto.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options_.bloom_bits_per_key));
  bbto.whole_key_filtering = true;
  bbto.block_cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  bbto.cache_index_and_filter_blocks = false;
  bbto.checksum = rocksdb::kXXH3;
  // Pinned so that a newer RocksDB keeps writing what docs/table-format.md describes.
  bbto.format_version = 5;
  rocks_options_.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bbto));
  rocks_options_.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(kFilterPrefixCap));
  rocks_options_.compression = options_.compression;
  rocks_options_.env = storage_->env.get();
  rocks_options_.file_checksum_gen_factory = std::make_shared<Xxh3FileChecksumFactory>();
}

absl::StatusOr<std::unique_ptr<DataFileWriter>> DataFiles::NewWriter(int bucket,
                                                                     int64_t added_in) {
  std::unique_ptr<DataFileWriter> w(new DataFileWriter());
  w->meta_.name = Cat(absl::StrFormat("%05d-", bucket), RandomId(), ".sst");
  w->meta_.bucket = bucket;
  w->meta_.added_in = added_in;
  w->path_ = PathOf(w->meta_.name);
  w->writer_ = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), rocks_options_);
  rocksdb::Status s = w->writer_->Open(w->path_);
  if (!s.ok()) return FromRocks(s, Cat("creating ", w->path_));
  w->fs_ = storage_->fs.get();
  return w;
}

absl::StatusOr<std::shared_ptr<rocksdb::SstFileReader>> DataFiles::Reader(
    const DataFileMeta& file) {
  {
    absl::MutexLock lock(&mu_);
    auto it = readers_.find(file.name);
    if (it != readers_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.reader;
    }
  }
  std::string path = PathOf(file.name);
  // RocksDB parses some blocks (table properties) before checking their
  // checksums, and Debian's build asserts on what it finds there; so the whole
  // file is checked against the snapshot before RocksDB sees it. Readers are
  // cached, so this costs one pass over a file per process.
  RETURN_IF_ERROR(CheckWholeFile(file));
  auto reader = std::make_shared<rocksdb::SstFileReader>(rocks_options_);
  rocksdb::Status s = reader->Open(path);
  if (!s.ok()) {
    if (s.IsCorruption() || s.IsNotFound()) return CorruptFile(path, s.ToString());
    return FromRocks(s, Cat("opening ", path));
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = readers_.try_emplace(file.name);
  if (inserted) {
    lru_.push_front(file.name);
    it->second = CachedReader{reader, lru_.begin()};
    while (readers_.size() > options_.max_open_readers) {
      readers_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return it->second.reader;
}

void DataFiles::Evict(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = readers_.find(name);
  if (it == readers_.end()) return;
  lru_.erase(it->second.lru);
  readers_.erase(it);
}

absl::StatusOr<std::unique_ptr<rocksdb::Iterator>> DataFiles::NewScanIterator(
    const DataFileMeta& file) {
  auto reader = Reader(file);
  if (!reader.ok()) return reader.status();
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  // The iterator keeps the reader alive through a cleanup hook.
  auto holder = new std::shared_ptr<rocksdb::SstFileReader>(*reader);
  std::unique_ptr<rocksdb::Iterator> it((*reader)->NewIterator(ro));
  it->RegisterCleanup(
      [](void* arg1, void*) { delete static_cast<std::shared_ptr<rocksdb::SstFileReader>*>(arg1); },
      holder, nullptr);
  return it;
}

absl::StatusOr<std::optional<std::string>> DataFiles::Get(const DataFileMeta& file,
                                                          std::string_view key) {
  if (key < std::string_view(file.min_key) || key > std::string_view(file.max_key)) {
    return std::nullopt;
  }
  auto reader = Reader(file);
  if (!reader.ok()) return reader.status();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it((*reader)->NewIterator(ro));
  rocksdb::Slice k(key.data(), key.size());
  it->Seek(k);
  if (!it->status().ok()) {
    return FromRocks(it->status(), Cat("reading ", PathOf(file.name)));
  }
  if (!it->Valid() || it->key() != k) return std::nullopt;
  return it->value().ToString();
}

absl::Status DataFiles::CheckWholeFile(const DataFileMeta& file) {
  std::string path = PathOf(file.name);
  auto gen = rocks_options_.file_checksum_gen_factory->CreateFileChecksumGenerator(
      rocksdb::FileChecksumGenContext{});
  std::unique_ptr<rocksdb::FSSequentialFile> in;
  rocksdb::IOStatus io =
      storage_->fs->NewSequentialFile(path, rocksdb::FileOptions(), &in, nullptr);
  if (!io.ok()) return CorruptFile(path, Cat("is missing: ", io.ToString()));
  std::string buf(1 << 20, '\0');
  uint64_t total = 0;
  for (;;) {
    rocksdb::Slice chunk;
    io = in->Read(buf.size(), rocksdb::IOOptions(), &chunk, buf.data(), nullptr);
    if (!io.ok()) return FromRocks(io, Cat("reading ", path));
    if (chunk.empty()) break;
    gen->Update(chunk.data(), chunk.size());
    total += chunk.size();
  }
  gen->Finalize();
  if (total != file.size_bytes) {
    return CorruptFile(path, Cat("is ", total, " bytes, the snapshot says ", file.size_bytes));
  }
  std::string sum = HexOf(gen->GetChecksum());
  if (sum != file.xxh3) {
    return CorruptFile(path, Cat("has XXH3-64 ", sum, ", the snapshot says ", file.xxh3));
  }
  return absl::OkStatus();
}

absl::Status DataFiles::Verify(const DataFileMeta& file) {
  RETURN_IF_ERROR(CheckWholeFile(file));
  std::string path = PathOf(file.name);
  rocksdb::SstFileReader reader(rocks_options_);
  rocksdb::Status s = reader.Open(path);
  if (s.ok()) s = reader.VerifyChecksum();
  if (!s.ok()) return CorruptFile(path, s.ToString());
  return absl::OkStatus();
}

MergingIterator::MergingIterator(std::vector<Child> children, bool skip_deletes)
    : children_(std::move(children)),
      keys_(children_.size()),
      prefixes_(children_.size()),
      skip_deletes_(skip_deletes) {}

bool MergingIterator::Less(int a, int b) const {
  if (prefixes_[a] != prefixes_[b]) return prefixes_[a] < prefixes_[b];
  int c = keys_[a].compare(keys_[b]);
  if (c != 0) return c < 0;
  return children_[a].rank > children_[b].rank;
}

bool MergingIterator::Load(int child) {
  auto& it = children_[child].iter;
  if (it->Valid()) {
    keys_[child] = it->key();
    prefixes_[child] = KeyPrefix(std::string_view(keys_[child].data(), keys_[child].size()));
    return true;
  }
  if (!it->status().ok() && status_.ok()) status_ = FromRocks(it->status(), "reading a data file");
  return false;
}

void MergingIterator::SiftDown(size_t i) {
  size_t n = heap_.size();
  for (;;) {
    size_t l = 2 * i + 1, smallest = i;
    if (l < n && Less(heap_[l], heap_[smallest])) smallest = l;
    if (l + 1 < n && Less(heap_[l + 1], heap_[smallest])) smallest = l + 1;
    if (smallest == i) return;
    std::swap(heap_[i], heap_[smallest]);
    i = smallest;
  }
}

void MergingIterator::RemoveAt(size_t i) {
  heap_[i] = heap_.back();
  heap_.pop_back();
  // Everything in the heap is >= the root, so the moved element only sinks.
  if (i < heap_.size()) SiftDown(i);
}

void MergingIterator::AdvanceAt(size_t i) {
  children_[heap_[i]].iter->Next();
  if (Load(heap_[i])) {
    SiftDown(i);
  } else {
    RemoveAt(i);
  }
}

void MergingIterator::SeekToFirst() {
  heap_.clear();
  for (size_t i = 0; i < children_.size(); ++i) {
    children_[i].iter->SeekToFirst();
    if (Load(static_cast<int>(i))) heap_.push_back(static_cast<int>(i));
  }
  for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  Settle();
}

void MergingIterator::Settle() {
  current_ = -1;
  while (status_.ok() && !heap_.empty()) {
    const int top = heap_[0];
    // Older versions of the top key sit right below the root: skip them.
    for (;;) {
      size_t c = 1;
      if (heap_.size() > 2 && Less(heap_[2], heap_[1])) c = 2;
      if (c >= heap_.size() || prefixes_[heap_[c]] != prefixes_[top] ||
          keys_[heap_[c]] != keys_[top]) {
        break;
      }
      AdvanceAt(c);
    }
    if (!status_.ok()) return;
    if (skip_deletes_) {
      rocksdb::Slice v = children_[top].iter->value();
      if (!v.empty() && static_cast<RowOp>(v[0]) == RowOp::kDelete) {
        AdvanceAt(0);
        continue;
      }
    }
    current_ = top;
    return;
  }
}

void MergingIterator::Next() {
  AdvanceAt(0);
  Settle();
}

std::string_view MergingIterator::key() const {
  rocksdb::Slice k = children_[current_].iter->key();
  return {k.data(), k.size()};
}

std::string_view MergingIterator::value() const {
  rocksdb::Slice v = children_[current_].iter->value();
  return {v.data(), v.size()};
}

}  // namespace deltasidecar::table
