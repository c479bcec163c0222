"""One Commit through any sidecar on a table root commits the sealed
checkpoints of writers staged on other sidecars, in one snapshot per table:
each sidecar turns a sealed checkpoint into data files and a prepared
checkpoint file <root>/<table>/prepared/<identity hash>-<checkpoint>-<checksum>
in the background, and the committing sidecar publishes them
(docs/protocol.md, Commit; docs/table-format.md §10.5). Two real sidecar
processes, A and B, share one table root."""

import time
from pathlib import Path

import grpc
import pytest

import sidecar_api
from sidecar_helpers import KEY, SCHEMA, Deltactl, assert_tables_agree, row, rpc_error, sidecars_on_one_root
from test_metrics import scrape_until

T = "events"
WA, WB = "job/0", "job/1"  # staged on A, on B


@pytest.fixture
def pair(sidecar_factory, deltactl_bin):
    """Sidecars A and B on one table root, each with its own data dir; the table
    exists."""
    return sidecars_on_one_root(sidecar_factory, deltactl_bin, T)


def prepared_file(root, committable):
    """The prepared checkpoint file of `committable`, or None."""
    name = f"*-{committable.checkpoint_id:020d}-{committable.checksum:016x}"
    found = [p for p in (Path(root) / T / "prepared").glob(name) if not p.name.startswith(".")]
    return found[0] if found else None


def wait_prepared(root, committable, timeout=60):
    """Waits until the sealing sidecar has prepared `committable`'s checkpoint in
    the table root (its data files are written before the prepared file)."""
    deadline = time.monotonic() + timeout
    while (found := prepared_file(root, committable)) is None:
        assert time.monotonic() < deadline, (
            f"checkpoint {committable.checkpoint_id} of {committable.writer_id} was not prepared "
            f"in {Path(root) / T / 'prepared'} within {timeout} s")
        time.sleep(0.02)
    return found


def data_files(root):
    return set((Path(root) / T / "data").glob("*.sst"))


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

    a_rows = [row(i, "a2") for i in range(2, 60)]
    c2a = seal(ca, WA, ea, 2, a_rows)
    wait_prepared(a.table_root, c2a)
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

    c2a = seal(ca, WA, ea, 2, [row(2, "a2"), ("delete", {"id": 1})])
    c2b = seal(cb, WB, eb, 2, [row(102, "b2")])
    wait_prepared(a.table_root, c2a)
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


def a_dies_before_preparing(sidecar_factory, a_rows):
    """Sidecars A and B on one root (B with --prepared-wait 1s), the table made;
    WA seals checkpoint 1 of `a_rows` on A, which dies after writing its files
    and before its prepared checkpoint exists. Returns a, b and the committable."""
    a = sidecar_factory("a", env={"DELTA_SIDECAR_KILL_POINT": "prepare.after_files"})
    b = sidecar_factory("b", start=False, args=["--prepared-wait", "1s"])
    b.table_root = a.table_root
    b.start()
    ca = a.client()
    b.client().create_table(T, SCHEMA, KEY, buckets=4)
    c1a = seal(ca, WA, ca.register(T, WA).epoch, 1, a_rows)  # answered before the preparation starts
    assert a.proc.wait(timeout=60) != 0
    assert "kill point prepare.after_files reached" in a.log()
    assert prepared_file(a.table_root, c1a) is None
    return a, b, c1a


def test_commit_waits_for_files_the_sealing_sidecar_has_not_written(sidecar_factory, deltactl_bin):
    """A dies after its seal, before its prepared checkpoint exists: a Commit
    through B waits --prepared-wait, then answers UNAVAILABLE and publishes
    nothing; once A is back, it prepares the checkpoint again and the same
    Commit through B succeeds, once."""
    a_rows = [row(i, "a") for i in range(500)]
    a, b, c1a = a_dies_before_preparing(sidecar_factory, a_rows)
    cb = b.client()
    eb = cb.register(T, WB).epoch
    c1b = seal(cb, WB, eb, 1, [row(1000, "b")])

    started = time.monotonic()
    e = rpc_error(cb.commit, [c1a, c1b])
    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
    assert time.monotonic() - started >= 0.9
    assert "not prepared in the table root yet" in e.details(), e.details()
    assert appends(cb) == []

    a.env.pop("DELTA_SIDECAR_KILL_POINT")
    a.start()  # prepares what it sealed and did not prepare
    resp = commit_retrying(cb, [c1a, c1b])
    assert not resp.commits[0].already_committed
    snaps = appends(cb)
    assert [s.id for s in snaps] == [resp.commits[0].snapshot_id]
    assert identities(snaps[0]) == [(WA, 1), (WB, 1)]
    assert_tables_agree(cb, Deltactl(deltactl_bin, a.table_root), T, a_rows + [row(1000, "b")])


