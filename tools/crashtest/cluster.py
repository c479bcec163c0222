"""The delta-sidecar processes under test: one or more sidecars on one table root.

Each Sidecar has its own --data-dir (its staging store), socket and log; all
of a Cluster's sidecars share one --table-root, as the sidecars of the
TaskManagers of one job share the table. A sidecar can be SIGKILLed,
restarted on the same directories, restarted with a kill point armed, or
replaced by one with an empty data dir on the same table root (a pod that
comes back without its staging volume).
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


class Sidecar:
    """One delta-sidecar process, restartable on the same directories."""

    def __init__(self, binary, workdir, table_root, index=0, extra_args=()):
        self.binary = Path(binary)
        self.index = index
        self.name = f"sidecar-{index}"
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.table_root = Path(table_root)
        self.socket = self.workdir / "s.sock"
        self.log_path = self.workdir / "sidecar.log"
        self.extra_args = list(extra_args)
        self.proc = None
        self.starts = 0
        self.armed = None
        self.log_offset = 0
        # Bumped whenever the data dir is replaced by an empty one: a seal is
        # identified by (sidecar, generation, epoch, rows, checksum).
        self.generation = 0
        self.death_noted = None

    @property
    def target(self):
        return f"unix:{self.socket}"

    def start(self, kill_point=None, timeout=30):
        assert not self.running()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("DELTA_SIDECAR_")}
        if kill_point:
            env["DELTA_SIDECAR_KILL_POINT"] = kill_point
        self.armed = kill_point
        argv = [str(self.binary), "--listen", self.target, "--data-dir", str(self.data_dir),
                "--table-root", str(self.table_root), *self.extra_args]
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} (data dir generation {self.generation})"
                      f"{' armed ' + kill_point if kill_point else ''}\n".encode())
            log.flush()
            self.log_offset = log.tell()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while "serving on" not in self.log_since_start():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                   f"{self.log_since_start()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log_since_start()}")
            time.sleep(0.005)

    def log_since_start(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            if rc != 0:
                raise RuntimeError(f"{self.name} exited with {rc} on SIGTERM:\n{self.log_since_start()}")

    def wipe_data_dir(self):
        """Replaces the (stopped) sidecar's data dir with an empty one."""
        assert not self.running()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        self.generation += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- data dir replaced by an empty one (generation {self.generation})\n".encode())

    def kill_point_hit(self):
        """The kill point that killed this run of the process, or None."""
        if self.proc is None or self.proc.poll() != -signal.SIGKILL:
            return None
        for line in self.log_since_start().splitlines():
            if line.startswith("kill point ") and " reached " in line:
                return line.split()[2]
        return None


class Cluster:
    """`count` sidecars sharing one table root under `workdir`."""

    def __init__(self, bin_dir, workdir, count=1, extra_args=()):
        self.workdir = Path(workdir)
        self.table_root = self.workdir / "tables"
        binary = Path(bin_dir) / "delta-sidecar"
        self.sidecars = [Sidecar(binary, self.workdir / f"sidecar-{i}", self.table_root, i, extra_args)
                         for i in range(count)]

    def __getitem__(self, i):
        return self.sidecars[i]

    def __len__(self):
        return len(self.sidecars)

    def __iter__(self):
        return iter(self.sidecars)

    def kill_all(self):
        for sc in self.sidecars:
            sc.kill9()

    def logs(self):
        return ", ".join(str(sc.log_path) for sc in self.sidecars)
