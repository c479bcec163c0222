#include "table/writer_claims.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/file_util.h"
#include "table/base/status_macros.h"
#include "table/table_layout.h"
#include "xxhash.h"

namespace deltasidecar::table {
namespace {

constexpr char kWritersDir[] = "writers";
constexpr std::string_view kClaimMagic = "DCLAIM1";
constexpr uint64_t kMaxClaimBytes = 64 << 10;
// Claims of one writer lost to other processes before ClaimNext gives up.
constexpr int kMaxClaimRaces = 1000;

std::string IncarnationName(int64_t incarnation) { return fmt::format("{:020d}", incarnation); }

// The incarnation a claim file is named for; -1 for any other name.
int64_t ParseIncarnationName(std::string_view name) {
  if (name.size() != 20 || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  int64_t n = -1;
  return absl::SimpleAtoi(AV(name), &n) ? n : -1;
}

}  // namespace

std::string IncarnationIdentity(std::string_view writer_id, int64_t incarnation) {
  return incarnation == 0 ? std::string(writer_id) : Cat(writer_id, "#", incarnation);
}

std::optional<int64_t> IncarnationOf(std::string_view identity, std::string_view writer_id) {
  if (identity == writer_id) return 0;
  if (identity.size() <= writer_id.size() + 1 || identity.substr(0, writer_id.size()) != writer_id ||
      identity[writer_id.size()] != '#') {
    return std::nullopt;
  }
  int64_t n = 0;
  if (absl::SimpleAtoi(AV(identity.substr(writer_id.size() + 1)), &n) && n > 0 &&
      IncarnationIdentity(writer_id, n) == identity) {
    return n;
  }
  return std::nullopt;
}

WriterClaims::WriterClaims(rocksdb::FileSystem* fs, std::string table_dir)
    : fs_(fs), dir_(JoinPath(table_dir, kWritersDir)) {}

std::string WriterClaims::WriterDir(std::string_view writer_id) const {
  const XXH128_hash_t h = XXH3_128bits(writer_id.data(), writer_id.size());
  return JoinPath(dir_, fmt::format("{:016x}{:016x}", h.high64, h.low64));
}

absl::StatusOr<std::vector<int64_t>> WriterClaims::Incarnations(std::string_view writer_id) {
  auto names = ListDir(fs_, WriterDir(writer_id));
  if (absl::IsNotFound(names.status())) return std::vector<int64_t>();
  if (!names.ok()) return names.status();
  std::vector<int64_t> out;
  for (const auto& n : *names) {
    if (int64_t i = ParseIncarnationName(n); i >= 0) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<WriterClaim> WriterClaims::Read(std::string_view writer_id, int64_t incarnation) {
  const std::string path = JoinPath(WriterDir(writer_id), IncarnationName(incarnation));
  ASSIGN_OR_RETURN(std::string contents, ReadWholeFile(fs_, path, kMaxClaimBytes));
  ASSIGN_OR_RETURN(std::string_view body, UnframeChecksummed(kClaimMagic, contents, path));
  WriterClaim claim;
  try {
    const auto j = nlohmann::json::parse(body);
    claim.writer_id = j.at("writer").get<std::string>();
    claim.incarnation = j.at("incarnation").get<int64_t>();
    claim.owner = j.at("owner").get<std::string>();
    claim.time_ms = j.at("time_ms").get<int64_t>();
    if (j.contains("restored")) claim.restored = j.at("restored").get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(Cat(path, " is malformed: ", e.what()));
  }
  if (claim.writer_id != writer_id || claim.incarnation != incarnation) {
    return absl::DataLossError(Cat(path, " claims incarnation ", claim.incarnation, " of writer '",
                                   claim.writer_id, "', not incarnation ", incarnation, " of '",
                                   writer_id, "'"));
  }
  return claim;
}

absl::StatusOr<std::optional<WriterClaim>> WriterClaims::Latest(std::string_view writer_id) {
  ASSIGN_OR_RETURN(auto incarnations, Incarnations(writer_id));
  if (incarnations.empty()) return std::optional<WriterClaim>();
  ASSIGN_OR_RETURN(auto claim, Read(writer_id, incarnations.back()));
  return std::optional<WriterClaim>(std::move(claim));
}

absl::StatusOr<bool> WriterClaims::CompletedBeforeSuperseded(std::string_view writer_id,
                                                             int64_t incarnation,
                                                             int64_t checkpoint_id,
                                                             const Snapshot& latest) {
  for (const auto& [identity, state] : latest.writers) {
    auto n = IncarnationOf(identity, writer_id);
    if (n && *n > incarnation) return false;
  }
  ASSIGN_OR_RETURN(auto incarnations, Incarnations(writer_id));
  for (int64_t n : incarnations) {
    if (n <= incarnation) continue;
    ASSIGN_OR_RETURN(auto claim, Read(writer_id, n));
    if (!claim.restored || *claim.restored < checkpoint_id) return false;
  }
  return true;
}

absl::StatusOr<WriterClaim> WriterClaims::Claim(std::string_view writer_id, int64_t incarnation,
                                                std::string_view owner,
                                                std::optional<int64_t> restored) {
  if (incarnation < 0) {
    return absl::InvalidArgumentError(Cat("incarnation ", incarnation, " is negative"));
  }
  if (restored && *restored < -1) {
    return absl::InvalidArgumentError(Cat("restored checkpoint ", *restored, " is below -1"));
  }
  const std::string dir = WriterDir(writer_id);
  for (const std::string& d : {dir_, dir}) RETURN_IF_ERROR(CreateDirDurably(fs_, d));
  WriterClaim claim{std::string(writer_id), incarnation, std::string(owner), NowMs(), restored};
  nlohmann::json j = {{"writer", claim.writer_id},
                      {"incarnation", claim.incarnation},
                      {"owner", claim.owner},
                      {"time_ms", claim.time_ms}};
  if (restored) j["restored"] = *restored;
  const std::string tmp = JoinPath(dir, Cat(kTmpPrefix, RandomId()));
  RETURN_IF_ERROR(WriteFileSynced(fs_, tmp, FrameChecksummed(kClaimMagic, j.dump() + "\n")));
  absl::Status s = LinkNoReplace(fs_, tmp, JoinPath(dir, IncarnationName(incarnation)));
  RemoveFile(fs_, tmp).IgnoreError();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(
        Cat("incarnation ", incarnation, " of writer '", writer_id, "' is already claimed"));
  }
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(SyncDir(fs_, dir));
  return claim;
}

absl::StatusOr<WriterClaim> WriterClaims::ClaimNext(std::string_view writer_id,
                                                    std::string_view owner,
                                                    const Snapshot& latest,
                                                    std::optional<int64_t> restored) {
  int64_t floor = 0;
  for (const auto& [identity, state] : latest.writers) {
    if (auto n = IncarnationOf(identity, writer_id)) floor = std::max(floor, *n + 1);
  }
  for (int attempt = 0; attempt < kMaxClaimRaces; ++attempt) {
    ASSIGN_OR_RETURN(auto newest, Latest(writer_id));
    const int64_t next = std::max(floor, newest ? newest->incarnation + 1 : 0);
    auto claim = Claim(writer_id, next, owner, restored);
    if (!absl::IsAlreadyExists(claim.status())) return claim;
  }
  return absl::AbortedError(Cat("claiming an incarnation of writer '", writer_id, "' lost the race ",
                                kMaxClaimRaces, " times"));
}

}  // namespace deltasidecar::table
