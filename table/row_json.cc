// The JSON and CSV text forms of a row (RowFromJson, RowToJson, RowToCsv).
// Sections: value accessors, text forms of single values, JSON, CSV. The
// binary key and value encodings live in row.cc.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/nested_value.h"
#include "table/row.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {
namespace {

using u128 = unsigned __int128;

// JSON of a nested value (defined with the JSON section); CSV writes its text.
nlohmann::ordered_json NestedToJson(const Column& type, std::string_view bytes);


// ---------------------------------------------------------------------------
// Text forms of single values, shared by JSON and CSV.

constexpr int64_t kMillisPerDay = 86'400'000;
constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, int* month, int* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

const int64_t kMinDay = DaysFromCivil(1, 1, 1);
const int64_t kMaxDay = DaysFromCivil(9999, 12, 31);

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" at the start of `s` (years 0001..9999) -> days since epoch.
bool ParseDatePart(std::string_view s, int64_t* days) {
  int y, m, d;
  if (!ParseDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !ParseDigits(s, 5, 2, &m) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, &d)) {
    return false;
  }
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kMonthDays[m - 1] + (m == 2 && leap)) return false;
  *days = DaysFromCivil(y, m, d);
  return true;
}

// "YYYY-MM-DD[ T]HH:MM:SS[.f{1,max_frac}][Z]" -> days, second of day, nanos.
bool ParseDateTime(std::string_view s, int max_frac, int64_t* days, int64_t* second_of_day,
                   int64_t* nanos) {
  int h, mi, sec;
  if (!ParseDatePart(s, days) || s.size() < 19 || (s[10] != ' ' && s[10] != 'T') ||
      !ParseDigits(s, 11, 2, &h) || s[13] != ':' || !ParseDigits(s, 14, 2, &mi) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, &sec) || h > 23 || mi > 59 || sec > 59) {
    return false;
  }
  size_t pos = 19;
  *nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    int64_t frac = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (++digits > max_frac) return false;
      frac = frac * 10 + (s[pos++] - '0');
    }
    if (digits == 0) return false;
    for (int i = digits; i < 9; ++i) frac *= 10;
    *nanos = frac;
  }
  if (pos < s.size() && s[pos] == 'Z') ++pos;
  if (pos != s.size()) return false;
  *second_of_day = h * 3600 + mi * 60 + sec;
  return true;
}

void AppendDate(int64_t days, std::string* out) {
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  absl::StrAppendFormat(out, "%04d-%02d-%02d", y, m, d);
}

// `unit` ticks per second (1000 or 1e9); `digits` fractional digits written.
// Written so that no intermediate overflows, even for INT64_MIN.
void AppendDateTime(int64_t ticks, int64_t unit, int digits, std::string* out) {
  int64_t seconds = ticks / unit;
  int64_t frac = ticks % unit;
  if (frac < 0) {
    frac += unit;
    --seconds;
  }
  int64_t days = FloorDiv(seconds, 86400);
  int64_t sod = seconds - days * 86400;
  AppendDate(days, out);
  absl::StrAppendFormat(out, " %02d:%02d:%02d.%0*d", sod / 3600, sod / 60 % 60, sod % 60, digits,
                        frac);
}

// TIMESTAMP_LTZ(digits): ISO-8601 instant "YYYY-MM-DDTHH:MM:SS[.f{digits}]Z".
// As AppendDateTime, no intermediate overflows, even for INT64_MIN.
void AppendInstant(int64_t nanos, int digits, std::string* out) {
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t frac = nanos % kNanosPerSecond;
  if (frac < 0) {
    frac += kNanosPerSecond;
    --seconds;
  }
  int64_t days = FloorDiv(seconds, 86400);
  int64_t sod = seconds - days * 86400;
  AppendDate(days, out);
  absl::StrAppendFormat(out, "T%02d:%02d:%02d", sod / 3600, sod / 60 % 60, sod % 60);
  if (digits > 0) {
    for (int i = digits; i < 9; ++i) frac /= 10;
    absl::StrAppendFormat(out, ".%0*d", digits, frac);
  }
  out->push_back('Z');
}

