"""One Commit through any sidecar on a table root commits the sealed
checkpoints of writers staged on other sidecars, in one snapshot per table:
each sidecar turns a sealed checkpoint into table files under
<root>/<table>/prepared/ in the background, and the committing sidecar
publishes them (docs/protocol.md, Commit). Two real sidecar processes, A and
B, share one table root."""

import time

import grpc
import pytest

from sidecar_helpers import KEY, SCHEMA, Deltactl, assert_tables_agree, rpc_error

T = "events"
WA, WB = "job/0", "job/1"  # staged on A, on B


def row(i, name=None):
    return {"id": i, "name": name if name is not None else f"v-{i}", "score": i / 4, "qty": i % 11}


@pytest.fixture
def pair(sidecar_factory, deltactl_bin):
    """Sidecars A and B on one table root, each with its own data dir; the table
    exists."""
    a = sidecar_factory("a")
    b = sidecar_factory("b", start=False)
    b.table_root = a.table_root
    b.start()
    a.client().create_table(T, SCHEMA, KEY, buckets=4)
    return a, b, Deltactl(deltactl_bin, a.table_root)


def prepared_files(root):
    """Every file under <root>/<table>/prepared/ (relative paths)."""
    base = root / T / "prepared"
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.is_dir() \
        else set()


def wait_prepared(root, before, timeout=60):
    """Waits until files other than `before` are under prepared/, and stay the
    same for a moment (the background preparation is done); returns them."""
    deadline = time.monotonic() + timeout
    seen, stable_since = None, None
    while time.monotonic() < deadline:
        now = prepared_files(root) - before
        if now and now == seen:
            if time.monotonic() - stable_since > 0.3:
                return now
        else:
            seen, stable_since = now, time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"no prepared checkpoint appeared under {root / T / 'prepared'} "
                         f"within {timeout} s (there: {sorted(prepared_files(root))})")


def appends(client):
    return [s for s in client.history(T) if s.kind == "APPEND"]


def identities(snapshot):
    return sorted((i.writer_id, i.checkpoint_id) for i in snapshot.identities)


def seal(client, writer, epoch, cp, rows):
    client.write_rows(T, writer, epoch, [rows])
    return client.prepare(T, writer, epoch, cp)


def commit_retrying(client, committables, timeout=120):
    """Commit, retried on UNAVAILABLE (a checkpoint of another sidecar whose files
    are not in the table root yet), as a committer does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.commit(committables)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_one_commit_through_b_commits_the_writers_of_a_and_b(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea, eb = ca.register(T, WA).epoch, cb.register(T, WB).epoch
    c1 = [seal(ca, WA, ea, 1, [row(i, "a1") for i in range(0, 40)]),
          seal(cb, WB, eb, 1, [row(i, "b1") for i in range(100, 130)])]
    resp = commit_retrying(cb, c1)
    assert len(resp.commits) == 1 and not resp.commits[0].already_committed
    snaps = appends(cb)
    assert [s.id for s in snaps] == [resp.commits[0].snapshot_id]
    assert identities(snaps[0]) == [(WA, 1), (WB, 1)]
    expected = [row(i, "a1") for i in range(0, 40)] + [row(i, "b1") for i in range(100, 130)]
    assert_tables_agree(cb, deltactl, T, expected)

    # Checkpoint 2 through A: A's own writer, B's from B's files; deletes win too.
    c2 = [seal(ca, WA, ea, 2, [("delete", {"id": 0}), row(1, "a2")]),
          seal(cb, WB, eb, 2, [("delete", {"id": 100}), row(101, "b2")])]
    resp2 = commit_retrying(ca, c2)
    snaps = appends(ca)
    assert [s.id for s in snaps] == [resp.commits[0].snapshot_id, resp2.commits[0].snapshot_id]
    assert identities(snaps[1]) == [(WA, 2), (WB, 2)]
    expected = [row(1, "a2")] + [row(i, "a1") for i in range(2, 40)] + [row(101, "b2")] + \
        [row(i, "b1") for i in range(102, 130)]
    assert_tables_agree(ca, deltactl, T, expected)


def test_commit_from_the_files_alone_after_the_sealing_sidecar_died(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea, eb = ca.register(T, WA).epoch, cb.register(T, WB).epoch
    commit_retrying(cb, [seal(ca, WA, ea, 1, [row(1)]), seal(cb, WB, eb, 1, [row(101)])])

    before = prepared_files(a.table_root)
    a_rows = [row(i, "a2") for i in range(2, 60)]
    c2a = seal(ca, WA, ea, 2, a_rows)
    wait_prepared(a.table_root, before)
    a.kill9()  # A sealed checkpoint 2 and wrote its files; it is gone now
    c2b = seal(cb, WB, eb, 2, [row(102)])

    resp = commit_retrying(cb, [c2a, c2b])
    first = resp.commits[0]
    assert not first.already_committed
    snaps = appends(cb)
    assert snaps[-1].id == first.snapshot_id
    assert identities(snaps[-1]) == [(WA, 2), (WB, 2)]
    expected = [row(1)] + a_rows + [row(101), row(102)]
    assert_tables_agree(cb, deltactl, T, expected)

    # The same Commit again, through B and (restarted) through A: already committed,
    # the same snapshot, nothing written.
    again = cb.commit([c2a, c2b]).commits[0]
    assert again.already_committed and again.snapshot_id == first.snapshot_id
    a.start()
    again = a.client().commit([c2a, c2b]).commits[0]
    assert again.already_committed and again.snapshot_id == first.snapshot_id
    assert [s.id for s in appends(cb)] == [s.id for s in snaps]
    assert_tables_agree(cb, deltactl, T, expected)


def test_a_committable_with_a_wrong_checksum_is_refused_and_changes_nothing(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea, eb = ca.register(T, WA).epoch, cb.register(T, WB).epoch
    commit_retrying(cb, [seal(ca, WA, ea, 1, [row(1)]), seal(cb, WB, eb, 1, [row(101)])])
    history = [(s.id, identities(s)) for s in cb.history(T)]
    expected = [row(1), row(101)]

    before = prepared_files(a.table_root)
    c2a = seal(ca, WA, ea, 2, [row(2, "a2"), ("delete", {"id": 1})])
    c2b = seal(cb, WB, eb, 2, [row(102, "b2")])
    wait_prepared(a.table_root, before)
    for which in ("remote", "local"):
        bad_a, bad_b = type(c2a)(), type(c2b)()
        bad_a.CopyFrom(c2a)
        bad_b.CopyFrom(c2b)
        bad = bad_a if which == "remote" else bad_b
        bad.checksum ^= 1
        e = rpc_error(cb.commit, [bad_a, bad_b])
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, (which, e.code(), e.details())
        assert [(s.id, identities(s)) for s in cb.history(T)] == history, which
        assert_tables_agree(cb, deltactl, T, expected)

    # The refusals poisoned nothing: the right committables commit.
    resp = commit_retrying(cb, [c2a, c2b])
    assert not resp.commits[0].already_committed
    assert identities(appends(cb)[-1]) == [(WA, 2), (WB, 2)]
    assert_tables_agree(cb, deltactl, T, [row(2, "a2"), row(101), row(102, "b2")])
