// deltactl's reading commands: scan, export, get, changes, history and
// describe.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"
#include "table/table.h"
#include "tools/deltactl.h"
#include "tools/progress.h"

using deltasidecar::Cat;
using deltasidecar::tools::HumanBytes;
using deltasidecar::tools::Progress;
using nlohmann::json;

namespace deltasidecar::tools::deltactl {

bool g_key_absent = false;

namespace {

// Writes the rows of `it` to `to`; returns how many. `progress`, when given,
// shows the count.
absl::StatusOr<uint64_t> PrintRows(const dt::TableSchema& schema, dt::TableIterator& it,
                                   const std::string& format, bool with_op,
                                   const dt::ReadBounds& bounds, std::FILE* to = stdout,
                                   Progress* progress = nullptr) {
  if (format != "jsonl" && format != "csv") {
    return absl::InvalidArgumentError(Cat("--format must be jsonl or csv, got '", format, "'"));
  }
  std::string out;
  if (format == "csv") out = Cat(with_op ? "_op," : "", dt::CsvHeader(schema), "\n");
  dt::Row row(schema.columns().size());
  uint64_t rows = 0;
  for (; it.Valid(); it.Next()) {
    if (!bounds.Contains(it.key())) continue;
    ASSIGN_OR_RETURN(dt::RowOp op, dt::ValueOp(it.value()));
    std::fill(row.begin(), row.end(), dt::Value());
    RETURN_IF_ERROR(dt::DecodeKey(schema, it.key(), &row));
    if (op == dt::RowOp::kUpsert) RETURN_IF_ERROR(dt::DecodeValue(schema, it.value(), &row));
    const char* op_name = op == dt::RowOp::kUpsert ? "upsert" : "delete";
    if (format == "csv") {
      if (with_op) absl::StrAppend(&out, op_name, ",");
      absl::StrAppend(&out, dt::RowToCsv(schema, row), "\n");
    } else {
      nlohmann::ordered_json j;
      if (with_op) j["_op"] = op_name;
      nlohmann::ordered_json columns = dt::RowToJson(schema, row);
      for (auto& [k, v] : columns.items()) {
        // A delete carries only its key.
        if (op == dt::RowOp::kDelete && !schema.IsKeyColumn(*schema.ColumnIndex(k))) continue;
        j[k] = std::move(v);
      }
      out += j.dump();
      out += '\n';
    }
    ++rows;
    if (progress != nullptr && progress->Due()) progress->Show(Cat(rows, " rows"));
    if (out.size() > (1 << 20)) {
      if (std::fwrite(out.data(), 1, out.size(), to) != out.size()) return absl::InternalError("write failed");
      out.clear();
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), to) != out.size()) return absl::InternalError("write failed");
  RETURN_IF_ERROR(it.status());
  return rows;
}

// jsonl and csv are written here, into OUT.tmp-<pid> renamed over OUT when
// complete. parquet and arrow are written by the Python package
// (deltasidecar.export, through libdeltatable_arrow), which this process
// becomes: ${DELTA_PYTHON:-python3} must have deltasidecar[arrow] installed.
}  // namespace

