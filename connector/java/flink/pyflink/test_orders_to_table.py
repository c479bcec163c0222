"""Runs orders_to_table.py with PyFlink against a real delta-sidecar and checks
the table with deltactl. Needs DELTA_BIN_DIR (the built binaries),
DELTA_SHADED_JAR and PYFLINK_PYTHON (a Python with requirements-pyflink.txt)."""
import os
import pathlib
import socket
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pyflink_job_writes_through_the_shaded_jar(tmp_path):
    bin_dir = pathlib.Path(os.environ["DELTA_BIN_DIR"])
    target = f"127.0.0.1:{_free_port()}"
    root = tmp_path / "tables"
    with open(tmp_path / "sidecar.log", "wb") as log:
        sidecar = subprocess.Popen(
            [bin_dir / "delta-sidecar", "--listen", target, "--data-dir", tmp_path / "data",
             "--table-root", root], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(target.split(":")[1])), 1).close()
                break
            except OSError:
                assert sidecar.poll() is None, (tmp_path / "sidecar.log").read_text()
                assert time.monotonic() < deadline, "the sidecar did not start"
                time.sleep(0.05)
        subprocess.run(
            [os.environ["PYFLINK_PYTHON"], HERE / "orders_to_table.py",
             "--jar", os.environ["DELTA_SHADED_JAR"], "--target", target, "--table", "orders"],
            check=True, timeout=600)
        scan = subprocess.run([bin_dir / "deltactl", "--root", root, "scan", "orders"],
                              check=True, capture_output=True, text=True).stdout.split()
        assert scan == ['{"id":1,"name":"c","qty":4}', '{"id":2,"name":"e","qty":7}',
                        '{"id":3,"name":"d","qty":4}']
    finally:
        sidecar.terminate()
        sidecar.wait(30)


if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", __file__]))
