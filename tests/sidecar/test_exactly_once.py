"""Exactly-once behaviour: fencing, idempotent and ordered commits, restores,
bad rows isolated to their stream, corrupt staged data refused."""

import decimal
import time
from pathlib import Path

import grpc
import pytest

from deltasidecar import rows as pr
from sidecar_helpers import KEY, SCHEMA, assert_tables_agree, row, rpc_error

T = "events"
W = "op-1/0"


@pytest.fixture
def table(client):
    client.create_table(T, SCHEMA, KEY, buckets=4)
    return T


def seal(client, writer, epoch, cp, ops):
    client.write_rows(T, writer, epoch, [ops])
    return client.prepare(T, writer, epoch, cp)


def identities(snapshot):
    return sorted((i.writer_id, i.checkpoint_id) for i in snapshot.identities)


# -- fencing -------------------------------------------------------------------------


def test_newer_registration_fences_the_older_epoch(client, deltactl, table):
    old = client.register(T, W).epoch
    stream = client.write_stream(T, W, old)
    schema = client.schema(T)
    stream.write(*pr.encode_rows(schema, [row(1)]))

    new = client.register(T, W).epoch
    assert new > old

    # The old epoch's open stream: its next Write is refused.
    stream.send(*pr.encode_rows(schema, [row(2)]))
    e = rpc_error(stream.ack)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    # A new stream, PrepareCommit and Abort under the old epoch: refused too.
    e = rpc_error(client.write_rows, T, W, old, [[row(3)]])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    e = rpc_error(client.prepare, T, W, old, 1)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    e = rpc_error(client.abort, T, W, old, 1)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()

    # The new epoch works; nothing the zombie staged is committed (a fresh
    # registration drops everything uncommitted).
    c = seal(client, W, new, 1, [row(4)])
    assert c.rows == 1 and c.epoch == new
    client.commit([c])
    assert_tables_agree(client, deltactl, T, [row(4)])


def test_fencing_is_per_writer_id(client, deltactl, table):
    a = client.register(T, "op/a").epoch
    b = client.register(T, "op/b").epoch
    client.register(T, "op/a")  # fences op/a only
    e = rpc_error(client.prepare, T, "op/a", a, 1)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    client.commit([seal(client, "op/b", b, 1, [row(1)])])
    assert_tables_agree(client, deltactl, T, [row(1)])


# -- idempotent, ordered commits ------------------------------------------------------


def test_commit_retried_five_times_makes_one_snapshot(sidecar, client, deltactl, table):
    epoch = client.register(T, W).epoch
    c = seal(client, W, epoch, 1, [row(i) for i in range(20)])
    before = len(client.history(T))
    results = [client.commit([c]).commits[0] for _ in range(5)]
    assert [r.already_committed for r in results] == [False, True, True, True, True]
    assert len({r.snapshot_id for r in results}) == 1
    hist = client.history(T)
    assert len(hist) == before + 1
    assert [identities(h) for h in hist if h.identities] == [[(W, 1)]]
    # Still one after a crash: the table, not the staging store, decides.
    sidecar.restart()
    client = sidecar.client()
    again = client.commit([c]).commits[0]
    assert again.already_committed and again.snapshot_id == results[0].snapshot_id
    assert len(client.history(T)) == before + 1
    assert_tables_agree(client, deltactl, T, [row(i) for i in range(20)])


def test_commit_of_n_plus_1_before_n_commits_both_in_order(client, deltactl, table):
    epoch = client.register(T, W).epoch
    c1 = seal(client, W, epoch, 1, [row(1, "one"), row(2, "two"), row(3)])
    c2 = seal(client, W, epoch, 2, [row(1, "one-later"), ("delete", {"id": 2}), row(4)])
    c3 = seal(client, W, epoch, 3, [row(2, "two-back")])

    r = client.commit([c2]).commits[0]
    assert not r.already_committed
    hist = client.history(T)
    assert identities(hist[-1]) == [(W, 1), (W, 2)] and hist[-1].id == r.snapshot_id
    # The key updated in 1 and 2 has 2's value; deleted in 2 means gone.
    assert_tables_agree(client, deltactl, T, [row(1, "one-later"), row(3), row(4)])
    assert client.commit([c1]).commits[0].already_committed
    # A delete in one checkpoint, an upsert of the same key in the next.
    client.commit([c3])
    assert_tables_agree(client, deltactl, T, [row(1, "one-later"), row(2, "two-back"), row(3), row(4)])
    assert len([h for h in client.history(T) if h.identities]) == 2


