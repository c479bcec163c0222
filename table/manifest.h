// Manifests: what one snapshot changed in the table's file lists
// (docs/table-format.md §5). A snapshot names an ordered list of manifests;
// applying them in order to empty buckets gives its live files. A commit
// writes one manifest holding only the files it added and removed, so the
// metadata a commit writes does not grow with the table; every
// kMaxManifests commits the list is folded into one base manifest.
//
// Manifest files are immutable, named once (a random id), and written
// directly under their final name: a snapshot that names one is published
// only after the manifest is durable, and a manifest no snapshot names is an
// orphan. Nothing needs a rename, so the layout also suits object stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "table/snapshot.h"

namespace deltasidecar::table {

// A snapshot's list holds at most this many manifests; a commit whose parent
// holds as many writes a base manifest of all live files instead.
inline constexpr size_t kMaxManifests = 32;

// A file a manifest adds to a bucket: before the live file named `before`
// (the file that followed the run it replaces, for a compaction); before
// every file of the bucket when `first`; or after the bucket's last file
// when neither is set. Both are set when they say the same (DiffBuckets: a
// compaction output whose run started the bucket), so that the sections of
// a shared output can be written as one entry placed first even where
// different newer files follow them.
struct ManifestAdd {
  DataFileMeta file;
  std::optional<std::string> before;
  bool first = false;

  bool Appended() const { return !before && !first; }
};

struct ManifestRemove {
  int bucket = 0;
  SharedString name;
};

struct Manifest {
  std::vector<ManifestRemove> removed;  // applied first
  std::vector<ManifestAdd> added;       // then these, in order
};

// "<32 lowercase hex>.manifest", in the table's manifests/ directory.
std::string NewManifestFileName();
bool IsManifestFileName(std::string_view name);

// Framed JSON (magic DMANI1). Decode checks the checksum (DATA_LOSS), the
// file names and that every bucket is below `buckets`.
std::string EncodeManifest(const Manifest& manifest);
absl::StatusOr<Manifest> DecodeManifest(std::string_view contents, std::string_view what,
                                        int buckets);

// Applies `manifest` to `buckets`, copying only the buckets it changes.
// DATA_LOSS naming `what` when a removed file or a `before` file is not live
// in its bucket.
absl::Status ApplyManifest(const Manifest& manifest, std::string_view what, BucketFiles* buckets);

// The manifest that turns `from` into `to`, or nullopt when `to` is not
// `from` with files removed and others inserted (the surviving files in
// their old order); then only a base manifest describes `to`. Buckets that
// `to` shares with `from` (BucketFiles::SharesBucket) are not looked at, so
// for a `to` copied from `from` the cost follows the buckets it changed.
std::optional<Manifest> DiffBuckets(const BucketFiles& from, const BucketFiles& to);

// The base manifest: every file of `buckets`, in order.
Manifest BaseManifest(const BucketFiles& buckets);

}  // namespace deltasidecar::table
