// A data file as a snapshot lists it in one bucket.
#pragma once

#include <cstdint>
#include <string>

#include "table/base/shared_string.h"

namespace deltasidecar::table {

// One immutable data file in one bucket: a RocksDB SST holding rows sorted by
// key. A multi-bucket file (IsMultiBucketFileName) holds the rows of several
// buckets, each key prefixed by its bucket (data_file.h); it is live in each
// of those buckets as one entry, whose counts and keys are that bucket's
// section only, while size_bytes and xxh3 are the whole file's.
struct DataFileMeta {
  SharedString name;        // file name inside the table's data/ directory
  int bucket = 0;
  int64_t added_in = 0;     // id of the snapshot that added this file
  uint64_t size_bytes = 0;  // the whole file
  uint64_t entries = 0;     // upserts + deletes (of this bucket)
  uint64_t deletes = 0;
  std::string min_key;      // encoded keys (row.h), of this bucket, without prefix
  std::string max_key;
  SharedString xxh3;        // whole-file XXH3-64 (seed 0), 16 lowercase hex digits
  // A multi-bucket file: this bucket's share of size_bytes (its entries'
  // share of the bytes written). 0 for a file of one bucket.
  uint64_t section_bytes = 0;
  // False when the section's keys are not known (a manifest records a
  // multi-bucket file's buckets, not each section's keys): min_key and
  // max_key are empty then and prune nothing.
  bool key_range_known = true;
  // A partitioned table (partition.h): the encoded partition every key of
  // this file (section) starts with. Empty when the table is not partitioned.
  std::string partition;

  // The bytes this file holds for its bucket.
  uint64_t BucketBytes() const { return section_bytes != 0 ? section_bytes : size_bytes; }
};

}  // namespace deltasidecar::table
