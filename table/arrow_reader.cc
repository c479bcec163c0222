#include "table/arrow_reader.h"

#include "table/arrow_batch_builder.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <thread>

#include "table/base/absl_compat.h"
#include "table/base/byte_order.h"
#include "table/row.h"
#include "table/base/status_macros.h"

namespace deltasidecar::table {
namespace {

using arrow_internal::BatchBuilder;
using arrow_internal::ReleaseArray;

// ---------------------------------------------------------------------------
// Schema.

std::string FormatOf(const Column& c) {
  switch (c.type) {
    case ColumnType::kBoolean: return "b";
    case ColumnType::kTinyint: return "c";
    case ColumnType::kSmallint: return "s";
    case ColumnType::kInt: return "i";
    case ColumnType::kBigint: return "l";
    case ColumnType::kFloat: return "f";
    case ColumnType::kDouble: return "g";
    case ColumnType::kDecimal: return Cat("d:", c.precision, ",", c.scale);
    case ColumnType::kString: return "u";
    case ColumnType::kBinary: return "z";
    case ColumnType::kDate: return "tdD";
    case ColumnType::kDatetime: return "tsm:UTC";
    case ColumnType::kTimestamp:
    case ColumnType::kTimestampLtz: return "tsn:UTC";
    case ColumnType::kArray:
    case ColumnType::kMap:
    case ColumnType::kStruct: return arrow_internal::NestedFormat(c.type);
  }
  return "n";
}

struct SchemaHolder {
  std::string format, name;
  std::vector<ArrowSchema*> children;
};

void ReleaseSchema(ArrowSchema* s) {
  if (s == nullptr || s->release == nullptr) return;
  auto* h = static_cast<SchemaHolder*>(s->private_data);
  for (ArrowSchema* child : h->children) {
    if (child->release != nullptr) child->release(child);
    delete child;
  }
  delete h;
  s->release = nullptr;
}

void FillSchema(ArrowSchema* s, std::string format, std::string name, int64_t flags) {
  auto* h = new SchemaHolder{std::move(format), std::move(name), {}};
  *s = ArrowSchema{};
  s->format = h->format.c_str();
  s->name = h->name.c_str();
  s->flags = flags;
  s->release = ReleaseSchema;
  s->private_data = h;
}

// The field of `c` named `name`, with its children for a nested type (the
// mapping of arrow_nested_column.h).
void FillColumnSchema(ArrowSchema* s, const Column& c, std::string name, int64_t flags) {
  FillSchema(s, FormatOf(c), std::move(name), flags);
  if (!IsNested(c.type)) return;
  auto* h = static_cast<SchemaHolder*>(s->private_data);
  auto add = [](SchemaHolder* parent) {
    parent->children.push_back(new ArrowSchema);
    return parent->children.back();
  };
  if (c.type == ColumnType::kMap) {
    ArrowSchema* entries = add(h);
    FillSchema(entries, "+s", "entries", 0);
    auto* e = static_cast<SchemaHolder*>(entries->private_data);
    FillColumnSchema(add(e), c.children[0], "key", 0);
    FillColumnSchema(add(e), c.children[1], "value", ARROW_FLAG_NULLABLE);
    entries->n_children = 2;
    entries->children = e->children.data();
  } else {
    for (const Column& child : c.children) {
      FillColumnSchema(add(h), child, child.name, ARROW_FLAG_NULLABLE);
    }
  }
  s->n_children = static_cast<int64_t>(h->children.size());
  s->children = h->children.data();
}

// ---------------------------------------------------------------------------
// Sources of merged entries.

class Cursor {
 public:
  virtual ~Cursor() = default;
  // Appends rows until the batch is full (returns false) or the source is
  // exhausted (returns true).
  virtual absl::StatusOr<bool> Fill(BatchBuilder* batch, int64_t batch_rows) = 0;
};

// Appends the entries of `it` that are in `range`. Returns true when the
// iterator is exhausted or past the range, false when the batch is full.
absl::StatusOr<bool> FillFrom(TableIterator* it, const KeyRange& range, BatchBuilder* batch,
                              int64_t batch_rows) {
  const std::string_view lower = range.lower;
  while (it->Valid()) {
    std::string_view key = it->key();
    if (key < lower) {
      it->Next();
      continue;
    }
    if (range.upper && key >= std::string_view(*range.upper)) return true;
    RETURN_IF_ERROR(batch->Add(key, it->value()));
    it->Next();
    if (batch->Full(batch_rows)) return false;
  }
  RETURN_IF_ERROR(it->status());
  return true;
}

// The buckets of one scan, claimed one at a time by any number of cursors.
struct ScanSource {
  std::shared_ptr<Table> table;
  std::shared_ptr<const Snapshot> snapshot;
  KeyRange range;
  std::vector<int> buckets;
  std::atomic<size_t> next{0};
  ReadStats* stats = nullptr;
};

class ScanCursor : public Cursor {
 public:
  explicit ScanCursor(std::shared_ptr<ScanSource> source) : source_(std::move(source)) {}

