// Fuzz target for the decoders of partitions: ParsePartitionSpec (the
// partition specs a client passes to deltactl and to DropPartition) and
// PartitionOfKey / PartitionText (a key's partition prefix and its text).
// The input's first byte picks one of three partitioned schemas; the rest is
// read as a spec and, separately, as an encoded key.
// A spec is OK or INVALID_ARGUMENT; an accepted one prints as text that
// parses back to the same partition (when its values hold no separator), and
// is the partition of every key that starts with it. A key's partition is OK
// or DATA_LOSS; an accepted one is a prefix of the key and prints as text.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "table/partition.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace dt = deltasidecar::table;
using deltasidecar::fuzz::CheckInvalidArgument;
using deltasidecar::fuzz::Fail;

const dt::TableSchema& SchemaFor(uint8_t pick) {
  static const dt::TableSchema schemas[] = {
      *dt::TableSchema::Parse("dt DATE, id BIGINT, v STRING", "id", 4, "dt"),
      *dt::TableSchema::Parse("region STRING, day INT, ts TIMESTAMP, id BIGINT", "id", 8,
                              "region, day, ts"),
      *dt::TableSchema::Parse("b BOOLEAN, d DECIMAL(10,2), bin BINARY, t TINYINT, id STRING",
                              "id", 16, "b, d, bin, t"),
  };
  return schemas[pick % 3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const dt::TableSchema& schema = SchemaFor(data[0]);
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto spec = dt::ParsePartitionSpec(schema, input);
  CheckInvalidArgument(spec.status(), "ParsePartitionSpec");
  if (spec.ok()) {
    auto text = dt::PartitionText(schema, *spec);
    if (!text.ok()) Fail("PartitionText(ParsePartitionSpec())", "OK", text.status().ToString());
    const size_t separators = static_cast<size_t>(std::count(text->begin(), text->end(), '/') +
                                                  std::count(text->begin(), text->end(), ','));
    if (separators + 1 == static_cast<size_t>(schema.partition_key_count())) {
      auto again = dt::ParsePartitionSpec(schema, *text);
      if (!again.ok() || *again != *spec) Fail("spec round trip", *text, again.ok() ? "other bytes" : again.status().ToString());
    }
    const std::string key = *spec + "\x80\x00\x00\x00\x00\x00\x00\x01";
    auto of = dt::PartitionOfKey(schema, key);
    if (!of.ok() || *of != *spec) Fail("PartitionOfKey(spec + key)", "the spec", of.ok() ? "another prefix" : of.status().ToString());
    auto end = dt::PartitionEnd(*spec);
    if (end && !(key < *end)) Fail("PartitionEnd", "above the partition's keys", "not above");
  }

  auto partition = dt::PartitionOfKey(schema, input);
  if (!partition.ok() && partition.status().code() != absl::StatusCode::kDataLoss) {
    Fail("PartitionOfKey error code", "DATA_LOSS", partition.status().ToString());
  }
  if (partition.ok()) {
    if (input.substr(0, partition->size()) != *partition) Fail("PartitionOfKey", "a prefix", "other bytes");
    auto text = dt::PartitionText(schema, *partition);
    if (!text.ok() && text.status().code() != absl::StatusCode::kDataLoss) {
      Fail("PartitionText error code", "DATA_LOSS", text.status().ToString());
    }
  }
  return 0;
}
