#include "sidecar/read_service.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "table/arrow_ipc_writer.h"
#include "table/arrow_reader.h"
#include "table/arrow_scan_options.h"
#include "table/consumer_positions.h"
#include "table/base/absl_compat.h"
#include "table/row.h"
#include "table/snapshot.h"
#include "table/base/status_macros.h"
#include "sidecar/wire_rows.h"

namespace deltasidecar::sidecar {

namespace {

absl::StatusOr<std::shared_ptr<const table::Snapshot>> SelectSnapshot(
    table::Table& table, const v1::SnapshotSelector& selector) {
  switch (selector.at_case()) {
    case v1::SnapshotSelector::kSnapshotId:
      return table.SnapshotById(selector.snapshot_id());
    case v1::SnapshotSelector::kAsOfUnixMs:
      return table.SnapshotAsOf(absl::FromUnixMillis(selector.as_of_unix_ms()));
    default:
      return table.LatestSnapshot();
  }
}

// Streams an iterator's entries as packed rows, in messages of at most
// kBatchRows rows or about kBatchBytes bytes.
absl::Status StreamRows(const table::TableSchema& schema, table::TableIterator& it,
                        int64_t snapshot_id, const ReadService::ScanSink& sink) {
  v1::ScanResponse message;
  message.set_snapshot_id(snapshot_id);
  message.set_schema_id(schema.id());
  std::string* rows = message.mutable_batch()->mutable_rows();
  uint32_t count = 0;
  bool sent = false;
  auto flush = [&]() -> absl::Status {
    message.mutable_batch()->set_row_count(count);
    RETURN_IF_ERROR(sink(message));
    sent = true;
    rows->clear();
    count = 0;
    return absl::OkStatus();
  };
  for (; it.Valid(); it.Next()) {
    RETURN_IF_ERROR(AppendWireRowFromEntry(schema, it.key(), it.value(), rows));
    if (++count >= ReadService::kBatchRows || rows->size() >= ReadService::kBatchBytes) {
      RETURN_IF_ERROR(flush());
    }
  }
  RETURN_IF_ERROR(it.status());
  // The last message may hold no rows: a read of nothing still names the
  // snapshot it read.
  return count > 0 || !sent ? flush() : absl::OkStatus();
}

// The buckets a Scan names, in the order given; INVALID_ARGUMENT for one at
// or above the table's bucket count, or named twice.
absl::StatusOr<std::vector<int>> SelectedBuckets(const table::TableSchema& schema,
                                                 const v1::ScanRequest& request) {
  std::vector<int> buckets;
  std::vector<bool> seen(schema.buckets());
  for (uint32_t b : request.buckets()) {
    if (b >= static_cast<uint32_t>(schema.buckets())) {
      return absl::InvalidArgumentError(
          Cat("bucket ", b, " is not below the table's bucket count ", schema.buckets()));
    }
    if (seen[b]) return absl::InvalidArgumentError(Cat("bucket ", b, " is named twice"));
    seen[b] = true;
    buckets.push_back(static_cast<int>(b));
  }
  return buckets;
}

// The live rows of some buckets of a snapshot, one bucket after the other.
class BucketRowsIterator final : public table::TableIterator {
 public:
  BucketRowsIterator(table::Table& table, const table::Snapshot& snapshot, std::vector<int> buckets)
      : table_(table), snapshot_(snapshot), buckets_(std::move(buckets)) {
    Advance();
  }
  bool Valid() const override { return status_.ok() && it_ != nullptr && it_->Valid(); }
  void Next() override {
    it_->Next();
    Advance();
  }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return it_->value(); }
  absl::Status status() const override { return status_; }

 private:
  // Moves to the next bucket while the current one is exhausted.
  void Advance() {
    while (status_.ok() && (it_ == nullptr || !it_->Valid())) {
      if (it_ != nullptr) status_ = it_->status();
      if (!status_.ok() || next_ >= buckets_.size()) {
        it_.reset();
        return;
      }
      auto it = table_.NewBucketScan(snapshot_, buckets_[next_++], "", std::nullopt);
      if (!it.ok()) {
        status_ = it.status();
        return;
      }
      it_ = *std::move(it);
    }
  }