  absl::StatusOr<bool> Fill(BatchBuilder* batch, int64_t batch_rows) override {
    while (true) {
      if (it_ == nullptr) {
        size_t i = source_->next.fetch_add(1);
        if (i >= source_->buckets.size()) return true;
        ASSIGN_OR_RETURN(it_, source_->table->NewBucketScan(*source_->snapshot, source_->buckets[i],
                                                            source_->range.lower,
                                                            source_->range.upper,
                                                            source_->stats));
      }
      ASSIGN_OR_RETURN(bool bucket_done, FillFrom(it_.get(), source_->range, batch, batch_rows));
      if (!bucket_done) return false;
      it_.reset();
    }
  }

 private:
  std::shared_ptr<ScanSource> source_;
  std::unique_ptr<TableIterator> it_;
};

class IteratorCursor : public Cursor {
 public:
  IteratorCursor(std::unique_ptr<TableIterator> it, KeyRange range)
      : it_(std::move(it)), range_(std::move(range)) {}
  absl::StatusOr<bool> Fill(BatchBuilder* batch, int64_t batch_rows) override {
    return FillFrom(it_.get(), range_, batch, batch_rows);
  }

 private:
  std::unique_ptr<TableIterator> it_;
  KeyRange range_;
};

// ---------------------------------------------------------------------------
// The stream.

int ErrnoOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kInvalidArgument: return EINVAL;
    case absl::StatusCode::kResourceExhausted: return ENOMEM;
    case absl::StatusCode::kDataLoss: return EBADMSG;  // damaged stored bytes
    default: return EIO;
  }
}

class StreamState {
 public:
  StreamState(std::shared_ptr<Table> table, std::shared_ptr<const TableSchema> schema,
              std::vector<int> columns, bool with_op, int64_t batch_rows)
      : table_(std::move(table)), schema_(std::move(schema)), columns_(std::move(columns)),
        with_op_(with_op),
        batch_rows_(std::max<int64_t>(1, batch_rows)) {}

