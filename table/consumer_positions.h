// ConsumerPositions: named readers of a table and how far each has read, kept
// in the table directory that every sidecar and deltactl on the root share.
//
//   consumers/<name>    one small checksummed file per consumer
//
// A consumer's position is the snapshot its next changes read starts from
// (exclusive): it has read every change up to and including that snapshot,
// and the changes of the snapshots after it are what it reads next. Such a
// read needs the position's own snapshot on disk (Table::NewChanges), so
// snapshot expiry keeps every snapshot at or above the position of each
// live consumer, beyond the retention policy's own limits. A consumer whose
// file was not written for longer than RetentionOptions::consumer_max_age is
// stale and holds nothing: a reader that went away cannot keep history
// forever. See docs/table-format.md ("Consumers").
//
// Each file is replaced atomically (ReplaceFileDurably): a reader sees the
// old position or the new one. Two processes setting one consumer race; the
// last rename wins. One consumer name is meant for one reader at a time.
//
// Thread-safety: all methods may be called concurrently, also from several
// processes. Errors: INVALID_ARGUMENT for a bad name or position, NOT_FOUND
// for dropping an unknown consumer, DATA_LOSS for a damaged file (drop it),
// INTERNAL for other I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/file_system.h"

namespace deltasidecar::table {

struct ConsumerPosition {
  std::string name;
  int64_t position = 0;  // the snapshot the consumer's next changes read starts after
  int64_t time_ms = 0;   // when the position was last written (Unix ms)
};

// Largest consumer file read; a larger one is DATA_LOSS.
inline constexpr uint64_t kMaxConsumerFileBytes = 4096;

// The file's bytes: the JSON object {"consumer", "position", "time_ms"} and a
// newline, framed by FrameChecksummed with magic "DCONSUMER1".
std::string EncodeConsumerPosition(const ConsumerPosition& c);
// The inverse; DATA_LOSS naming `what` for bytes that are not such a file.
absl::StatusOr<ConsumerPosition> DecodeConsumerPosition(std::string_view contents,
                                                        std::string_view what);

// The oldest position among `consumers` written within `max_age` before
// `now`, or nullopt when none is (nothing is held).
std::optional<int64_t> OldestHeldSnapshot(const std::vector<ConsumerPosition>& consumers,
                                          absl::Duration max_age, absl::Time now);

// INVALID_ARGUMENT unless `name` is 1-128 letters, digits, '_', '-' or '.',
// not starting with '.'.
absl::Status ValidateConsumerName(std::string_view name);

class ConsumerPositions {
 public:
  // `table_dir` is the table's directory; positions live in its consumers/.
  ConsumerPositions(rocksdb::FileSystem* fs, std::string table_dir);

  // Writes `name`'s position (creating the consumer), stamped now, and
  // returns what was written. It may move backwards (a reader resuming from
  // an older snapshot). INVALID_ARGUMENT for a bad name or a negative position.
  absl::StatusOr<ConsumerPosition> Set(std::string_view name, int64_t position);
  // `name`'s position, nullopt when there is no such consumer.
  absl::StatusOr<std::optional<ConsumerPosition>> Get(std::string_view name);
  // Every consumer, by name.
  absl::StatusOr<std::vector<ConsumerPosition>> List();
  // Removes `name` (it then holds nothing). NOT_FOUND when there is none.
  // Works on a damaged file too.
  absl::Status Drop(std::string_view name);

 private:
  rocksdb::FileSystem* const fs_;
  const std::string dir_;  // <table>/consumers
};

}  // namespace deltasidecar::table
