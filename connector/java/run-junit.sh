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
# The JVM options Flink's own scripts start Java 17 with (env.java.opts.all in
# Flink 1.20's config.yaml): without them Flink 1.20's Kryo cannot serialize
# records (InaccessibleObjectException on java.util). Harmless for the rest.
flink_java17_opts=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)
exec "$java" "${flink_java17_opts[@]}" "$@" -cp "$classes:$(cat "$cpfile")" \
  org.junit.platform.console.ConsoleLauncher \
  --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --select-class "$class"
