// Small-file I/O over rocksdb::FileSystem, so that every byte the table writes
// goes through one interface (tests swap in a file system that forgets unsynced
// writes). All functions are thread-safe as far as the file system is.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/status.h"

namespace deltasidecar {

// Maps a RocksDB status to the code a caller acts on: Corruption -> DATA_LOSS,
// NoSpace -> RESOURCE_EXHAUSTED, NotFound -> NOT_FOUND, other I/O -> INTERNAL.
// `context` names what was being done ("writing data/00003-ab12.sst").
absl::Status FromRocks(const rocksdb::Status& s, std::string_view context);

// The file system and a matching Env (RocksDB's SST reader/writer take an Env).
struct Storage {
  // Uses `fs`, or the default POSIX file system when null.
  static std::shared_ptr<Storage> Make(std::shared_ptr<rocksdb::FileSystem> fs);

  std::shared_ptr<rocksdb::FileSystem> fs;
  std::unique_ptr<rocksdb::Env> env;
};

// Writes `data` to a new file at `path` and syncs the file (not its directory).
// A partially written file is removed on failure.
absl::Status WriteFileSynced(rocksdb::FileSystem* fs, const std::string& path,
                             std::string_view data);
// Reads a whole file. FAILED_PRECONDITION when it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadWholeFile(rocksdb::FileSystem* fs, const std::string& path,
                                          uint64_t max_bytes);
// fsyncs a directory so that entries created, linked or renamed in it are durable.
absl::Status SyncDir(rocksdb::FileSystem* fs, const std::string& dir);
// Creates `dst` as a hard link to `src`; ALREADY_EXISTS when `dst` exists. This is
// the compare-and-swap that publishes snapshots: link(2) never replaces a name.
absl::Status LinkNoReplace(rocksdb::FileSystem* fs, const std::string& src,
                           const std::string& dst);
absl::StatusOr<std::vector<std::string>> ListDir(rocksdb::FileSystem* fs, const std::string& dir);
bool FileExists(rocksdb::FileSystem* fs, const std::string& path);
// Removes a file; a file that is already gone is not an error.
absl::Status RemoveFile(rocksdb::FileSystem* fs, const std::string& path);
// Creates `dir` when it is missing and syncs its parent so that it is durable.
absl::Status CreateDirDurably(rocksdb::FileSystem* fs, const std::string& dir);
// Replaces the file `dir`/`name` (or creates it) with `data` atomically: a
// temporary file `.tmp-<random>` in `dir` is written and synced, renamed over the name, and
// the directory synced. Readers see the old contents or the new, never a
// mix; on failure the temporary file is removed and the old file is intact.
absl::Status ReplaceFileDurably(rocksdb::FileSystem* fs, const std::string& dir,
                                std::string_view name, std::string_view data);

// True for 1-128 letters, digits, '_', '-' or '.', not starting with '.':
// a name that is safe as one path component on every file system.
bool IsPortableName(std::string_view name);

// 128 random bits as 32 lowercase hex digits, for names no other process picks.
std::string RandomId();

// Checksummed framing of small text files (table metadata, snapshots):
//   <body><footer line>
// where the footer line is "<magic> <crc32 of body, 8 lowercase hex> <body length>\n"
// and crc32 is zlib's CRC-32 (ISO-HDLC). The body normally ends with '\n'.
std::string FrameChecksummed(std::string_view magic, std::string_view body);
// Returns the body, or DATA_LOSS naming `what` when the footer, length or CRC is wrong.
absl::StatusOr<std::string_view> UnframeChecksummed(std::string_view magic,
                                                    std::string_view contents,
                                                    std::string_view what);

std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace deltasidecar
