// Data files: RocksDB block-based SST files (sorted, block-checksummed,
// LZ4-compressed, with a bloom filter over whole keys) holding the rows of one
// bucket, or of several (a multi-bucket file: each key is prefixed by its
// bucket as 4 big-endian bytes, so the file is sorted by bucket, then key; it
// is read one bucket's section at a time, with the prefix stripped). A
// commit of few rows per bucket writes one multi-bucket file instead of a
// file per bucket; compaction splits it into per-bucket files again.
// A DataFiles object is safe to use from many threads.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/compression_type.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/sst_file_writer.h"
#include "table/base/file_util.h"
#include "table/snapshot.h"

namespace deltasidecar::table {

struct DataFileOptions {
  rocksdb::CompressionType compression = rocksdb::kLZ4Compression;
  size_t block_size = 16 * 1024;
  int bloom_bits_per_key = 10;
  size_t block_cache_bytes = 64 << 20;  // shared by all readers of one table
  size_t max_open_readers = 512;        // open SST readers kept for reuse
};

// The bytes that prefix every key of `bucket` in a multi-bucket file.
std::string BucketKeyPrefix(int bucket);
inline constexpr size_t kBucketKeyPrefixBytes = 4;

// A batch whose non-empty buckets hold this many entries each on average
// writes a file per bucket; a smaller one writes its buckets into
// multi-bucket files.
inline constexpr size_t kOwnFileMinEntries = 8192;
// Entries per multi-bucket file before a batch's buckets are split over more
// files (written in parallel).
inline constexpr size_t kMultiFileEntries = 256 * 1024;

// The files a batch of `entries` entries in the buckets `nonempty`
// (ascending) is written as: each a run of buckets, one file per bucket when
// the group holds one, else a multi-bucket file; at most `threads` (0: one per
// core) groups of several buckets.
std::vector<std::vector<int>> GroupBucketsIntoFiles(const std::vector<int>& nonempty,
                                                    size_t entries, int threads);

// Builds one data file. Keys must be added in strictly increasing order; in a
// multi-bucket file, within each bucket, and the buckets in ascending order
// (StartBucket). A writer destroyed without Finish() removes its partial file.
class DataFileWriter {
 public:
  ~DataFileWriter();
  // Multi-bucket files only: the keys added next belong to `bucket`, which
  // must be above every bucket started before.
  absl::Status StartBucket(int bucket);
  absl::Status Add(std::string_view key, std::string_view value);
  // Writes the footer and syncs the file (not the directory). One entry per
  // bucket the file holds rows of, ascending; none when it holds no rows
  // (then the file is removed).
  absl::StatusOr<std::vector<DataFileMeta>> Finish();
  // All buckets.
  uint64_t entries() const { return entries_; }

 private:
  friend class DataFiles;
  DataFileWriter() = default;
  // Ends the section being written: drops it when it holds no entries, else
  // sets its max_key to `last_key`, the last key added to it.
  void EndSection(std::string_view last_key);
  // Multi-bucket files: the last key added, which Add leaves in prefixed_
  // after its bucket prefix (empty before the first).
  std::string_view LastKeyAdded() const;
  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  rocksdb::FileSystem* fs_ = nullptr;
  std::string path_;
  std::string name_;
  int64_t added_in_ = 0;
  bool multi_ = false;
  std::string prefix_;                  // of the bucket being written (multi-bucket)
  std::vector<DataFileMeta> sections_;  // one per bucket; the last is being written
  std::vector<uint64_t> section_raw_;   // key and value bytes of each section
  std::string prefixed_;                // the prefixed key last added (multi-bucket)
  uint64_t entries_ = 0;
  bool finished_ = false;
};

class DataFiles {
 public:
  DataFiles(std::shared_ptr<Storage> storage, std::string data_dir, DataFileOptions options);

  // Starts a new file for `bucket`, to be published by snapshot `added_in`.
  absl::StatusOr<std::unique_ptr<DataFileWriter>> NewWriter(int bucket, int64_t added_in);
  // Starts a new multi-bucket file (DataFileWriter::StartBucket).
  absl::StatusOr<std::unique_ptr<DataFileWriter>> NewMultiBucketWriter(int64_t added_in);