absl::Status CmdExport(const Args& a) {
  if (a.format == "parquet" || a.format == "arrow") {
    std::string python = std::getenv("DELTA_PYTHON") ? std::getenv("DELTA_PYTHON") : "python3";
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    auto lib = self.parent_path().parent_path() / "lib" / "libdeltatable_arrow.so";
    if (!ec && std::getenv("DELTASIDECAR_ARROW_LIB") == nullptr && std::filesystem::exists(lib)) {
      setenv("DELTASIDECAR_ARROW_LIB", lib.c_str(), 1);
    }
    std::vector<std::string> args = {python, "-m", "deltasidecar.export", "--root", a.root, a.table,
                                     "--format", a.format};
    if (a.snapshot >= 0) args.insert(args.end(), {"--snapshot", std::to_string(a.snapshot)});
    if (!a.as_of.empty()) args.insert(args.end(), {"--as-of", a.as_of});
    if (!a.partitions.empty()) {
      ASSIGN_OR_RETURN(std::string terms, PartitionFilterTerms(a));
      args.insert(args.end(), {"--filter", terms});
    }
    args.push_back(a.file);
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::fflush(stdout);
    execvp(argv[0], argv.data());
    return absl::FailedPreconditionError(Cat(
        "--format ", a.format, " runs '", python, " -m deltasidecar.export', which could not start (",
        std::strerror(errno), "): activate the virtual environment that has deltasidecar[arrow] "
        "(scripts/setup-deps and scripts/build make .venv) or set DELTA_PYTHON"));
  }
  if (a.format != "jsonl" && a.format != "csv") {
    return absl::InvalidArgumentError(
        Cat("--format must be parquet, arrow, jsonl or csv, got '", a.format, "'"));
  }
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*table, a));
  ASSIGN_OR_RETURN(auto schema, table->SchemaOf(*snap));
  ASSIGN_OR_RETURN(dt::ReadBounds bounds, ReadBoundsOf(*schema, a));
  ASSIGN_OR_RETURN(auto it, table->NewScan(*snap, bounds));
  const std::string tmp = Cat(a.file, ".tmp-", getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(Cat("cannot create ", tmp, ": ", std::strerror(errno)));
  Progress progress(Cat("export ", a.table, "@", snap->id));
  absl::StatusOr<uint64_t> rows = PrintRows(*schema, *it, a.format, /*with_op=*/false, bounds, f, &progress);
  absl::Status s = rows.status();
  if (std::fclose(f) != 0 && s.ok()) s = absl::InternalError(Cat("writing ", tmp, " failed"));
  if (s.ok() && std::rename(tmp.c_str(), a.file.c_str()) != 0) {
    s = absl::InternalError(Cat("cannot rename ", tmp, " to ", a.file, ": ", std::strerror(errno)));
  }
  if (!s.ok()) {
    std::remove(tmp.c_str());
    return s;
  }
  progress.Done(Cat(*rows, " rows, done"));
  return absl::OkStatus();
}

absl::Status CmdScan(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*table, a));
  ASSIGN_OR_RETURN(auto schema, table->SchemaOf(*snap));
  ASSIGN_OR_RETURN(dt::ReadBounds bounds, ReadBoundsOf(*schema, a));
  ASSIGN_OR_RETURN(auto it, table->NewScan(*snap, bounds));
  return PrintRows(*schema, *it, a.format, /*with_op=*/false, bounds).status();
}

absl::Status CmdChanges(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  int64_t to = a.to;
  if (to < 0) {
    ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
    to = latest->id;
  }
  // Rows of every snapshot in between are read under the last one's schema version.
  ASSIGN_OR_RETURN(auto schema, table->SchemaOfSnapshot(to));
  ASSIGN_OR_RETURN(dt::ReadBounds bounds, ReadBoundsOf(*schema, a));
  ASSIGN_OR_RETURN(auto it, table->NewChanges(a.from, to, bounds));
  return PrintRows(*schema, *it, a.format, /*with_op=*/true, bounds).status();
}

// Returns NOT_FOUND (exit 3) when the key has no live row.
absl::Status CmdGet(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto snap, PickSnapshot(*table, a));
  ASSIGN_OR_RETURN(std::shared_ptr<const dt::TableSchema> read_schema, table->SchemaOf(*snap));
  const dt::TableSchema& schema = *read_schema;
  json obj = json::parse(a.key, nullptr, false);
  if (obj.is_discarded()) return absl::InvalidArgumentError("--key: malformed JSON");
  auto key_row = dt::RowFromJson(schema, obj, /*key_only=*/true);
  if (!key_row.ok()) return absl::InvalidArgumentError(Cat("--key: ", key_row.status().message()));
  std::string key = dt::EncodeKey(schema, *key_row);
  ASSIGN_OR_RETURN(auto value, table->Get(*snap, key));
  if (!value) {
    g_key_absent = true;
    return absl::NotFoundError(Cat("no row with key ", obj.dump(), " in snapshot ", snap->id));
  }
  ASSIGN_OR_RETURN(dt::Row row, dt::DecodeRow(schema, key, *value));
  fmt::print("{}\n", dt::RowToJson(schema, row).dump());
  return absl::OkStatus();
}

