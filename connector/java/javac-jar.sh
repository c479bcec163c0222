#!/usr/bin/env bash
# Builds one jar with javac: the Java build of the connectors, driven by CMake
# (connector/java/CMakeLists.txt) because Maven cannot fetch anything here.
#
#   javac-jar.sh --out JAR --work DIR [--classpath CP]
#                [--proto-root DIR --proto FILE]... [--src DIR]... [--resources DIR]...
#
# --proto: generates Java (and gRPC stubs, with /usr/bin/grpc_java_plugin) from
#          FILE, relative to the last --proto-root, and compiles it into the jar.
# --src:   a source root; every *.java below it is compiled.
# --resources: a directory whose files (e.g. META-INF/services/...) are copied
#          into the jar as they are.
# DIR (--work) is emptied first, so a rebuild never keeps stale classes. The jar
# is written next to its final name and renamed, so a failed build leaves the
# previous jar or none, never a half-written one.
set -euo pipefail

out="" work="" classpath="" proto_root=""
protos=() srcs=() resources=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --classpath) classpath="$2"; shift 2 ;;
    --proto-root) proto_root="$2"; shift 2 ;;
    --proto) protos+=("$proto_root|$2"); shift 2 ;;
    --src) srcs+=("$2"); shift 2 ;;
    --resources) resources+=("$2"); shift 2 ;;
    *) echo "javac-jar.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ] || [ -z "$work" ]; then
  echo "javac-jar.sh: --out and --work are required" >&2
  exit 2
fi

JAVAC="${JAVAC:-javac}"
JAR="${JAR:-jar}"
PROTOC="${PROTOC:-protoc}"
GRPC_JAVA_PLUGIN="${GRPC_JAVA_PLUGIN:-/usr/bin/grpc_java_plugin}"

rm -rf "$work"
mkdir -p "$work/gen" "$work/classes"

for entry in ${protos[@]+"${protos[@]}"}; do
  root="${entry%%|*}"
  file="${entry#*|}"
  "$PROTOC" -I"$root" --java_out="$work/gen" \
    --plugin=protoc-gen-grpc-java="$GRPC_JAVA_PLUGIN" --grpc-java_out="$work/gen" "$root/$file"
done
if [ ${#protos[@]} -gt 0 ]; then
  # The gRPC plugin annotates the service class with javax.annotation.Generated,
  # which Java 11+ no longer has; the annotation is source-only, so drop it
  # rather than depend on a jar that only declares it.
  find "$work/gen" -name '*Grpc.java' -exec \
    sed -i '/^@javax\.annotation\.Generated(/,/)$/d' {} +
  srcs+=("$work/gen")
fi

find ${srcs[@]+"${srcs[@]}"} -name '*.java' | sort > "$work/sources.txt"
if [ ! -s "$work/sources.txt" ]; then
  echo "javac-jar.sh: no Java sources for $out" >&2
  exit 1
fi
status=0
"$JAVAC" --release 17 -encoding UTF-8 -Xlint:all,-serial,-processing,-options \
  -d "$work/classes" ${classpath:+-cp "$classpath"} @"$work/sources.txt" \
  > "$work/javac.log" 2>&1 || status=$?
grep -v '^Note: ' "$work/javac.log" >&2 || true
if [ $status -ne 0 ]; then
  echo "javac-jar.sh: compiling $out failed (errors above)" >&2
  exit 1
fi

for r in ${resources[@]+"${resources[@]}"}; do
  if [ -d "$r" ]; then cp -R "$r/." "$work/classes/"; fi
done

mkdir -p "$(dirname "$out")"
"$JAR" --create --file "$out.tmp" -C "$work/classes" .
mv -f "$out.tmp" "$out"
