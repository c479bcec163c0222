// deltactl: the command-line client of delta tables stored under a table root.
// Works directly on the files (no server needed), alongside any running
// delta-sidecar that commits to the same root.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "table/base/absl_compat.h"
#include "table/row.h"
#include "table/row_csv.h"
#include "table/row_json.h"
#include "table/base/status_macros.h"
#include "table/table.h"
#include "tools/deltactl.h"
#include "tools/progress.h"

using deltasidecar::Cat;
using deltasidecar::SV;
using deltasidecar::tools::HumanBytes;
using deltasidecar::tools::Progress;
using nlohmann::json;

namespace deltasidecar::tools::deltactl {

// Snapshot and checkpoint ids are whole numbers from 0 up.
const CLI::Validator kNonNegativeId(
    [](std::string& text) -> std::string {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v) || v < 0) return "'" + text + "' is not an id (a whole number, 0 or more)";
      return "";
    },
    "ID");

absl::StatusOr<absl::Time> ParseTimeArg(const std::string& text) {
  int64_t ms;
  if (absl::SimpleAtoi(text, &ms)) return absl::FromUnixMillis(ms);
  for (const char* f : {"%Y-%m-%d %H:%M:%E*S", "%Y-%m-%dT%H:%M:%E*S", "%Y-%m-%dT%H:%M:%E*SZ",
                        "%Y-%m-%dT%H:%M:%E*S%Ez", "%Y-%m-%d"}) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(f, text, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError(Cat(
      "cannot parse time '", text,
      "': use 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC), RFC 3339, or milliseconds since the epoch"));
}

std::string FormatMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

absl::StatusOr<std::shared_ptr<const dt::Snapshot>> PickSnapshot(dt::Table& table, const Args& a) {
  if (a.snapshot >= 0) return table.SnapshotById(a.snapshot);
  if (!a.as_of.empty()) {
    ASSIGN_OR_RETURN(absl::Time t, ParseTimeArg(a.as_of));
    return table.SnapshotAsOf(t);
  }
  return table.LatestSnapshot();
}

absl::Status CmdCreate(const Args& a) {
  ASSIGN_OR_RETURN(auto schema,
                   dt::TableSchema::Parse(a.schema, a.primary_key, a.buckets, a.partition_by));
  ASSIGN_OR_RETURN(dt::TableProperties properties, dt::TablePropertiesFromArgs(a.options));
  absl::Status created = dt::Table::Create(a.root, a.table, schema, {}, properties);
  if (absl::IsAlreadyExists(created) && a.if_not_exists) {
    // Only a table with this very schema counts as the one asked for.
    ASSIGN_OR_RETURN(auto existing, dt::Table::Open(a.root, a.table));
    ASSIGN_OR_RETURN(auto current, existing->CurrentSchema());
    if (current->ToJson() != schema.ToJson()) {
      return absl::AlreadyExistsError(Cat("table ", a.table, " exists with another schema: ",
                                          current->ColumnsString()));
    }
    fmt::print("table {} exists\n", a.table);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(created);
  fmt::print("created table {} ({} buckets{})\n", a.table, schema.buckets(),
             schema.partitioned() ? " in each partition" : "");
  return absl::OkStatus();
}

// Reads the whole file into one batch before anything is written, so a bad
// line leaves the table exactly as it was. On a terminal, stderr shows the
// rows and bytes read, then the commit.
absl::Status CmdImport(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  if (a.writer.empty() != (a.checkpoint < 0)) {
    return absl::InvalidArgumentError("--writer and --checkpoint go together");
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  std::string of_total;  // " of <size>" when the input's size is known
  if (a.file != "-") {
    file.open(a.file, std::ios::binary);
    if (!file) return absl::NotFoundError(Cat("cannot open ", a.file));
    in = &file;
    std::error_code ec;
    if (std::filesystem::is_regular_file(a.file, ec)) {
      uint64_t size = std::filesystem::file_size(a.file, ec);
      if (!ec) of_total = Cat(" of ", HumanBytes(size));
    }
  }
  // Rows are read and written under the current schema version.
  ASSIGN_OR_RETURN(std::shared_ptr<const dt::TableSchema> current, table->CurrentSchema());
  const dt::TableSchema& schema = *current;
  dt::MutationBatch batch;
  std::string line;
  Progress progress(Cat("import ", a.table));
  uint64_t rows = 0, bytes_read = 0;
  auto read_so_far = [&] { return Cat(rows, " rows, ", HumanBytes(bytes_read), of_total, " read"); };
  for (int64_t lineno = 1; std::getline(*in, line); ++lineno) {
    bytes_read += line.size() + 1;
    auto where = [&](std::string_view msg) {
      return absl::InvalidArgumentError(Cat(a.file, ":", lineno, ": ", msg));
    };
    if (line.size() > kMaxImportLineBytes) return where(Cat("line is longer than ", kMaxImportLineBytes, " bytes"));
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return where("malformed JSON");
    bool is_delete = false;
    if (obj.is_object() && obj.contains("_op")) {
      const json& op = obj["_op"];
      if (op == "delete") {
        is_delete = true;
      } else if (op != "upsert") {
        // Name the value without serializing it: it may be arbitrarily large or deep.
        std::string got = op.is_string() ? "\"" + op.get<std::string>().substr(0, 40) + "\"" : op.type_name();
        return where(Cat("_op must be \"upsert\" or \"delete\", got ", got));
      }
    }
    auto row = dt::RowFromJson(schema, obj, /*key_only=*/is_delete);
    if (!row.ok()) return where(SV(row.status().message()));
    if (is_delete) {
      batch.Delete(schema, *row);
    } else {
      batch.Upsert(schema, *row);
    }
    ++rows;
    if (progress.Due()) progress.Show(read_so_far());
  }
  if (in->bad()) return absl::InternalError(Cat("reading ", a.file, " failed"));
  std::vector<dt::CommitIdentity> ids;
  if (!a.writer.empty()) ids.push_back({a.writer, a.checkpoint});
  progress.Show(Cat(read_so_far(), "; writing and committing"));
  ASSIGN_OR_RETURN(auto result, table->Commit(batch, ids));
  progress.Done(Cat(read_so_far(), "; ",
                    result.already_committed ? "already committed"
                                             : Cat("committed as snapshot ", result.snapshot_id)));
  fmt::print("{}\n", result.snapshot_id);
  if (result.already_committed) {
    fmt::print(stderr, "deltactl: {}:{} was already committed; nothing written\n", a.writer, a.checkpoint);
  }
  std::fflush(stdout);
  if (!a.no_maintenance) {
    Progress maintenance(Cat("maintenance ", a.table));
    maintenance.Show("compacting and expiring snapshots");
    absl::Status m = table->RunMaintenance();
    maintenance.Done(m.ok() ? "done" : "failed");
    if (!m.ok()) fmt::print(stderr, "deltactl: warning: maintenance after commit: {}\n", m.message());
  }
  return absl::OkStatus();
}

// Removes a table: its directory is first renamed to a hidden name (readers
// and Table::List ignore names starting with '.'), so the table disappears at
// once, then deleted. Writers still committing to it fail.
absl::Status CmdDrop(const Args& a) {
  RETURN_IF_ERROR(dt::ValidateTableName(a.table));
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  table.reset();
  const auto dir = std::filesystem::path(a.root) / a.table;
  const auto hidden = std::filesystem::path(a.root) / Cat(".tmp-drop-", a.table, "-", getpid());
  std::error_code ec;
  std::filesystem::rename(dir, hidden, ec);
  if (ec) return absl::InternalError(Cat("cannot rename ", dir.string(), ": ", ec.message()));
  std::filesystem::remove_all(hidden, ec);
  if (ec) return absl::InternalError(Cat("table dropped, but removing ", hidden.string(), " failed: ", ec.message()));
  fmt::print("dropped table {}\n", a.table);
  return absl::OkStatus();
}

// Applies the changes given as one ALTER snapshot; prints the new schema.
absl::Status CmdAlter(const Args& a) {
  ASSIGN_OR_RETURN(std::vector<dt::SchemaChange> changes, dt::ParseSchemaChanges(a.changes));
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  ASSIGN_OR_RETURN(dt::Table::AlterResult result, table->Alter(changes));
  fmt::print("altered table {}: schema version {} (snapshot {}): {}\n", a.table,
             result.schema->id(), result.snapshot_id, result.schema->ColumnsString());
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ConsumerMaxAge(const Args& a) {
  absl::Duration age;
  if (!absl::ParseDuration(a.consumer_max_age, &age) || age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        Cat("--consumer-max-age: cannot parse '", a.consumer_max_age, "' (use e.g. 24h or 30m)"));
  }
  return age;
}

// The table opened with --consumer-max-age as its retention's.
absl::StatusOr<std::unique_ptr<dt::Table>> OpenWithConsumerMaxAge(const Args& a) {
  dt::TableOptions options;
  ASSIGN_OR_RETURN(options.retention.consumer_max_age, ConsumerMaxAge(a));
  return dt::Table::Open(a.root, a.table, options);
}

// One line per consumer: name, position, lag behind the latest snapshot,
// when the position was written, and whether it holds expiry; or --drop one.
absl::Status CmdConsumers(const Args& a) {
  ASSIGN_OR_RETURN(absl::Duration max_age, ConsumerMaxAge(a));
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  if (!a.drop_consumer.empty()) {
    RETURN_IF_ERROR(table->consumers().Drop(a.drop_consumer));
    fmt::print("dropped consumer {}\n", a.drop_consumer);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
  ASSIGN_OR_RETURN(auto consumers, table->consumers().List());
  for (const auto& c : consumers) {
    const bool holds = dt::OldestHeldSnapshot({c}, max_age, absl::Now()).has_value();
    fmt::print("{} position={} lag={} written={} {}\n", c.name, c.position, latest->id - c.position,
               FormatMs(c.time_ms), holds ? "holds" : "stale");
  }
  return absl::OkStatus();
}

// On a terminal, stderr shows the buckets merged of those picked.
absl::Status CmdCompact(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  Progress progress(Cat("compact ", a.table));
  std::string merged;
  auto show = [&](const dt::WorkProgress& p) {
    merged = Cat(p.done, "/", p.total, " buckets merged, ", HumanBytes(p.bytes));
    if (progress.Due()) progress.Show(merged);
  };
  ASSIGN_OR_RETURN(auto id, table->Compact(a.full, show));
  if (id) {
    progress.Done(Cat(merged, "; snapshot ", *id));
    fmt::print("{}\n", *id);
  } else {
    fmt::print(stderr, "deltactl: nothing to compact\n");
  }
  return absl::OkStatus();
}

absl::Status CmdExpire(const Args& a) {
  ASSIGN_OR_RETURN(auto table, OpenWithConsumerMaxAge(a));
  absl::Duration orphan_age;
  if (!absl::ParseDuration(a.orphan_age, &orphan_age) || orphan_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(Cat("--orphan-age: cannot parse '", a.orphan_age, "' (use e.g. 1h, 30m, 0s)"));
  }
  ASSIGN_OR_RETURN(auto r, table->Expire(a.keep, orphan_age));
  fmt::print("removed {} snapshots, {} data files, {} orphaned files and {} prepared checkpoints; "
             "earliest snapshot is now {}\n",
             r.snapshots_removed, r.files_removed, r.orphans_removed, r.prepared_removed,
             r.earliest_snapshot);
  return absl::OkStatus();
}

// On a terminal, stderr shows the data files checked of the total.
absl::Status CmdVerify(const Args& a) {
  ASSIGN_OR_RETURN(auto table, dt::Table::Open(a.root, a.table));
  Progress progress(Cat("verify ", a.table));
  dt::WorkProgress checked;
  auto show = [&](const dt::WorkProgress& p) {
    checked = p;
    if (progress.Due()) progress.Show(Cat(p.done, "/", p.total, " files checked, ", HumanBytes(p.bytes)));
  };
  ASSIGN_OR_RETURN(auto problems, table->Verify(show));
  progress.Done(Cat(checked.done, " files checked, ", HumanBytes(checked.bytes)));
  for (const auto& p : problems) fmt::print("CORRUPT {}\n", p);
  if (!problems.empty()) {
    return absl::DataLossError(Cat("table '", a.table, "' failed verification: ", problems.size(), " problem(s)"));
  }
  fmt::print("OK table {}\n", a.table);
  return absl::OkStatus();
}

absl::Status CmdList(const Args& a) {
  ASSIGN_OR_RETURN(auto names, dt::Table::List(a.root));
  for (const auto& n : names) fmt::print("{}\n", n);
  return absl::OkStatus();
}

// `consumers --drop`, and --consumer-max-age of `expire` and `consumers`.
void AddConsumerOptions(CLI::App* expire, CLI::App* consumers, Args& a) {
  consumers->add_option("--drop", a.drop_consumer, "Remove this consumer: it no longer holds expiry");
  for (CLI::App* c : {expire, consumers}) {
    c->add_option("--consumer-max-age", a.consumer_max_age,
                  "A consumer whose position is older than this holds no snapshot (the sidecar's "
                  "--consumer-max-age)")
        ->capture_default_str();
  }
}

}  // namespace deltasidecar::tools::deltactl

int main(int argc, char** argv) {
  using namespace deltasidecar::tools::deltactl;  // NOLINT: the commands and their arguments
  Args a;
  CLI::App app{
      "deltactl: create, import into, read and maintain delta tables under a table root.\n"
      "Exit status: 0 success, 1 error, 2 bad usage, 3 key not found (get)."};
  app.require_subcommand(1);
  app.add_option("--root", a.root, "Table root directory (the sidecar's --table-root)")
      ->envname("DELTA_TABLE_ROOT")
      ->required();
  auto table_arg = [&](CLI::App* c) { c->add_option("table", a.table, "Table name")->required(); };
  auto snapshot_args = [&](CLI::App* c) {
    auto s = c->add_option("--snapshot", a.snapshot, "Read this snapshot id")->check(kNonNegativeId);
    c->add_option("--as-of", a.as_of, "Read the newest snapshot at or before this UTC time "
                                      "('YYYY-MM-DD HH:MM:SS[.fff]', RFC 3339 or epoch ms)")
        ->excludes(s);
  };
  std::function<absl::Status(const Args&)> run;
  auto sub = [&](const char* name, const char* help, std::function<absl::Status(const Args&)> fn) {
    CLI::App* c = app.add_subcommand(name, help);
    c->callback([&run, fn] { run = fn; });
    return c;
  };

  auto* create = sub("create", "Create a table", CmdCreate);
  table_arg(create);
  create->add_option("--schema", a.schema, "Columns, e.g. \"id BIGINT, name STRING, score DOUBLE\"")->required();
  create->add_option("--primary-key", a.primary_key, "Comma-separated key columns")->required();
  create->add_option("--buckets", a.buckets, "Hash buckets (write.bucket.num), 1-4096")->capture_default_str();
  create->add_option("--option", a.options,
                     "A table property KEY=VALUE stored with the table, overriding the process's "
                     "setting for it (repeatable): compaction.trigger-files, compaction.size-ratio, "
                     "compaction.max-size-amplification, retention.min-snapshots, "
                     "retention.max-snapshots, retention.max-age, retention.consumer-max-age, "
                     "partition.expiration-time (drop partitions whose time is older)");
  create->add_option("--partition-by", a.partition_by,
                     "Comma-separated partition columns: they lead the primary key, and each "
                     "partition has its own files in every bucket (reads, lookups and drops of a "
                     "partition touch no other)");
  create->add_flag("--if-not-exists", a.if_not_exists,
                   "Succeed when the table already exists with the same schema, key and buckets");

  auto* drop = sub("drop", "Remove a table and all its snapshots and data files", CmdDrop);
  table_arg(drop);

  auto* import = sub("import", "Commit a JSON-lines file atomically; prints the new snapshot id", CmdImport);
  table_arg(import);
  import->add_option("file", a.file, "JSON lines, one object per row; \"_op\":\"delete\" deletes by key; - for stdin")->required();
  import->add_option("--writer", a.writer, "Commit identity: writer id (makes the import idempotent)");
  import->add_option("--checkpoint", a.checkpoint, "Commit identity: checkpoint id")->check(kNonNegativeId);
  import->add_flag("--no-maintenance", a.no_maintenance, "Skip compaction and snapshot expiry after the commit");

  auto* scan = sub("scan", "Print the table's rows ordered by primary key", CmdScan);
  table_arg(scan);
  snapshot_args(scan);
  scan->add_option("--format", a.format, "jsonl or csv")->capture_default_str();
  auto partition_arg = [&](CLI::App* c) {
    c->add_option("--partition", a.partitions,
                  "Read only this partition, e.g. 'dt=2026-12-01' or 'dt=2026-12-01/region=eu' "
                  "(every partition column)")
        ->expected(1);
  };
  partition_arg(scan);

  auto* exp = sub("export", "Write one snapshot to a file: parquet or arrow (through the Python "
                             "package deltasidecar[arrow]), jsonl or csv", CmdExport);
  table_arg(exp);
  snapshot_args(exp);
  exp->add_option("--format", a.format, "parquet, arrow, jsonl or csv")->required()
      ->check(CLI::IsMember({"parquet", "arrow", "jsonl", "csv"}));
  exp->add_option("out", a.file, "Output file (replaced when the export is complete)")->required();
  partition_arg(exp);

  auto* get = sub("get", "Print the row with a primary key (exit 3 when absent)", CmdGet);
  table_arg(get);
  get->add_option("--key", a.key, "Key columns as a JSON object, e.g. '{\"id\":5}'")->required();
  snapshot_args(get);

  auto* changes = sub("changes", "Print what changed between two snapshots (JSON lines with _op)", CmdChanges);
  table_arg(changes);
  changes->add_option("--from", a.from, "Snapshot id to start after")->required()->check(kNonNegativeId);
  changes->add_option("--to", a.to, "Last snapshot id included (default: latest)")->check(kNonNegativeId);
  changes->add_option("--format", a.format, "jsonl or csv")->capture_default_str();
  partition_arg(changes);

  auto* history = sub("history", "One line per retained snapshot: id, time, kind, rows, identities", CmdHistory);
  table_arg(history);
  history->add_option("--format", a.history_format, "text or jsonl")->capture_default_str()->check(CLI::IsMember({"text", "jsonl"}));

  table_arg(sub("describe", "Print the schema and the latest snapshot's summary as JSON", CmdDescribe));
  auto* alter = sub("alter", "Change the schema without rewriting data, as one snapshot", CmdAlter);
  table_arg(alter);
  alter->add_option("changes", a.changes,
                    "One or more, applied in order: 'ADD COLUMN <name> <type> [FIRST | AFTER "
                    "<column>]', 'DROP COLUMN <name>', 'RENAME COLUMN <name> TO <new>', 'ALTER "
                    "COLUMN <name> TYPE <wider type>'")
      ->required();
  auto* partitions = sub("partitions", "One line per partition of a snapshot: its columns, files, "
                                       "entries and bytes", CmdPartitions);
  table_arg(partitions);
  snapshot_args(partitions);
  partitions->add_option("--format", a.history_format, "text or jsonl")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "jsonl"}));
  auto* drop_partition = sub("drop-partition", "Drop partitions, all rows of them, as one snapshot; "
                                               "prints its id", CmdDropPartition);
  table_arg(drop_partition);
  drop_partition->add_option("--partition", a.partitions,
                             "A partition to drop, e.g. 'dt=2026-12-01' (repeatable)")
      ->required();
  auto* compact = sub("compact", "Merge the files of buckets that have too many (all, with --full)", CmdCompact);
  table_arg(compact);
  compact->add_flag("--full", a.full, "Merge every bucket into one file and drop deleted rows");
  auto* expire = sub("expire", "Remove all but the newest N snapshots and the files only they use (keeping "
                                 "those a live consumer holds)", CmdExpire);
  table_arg(expire);
  expire->add_option("--keep", a.keep, "Snapshots to keep (at least 1)")->required();
  expire->add_option("--orphan-age", a.orphan_age,
                     "Also remove prepared checkpoints that can no longer be committed, and data "
                     "files that no snapshot or pending prepared checkpoint names, older than this "
                     "(left by failed commits and preparations)")
      ->capture_default_str();
  auto* consumers = sub("consumers", "List the table's named consumers (or --drop one)", CmdConsumers);
  table_arg(consumers);
  AddConsumerOptions(expire, consumers, a);
  table_arg(sub("verify", "Check every checksum of the table; exit 1 on corruption", CmdVerify));
  sub("list", "List the tables under the root", CmdList);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "deltactl: error: {}\n", e.what());
    return kExitUsage;
  }
  absl::Status s = run(a);
  if (!s.ok()) {
    if (g_key_absent) {
      fmt::print(stderr, "deltactl: {}\n", s.message());
      return kExitNotFound;
    }
    fmt::print(stderr, "deltactl: error: {}\n", s.message());
    return kExitError;
  }
  return 0;
}
