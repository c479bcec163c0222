"""FollowChanges against a real delta-sidecar: every change of every APPEND
snapshot exactly once while commits land, nothing for compaction snapshots,
consumer positions that hold expiry until their max age, deltactl's view of
them, and a follower that resumes across a sidecar restart."""

import json
import threading
import time

import pytest

from deltasidecar.client import Client
from deltasidecar.errors import DeltaSidecarError, RetryableError
from sidecar_api import free_port
from sidecar_helpers import KEY, SCHEMA, Deltactl
from test_metrics import scrape_until

T = "follow"
LAG = "delta_sidecar_consumer_lag_snapshots"


def import_rows(ctl, tmp_path, rows, maintenance=True):
    """Commits `rows` (dicts; "_op": "delete" deletes) with deltactl; returns the snapshot id."""
    src = tmp_path / f"rows-{time.monotonic_ns()}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["import", T, src] + ([] if maintenance else ["--no-maintenance"])
    return int(ctl.run(*args).stdout.decode().split()[-1])


def history(ctl):
    return ctl.history(T)


def append_ids(ctl, after):
    return [s["id"] for s in history(ctl) if s["id"] > after and s["kind"] == "APPEND"]


def deltactl_changes(ctl, snapshot_id):
    out = ctl.run("changes", T, "--from", snapshot_id - 1, "--to", snapshot_id).stdout.decode()
    return sorted((json.loads(line) for line in out.split("\n") if line), key=lambda r: r["id"])


def as_rows(changes):
    """Changes as deltactl prints them: the row with "_op", deletes with the key only."""
    return sorted(({**c.row, "_op": c.op} for c in changes), key=lambda r: r["id"])


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Follower:
    """Follows T on a thread, resuming from the last snapshot received whole after
    a retryable error, until finish()."""

    def __init__(self, target, start, consumer=None):
        self.client = Client(target)
        self.start = start
        self.consumer = consumer
        self.seen = []          # (snapshot_id, [Change])
        self.errors = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def last(self):
        return self.seen[-1][0] if self.seen else self.start

    def _run(self):
        while not self.done:
            it = self.client.follow_changes(T, self.last(), consumer=self.consumer,
                                            poll_interval_ms=20)
            try:
                for snapshot_id, changes in it:
                    self.seen.append((snapshot_id, changes))
            except DeltaSidecarError as e:
                if self.done:
                    return
                self.errors.append(e)
                if not isinstance(e, RetryableError):
                    return
                time.sleep(0.1)
            finally:
                it.close()

    def finish(self, last):
        """Waits until snapshot `last` was received, then ends the read."""
        wait_for(lambda: self.last() >= last or not self.thread.is_alive(),
                 f"the follower to reach snapshot {last}", timeout=60)
        self.done = True
        self.client.close()  # ends the call in progress
        self.thread.join(10)
        assert not self.thread.is_alive()


def check_exactly_once(ctl, follower, start):
    ids = [s for s, _ in follower.seen]
    assert ids == append_ids(ctl, start), "each APPEND snapshot once, in order, nothing else"
    for snapshot_id, changes in follower.seen:
        assert as_rows(changes) == deltactl_changes(ctl, snapshot_id), snapshot_id


@pytest.fixture
def table(sidecar, deltactl):
    ctl = Deltactl(deltactl.binary, sidecar.table_root)
    ctl.run("create", T, "--schema", SCHEMA, "--primary-key", KEY, "--buckets", 2)
    return ctl


def test_follower_sees_every_change_once_while_commits_land(sidecar, table, tmp_path):
    from deltasidecar import Writer
    follower = Follower(sidecar.target, 0)
    last = 0
    with Writer(T, "w", target=sidecar.target) as w:
        for cp in range(1, 13):
            for i in range(20):
                key = (cp * 7 + i) % 50
                if i % 5 == 4:
                    w.delete({"id": key})
                else:
                    w.upsert({"id": key, "name": f"r{cp}-{i}", "score": float(i), "qty": cp})
            last = w.commit([w.prepare_commit(cp)])[0].snapshot_id
            if cp % 4 == 0:  # compaction snapshots land between the commits
                table.run("compact", T, "--full")
    follower.finish(last)
    assert not follower.errors
    kinds = {s["id"]: s["kind"] for s in history(table)}
    assert "COMPACT" in kinds.values()
    check_exactly_once(table, follower, 0)
    # Applying every change in order gives the table.
    state = {}
    for _, changes in follower.seen:
        for c in changes:
            if c.op == "upsert":
                state[c.row["id"]] = c.row
            else:
                state.pop(c.row["id"], None)
    assert sorted(state) == sorted(r["id"] for r in table.scan(T))


