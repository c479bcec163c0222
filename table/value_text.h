// The text forms of one column value, shared by the JSON (row_json.h) and
// CSV (row_csv.h) forms of a row: the strings of the string-valued types
// (DECIMAL, BINARY as base64, DATE, DATETIME, TIMESTAMP, TIMESTAMP_LTZ, the
// shortest FLOAT and DOUBLE text), the JSON of a value and of a nested value,
// and the parsers of the date, time and decimal strings.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"
#include "table/row.h"
#include "table/schema.h"

namespace deltasidecar::table {

inline constexpr int64_t kMillisPerDay = 86'400'000;
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// The days since 1970-01-01 of the first and last date the text forms spell
// (0001-01-01 and 9999-12-31).
inline constexpr int64_t kMinDay = -719'162;
inline constexpr int64_t kMaxDay = 2'932'896;

// Appends the text form of `v` (CSV's field, and the JSON string of the
// string-valued types; a nested value as its JSON text). Appends nothing for NULL.
void AppendValueText(const Column& column, const Value& v, std::string* out);

// The JSON of one non-null value: a number or true/false where JSON has one,
// "NaN" / "Infinity" / "-Infinity" for non-finite floats, ARRAY as an array,
// STRUCT and MAP as objects (a MAP keyed by the text form of each key), the
// text form otherwise. `scratch` is the caller's reusable buffer.
nlohmann::ordered_json ValueToJson(const Column& column, const Value& v, std::string* scratch);

// "YYYY-MM-DD" at the start of `s` (years 0001..9999) -> days since epoch.
// False when `s` does not start with a valid date.
bool ParseDatePart(std::string_view s, int64_t* days);
// "YYYY-MM-DD[ T]HH:MM:SS[.f{1,max_frac}][Z]" -> days, second of day, nanos.
// False when `s` is not exactly that.
bool ParseDateTime(std::string_view s, int max_frac, int64_t* days, int64_t* second_of_day,
                   int64_t* nanos);
// Splits the zone designator off an ISO-8601 instant: "Z" or "+HH:MM" /
// "-HH:MM" (at most 18:00) -> seconds east of UTC. False when there is none.
bool SplitZone(std::string_view* s, int64_t* offset_seconds);
// Parses "[+-]digits[.digits]" into an unscaled DECIMAL(precision, scale).
// Trailing fractional zeros beyond the scale are accepted (no information is
// lost); any other extra digit is INVALID_ARGUMENT, never rounded away, as are
// text that is no decimal number and values that do not fit.
absl::Status ParseDecimal(std::string_view text, int precision, int scale, __int128* out);

}  // namespace deltasidecar::table
