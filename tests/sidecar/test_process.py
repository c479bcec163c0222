"""The delta-sidecar process: --help, SIGTERM, kill -9 and restart, unix sockets."""

import subprocess
import time

import grpc

import packed_rows as pr
from sidecar_helpers import KEY, SCHEMA, Deltactl, assert_tables_agree, rpc_error

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

    # (A connected client, even idle, holds the graceful shutdown until it
    # drops the connection or --shutdown-timeout passes: close it first.)
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


def test_sigterm_with_an_idle_open_stream(sidecar_factory):
    # An open Write stream whose client sends nothing must not hold the
    # shutdown past --shutdown-timeout.
    sc = sidecar_factory(env={"DELTA_SIDECAR_SHUTDOWN_TIMEOUT": "2s"})
    client = sc.client()
    client.create_table(T, SCHEMA, KEY)
    epoch = client.register(T, W).epoch
    stream = client.write_stream(T, W, epoch)
    stream.write(*pr.encode_rows(client.schema(T), [row(1)]))
    t0 = time.monotonic()
    assert sc.terminate(timeout=60) == 0
    took = time.monotonic() - t0
    assert took < 10, f"shutdown took {took:.1f} s"
    stream.cancel()


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