def test_commit_with_n_and_n_plus_1_in_one_request(client, deltactl, table):
    epoch = client.register(T, W).epoch
    c1 = seal(client, W, epoch, 1, [row(1, "a")])
    c2 = seal(client, W, epoch, 2, [row(1, "b")])
    client.commit([c2, c1])
    assert_tables_agree(client, deltactl, T, [row(1, "b")])
    assert identities(client.history(T)[-1]) == [(W, 1), (W, 2)]


# -- restore ------------------------------------------------------------------------------


def test_restore_from_k_discards_later_staged_data(client, deltactl, table):
    epoch = client.register(T, W).epoch
    c1 = seal(client, W, epoch, 1, [row(1)])
    c2 = seal(client, W, epoch, 2, [row(2)])
    c3 = seal(client, W, epoch, 3, [row(3)])
    client.write_rows(T, W, epoch, [[row(4)]])  # acknowledged, never sealed

    reg = client.register(T, W, restored=2)
    assert reg.epoch > epoch
    assert [(p.checkpoint_id, p.rows, p.epoch) for p in reg.pending] == [(1, 1, epoch), (2, 1, epoch)]
    assert reg.pending[1] == c2 and reg.pending[0] == c1
    client.commit(list(reg.pending))
    assert_tables_agree(client, deltactl, T, [row(1), row(2)])

    # Checkpoint 3 was discarded by the restore.
    e = rpc_error(client.commit, [c3])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    # The source replays; checkpoint 3 is written again and commits.
    client.commit([seal(client, W, reg.epoch, 3, [row(3, "replayed")])])
    assert_tables_agree(client, deltactl, T, [row(1), row(2), row(3, "replayed")])

    again = client.register(T, W, restored=3)
    assert list(again.pending) == [] and again.last_committed_checkpoint_id == 3


def test_fresh_registration_drops_everything_uncommitted(client, deltactl, table):
    epoch = client.register(T, W).epoch
    client.commit([seal(client, W, epoch, 1, [row(1)])])
    c2 = seal(client, W, epoch, 2, [row(2)])
    reg = client.register(T, W)  # no restored checkpoint: a fresh start
    assert list(reg.pending) == []
    e = rpc_error(client.commit, [c2])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert_tables_agree(client, deltactl, T, [row(1)])
    # A fresh start numbers checkpoints from 1 again; its checkpoint 1 is new
    # data, not a retry of the committed one (a new incarnation of the writer).
    assert reg.last_committed_checkpoint_id == -1
    r = client.commit([seal(client, W, reg.epoch, 1, [row(3)])]).commits[0]
    assert not r.already_committed
    assert_tables_agree(client, deltactl, T, [row(1), row(3)])
    (ident,) = client.history(T)[-1].identities
    assert ident.checkpoint_id == 1 and ident.writer_id.startswith(W) and ident.writer_id != W


def test_restore_below_the_last_commit_does_not_skip_checkpoints(client, deltactl, table):
    # Invariant 9: a restore from an older savepoint (K below the last committed
    # id) must not make the replayed checkpoint K+1 look "already committed".
    epoch = client.register(T, W).epoch
    client.commit([seal(client, W, epoch, 1, [row(1)])])
    client.commit([seal(client, W, epoch, 2, [row(2)])])
    reg = client.register(T, W, restored=1)
    c2 = seal(client, W, reg.epoch, 2, [row(2, "from-the-savepoint"), row(5)])
    r = client.commit([c2]).commits[0]
    assert not r.already_committed
    assert_tables_agree(client, deltactl, T, [row(1), row(2, "from-the-savepoint"), row(5)])


# -- bad rows -----------------------------------------------------------------------------

BAD_SCHEMA = "id BIGINT, name STRING, flag BOOLEAN, price DECIMAL(10,2), day DATE, qty INT"


def _good(i):
    return {"id": i, "name": f"n{i}", "flag": True, "price": decimal.Decimal("1.25"), "day": 100, "qty": i}


