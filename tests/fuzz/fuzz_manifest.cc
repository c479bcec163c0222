// Fuzz target for manifest files (DecodeManifest) and for applying a decoded
// manifest to bucket lists (ApplyManifest). The input is decoded as it is,
// and also wrapped in a valid frame so that arbitrary JSON bodies reach the
// JSON decoding. Decoders may return any error but must not crash; a manifest
// that decodes must encode and decode again to the same bytes, and applying
// it to empty buckets either fails or leaves every added file in the bucket
// it names.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "table/base/file_util.h"
#include "table/manifest.h"

namespace {

namespace dt = deltasidecar::table;

// The magic of docs/table-format.md §5.4.
constexpr std::string_view kManifestMagic = "DMANI1";
constexpr int kBuckets = 8;

void Decode(std::string_view contents) {
  absl::StatusOr<dt::Manifest> m = dt::DecodeManifest(contents, "fuzz", kBuckets);
  if (!m.ok()) return;
  const std::string encoded = dt::EncodeManifest(*m);
  absl::StatusOr<dt::Manifest> again = dt::DecodeManifest(encoded, "re-encoded", kBuckets);
  if (!again.ok() || dt::EncodeManifest(*again) != encoded) {
    std::fprintf(stderr, "manifest round trip fails: %s\n%s", again.status().ToString().c_str(),
                 encoded.c_str());
    std::abort();
  }
  dt::BucketFiles buckets(kBuckets);
  if (!dt::ApplyManifest(*m, "fuzz", &buckets).ok()) return;
  for (int b = 0; b < kBuckets; ++b) {
    for (const auto& f : buckets[b]) {
      if (f.bucket != b || !dt::IsDataFileName(f.name, b)) {
        std::fprintf(stderr, "'%s' landed in bucket %d\n", f.name.c_str(), b);
        std::abort();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Decode(input);
  Decode(deltasidecar::FrameChecksummed(kManifestMagic, input));
  return 0;
}
