"""Crashes and damage under a Writer: the sidecar SIGKILLed while it streams
(RetryableError, restore from the last completed checkpoint, replay, exactly
once), between a checkpoint and its commit, with acknowledged batches not yet
sealed, and a corrupt staged checkpoint (DATA_LOSS)."""

import grpc
import pytest

from deltasidecar import (Client, RetryPolicy, RetryableError, UnrecoverableError, UnsealedLostError,
                          Writer)

SCHEMA = "id BIGINT, seq BIGINT, payload STRING"
TOTAL = 30_000
PER_CHECKPOINT = 4_000
KILL_AT = 13_500  # inside checkpoint 4, with batches in flight


def source(i):
    """The replayable input: op i. Every key is upserted twice and some are deleted,
    so a replay that applied twice or skipped ops would show in the table."""
    key = i % 9_000
    if i % 11 == 0:
        return "delete", {"id": key}
    return "upsert", {"id": key, "seq": i, "payload": f"row {i} " + "x" * (i % 50)}


def model(n):
    table = {}
    for i in range(n):
        op, row = source(i)
        if op == "delete":
            table.pop(row["id"], None)
        else:
            table[row["id"]] = row
    return [table[k] for k in sorted(table)]


def test_sidecar_killed_mid_stream_exactly_once(sidecar, deltactl):
    retry = RetryPolicy(max_attempts=400, max_backoff=0.2)
    with Client(sidecar.target, retry=retry) as client:
        client.create_table("stream", SCHEMA, "id", buckets=4)
        writer = Writer("stream", "pipeline/0", client=client, max_batch_rows=500,
                        max_in_flight_batches=4)
        # The job's state: the last completed checkpoint and the input offset it covers.
        completed, offset = 0, 0
        i, killed, surfaced = 0, False, 0
        sealed_rows = {}
        while i < TOTAL:
            try:
                op, row = source(i)
                writer.upsert(row) if op == "upsert" else writer.delete(row)
                i += 1
                if i == KILL_AT - 1_000 and not killed:
                    writer.flush()  # a staged, unsealed tail that the restore must drop
                if i == KILL_AT and not killed:
                    killed = True
                    sidecar.kill9()
                if i % PER_CHECKPOINT == 0 or i == TOTAL:
                    checkpoint = completed + 1
                    committable = writer.prepare_commit(checkpoint)
                    sealed_rows[checkpoint] = committable.rows
                    completed, offset = checkpoint, i  # checkpoint complete: state stored
                    writer.commit([committable])
            except RetryableError:
                surfaced += 1
                assert killed, "a retryable error without a crash"
                if not sidecar.running():
                    sidecar.start()
                pending = writer.restore(completed)
                writer.commit(pending)
                i = offset  # the source replays from the restored checkpoint
        writer.close()
        assert surfaced >= 1, "the crash never surfaced as RetryableError"
        assert completed == -(-TOTAL // PER_CHECKPOINT)

        # Each checkpoint sealed exactly its own ops: the restore dropped what the
        # crashed attempt had staged after checkpoint 3, so the replay is not doubled.
        assert sealed_rows == {c: min(PER_CHECKPOINT, TOTAL - (c - 1) * PER_CHECKPOINT)
                               for c in range(1, completed + 1)}
        expected = model(TOTAL)
        assert list(client.scan("stream")) == expected
    assert deltactl.scan("stream") == expected
    # Every checkpoint is in the table exactly once, under one identity each.
    identities = [(i["writer"], i["checkpoint"]) for h in deltactl.history("stream")
                  for i in h.get("identities", [])]
    assert sorted(c for _, c in identities) == list(range(1, completed + 1)), identities


@pytest.mark.parametrize("crash_before_commit", [True, False])
def test_crash_between_checkpoint_and_commit(sidecar, deltactl, crash_before_commit):
    """The checkpoint completed (committable stored) but the commit did not happen or
    its answer was lost: after the restart the job re-commits the stored committable
    (already_committed when it had landed) and nothing is applied twice."""
    retry = RetryPolicy(max_attempts=400, max_backoff=0.2)
    with Client(sidecar.target, retry=retry) as client:
        client.create_table("cb", SCHEMA, "id")
        w = Writer("cb", "cb/0", client=client)
        for i in range(2_000):
            op, row = source(i)
            w.upsert(row) if op == "upsert" else w.delete(row)
        stored = w.prepare_commit(1)
        if not crash_before_commit:
            w.commit([stored])
        sidecar.kill9()
        with pytest.raises(RetryableError):
            w.upsert({"id": 1, "seq": 0, "payload": "lost"})
            w.flush()
        sidecar.start()
        pending = w.restore(1)
        assert [p.checkpoint_id for p in pending] == ([1] if crash_before_commit else [])
        results = w.commit([stored] + pending)
        assert results[0].already_committed is (not crash_before_commit)
        w.close()
    assert deltactl.scan("cb") == model(2_000)


def test_unsealed_batches_lost_in_a_crash_ask_for_a_restore(sidecar, deltactl):
    """Acknowledged but unsealed batches do not survive a sidecar crash: sealing them
    afterwards fails with UnsealedLostError, a RetryableError (restore and replay),
    not with a FencedError."""
    with Client(sidecar.target, retry=RetryPolicy(max_attempts=400, max_backoff=0.2)) as client:
        client.create_table("lost", SCHEMA, "id")
        w = Writer("lost", "lost/0", client=client)
        w.upsert({"id": 1, "seq": 1, "payload": "sealed"})
        w.commit([w.prepare_commit(1)])
        w.upsert({"id": 2, "seq": 2, "payload": "acked, not sealed"})
        w.flush()
        sidecar.kill9()
        sidecar.start()
        with pytest.raises(UnsealedLostError) as e:
            client.prepare_commit(w.registration, 2)
        assert isinstance(e.value, RetryableError) and "restore" in str(e.value)
        assert e.value.reason == "unsealed-lost"  # the delta-sidecar-reason trailer
        assert w.restore(1) == []
        w.upsert({"id": 2, "seq": 2, "payload": "replayed"})
        w.commit([w.prepare_commit(2)])
        w.close()
    assert deltactl.scan("lost") == [{"id": 1, "seq": 1, "payload": "sealed"},
                                     {"id": 2, "seq": 2, "payload": "replayed"}]


def test_corrupt_staged_data_is_unrecoverable_and_the_writer_rewrites(sidecar, deltactl):
    """DATA_LOSS from Commit is UnrecoverableError, raised at once (never retried);
    the job restores, rewrites the checkpoint and commits it."""
    rows = [{"id": i, "seq": i, "payload": "x" * 50_000} for i in range(60)]
    with Client(sidecar.target) as client:
        client.create_table("dl", SCHEMA, "id")
        with Writer("dl", "dl/0", client=client, max_batch_rows=20) as w:
            for r in rows:
                w.upsert(r)
            c1 = w.prepare_commit(1)
    assert sidecar.terminate() == 0
    # As if the sidecar had stopped before preparing the checkpoint in the
    # table root, so that the commit reads the staged batches.
    for p in (sidecar.table_root / "dl" / "prepared").glob("*"):
        p.unlink()
    # The seal put the checkpoint's batches into one SST of the staging store's
    # "batches" database (as tests/sidecar/test_exactly_once.py relies on too):
    # damage its first data block.
    ssts = list((sidecar.data_dir / "staging" / "batches").glob("*.sst"))
    assert len(ssts) == 1, ssts
    with open(ssts[0], "r+b") as f:
        f.seek(4096)
        b = f.read(1)
        f.seek(4096)
        f.write(bytes([b[0] ^ 0xFF]))
    sidecar.start()
    with Client(sidecar.target) as client:
        with pytest.raises(UnrecoverableError) as e:
            client.commit([c1])
        assert e.value.code == grpc.StatusCode.DATA_LOSS and "attempts" not in str(e.value)
        # Rewrite from the last completed checkpoint (none: from scratch) and commit.
        with Writer("dl", "dl/0", client=client) as w:
            for r in rows[:5]:
                w.upsert(r)
            w.commit([w.prepare_commit(1)])
    assert [r["id"] for r in deltactl.scan("dl")] == list(range(5))
