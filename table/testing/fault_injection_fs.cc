#include "table/testing/fault_injection_fs.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace deltasidecar::table::testing {

using rocksdb::IOOptions;
using rocksdb::IOStatus;

namespace {

// One spelling per name in the tracking maps: absolute, lexically normal, no
// trailing slash.
std::string Normalize(const std::string& name) {
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(name, ec);
  if (ec) path = name;
  std::string normal = path.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

std::string Parent(const std::string& normalized) {
  return std::filesystem::path(normalized).parent_path().string();
}

bool IsAtOrUnder(const std::string& name, const std::string& dir) {
  if (dir == "/") return true;
  return name.compare(0, dir.size(), dir) == 0 &&
         (name.size() == dir.size() || name[dir.size()] == '/');
}

// Through a reopened writable file, because PosixFileSystem leaves
// FileSystem::Truncate unimplemented.
IOStatus TruncateFile(rocksdb::FileSystem* fs, const std::string& name, uint64_t size) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = fs->ReopenWritableFile(name, rocksdb::FileOptions(), &file, nullptr);
  if (!s.ok()) return s;
  s = file->Truncate(size, IOOptions(), nullptr);
  IOStatus closed = file->Close(IOOptions(), nullptr);
  return s.ok() ? closed : s;
}

}  // namespace

// Counts appended and synced bytes into the inode's FileState. All state is
// guarded by the owning file system's mutex.
class TrackedWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  using FileState = FaultInjectionFileSystem::FileState;

  TrackedWritableFile(FaultInjectionFileSystem* fs, std::shared_ptr<FileState> state,
                      std::unique_ptr<rocksdb::FSWritableFile> base)
      : FSWritableFileOwnerWrapper(std::move(base)), fs_(fs), state_(std::move(state)) {}

  // Closes the base file if the caller never did, under the lock, so that its
  // Close (which may ftruncate to the written size) cannot land after
  // DropUnsyncedData truncated the file. Not counted as a mutating operation.
  ~TrackedWritableFile() override {
    absl::MutexLock lock(&fs_->mu_);
    if (fs_->open_files_.erase(this) > 0) {
      target()->Close(IOOptions(), nullptr).PermitUncheckedError();
    }
  }

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& opts,
                  rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::Append(data, opts, dbg); },
                  [&](FileState& f) { f.size += data.size(); });
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& opts,
                  const rocksdb::DataVerificationInfo& info,
                  rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::Append(data, opts, info, dbg); },
                  [&](FileState& f) { f.size += data.size(); });
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& opts,
                            rocksdb::IODebugContext* dbg) override {
    return Mutate(
        [&] { return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, opts, dbg); },
        [&](FileState& f) { f.size = std::max(f.size, offset + data.size()); });
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& opts,
                            const rocksdb::DataVerificationInfo& info,
                            rocksdb::IODebugContext* dbg) override {
    return Mutate(
        [&] { return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, opts, info, dbg); },
        [&](FileState& f) { f.size = std::max(f.size, offset + data.size()); });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& opts, rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::Truncate(size, opts, dbg); },
                  [&](FileState& f) {
                    f.size = size;
                    f.synced = std::min(f.synced, size);
                  });
  }
  IOStatus Sync(const IOOptions& opts, rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::Sync(opts, dbg); },
                  [](FileState& f) { f.synced = f.size; });
  }
  IOStatus Fsync(const IOOptions& opts, rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::Fsync(opts, dbg); },
                  [](FileState& f) { f.synced = f.size; });
  }
  // Extends the durable prefix only when the range touches it.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& opts,
                     rocksdb::IODebugContext* dbg) override {
    return Mutate([&] { return FSWritableFileOwnerWrapper::RangeSync(offset, nbytes, opts, dbg); },
                  [&](FileState& f) {
                    if (offset <= f.synced) {
                      f.synced = std::max(f.synced, std::min(f.size, offset + nbytes));
                    }
                  });
  }
  IOStatus Close(const IOOptions& opts, rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&fs_->mu_);
    IOStatus s = BeginMutation();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Close(opts, dbg);
    if (s.ok()) fs_->open_files_.erase(this);
    return s;
  }

 private:
  friend class FaultInjectionFileSystem;

  IOStatus BeginMutation() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fs_->mu_) {
    if (invalidated_) return IOStatus::IOError("file invalidated by DropUnsyncedData");
    return fs_->BeginMutation();
  }

  // For DropUnsyncedData, which holds the file system's mutex.
  IOStatus Invalidate() {
    fs_->mu_.AssertHeld();
    invalidated_ = true;
    return target()->Close(IOOptions(), nullptr);
  }

  template <typename Op, typename OnSuccess>
  IOStatus Mutate(Op op, OnSuccess on_success) {
    absl::MutexLock lock(&fs_->mu_);
    IOStatus s = BeginMutation();
    if (s.ok()) s = op();
    if (s.ok()) on_success(*state_);
    return s;
  }

  FaultInjectionFileSystem* const fs_;
  const std::shared_ptr<FileState> state_;
  bool invalidated_ ABSL_GUARDED_BY(fs_->mu_) = false;  // base closed by DropUnsyncedData
};

