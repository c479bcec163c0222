// Fuzz target for the checksummed framing (UnframeChecksummed) and snapshot
// files (DecodeSnapshot). The input is decoded as it is, which mostly
// exercises the footer checks, and also wrapped in a valid frame
// (FrameChecksummed) so that arbitrary JSON bodies reach the JSON decoding.
// Decoders may return any error but must not crash; a snapshot that decodes
// must encode and decode again to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "table/base/file_util.h"
#include "table/snapshot.h"

namespace {

namespace dt = deltasidecar::table;

// The magics of docs/table-format.md: snapshot files and table.json.
constexpr std::string_view kSnapshotMagic = "DSNAP1";
constexpr std::string_view kTableMagic = "DTABLE1";

void CheckRoundTrip(const dt::Snapshot& snapshot) {
  const std::string encoded = dt::EncodeSnapshot(snapshot);
  absl::StatusOr<dt::Snapshot> again = dt::DecodeSnapshot(encoded, "re-encoded", 0);
  if (!again.ok()) {
    std::fprintf(stderr, "DecodeSnapshot rejects EncodeSnapshot output: %s\n%s",
                 again.status().ToString().c_str(), encoded.c_str());
    std::abort();
  }
  if (std::string e = dt::EncodeSnapshot(*again); e != encoded) {
    std::fprintf(stderr, "snapshot round trip differs:\n%s%s", encoded.c_str(), e.c_str());
    std::abort();
  }
}

void Decode(std::string_view contents) {
  (void)deltasidecar::UnframeChecksummed(kSnapshotMagic, contents, "fuzz");
  (void)deltasidecar::UnframeChecksummed(kTableMagic, contents, "fuzz");
  // Any bucket count (0: unchecked) and one that rarely matches.
  for (int buckets : {0, 16}) {
    absl::StatusOr<dt::Snapshot> s = dt::DecodeSnapshot(contents, "fuzz", buckets);
    if (s.ok()) CheckRoundTrip(*s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Decode(input);
  Decode(deltasidecar::FrameChecksummed(kSnapshotMagic, input));
  return 0;
}
