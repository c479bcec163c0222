#!/usr/bin/env bash
# CTest's pyflink_example (connector/java/CMakeLists.txt): makes sure the PyFlink
# virtual environment BUILD_DIR/pyflink-venv holds ../requirements-pyflink.txt
# (created or updated only when the requirements changed; the first time it
# downloads about 400 MB), then runs test_orders_to_table.py with Debian's pytest.
#
#   run-test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/../requirements-pyflink.txt"
venv="$build/pyflink-venv"
stamp="$venv/requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --progress-bar off -r "$requirements"
  echo "$want" > "$stamp"
fi
export DELTA_BIN_DIR="$build/bin"
export DELTA_SHADED_JAR="$build/java/flink-sql-connector-delta-sidecar.jar"
export PYFLINK_PYTHON="$venv/bin/python"
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$here/test_orders_to_table.py"
