#!/usr/bin/env bash
# A benchmark of a real Flink job (MiniCluster, parallelism 2) writing through a
# real sidecar (FlinkSinkBench), then delta-loadgen's rows/s on its own sidecar
# in the same run, for comparison (docs/benchmarks.md, "Flink sink").
#
#   connector/java/flink-tests/run-flink-bench.sh [--build-dir DIR] [--flink 2|1.20] [--runs N] [--rows N] [--interval-ms MS]
set -euo pipefail
build=build flink=2 runs=1 rows=2000000 interval=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --flink) flink="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --interval-ms) interval="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--flink 2|1.20] [--runs N] [--rows N] [--interval-ms MS]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/../../.."
module="$build/java/maven/delta-sidecar-flink-tests-$flink"
for f in "$build/bin/delta-sidecar" "$build/bin/deltactl" "$build/bin/delta-loadgen" "$module/test.classpath"; do
  [ -e "$f" ] || { echo "run-flink-bench.sh: $f is missing: build first (scripts/build)" >&2; exit 1; }
done
work="$(mktemp -d)"
sidecar_pid=""
cleanup() {
  if [ -n "$sidecar_pid" ]; then kill "$sidecar_pid" 2>/dev/null || true; wait "$sidecar_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for i in $(seq "$runs"); do
  java -Ddelta.sidecar="$build/bin/delta-sidecar" -Ddelta.deltactl="$build/bin/deltactl" \
    -cp "$module/test-classes:$(cat "$module/test.classpath")" \
    io.deltasidecar.flink.FlinkSinkBench --rows "$rows" --interval-ms "$interval" \
    > "$work/flink$i.log" 2>&1 || { cat "$work/flink$i.log" >&2; exit 1; }
  grep '^{' "$work/flink$i.log" | sed 's/^/flink   /'
  rm -rf "$work/sc"
  "$build/bin/delta-sidecar" --listen 127.0.0.1:0 --data-dir "$work/sc/staging" \
    --table-root "$work/sc/tables" 2> "$work/sidecar.log" &
  sidecar_pid=$!
  target=""
  for _ in $(seq 600); do
    target="$(sed -n 's/.*serving on \([0-9.]*:[0-9]*\).*/\1/p' "$work/sidecar.log" | head -1)"
    [ -n "$target" ] && break
    sleep 0.1
  done
  [ -n "$target" ] || { echo "run-flink-bench.sh: the sidecar did not start" >&2; exit 1; }
  # The same number of rows as the Flink job wrote, 2 writers, ~100-byte rows.
  loadgen_rows=$(( rows * 2 + rows / 7 ))
  "$build/bin/delta-loadgen" --target "$target" --table "loadgen$i" --rows "$loadgen_rows" \
    --writers 2 --row-bytes 100 --checkpoint-interval-ms "$interval" 2>/dev/null | sed 's/^/loadgen /'
  kill "$sidecar_pid"; wait "$sidecar_pid" 2>/dev/null || true; sidecar_pid=""
done