def _bad_batches(schema):
    good = pr.encode_upsert(schema, _good(1))
    one = bytes([pr.UPSERT, 0])
    i64 = lambda v: (v & (2**64 - 1)).to_bytes(8, "little")
    tail = b"\x01" + (125).to_bytes(16, "little") + (100).to_bytes(4, "little") + (1).to_bytes(4, "little")
    return {
        # name: (rows, count, words the message must contain)
        "invalid utf-8": (one + i64(1) + b"\x03a\xffb" + tail, 1, ["'name'", "UTF-8"]),
        "truncated batch": (good[:-3], 1, ["'qty'"]),
        "row count above rows": (good, 2, ["2"]),
        "trailing bytes": (good + b"\x01", 1, ["trailing"]),
        "null key": (bytes([pr.UPSERT, 0b1]) + pr.encode_upsert(schema, _good(1))[10:], 1, ["'id'"]),
        "unknown op": (b"\x07" + good[1:], 1, ["op"]),
        "boolean byte 2": (one + i64(1) + b"\x02n1" + b"\x02" + tail[1:], 1, ["'flag'"]),
        "decimal over precision": (one + i64(1) + b"\x02n1\x01" + (10**10).to_bytes(16, "little")
                                   + tail[17:], 1, ["'price'"]),
        "date out of range": (one + i64(1) + b"\x02n1\x01" + (125).to_bytes(16, "little")
                              + (5_000_000).to_bytes(4, "little") + (1).to_bytes(4, "little"), 1, ["'day'"]),
        "null bitmap past the last column": (bytes([pr.UPSERT, 0x80]) + good[2:], 1, ["bitmap"]),
    }


