// The JSON pieces that snapshot files and prepared-checkpoint files share
// (docs/table-format.md). Internal to table/. The decoders throw
// std::runtime_error (or nlohmann's exceptions) on malformed input; callers
// turn that into DATA_LOSS naming the file.
#pragma once

#include <cstdint>

#include "nlohmann/json.hpp"
#include "table/snapshot.h"

namespace deltasidecar::table {

// An integer in int64 range; a float or a string is malformed.
int64_t JsonInt(const nlohmann::json& v);
// A non-negative integer.
uint64_t JsonCount(const nlohmann::json& v);

// A data file's record, without its bucket (the caller keeps that).
nlohmann::json DataFileToJson(const DataFileMeta& f);
DataFileMeta DataFileFromJson(const nlohmann::json& f, int bucket);

}  // namespace deltasidecar::table
