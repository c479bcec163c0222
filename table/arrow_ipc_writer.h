// Writes the Arrow IPC streaming format (Arrow's "Columnar format" document,
// "IPC Streaming Format") from the Arrow C stream interface, without an Arrow
// library: a Schema message, one RecordBatch message per batch, then the
// end-of-stream marker. Each message is the continuation marker 0xFFFFFFFF,
// the int32 size of the metadata, the flatbuffer Message (Message.fbs,
// Schema.fbs; metadata version V5) padded to 8 bytes, then the body buffers,
// each padded to 8 bytes. Any Arrow implementation reads the result
// (pyarrow.ipc.open_stream, arrow-rs StreamReader, ...).
//
// Types written: those the table reader emits (arrow_reader.h): bool,
// int8/16/32/64, float32/64, decimal128(p,s), date32, timestamp (any unit,
// with or without a zone), utf8, binary, and list ("+l"), map ("+m") and
// struct ("+s") of these to kMaxFieldDepth levels; fields of a struct schema
// ("+s"); arrays with offset 0 and no dictionary, a list's or map's child
// exactly as long as its last offset says.
//
// Thread-safety: none; one writer per stream. Errors: INVALID_ARGUMENT for a
// schema or array outside what is written above; those of the output, which
// end the writing; a failing input stream's error (by its errno: ENOENT
// NOT_FOUND, EINVAL INVALID_ARGUMENT, ENOMEM RESOURCE_EXHAUSTED, else
// INTERNAL) with its get_last_error message.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "table/arrow_c_abi.h"

namespace deltasidecar::table::flatbuf {
class Table;
}

namespace deltasidecar::table {

class ArrowIpcWriter {
 public:
  // Takes the next bytes of the stream; may be called with any split of it.
  using Output = std::function<absl::Status(std::string_view bytes)>;

  // Writes the Schema message of `schema` (a "+s" struct) to `out`.
  static absl::StatusOr<std::unique_ptr<ArrowIpcWriter>> Open(const ArrowSchema& schema,
                                                              Output out);
  // Writes one RecordBatch message for `batch` (a struct array of the schema's
  // fields). The batch stays owned by the caller.
  absl::Status WriteBatch(const ArrowArray& batch);
  // Writes the end-of-stream marker; nothing may be written after it.
  absl::Status Finish();

 private:
  // A column's type is nested at most this deep (the table's 32 levels, plus
  // a map's entries struct at each level).
  static constexpr int kMaxFieldDepth = 64;

  enum class Layout {
    kBits,      // bool: validity, bits
    kFixed,     // validity, values
    kVariable,  // utf8, binary: validity, offsets, bytes
    kOffsets,   // list, map: validity, offsets; one child
    kStruct,    // validity; its fields as children
  };
  struct FieldInfo {
    Layout layout = Layout::kFixed;
    int width = 0;  // bytes per value for kFixed
    std::vector<FieldInfo> children;
  };
  struct Piece {
    const void* data;
    size_t size;
  };
  // A record batch's FieldNodes, Buffers and the body they describe.
  struct Body {
    std::string nodes, buffers;
    uint32_t node_count = 0;
    std::vector<Piece> pieces;
    int64_t length = 0;
    void Add(const void* data, size_t size);
  };

  // The Field table of `schema` (depth 1 for a column), filling `info`.
  static absl::StatusOr<std::unique_ptr<flatbuf::Table>> FieldOf(const ArrowSchema& schema,
                                                                 int depth, FieldInfo* info);
  // Appends the node and buffers of `a` and of its children to `body`.
  static absl::Status AddArray(const ArrowArray& a, const FieldInfo& field,
                               const std::string& where, Body* body);
  ArrowIpcWriter(std::vector<FieldInfo> fields, Output out)
      : fields_(std::move(fields)), out_(std::move(out)) {}

  std::vector<FieldInfo> fields_;
  Output out_;
};

// Writes all of `stream` (schema, every batch, end marker) to `out`; the
// stream is left for the caller to release.
absl::Status WriteArrowIpcStream(ArrowArrayStream* stream, const ArrowIpcWriter::Output& out);

}  // namespace deltasidecar::table