  table::Table& table_;
  const table::Snapshot& snapshot_;
  const std::vector<int> buckets_;
  size_t next_ = 0;
  std::unique_ptr<table::TableIterator> it_;
  absl::Status status_;
};

// The read options of a request's columns and key filter; INVALID_ARGUMENT
// for an unknown format, or for columns or a filter with format ROWS.
template <typename Request>
absl::StatusOr<table::ArrowReadOptions> ArrowOptions(const table::TableSchema& schema,
                                                     const Request& request) {
  if (!v1::ReadFormat_IsValid(request.format())) {
    return absl::InvalidArgumentError(
        Cat("format ", static_cast<int>(request.format()), " is neither ROWS (0) nor ARROW_IPC (1)"));
  }
  table::ArrowReadOptions options;
  if (request.format() != v1::ARROW_IPC) {
    if (!request.columns().empty() || !request.key_filter_json().empty()) {
      return absl::InvalidArgumentError("columns and key_filter_json need format ARROW_IPC");
    }
    return options;
  }
  ASSIGN_OR_RETURN(options.columns,
                   table::ParseColumnNames(schema, std::vector<std::string>(
                                                       request.columns().begin(), request.columns().end())));
  ASSIGN_OR_RETURN(options.range, table::ParseKeyFilter(schema, request.key_filter_json()));
  // One thread: a repeatable order, and one core per read at most.
  options.threads = 1;
  return options;
}

// Sends an Arrow C stream as an Arrow IPC stream cut into chunks of
// kBatchBytes (the last one shorter), then releases it.
absl::Status StreamArrowIpc(ArrowArrayStream* stream, int64_t snapshot_id, int64_t schema_id,
                            const ReadService::ScanSink& sink) {
  v1::ScanResponse message;
  message.set_snapshot_id(snapshot_id);
  message.set_schema_id(schema_id);
  std::string* chunk = message.mutable_arrow_ipc();
  chunk->reserve(ReadService::kBatchBytes);
  auto out = [&](std::string_view bytes) -> absl::Status {
    while (!bytes.empty()) {
      size_t n = std::min(bytes.size(), ReadService::kBatchBytes - chunk->size());
      chunk->append(bytes.data(), n);
      bytes.remove_prefix(n);
      if (chunk->size() == ReadService::kBatchBytes) {
        RETURN_IF_ERROR(sink(message));
        chunk->clear();
      }
    }
    return absl::OkStatus();
  };
  absl::Status s = table::WriteArrowIpcStream(stream, out);
  stream->release(stream);
  RETURN_IF_ERROR(s);
  return chunk->empty() ? absl::OkStatus() : sink(message);
}

// Where a following read starts: the request's snapshot, else the
// consumer's position, else the latest snapshot.
absl::StatusOr<int64_t> FollowStart(table::Table& table, const v1::FollowChangesRequest& request) {
  if (request.has_from_snapshot_id()) {
    if (request.from_snapshot_id() < 0) {
      return absl::InvalidArgumentError(
          Cat("from_snapshot_id ", request.from_snapshot_id(), " is negative"));
    }
    return request.from_snapshot_id();
  }
  if (!request.consumer().empty()) {
    ASSIGN_OR_RETURN(auto position, table.consumers().Get(request.consumer()));
    if (position) return position->position;
  }
  ASSIGN_OR_RETURN(auto latest, table.LatestSnapshot());
  return latest->id;
}

absl::Duration PollInterval(const v1::FollowChangesRequest& request) {
  if (request.poll_interval_ms() == 0) return ReadService::kDefaultPoll;
  return std::clamp(absl::Milliseconds(request.poll_interval_ms()), ReadService::kMinPoll,
                    ReadService::kMaxPoll);
}

}  // namespace

void AddColumns(const table::TableSchema& schema,
                google::protobuf::RepeatedPtrField<v1::Column>* out) {
  for (const auto& c : schema.columns()) {
    v1::Column* column = out->Add();
    column->set_name(c.name);
    column->set_type(c.TypeString());
    column->set_nullable(c.nullable);
  }
}

