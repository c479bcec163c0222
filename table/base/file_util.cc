#include "table/base/file_util.h"

#include <zlib.h>

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"

namespace deltasidecar {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = Cat(context, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsNotFound() || s.IsPathNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsIOError() && s.ToString().find("No space left") != std::string::npos) {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::InternalError(msg);
}

std::shared_ptr<Storage> Storage::Make(std::shared_ptr<rocksdb::FileSystem> fs) {
  auto storage = std::make_shared<Storage>();
  storage->fs = fs ? std::move(fs) : rocksdb::FileSystem::Default();
  storage->env = rocksdb::NewCompositeEnv(storage->fs);
  return storage;
}

absl::Status WriteFileSynced(rocksdb::FileSystem* fs, const std::string& path,
                             std::string_view data) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOOptions io;
  rocksdb::IOStatus s = fs->NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (!s.ok()) return FromRocks(s, Cat("creating ", path));
  s = file->Append(rocksdb::Slice(data.data(), data.size()), io, nullptr);
  if (s.ok()) s = file->Sync(io, nullptr);
  rocksdb::IOStatus close = file->Close(io, nullptr);
  if (s.ok()) s = close;
  if (!s.ok()) {
    fs->DeleteFile(path, io, nullptr).PermitUncheckedError();
    return FromRocks(s, Cat("writing ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(rocksdb::FileSystem* fs, const std::string& path,
                                          uint64_t max_bytes) {
  rocksdb::IOOptions io;
  uint64_t size = 0;
  rocksdb::IOStatus s = fs->GetFileSize(path, io, &size, nullptr);
  if (!s.ok()) return FromRocks(s, Cat("reading ", path));
  if (size > max_bytes) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is %d bytes, over the limit of %d", path, size, max_bytes));
  }
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  s = fs->NewSequentialFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (!s.ok()) return FromRocks(s, Cat("opening ", path));
  std::string out(size, '\0');
  size_t got = 0;
  while (got < size) {
    rocksdb::Slice chunk;
    s = file->Read(size - got, io, &chunk, out.data() + got, nullptr);
    if (!s.ok()) return FromRocks(s, Cat("reading ", path));
    if (chunk.size() == 0) break;
    if (chunk.data() != out.data() + got) memcpy(out.data() + got, chunk.data(), chunk.size());
    got += chunk.size();
  }
  out.resize(got);
  return out;
}

absl::Status SyncDir(rocksdb::FileSystem* fs, const std::string& dir) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  rocksdb::IOOptions io;
  rocksdb::IOStatus s = fs->NewDirectory(dir, io, &d, nullptr);
  if (s.ok()) s = d->Fsync(io, nullptr);
  if (s.ok()) s = d->Close(io, nullptr);
  return FromRocks(s, Cat("syncing directory ", dir));
}

absl::Status LinkNoReplace(rocksdb::FileSystem* fs, const std::string& src,
                           const std::string& dst) {
  rocksdb::IOOptions io;
  rocksdb::IOStatus s = fs->LinkFile(src, dst, io, nullptr);
  if (s.ok()) return absl::OkStatus();
  if (FileExists(fs, dst)) return absl::AlreadyExistsError(Cat(dst, " exists"));
  return FromRocks(s, Cat("linking ", dst));
}

absl::StatusOr<std::vector<std::string>> ListDir(rocksdb::FileSystem* fs,
                                                 const std::string& dir) {
  std::vector<std::string> names;
  rocksdb::IOStatus s = fs->GetChildren(dir, rocksdb::IOOptions(), &names, nullptr);
  if (!s.ok()) return FromRocks(s, Cat("listing ", dir));
  std::erase_if(names, [](const std::string& n) { return n == "." || n == ".."; });
  return names;
}

bool FileExists(rocksdb::FileSystem* fs, const std::string& path) {
  return fs->FileExists(path, rocksdb::IOOptions(), nullptr).ok();
}

absl::Status RemoveFile(rocksdb::FileSystem* fs, const std::string& path) {
  rocksdb::IOStatus s = fs->DeleteFile(path, rocksdb::IOOptions(), nullptr);
  if (s.ok() || s.IsNotFound() || s.IsPathNotFound() || !FileExists(fs, path)) {
    return absl::OkStatus();
  }
  return FromRocks(s, Cat("removing ", path));
}

absl::Status CreateDirDurably(rocksdb::FileSystem* fs, const std::string& dir) {
  if (FileExists(fs, dir)) return absl::OkStatus();
  RETURN_IF_ERROR(FromRocks(fs->CreateDirIfMissing(dir, rocksdb::IOOptions(), nullptr),
                            Cat("creating ", dir)));
  const size_t slash = dir.rfind('/');
  return SyncDir(fs, slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash));
}

absl::Status ReplaceFileDurably(rocksdb::FileSystem* fs, const std::string& dir,
                                std::string_view name, std::string_view data) {
  const std::string tmp = JoinPath(dir, Cat(".tmp-", RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs, tmp, data));
  const std::string path = JoinPath(dir, name);
  rocksdb::IOStatus s = fs->RenameFile(tmp, path, rocksdb::IOOptions(), nullptr);
  if (!s.ok()) {
    RemoveFile(fs, tmp).IgnoreError();
    return FromRocks(s, Cat("renaming ", tmp, " to ", path));
  }
  return SyncDir(fs, dir);
}

bool IsPortableName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string RandomId() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  return absl::StrFormat("%016x%016x", rng(), rng());
}

static uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large inputs in pieces.
  while (!data.empty()) {
    uInt n = static_cast<uInt>(std::min<size_t>(data.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), n);
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

std::string FrameChecksummed(std::string_view magic, std::string_view body) {
  return Cat(body, magic, " ", absl::StrFormat("%08x", Crc32(body)), " ", body.size(),
                      "\n");
}

absl::StatusOr<std::string_view> UnframeChecksummed(std::string_view magic,
                                                    std::string_view contents,
                                                    std::string_view what) {
  auto corrupt = [&](std::string_view why) {
    return absl::DataLossError(Cat(what, " is corrupt: ", why));
  };
  if (contents.empty() || contents.back() != '\n') return corrupt("missing footer");
  size_t start = contents.rfind('\n', contents.size() - 2);
  start = start == std::string_view::npos ? 0 : start + 1;
  std::string_view footer = contents.substr(start, contents.size() - start - 1);
  std::vector<absl::string_view> parts = absl::StrSplit(AV(footer), ' ');
  uint32_t crc = 0;
  uint64_t length = 0;
  if (parts.size() != 3 || SV(parts[0]) != magic || parts[1].size() != 8 ||
      !absl::SimpleHexAtoi(parts[1], &crc) || !absl::SimpleAtoi(parts[2], &length)) {
    return corrupt("bad footer");
  }
  std::string_view body = contents.substr(0, start);
  if (length != body.size()) return corrupt("length mismatch");
  if (Crc32(body) != crc) return corrupt("checksum mismatch");
  // Only the canonical spelling (lowercase hex, no leading zeros in the length) is valid.
  if (footer != Cat(magic, " ", absl::StrFormat("%08x", crc), " ", length)) {
    return corrupt("footer is not in canonical form");
  }
  return body;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return Cat(a, b);
  return Cat(a, "/", b);
}

}  // namespace deltasidecar