// Splits the zone designator off an ISO-8601 instant: "Z" or "+HH:MM" /
// "-HH:MM" (at most 18:00) -> seconds east of UTC. False when there is none.
bool SplitZone(std::string_view* s, int64_t* offset_seconds) {
  if (!s->empty() && s->back() == 'Z') {
    s->remove_suffix(1);
    *offset_seconds = 0;
    return true;
  }
  if (s->size() < 6) return false;
  std::string_view zone = s->substr(s->size() - 6);
  int h, m;
  if ((zone[0] != '+' && zone[0] != '-') || !ParseDigits(zone, 1, 2, &h) || zone[3] != ':' ||
      !ParseDigits(zone, 4, 2, &m) || m > 59 || h * 60 + m > 18 * 60) {
    return false;
  }
  *offset_seconds = (zone[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
  s->remove_suffix(6);
  return true;
}

// Decimal text of an unscaled value with exactly `scale` fractional digits.
void AppendDecimal(__int128 unscaled, int scale, std::string* out) {
  bool negative = unscaled < 0;
  u128 magnitude = negative ? u128{0} - static_cast<u128>(unscaled) : static_cast<u128>(unscaled);
  char buf[48];
  char* p = buf + sizeof(buf);
  int written = 0;
  do {
    *--p = static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
    ++written;
  } while (magnitude != 0 || written <= scale);
  if (negative) out->push_back('-');
  size_t integer_digits = written - scale;
  out->append(p, integer_digits);
  if (scale > 0) {
    out->push_back('.');
    out->append(p + integer_digits, scale);
  }
}

// Parses "[+-]digits[.digits]" into an unscaled DECIMAL(precision, scale).
// Trailing fractional zeros beyond the scale are accepted (no information is
// lost); any other extra digit is an error, never rounded away.
absl::Status ParseDecimal(std::string_view text, int precision, int scale, __int128* out) {
  auto quoted = [&] {
    return text.size() <= 64 ? Cat("'", text, "'") : Cat("'", text.substr(0, 64), "...'");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view integer = s.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  auto all_digits = [](std::string_view d) {
    return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!all_digits(integer) || (dot != std::string_view::npos && !all_digits(fraction))) {
    return absl::InvalidArgumentError(Cat(quoted(), " is not a decimal number"));
  }
  while (integer.size() > 1 && integer[0] == '0') integer.remove_prefix(1);
  if (integer == "0") integer = "";
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (fraction.size() > static_cast<size_t>(scale)) {
    return absl::InvalidArgumentError(
        Cat(quoted(), " has more than ", scale, " fractional digits"));
  }
  if (integer.size() > static_cast<size_t>(precision - scale)) {
    return absl::InvalidArgumentError(
        Cat(quoted(), " does not fit DECIMAL(", precision, ",", scale, ")"));
  }
  u128 v = 0;  // at most 38 digits: fits
  for (char c : integer) v = v * 10 + (c - '0');
  for (char c : fraction) v = v * 10 + (c - '0');
  for (size_t i = fraction.size(); i < static_cast<size_t>(scale); ++i) v *= 10;
  *out = negative ? -static_cast<__int128>(v) : static_cast<__int128>(v);
  return absl::OkStatus();
}

// The JSON/CSV spelling of a non-finite FLOAT or DOUBLE, or empty if finite.
std::string_view NonFiniteName(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return "";
}

// Shortest text that reads back as the same float (or double).
template <typename F>
void AppendShortest(F f, std::string* out) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f);
  out->append(buf, end);
}

// The text form used by CSV and by the JSON string-valued types. Appends
// nothing for NULL.
void AppendText(const Column& column, const Value& v, std::string* out) {
  if (IsNull(v)) return;
  switch (column.type) {
    case ColumnType::kBoolean:
      out->append(BoolOf(v) ? "true" : "false");
      break;
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
      fmt::format_to(std::back_inserter(*out), "{}", IntOf(v));
      break;
    case ColumnType::kFloat:
    case ColumnType::kDouble: {
      double d = DoubleOf(v);
      if (std::string_view name = NonFiniteName(d); !name.empty()) {
        out->append(name);
      } else if (column.type == ColumnType::kFloat) {
        AppendShortest(static_cast<float>(d), out);
      } else {
        AppendShortest(d, out);
      }
      break;
    }
    case ColumnType::kDecimal:
      AppendDecimal(DecimalOf(v), column.scale, out);
      break;
    case ColumnType::kString:
      out->append(StringOf(v));
      break;
    case ColumnType::kBinary: {
      std::string_view bytes = StringOf(v);
      out->append(absl::Base64Escape(absl::string_view(bytes.data(), bytes.size())));
      break;
    }
    case ColumnType::kDate:
      AppendDate(IntOf(v), out);
      break;
    case ColumnType::kDatetime:
      AppendDateTime(IntOf(v), 1000, 3, out);
      break;
    case ColumnType::kTimestamp:
      AppendDateTime(IntOf(v), kNanosPerSecond, 9, out);
      break;
    case ColumnType::kTimestampLtz:
      AppendInstant(IntOf(v), column.precision, out);
      break;
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct:
      // Invalid UTF-8 in a STRING inside is replaced rather than thrown on.
      out->append(NestedToJson(column, StringOf(v))
                      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      break;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// JSON.
namespace {

using json = nlohmann::json;

absl::Status ColumnError(const Column& column, std::string_view reason) {
  return absl::InvalidArgumentError(
      Cat("column '", column.name, "' (", column.TypeString(), "): ", reason));
}

std::string Describe(const json& j) {
  if (j.is_number_float()) return Cat("non-integer number ", j.dump());
  return j.type_name();
}

// A JSON integer as int64, or an error naming the column.
absl::Status JsonInt64(const Column& column, const json& j, int64_t* out) {
  if (!j.is_number_integer()) {
    return ColumnError(column, Cat("expected an integer, got ", Describe(j)));
  }
  if (j.is_number_unsigned() &&
      j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return ColumnError(column, Cat(j.get<uint64_t>(), " is out of range"));
  }
  *out = j.get<int64_t>();
  return absl::OkStatus();
}

absl::Status IntegerFromJson(const Column& column, const json& j, Value* out) {
  int64_t v = 0;
  RETURN_IF_ERROR(JsonInt64(column, j, &v));
  int bits = column.type == ColumnType::kTinyint    ? 8
             : column.type == ColumnType::kSmallint ? 16
             : column.type == ColumnType::kInt      ? 32
                                                    : 64;
  if (bits < 64 && (v < -(int64_t{1} << (bits - 1)) || v >= (int64_t{1} << (bits - 1)))) {
    return ColumnError(column, Cat(v, " is out of range"));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status FloatingFromJson(const Column& column, const json& j, Value* out) {
  double d;
  if (j.is_number()) {
    d = j.get<double>();
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") {
      d = std::numeric_limits<double>::quiet_NaN();
    } else if (s == "Infinity") {
      d = std::numeric_limits<double>::infinity();
    } else if (s == "-Infinity") {
      d = -std::numeric_limits<double>::infinity();
    } else {
      return ColumnError(column, Cat("expected a number, \"NaN\", \"Infinity\" or "
                                     "\"-Infinity\", got string '",
                                     s.substr(0, 64), "'"));
    }
  } else {
    return ColumnError(column, Cat("expected a number, got ", Describe(j)));
  }
  if (column.type == ColumnType::kFloat) {
    // Rejects exactly the finite values that round to infinity as a float:
    // those at or past the midpoint between FLT_MAX and 2^128. Comparing with
    // FLT_MAX itself would reject 3.4028235e+38, the text RowToJson writes
    // for FLT_MAX, so a scan's output could not be imported again.
    constexpr double kFloatOverflow = 0x1.ffffffp127;  // 2^128 - 2^103
    if (std::isfinite(d) && std::fabs(d) >= kFloatOverflow) {
      return ColumnError(column, Cat(j.dump(), " is out of range"));
    }
    // Round now so the in-memory row equals what the value encoding keeps.
    d = static_cast<float>(d);
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status DecimalFromJson(const Column& column, const json& j, Value* out) {
  std::string text;
  if (j.is_string()) {
    text = j.get<std::string>();
  } else if (j.is_number_unsigned()) {
    text = std::to_string(j.get<uint64_t>());
  } else if (j.is_number_integer()) {
    text = std::to_string(j.get<int64_t>());
  } else if (j.is_number_float()) {
    double d = j.get<double>();
    if (!std::isfinite(d)) return ColumnError(column, "expected a finite number");
    // Shortest round-trip digits, in fixed notation so no exponent appears.
    char buf[400];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::fixed);
    if (ec != std::errc()) return ColumnError(column, Cat(j.dump(), " is out of range"));
    text.assign(buf, end);
  } else {
    return ColumnError(column, Cat("expected a decimal string or number, got ", Describe(j)));
  }
  __int128 v = 0;
  absl::Status s = ParseDecimal(text, column.precision, column.scale, &v);
  if (!s.ok()) return ColumnError(column, std::string(s.message()));
  *out = v;
  return absl::OkStatus();
}

// Nanoseconds must be a multiple of 10^(9 - precision) and fit in int64.
absl::Status InstantFromJson(const Column& column, const json& j, Value* out) {
  int64_t unit = 1;
  for (int d = column.precision; d < 9; ++d) unit *= 10;
  auto check_precision = [&](int64_t ns, std::string_view shown) {
    if (ns % unit != 0) {
      return ColumnError(column, Cat(shown, " has digits finer than the precision"));
    }
    *out = ns;
    return absl::OkStatus();
  };
  if (j.is_number_integer()) {
    int64_t v = 0;
    RETURN_IF_ERROR(JsonInt64(column, j, &v));
    return check_precision(v, j.dump());
  }
  if (!j.is_string()) {
    return ColumnError(column, Cat("expected 'YYYY-MM-DDTHH:MM:SS[.fffffffff]Z' (or an offset "
                                   "such as +08:00 for Z) or integer nanoseconds, got ",
                                   Describe(j)));
  }
  const std::string& text = j.get_ref<const std::string&>();
  std::string shown = Cat("'", text.substr(0, 64), "'");
  std::string_view s = text;
  int64_t offset = 0, days = 0, second_of_day = 0, nanos = 0;
  if (!SplitZone(&s, &offset) || (!s.empty() && s.back() == 'Z') ||
      !ParseDateTime(s, 9, &days, &second_of_day, &nanos)) {
    return ColumnError(column, Cat(shown, " is not a valid TIMESTAMP_LTZ (expected "
                                          "'YYYY-MM-DDTHH:MM:SS[.fffffffff]Z' or an offset "
                                          "such as +08:00 for Z)"));
  }
  // Nanoseconds since 1970 only reach the years 1677..2262.
  __int128 ns =
      (static_cast<__int128>(days) * 86400 + second_of_day - offset) * kNanosPerSecond + nanos;
  if (ns < std::numeric_limits<int64_t>::min() || ns > std::numeric_limits<int64_t>::max()) {
    return ColumnError(column, Cat(shown, " is out of range"));
  }
  return check_precision(static_cast<int64_t>(ns), shown);
}

absl::Status TimeFromJson(const Column& column, const json& j, Value* out) {
  std::string_view expected = column.type == ColumnType::kDate ? "'YYYY-MM-DD'"
                              : column.type == ColumnType::kDatetime
                                  ? "'YYYY-MM-DD HH:MM:SS[.fff]'"
                                  : "'YYYY-MM-DD HH:MM:SS[.fffffffff]'";
  if (column.type != ColumnType::kDate && j.is_number_integer()) {
    int64_t v = 0;
    RETURN_IF_ERROR(JsonInt64(column, j, &v));
    // Epoch milliseconds must stay within the years the text form can spell.
    if (column.type == ColumnType::kDatetime &&
        (v < kMinDay * kMillisPerDay || v >= (kMaxDay + 1) * kMillisPerDay)) {
      return ColumnError(column, Cat(v, " is out of range"));
    }
    *out = v;
    return absl::OkStatus();
  }
  if (!j.is_string()) {
    return ColumnError(
        column, Cat("expected ", expected, column.type == ColumnType::kDate ? "" : " or an integer",
                    ", got ", Describe(j)));
  }
  const std::string& s = j.get_ref<const std::string&>();
  auto bad = [&] {
    return ColumnError(column, Cat("'", s.substr(0, 64), "' is not a valid ",
                                   ColumnTypeName(column.type), " (expected ", expected, ")"));
  };
  int64_t days;
  if (column.type == ColumnType::kDate) {
    if (s.size() != 10 || !ParseDatePart(s, &days)) return bad();
    *out = days;
    return absl::OkStatus();
  }
  int64_t second_of_day, nanos;
  int max_frac = column.type == ColumnType::kDatetime ? 3 : 9;
  if (!ParseDateTime(s, max_frac, &days, &second_of_day, &nanos)) return bad();
  if (column.type == ColumnType::kDatetime) {
    *out = days * kMillisPerDay + second_of_day * 1000 + nanos / 1'000'000;
    return absl::OkStatus();
  }
  // Nanoseconds since 1970 only reach the years 1677..2262.
  __int128 ns = (static_cast<__int128>(days) * 86400 + second_of_day) * kNanosPerSecond + nanos;
  if (ns < std::numeric_limits<int64_t>::min() || ns > std::numeric_limits<int64_t>::max()) {
    return ColumnError(column, Cat("'", s, "' is out of range"));
  }
  *out = static_cast<int64_t>(ns);
  return absl::OkStatus();
}

absl::Status ValueFromJson(const Column& column, const json& j, Value* out);

// The reason of a ColumnError, without its "column 'x' (T): " prefix.
std::string ReasonOf(const absl::Status& s) {
  std::string m(s.message());
  if (size_t at = m.find("): "); m.rfind("column '", 0) == 0 && at != std::string::npos) {
    return m.substr(at + 3);
  }
  return m;
}

absl::Status NestedFromJson(const Column& top, const Column& type, const json& j,
                            const std::string& path, std::string* out);

// One non-null child of a nested value at `path`, encoded as a value column.
absl::Status ChildFromJson(const Column& top, const Column& child, const json& j,
                           const std::string& path, std::string* out) {
  Value v;
  if (IsNested(child.type)) {
    std::string bytes;
    RETURN_IF_ERROR(NestedFromJson(top, child, j, path, &bytes));
    v = std::move(bytes);
  } else if (absl::Status s = ValueFromJson(child, j, &v); !s.ok()) {
    return ColumnError(top, Cat(path, " (", child.TypeString(), "): ", ReasonOf(s)));
  }
  AppendColumnValue(child, v, out);
  return absl::OkStatus();
}

// A MAP key from an object member name: the name itself for the string-valued
// key types, the name read as JSON (a number or true/false) for the others.
json MapKeyFromName(const Column& key, const std::string& name) {
  switch (key.type) {
    case ColumnType::kBoolean:
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
    case ColumnType::kFloat:
    case ColumnType::kDouble: {
      // "-0" reads as the integer 0; the key was the float -0.0.
      if (name == "-0" && (key.type == ColumnType::kFloat || key.type == ColumnType::kDouble)) {
        return -0.0;
      }
      json parsed = json::parse(name, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded() && (parsed.is_number() || parsed.is_boolean())) return parsed;
      return name;
    }
    default:
      return name;
  }
}

// Encodes JSON `j` as a non-null value of nested `type` (nested_value.h).
// Errors name the top-level column and the path inside it.
absl::Status NestedFromJson(const Column& top, const Column& type, const json& j,
                            const std::string& path, std::string* out) {
  auto here = [&](std::string_view step) { return path.empty() ? std::string(step) : Cat(path, step); };
  auto bad = [&](std::string_view reason) {
    return ColumnError(top, path.empty() ? std::string(reason) : Cat(path, ": ", reason));
  };
  if (type.type == ColumnType::kArray) {
    if (!j.is_array()) return bad(Cat("expected an array, got ", Describe(j)));
    PutVarint(j.size(), out);
    size_t bitmap = out->size();
    out->append((j.size() + 7) / 8, '\0');
    for (size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_null()) {
        (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
        continue;
      }
      RETURN_IF_ERROR(ChildFromJson(top, type.children[0], j[i], here(Cat("[", i, "]")), out));
    }
    return absl::OkStatus();
  }
  if (type.type == ColumnType::kStruct) {
    if (!j.is_object()) return bad(Cat("expected an object, got ", Describe(j)));
    size_t found = 0;
    size_t bitmap = out->size();
    out->append((type.children.size() + 7) / 8, '\0');
    for (size_t i = 0; i < type.children.size(); ++i) {
      const Column& field = type.children[i];
      auto it = j.find(field.name);
      if (it != j.end()) ++found;
      if (it == j.end() || it->is_null()) {
        (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
        continue;
      }
      RETURN_IF_ERROR(ChildFromJson(top, field, *it, here(Cat(".", field.name)), out));
    }
    if (found != j.size()) {
      for (const auto& [name, unused] : j.items()) {
        bool known = false;
        for (const Column& field : type.children) known = known || field.name == name;
        if (!known) return bad(Cat("unknown STRUCT field '", name, "'"));
      }
    }
    return absl::OkStatus();
  }
  // MAP: an object keyed by the key's text, or an array of [key, value] pairs.
  const Column& key = type.children[0];
  const Column& value = type.children[1];
  std::vector<std::pair<json, const json*>> entries;
  if (j.is_object()) {
    for (const auto& [name, v] : j.items()) entries.emplace_back(MapKeyFromName(key, name), &v);
  } else if (j.is_array()) {
    for (const json& pair : j) {
      if (!pair.is_array() || pair.size() != 2) {
        return bad(Cat("expected an object or an array of [key, value] pairs, got an array holding ",
                       pair.is_array() ? Cat("an array of ", pair.size()) : pair.type_name()));
      }
      entries.emplace_back(pair[0], &pair[1]);
    }
  } else {
    return bad(Cat("expected an object or an array of [key, value] pairs, got ", Describe(j)));
  }
  // Entries are stored in the order of their keys' text, the order in which a
  // JSON object's members are read, so that a MAP reads back from the object
  // RowToJson writes exactly as it was.
  struct Entry {
    std::string name;       // the key's text form
    std::string key_bytes;  // the key encoded as a value column
    const json* value;
  };
  std::vector<Entry> sorted;
  sorted.reserve(entries.size());
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    if (k.is_null()) return bad(Cat("key of entry ", i, " is null; MAP keys are never NULL"));
    std::string at = here(Cat("{", k.is_string() ? k.get<std::string>() : k.dump(), "}"));
    Value key_value;
    if (absl::Status s = ValueFromJson(key, k, &key_value); !s.ok()) {
      return ColumnError(top, Cat(at, " (", key.TypeString(), "): ", ReasonOf(s)));
    }
    Entry e{"", "", v};
    AppendText(key, key_value, &e.name);
    AppendColumnValue(key, key_value, &e.key_bytes);
    if (!seen.insert(e.key_bytes).second) return bad(Cat("duplicate MAP key ", k.dump()));
    sorted.push_back(std::move(e));
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Entry& a, const Entry& b) { return a.name < b.name; });
  PutVarint(sorted.size(), out);
  size_t bitmap = out->size();
  out->append((sorted.size() + 7) / 8, '\0');
  for (size_t i = 0; i < sorted.size(); ++i) {
    out->append(sorted[i].key_bytes);
    if (sorted[i].value->is_null()) {
      (*out)[bitmap + i / 8] |= static_cast<char>(1 << (i % 8));
      continue;
    }
    RETURN_IF_ERROR(ChildFromJson(top, value, *sorted[i].value, here(Cat("{", sorted[i].name, "}")), out));
  }
  return absl::OkStatus();
}

// Converts one non-null JSON member into the column's Value.
absl::Status ValueFromJson(const Column& column, const json& j, Value* out) {
  switch (column.type) {
    case ColumnType::kBoolean:
      if (!j.is_boolean()) {
        return ColumnError(column, Cat("expected true or false, got ", Describe(j)));
      }
      *out = j.get<bool>();
      return absl::OkStatus();
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
      return IntegerFromJson(column, j, out);
    case ColumnType::kFloat:
    case ColumnType::kDouble:
      return FloatingFromJson(column, j, out);
    case ColumnType::kDecimal:
      return DecimalFromJson(column, j, out);
    case ColumnType::kString:
      if (!j.is_string()) {
        return ColumnError(column, Cat("expected a string, got ", Describe(j)));
      }
      *out = j.get<std::string>();
      return absl::OkStatus();
    case ColumnType::kBinary: {
      if (!j.is_string()) {
        return ColumnError(column, Cat("expected a base64 string, got ", Describe(j)));
      }
      const std::string& text = j.get_ref<const std::string&>();
      std::string bytes;
      // absl is lenient (missing padding, whitespace); re-encoding pins the
      // one canonical padded spelling.
      if (!absl::Base64Unescape(text, &bytes) || absl::Base64Escape(bytes) != text) {
        return ColumnError(column, "expected standard base64 with padding");
      }
      *out = std::move(bytes);
      return absl::OkStatus();
    }
    case ColumnType::kDate:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
      return TimeFromJson(column, j, out);
    case ColumnType::kTimestampLtz:
      return InstantFromJson(column, j, out);
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct: {
      std::string bytes;
      RETURN_IF_ERROR(NestedFromJson(column, column, j, "", &bytes));
      *out = std::move(bytes);
      return absl::OkStatus();
    }
  }
  return ColumnError(column, "unsupported type");
}

absl::StatusOr<Row> RowFromJsonImpl(const TableSchema& schema, const json& obj, bool key_only) {
  if (!obj.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  const std::vector<Column>& columns = schema.columns();
  Row row(columns.size());
  // A member naming a column is that column even when the name starts with
  // '_' (column names may); only the other '_' members are ignored.
  size_t matched_plain = 0;  // members found that do not start with '_'
  auto read = [&](int index) -> absl::Status {
    const Column& column = columns[index];
    auto it = obj.find(column.name);
    if (it != obj.end() && column.name[0] != '_') ++matched_plain;
    if (it == obj.end() || it->is_null()) {
      if (schema.IsKeyColumn(index)) {
        return absl::InvalidArgumentError(Cat("missing primary-key column '", column.name, "'"));
      }
      if (!column.nullable) {
        return absl::InvalidArgumentError(Cat("column '", column.name, "' is NOT NULL"));
      }
      return absl::OkStatus();
    }
    return ValueFromJson(column, *it, &row[index]);
  };
  if (key_only) {
    for (int index : schema.key_columns()) RETURN_IF_ERROR(read(index));
    return row;
  }
  for (int i = 0; i < static_cast<int>(columns.size()); ++i) RETURN_IF_ERROR(read(i));
  size_t plain = 0;
  for (const auto& [name, unused] : obj.items()) plain += name.empty() || name[0] != '_';
  if (plain != matched_plain) {
    for (const auto& [name, unused] : obj.items()) {
      if ((name.empty() || name[0] != '_') && !schema.ColumnIndex(name)) {
        return absl::InvalidArgumentError(Cat("unknown column '", name, "'"));
      }
    }
  }
  return row;
}

}  // namespace

absl::StatusOr<Row> RowFromJson(const TableSchema& schema, const nlohmann::json& obj,
                                bool key_only) {
  // Every access is type-checked first; the catch only keeps a missed case
  // from escaping as an exception.
  try {
    return RowFromJsonImpl(schema, obj, key_only);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(Cat("malformed row JSON: ", e.what()));
  }
}

namespace {

using ojson = nlohmann::ordered_json;

// The JSON of one non-null value; `text` is scratch space.
ojson ValueToJson(const Column& column, const Value& v, std::string* text) {
  switch (column.type) {
    case ColumnType::kBoolean:
      return BoolOf(v);
    case ColumnType::kTinyint:
    case ColumnType::kSmallint:
    case ColumnType::kInt:
    case ColumnType::kBigint:
      return IntOf(v);
    case ColumnType::kFloat:
    case ColumnType::kDouble: {
      double d = DoubleOf(v);
      if (std::string_view name = NonFiniteName(d); !name.empty()) return std::string(name);
      if (column.type == ColumnType::kFloat) {
        // The double nearest the float's shortest text, so 0.1f prints 0.1.
        text->clear();
        AppendShortest(static_cast<float>(d), text);
        std::from_chars(text->data(), text->data() + text->size(), d);
      }
      return d;
    }
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct:
      return NestedToJson(column, StringOf(v));
    default:
      text->clear();
      AppendText(column, v, text);
      return *text;
  }
}

// ARRAY as an array, STRUCT as an object with its fields in order, MAP as an
// object keyed by the text form of each key (the form AppendText writes).
// The bytes are trusted to be valid (checked when they were decoded or built);
// should they not be, the rest of the value reads as null.
ojson NestedToJson(const Column& type, std::string_view bytes) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  std::string text;
  Value scratch;
  auto child = [&](const Column& c) -> ojson {
    if (!DecodeLeafValue(c, &p, end, &scratch).ok()) {
      p = end;
      return nullptr;
    }
    return ValueToJson(c, scratch, &text);
  };
  uint64_t count = type.children.size();
  if (type.type != ColumnType::kStruct && GetVarint(&p, end, &count) != VarintResult::kOk) {
    return nullptr;
  }
  size_t bitmap_size = (count + 7) / 8;
  if (count > static_cast<uint64_t>(end - p) * 8 || static_cast<size_t>(end - p) < bitmap_size) {
    return nullptr;
  }
  const uint8_t* bitmap = reinterpret_cast<const uint8_t*>(p);
  p += bitmap_size;
  auto is_null = [&](uint64_t i) { return (bitmap[i / 8] >> (i % 8)) & 1; };
  if (type.type == ColumnType::kArray) {
    ojson out = ojson::array();
    for (uint64_t i = 0; i < count; ++i) {
      out.push_back(is_null(i) ? ojson(nullptr) : child(type.children[0]));
    }
    return out;
  }
  ojson out = ojson::object();
  auto& members = out.get_ref<ojson::object_t&>();
  for (uint64_t i = 0; i < count; ++i) {
    if (type.type == ColumnType::kStruct) {
      members.emplace_back(type.children[i].name,
                           is_null(i) ? ojson(nullptr) : child(type.children[i]));
      continue;
    }
    text.clear();
    if (DecodeLeafValue(type.children[0], &p, end, &scratch).ok()) {
      AppendText(type.children[0], scratch, &text);
    }
    std::string name = text;
    members.emplace_back(std::move(name), is_null(i) ? ojson(nullptr) : child(type.children[1]));
  }
  return out;
}

}  // namespace

// STRING values are copied as they are; dump() throws on invalid UTF-8 unless
// the caller passes an error handler.
nlohmann::ordered_json RowToJson(const TableSchema& schema, const Row& row) {
  using ojson = nlohmann::ordered_json;
  const std::vector<Column>& columns = schema.columns();
  ojson result = ojson::object();
  // Appending to the underlying vector skips ordered_map's linear duplicate
  // check, which would make wide rows quadratic; names are unique already.
  auto& members = result.get_ref<ojson::object_t&>();
  members.reserve(columns.size());
  std::string text;
  for (size_t i = 0; i < columns.size(); ++i) {
    const Column& column = columns[i];
    const Value& v = row[i];
    ojson j;  // null
    if (!IsNull(v)) j = ValueToJson(column, v, &text);
    members.emplace_back(column.name, std::move(j));
  }
  return result;
}

// ---------------------------------------------------------------------------
// CSV.

// An empty STRING or BINARY is written as "" so that it differs from NULL,
// which is an empty field.
std::string RowToCsv(const TableSchema& schema, const Row& row) {
  const std::vector<Column>& columns = schema.columns();
  std::string out;
  std::string field;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (IsNull(row[i])) continue;
    field.clear();
    AppendText(columns[i], row[i], &field);
    if (!field.empty() && field.find_first_of(",\"\r\n") == std::string::npos) {
      out.append(field);
      continue;
    }
    out.push_back('"');
    for (char c : field) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

std::string CsvHeader(const TableSchema& schema) {
  std::string out;
  for (const Column& column : schema.columns()) {
    if (!out.empty()) out.push_back(',');
    out.append(column.name);
  }
  return out;
}

}  // namespace deltasidecar::table
