"""delta-loadgen against a real sidecar that is killed at chosen moments.

delta-loadgen computes the final table in-process, independently of the
server (--expect), and recovers like Flink: restart from the last completed
checkpoint, commit its committables again, replay the sources. Whatever the
kills, `deltactl scan` must print exactly the expected table, byte for byte.
"""

import json
import queue
import random
import re
import subprocess
import threading
import time

import pytest

from deltasidecar import rows as pr
from sidecar_helpers import Deltactl

TABLE = "lg"


class Loadgen:
    """A running delta-loadgen with --progress; its stderr lines arrive on a queue."""

    def __init__(self, binary, target, expect_path, extra):
        self.argv = [str(binary), "--target", target, "--table", TABLE, "--expect", str(expect_path),
                     "--progress", "--max-restart-seconds", "60", *map(str, extra)]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.log = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern, timeout=60):
        """The next stderr line matching `pattern`, or None once the process ended."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s\n{self.tail()}")
            if line is None:
                self.lines.put(None)
                return None
            if re.search(pattern, line):
                return line

    def drain(self):
        """Forgets the lines read so far (the end-of-output marker stays)."""
        ended = False
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            ended = ended or line is None
        if ended:
            self.lines.put(None)

    def finish(self, timeout=240):
        out, _ = self.proc.communicate(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.proc.returncode == 0, f"delta-loadgen failed ({self.proc.returncode})\n{self.tail()}"
        return json.loads(out.strip().split("\n")[-1])

    def tail(self):
        return "".join(self.log[-60:])


def run_loadgen(loadgen_bin, sidecar, tmp_path, extra):
    return Loadgen(loadgen_bin, sidecar.target, tmp_path / "expect.jsonl", extra)


def assert_table_is_expected(deltactl, tmp_path, sidecar=None):
    expected = (tmp_path / "expect.jsonl").read_bytes()
    actual = deltactl.run("scan", TABLE).stdout
    if actual != expected:
        exp_lines, act_lines = expected.split(b"\n"), actual.split(b"\n")
        first = next((i for i, (a, b) in enumerate(zip(exp_lines, act_lines)) if a != b),
                     min(len(exp_lines), len(act_lines)))
        raise AssertionError(
            f"deltactl scan differs from delta-loadgen --expect: {len(act_lines) - 1} rows vs "
            f"{len(exp_lines) - 1}; first difference at line {first + 1}:\n"
            f"  expected {exp_lines[first][:200] if first < len(exp_lines) else b'<end>'}\n"
            f"  actual   {act_lines[first][:200] if first < len(act_lines) else b'<end>'}\n"
            + (sidecar.log()[-3000:] if sidecar else ""))
    return expected


def test_loadgen_run_matches_its_expectation(loadgen_bin, sidecar, deltactl_bin, tmp_path):
    args = ["--rows", 200000, "--writers", 2, "--checkpoint-rows", 20000, "--seed", 7]
    lg = run_loadgen(loadgen_bin, sidecar, tmp_path, args)
    summary = lg.finish()
    assert summary["rows"] == 200000 and summary["writers"] == 2 and summary["restarts"] == 0
    assert summary["checkpoints"] == 5
    assert summary["rows_per_s"] > 0 and summary["mb_per_s"] > 0
    deltactl = Deltactl(deltactl_bin, sidecar.table_root)
    expected = assert_table_is_expected(deltactl, tmp_path)

    # The expectation is computed without a server, and deterministic.
    dry = tmp_path / "dry.jsonl"
    subprocess.run([str(loadgen_bin), "--table", TABLE, "--expect", str(dry), "--dry-run", *map(str, args)],
                   check=True, timeout=120)
    assert dry.read_bytes() == expected
    # A sanity check of the model itself: ~rows/2 keys, upserts win over deletes.
    lines = expected.decode().split("\n")[:-1]
    assert 50000 < len(lines) <= 100000
    first = json.loads(lines[0])
    assert list(first) == ["id", "writer", "seq", "amount", "payload"]
    assert first["writer"] == first["id"] % 2
    assert len(first["payload"]) == 100 - 31  # --row-bytes 100: 30 fixed bytes, a 1-byte length

    # The gRPC Scan serves the same rows.
    client = sidecar.client()
    schema = client.schema(TABLE)
    rows, _ = client.scan(TABLE)
    assert [pr.json_row(schema, r) for r in rows] == [json.loads(line) for line in lines]
    # Each checkpoint committed once per writer, in order (a commit may carry several).
    idents = [(i.writer_id, i.checkpoint_id) for h in client.history(TABLE) for i in h.identities]
    assert sorted(idents) == [(f"loadgen-{TABLE}/{w}", n) for w in range(2) for n in range(1, 6)]
    for w in range(2):
        assert [n for wid, n in idents if wid == f"loadgen-{TABLE}/{w}"] == [1, 2, 3, 4, 5]


def test_loadgen_survives_kills_at_chosen_moments(loadgen_bin, sidecar, deltactl_bin, tmp_path):
    lg = run_loadgen(loadgen_bin, sidecar, tmp_path,
                     ["--rows", 400000, "--writers", 2, "--checkpoint-rows", 20000, "--batch-rows", 2000,
                      "--seed", 11])

    def crash(delay=0.0, down=0.3):
        time.sleep(delay)
        sidecar.kill9()
        time.sleep(down)
        sidecar.start()
        lg.drain()  # later waits see only what happened after the restart

    moments = [
        # During writes: shortly after a commit, while batches stream.
        (r"checkpoint \d+ committed", 0.02),
        # Right after one writer's PrepareCommit, before the other's: the
        # checkpoint is incomplete and must be discarded and replayed.
        (r"writer 0 prepared checkpoint", 0.0),
        # After every writer prepared: the commit is under way or about to be.
        (r"checkpoint \d+ complete", 0.0),
        # During a commit, a little later.
        (r"checkpoint \d+ complete", 0.02),
    ]
    kills = 0
    for pattern, delay in moments:
        if lg.wait_for(pattern) is None:
            break
        crash(delay)
        kills += 1
    summary = lg.finish()
    # A kill can be absorbed by a Commit retry (UNAVAILABLE: retried with the
    # same committables) when every writer waits; otherwise it is a restart.
    assert kills == len(moments), lg.tail()
    assert summary["restarts"] >= 1, lg.tail()
    assert_table_is_expected(Deltactl(deltactl_bin, sidecar.table_root), tmp_path, sidecar)
    # No checkpoint identity was committed twice.
    idents = [(i.writer_id, i.checkpoint_id) for h in sidecar.client().history(TABLE) for i in h.identities]
    assert len(idents) == len(set(idents))


@pytest.mark.parametrize("seed, extra", [
    (2024, ["--writers", 3, "--checkpoint-interval-ms", 100, "--batch-rows", 2000, "--delete-ratio", 0.2]),
    (7, ["--writers", 2, "--checkpoint-rows", 50000, "--batch-rows", 5000]),
    (99, ["--writers", 4, "--checkpoint-interval-ms", 30, "--batch-rows", 500, "--update-ratio", 0.6]),
])
def test_loadgen_survives_random_kills_and_a_sigterm(loadgen_bin, sidecar_factory, deltactl_bin, tmp_path,
                                                     seed, extra):
    sidecar = sidecar_factory(env={"DELTA_SIDECAR_SHUTDOWN_TIMEOUT": "2s"})
    rng = random.Random(seed)
    lg = run_loadgen(loadgen_bin, sidecar, tmp_path, ["--rows", 1500000, "--seed", seed, *extra])
    # The writers stream 1.5M rows in about a second, the commits take longer:
    # kills at random moments from the start hit writes, seals and commits.
    kills = 0
    for k in range(5):
        time.sleep(rng.uniform(0.05, 0.6))
        if lg.proc.poll() is not None:
            break
        if k == 2:
            assert sidecar.terminate() == 0  # graceful this time (open streams end with UNAVAILABLE)
        else:
            sidecar.kill9()
        kills += 1
        time.sleep(rng.uniform(0.0, 0.5))
        sidecar.start()
    summary = lg.finish()
    assert kills >= 3, lg.tail()
    assert summary["restarts"] >= 1, lg.tail()
    assert_table_is_expected(Deltactl(deltactl_bin, sidecar.table_root), tmp_path, sidecar)


def test_loadgen_over_a_unix_socket(loadgen_bin, sidecar_factory, deltactl_bin, tmp_path, socket_dir):
    sock = f"{socket_dir}/s.sock"
    sc = sidecar_factory(name="unix", listen=f"unix:{sock}")
    lg = Loadgen(loadgen_bin, sock, tmp_path / "expect.jsonl",
                 ["--rows", 30000, "--writers", 4, "--checkpoint-interval-ms", 100])
    summary = lg.finish()
    assert summary["restarts"] == 0
    assert_table_is_expected(Deltactl(deltactl_bin, sc.table_root), tmp_path)
