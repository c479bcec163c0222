#include "table/arrow_ipc_writer.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/flatbuffer_builder.h"

namespace deltasidecar::table {

namespace {

using flatbuf::String;
using flatbuf::StructVector;
using flatbuf::Table;
using flatbuf::TableVector;

// Enumerations of Schema.fbs and Message.fbs.
constexpr int16_t kMetadataV5 = 4;
constexpr uint8_t kHeaderSchema = 1, kHeaderRecordBatch = 3;
constexpr uint8_t kTypeInt = 2, kTypeFloatingPoint = 3, kTypeBinary = 4, kTypeUtf8 = 5,
                  kTypeBool = 6, kTypeDecimal = 7, kTypeDate = 8, kTypeTimestamp = 10,
                  kTypeList = 12, kTypeStruct = 13, kTypeMap = 17;
constexpr int16_t kPrecisionSingle = 1, kPrecisionDouble = 2;
constexpr int16_t kDateDay = 0, kDateMillisecond = 1;

constexpr char kZeros[8] = {};

size_t Padded(size_t n) { return (n + 7) / 8 * 8; }

struct TypeInfo {
  uint8_t type;
  std::unique_ptr<Table> table;
  bool bits = false;  // bool: one bit per value
  bool variable = false;
  int width = 0;
  // Nested: list and map have offsets and one child, struct its fields.
  bool offsets = false;
  bool nested = false;
};

std::unique_ptr<Table> IntType(int bits, bool is_signed) {
  auto t = std::make_unique<Table>();
  t->Scalar<int32_t>(0, bits).Scalar<uint8_t>(1, is_signed ? 1 : 0);
  return t;
}

// The flatbuffer type of a C data interface format string.
absl::StatusOr<TypeInfo> TypeOf(std::string_view format) {
  auto fixed = [](uint8_t type, std::unique_ptr<Table> table, int width) {
    return TypeInfo{type, std::move(table), false, false, width};
  };
  if (format == "+l" || format == "+m" || format == "+s") {
    auto t = std::make_unique<Table>();
    const uint8_t type = format == "+l" ? kTypeList : format == "+m" ? kTypeMap : kTypeStruct;
    if (type == kTypeMap) t->Scalar<uint8_t>(0, 0);  // keysSorted: false
    TypeInfo info{type, std::move(t), false, false, 0};
    info.offsets = type != kTypeStruct;
    info.nested = true;
    return info;
  }
  if (format.size() == 1) {
    switch (format[0]) {
      case 'b': return TypeInfo{kTypeBool, std::make_unique<Table>(), true, false, 0};
      case 'c': return fixed(kTypeInt, IntType(8, true), 1);
      case 's': return fixed(kTypeInt, IntType(16, true), 2);
      case 'i': return fixed(kTypeInt, IntType(32, true), 4);
      case 'l': return fixed(kTypeInt, IntType(64, true), 8);
      case 'C': return fixed(kTypeInt, IntType(8, false), 1);
      case 'S': return fixed(kTypeInt, IntType(16, false), 2);
      case 'I': return fixed(kTypeInt, IntType(32, false), 4);
      case 'L': return fixed(kTypeInt, IntType(64, false), 8);
      case 'f': {
        auto t = std::make_unique<Table>();
        t->Scalar<int16_t>(0, kPrecisionSingle);
        return fixed(kTypeFloatingPoint, std::move(t), 4);
      }
      case 'g': {
        auto t = std::make_unique<Table>();
        t->Scalar<int16_t>(0, kPrecisionDouble);
        return fixed(kTypeFloatingPoint, std::move(t), 8);
      }
      case 'u': return TypeInfo{kTypeUtf8, std::make_unique<Table>(), false, true, 0};
      case 'z': return TypeInfo{kTypeBinary, std::make_unique<Table>(), false, true, 0};
    }
  }
  if (format == "tdD" || format == "tdm") {
    auto t = std::make_unique<Table>();
    t->Scalar<int16_t>(0, format == "tdD" ? kDateDay : kDateMillisecond);
    return fixed(kTypeDate, std::move(t), format == "tdD" ? 4 : 8);
  }
  if (format.size() >= 4 && format.substr(0, 2) == "ts" && format[3] == ':') {
    const std::string_view units = "smun";  // TimeUnit: SECOND .. NANOSECOND
    size_t unit = units.find(format[2]);
    if (unit != std::string_view::npos) {
      auto t = std::make_unique<Table>();
      t->Scalar<int16_t>(0, static_cast<int16_t>(unit));
      if (format.size() > 4) t->Ref(1, std::make_unique<String>(format.substr(4)));
      return fixed(kTypeTimestamp, std::move(t), 8);
    }
  }
  if (format.substr(0, 2) == "d:") {
    // "d:precision,scale" or "d:precision,scale,128"
    int32_t precision = 0, scale = 0;
    const char* p = format.data() + 2;
    const char* end = format.data() + format.size();
    auto r = std::from_chars(p, end, precision);
    bool ok = r.ec == std::errc() && r.ptr != end && *r.ptr == ',';
    if (ok) {
      r = std::from_chars(r.ptr + 1, end, scale);
      ok = r.ec == std::errc() &&
           (r.ptr == end || std::string_view(r.ptr, static_cast<size_t>(end - r.ptr)) == ",128");
    }
    if (ok) {
      auto t = std::make_unique<Table>();
      t->Scalar<int32_t>(0, precision).Scalar<int32_t>(1, scale).Scalar<int32_t>(2, 128);
      return fixed(kTypeDecimal, std::move(t), 16);
    }
  }
  return absl::InvalidArgumentError(Cat("Arrow IPC writer: unsupported format '", format, "'"));
}

// The encapsulated message: continuation, metadata size, metadata padded so
// that the body starts 8-byte aligned.
std::string Encapsulate(uint8_t header_type, std::unique_ptr<Table> header, int64_t body_length) {
  Table message;
  message.Scalar<int16_t>(0, kMetadataV5)
      .Scalar<uint8_t>(1, header_type)
      .Ref(2, std::move(header))
      .Scalar<int64_t>(3, body_length);
  std::string metadata = flatbuf::Finish(message);
  metadata.resize(Padded(metadata.size()), '\0');
  std::string out;
  flatbuf::internal::Put<uint32_t>(&out, 0xFFFFFFFFu);
  flatbuf::internal::Put<int32_t>(&out, static_cast<int32_t>(metadata.size()));
  out += metadata;
  return out;
}

absl::Status StreamError(ArrowArrayStream* stream, int rc) {
  const char* e = stream->get_last_error != nullptr ? stream->get_last_error(stream) : nullptr;
  std::string message = e != nullptr ? e : Cat("error ", rc);
  switch (rc) {
    case ENOENT: return absl::NotFoundError(message);
    case EINVAL: return absl::InvalidArgumentError(message);
    case ENOMEM: return absl::ResourceExhaustedError(message);
    case EBADMSG: return absl::DataLossError(message);
    default: return absl::InternalError(message);
  }
}

}  // namespace

void ArrowIpcWriter::Body::Add(const void* data, size_t size) {
  flatbuf::internal::Put<int64_t>(&buffers, length);
  flatbuf::internal::Put<int64_t>(&buffers, static_cast<int64_t>(size));
  pieces.push_back({data, size});
  length += static_cast<int64_t>(Padded(size));
}

absl::StatusOr<std::unique_ptr<Table>> ArrowIpcWriter::FieldOf(const ArrowSchema& schema,
                                                               int depth, FieldInfo* info) {
  const char* name = schema.name != nullptr ? schema.name : "";
  if (schema.dictionary != nullptr) {
    return absl::InvalidArgumentError(Cat("Arrow IPC writer: field '", name, "' is dictionary-encoded"));
  }
  if (depth > kMaxFieldDepth) {
    return absl::InvalidArgumentError(
        Cat("Arrow IPC writer: field '", name, "' is nested deeper than ", kMaxFieldDepth, " levels"));
  }
  ASSIGN_OR_RETURN(TypeInfo type, TypeOf(schema.format));
  info->layout = type.bits       ? Layout::kBits
                 : type.variable ? Layout::kVariable
                 : type.offsets  ? Layout::kOffsets
                 : type.nested   ? Layout::kStruct
                                 : Layout::kFixed;
  info->width = type.width;
  const bool want_one = type.offsets;
  if ((want_one && schema.n_children != 1) || (!type.nested && schema.n_children != 0)) {
    return absl::InvalidArgumentError(Cat("Arrow IPC writer: field '", name, "' of format '",
                                          schema.format, "' has ", schema.n_children, " children"));
  }
  auto children = std::make_unique<TableVector>();  // readers expect children, even none
  for (int64_t i = 0; i < schema.n_children; ++i) {
    info->children.emplace_back();
    ASSIGN_OR_RETURN(std::unique_ptr<Table> child,
                     FieldOf(*schema.children[i], depth + 1, &info->children.back()));
    children->Add(std::move(child));
  }
  auto field = std::make_unique<Table>();
  field->Ref(0, std::make_unique<String>(name))
      .Scalar<uint8_t>(1, (schema.flags & ARROW_FLAG_NULLABLE) != 0 ? 1 : 0)
      .Scalar<uint8_t>(2, type.type)
      .Ref(3, std::move(type.table))
      .Ref(5, std::move(children));
  return field;
}

absl::StatusOr<std::unique_ptr<ArrowIpcWriter>> ArrowIpcWriter::Open(const ArrowSchema& schema,
                                                                     Output out) {
  if (std::string_view(schema.format) != "+s") {
    return absl::InvalidArgumentError(
        Cat("Arrow IPC writer: the schema is '", schema.format, "', not a struct ('+s')"));
  }
  std::vector<FieldInfo> infos;
  auto fields = std::make_unique<TableVector>();
  for (int64_t i = 0; i < schema.n_children; ++i) {
    infos.emplace_back();
    ASSIGN_OR_RETURN(std::unique_ptr<Table> field, FieldOf(*schema.children[i], 1, &infos.back()));
    fields->Add(std::move(field));
  }
  auto header = std::make_unique<Table>();
  header->Scalar<int16_t>(0, 0).Ref(1, std::move(fields));  // little-endian
  RETURN_IF_ERROR(out(Encapsulate(kHeaderSchema, std::move(header), 0)));
  return std::unique_ptr<ArrowIpcWriter>(new ArrowIpcWriter(std::move(infos), std::move(out)));
}

absl::Status ArrowIpcWriter::WriteBatch(const ArrowArray& batch) {
  if (batch.n_children != static_cast<int64_t>(fields_.size()) || batch.offset != 0) {
    return absl::InvalidArgumentError(
        Cat("Arrow IPC writer: a batch of ", batch.n_children, " columns at offset ", batch.offset,
            " for a schema of ", fields_.size(), " fields"));
  }
  for (size_t i = 0; i < fields_.size(); ++i) {
    const ArrowArray& a = *batch.children[i];
    if (a.length != batch.length) {
      return absl::InvalidArgumentError(Cat("Arrow IPC writer: column ", i, " has length ", a.length,
                                            " in a batch of ", batch.length, " rows"));
    }
  }
  // The body: per array (depth first, a parent before its children) its
  // validity bitmap (empty without nulls), then its offsets, then its values.
  Body body;
  for (size_t i = 0; i < fields_.size(); ++i) {
    RETURN_IF_ERROR(AddArray(*batch.children[i], fields_[i], Cat("column ", i), &body));
  }
  auto header = std::make_unique<Table>();
  header->Scalar<int64_t>(0, batch.length)
      .Ref(1, std::make_unique<StructVector>(std::move(body.nodes), body.node_count, 8))
      .Ref(2, std::make_unique<StructVector>(std::move(body.buffers),
                                             static_cast<uint32_t>(body.pieces.size()), 8));
  RETURN_IF_ERROR(out_(Encapsulate(kHeaderRecordBatch, std::move(header), body.length)));
  for (const Piece& p : body.pieces) {
    if (p.size == 0) continue;
    RETURN_IF_ERROR(out_(std::string_view(static_cast<const char*>(p.data), p.size)));
    if (Padded(p.size) != p.size) RETURN_IF_ERROR(out_(std::string_view(kZeros, Padded(p.size) - p.size)));
  }
  return absl::OkStatus();
}

absl::Status ArrowIpcWriter::AddArray(const ArrowArray& a, const FieldInfo& field,
                                      const std::string& where, Body* body) {
  if (a.offset != 0) {
    return absl::InvalidArgumentError(Cat("Arrow IPC writer: ", where, " has offset ", a.offset));
  }
  const int64_t expected_buffers = field.layout == Layout::kVariable ? 3
                                   : field.layout == Layout::kStruct ? 1
                                                                     : 2;
  if (a.n_buffers != expected_buffers ||
      a.n_children != static_cast<int64_t>(field.children.size())) {
    return absl::InvalidArgumentError(Cat("Arrow IPC writer: ", where, " has ", a.n_buffers,
                                          " buffers and ", a.n_children, " children"));
  }
  const size_t n = static_cast<size_t>(a.length);
  const size_t bitmap = (n + 7) / 8;
  flatbuf::internal::Put<int64_t>(&body->nodes, a.length);
  flatbuf::internal::Put<int64_t>(&body->nodes, a.null_count);
  ++body->node_count;
  const bool validity = a.null_count != 0 && a.buffers[0] != nullptr;
  body->Add(a.buffers[0], validity ? bitmap : 0);
  int64_t child_length = a.length;  // a struct's children are as long as it
  switch (field.layout) {
    case Layout::kBits: body->Add(a.buffers[1], bitmap); break;
    case Layout::kFixed: body->Add(a.buffers[1], n * static_cast<size_t>(field.width)); break;
    case Layout::kStruct: break;
    case Layout::kVariable:
    case Layout::kOffsets: {
      const auto* offsets = static_cast<const int32_t*>(a.buffers[1]);
      if (offsets[0] != 0) {
        return absl::InvalidArgumentError(
            Cat("Arrow IPC writer: ", where, " has offsets that do not start at 0"));
      }
      body->Add(offsets, (n + 1) * sizeof(int32_t));
      if (field.layout == Layout::kVariable) {
        body->Add(a.buffers[2], static_cast<size_t>(offsets[n]));
      }
      child_length = offsets[n];
      break;
    }
  }
  for (size_t c = 0; c < field.children.size(); ++c) {
    const ArrowArray& child = *a.children[c];
    if (child.length != child_length) {
      return absl::InvalidArgumentError(Cat("Arrow IPC writer: ", where, " child ", c, " has length ",
                                            child.length, ", not ", child_length));
    }
    RETURN_IF_ERROR(AddArray(child, field.children[c], Cat(where, " child ", c), body));
  }
  return absl::OkStatus();
}

absl::Status ArrowIpcWriter::Finish() {
  std::string eos;
  flatbuf::internal::Put<uint32_t>(&eos, 0xFFFFFFFFu);
  flatbuf::internal::Put<int32_t>(&eos, 0);
  return out_(eos);
}

absl::Status WriteArrowIpcStream(ArrowArrayStream* stream, const ArrowIpcWriter::Output& out) {
  ArrowSchema schema{};
  if (int rc = stream->get_schema(stream, &schema); rc != 0) return StreamError(stream, rc);
  absl::StatusOr<std::unique_ptr<ArrowIpcWriter>> writer = ArrowIpcWriter::Open(schema, out);
  if (schema.release != nullptr) schema.release(&schema);
  RETURN_IF_ERROR(writer.status());
  while (true) {
    ArrowArray batch{};
    if (int rc = stream->get_next(stream, &batch); rc != 0) return StreamError(stream, rc);
    if (batch.release == nullptr) break;
    absl::Status s = (*writer)->WriteBatch(batch);
    batch.release(&batch);
    RETURN_IF_ERROR(s);
  }
  return (*writer)->Finish();
}

}  // namespace deltasidecar::table
