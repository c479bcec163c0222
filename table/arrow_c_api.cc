#include "table/arrow_c_api.h"

#include <memory>
#include <new>
#include <string>

#include "table/arrow_reader.h"
#include "table/base/status_macros.h"

namespace dt = deltasidecar::table;

namespace {

thread_local std::string g_last_error;

int Report(const absl::Status& s) {
  if (s.ok()) return 0;
  g_last_error = std::string(s.message());
  return static_cast<int>(s.code());
}

std::string_view Text(const char* p) { return p == nullptr ? std::string_view() : std::string_view(p); }

absl::StatusOr<std::shared_ptr<dt::Table>> OpenTable(const char* root, const char* table) {
  if (root == nullptr || table == nullptr) return absl::InvalidArgumentError("root and table are required");
  ASSIGN_OR_RETURN(auto t, dt::Table::Open(root, table));
  return std::shared_ptr<dt::Table>(std::move(t));
}

absl::StatusOr<std::shared_ptr<const dt::Snapshot>> PickSnapshot(dt::Table& table, int64_t snapshot,
                                                                 int64_t as_of_ms) {
  if (snapshot >= 0) return table.SnapshotById(snapshot);
  if (as_of_ms >= 0) return table.SnapshotAsOf(absl::FromUnixMillis(as_of_ms));
  return table.LatestSnapshot();
}

absl::StatusOr<dt::ArrowReadOptions> ReadOptions(const dt::TableSchema& schema, const char* columns,
                                                 const char* filter, int64_t batch_rows,
                                                 int threads) {
  dt::ArrowReadOptions options;
  ASSIGN_OR_RETURN(options.columns, dt::ParseColumnList(schema, Text(columns)));
  ASSIGN_OR_RETURN(options.range, dt::ParseKeyFilter(schema, Text(filter)));
  if (batch_rows > 0) options.batch_rows = batch_rows;
  options.threads = threads;
  return options;
}

absl::Status Scan(const char* root, const char* table, int64_t snapshot, int64_t as_of_ms,
                  const char* columns, const char* filter, int64_t batch_rows, int threads,
                  ArrowArrayStream* out) {
  if (out == nullptr) return absl::InvalidArgumentError("out is NULL");
  ASSIGN_OR_RETURN(auto t, OpenTable(root, table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*t, snapshot, as_of_ms));
  ASSIGN_OR_RETURN(auto schema, t->SchemaOf(*snap));
  ASSIGN_OR_RETURN(auto options, ReadOptions(*schema, columns, filter, batch_rows, threads));
  return dt::ScanToArrow(std::move(t), std::move(snap), options, out);
}

absl::Status Changes(const char* root, const char* table, int64_t from, int64_t to,
                     const char* columns, const char* filter, int64_t batch_rows,
                     ArrowArrayStream* out) {
  if (out == nullptr) return absl::InvalidArgumentError("out is NULL");
  ASSIGN_OR_RETURN(auto t, OpenTable(root, table));
  if (to < 0) {
    ASSIGN_OR_RETURN(auto latest, t->LatestSnapshot());
    to = latest->id;
  }
  ASSIGN_OR_RETURN(auto schema, t->SchemaOfSnapshot(to));
  ASSIGN_OR_RETURN(auto options, ReadOptions(*schema, columns, filter, batch_rows, 1));
  return dt::ChangesToArrow(std::move(t), from, to, options, out);
}

template <typename F>
int Guard(F f) {
  try {
    return Report(f());
  } catch (const std::bad_alloc&) {
    return Report(absl::ResourceExhaustedError("out of memory"));
  } catch (const std::exception& e) {
    return Report(absl::InternalError(e.what()));
  }
}

}  // namespace

extern "C" {

int deltatable_arrow_scan(const char* root, const char* table, int64_t snapshot, int64_t as_of_ms,
                          const char* columns, const char* filter, int64_t batch_rows, int threads,
                          ArrowArrayStream* out) {
  return Guard([&] {
    return Scan(root, table, snapshot, as_of_ms, columns, filter, batch_rows, threads, out);
  });
}

int deltatable_arrow_changes(const char* root, const char* table, int64_t from, int64_t to,
                             const char* columns, const char* filter, int64_t batch_rows,
                             ArrowArrayStream* out) {
  return Guard([&] { return Changes(root, table, from, to, columns, filter, batch_rows, out); });
}

int deltatable_arrow_resolve_snapshot(const char* root, const char* table, int64_t snapshot,
                                      int64_t as_of_ms, int64_t* out) {
  return Guard([&]() -> absl::Status {
    if (out == nullptr) return absl::InvalidArgumentError("out is NULL");
    ASSIGN_OR_RETURN(auto t, OpenTable(root, table));
    ASSIGN_OR_RETURN(auto snap, PickSnapshot(*t, snapshot, as_of_ms));
    *out = snap->id;
    return absl::OkStatus();
  });
}

const char* deltatable_arrow_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
