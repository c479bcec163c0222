// Fuzz target for consumer position files (DecodeConsumerPosition) and
// consumer names, which FollowChangesRequest carries from the client
// (ValidateConsumerName). The input is decoded as it is, and also wrapped in
// a valid frame so that arbitrary JSON bodies reach the JSON decoding.
// Decoders may return any error but must not crash; a position that decodes
// must encode and decode again to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "table/base/file_util.h"
#include "table/consumer_positions.h"

namespace {

namespace dt = deltasidecar::table;

// The magic of docs/table-format.md §12.4.
constexpr std::string_view kConsumerMagic = "DCONSUMER1";

void Decode(std::string_view contents) {
  absl::StatusOr<dt::ConsumerPosition> c = dt::DecodeConsumerPosition(contents, "fuzz");
  if (!c.ok()) return;
  const std::string encoded = dt::EncodeConsumerPosition(*c);
  absl::StatusOr<dt::ConsumerPosition> again = dt::DecodeConsumerPosition(encoded, "re-encoded");
  if (!again.ok() || dt::EncodeConsumerPosition(*again) != encoded) {
    std::fprintf(stderr, "consumer position round trip fails: %s\n%s",
                 again.status().ToString().c_str(), encoded.c_str());
    std::abort();
  }
  // A decoded name is one a Set would accept.
  if (!dt::ValidateConsumerName(c->name).ok()) {
    std::fprintf(stderr, "decoded an invalid consumer name '%s'\n", c->name.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)dt::ValidateConsumerName(input);
  Decode(input);
  Decode(deltasidecar::FrameChecksummed(kConsumerMagic, input));
  return 0;
}
