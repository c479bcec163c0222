// The text forms of one column value (value_text.h): dates and times from
// and to days, milliseconds and nanoseconds since the epoch, decimals, the
// shortest float text, and the JSON of values and of nested values.
#include "table/value_text.h"

#include <charconv>
#include <cmath>
#include <iterator>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/nested_value.h"

namespace deltasidecar::table {

using ojson = nlohmann::ordered_json;

namespace {

using u128 = unsigned __int128;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
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

static_assert(DaysFromCivil(1, 1, 1) == kMinDay);
static_assert(DaysFromCivil(9999, 12, 31) == kMaxDay);

void AppendDate(int64_t days, std::string* out) {
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  absl::StrAppendFormat(out, "%04d-%02d-%02d", y, m, d);
}

// Appends the date of `ticks` (`unit` ticks per second since the epoch) and
// returns the second of that day and the ticks past the second. Written so
// that no intermediate overflows, even for INT64_MIN.
int64_t AppendDateOfTicks(int64_t ticks, int64_t unit, int64_t* frac, std::string* out) {
  int64_t seconds = ticks / unit;
  *frac = ticks % unit;
  if (*frac < 0) {
    *frac += unit;
    --seconds;
  }
  int64_t days = FloorDiv(seconds, 86400);
  AppendDate(days, out);
  return seconds - days * 86400;
}

// `unit` ticks per second (1000 or 1e9); `digits` fractional digits written.
void AppendDateTime(int64_t ticks, int64_t unit, int digits, std::string* out) {
  int64_t frac;
  int64_t sod = AppendDateOfTicks(ticks, unit, &frac, out);
  absl::StrAppendFormat(out, " %02d:%02d:%02d.%0*d", sod / 3600, sod / 60 % 60, sod % 60, digits,
                        frac);
}

// TIMESTAMP_LTZ(digits): ISO-8601 instant "YYYY-MM-DDTHH:MM:SS[.f{digits}]Z".
void AppendInstant(int64_t nanos, int digits, std::string* out) {
  int64_t frac;
  int64_t sod = AppendDateOfTicks(nanos, kNanosPerSecond, &frac, out);
  absl::StrAppendFormat(out, "T%02d:%02d:%02d", sod / 3600, sod / 60 % 60, sod % 60);
  if (digits > 0) {
    for (int i = digits; i < 9; ++i) frac /= 10;
    absl::StrAppendFormat(out, ".%0*d", digits, frac);
  }
  out->push_back('Z');
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

// ARRAY as an array, STRUCT as an object with its fields in order, MAP as an
// object keyed by the text form of each key (the form AppendValueText writes).
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
      AppendValueText(type.children[0], scratch, &text);
    }
    std::string name = text;
    members.emplace_back(std::move(name), is_null(i) ? ojson(nullptr) : child(type.children[1]));
  }
  return out;
}

}  // namespace

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

void AppendValueText(const Column& column, const Value& v, std::string* out) {
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
      AppendValueText(column, v, text);
      return *text;
  }
}

}  // namespace deltasidecar::table