absl::Status ReadService::DescribeTable(const v1::DescribeTableRequest& request,
                                        v1::DescribeTableResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
  std::shared_ptr<const table::Snapshot> described = latest;
  if (request.has_snapshot()) {
    ASSIGN_OR_RETURN(described, SelectSnapshot(*table, request.snapshot()));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> current, table->SchemaOf(*described));
  const table::TableSchema& schema = *current;
  response->set_table(request.table());
  AddColumns(schema, response->mutable_columns());
  for (int i : schema.key_columns()) response->add_primary_key(schema.columns()[i].name);
  response->set_buckets(schema.buckets());
  for (int i = 0; i < schema.partition_key_count(); ++i) {
    response->add_partition_keys(schema.columns()[schema.key_columns()[i]].name);
  }
  response->set_latest_snapshot_id(latest->id);
  response->set_schema_id(schema.id());
  response->set_snapshot_id(described->id);
  for (const auto& [key, value] : table->properties()) (*response->mutable_options())[key] = value;
  return absl::OkStatus();
}

absl::Status ReadService::Scan(const v1::ScanRequest& request, const ScanSink& sink) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto snapshot, SelectSnapshot(*table, request.snapshot()));
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> schema, table->SchemaOf(*snapshot));
  ASSIGN_OR_RETURN(table::ArrowReadOptions options, ArrowOptions(*schema, request));
  ASSIGN_OR_RETURN(std::vector<int> buckets, SelectedBuckets(*schema, request));
  if (request.format() == v1::ARROW_IPC) {
    options.buckets = buckets;
    std::sort(options.buckets.begin(), options.buckets.end());
    ArrowArrayStream stream{};
    RETURN_IF_ERROR(table::ScanToArrow(table, snapshot, options, &stream));
    return StreamArrowIpc(&stream, snapshot->id, schema->id(), sink);
  }
  if (buckets.empty()) {
    ASSIGN_OR_RETURN(auto it, table->NewScan(*snapshot));
    return StreamRows(*schema, *it, snapshot->id, sink);
  }
  BucketRowsIterator it(*table, *snapshot, std::move(buckets));
  return StreamRows(*schema, it, snapshot->id, sink);
}

absl::Status ReadService::Changes(const v1::ChangesRequest& request, const ScanSink& sink) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  int64_t to = request.has_to_snapshot_id() ? request.to_snapshot_id() : -1;
  if (to < 0) {
    ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
    to = latest->id;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> schema, table->SchemaOfSnapshot(to));
  ASSIGN_OR_RETURN(table::ArrowReadOptions options, ArrowOptions(*schema, request));
  if (request.format() == v1::ARROW_IPC) {
    ArrowArrayStream stream{};
    RETURN_IF_ERROR(table::ChangesToArrow(table, request.from_snapshot_id(), to, options, &stream));
    return StreamArrowIpc(&stream, to, schema->id(), sink);
  }
  ASSIGN_OR_RETURN(auto it, table->NewChanges(request.from_snapshot_id(), to));
  return StreamRows(*schema, *it, to, sink);
}