BAD_CASES = ["invalid utf-8", "truncated batch", "row count above rows", "trailing bytes", "null key",
             "unknown op", "boolean byte 2", "decimal over precision", "date out of range",
             "null bitmap past the last column"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_row_is_invalid_argument_and_other_stream_is_unaffected(client, deltactl, case):
    client.create_table("strict", BAD_SCHEMA, "id")
    schema = client.schema("strict")
    rows, count, words = _bad_batches(schema)[case]
    a = client.register("strict", "op/a").epoch
    b = client.register("strict", "op/b").epoch
    sa = client.write_stream("strict", "op/a", a)
    sb = client.write_stream("strict", "op/b", b)
    sa.write(*pr.encode_rows(schema, [_good(1), _good(3)]))   # staged before the bad batch
    sb.write(*pr.encode_rows(schema, [_good(2)]))

    sa.send(rows, count)
    e = rpc_error(sa.ack)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (e.code(), e.details())
    for w in words:
        assert w in e.details(), f"{w!r} not in {e.details()!r}"

    # The other writer's concurrent stream goes on, and its data commits.
    sb.write(*pr.encode_rows(schema, [_good(4)]))
    sb.finish()
    assert sb.code() == grpc.StatusCode.OK
    cb = client.prepare("strict", "op/b", b, 1)
    assert cb.rows == 2
    # The bad batch staged nothing; what op/a staged before it is intact.
    ca = client.prepare("strict", "op/a", a, 1)
    assert ca.rows == 2
    client.commit([ca, cb])
    assert_tables_agree(client, deltactl, "strict", [_good(i) for i in (1, 2, 3, 4)])


# -- corrupt staged data ----------------------------------------------------------------------


def _batch_sst_files(data_dir):
    return sorted((data_dir / "staging" / "batches").glob("*.sst"), key=lambda p: int(p.stem))


def _seal_then_corrupt(sidecar, client):
    """Seals checkpoint 1 of W and flips a byte inside one of its staged batches.

    The seal flushes the checkpoint's batches into an SST of their own (in the
    store's "batches" database); after a clean stop, the first data block of
    that file is damaged. Returns the committable and a client of the
    restarted sidecar.
    """
    epoch = client.register(T, W).epoch
    big = "x" * 50_000
    client.write_rows(T, W, epoch, [[row(b * 20 + i, big) for i in range(20)] for b in range(3)])
    c1 = client.prepare(T, W, epoch, 1)
    assert c1.rows == 60
    client.close()
    assert sidecar.terminate() == 0
    # As if the sidecar had stopped before preparing the checkpoint in the
    # table root: the commit must then read the damaged staged batches.
    for p in (Path(sidecar.table_root) / T / "prepared").glob("*"):
        p.unlink()
    ssts = _batch_sst_files(sidecar.data_dir)
    assert len(ssts) == 1, ssts
    with open(ssts[0], "r+b") as f:
        f.seek(4096)
        b = f.read(1)
        f.seek(4096)
        f.write(bytes([b[0] ^ 0xFF]))
    sidecar.start()
    return c1, sidecar.client()


def test_corrupt_staged_value_is_data_loss_and_nothing_commits(sidecar, client, deltactl, table):
    before = [h.id for h in client.history(T)]
    c1, client = _seal_then_corrupt(sidecar, client)
    e = rpc_error(client.commit, [c1])
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    assert "checkpoint 1" in e.details()
    # Nothing committed, and a retry fails the same way.
    assert [h.id for h in client.history(T)] == before
    assert client.scan(T)[0] == [] and deltactl.scan(T) == []
    e = rpc_error(client.commit, [c1])
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    assert [h.id for h in client.history(T)] == before


# Staged batches are never compacted (a checkpoint's family is dropped whole),
# so a damaged batch file stays confined to its checkpoint: the other writers
# go on, and the writer's restore drops the file.
def test_after_data_loss_the_client_rewrites_and_commits(sidecar, client, deltactl, table):
    c1, client = _seal_then_corrupt(sidecar, client)
    e = rpc_error(client.commit, [c1])
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    time.sleep(1)  # any background work of the store would see the damage by now
    # Another table's writer is not concerned by the damage.
    client.create_table("other", SCHEMA, KEY)
    other = client.register("other", "op/x").epoch
    client.write_rows("other", "op/x", other, [[row(1)]])
    # The client rewrites from its last completed checkpoint (none here) and commits.
    reg = client.register(T, W)
    client.commit([seal(client, W, reg.epoch, 2, [row(7)])])
    assert_tables_agree(client, deltactl, T, [row(7)])


def test_damaged_prepared_file_is_data_loss_and_nothing_commits(sidecar, client, deltactl, table):
    """A data file named by a prepared checkpoint is damaged: the commit that
    would publish it is DATA_LOSS and publishes nothing."""
    epoch = client.register(T, W).epoch
    client.write_rows(T, W, epoch, [[row(i, "z" * 2000) for i in range(50)]])
    c1 = client.prepare(T, W, epoch, 1)
    prepared = Path(sidecar.table_root) / T / "prepared"
    deadline = time.time() + 30
    while not any(prepared.glob("*")):
        assert time.time() < deadline, "the checkpoint was never prepared in the table root"
        time.sleep(0.02)
    before = [h.id for h in client.history(T)]
    files = sorted((Path(sidecar.table_root) / T / "data").glob("*.sst"))
    assert files
    with open(files[0], "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    e = rpc_error(client.commit, [c1])
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    assert "checkpoint 1" in e.details() and files[0].name in e.details()
    assert [h.id for h in client.history(T)] == before
    assert deltactl.scan(T) == []


def test_damaged_staging_wal_is_data_loss(sidecar, client, deltactl, table):
    epoch = client.register(T, W).epoch
    client.write_rows(T, W, epoch, [[row(b * 20 + i, "y" * 5000) for i in range(20)] for b in range(3)])
    # The staged batches bypass the WAL (the seal flushes them); registrations
    # of other writers fill it, so the damage lands before the seal's record.
    for i in range(400):
        client.register(T, f"other/{i}")
    c1 = client.prepare(T, W, epoch, 1)
    sidecar.kill9()
    wal = max((sidecar.data_dir / "staging").glob("*.log"), key=lambda p: p.stat().st_size)
    assert wal.stat().st_size > 30_000  # the registrations are in it
    with open(wal, "r+b") as f:
        f.seek(15_000)  # among the registrations
        b = f.read(1)
        f.seek(20_000)
        f.write(bytes([b[0] ^ 0xFF]))
    sidecar.start()
    client = sidecar.client()
    e = rpc_error(client.commit, [c1])
    assert client.scan(T)[0] == []
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    assert "salvaged" in e.details(), e.details()
    # Restoring from the lost checkpoint is refused the same way...
    e = rpc_error(client.register, T, W, restored=1)
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    # ...and the rewrite that DATA_LOSS asks for works: a fresh start, the rows
    # again, a new seal and a commit.
    epoch = client.register(T, W).epoch
    rows = [row(b * 20 + i, "y" * 5000) for b in range(3) for i in range(20)]
    client.write_rows(T, W, epoch, [rows[k:k + 20] for k in range(0, 60, 20)])
    client.commit([client.prepare(T, W, epoch, 1)])
    assert_tables_agree(client, deltactl, T, rows)
