#!/usr/bin/env bash
# Builds the Java connectors with Maven into OUT (connector/java/CMakeLists.txt
# runs it when a source, a pom or the .proto changed):
#
#   build.sh OUT
#
# Offline first, so that a machine whose Maven repository (~/.m2) already has
# every pinned artifact needs no network; if that fails (a fresh machine, or a
# version bump), once more online, which downloads what is missing.
set -euo pipefail
out="$1"
here="$(cd "$(dirname "$0")" && pwd)"
mvn_args=(-B -q -f "$here/pom.xml" package -DskipTests "-Ddelta.java.out=$out")
# The shade plugin merges the module's previous output into the new one (its
# classes win over the dependency's fresh ones), so the shaded jar is built
# from nothing every time.
rm -rf "$out/flink-sql-connector-delta-sidecar"
if ! mvn -o "${mvn_args[@]}" > "$out.offline.log" 2>&1; then
  echo "build.sh: the offline Maven build failed (log: $out.offline.log); building online" >&2
  mvn "${mvn_args[@]}"
fi
