#include "table/data_file.h"

#include <algorithm>
#include <cstring>
#include <thread>

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


// One bucket's section of a multi-bucket file: the base iterator's entries
// whose keys start with the bucket's prefix, with the prefix stripped.
class BucketSectionIterator : public rocksdb::Iterator {
 public:
  BucketSectionIterator(std::unique_ptr<rocksdb::Iterator> base, int bucket)
      : base_(std::move(base)), prefix_(BucketKeyPrefix(bucket)), end_(BucketKeyPrefix(bucket + 1)) {}
  bool Valid() const override { return base_->Valid() && base_->key().starts_with(prefix_); }
  void SeekToFirst() override { base_->Seek(prefix_); }
  void SeekToLast() override {
    base_->Seek(end_);
    if (base_->Valid()) {
      base_->Prev();
    } else if (base_->status().ok()) {
      base_->SeekToLast();
    }
  }
  void Seek(const rocksdb::Slice& target) override { base_->Seek(Prefixed(target)); }
  void SeekForPrev(const rocksdb::Slice& target) override { base_->SeekForPrev(Prefixed(target)); }
  void Next() override { base_->Next(); }
  void Prev() override { base_->Prev(); }
  rocksdb::Slice key() const override {
    rocksdb::Slice k = base_->key();
    k.remove_prefix(kBucketKeyPrefixBytes);
    return k;
  }
  rocksdb::Slice value() const override { return base_->value(); }
  rocksdb::Status status() const override { return base_->status(); }

 private:
  rocksdb::Slice Prefixed(const rocksdb::Slice& target) {
    scratch_.assign(prefix_);
    scratch_.append(target.data(), target.size());
    return scratch_;
  }

  std::unique_ptr<rocksdb::Iterator> base_;
  const std::string prefix_;
  const std::string end_;  // the next bucket's prefix
  std::string scratch_;
};

}  // namespace

std::string BucketKeyPrefix(int bucket) {
  const auto b = static_cast<uint32_t>(bucket);
  std::string p(kBucketKeyPrefixBytes, '\0');
  for (size_t i = 0; i < kBucketKeyPrefixBytes; ++i) p[i] = static_cast<char>(b >> (24 - 8 * i));
  return p;
}

std::vector<std::vector<int>> GroupBucketsIntoFiles(const std::vector<int>& nonempty,
                                                    size_t entries, int threads) {
  std::vector<std::vector<int>> groups;
  if (nonempty.empty()) return groups;
  if (nonempty.size() == 1 || entries / nonempty.size() >= kOwnFileMinEntries) {
    for (int b : nonempty) groups.push_back({b});
    return groups;
  }
  // Contiguous runs of buckets, as many as the threads that write them when
  // there are enough entries to keep them busy.
  const size_t most = threads > 0 ? static_cast<size_t>(threads)
                                  : std::max<size_t>(1, std::thread::hardware_concurrency());
  const size_t want =
      std::clamp<size_t>((entries + kMultiFileEntries - 1) / kMultiFileEntries, 1, most);
  const size_t count = std::min(want, nonempty.size());
  for (size_t g = 0; g < count; ++g) {
    const size_t lo = nonempty.size() * g / count, hi = nonempty.size() * (g + 1) / count;
    groups.emplace_back(nonempty.begin() + lo, nonempty.begin() + hi);
  }
  return groups;
}

DataFileWriter::~DataFileWriter() {
  if (!finished_ && fs_ != nullptr) RemoveFile(fs_, path_).IgnoreError();
}

absl::Status DataFileWriter::StartBucket(int bucket) {
  if (!multi_) return absl::FailedPreconditionError(Cat(path_, " holds one bucket"));
  if (!sections_.empty() && bucket <= sections_.back().bucket) {
    return absl::InvalidArgumentError(Cat("bucket ", bucket, " of ", path_, " follows bucket ",
                                          sections_.back().bucket, "; buckets must ascend"));
  }
  if (!sections_.empty()) EndSection(LastKeyAdded());
  DataFileMeta m;
  m.name = name_;
  m.bucket = bucket;
  m.added_in = added_in_;
  sections_.push_back(std::move(m));
  section_raw_.push_back(0);
  prefix_ = BucketKeyPrefix(bucket);
  return absl::OkStatus();
}