def test_a_restore_on_another_sidecar_waits_for_the_restored_checkpoints_files(
        sidecar_factory, deltactl_bin):
    """The job completed checkpoint 1, which WA sealed on A; A dies before it
    prepared it, and the job restores from 1 with WA placed on B. B's
    RegisterWriter waits --prepared-wait for A's files, then answers
    UNAVAILABLE and claims nothing; once A is back and has prepared them, the
    registration succeeds and the restored committable's Commit through B
    publishes checkpoint 1 from the table root, so the move loses nothing."""
    a_rows = [row(i, "a") for i in range(500)]
    a, b, c1 = a_dies_before_preparing(sidecar_factory, a_rows)
    cb = b.client()

    started = time.monotonic()
    e = rpc_error(cb.register, T, WA, restored=1)
    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
    assert time.monotonic() - started >= 0.9
    assert "restored checkpoint 1 of writer 'job/0'" in e.details(), e.details()
    assert "not prepared in the table root yet" in e.details(), e.details()
    assert appends(cb) == []

    a.env.pop("DELTA_SIDECAR_KILL_POINT")
    a.start()  # prepares what it sealed and did not prepare
    wait_prepared(a.table_root, c1)
    reg = cb.register(T, WA, restored=1)
    assert list(reg.pending) == []
    assert reg.identity != c1.identity
    assert appends(cb) == []
    assert not cb.commit([c1]).commits[0].already_committed
    assert [identities(s) for s in appends(cb)] == [[(c1.identity, 1)]]
    c2 = seal(cb, WA, reg.epoch, 2, [row(1000, "b")])
    assert not cb.commit([c2]).commits[0].already_committed
    assert_tables_agree(cb, Deltactl(deltactl_bin, a.table_root), T, a_rows + [row(1000, "b")])
    # A, fenced for WA now, cannot seal for it any more.
    e = rpc_error(a.client().prepare, T, WA, c1.epoch, 2)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, (e.code(), e.details())


def test_a_checkpoint_restored_with_a_writer_moved_is_one_snapshot(pair):
    """Checkpoint 2 of WA (on A) and WB (on B) completes but is not committed;
    the job restores from 2 with WA placed on B. The restored committables'
    one Commit through B publishes both writers' part of checkpoint 2 in one
    snapshot, WA's from A's prepared files under its old identity. A
    superseded identity's checkpoint is refused once the new incarnation has
    committed (its rows would land over newer ones)."""
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea, eb = ca.register(T, WA).epoch, cb.register(T, WB).epoch
    commit_retrying(cb, [seal(ca, WA, ea, 1, [row(1)]), seal(cb, WB, eb, 1, [row(101)])])
    c2a, c2b = seal(ca, WA, ea, 2, [row(2, "a2")]), seal(cb, WB, eb, 2, [row(102, "b2")])
    reg_a, reg_b = cb.register(T, WA, restored=2), cb.register(T, WB, restored=2)
    assert list(reg_a.pending) == []
    assert [c.checkpoint_id for c in reg_b.pending] == [2]
    before = appends(cb)
    assert not commit_retrying(cb, [c2a, c2b]).commits[0].already_committed
    snaps = appends(cb)
    assert len(snaps) == len(before) + 1
    assert identities(snaps[-1]) == [(WA, 2), (WB, 2)]
    assert cb.commit([c2a, c2b]).commits[0].already_committed

    # Checkpoint 3 completes, uncommitted; the job restores from 3 with WA
    # back on A, and a faulty committer commits WA's new checkpoint 4 first.
    c3a = seal(cb, WA, reg_a.epoch, 3, [row(3, "a3")])
    wait_prepared(b.table_root, c3a)
    reg_a = ca.register(T, WA, restored=3)
    commit_retrying(ca, [seal(ca, WA, reg_a.epoch, 4, [row(3, "a4")])])
    e = rpc_error(ca.commit, [c3a])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, (e.code(), e.details())
    assert_tables_agree(cb, deltactl, T, [row(1), row(2, "a2"), row(3, "a4"), row(101), row(102, "b2")])


