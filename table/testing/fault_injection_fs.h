// A rocksdb::FileSystem that lets a test simulate power loss: it forwards
// every call to a real file system, remembers which writes were made durable,
// and on request undoes every write that was not (after LevelDB's
// fault_injection_test and RocksDB's FaultInjectionTestFS).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace deltasidecar::table::testing {

class TrackedWritableFile;
class TrackedDirectory;

// Durability model: a POSIX file system with ordered metadata off.
//  - A file's bytes are durable up to its size at the last Sync, Fsync, or
//    RangeSync that reaches the durable prefix. The state follows the inode: a
//    name added by LinkFile shares the original's durable size.
//  - A directory entry (a file created by NewWritableFile/ReopenWritableFile, a
//    name added by LinkFile or RenameFile, a directory made by CreateDir*) is
//    durable only after FSDirectory::Fsync or FsyncWithDirOptions on its parent,
//    obtained through this wrapper's NewDirectory. A rename is undone name by
//    name: the new name reverts to what it held at the last fsync of its parent
//    (nothing, or the file it replaced); the old name comes back with the
//    contents it durably held unless its own parent was fsynced since.
//    The bytes a renamed-away or replaced name durably held are copied into
//    memory at the rename. NewWritableFile on an existing file empties it, and
//    that truncation counts as durable.
//  - DeleteFile and DeleteDir are immediately durable (a simplification; a
//    rename's removal of the old name is not, so the old name still comes back
//    if the new one is deleted before the fsync). Renaming a directory is also
//    treated as immediately durable; tracked names under it are not moved.
// Files and names that existed before they were first touched through this
// wrapper are fully durable. Files opened only for reading, NewLogger and
// LockFile pass straight through. NewRandomRWFile, ReuseWritableFile and
// NewMemoryMappedFileBuffer return NotSupported: their writes could not be
// tracked. Paths are compared after making them absolute and lexically normal;
// symlinks are not resolved.
//
// Thread-safe. Every tracked operation holds one mutex across its call into the
// base file system, so tracked I/O is serialized; fine for tests.
//
// This object must outlive every file and directory handle it returned.
class FaultInjectionFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // `base` is normally rocksdb::FileSystem::Default().
  explicit FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base);
  ~FaultInjectionFileSystem() override;

  static const char* kClassName() { return "FaultInjectionFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // Mutating operations are: Append/PositionedAppend, Truncate, Sync, Fsync,
  // RangeSync and Close of a writable file; NewWritableFile, ReopenWritableFile,
  // CreateDir, CreateDirIfMissing, RenameFile, LinkFile, DeleteFile, DeleteDir,
  // FileSystem::Truncate; directory Fsync/FsyncWithDirOptions.
  //
  // The next `n` mutating operations proceed normally; every one after them
  // returns IOError("injected fault") without touching the base file system, as
  // if the process died there. FailAfter(0) fails the very next one; n < 0
  // disables. Reads are never failed.
  void FailAfter(int64_t n);
  // Mutating operations seen since construction, failed ones included. Never
  // reset, so a test can run a workload once, count, and pick a crash point.
  int64_t mutating_ops() const;

  // Simulates power loss now, on the real disk: truncates every tracked file to
  // its durable size; removes names (files, links, directories recursively)
  // whose entry was never made durable; restores names changed since their
  // parent's last fsync to their durable contents. Writable files still open
  // are closed in the base file system first, and every later call on them
  // returns IOError. Then forgets all tracking and disables FailAfter, so the
  // directory can be reopened, normally through FileSystem::Default().
  // Returns the first error met; it still tries every step.
  rocksdb::IOStatus DropUnsyncedData();

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewMemoryMappedFileBuffer(
      const std::string& fname, std::unique_ptr<rocksdb::MemoryMappedFileBuffer>* result) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& opts,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& opts,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname, const rocksdb::IOOptions& opts,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& opts,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& dst,
                             const rocksdb::IOOptions& opts, rocksdb::IODebugContext* dbg) override;

 private:
  friend class TrackedWritableFile;
  friend class TrackedDirectory;

  // Per inode: bytes written through this wrapper, and the durable prefix.
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
  };

  // Counts one mutating operation; IOError once the FailAfter budget is spent.
  rocksdb::IOStatus BeginMutation() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Before a name's directory entry changes, remembers what it durably holds:
  // nothing, or the durable bytes of the file there. Keeps an earlier record.
  rocksdb::IOStatus RememberDurableEntry(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shared body of CreateDir and CreateDirIfMissing.
  rocksdb::IOStatus CreateDirTracked(const std::string& dirname, bool if_missing,
                                     const rocksdb::IOOptions& opts, rocksdb::IODebugContext* dbg);
  // Shared body of NewWritableFile and ReopenWritableFile.
  rocksdb::IOStatus OpenWritable(const std::string& fname, bool reopen,
                                 const rocksdb::FileOptions& opts,
                                 std::unique_ptr<rocksdb::FSWritableFile>* result,
                                 rocksdb::IODebugContext* dbg);
  rocksdb::IOStatus RemoveRecursively(const std::string& name);

  mutable absl::Mutex mu_;
  int64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t fail_at_ ABSL_GUARDED_BY(mu_) = -1;  // fail ops numbered above this; -1: never
  // Tracked names -> their inode's state; LinkFile'd names share one.
  std::map<std::string, std::shared_ptr<FileState>> files_ ABSL_GUARDED_BY(mu_);
  // Names changed since their parent's last fsync -> the durable contents they
  // revert to (nullopt: the name did not durably exist).
  std::map<std::string, std::optional<std::string>> durable_entries_ ABSL_GUARDED_BY(mu_);
  std::set<TrackedWritableFile*> open_files_ ABSL_GUARDED_BY(mu_);
};

// An Env whose file system is `fs` (and the default Env's clock and threads),
// for rocksdb::Options::env of SstFileWriter / SstFileReader. Keeps `fs` alive.
std::unique_ptr<rocksdb::Env> MakeEnv(std::shared_ptr<FaultInjectionFileSystem> fs);

}  // namespace deltasidecar::table::testing