absl::Status DataFileWriter::Add(std::string_view key, std::string_view value) {
  if (sections_.empty()) return absl::FailedPreconditionError(Cat(path_, ": no bucket started"));
  rocksdb::Slice k(key.data(), key.size());
  if (multi_) {
    prefixed_.assign(prefix_);
    prefixed_.append(key);
    k = rocksdb::Slice(prefixed_);
  }
  rocksdb::Status s = writer_->Put(k, rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return FromRocks(s, Cat("writing ", path_));
  DataFileMeta& m = sections_.back();
  if (m.entries == 0) m.min_key.assign(key);
  ++m.entries;
  if (!value.empty() && static_cast<RowOp>(value[0]) == RowOp::kDelete) ++m.deletes;
  section_raw_.back() += key.size() + value.size();
  ++entries_;
  return absl::OkStatus();
}

void DataFileWriter::EndSection(std::string_view last_key) {
  if (sections_.back().entries == 0) {
    sections_.pop_back();
    section_raw_.pop_back();
    return;
  }
  sections_.back().max_key.assign(last_key);
}

std::string_view DataFileWriter::LastKeyAdded() const {
  if (prefixed_.size() < kBucketKeyPrefixBytes) return std::string_view();
  return std::string_view(prefixed_).substr(kBucketKeyPrefixBytes);
}

absl::StatusOr<std::vector<DataFileMeta>> DataFileWriter::Finish() {
  if (entries_ == 0) return std::vector<DataFileMeta>();  // the destructor removes the file
  rocksdb::ExternalSstFileInfo info;
  rocksdb::Status s = writer_->Finish(&info);
  if (!s.ok()) return FromRocks(s, Cat("finishing ", path_));
  finished_ = true;
  // A single-bucket file's largest key is the last key added, as it was given.
  EndSection(multi_ ? LastKeyAdded() : std::string_view(info.largest_key));
  uint64_t raw = 0;
  for (uint64_t r : section_raw_) raw += r;
  const std::string xxh3 = HexOf(info.file_checksum);
  // Each section's share of the file in proportion to its bytes written,
  // rounded so that the shares add up to the file's size.
  unsigned __int128 before = 0;
  for (size_t i = 0; i < sections_.size(); ++i) {
    DataFileMeta& m = sections_[i];
    m.size_bytes = info.file_size;
    m.xxh3 = xxh3;
    if (multi_) {
      const auto upto = before + section_raw_[i];
      const auto share = static_cast<uint64_t>(upto * info.file_size / raw) -
                         static_cast<uint64_t>(before * info.file_size / raw);
      m.section_bytes = std::max<uint64_t>(1, share);
      before = upto;
    }
  }
  return std::move(sections_);
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

absl::StatusOr<std::unique_ptr<DataFileWriter>> DataFiles::StartWriter(std::string name,
                                                                       int64_t added_in) {
  std::unique_ptr<DataFileWriter> w(new DataFileWriter());
  w->path_ = PathOf(name);
  w->name_ = std::move(name);
  w->added_in_ = added_in;
  w->writer_ = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), rocks_options_);
  rocksdb::Status s = w->writer_->Open(w->path_);
  if (!s.ok()) return FromRocks(s, Cat("creating ", w->path_));
  w->fs_ = storage_->fs.get();
  return w;
}

absl::StatusOr<std::unique_ptr<DataFileWriter>> DataFiles::NewWriter(int bucket,
                                                                     int64_t added_in) {
  ASSIGN_OR_RETURN(auto w, StartWriter(Cat(absl::StrFormat("%05d-", bucket), RandomId(), ".sst"),
                                       added_in));
  DataFileMeta m;
  m.name = w->name_;
  m.bucket = bucket;
  m.added_in = added_in;
  w->sections_.push_back(std::move(m));
  w->section_raw_.push_back(0);
  return w;
}

absl::StatusOr<std::unique_ptr<DataFileWriter>> DataFiles::NewMultiBucketWriter(int64_t added_in) {
  ASSIGN_OR_RETURN(auto w, StartWriter(Cat("multi-", RandomId(), ".sst"), added_in));
  w->multi_ = true;
  return w;
}

absl::StatusOr<std::shared_ptr<rocksdb::SstFileReader>> DataFiles::Reader(
    const DataFileMeta& file) {
  {
    absl::MutexLock lock(&mu_);
    auto it = readers_.find(file.name.str());
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
  auto [it, inserted] = readers_.try_emplace(file.name.str());
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
  const bool multi = IsMultiBucketFileName(file.name);
  // A section is usually a small part of its file, and the sections of one
  // file are usually read one after another (a compaction of its buckets):
  // each block is read, checked and decompressed once and then found in the
  // cache by the next section's scan, not again for every section it holds.
  // A file of one bucket is read once, past the cache.
  ro.fill_cache = multi;
  // RocksDB's own readahead, which grows while reading goes on, for a
  // section instead of a fixed 2 MiB.
  ro.readahead_size = multi ? 0 : 2 << 20;
  // The iterator keeps the reader alive through a cleanup hook.
  auto holder = new std::shared_ptr<rocksdb::SstFileReader>(*reader);
  std::unique_ptr<rocksdb::Iterator> it((*reader)->NewIterator(ro));
  it->RegisterCleanup(
      [](void* arg1, void*) { delete static_cast<std::shared_ptr<rocksdb::SstFileReader>*>(arg1); },
      holder, nullptr);
  if (multi) return std::make_unique<BucketSectionIterator>(std::move(it), file.bucket);
  return it;
}

absl::StatusOr<std::optional<std::string>> DataFiles::Get(const DataFileMeta& file,
                                                          std::string_view key) {
  if (file.key_range_known &&
      (key < std::string_view(file.min_key) || key > std::string_view(file.max_key))) {
    return std::nullopt;
  }
  // A section without its key range still has its partition's keys only.
  if (!file.partition.empty() && !key.starts_with(file.partition)) return std::nullopt;
  auto reader = Reader(file);
  if (!reader.ok()) return reader.status();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it((*reader)->NewIterator(ro));
  std::string prefixed;
  rocksdb::Slice k(key.data(), key.size());
  if (IsMultiBucketFileName(file.name)) {
    prefixed = Cat(BucketKeyPrefix(file.bucket), key);
    k = rocksdb::Slice(prefixed);
  }
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
