#include "tools/loadgen/expected_table.h"

#include <cstdint>
#include <fstream>
#include <vector>

#include "nlohmann/json.hpp"
#include "table/row.h"
#include "table/row_json.h"

namespace deltasidecar::loadgen {

bool WriteExpected(const Workload& wl, const table::TableSchema& schema, const std::string& path) {
  const Options& o = wl.options();
  constexpr int64_t kAbsent = -1;
  constexpr int64_t kDeleted = -2;
  std::vector<std::vector<int64_t>> last(o.writers);  // per key slot: op index, or kAbsent/kDeleted
  for (int w = 0; w < o.writers; ++w) {
    last[w].assign(wl.keys(w), kAbsent);
    SourcePosition pos = wl.Start(w);
    while (pos.next_op < wl.ops(w)) {
      Op op = wl.Next(w, &pos);
      last[w][static_cast<uint64_t>(op.id) / o.writers] =
          op.is_delete ? kDeleted : static_cast<int64_t>(op.index);
    }
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  std::string text;
  for (uint64_t id = 0; id < o.key_space; ++id) {
    int w = static_cast<int>(id % o.writers);
    int64_t index = last[w][id / o.writers];
    if (index < 0) continue;
    Op op{false, static_cast<int64_t>(id), static_cast<uint64_t>(index)};
    text += table::RowToJson(schema, wl.RowOf(w, op)).dump();
    text += '\n';
    if (text.size() > (1 << 20)) {
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    }
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace deltasidecar::loadgen