// Makes the entries of one directory durable on Fsync.
class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(FaultInjectionFileSystem* fs, std::string name,
                   std::unique_ptr<rocksdb::FSDirectory> base)
      : FSDirectoryWrapper(std::move(base)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& opts, rocksdb::IODebugContext* dbg) override {
    return SyncEntries([&] { return FSDirectoryWrapper::Fsync(opts, dbg); });
  }
  IOStatus FsyncWithDirOptions(const IOOptions& opts, rocksdb::IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_opts) override {
    return SyncEntries(
        [&] { return FSDirectoryWrapper::FsyncWithDirOptions(opts, dbg, dir_opts); });
  }

 private:
  template <typename Op>
  IOStatus SyncEntries(Op op) {
    absl::MutexLock lock(&fs_->mu_);
    IOStatus s = fs_->BeginMutation();
    if (s.ok()) s = op();
    if (s.ok()) {
      std::erase_if(fs_->durable_entries_,
                    [&](const auto& entry) { return Parent(entry.first) == name_; });
    }
    return s;
  }

  FaultInjectionFileSystem* const fs_;
  const std::string name_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(base) {}

FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

void FaultInjectionFileSystem::FailAfter(int64_t n) {
  absl::MutexLock lock(&mu_);
  fail_at_ = n < 0 ? -1 : ops_ + n;
}

int64_t FaultInjectionFileSystem::mutating_ops() const {
  absl::MutexLock lock(&mu_);
  return ops_;
}