absl::Status CmdHistory(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto history, table->History());
  for (const auto& s : history) {
    std::vector<std::string> ids;
    for (const auto& id : s->identities) ids.push_back(Cat(id.writer_id, ":", id.checkpoint_id));
    if (a.history_format == "jsonl") {
      json j = {{"id", s->id}, {"time", FormatMs(s->time_ms)}, {"time_ms", s->time_ms},
                {"kind", dt::SnapshotKindName(s->kind)}, {"rows", s->added_entries},
                {"deletes", s->added_deletes}, {"files", s->FileCount()}, {"schema_id", s->schema_id},
                {"identities", json::array()}};
      for (const auto& id : s->identities) j["identities"].push_back({{"writer", id.writer_id}, {"checkpoint", id.checkpoint_id}});
      fmt::print("{}\n", j.dump());
    } else {
      std::string schema;
      if (s->kind == dt::SnapshotKind::kAlter) {
        auto changes = table->SchemaChangesOf(s->schema_id);
        schema = Cat(" schema=", s->schema_id, " changes=\"", changes.ok() ? *changes : "?", "\"");
      }
      fmt::print("id={} time={} kind={} rows={} deletes={} files={} identities={}{}\n", s->id,
                 FormatMs(s->time_ms), dt::SnapshotKindName(s->kind), s->added_entries,
                 s->added_deletes, s->FileCount(), ids.empty() ? "-" : absl::StrJoin(ids, ","),
                 schema);
    }
  }
  return absl::OkStatus();
}

absl::Status CmdDescribe(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
  ASSIGN_OR_RETURN(std::shared_ptr<const dt::TableSchema> schema, table->SchemaOf(*latest));
  nlohmann::ordered_json j;
  j["name"] = table->name();
  j["columns"] = schema->ColumnsString();
  std::vector<std::string> pk;
  for (int i : schema->key_columns()) pk.push_back(schema->columns()[i].name);
  j["primary_key"] = pk;
  j["buckets"] = schema->buckets();
  std::vector<std::string> partition_keys(pk.begin(), pk.begin() + schema->partition_key_count());
  j["partition_keys"] = partition_keys;
  j["schema_id"] = schema->id();
  j["options"] = table->properties();
  const dt::TableOptions& effective = table->options();
  j["retention"] = {{"min_snapshots", effective.retention.min_snapshots},
                    {"max_snapshots", effective.retention.max_snapshots},
                    {"max_age", absl::FormatDuration(effective.retention.max_age)},
                    {"consumer_max_age", absl::FormatDuration(effective.retention.consumer_max_age)}};
  j["compaction"] = {{"trigger_files", effective.compaction.trigger_files},
                     {"size_ratio", effective.compaction.size_ratio},
                     {"max_size_amplification", effective.compaction.max_size_amplification}};
  j["latest_snapshot"] = latest->id;
  j["latest_time"] = FormatMs(latest->time_ms);
  j["files"] = latest->FileCount();
  if (schema->partitioned()) {
    j["partitions"] = dt::Table::Partitions(*latest).size();
    j["partition_expiration"] = effective.partition_expiration == absl::InfiniteDuration()
                                    ? "never"
                                    : absl::FormatDuration(effective.partition_expiration);
  }
  j["stored_entries"] = latest->TotalEntries();
  j["writers"] = json::object();
  for (const auto& [w, st] : latest->writers) {
    j["writers"][w] = {{"checkpoint", st.checkpoint_id}, {"snapshot", st.snapshot_id}};
  }
  ASSIGN_OR_RETURN(auto consumers, table->consumers().List());
  j["consumers"] = json::object();
  for (const auto& c : consumers) {
    j["consumers"][c.name] = {
        {"position", c.position}, {"lag", latest->id - c.position}, {"written", FormatMs(c.time_ms)}};
  }
  fmt::print("{}\n", j.dump(2));
  return absl::OkStatus();
}

}  // namespace deltasidecar::tools::deltactl
