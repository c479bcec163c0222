// A data file entry for tests of bucket lists and manifests
// (bucket_files_test.cc, manifest_test.cc).
#pragma once

#include "absl/strings/str_format.h"
#include "table/data_file_meta.h"

namespace deltasidecar::table::data_file_testing {

// File n of one bucket: "<bucket>-<n as 32 hex digits>.sst", added by
// snapshot n, with made-up counts, keys and checksum.
inline DataFileMeta File(int bucket, int n) {
  DataFileMeta f;
  f.name = absl::StrFormat("%05d-%032x.sst", bucket, n);
  f.bucket = bucket;
  f.added_in = n;
  f.size_bytes = 100 + n;
  f.entries = 3;
  f.min_key = "a";
  f.max_key = "z";
  f.xxh3 = "00112233445566ff";
  return f;
}

}  // namespace deltasidecar::table::data_file_testing
