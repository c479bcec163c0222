"""The delta-sidecar process: --help, SIGTERM, kill -9 and restart, unix sockets."""

import concurrent.futures
import struct
import subprocess
import threading
import time

import grpc
import pytest

from deltasidecar import rows as pr
from sidecar_helpers import KEY, SCHEMA, Deltactl, assert_tables_agree, rpc_error
from test_metrics import scrape_until, start_with_metrics

T = "proc"
W = "op-1/0"


def row(i, name=None):
    return {"id": i, "name": name if name is not None else f"p-{i}", "score": float(i), "qty": i}


def seal(client, writer, epoch, cp, ops):
    client.write_rows(T, writer, epoch, [ops])
    return client.prepare(T, writer, epoch, cp)


def test_help_names_the_default_listen_address(sidecar_bin):
    proc = subprocess.run([str(sidecar_bin), "--help"], capture_output=True, text=True, timeout=30)
    text = proc.stdout + proc.stderr
    assert "127.0.0.1:7543" in text, text
    assert "--listen" in text and "data" in text and "table" in text


def test_missing_required_flags_fail(sidecar_bin, tmp_path):
    proc = subprocess.run([str(sidecar_bin)], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "data" in proc.stderr.lower()


def test_sigterm_exits_cleanly_and_the_next_start_recovers(sidecar, client, deltactl):
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    client.commit([seal(client, W, epoch, 1, [row(1)])])
    c2 = seal(client, W, epoch, 2, [row(2), row(1, "updated")])  # sealed, not committed
    client.write_rows(T, W, epoch, [[row(3)]])  # acknowledged, not sealed

    # (An idle grpc-python channel answers the server's shutdown GOAWAY ping
    # only at its 5 s backup poll, and the shutdown waits for it: close it first.)
    client.close()
    t0 = time.monotonic()
    assert sidecar.terminate() == 0
    assert time.monotonic() - t0 < 10
    assert "stopped" in sidecar.log()

    sidecar.start()
    client = sidecar.client()
    reg = client.register(T, W, restored=2)
    assert [p.checkpoint_id for p in reg.pending] == [2]
    assert reg.pending[0] == c2
    assert reg.last_committed_checkpoint_id == 1
    client.commit(list(reg.pending))
    assert_tables_agree(client, deltactl, T, [row(1, "updated"), row(2)])


class _NextAck(threading.Thread):
    """Waits for a stream's next response, as a client's reader of acks does:
    `result` is the response or the grpc.RpcError, `at` when it came."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.result = None
        self.at = None
        self.start()

    def run(self):
        try:
            self.result = self.stream.ack()
        except grpc.RpcError as e:
            self.result = e
        self.at = time.monotonic()

    def get(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "no response and no end of the stream"
        return self.result


def test_sigterm_ends_idle_write_streams_at_once_and_keeps_what_they_staged(sidecar_factory,
                                                                          deltactl_bin):
    # Open Write streams whose clients send nothing do not hold the shutdown
    # until --shutdown-timeout: they end at once with UNAVAILABLE, and what
    # they had staged survives the restart.
    sc = sidecar_factory(env={"DELTA_SIDECAR_SHUTDOWN_TIMEOUT": "20s"})
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    schema = client.schema(T)
    epoch = client.register(T, W).epoch
    # Opened first, never sends a message (its reactor waits for the first one).
    silent = client.write_stream(T, "op-1/1", 0)
    stream = client.write_stream(T, W, epoch)
    assert stream.write(*pr.encode_rows(schema, [row(1), row(2)])).rows_staged == 2
    # Both streams stay open and idle; the client waits for their next
    # responses, as a client's reader of acks does.
    waits = [_NextAck(stream), _NextAck(silent)]

    t0 = time.monotonic()
    sc.sigterm()
    e = waits[0].get()
    ended = time.monotonic() - t0
    assert isinstance(e, grpc.RpcError), e
    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
    assert "shutting down" in e.details(), e.details()
    assert ended < 2, f"the stream ended {ended:.1f} s after SIGTERM"
    e = waits[1].get()
    assert isinstance(e, grpc.RpcError), e
    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
    # The client goes elsewhere: it drops its connection. (A grpc-python
    # channel left connected with no call in progress answers the server's
    # shutdown GOAWAY ping only at its next backup poll, 5 s later, and the
    # server waits for that answer.)
    client.close()
    status = sc.proc.wait(timeout=60)
    took = time.monotonic() - t0
    assert status == 0, sc.log()[-2000:]
    assert took < 5, f"shutdown took {took:.1f} s (--shutdown-timeout 20s)\n{sc.log()[-2000:]}"
    assert "stopped" in sc.log()

    # The acknowledged batch is still staged under the same epoch (no new
    # registration, which would drop it): seal and commit it.
    sc.start()
    client = sc.client()
    c1 = client.prepare(T, W, epoch, 1)
    assert c1.rows == 2
    client.commit([c1])
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T, [row(1), row(2)])


def _packed_rows(first_id, count):
    """`count` upserts {id, name: 30 chars, score: NULL, qty: NULL}, packed fast (struct)."""
    name = b"n" * 30
    return b"".join(b"\x01\x0c" + struct.pack("<q", i) + b"\x1e" + name
                    for i in range(first_id, first_id + count))


def test_sigterm_while_a_batch_is_staged_acknowledges_it_first(sidecar_factory):
    # A batch the sidecar is staging when SIGTERM arrives is staged and
    # acknowledged; only then does its stream end with UNAVAILABLE. Timing
    # decides whether SIGTERM lands while the batch is staged (rather than
    # before it is read or after its ack), so an attempt counts only if the
    # ack reached the client after SIGTERM; every attempt checks that the
    # batch is staged exactly when it was acknowledged.
    n = 1_000_000  # about 40 MB; staging it takes a few hundred ms
    sc = sidecar_factory(env={"DELTA_SIDECAR_SHUTDOWN_TIMEOUT": "20s"})
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    schema = client.schema(T)
    assert _packed_rows(7, 1) == pr.encode_rows(schema, [{"id": 7, "name": "n" * 30}])[0]
    first, second = _packed_rows(0, n), _packed_rows(n, n)
    outcomes = []
    # When SIGTERM comes, as a share of the first batch's round trip: a
    # bisection between a share that came too early (the second batch not
    # read yet) and one that came too late (acknowledged before SIGTERM).
    early, late = 0.0, 2.0
    share = 0.4
    for attempt in range(8):
        writer = f"op-2/{attempt}"
        epoch = client.register(T, writer).epoch
        stream = client.write_stream(T, writer, epoch)
        t0 = time.monotonic()
        stream.write(first, n)
        staging = time.monotonic() - t0
        wait = _NextAck(stream)
        stream.send(second, n)
        time.sleep(staging * share)
        t_sig = time.monotonic()
        sc.sigterm()
        ack = wait.get()
        if isinstance(ack, grpc.RpcError):  # SIGTERM came before the batch was read
            assert ack.code() == grpc.StatusCode.UNAVAILABLE, (ack.code(), ack.details())
            outcomes.append("not read")
            early = share
        else:
            assert ack.rows_staged == n
            e = rpc_error(stream.ack)
            assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
            assert "shutting down" in e.details(), e.details()
            outcomes.append("acknowledged during shutdown" if wait.at > t_sig else "acknowledged before")
            late = share
        share = (early + late) / 2
        client.close()  # (see the test above)
        assert sc.proc.wait(timeout=60) == 0, sc.log()[-2000:]
        sc.start()
        client = sc.client()
        # Acknowledged <=> staged.
        c = client.prepare(T, writer, epoch, 1)
        assert c.rows == (n if outcomes[-1] == "not read" else 2 * n), outcomes
        if outcomes[-1] == "acknowledged during shutdown":
            return
    pytest.fail(f"SIGTERM never landed while a batch was staged: {outcomes}")


def test_sigterm_lets_a_running_commit_finish(sidecar_factory, deltactl_bin):
    # With 1 MiB of commit memory the checkpoint's data files are written one
    # after the other (by the background preparer, or by the commit itself),
    # so a Commit of 50 MB takes seconds; SIGTERM comes once the sidecar
    # reports the Commit in flight and before it published anything.
    sc, port = start_with_metrics(sidecar_factory, DELTA_SIDECAR_SHUTDOWN_TIMEOUT="20s",
                                  DELTA_SIDECAR_COMMIT_MEMORY_MB="1")
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=4)
    epoch = client.register(T, W).epoch
    n = 50_000
    rows = [row(i, f"{i:06d}" + "c" * 1000) for i in range(n)]  # about 50 MB
    client.write_rows(T, W, epoch, [rows[k:k + 1000] for k in range(0, n, 1000)])
    c1 = client.prepare(T, W, epoch, 1)
    snapshots = sc.table_root / T / "snapshots"
    published = sorted(snapshots.glob("snapshot-*"))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        commit = pool.submit(client.commit, [c1])
        scrape_until(port, lambda s: s.get("delta_sidecar_commits_in_flight") == 1 or commit.done(),
                     "the Commit in flight")
        assert not commit.done(), commit.result()
        assert sorted(snapshots.glob("snapshot-*")) == published, "the commit ended before SIGTERM"
        sc.sigterm()
        resp = commit.result(timeout=60)
    client.close()  # (see test_sigterm_ends_idle_write_streams_...)
    assert sc.proc.wait(timeout=60) == 0, sc.log()[-2000:]
    (tc,) = resp.commits
    assert not tc.already_committed
    # The table holds the commit (read with deltactl, the sidecar is down).
    dc = Deltactl(deltactl_bin, sc.table_root)
    (snap,) = [h for h in dc.history(T) if h["id"] == tc.snapshot_id]
    assert snap["identities"] == [{"writer": W, "checkpoint": 1}]
    got = dc.scan(T)
    assert [r["id"] for r in got] == list(range(n))
    assert all(r["name"] == rows[r["id"]]["name"] for r in got)


def test_kill9_keeps_sealed_and_committed_checkpoints(sidecar, client, deltactl):
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    c1 = seal(client, W, epoch, 1, [row(1)])
    client.commit([c1])
    c2 = seal(client, W, epoch, 2, [row(2)])
    c3 = seal(client, W, epoch, 3, [row(3)])
    client.commit([c3])  # commits 2 and 3
    c4 = seal(client, W, epoch, 4, [row(4)])
    client.write_rows(T, W, epoch, [[row(5)]])
    sidecar.kill9()
    sidecar.start()
    client = sidecar.client()
    # The commits are in the table, the sealed checkpoint 4 is pending.
    assert client.commit([c2]).commits[0].already_committed
    reg = client.register(T, W, restored=4)
    assert [p.checkpoint_id for p in reg.pending] == [4] and reg.pending[0] == c4
    assert reg.last_committed_checkpoint_id == 3
    client.commit(list(reg.pending))
    assert_tables_agree(client, deltactl, T, [row(1), row(2), row(3), row(4)])


def reason(e):
    return dict(e.trailing_metadata() or ()).get("delta-sidecar-reason")


def test_kill9_loses_unsealed_batches_and_says_so_in_a_reason_trailer(sidecar, client):
    # Acknowledged but unsealed batches live in memory: after a crash the
    # writer's Write and PrepareCommit fail ABORTED with the reason
    # "unsealed-lost" (docs/protocol.md, "Error reasons") until it registers.
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    client.commit([seal(client, W, epoch, 1, [row(1)])])
    client.write_rows(T, W, epoch, [[row(2)]])
    sidecar.kill9()
    sidecar.start()
    client = sidecar.client()
    for e in (rpc_error(client.write_rows, T, W, epoch, [[row(3)]]),
              rpc_error(client.prepare, T, W, epoch, 2)):
        assert e.code() == grpc.StatusCode.ABORTED, e
        assert "not sealed and are gone" in e.details()
        assert reason(e) == "unsealed-lost"
    # Other errors carry no reason.
    e = rpc_error(client.prepare, T, W, epoch - 1, 2)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and reason(e) is None
    epoch = client.register(T, W, restored=1).epoch
    client.commit([seal(client, W, epoch, 2, [row(2)])])
    assert client.scan(T)[0] == [row(1), row(2)]


def test_kill9_between_table_commit_and_bookkeeping_is_resolved_by_the_table(sidecar, client, deltactl):
    # Commit, then crash at once; whatever the staging store recorded, the
    # restarted sidecar must report the checkpoint committed, not pending.
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    c1 = seal(client, W, epoch, 1, [row(1)])
    client.commit([c1])
    sidecar.kill9()
    sidecar.start()
    client = sidecar.client()
    reg = client.register(T, W, restored=1)
    assert list(reg.pending) == [] and reg.last_committed_checkpoint_id == 1
    assert client.commit([c1]).commits[0].already_committed
    assert_tables_agree(client, deltactl, T, [row(1)])


def test_unix_socket(sidecar_factory, deltactl_bin, socket_dir):
    sc = sidecar_factory(name="unix", listen=f"unix:{socket_dir}/sidecar.sock")
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    client.commit([seal(client, W, epoch, 1, [row(1), row(2)])])
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T, [row(1), row(2)])
    # Restart on the same socket path (a stale socket file is replaced).
    sc.kill9()
    sc.start()
    assert sc.client().scan(T)[0] == [row(1), row(2)]


def test_two_sidecars_cannot_share_a_data_dir(sidecar, sidecar_factory, sidecar_bin):
    # The staging store is locked: a second process on the same data dir fails
    # to start instead of corrupting it.
    second = subprocess.run(
        [str(sidecar_bin), "--listen", "127.0.0.1:0", *sidecar.argv()[3:]],
        capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert "lock" in second.stderr.lower(), second.stderr
    # The first one is unaffected.
    e = rpc_error(sidecar.client().describe, "missing")
    assert e.code() == grpc.StatusCode.NOT_FOUND
