// Small helpers the fuzz targets share: failing loudly with what was expected,
// and splitting an input into lines.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace deltasidecar::fuzz {

// Aborts (a finding, under libFuzzer) naming what differed.
[[noreturn]] inline void Fail(const char* what, const std::string& expected, const std::string& got) {
  std::fprintf(stderr, "%s\n  expected: %s\n  got:      %s\n", what, expected.c_str(), got.c_str());
  std::abort();
}

// Aborts unless `s` is OK or INVALID_ARGUMENT (how a parser refuses input).
inline void CheckInvalidArgument(const absl::Status& s, const char* what) {
  if (!s.ok() && !absl::IsInvalidArgument(s)) Fail(what, "INVALID_ARGUMENT", s.ToString());
}

// Takes the text up to the next '\n' (or the end) off *rest.
inline std::string_view NextLine(std::string_view* rest) {
  size_t end = rest->find('\n');
  std::string_view line = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return line;
}

}  // namespace deltasidecar::fuzz