IOStatus FaultInjectionFileSystem::BeginMutation() {
  ++ops_;
  if (fail_at_ >= 0 && ops_ > fail_at_) return IOStatus::IOError("injected fault");
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::RememberDurableEntry(const std::string& name) {
  if (durable_entries_.contains(name)) return IOStatus::OK();
  const IOOptions io;
  IOStatus s = target()->FileExists(name, io, nullptr);
  if (s.IsNotFound()) {
    durable_entries_[name] = std::nullopt;
    return IOStatus::OK();
  }
  if (!s.ok()) return s;
  bool is_dir = false;
  s = target()->IsDirectory(name, io, &is_dir, nullptr);
  if (!s.ok() || is_dir) return s;  // directory renames count as immediately durable
  std::string contents;
  s = rocksdb::ReadFileToString(target(), name, &contents);
  if (!s.ok()) return s;
  if (auto it = files_.find(name); it != files_.end()) {
    contents.resize(std::min<uint64_t>(contents.size(), it->second->synced));
  }
  durable_entries_[name] = std::move(contents);
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::OpenWritable(const std::string& fname, bool reopen,
                                                const rocksdb::FileOptions& opts,
                                                std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (!s.ok()) return s;
  const bool existed = target()->FileExists(name, IOOptions(), nullptr).ok();
  if (!existed && !(s = RememberDurableEntry(name)).ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> base;
  s = reopen ? target()->ReopenWritableFile(fname, opts, &base, dbg)
             : target()->NewWritableFile(fname, opts, &base, dbg);
  if (!s.ok()) return s;

  std::shared_ptr<FileState> state;
  if (auto it = files_.find(name); it != files_.end()) {
    state = it->second;
    // O_TRUNC empties the inode every link shares; the truncation itself is
    // treated as durable.
    if (!reopen) state->size = state->synced = 0;
  } else {
    state = std::make_shared<FileState>();
    // A file that predates tracking is durable as it stands.
    if (reopen && existed) {
      s = target()->GetFileSize(name, IOOptions(), &state->size, nullptr);
      if (!s.ok()) return s;
      state->synced = state->size;
    }
    files_[name] = state;
  }
  auto file = std::make_unique<TrackedWritableFile>(this, std::move(state), std::move(base));
  open_files_.insert(file.get());
  *result = std::move(file);
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::NewWritableFile(const std::string& fname,
                                                   const rocksdb::FileOptions& opts,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                   rocksdb::IODebugContext* dbg) {
  return OpenWritable(fname, /*reopen=*/false, opts, result, dbg);
}

IOStatus FaultInjectionFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  return OpenWritable(fname, /*reopen=*/true, opts, result, dbg);
}

IOStatus FaultInjectionFileSystem::ReuseWritableFile(const std::string&, const std::string&,
                                                     const rocksdb::FileOptions&,
                                                     std::unique_ptr<rocksdb::FSWritableFile>*,
                                                     rocksdb::IODebugContext*) {
  return IOStatus::NotSupported("FaultInjectionFileSystem does not track ReuseWritableFile");
}

IOStatus FaultInjectionFileSystem::NewRandomRWFile(const std::string&, const rocksdb::FileOptions&,
                                                   std::unique_ptr<rocksdb::FSRandomRWFile>*,
                                                   rocksdb::IODebugContext*) {
  return IOStatus::NotSupported("FaultInjectionFileSystem does not track random-access writes");
}

IOStatus FaultInjectionFileSystem::NewMemoryMappedFileBuffer(
    const std::string&, std::unique_ptr<rocksdb::MemoryMappedFileBuffer>*) {
  return IOStatus::NotSupported("FaultInjectionFileSystem does not track mapped writes");
}

IOStatus FaultInjectionFileSystem::NewDirectory(const std::string& name, const IOOptions& opts,
                                                std::unique_ptr<rocksdb::FSDirectory>* result,
                                                rocksdb::IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> base;
  IOStatus s = target()->NewDirectory(name, opts, &base, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<TrackedDirectory>(this, Normalize(name), std::move(base));
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::DeleteFile(const std::string& fname, const IOOptions& opts,
                                              rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (s.ok()) s = target()->DeleteFile(fname, opts, dbg);
  if (s.ok()) {
    files_.erase(name);
    durable_entries_.erase(name);
  }
  return s;
}

IOStatus FaultInjectionFileSystem::Truncate(const std::string& fname, size_t size,
                                            const IOOptions& opts, rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (s.ok()) s = target()->Truncate(fname, size, opts, dbg);
  if (auto it = files_.find(name); s.ok() && it != files_.end()) {
    it->second->size = size;
    it->second->synced = std::min<uint64_t>(it->second->synced, size);
  }
  return s;
}

IOStatus FaultInjectionFileSystem::CreateDirTracked(const std::string& dirname, bool if_missing,
                                                    const IOOptions& opts,
                                                    rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(dirname);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (!s.ok()) return s;
  if (target()->FileExists(name, opts, nullptr).IsNotFound() &&
      !(s = RememberDurableEntry(name)).ok()) {
    return s;
  }
  return if_missing ? target()->CreateDirIfMissing(dirname, opts, dbg)
                    : target()->CreateDir(dirname, opts, dbg);
}

IOStatus FaultInjectionFileSystem::CreateDir(const std::string& dirname, const IOOptions& opts,
                                             rocksdb::IODebugContext* dbg) {
  return CreateDirTracked(dirname, /*if_missing=*/false, opts, dbg);
}

IOStatus FaultInjectionFileSystem::CreateDirIfMissing(const std::string& dirname,
                                                      const IOOptions& opts,
                                                      rocksdb::IODebugContext* dbg) {
  return CreateDirTracked(dirname, /*if_missing=*/true, opts, dbg);
}

IOStatus FaultInjectionFileSystem::DeleteDir(const std::string& dirname, const IOOptions& opts,
                                             rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(dirname);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (s.ok()) s = target()->DeleteDir(dirname, opts, dbg);
  if (s.ok()) {
    std::erase_if(files_, [&](const auto& e) { return IsAtOrUnder(e.first, name); });
    std::erase_if(durable_entries_, [&](const auto& e) { return IsAtOrUnder(e.first, name); });
  }
  return s;
}

IOStatus FaultInjectionFileSystem::RenameFile(const std::string& src, const std::string& dst,
                                              const IOOptions& opts, rocksdb::IODebugContext* dbg) {
  const std::string from = Normalize(src);
  const std::string to = Normalize(dst);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (!s.ok()) return s;
  bool is_dir = false;
  target()->IsDirectory(from, opts, &is_dir, nullptr).PermitUncheckedError();
  if (!is_dir) {
    if (!(s = RememberDurableEntry(from)).ok() || !(s = RememberDurableEntry(to)).ok()) return s;
  }
  s = target()->RenameFile(src, dst, opts, dbg);
  if (!s.ok() || is_dir) return s;
  auto moved = files_.extract(from);
  files_.erase(to);
  if (moved) {
    moved.key() = to;
    files_.insert(std::move(moved));
  }
  return s;
}

IOStatus FaultInjectionFileSystem::LinkFile(const std::string& src, const std::string& dst,
                                            const IOOptions& opts, rocksdb::IODebugContext* dbg) {
  const std::string from = Normalize(src);
  const std::string to = Normalize(dst);
  absl::MutexLock lock(&mu_);
  IOStatus s = BeginMutation();
  if (s.ok()) s = RememberDurableEntry(to);
  if (s.ok()) s = target()->LinkFile(src, dst, opts, dbg);
  if (auto it = files_.find(from); s.ok() && it != files_.end()) files_[to] = it->second;
  return s;
}

IOStatus FaultInjectionFileSystem::RemoveRecursively(const std::string& name) {
  const IOOptions io;
  IOStatus s = target()->FileExists(name, io, nullptr);
  if (s.IsNotFound()) return IOStatus::OK();
  bool is_dir = false;
  if (s.ok()) s = target()->IsDirectory(name, io, &is_dir, nullptr);
  if (!s.ok()) return s;
  if (!is_dir) return target()->DeleteFile(name, io, nullptr);
  std::vector<std::string> children;
  s = target()->GetChildren(name, io, &children, nullptr);
  for (const std::string& child : children) {
    if (!s.ok()) return s;
    if (child != "." && child != "..") s = RemoveRecursively(name + "/" + child);
  }
  return s.ok() ? target()->DeleteDir(name, io, nullptr) : s;
}

IOStatus FaultInjectionFileSystem::DropUnsyncedData() {
  absl::MutexLock lock(&mu_);
  const IOOptions io;
  IOStatus first_error;
  auto note = [&](IOStatus s) {
    if (first_error.ok() && !s.ok()) first_error = std::move(s);
  };

  for (TrackedWritableFile* file : open_files_) {
    note(file->Invalidate());
  }
  open_files_.clear();

  for (const auto& [name, state] : files_) {
    uint64_t size = 0;
    // A failure means the name went away with a renamed directory.
    if (!target()->GetFileSize(name, io, &size, nullptr).ok()) continue;
    if (size > state->synced) note(TruncateFile(target(), name, state->synced));
  }

  for (const auto& [name, contents] : durable_entries_) {
    note(RemoveRecursively(name));
    // The parent is gone only if it was itself never durable.
    if (contents && target()->FileExists(Parent(name), io, nullptr).ok()) {
      note(rocksdb::WriteStringToFile(target(), *contents, name, /*should_sync=*/true));
    }
  }

  files_.clear();
  durable_entries_.clear();
  fail_at_ = -1;
  return first_error;
}

std::unique_ptr<rocksdb::Env> MakeEnv(std::shared_ptr<FaultInjectionFileSystem> fs) {
  return rocksdb::NewCompositeEnv(std::move(fs));
}

}  // namespace deltasidecar::table::testing