def test_compaction_snapshots_yield_nothing(sidecar, table, tmp_path):
    for i in range(3):
        import_rows(table, tmp_path, [{"id": i, "name": "a"}], maintenance=False)
    start = history(table)[-1]["id"]
    client = Client(sidecar.target)
    it = client.follow_changes(T, start, poll_interval_ms=20)
    compacted = int(table.run("compact", T, "--full").stdout.decode().split()[-1])
    appended = import_rows(table, tmp_path, [{"id": 9, "name": "z"}], maintenance=False)
    assert appended == compacted + 1
    snapshot_id, changes = next(it)
    assert snapshot_id == appended
    assert [(c.op, c.row["id"]) for c in changes] == [("upsert", 9)]
    it.close()
    client.close()


def consumers(ctl):
    """deltactl consumers T, as {name: (position, "holds"|"stale")}."""
    out = {}
    for line in ctl.run("consumers", T, "--consumer-max-age", "3s").stdout.decode().splitlines():
        words = line.split()
        position = next(w for w in words if w.startswith("position="))
        out[words[0]] = (int(position.split("=")[1]), words[-1])
    return out


def test_consumer_holds_expiry_until_max_age_and_deltactl_drops_it(sidecar_factory, deltactl_bin,
                                                                   tmp_path):
    port = free_port()
    sc = sidecar_factory(args=["--retain-min-snapshots", "1", "--retain-max-age", "0s",
                               "--consumer-max-age", "3s", "--maintenance-interval", "200ms",
                               "--compaction-trigger-files", "0",
                               "--metrics-listen", f"127.0.0.1:{port}"])
    ctl = Deltactl(deltactl_bin, sc.table_root)
    ctl.run("create", T, "--schema", SCHEMA, "--primary-key", KEY)
    first = import_rows(ctl, tmp_path, [{"id": 1, "name": "a"}], maintenance=False)

    # The reader takes snapshot `first` and stops: its position is `first`.
    client = Client(sc.target)
    it = client.follow_changes(T, first - 1, consumer="reader", poll_interval_ms=20)
    assert next(it)[0] == first
    it.close()
    wait_for(lambda: consumers(ctl).get("reader") == (first, "holds"), "the position")

    for i in range(5):  # the sidecar's maintenance runs every 200ms
        import_rows(ctl, tmp_path, [{"id": 10 + i, "name": "b"}], maintenance=False)
    latest = history(ctl)[-1]["id"]
    time.sleep(0.5)  # a few maintenance intervals
    assert history(ctl)[0]["id"] == first, "expiry keeps every snapshot from the position on"
    scrape_until(port, lambda m: m.get(LAG, table=T, consumer="reader") == latest - first,
                 "the consumer's lag")
    described = json.loads(ctl.run("describe", T).stdout)
    assert described["consumers"]["reader"]["position"] == first
    assert described["consumers"]["reader"]["lag"] == latest - first
    # What it has not read is still there to read.
    again = client.follow_changes(T, consumer="reader", poll_interval_ms=20)
    assert [next(again)[0] for _ in range(5)] == list(range(first + 1, latest + 1))
    again.close()
    wait_for(lambda: consumers(ctl).get("reader") == (latest, "holds"), "the position to move")
    client.close()

    # Nobody reads any more: after --consumer-max-age the hold is gone.
    wait_for(lambda: consumers(ctl)["reader"][1] == "stale", "the consumer to go stale")
    wait_for(lambda: history(ctl)[0]["id"] == history(ctl)[-1]["id"], "expiry to catch up")

    assert ctl.run("consumers", T, "--drop", "reader").stdout.decode().strip() == \
        "dropped consumer reader"
    assert consumers(ctl) == {}
    scrape_until(port, lambda m: m.series(LAG) == {}, "the dropped consumer's series to go")
    assert ctl.run("consumers", T, "--drop", "reader", check=False).returncode == 1


def test_restart_mid_follow_resumes_without_loss_or_duplicate(sidecar, table, tmp_path):
    follower = Follower(sidecar.target, 0, consumer="restarts")
    last = 0
    for i in range(12):
        last = import_rows(table, tmp_path, [{"id": i % 4, "name": f"v{i}"}, {"id": 100 + i}])
        if i in (4, 8):
            wait_for(lambda: follower.seen and follower.seen[-1][0] >= last - 1, "the follower")
            sidecar.restart()
    follower.finish(last)
    assert any(isinstance(e, RetryableError) for e in follower.errors), follower.errors
    assert all(isinstance(e, RetryableError) for e in follower.errors), follower.errors
    check_exactly_once(table, follower, 0)


def test_sigterm_ends_a_waiting_follow_at_once(sidecar, table):
    client = Client(sidecar.target)
    it = client.follow_changes(T, 0, poll_interval_ms=10000)
    errors = []

    def run():
        try:
            next(it)
        except DeltaSidecarError as e:
            errors.append(e)
        finally:
            client.close()  # an idle open channel would hold the shutdown

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    time.sleep(0.5)  # the read is waiting for a snapshot
    t0 = time.monotonic()
    assert sidecar.terminate() == 0
    assert time.monotonic() - t0 < 8
    reader.join(10)
    assert len(errors) == 1 and isinstance(errors[0], RetryableError), errors
    assert "shutting down" in str(errors[0]) and "up to snapshot 0" in str(errors[0])
