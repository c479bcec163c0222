#!/usr/bin/env bash
# Write throughput of the Java client next to delta-loadgen's, on one sidecar:
# starts build/bin/delta-sidecar on a free port with temporary directories,
# then runs WriteBench and delta-loadgen alternately (same rows, writers, row
# size and checkpoint interval), each on a fresh table, and prints every run's
# JSON line and the median rows/s and MB/s of each.
#
#   connector/java/client/run-bench.sh [--build-dir build] [--runs 3] [--rows 5000000]
set -euo pipefail

build=build runs=3 rows=5000000
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--runs N] [--rows N]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/../../.."
for f in "$build/bin/delta-sidecar" "$build/bin/delta-loadgen" "$build/java/client.classpath"; do
  if [ ! -e "$f" ]; then
    echo "run-bench.sh: $f is missing: build first (scripts/build, or cmake --build $build)" >&2
    exit 1
  fi
done

work="$(mktemp -d)"
sidecar_pid=""
cleanup() {
  if [ -n "$sidecar_pid" ]; then kill "$sidecar_pid" 2>/dev/null || true; wait "$sidecar_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$build/bin/delta-sidecar" --listen 127.0.0.1:0 --data-dir "$work/staging" \
  --table-root "$work/tables" 2> "$work/sidecar.log" &
sidecar_pid=$!
target=""
for _ in $(seq 600); do
  target="$(sed -n 's/.*serving on \([0-9.]*:[0-9]*\).*/\1/p' "$work/sidecar.log" | head -1)"
  [ -n "$target" ] && break
  kill -0 "$sidecar_pid" 2>/dev/null || { cat "$work/sidecar.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$target" ] || { echo "run-bench.sh: the sidecar did not start" >&2; exit 1; }

classpath="$(cat "$build/java/client.classpath")"
: > "$work/java.jsonl"
: > "$work/loadgen.jsonl"
for i in $(seq "$runs"); do
  java -cp "$classpath" io.deltasidecar.client.bench.WriteBench --target "$target" \
    --table "java$i" --rows "$rows" --writers 2 --row-bytes 100 --checkpoint-interval-ms 1000 \
    | tee -a "$work/java.jsonl" | sed 's/^/java    /'
  "$build/bin/delta-loadgen" --target "$target" --table "loadgen$i" --rows "$rows" --writers 2 \
    --row-bytes 100 --checkpoint-interval-ms 1000 2>/dev/null \
    | tee -a "$work/loadgen.jsonl" | sed 's/^/loadgen /'
done

median() {  # median of field $2 over the JSON lines in $1
  sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
for who in java loadgen; do
  echo "median $who: rows_per_s $(median "$work/$who.jsonl" rows_per_s) mb_per_s $(median "$work/$who.jsonl" mb_per_s)"
done