  ~StreamState() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancel_ = true;
    }
    space_.notify_all();
    for (auto& t : workers_) t.join();
    for (ArrowArray& a : ready_) ReleaseArray(&a);
  }

  // Reads in the caller's thread.
  void StartSequential(std::unique_ptr<Cursor> cursor) {
    cursor_ = std::move(cursor);
    builder_ = NewBuilder();
  }

  // Reads with `threads` workers, each making its own cursor.
  void StartParallel(int threads, const std::function<std::unique_ptr<Cursor>()>& make_cursor) {
    running_ = threads;
    for (int i = 0; i < threads; ++i) {
      workers_.emplace_back([this, cursor = make_cursor(), queue_limit = 2 * threads]() mutable {
        Work(std::move(cursor), static_cast<size_t>(queue_limit));
      });
    }
  }

  int GetSchema(ArrowSchema* out) {
    absl::Status s = ExportArrowSchema(*schema_, columns_, with_op_, out);
    return Fail(s);
  }

  int GetNext(ArrowArray* out) {
    *out = ArrowArray{};
    try {
      if (workers_.empty()) return NextSequential(out);
      std::unique_lock<std::mutex> lock(mu_);
      have_.wait(lock, [&] { return !ready_.empty() || running_ == 0 || !error_.ok(); });
      if (!error_.ok()) return Fail(error_);
      if (!ready_.empty()) {
        *out = ready_.front();
        ready_.pop_front();
        lock.unlock();
        space_.notify_one();
      }
      return 0;
    } catch (const std::bad_alloc&) {
      return Fail(absl::ResourceExhaustedError("out of memory building a record batch"));
    }
  }

  const char* last_error() const { return last_error_.empty() ? nullptr : last_error_.c_str(); }

 private:
  std::unique_ptr<BatchBuilder> NewBuilder() {
    return std::make_unique<BatchBuilder>(*schema_, columns_, with_op_, batch_rows_);
  }

  int Fail(const absl::Status& s) {
    if (s.ok()) return 0;
    last_error_ = std::string(s.ToString());
    return ErrnoOf(s);
  }

  int NextSequential(ArrowArray* out) {
    if (!error_.ok()) return Fail(error_);
    while (!done_) {
      auto r = cursor_->Fill(builder_.get(), batch_rows_);
      if (!r.ok()) {
        error_ = r.status();
        return Fail(error_);
      }
      done_ = *r;
      if (!done_) break;  // the batch is full
    }
    if (builder_->rows() > 0) builder_->Finish(out);
    return 0;
  }

  void Work(std::unique_ptr<Cursor> cursor, size_t queue_limit) {
    absl::Status status;
    try {
      auto builder = NewBuilder();
      bool done = false;
      while (!done) {
        auto r = cursor->Fill(builder.get(), batch_rows_);
        if (!r.ok()) {
          status = r.status();
          break;
        }
        done = *r;
        if (builder->rows() == 0) continue;
        if (!done && !builder->Full(batch_rows_)) continue;
        ArrowArray batch;
        builder->Finish(&batch);
        std::unique_lock<std::mutex> lock(mu_);
        space_.wait(lock, [&] { return cancel_ || ready_.size() < queue_limit; });
        if (cancel_) {
          ReleaseArray(&batch);
          break;
        }
        ready_.push_back(batch);
        lock.unlock();
        have_.notify_one();
      }
    } catch (const std::bad_alloc&) {
      status = absl::ResourceExhaustedError("out of memory building a record batch");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!status.ok() && error_.ok()) error_ = status;
      if (!status.ok()) cancel_ = true;
      --running_;
    }
    have_.notify_all();
    space_.notify_all();
  }

  const std::shared_ptr<Table> table_;
  const std::shared_ptr<const TableSchema> schema_;  // the version read
  const std::vector<int> columns_;
  const bool with_op_;
  const int64_t batch_rows_;
  std::string last_error_;

  // Sequential reading.
  std::unique_ptr<Cursor> cursor_;
  std::unique_ptr<BatchBuilder> builder_;
  bool done_ = false;

  // Parallel reading: workers push finished batches, get_next pops them.
  std::mutex mu_;
  std::condition_variable have_, space_;
  std::deque<ArrowArray> ready_;
  int running_ = 0;
  absl::Status error_;
  bool cancel_ = false;
  std::vector<std::thread> workers_;
};

StreamState* State(ArrowArrayStream* s) { return static_cast<StreamState*>(s->private_data); }

void FillStream(std::unique_ptr<StreamState> state, ArrowArrayStream* out) {
  *out = ArrowArrayStream{};
  out->get_schema = [](ArrowArrayStream* s, ArrowSchema* schema) { return State(s)->GetSchema(schema); };
  out->get_next = [](ArrowArrayStream* s, ArrowArray* array) { return State(s)->GetNext(array); };
  out->get_last_error = [](ArrowArrayStream* s) { return State(s)->last_error(); };
  out->release = [](ArrowArrayStream* s) {
    if (s == nullptr || s->release == nullptr) return;
    delete State(s);
    s->release = nullptr;
  };
  out->private_data = state.release();
}

