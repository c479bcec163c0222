#include "sidecar/event_log.h"

#include <cmath>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/core.h"
#include "nlohmann/json.hpp"

namespace deltasidecar::sidecar {

namespace {

// A JSON string literal; invalid UTF-8 (say, in an error message quoting
// input) becomes U+FFFD instead of breaking the line.
std::string JsonString(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonValue(const LogField& f) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          return JsonString(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          return std::isfinite(v) ? fmt::format("{}", v) : "null";
        } else {
          return fmt::format("{}", v);
        }
      },
      f.value);
}

bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

std::string TextValue(const LogField& f) {
  if (const auto* s = std::get_if<std::string_view>(&f.value)) {
    return NeedsQuotes(*s) ? JsonString(*s) : std::string(*s);
  }
  return JsonValue(f);
}

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      fmt::format("unknown log format '{}' (use text or json)", std::string(text)));
}

std::string EventLog::Format(LogLevel level, std::string_view event,
                             std::initializer_list<LogField> fields,
                             LogText text) const {
  const std::string_view message = text.view;
  std::string line;
  if (format_ == LogFormat::kText) {
    line = "delta-sidecar: ";
    if (!message.empty()) {
      line.append(message);
      return line;
    }
    if (level != LogLevel::kInfo) line.append(LevelName(level)).append(": ");
    line.append(event);
    for (const LogField& f : fields) {
      line.append(" ").append(f.key).append("=").append(TextValue(f));
    }
    return line;
  }
  line = fmt::format(R"({{"time":"{}","level":"{}","event":{})",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                     LevelName(level), JsonString(event));
  for (const LogField& f : fields) {
    line.append(",").append(JsonString(f.key)).append(":").append(JsonValue(f));
  }
  if (!message.empty()) line.append(R"(,"message":)").append(JsonString(message));
  line.append("}");
  return line;
}

void EventLog::Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields,
                   LogText message) {
  std::string line = Format(level, event, fields, message);
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace deltasidecar::sidecar
