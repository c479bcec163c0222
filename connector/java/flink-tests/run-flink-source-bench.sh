#!/usr/bin/env bash
# The lag from a commit to its rows leaving the Flink source (FlinkSourceBench):
# a writer commits --rate changed rows/s while a streaming job follows the table.
# Prints one JSON line per run (docs/benchmarks.md, "Flink source").
#
#   connector/java/flink-tests/run-flink-source-bench.sh [--build-dir DIR] [--flink 2|1.20] [--runs N] [--rate N] [--seconds S]
set -euo pipefail
build=build flink=2 runs=1 rate=100000 seconds=20
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --flink) flink="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--flink 2|1.20] [--runs N] [--rate N] [--seconds S]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/../../.."
module="$build/java/maven/delta-sidecar-flink-tests-$flink"
for f in "$build/bin/delta-sidecar" "$build/bin/deltactl" "$module/test.classpath"; do
  [ -e "$f" ] || { echo "run-flink-source-bench.sh: $f is missing: build first (scripts/build)" >&2; exit 1; }
done
for i in $(seq "$runs"); do
  java -Ddelta.sidecar="$build/bin/delta-sidecar" -Ddelta.deltactl="$build/bin/deltactl" \
    -cp "$module/test-classes:$(cat "$module/test.classpath")" \
    io.deltasidecar.flink.FlinkSourceBench --rate "$rate" --seconds "$seconds" 2>/dev/null | grep '^{'
done
