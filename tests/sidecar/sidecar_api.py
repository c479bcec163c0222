"""A delta-sidecar process handle for the tests, and the client they use.

The client is the project's Python package (connector/python/deltasidecar):
`wire.Client` over plain grpcio, `rows` for the packed row encoding.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "connector" / "python"))

from deltasidecar.wire import Client, load_proto, pb  # noqa: E402,F401  (re-exported for the tests)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SidecarProcess:
    """A delta-sidecar on its own data dir and table root; restartable on the same dirs.
    `args`: more command-line flags."""

    def __init__(self, binary, workdir, listen=None, env=None, args=()):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.table_root = self.workdir / "root"
        self.listen = listen or f"127.0.0.1:{free_port()}"
        self.log_path = self.workdir / "sidecar.log"
        self.env = dict(os.environ, **(env or {}))
        self.args = list(args)
        self.proc = None
        self._stopped_by_us = False
        self.starts = 0
        self._clients = []

    @property
    def target(self):
        return self.listen

    def argv(self):
        # The two-word flags as this binary spells them (absl: data_dir; CLI11: data-dir).
        help_text = subprocess.run([str(self.binary), "--help"], capture_output=True, text=True,
                                   timeout=30)
        sep = "_" if "--data_dir" in help_text.stdout + help_text.stderr else "-"
        return [str(self.binary), "--listen", self.listen, f"--data{sep}dir", str(self.data_dir),
                f"--table{sep}root", str(self.table_root), *self.args]

    def start(self, timeout=30):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        argv = self.argv()
        self._stopped_by_us = False
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env=self.env)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        """Waits for the "serving on" line of this start, then until DescribeTable of a
        missing table answers NOT_FOUND.

        A channel that tried before the port was open backs off for seconds, so
        the probe starts only once the server says it listens.
        """
        deadline = time.monotonic() + timeout
        while self.log().count("delta-sidecar: serving on") < self.starts:
            if self.proc.poll() is not None:
                raise AssertionError(f"delta-sidecar exited with {self.proc.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"delta-sidecar did not start listening\n{self.log()}")
            time.sleep(0.02)
        client = Client(self.target)
        try:
            while True:
                try:
                    client._describe(pb().DescribeTableRequest(table="no-such-table-probe"), timeout=5)
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.NOT_FOUND:
                        return
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"delta-sidecar not ready: {e.code()} {e.details()}\n"
                                             f"{self.log()}")
                time.sleep(0.02)
        finally:
            client.close()

    def client(self):
        c = Client(self.target)
        self._clients.append(c)
        return c

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self._stopped_by_us = True
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def sigterm(self):
        """Sends SIGTERM without waiting for the exit."""
        self._stopped_by_us = True
        self.proc.send_signal(signal.SIGTERM)

    def terminate(self, timeout=60):
        """SIGTERM; returns the exit status."""
        self.sigterm()
        return self.proc.wait(timeout=timeout)

    def restart(self):
        self.kill9()
        return self.start()

    def log(self):
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text

    def vm_hwm_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def stop(self):
        """Closes the clients and stops the process; raises if it had died on its own."""
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self.proc is None:
            return
        if not self.running():
            if not self._stopped_by_us:
                raise AssertionError(f"delta-sidecar died during the test (exit status "
                                     f"{self.proc.returncode})\n{self.log()[-4000:]}")
            return
        try:
            status = self.terminate(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"delta-sidecar ignored SIGTERM for 60 s\n{self.log()[-4000:]}")
        if status != 0:
            raise AssertionError(f"delta-sidecar exited with {status} on SIGTERM\n{self.log()[-4000:]}")