std::vector<int> AllColumns(const TableSchema& schema) {
  std::vector<int> all(schema.columns().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return all;
}

absl::Status CheckColumns(const TableSchema& schema, const std::vector<int>& columns) {
  for (int c : columns) {
    if (c < 0 || static_cast<size_t>(c) >= schema.columns().size()) {
      return absl::InvalidArgumentError(Cat("column index ", c, " is out of range"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExportArrowSchema(const TableSchema& schema, const std::vector<int>& columns,
                               bool with_op, ArrowSchema* out) {
  RETURN_IF_ERROR(CheckColumns(schema, columns));
  const std::vector<int> chosen = columns.empty() ? AllColumns(schema) : columns;
  FillSchema(out, "+s", "", 0);
  auto* h = static_cast<SchemaHolder*>(out->private_data);
  for (int c : chosen) {
    const Column& column = schema.columns()[c];
    auto* child = new ArrowSchema;
    FillColumnSchema(child, column, column.name, column.nullable ? ARROW_FLAG_NULLABLE : 0);
    h->children.push_back(child);
  }
  if (with_op) {
    auto* child = new ArrowSchema;
    FillSchema(child, "u", "_op", 0);
    h->children.push_back(child);
  }
  out->n_children = static_cast<int64_t>(h->children.size());
  out->children = h->children.data();
  return absl::OkStatus();
}

absl::Status ScanToArrow(std::shared_ptr<Table> table, std::shared_ptr<const Snapshot> snapshot,
                         const ArrowReadOptions& options, ArrowArrayStream* out) {
  ASSIGN_OR_RETURN(std::shared_ptr<const TableSchema> read_schema, table->SchemaOf(*snapshot));
  const TableSchema& schema = *read_schema;
  RETURN_IF_ERROR(CheckColumns(schema, options.columns));
  auto source = std::make_shared<ScanSource>();
  source->table = table;
  source->snapshot = std::move(snapshot);
  source->range = options.range;
  source->stats = options.stats;
  auto selected = [&](int b) {
    return options.buckets.empty() ||
           std::binary_search(options.buckets.begin(), options.buckets.end(), b);
  };
  if (options.range.exact) {
    const int b = BucketOf(*options.range.exact, schema.buckets());
    if (selected(b)) source->buckets.push_back(b);
  } else if (!options.range.Empty()) {
    for (size_t b = 0; b < source->snapshot->buckets.size(); ++b) {
      if (!source->snapshot->buckets[b].empty() && selected(static_cast<int>(b))) {
        source->buckets.push_back(static_cast<int>(b));
      }
    }
  }
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(1, source->buckets.size())));
  auto state = std::make_unique<StreamState>(
      table, read_schema, options.columns.empty() ? AllColumns(schema) : options.columns, false,
      options.batch_rows);
  if (threads == 1) {
    state->StartSequential(std::make_unique<ScanCursor>(source));
  } else {
    state->StartParallel(threads, [&] { return std::make_unique<ScanCursor>(source); });
  }
  FillStream(std::move(state), out);
  return absl::OkStatus();
}

absl::Status ChangesToArrow(std::shared_ptr<Table> table, int64_t from, int64_t to,
                            const ArrowReadOptions& options, ArrowArrayStream* out) {
  ASSIGN_OR_RETURN(std::shared_ptr<const TableSchema> read_schema, table->SchemaOfSnapshot(to));
  const TableSchema& schema = *read_schema;
  RETURN_IF_ERROR(CheckColumns(schema, options.columns));
  ReadBounds bounds{options.range.lower, options.range.upper, std::nullopt};
  if (options.range.exact) bounds.bucket = BucketOf(*options.range.exact, schema.buckets());
  ASSIGN_OR_RETURN(auto it, table->NewChanges(from, to, bounds, options.stats));
  auto state = std::make_unique<StreamState>(
      table, read_schema, options.columns.empty() ? AllColumns(schema) : options.columns, true,
      options.batch_rows);
  state->StartSequential(std::make_unique<IteratorCursor>(std::move(it), options.range));
  FillStream(std::move(state), out);
  return absl::OkStatus();
}

}  // namespace deltasidecar::table
