// gtest assertions on absl::Status and absl::StatusOr, for the tests of any
// layer: ASSERT_OK(status), ASSERT_OK_AND_ASSIGN(lhs, status_or) and
// EXPECT_CODE(status or status_or, kNotFound).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace deltasidecar::testing {

template <typename T>
inline absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
inline absl::Status StatusOf(const absl::Status& s) { return s; }

}  // namespace deltasidecar::testing

#define ASSERT_OK(expr)                                \
  do {                                                 \
    const absl::Status ds_s_ = (expr);                 \
    ASSERT_TRUE(ds_s_.ok()) << #expr << ": " << ds_s_; \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                         \
  auto DS_CONCAT_T_(so_, __LINE__) = (expr);                    \
  ASSERT_TRUE(DS_CONCAT_T_(so_, __LINE__).ok())                 \
      << #expr << ": " << DS_CONCAT_T_(so_, __LINE__).status(); \
  lhs = std::move(DS_CONCAT_T_(so_, __LINE__)).value()
#define DS_CONCAT_T_(a, b) DS_CONCAT_T_INNER_(a, b)
#define DS_CONCAT_T_INNER_(a, b) a##b
#define EXPECT_CODE(expr, code_)                                                \
  do {                                                                          \
    const absl::Status ds_s_ = ::deltasidecar::testing::StatusOf(expr);         \
    EXPECT_EQ(ds_s_.code(), absl::StatusCode::code_) << #expr << ": " << ds_s_; \
  } while (0)
