#include "table/schema_projection.h"

#include <algorithm>

#include "table/base/absl_compat.h"
#include "table/base/status_macros.h"
#include "table/row.h"
#include "table/schema_change.h"

namespace deltasidecar::table {

ValueProjector::ValueProjector(std::shared_ptr<const TableSchema> from,
                               std::shared_ptr<const TableSchema> to)
    : from_(std::move(from)), to_(std::move(to)) {
  const std::vector<int>& from_ids = from_->column_ids();
  source_.assign(to_->columns().size(), -1);
  for (size_t i = 0; i < to_->columns().size(); ++i) {
    auto at = std::find(from_ids.begin(), from_ids.end(), to_->column_ids()[i]);
    if (at == from_ids.end()) continue;
    const int s = static_cast<int>(at - from_ids.begin());
    source_[i] = s;
    const Column& was = from_->columns()[s];
    const Column& is = to_->columns()[i];
    if (mismatch_.ok() && !IsWideningOf(was, is)) {
      mismatch_ = absl::FailedPreconditionError(
          Cat("column '", is.name, "' is ", is.TypeString(), " in schema version ", to_->id(),
              " but ", was.TypeString(), " in version ", from_->id(),
              ", whose values do not all fit"));
    }
  }
}

absl::Status ValueProjector::Project(std::string_view value, std::string* out) const {
  Row written(from_->columns().size());
  RETURN_IF_ERROR(DecodeValue(*from_, value, &written));
  Row read(to_->columns().size());
  for (size_t i = 0; i < source_.size(); ++i) {
    if (source_[i] < 0 || to_->IsKeyColumn(static_cast<int>(i))) continue;
    Value& v = written[source_[i]];
    if (IsNull(v)) continue;
    RETURN_IF_ERROR(mismatch_);
    read[i] = std::move(v);
  }
  out->clear();
  AppendUpsertValue(*to_, read, out);
  return absl::OkStatus();
}

ValueReader::ValueReader(std::shared_ptr<const TableSchema> target, SchemaLookup lookup)
    : target_(std::move(target)), lookup_(std::move(lookup)) {}

absl::StatusOr<std::string_view> ValueReader::Read(std::string_view value) {
  // The common case, one byte compared: a plain upsert read under version 0.
  if (ABSL_PREDICT_TRUE(!value.empty() && static_cast<uint8_t>(value[0]) == 1 && target_->id() == 0)) {
    return value;
  }
  ASSIGN_OR_RETURN(ValueHeader h, ParseValueHeader(value));
  if (h.op == RowOp::kDelete || h.schema_id == target_->id()) return value;
  auto it = projectors_.find(h.schema_id);
  if (it == projectors_.end()) {
    ASSIGN_OR_RETURN(std::shared_ptr<const TableSchema> from, lookup_(h.schema_id));
    it = projectors_.emplace(h.schema_id, std::make_unique<ValueProjector>(std::move(from), target_)).first;
  }
  RETURN_IF_ERROR(it->second->Project(value, &buffer_));
  return std::string_view(buffer_);
}

}  // namespace deltasidecar::table