  // An iterator over all entries of a file in its bucket, for full scans (no
  // block caching, large readahead); for a multi-bucket file, over that
  // bucket's section, with keys as written (without the prefix). DATA_LOSS
  // when the file is missing, has the wrong size or its footer/index is
  // corrupt; a corrupt block surfaces in the iterator's status.
  absl::StatusOr<std::unique_ptr<rocksdb::Iterator>> NewScanIterator(const DataFileMeta& file);

  // Point lookup in one file: the value stored for `key`, or nullopt when the
  // file has no entry for it (a delete is an entry). Uses the key range and the
  // bloom filter before touching data blocks.
  absl::StatusOr<std::optional<std::string>> Get(const DataFileMeta& file, std::string_view key);

  // Reads the whole file and checks its XXH3-64 and every block checksum.
  absl::Status Verify(const DataFileMeta& file);
  // Checks the file's size and whole-file XXH3-64 against the snapshot's record.
  absl::Status CheckWholeFile(const DataFileMeta& file);

  std::string PathOf(const std::string& name) const { return JoinPath(data_dir_, name); }
  const std::string& dir() const { return data_dir_; }
  // Forgets cached readers of a removed file.
  void Evict(const std::string& name);

 private:
  absl::StatusOr<std::shared_ptr<rocksdb::SstFileReader>> Reader(const DataFileMeta& file);
  absl::StatusOr<std::unique_ptr<DataFileWriter>> StartWriter(std::string name, int64_t added_in);

  std::shared_ptr<Storage> storage_;
  std::string data_dir_;
  DataFileOptions options_;
  rocksdb::Options rocks_options_;

  absl::Mutex mu_;
  using LruList = std::list<std::string>;
  struct CachedReader {
    std::shared_ptr<rocksdb::SstFileReader> reader;
    LruList::iterator lru;
  };
  absl::flat_hash_map<std::string, CachedReader> readers_ ABSL_GUARDED_BY(mu_);
  LruList lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
};

// The first eight bytes of an encoded key, big-endian, zero padded: comparing
// these first orders keys correctly and avoids most full comparisons.
inline uint64_t KeyPrefix(std::string_view key) {
  uint64_t v = 0;
  size_t n = key.size() < 8 ? key.size() : 8;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(key[i])) << (56 - 8 * i);
  return v;
}

// Merges sorted children into one sorted stream of unique keys: for equal keys
// the child with the highest rank wins and the others are skipped. With
// `skip_deletes`, entries whose value is a delete are dropped from the output.
// Not thread-safe.
class MergingIterator {
 public:
  struct Child {
    std::unique_ptr<rocksdb::Iterator> iter;
    int64_t rank;  // higher is newer
  };
  MergingIterator(std::vector<Child> children, bool skip_deletes);
  void SeekToFirst();
  bool Valid() const { return current_ >= 0; }
  // Valid() must be true; the winner stays at the root of the heap.
  void Next();
  std::string_view key() const;
  std::string_view value() const;
  // The first error of any child; iteration stops at an error.
  absl::Status status() const { return status_; }

 private:
  void Settle();  // positions on the next key to emit
  bool Less(int a, int b) const;
  bool Load(int child);  // caches the child's key; false when it is exhausted
  void SiftDown(size_t i);
  void RemoveAt(size_t i);
  void AdvanceAt(size_t i);  // moves the child at heap position i to its next entry

  std::vector<Child> children_;
  std::vector<rocksdb::Slice> keys_;  // current key of each child, to avoid virtual calls
  std::vector<uint64_t> prefixes_;    // KeyPrefix() of keys_, compared first
  std::vector<int> heap_;  // min-heap of child indexes by (key asc, rank desc)
  bool skip_deletes_;
  int current_ = -1;
  absl::Status status_;
};

}  // namespace deltasidecar::table
