#!/usr/bin/env bash
# Runs one JUnit 5 test class for CTest (connector/java/CMakeLists.txt):
#
#   run-junit.sh JAVA CLASSES CLASSPATH_FILE CLASS [-Dprop=value ...]
#
# CLASSES: ':'-separated directories or jars put first; CLASSPATH_FILE: the
# class path Maven wrote for the module (dependency:build-classpath).
set -euo pipefail
java="$1" classes="$2" cpfile="$3" class="$4"
shift 4
exec "$java" "$@" -cp "$classes:$(cat "$cpfile")" \
  org.junit.platform.console.ConsoleLauncher \
  --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --select-class "$class"
