"""Writer and Client against a real sidecar: the checkpoint cycle, fencing,
idempotent commits, restore, backpressure, reads, error mapping."""

import threading

import grpc
import pytest

from deltasidecar import (Client, FencedError, NotFoundError, RetryPolicy, RetryableError, Writer,
                          WriterClosedError, committable_from_bytes)

SCHEMA = "id BIGINT, name STRING, qty INT"


def rows(lo, hi, tag="v"):
    return [{"id": i, "name": f"{tag}{i}", "qty": i % 7} for i in range(lo, hi)]


def test_fencing(client, deltactl):
    client.create_table("f", SCHEMA, "id")
    with Writer("f", "job/0", client=client) as old:
        old.upsert({"id": 1, "name": "old", "qty": 1})
        old.flush()
        with Writer("f", "job/0", client=client) as new:
            assert new.epoch > old.epoch
            # The zombie's stream is refused from the newer registration on.
            with pytest.raises(FencedError) as e:
                old.upsert({"id": 2, "name": "zombie", "qty": 2})
                old.flush()
            assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
            with pytest.raises(FencedError):  # and so is its seal
                old.client.prepare_commit(old.registration, 1)
            new.upsert({"id": 3, "name": "new", "qty": 3})
            new.commit([new.prepare_commit(1)])
    assert deltactl.scan("f") == [{"id": 3, "name": "new", "qty": 3}]


def test_commit_is_idempotent(client, deltactl):
    client.create_table("i", SCHEMA, "id")
    with Writer("i", "i/0", client=client) as w:
        for r in rows(0, 100):
            w.upsert(r)
        c = w.prepare_commit(1)
        assert c.rows == 100 and c.checkpoint_id == 1
        first = w.commit([c])
        stored = c.SerializeToString()  # as a checkpoint would keep it
    again = client.commit([committable_from_bytes(stored)])
    assert first[0].already_committed is False
    assert again[0].already_committed is True and again[0].snapshot_id == first[0].snapshot_id
    assert len(deltactl.scan("i")) == 100
    appends = [s for s in client.history("i") if s.kind == "APPEND"]
    assert [[(i.writer_id, i.checkpoint_id) for i in s.identities] for s in appends] == [[("i/0", 1)]]


def test_restore_returns_pending_and_drops_the_tail(client, deltactl):
    client.create_table("r", SCHEMA, "id")
    w = Writer("r", "r/0", client=client)
    for r in rows(0, 10):
        w.upsert(r)
    c1 = w.prepare_commit(1)  # sealed, never committed (the job died before completing it)
    for r in rows(10, 20):
        w.upsert(r)
    w.prepare_commit(2)
    for r in rows(20, 30):  # staged after checkpoint 2, never sealed
        w.upsert(r)
    w.flush()
    pending = w.restore(1)
    assert [p.checkpoint_id for p in pending] == [1] and pending[0].checksum == c1.checksum
    w.commit(pending)
    for r in rows(10, 15, tag="replayed"):
        w.upsert(r)
    w.commit([w.prepare_commit(2)])
    w.close()
    assert deltactl.scan("r") == rows(0, 10) + rows(10, 15, tag="replayed")
    # A restored writer passed at construction sees the same pending list.
    with Writer("r", "r/0", client=client, restored_checkpoint_id=2) as again:
        assert again.pending == []


def test_backpressure_one_batch_in_flight(client, deltactl):
    client.create_table("bp", SCHEMA, "id", buckets=2)
    expected = rows(0, 5000)
    with Writer("bp", "bp/0", client=client, max_batch_rows=37, max_in_flight_batches=1,
                linger=None) as w:
        for r in expected:
            w.upsert(r)
        c = w.prepare_commit(1)
        w.commit([c])
    assert c.rows == 5000
    assert deltactl.scan("bp") == expected


def test_small_batches_by_bytes_and_linger(client, deltactl):
    """A batch leaves at max_batch_bytes; a partial one after `linger` without a flush."""
    client.create_table("lg", SCHEMA, "id")
    with Writer("lg", "lg/0", client=client, max_batch_bytes=200, linger=0.05) as w:
        for r in rows(0, 50):
            w.upsert(r)
        w.upsert({"id": 1000, "name": "tail", "qty": 0})
        assert w.rows_sent < 51 and w.bytes_sent >= 200
        # Wait (bounded) until the linger thread has sent the tail batch.
        sent = threading.Event()
        for _ in range(1000):
            if w.rows_sent == 51:
                sent.set()
                break
            sent.wait(0.01)
        assert sent.is_set(), f"the partial batch was not sent by the linger thread ({w.rows_sent})"
        w.commit([w.prepare_commit(1)])
    assert len(deltactl.scan("lg")) == 51


