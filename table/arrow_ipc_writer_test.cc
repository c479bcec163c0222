// The IPC writer's framing and errors. That readers accept what it writes is
// checked with pyarrow (connector/python/tests/test_arrow_reads.py, through a
// sidecar, every type, NULLs, empty results, many batches).
#include "table/arrow_ipc_writer.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deltasidecar::table {
namespace {

using ::testing::HasSubstr;

void NoRelease(ArrowSchema* s) { s->release = nullptr; }
void NoRelease(ArrowArray* a) { a->release = nullptr; }

uint32_t U32(const std::string& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// One nullable int32 column "x" and one utf8 column "s".
struct TwoColumns {
  ArrowSchema x{"i", "x", nullptr, ARROW_FLAG_NULLABLE, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema s{"u", "s", nullptr, 0, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema* children[2] = {&x, &s};
  ArrowSchema root{"+s", "", nullptr, 0, 2, children, nullptr, NoRelease, nullptr};

  uint8_t validity = 0b101;
  int32_t ints[3] = {1, 0, 3};
  int32_t offsets[4] = {0, 2, 2, 5};
  const char* chars = "abcde";
  const void* xb[2] = {&validity, ints};
  const void* sb[3] = {nullptr, offsets, chars};
  ArrowArray xa{3, 1, 0, 2, 0, xb, nullptr, nullptr, NoRelease, nullptr};
  ArrowArray sa{3, 0, 0, 3, 0, sb, nullptr, nullptr, NoRelease, nullptr};
  ArrowArray* arrays[2] = {&xa, &sa};
  const void* none[1] = {nullptr};
  ArrowArray batch{3, 0, 0, 1, 2, none, arrays, nullptr, NoRelease, nullptr};
};

TEST(ArrowIpcWriterTest, WritesEncapsulatedMessagesAndTheEndMarker) {
  TwoColumns t;
  std::string out;
  auto writer = ArrowIpcWriter::Open(t.root, [&](std::string_view b) {
    out.append(b);
    return absl::OkStatus();
  });
  ASSERT_TRUE(writer.ok()) << writer.status();
  const size_t schema_end = out.size();
  ASSERT_EQ(U32(out, 0), 0xFFFFFFFFu);
  EXPECT_EQ(schema_end, 8 + U32(out, 4));
  EXPECT_EQ(schema_end % 8, 0u);
  ASSERT_TRUE((*writer)->WriteBatch(t.batch).ok());
  ASSERT_EQ(U32(out, schema_end), 0xFFFFFFFFu);
  const size_t body_start = schema_end + 8 + U32(out, schema_end + 4);
  EXPECT_EQ(body_start % 8, 0u);
  // Body: x validity (8), x values (16), s offsets (16), s data (8).
  EXPECT_EQ(out.size() - body_start, 48u);
  EXPECT_EQ(static_cast<uint8_t>(out[body_start]), 0b101);
  EXPECT_EQ(out.substr(body_start + 40, 5), "abcde");
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ(out.substr(out.size() - 8), std::string("\xff\xff\xff\xff\0\0\0\0", 8));
}

TEST(ArrowIpcWriterTest, RefusesWhatItDoesNotWrite) {
  TwoColumns t;
  auto sink = [](std::string_view) { return absl::OkStatus(); };
  t.s.format = "+l";
  auto writer = ArrowIpcWriter::Open(t.root, sink);
  EXPECT_TRUE(absl::IsInvalidArgument(writer.status())) << writer.status();
  t.s.format = "vu";
  writer = ArrowIpcWriter::Open(t.root, sink);
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("unsupported format 'vu'"));

  t.s.format = "u";
  writer = ArrowIpcWriter::Open(t.root, sink);
  ASSERT_TRUE(writer.ok());
  t.xa.offset = 1;
  EXPECT_TRUE(absl::IsInvalidArgument((*writer)->WriteBatch(t.batch)));
  t.xa.offset = 0;
  t.batch.n_children = 1;
  EXPECT_TRUE(absl::IsInvalidArgument((*writer)->WriteBatch(t.batch)));
}

TEST(ArrowIpcWriterTest, AnOutputErrorEndsTheWriting) {
  TwoColumns t;
  int calls = 0;
  auto writer = ArrowIpcWriter::Open(t.root, [&](std::string_view) {
    return ++calls > 1 ? absl::CancelledError("gone") : absl::OkStatus();
  });
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE(absl::IsCancelled((*writer)->WriteBatch(t.batch)));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace deltasidecar::table
