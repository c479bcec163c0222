"""Structured logs (--log-format=json): one JSON object per stderr line, and
every protocol event names its table, writer, epoch and checkpoint, so one
checkpoint can be followed through the log."""

import json
import re
import time

import grpc
import pytest

from deltasidecar import rows as pr
import sidecar_api
from sidecar_helpers import KEY, SCHEMA, rpc_error

T = "orders"
W = "op-7/3"
OTHER = "op-7/4"


def rows(start, n):
    return [{"id": start + i, "name": f"n{i}", "score": 1.0, "qty": i} for i in range(n)]


class JsonLogSidecar(sidecar_api.SidecarProcess):
    """SidecarProcess waits for the text line "delta-sidecar: serving on"; with
    --log-format=json the same line is the "serving" event."""

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.log().count('"event":"serving"') < self.starts:
            if self.proc.poll() is not None:
                raise AssertionError(f"delta-sidecar exited with {self.proc.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"delta-sidecar did not start listening\n{self.log()}")
            time.sleep(0.02)


@pytest.fixture
def json_sidecar_factory(sidecar_bin, tmp_path):
    made = []

    def make(env=None):
        env = {"DELTA_SIDECAR_LOG_FORMAT": "json", **(env or {})}
        sc = JsonLogSidecar(sidecar_bin, tmp_path / f"sc{len(made)}", env=env)
        made.append(sc)
        return sc.start()

    yield make
    for sc in made:
        sc.stop()


def json_lines(sc):
    """The log's lines as objects (the harness's own '--- start' lines skipped); every
    other line must be one JSON object with time, level and event."""
    out = []
    for line in sc.log().splitlines():
        if line.startswith("--- start "):
            continue
        obj = json.loads(line)  # raises on a line that is not JSON
        assert isinstance(obj, dict), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["time"]), line
        assert obj["level"] in ("info", "warn", "error"), line
        assert isinstance(obj["event"], str) and obj["event"], line
        out.append(obj)
    return out


def test_json_log_follows_one_checkpoint(json_sidecar_factory):
    sc = json_sidecar_factory(env={"DELTA_SIDECAR_MAINTENANCE_INTERVAL": "0"})
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=2)
    e1 = client.register(T, W).epoch
    o1 = client.register(T, OTHER).epoch
    # Checkpoint 1 of W (two batches) and of OTHER, committed together.
    client.write_rows(T, W, e1, [rows(0, 10), rows(10, 5)])
    client.write_rows(T, OTHER, o1, [rows(1000, 4)])
    cw = client.prepare(T, W, e1, 1)
    co = client.prepare(T, OTHER, o1, 1)
    snap = client.commit([cw, co]).commits[0].snapshot_id
    # Checkpoint 2 of W is aborted; the writer restores from 1; its old epoch is fenced.
    client.write_rows(T, W, e1, [rows(20, 3)])
    client.prepare(T, W, e1, 2)
    client.abort(T, W, e1, 2)
    e2 = client.register(T, W, restored=1).epoch
    e = rpc_error(client.prepare, T, W, e1, 3)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    sc.stop()  # the log is complete once the process has exited

    everything = json_lines(sc)
    # The background preparer logs what it wrote, unless the commit got there first.
    background = [l for l in everything if l["event"] == "checkpoint_prepared"]
    for l in background:
        assert l["level"] == "info" and l["table"] == T and l["writer"] in (W, OTHER), l
        assert l["rows"] > 0 and l["checkpoints"] >= 1 and l["seconds"] >= 0, l
    lines = [l for l in everything if l["event"] != "checkpoint_prepared"]
    assert "serving on" in next(l for l in lines if l["event"] == "serving")["message"]
    assert lines[-1]["event"] == "stopped"

    # Following checkpoint 1 of W: sealed with its rows, then committed into `snap`.
    cp1 = [l for l in lines if l.get("writer") == W and l.get("checkpoint") == 1]
    assert [l["event"] for l in cp1] == ["prepare", "commit"], cp1
    prepare, commit = cp1
    assert prepare["table"] == T and prepare["epoch"] == e1 and prepare["rows"] == 15
    assert prepare["batches"] == 2 and prepare["identity"] == W
    assert commit["table"] == T and commit["epoch"] == e1 and commit["snapshot"] == snap
    assert commit["already_committed"] is False
    # The other writer's checkpoint 1 landed in the same snapshot.
    other = [l for l in lines if l.get("writer") == OTHER and l.get("checkpoint") == 1]
    assert [(l["event"], l.get("snapshot")) for l in other] == [("prepare", None), ("commit", snap)]

    # Everything about W, in order.
    mine = [(l["event"], l.get("epoch"), l.get("checkpoint")) for l in lines if l.get("writer") == W]
    assert mine == [
        ("register", e1, None),
        ("write_open", e1, None), ("write_close", e1, None),
        ("prepare", e1, 1), ("commit", e1, 1),
        ("write_open", e1, None), ("write_close", e1, None),
        ("prepare", e1, 2), ("abort", e1, 2),
        ("register", e2, None), ("restore_discard", e2, None),
        ("prepare_failed", e1, 3), ("fenced", e1, None),
    ], mine
    by_event = {l["event"]: l for l in lines if l.get("writer") == W}
    assert by_event["restore_discard"]["after_checkpoint"] == 1
    assert by_event["register"]["restored_checkpoint"] == 1
    assert by_event["fenced"]["current_epoch"] == e2 and by_event["fenced"]["method"] == "PrepareCommit"
    assert by_event["fenced"]["level"] == "warn"
    closes = [l for l in lines if l.get("writer") == W and l["event"] == "write_close"]
    assert [(c["batches"], c["rows"], c["code"]) for c in closes] == [(2, 15, "OK"), (1, 3, "OK")]

    # Maintenance ran for the table after the commit.
    maint = [l for l in lines if l["event"] == "maintenance" and l.get("table") == T]
    assert maint and maint[0]["reason"] == "commit" and maint[-1]["latest_snapshot"] >= snap


def test_bad_batch_is_logged_with_its_error(json_sidecar_factory):
    sc = json_sidecar_factory()
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    stream = client.write_stream(T, W, epoch)
    packed, n = pr.encode_rows(client.schema(T), rows(0, 2))
    stream.send(packed + b"\x01", n)
    assert rpc_error(stream.ack).code() == grpc.StatusCode.INVALID_ARGUMENT
    sc.stop()
    close = [l for l in json_lines(sc) if l["event"] == "write_close"]
    assert len(close) == 1
    assert close[0]["level"] == "warn" and close[0]["code"] == "INVALID_ARGUMENT"
    assert close[0]["writer"] == W and close[0]["epoch"] == epoch and close[0]["batches"] == 0
    assert "batch 0" in close[0]["error"], close[0]


def test_text_log_is_the_default(sidecar_factory):
    sc = sidecar_factory()
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    client.write_rows(T, W, epoch, [rows(0, 1)])
    client.commit([client.prepare(T, W, epoch, 4)])
    sc.stop()
    log = sc.log()
    assert "delta-sidecar: serving on " in log
    assert f"delta-sidecar: commit table={T} writer={W} epoch={epoch} checkpoint=4 " in log, log
    assert "delta-sidecar: stopped" in log


def test_unknown_log_format_is_a_usage_error(sidecar_bin, tmp_path):
    import subprocess
    proc = subprocess.run([str(sidecar_bin), "--data-dir", str(tmp_path / "d"), "--table-root",
                           str(tmp_path / "r"), "--log-format", "xml"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--log-format" in proc.stderr and "xml" in proc.stderr, proc.stderr