def test_deletes_changes_history(client):
    client.create_table("c", SCHEMA, "id")
    with Writer("c", "c/0", client=client) as w:
        for r in rows(0, 5):
            w.upsert(r)
        s1 = w.commit([w.prepare_commit(1)])[0].snapshot_id
        w.delete({"id": 1})
        w.upsert({"id": 2, "name": "changed", "qty": 9})
        w.delete({"id": 99})
        s2 = w.commit([w.prepare_commit(2)])[0].snapshot_id
    changes = sorted(((ch.op, ch.row["id"], ch.row.get("name")) for ch in client.changes("c", s1)),
                     key=lambda t: t[1])
    assert changes[:2] == [("delete", 1, None), ("upsert", 2, "changed")]
    assert [ch.row["id"] for ch in client.changes("c", s1, s2) if ch.op == "upsert"] == [2]
    assert [r["id"] for r in client.scan("c")] == [0, 2, 3, 4]
    snaps = {s.id: s for s in client.history("c")}
    assert snaps[s2].identities[0].checkpoint_id == 2 and snaps[s2].kind == "APPEND"


def test_abort_drops_a_sealed_checkpoint(client, deltactl):
    client.create_table("a", SCHEMA, "id")
    with Writer("a", "a/0", client=client) as w:
        w.upsert({"id": 1, "name": "kept", "qty": 1})
        c1 = w.prepare_commit(1)
        w.upsert({"id": 2, "name": "aborted", "qty": 2})
        c2 = w.prepare_commit(2)
        w.abort(2)
        w.commit([c1])
        with pytest.raises(FencedError, match="abort"):
            w.commit([c2])
    assert deltactl.scan("a") == [{"id": 1, "name": "kept", "qty": 1}]


def test_errors_by_code(client):
    with pytest.raises(NotFoundError) as e:
        client.describe_table("missing")
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "missing" in str(e.value)
    with pytest.raises(NotFoundError):
        Writer("missing", "m/0", client=client)
    client.create_table("e", SCHEMA, "id")
    w = Writer("e", "e/0", client=client)
    w.close()
    with pytest.raises(WriterClosedError):
        w.upsert({"id": 1})


def test_commit_retries_across_a_sidecar_restart(sidecar, deltactl):
    """SIGKILL after PrepareCommit; Commit retries UNAVAILABLE until the sidecar is
    back on the same dirs, and the checkpoint lands once."""
    with Client(sidecar.target, retry=RetryPolicy(max_attempts=200, max_backoff=0.2)) as client:
        client.create_table("cr", SCHEMA, "id")
        with Writer("cr", "cr/0", client=client) as w:
            for r in rows(0, 1000):
                w.upsert(r)
            c = w.prepare_commit(1)
        sidecar.kill9()
        # The sidecar is down: a call that may not retry fails as retryable.
        with Client(sidecar.target, retry=RetryPolicy(max_attempts=1)) as once:
            with pytest.raises(RetryableError) as e:
                once.commit([c])
            assert e.value.code == grpc.StatusCode.UNAVAILABLE
        result = {}
        committer = threading.Thread(target=lambda: result.update(r=client.commit([c])))
        committer.start()
        sidecar.start()
        committer.join(timeout=120)
        assert not committer.is_alive()
        assert result["r"][0].already_committed is False
        assert client.commit([c])[0].already_committed is True
    assert deltactl.scan("cr") == rows(0, 1000)
    appends = [h for h in deltactl.history("cr") if h.get("kind") == "APPEND"]
    assert len(appends) == 1, appends


def test_batch_refused_by_the_server(client, deltactl):
    """A batch the server refuses ends the stream with INVALID_ARGUMENT: the next call
    raises InvalidRecordError naming the row and column, and so does every call until
    restore()."""
    from deltasidecar import InvalidRecordError
    from deltasidecar.codec import RowEncoder
    client.create_table("wide", "id BIGINT, s STRING", "id")
    client.create_table("narrow", "id BIGINT, n INT NOT NULL", "id")
    with Writer("narrow", "n/0", client=client) as w:
        w.upsert({"id": 1, "n": 1})
        w.commit([w.prepare_commit(1)])
        # Rows packed for another schema, as a writer with a stale schema would send.
        w._encode_upsert = RowEncoder(client.describe_table("wide")).upsert
        w.upsert({"id": 2, "s": None})
        with pytest.raises(InvalidRecordError, match="row 0: column 'n' is NOT NULL") as e:
            w.flush()
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(InvalidRecordError):
            w.upsert({"id": 3, "s": "x"})
        w._encode_upsert = RowEncoder(client.describe_table("narrow")).upsert
        assert w.restore(1) == []
        w.upsert({"id": 3, "n": 3})
        w.commit([w.prepare_commit(2)])
    assert deltactl.scan("narrow") == [{"id": 1, "n": 1}, {"id": 3, "n": 3}]
