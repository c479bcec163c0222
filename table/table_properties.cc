#include "table/table_properties.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {

namespace {

constexpr const char* kKeys[] = {
    "compaction.trigger-files", "compaction.size-ratio", "compaction.max-size-amplification",
    "retention.min-snapshots",  "retention.max-snapshots", "retention.max-age",
    "retention.consumer-max-age", "partition.expiration-time"};

absl::Status Bad(const std::string& key, const std::string& value, std::string_view expected) {
  return absl::InvalidArgumentError(
      Cat("table property ", key, " = '", value, "': expected ", expected));
}

absl::StatusOr<int> Int(const std::string& key, const std::string& value, int min) {
  int v = 0;
  if (!absl::SimpleAtoi(AV(value), &v) || v < min) {
    return Bad(key, value, Cat("an integer of at least ", min));
  }
  return v;
}

absl::StatusOr<double> Positive(const std::string& key, const std::string& value) {
  double v = 0;
  if (!absl::SimpleAtod(AV(value), &v) || !(v > 0) || v > 1e9) {
    return Bad(key, value, "a number above 0");
  }
  return v;
}

absl::StatusOr<absl::Duration> Duration(const std::string& key, const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(AV(value), &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return Bad(key, value, "a duration such as 90m, 2h or 24h");
  }
  return d;
}

}  // namespace

absl::StatusOr<TablePropertyValues> ParseTableProperties(const TableProperties& properties) {
  TablePropertyValues v;
  for (const auto& [key, value] : properties) {
    if (key == "compaction.trigger-files") {
      ASSIGN_OR_RETURN(v.compaction_trigger_files, Int(key, value, 0));
    } else if (key == "compaction.size-ratio") {
      ASSIGN_OR_RETURN(v.compaction_size_ratio, Positive(key, value));
    } else if (key == "compaction.max-size-amplification") {
      ASSIGN_OR_RETURN(v.compaction_max_size_amplification, Positive(key, value));
    } else if (key == "retention.min-snapshots") {
      ASSIGN_OR_RETURN(v.retention_min_snapshots, Int(key, value, 1));
    } else if (key == "retention.max-snapshots") {
      ASSIGN_OR_RETURN(v.retention_max_snapshots, Int(key, value, 1));
    } else if (key == "retention.max-age") {
      ASSIGN_OR_RETURN(v.retention_max_age, Duration(key, value));
    } else if (key == "retention.consumer-max-age") {
      ASSIGN_OR_RETURN(v.retention_consumer_max_age, Duration(key, value));
    } else if (key == "partition.expiration-time") {
      ASSIGN_OR_RETURN(v.partition_expiration, Duration(key, value));
    } else {
      return absl::InvalidArgumentError(Cat("unknown table property '", key, "' (known: ",
                                            absl::StrJoin(kKeys, ", "), ")"));
    }
  }
  if (v.retention_min_snapshots && v.retention_max_snapshots &&
      *v.retention_max_snapshots < *v.retention_min_snapshots) {
    return absl::InvalidArgumentError(Cat("table property retention.max-snapshots (",
                                          *v.retention_max_snapshots,
                                          ") is below retention.min-snapshots (",
                                          *v.retention_min_snapshots, ")"));
  }
  return v;
}

absl::StatusOr<TableProperties> TablePropertiesFromArgs(const std::vector<std::string>& args) {
  TableProperties out;
  for (const std::string& arg : args) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(Cat("table property '", arg, "': expected KEY=VALUE"));
    }
    if (!out.emplace(arg.substr(0, eq), arg.substr(eq + 1)).second) {
      return absl::InvalidArgumentError(Cat("table property ", arg.substr(0, eq), " is given twice"));
    }
  }
  RETURN_IF_ERROR(ParseTableProperties(out).status());
  return out;
}

}  // namespace deltasidecar::table
