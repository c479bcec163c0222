"""examples/coordinated_commit.py against two real sidecars on one table root:
worker processes write and seal on both, one coordinator commits each
checkpoint in one call, through either sidecar. The table must hold one
APPEND snapshot per checkpoint with every writer's identity, and exactly the
rows of the workers' sources. Also: committables survive the trip between
processes as bytes, as a dict and pickled."""

import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import deltasidecar
import sidecar_api
from sidecar_helpers import Deltactl

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "coordinated_commit.py"
WORKERS, CHECKPOINTS, ROWS = 4, 3, 300


def load_example():
    spec = importlib.util.spec_from_file_location("coordinated_commit", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def two_sidecars(sidecar_bin, tmp_path):
    """Two sidecars, each with its own data dir, sharing one table root."""
    a = sidecar_api.SidecarProcess(sidecar_bin, tmp_path / "a")
    b = sidecar_api.SidecarProcess(sidecar_bin, tmp_path / "b")
    b.table_root = a.table_root
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


def run_example(a, b, *extra):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--targets", f"{a.target},{b.target}", "--table", "events",
         "--workers", str(WORKERS), "--checkpoints", str(CHECKPOINTS), "--rows", str(ROWS),
         *extra],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_one_snapshot_per_checkpoint_with_writers_on_two_sidecars(two_sidecars, deltactl_bin):
    a, b = two_sidecars
    example = load_example()
    summary, log = run_example(a, b)
    # Checkpoint k went through target k mod 2: both sidecars committed, and each
    # commit held the writers staged on the other one.
    assert set(summary["committed_through"].values()) == {a.target, b.target}, log

    deltactl = Deltactl(deltactl_bin, a.table_root)
    appends = [h for h in deltactl.history("events") if h["kind"] == "APPEND"]
    assert len(appends) == CHECKPOINTS, appends
    writers = {example.writer_id("coordinated-commit", w) for w in range(WORKERS)}
    for k, snap in enumerate(appends, start=1):
        assert snap["id"] == summary["checkpoints"][str(k)]
        assert sorted((i["writer"], i["checkpoint"]) for i in snap["identities"]) == \
            sorted((w, k) for w in writers)
        assert snap["rows"] == WORKERS * ROWS

    expected = example.expected_table(WORKERS, CHECKPOINTS, ROWS)
    assert deltactl.scan("events") == [expected[k] for k in sorted(expected)]
    with deltasidecar.Client(b.target) as client:
        assert list(client.scan("events")) == [expected[k] for k in sorted(expected)]


def test_commit_through_a_sidecar_that_staged_nothing(two_sidecars, deltactl_bin):
    """Every worker beside sidecar A (the only target), every commit through
    sidecar B on the same root, which never saw a row."""
    a, b = two_sidecars
    example = load_example()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--targets", a.target, "--commit-target", b.target,
         "--table", "idle", "--workers", "2", "--checkpoints", "2", "--rows", "100"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    deltactl = Deltactl(deltactl_bin, a.table_root)
    appends = [h for h in deltactl.history("idle") if h["kind"] == "APPEND"]
    assert [sorted(i["checkpoint"] for i in h["identities"]) for h in appends] == [[1, 1], [2, 2]]
    expected = example.expected_table(2, 2, 100)
    assert deltactl.scan("idle") == [expected[k] for k in sorted(expected)]


def test_committable_round_trips():
    c = deltasidecar.wire.pb().Committable(
        table="t", writer_id="job/3", epoch=7, checkpoint_id=12, rows=1000,
        checksum=0xFEDCBA9876543210, identity="job/3#2")
    data = deltasidecar.committable_to_bytes(c)
    assert isinstance(data, bytes) and deltasidecar.committable_from_bytes(data) == c
    d = deltasidecar.committable_to_dict(c)
    assert d == {"table": "t", "writer_id": "job/3", "epoch": 7, "checkpoint_id": 12,
                 "rows": 1000, "checksum": 0xFEDCBA9876543210, "identity": "job/3#2"}
    assert deltasidecar.committable_from_dict(json.loads(json.dumps(d))) == c
    assert pickle.loads(pickle.dumps(c)) == c
    with pytest.raises(ValueError, match="unknown committable fields: bogus"):
        deltasidecar.committable_from_dict(dict(d, bogus=1))
    with pytest.raises(ValueError, match="'epoch' must be int"):
        deltasidecar.committable_from_dict(dict(d, epoch="7"))