absl::Status ReadService::FollowChanges(const v1::FollowChangesRequest& request,
                                        const ScanSink& sink, const FollowWait& wait) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> current, table->CurrentSchema());
  RETURN_IF_ERROR(ArrowOptions(*current, request).status());
  const std::string& consumer = request.consumer();
  if (!consumer.empty()) RETURN_IF_ERROR(table::ValidateConsumerName(consumer));
  ASSIGN_OR_RETURN(int64_t sent, FollowStart(*table, request));
  // The consumer's position: `sent` (every snapshot up to it was sent whole).
  int64_t marked = -1;
  absl::Time marked_at = absl::InfinitePast();
  auto mark = [&]() -> absl::Status {
    if (consumer.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(table->consumers().Set(consumer, sent).status());
    marked = sent;
    marked_at = absl::Now();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(mark());
  RETURN_IF_ERROR(table->SnapshotById(sent).status());

  // One snapshot's changes go through Changes, from its parent to it.
  v1::ChangesRequest one;
  one.set_table(request.table());
  one.set_format(request.format());
  *one.mutable_columns() = request.columns();
  one.set_key_filter_json(request.key_filter_json());
  v1::ScanResponse end;
  end.set_snapshot_end(true);
  const absl::Duration interval = PollInterval(request);
  auto ended = [&sent](const absl::Status& s) {
    if (s.ok()) return s;
    return absl::Status(s.code(), Cat(s.message(), " (sent whole up to snapshot ", sent, ")"));
  };
  for (;;) {
    ASSIGN_OR_RETURN(auto latest, table->LatestSnapshot());
    for (int64_t id = sent + 1; id <= latest->id; ++id) {
      ASSIGN_OR_RETURN(auto snapshot, table->SnapshotById(id));
      // Commits and partition drops change rows; compaction, ALTER and the rest do not.
      const bool changes_rows = snapshot->kind == table::SnapshotKind::kAppend ||
                                snapshot->kind == table::SnapshotKind::kDropPartition;
      if (changes_rows) {
        one.set_from_snapshot_id(id - 1);
        one.set_to_snapshot_id(id);
        RETURN_IF_ERROR(ended(Changes(one, sink)));
        end.set_snapshot_id(id);
        RETURN_IF_ERROR(ended(sink(end)));
      }
      sent = id;
      if (changes_rows) RETURN_IF_ERROR(mark());
      RETURN_IF_ERROR(ended(wait(absl::ZeroDuration())));  // a backlog stops at shutdown too
    }
    // Past snapshots that sent nothing, or live while waiting at the latest.
    if (!consumer.empty() && (marked != sent || absl::Now() - marked_at >= kConsumerRefresh)) {
      RETURN_IF_ERROR(mark());
    }
    RETURN_IF_ERROR(ended(wait(interval)));
  }
}

absl::Status ReadService::Get(const v1::GetRequest& request, v1::GetResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto snapshot, SelectSnapshot(*table, request.snapshot()));
  ASSIGN_OR_RETURN(std::shared_ptr<const table::TableSchema> read_schema, table->SchemaOf(*snapshot));
  const table::TableSchema& schema = *read_schema;
  // The key row is packed for the client's version; key columns, and so
  // the encoded key, are the same in every version.
  auto key_schema = table->SchemaVersion(request.schema_id());
  if (!key_schema.ok()) {
    return absl::InvalidArgumentError(Cat("key: table '", request.table(), "' has no schema version ",
                                          request.schema_id()));
  }
  std::vector<std::pair<table::RowOp, table::Row>> rows;
  absl::Status s = ParseWireRows(**key_schema, request.key().rows(), request.key().row_count(),
                                 WireLimits(), &rows);
  if (!s.ok()) return absl::InvalidArgumentError(Cat("key: ", s.message()));
  if (rows.size() != 1) return absl::InvalidArgumentError("key must hold exactly one row");
  const std::string key = table::EncodeKey(**key_schema, rows[0].second);
  ASSIGN_OR_RETURN(std::optional<std::string> value, table->Get(*snapshot, key));
  response->set_snapshot_id(snapshot->id);
  response->set_schema_id(schema.id());
  response->set_found(value.has_value());
  if (value.has_value()) {
    RETURN_IF_ERROR(
        AppendWireRowFromEntry(schema, key, *value, response->mutable_row()->mutable_rows()));
    response->mutable_row()->set_row_count(1);
  }
  return absl::OkStatus();
}

absl::Status ReadService::History(const v1::HistoryRequest& request,
                                  v1::HistoryResponse* response) const {
  ASSIGN_OR_RETURN(auto table, tables_(request.table()));
  ASSIGN_OR_RETURN(auto history, table->History());
  for (const auto& s : history) {
    auto* info = response->add_snapshots();
    info->set_id(s->id);
    info->set_time_unix_ms(s->time_ms);
    info->set_kind(std::string(table::SnapshotKindName(s->kind)));
    info->set_schema_id(s->schema_id);
    info->set_rows(s->added_entries);
    info->set_deletes(s->added_deletes);
    for (const auto& id : s->identities) {
      auto* c = info->add_identities();
      c->set_writer_id(id.writer_id);
      c->set_checkpoint_id(id.checkpoint_id);
    }
  }
  return absl::OkStatus();
}

}  // namespace deltasidecar::sidecar