@pytest.mark.parametrize("damage", ["flipped byte", "missing"])
def test_a_damaged_remote_prepared_file_is_data_loss_and_nothing_commits(pair, damage):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea, eb = ca.register(T, WA).epoch, cb.register(T, WB).epoch
    c1b = seal(cb, WB, eb, 1, [row(1000, "b")])
    wait_prepared(b.table_root, c1b)
    before = data_files(a.table_root)
    c1a = seal(ca, WA, ea, 1, [row(i, "a" * 500) for i in range(200)])
    wait_prepared(a.table_root, c1a)
    a.kill9()
    mine = sorted(data_files(a.table_root) - before)
    assert mine, "A's prepared checkpoint names no new data file"
    if damage == "missing":
        mine[0].unlink()
    else:
        with open(mine[0], "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
    history = [s.id for s in cb.history(T)]
    e = rpc_error(cb.commit, [c1a, c1b])
    assert e.code() == grpc.StatusCode.DATA_LOSS, (e.code(), e.details())
    assert [s.id for s in cb.history(T)] == history
    assert deltactl.scan(T) == []


@pytest.mark.parametrize("how", ["aborted", "dropped by a restore"])
def test_a_checkpoint_its_sidecar_discarded_is_not_committed_elsewhere(pair, how):
    """A sealed checkpoint that its sidecar no longer holds (aborted, or dropped
    when the writer registered again with an older restored checkpoint) is not
    committed through another sidecar either, although its prepared file is
    still in the table root: FAILED_PRECONDITION (or UNAVAILABLE), never OK."""
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    ea = ca.register(T, WA).epoch
    commit_retrying(cb, [seal(ca, WA, ea, 1, [row(1)])])
    c2 = seal(ca, WA, ea, 2, [row(2, "discarded")])
    wait_prepared(a.table_root, c2)
    if how == "aborted":
        ca.abort(T, WA, ea, 2)
    else:
        ca.register(T, WA, restored=1)
    history = [s.id for s in cb.history(T)]
    for name, client in (("A, which sealed it", ca), ("B", cb)):
        try:
            got = client.commit([c2]).commits[0]
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE), \
                (name, e.code(), e.details())
            continue
        raise AssertionError(f"Commit through {name} of checkpoint 2 ({how}) answered OK: snapshot "
                             f"{got.snapshot_id}, already_committed={got.already_committed}")
    assert [s.id for s in cb.history(T)] == history
    assert deltactl.scan(T) == [row(1)]


def test_maintenance_sweeps_abandoned_prepared_checkpoints_and_keeps_pending_ones(
        sidecar_factory, deltactl_bin):
    """A's maintenance (--orphan-age 1s) removes the prepared checkpoint of a
    writer that moved to B, and the data files it named; the prepared
    checkpoint of a writer still on A, as old, stays and commits."""
    port = sidecar_api.free_port()
    a = sidecar_factory("a", args=["--orphan-age", "1s", "--maintenance-interval", "1s"],
                        env={"DELTA_SIDECAR_METRICS_LISTEN": f"127.0.0.1:{port}"})
    b = sidecar_factory("b", start=False)
    b.table_root = a.table_root
    b.start()
    ca, cb = a.client(), b.client()
    ca.create_table(T, SCHEMA, KEY, buckets=4)
    deltactl = Deltactl(deltactl_bin, a.table_root)
    stay = "job/2"
    before = data_files(a.table_root)
    c_stay = seal(ca, stay, ca.register(T, stay).epoch, 1, [row(i, "stay") for i in range(0, 30)])
    stay_prepared = wait_prepared(a.table_root, c_stay)
    stay_files = data_files(a.table_root) - before
    c_gone = seal(ca, WA, ca.register(T, WA).epoch, 1, [row(i, "gone") for i in range(100, 140)])
    gone_prepared = wait_prepared(a.table_root, c_gone)
    gone_files = data_files(a.table_root) - before - stay_files
    assert stay_files and gone_files
    # WA moves to B without a restore: what A prepared for it can never be committed.
    cb.register(T, WA)

    deadline = time.monotonic() + 60
    while gone_prepared.exists() or gone_files & data_files(a.table_root):
        assert time.monotonic() < deadline, "A's maintenance did not sweep the abandoned checkpoint"
        time.sleep(0.2)
    s = scrape_until(port, lambda s: (s.get("delta_sidecar_orphan_files_removed_total", table=T)
                                      or 0) >= len(gone_files), "the sweep's counts")
    assert s.get("delta_sidecar_prepared_removed_total", table=T) == 1
    assert s.get("delta_sidecar_orphan_files_removed_total", table=T) == len(gone_files)
    time.sleep(2.5)  # more maintenance runs, each older than --orphan-age
    assert stay_prepared.exists()
    assert stay_files <= data_files(a.table_root)
    resp = ca.commit([c_stay])
    assert not resp.commits[0].already_committed
    assert_tables_agree(ca, deltactl, T, [row(i, "stay") for i in range(0, 30)])
    e = rpc_error(cb.commit, [c_gone])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
