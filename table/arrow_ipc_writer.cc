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
                  kTypeBool = 6, kTypeDecimal = 7, kTypeDate = 8, kTypeTimestamp = 10;
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

absl::StatusOr<std::unique_ptr<ArrowIpcWriter>> ArrowIpcWriter::Open(const ArrowSchema& schema,
                                                                     Output out) {
  if (std::string_view(schema.format) != "+s") {
    return absl::InvalidArgumentError(
        Cat("Arrow IPC writer: the schema is '", schema.format, "', not a struct ('+s')"));
  }
  std::vector<FieldInfo> infos;
  auto fields = std::make_unique<TableVector>();
  for (int64_t i = 0; i < schema.n_children; ++i) {
    const ArrowSchema& child = *schema.children[i];
    if (child.n_children != 0 || child.dictionary != nullptr) {
      return absl::InvalidArgumentError(
          Cat("Arrow IPC writer: field '", child.name, "' is nested or dictionary-encoded"));
    }
    ASSIGN_OR_RETURN(TypeInfo type, TypeOf(child.format));
    infos.push_back({type.bits ? Layout::kBits : type.variable ? Layout::kVariable : Layout::kFixed,
                     type.width});
    auto field = std::make_unique<Table>();
    field->Ref(0, std::make_unique<String>(child.name != nullptr ? child.name : ""))
        .Scalar<uint8_t>(1, (child.flags & ARROW_FLAG_NULLABLE) != 0 ? 1 : 0)
        .Scalar<uint8_t>(2, type.type)
        .Ref(3, std::move(type.table))
        .Ref(5, std::make_unique<TableVector>());  // readers expect children, even none
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
  // The body: per column its validity bitmap (empty without nulls), then its
  // offsets for variable-length data, then its values.
  struct Piece {
    const void* data;
    size_t size;
  };
  std::vector<Piece> pieces;
  std::string nodes, buffers;
  int64_t body = 0;
  auto add = [&](const void* data, size_t size) {
    flatbuf::internal::Put<int64_t>(&buffers, body);
    flatbuf::internal::Put<int64_t>(&buffers, static_cast<int64_t>(size));
    pieces.push_back({data, size});
    body += static_cast<int64_t>(Padded(size));
  };
  for (size_t i = 0; i < fields_.size(); ++i) {
    const ArrowArray& a = *batch.children[i];
    if (a.offset != 0 || a.length != batch.length) {
      return absl::InvalidArgumentError(
          Cat("Arrow IPC writer: column ", i, " has offset ", a.offset, " and length ", a.length,
              " in a batch of ", batch.length, " rows"));
    }
    const size_t n = static_cast<size_t>(a.length);
    const size_t bitmap = (n + 7) / 8;
    const int64_t expected_buffers = fields_[i].layout == Layout::kVariable ? 3 : 2;
    if (a.n_buffers != expected_buffers) {
      return absl::InvalidArgumentError(
          Cat("Arrow IPC writer: column ", i, " has ", a.n_buffers, " buffers"));
    }
    flatbuf::internal::Put<int64_t>(&nodes, a.length);
    flatbuf::internal::Put<int64_t>(&nodes, a.null_count);
    const bool validity = a.null_count != 0 && a.buffers[0] != nullptr;
    add(a.buffers[0], validity ? bitmap : 0);
    switch (fields_[i].layout) {
      case Layout::kBits: add(a.buffers[1], bitmap); break;
      case Layout::kFixed: add(a.buffers[1], n * static_cast<size_t>(fields_[i].width)); break;
      case Layout::kVariable: {
        const auto* offsets = static_cast<const int32_t*>(a.buffers[1]);
        if (offsets[0] != 0) {
          return absl::InvalidArgumentError(
              Cat("Arrow IPC writer: column ", i, " has offsets that do not start at 0"));
        }
        add(offsets, (n + 1) * sizeof(int32_t));
        add(a.buffers[2], static_cast<size_t>(offsets[n]));
        break;
      }
    }
  }
  auto header = std::make_unique<Table>();
  const uint32_t columns = static_cast<uint32_t>(fields_.size());
  header->Scalar<int64_t>(0, batch.length)
      .Ref(1, std::make_unique<StructVector>(std::move(nodes), columns, 8))
      .Ref(2, std::make_unique<StructVector>(std::move(buffers),
                                             static_cast<uint32_t>(pieces.size()), 8));
  RETURN_IF_ERROR(out_(Encapsulate(kHeaderRecordBatch, std::move(header), body)));
  for (const Piece& p : pieces) {
    if (p.size == 0) continue;
    RETURN_IF_ERROR(out_(std::string_view(static_cast<const char*>(p.data), p.size)));
    if (Padded(p.size) != p.size) RETURN_IF_ERROR(out_(std::string_view(kZeros, Padded(p.size) - p.size)));
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
