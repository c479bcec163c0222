// EventLog: the sidecar's log on stderr, one line per event, as text
// (default) or as one JSON object per line (--log-format=json).
//
// JSON lines carry "time" (RFC 3339, UTC, milliseconds), "level" ("info",
// "warn", "error"), "event" (a fixed name, see docs/operations.md "Observe"),
// then the event's fields, and "message" for lines meant for people. Every
// protocol event carries "table" and "writer", and "epoch" and "checkpoint"
// where the call has them, so one checkpoint can be followed with
// `jq 'select(.writer=="w" and .checkpoint==7)'`.
//
// Text lines read "delta-sidecar: <message>" for lines with a message (as
// the sidecar always printed them) and "delta-sidecar: <event> key=value ..."
// otherwise; values with spaces, quotes or '=' are quoted.
//
// Thread-safety: Log may be called concurrently; each line is written with
// one write, so lines never interleave.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace deltasidecar::sidecar {

enum class LogFormat { kText, kJson };
// "text" or "json"; INVALID_ARGUMENT naming the accepted values otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text);

enum class LogLevel { kInfo, kWarn, kError };

// Text from std::string_view, std::string, a literal, or absl::string_view
// (a type of its own in Debian's Abseil, as returned by Status::message()).
struct LogText {
  LogText() = default;
  LogText(std::string_view s) : view(s) {}
  LogText(const std::string& s) : view(s) {}
  LogText(const char* s) : view(s) {}
#if !defined(ABSL_USES_STD_STRING_VIEW)
  LogText(absl::string_view s) : view(s.data(), s.size()) {}
#endif
  std::string_view view;
};

// One field of an event. String values are copied into the line, so views of
// temporaries are fine.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
#if !defined(ABSL_USES_STD_STRING_VIEW)
  LogField(std::string_view k, absl::string_view v) : key(k), value(std::string_view(v.data(), v.size())) {}
#endif
  LogField(std::string_view k, int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, uint32_t v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}

  std::string_view key;
  std::variant<std::string_view, int64_t, double, bool> value;
};

class EventLog {
 public:
  // Writes to `out` (stderr unless a test passes another stream).
  explicit EventLog(LogFormat format, std::FILE* out = stderr) : format_(format), out_(out) {}

  LogFormat format() const { return format_; }

  void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields,
           LogText message = {});
  void Info(std::string_view event, std::initializer_list<LogField> fields,
            LogText message = {}) {
    Log(LogLevel::kInfo, event, fields, message);
  }
  void Warn(std::string_view event, std::initializer_list<LogField> fields,
            LogText message = {}) {
    Log(LogLevel::kWarn, event, fields, message);
  }

  // The line Log writes, without its newline (exposed for tests).
  std::string Format(LogLevel level, std::string_view event,
                     std::initializer_list<LogField> fields, LogText message) const;

 private:
  const LogFormat format_;
  std::FILE* const out_;
  absl::Mutex mu_;
};

}  // namespace deltasidecar::sidecar
