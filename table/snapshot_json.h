// The JSON pieces that snapshot, manifest and prepared-checkpoint files share
// (docs/table-format.md). Internal to table/. The decoders throw
// std::runtime_error (or nlohmann's exceptions) on malformed input; callers
// turn that into DATA_LOSS naming the file.
#pragma once

#include <cstdint>
#include <vector>

#include "nlohmann/json.hpp"
#include "table/manifest.h"
#include "table/snapshot.h"

namespace deltasidecar::table {

// An integer in int64 range; a float or a string is malformed.
int64_t JsonInt(const nlohmann::json& v);
// A non-negative integer.
uint64_t JsonCount(const nlohmann::json& v);

// A data file's record, without its bucket (the caller keeps that).
nlohmann::json DataFileToJson(const DataFileMeta& f);
DataFileMeta DataFileFromJson(const nlohmann::json& f, int bucket);

// A list of files added to buckets, in order, as manifests and prepared
// checkpoints hold it (manifest.cc, docs/table-format.md §5.4): each entry
// a file with its "bucket" (and "before", if any), or a multi-bucket file
// once with a "buckets" bitmap where that keeps every bucket's order.
nlohmann::json FileAdditionsToJson(const std::vector<ManifestAdd>& added);
// Appends what `list` adds; throws on a malformed entry, a bucket at or above
// `buckets`, or a name that is not a data file's of its bucket.
void FileAdditionsFromJson(const nlohmann::json& list, int buckets, std::vector<ManifestAdd>* out);

}  // namespace deltasidecar::table
