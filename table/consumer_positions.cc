#include "table/consumer_positions.h"

#include <algorithm>

#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/table_layout.h"

namespace deltasidecar::table {
namespace {

constexpr char kConsumersDir[] = "consumers";
constexpr std::string_view kConsumerMagic = "DCONSUMER1";

}  // namespace

std::string EncodeConsumerPosition(const ConsumerPosition& c) {
  nlohmann::json j = {{"consumer", c.name}, {"position", c.position}, {"time_ms", c.time_ms}};
  return FrameChecksummed(kConsumerMagic, j.dump() + "\n");
}

absl::StatusOr<ConsumerPosition> DecodeConsumerPosition(std::string_view contents,
                                                        std::string_view what) {
  if (contents.size() > kMaxConsumerFileBytes) {
    return absl::DataLossError(Cat(what, " is ", contents.size(), " bytes, over the limit of ",
                                   kMaxConsumerFileBytes));
  }
  ASSIGN_OR_RETURN(std::string_view body, UnframeChecksummed(kConsumerMagic, contents, what));
  ConsumerPosition c;
  try {
    const auto j = nlohmann::json::parse(body);
    c.name = j.at("consumer").get<std::string>();
    c.position = j.at("position").get<int64_t>();
    c.time_ms = j.at("time_ms").get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(what, " is malformed: ", e.what()));
  }
  if (!IsPortableName(c.name) || c.position < 0) {
    return absl::DataLossError(Cat(what, " names consumer '", c.name, "' at position ", c.position,
                                   ": not a valid consumer"));
  }
  return c;
}

std::optional<int64_t> OldestHeldSnapshot(const std::vector<ConsumerPosition>& consumers,
                                          absl::Duration max_age, absl::Time now) {
  std::optional<int64_t> oldest;
  for (const auto& c : consumers) {
    if (max_age <= absl::ZeroDuration() || absl::FromUnixMillis(c.time_ms) + max_age < now) {
      continue;  // stale
    }
    if (!oldest || c.position < *oldest) oldest = c.position;
  }
  return oldest;
}

absl::Status ValidateConsumerName(std::string_view name) {
  if (IsPortableName(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      Cat("invalid consumer name '", name,
          "': use 1-128 letters, digits, '_', '-' or '.', not starting with '.'"));
}

ConsumerPositions::ConsumerPositions(rocksdb::FileSystem* fs, std::string table_dir)
    : fs_(fs), dir_(JoinPath(table_dir, kConsumersDir)) {}

absl::StatusOr<ConsumerPosition> ConsumerPositions::Set(std::string_view name, int64_t position) {
  RETURN_IF_ERROR(ValidateConsumerName(name));
  if (position < 0) {
    return absl::InvalidArgumentError(Cat("consumer position ", position, " is negative"));
  }
  RETURN_IF_ERROR(CreateDirDurably(fs_, dir_));
  ConsumerPosition c{std::string(name), position, NowMs()};
  RETURN_IF_ERROR(ReplaceFileDurably(fs_, dir_, name, EncodeConsumerPosition(c)));
  return c;
}

absl::StatusOr<std::optional<ConsumerPosition>> ConsumerPositions::Get(std::string_view name) {
  RETURN_IF_ERROR(ValidateConsumerName(name));
  const std::string path = JoinPath(dir_, name);
  auto contents = ReadWholeFile(fs_, path, kMaxConsumerFileBytes);
  if (absl::IsNotFound(contents.status())) return std::optional<ConsumerPosition>();
  if (absl::IsFailedPrecondition(contents.status())) {  // over the size limit
    return absl::DataLossError(contents.status().message());
  }
  if (!contents.ok()) return contents.status();
  auto c = DecodeConsumerPosition(*contents, path);
  if (c.ok() && c->name != name) {
    c = absl::DataLossError(Cat(path, " holds the position of consumer '", c->name, "'"));
  }
  if (!c.ok()) {
    return absl::DataLossError(Cat(c.status().message(), " (remove it with `deltactl consumers ",
                                   "TABLE --drop ", name, "`)"));
  }
  return std::optional<ConsumerPosition>(std::move(*c));
}

absl::StatusOr<std::vector<ConsumerPosition>> ConsumerPositions::List() {
  std::vector<ConsumerPosition> out;
  auto names = ListDir(fs_, dir_);
  if (absl::IsNotFound(names.status())) return out;
  if (!names.ok()) return names.status();
  std::sort(names->begin(), names->end());
  for (const auto& n : *names) {
    if (!IsPortableName(n)) continue;  // a temporary file of a Set in flight
    ASSIGN_OR_RETURN(auto c, Get(n));
    if (c) out.push_back(std::move(*c));  // else dropped meanwhile
  }
  return out;
}

absl::Status ConsumerPositions::Drop(std::string_view name) {
  RETURN_IF_ERROR(ValidateConsumerName(name));
  const std::string path = JoinPath(dir_, name);
  if (!FileExists(fs_, path)) {
    return absl::NotFoundError(Cat("there is no consumer '", name, "'"));
  }
  RETURN_IF_ERROR(RemoveFile(fs_, path));
  return SyncDir(fs_, dir_);
}

}  // namespace deltasidecar::table
