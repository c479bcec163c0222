"""Writer identities across sidecars: incarnations come from the table every
sidecar on a root shares, so a sidecar without a writer's history (an emptied
data dir, another sidecar) never reuses an identity that is committed, and the
sidecar a writer left is fenced."""

import shutil

import grpc
import pytest

from sidecar_helpers import KEY, SCHEMA, assert_tables_agree, row, rpc_error, sidecars_on_one_root

T = "events"
W = "op-1/0"


def commit_cp(client, reg, cp, rows):
    client.write_rows(T, W, reg.epoch, [rows])
    return client.commit([client.prepare(T, W, reg.epoch, cp)]).commits[0]


def identities(client):
    return [(i.writer_id, i.checkpoint_id) for s in client.history(T) for i in s.identities]


def assert_no_identity_twice(client):
    ids = identities(client)
    assert len(ids) == len(set(ids)), ids


@pytest.fixture
def pair(sidecar_factory, deltactl_bin):
    """Two sidecars on one table root, each with its own data dir."""
    return sidecars_on_one_root(sidecar_factory, deltactl_bin, T)


def rewound_history(client):
    """Checkpoints 1-4 of W, then a restore from 2 and checkpoints 3-6 of W#1."""
    reg = client.register(T, W)
    for cp in range(1, 5):
        commit_cp(client, reg, cp, [row(cp, "first-run")])
    reg = client.register(T, W, restored=2)
    assert reg.last_committed_checkpoint_id == -1
    for cp in range(3, 7):
        assert not commit_cp(client, reg, cp, [row(cp, "second-run")]).already_committed
    return [row(1, "first-run"), row(2, "first-run")] + [row(cp, "second-run") for cp in range(3, 7)]


def test_emptied_data_dir_takes_a_new_identity(sidecar, client, deltactl):
    client.create_table(T, SCHEMA, KEY, buckets=4)
    expected = rewound_history(client)
    used = {w for w, _ in identities(client)}
    # The pod is replaced: the staging volume goes with it.
    assert sidecar.terminate() == 0
    shutil.rmtree(sidecar.data_dir)
    sidecar.start()
    client = sidecar.client()
    reg = client.register(T, W, restored=3)
    assert reg.identity not in used, reg.identity
    assert reg.last_committed_checkpoint_id == -1
    for cp in (4, 5, 6):
        r = commit_cp(client, reg, cp, [row(cp, "third-run")])
        assert not r.already_committed
    expected = [r for r in expected if r["id"] < 4] + [row(cp, "third-run") for cp in (4, 5, 6)]
    assert_tables_agree(client, deltactl, T, expected)
    assert_no_identity_twice(client)


def test_fresh_start_after_emptied_data_dir_writes_its_checkpoints(sidecar, client, deltactl):
    client.create_table(T, SCHEMA, KEY, buckets=4)
    reg = client.register(T, W)
    for cp in (1, 2, 3):
        commit_cp(client, reg, cp, [row(cp)])
    sidecar.kill9()
    shutil.rmtree(sidecar.data_dir)
    sidecar.start()
    client = sidecar.client()
    reg = client.register(T, W)
    for cp in (1, 2, 3):
        assert not commit_cp(client, reg, cp, [row(cp, "again")]).already_committed
    assert_tables_agree(client, deltactl, T, [row(cp, "again") for cp in (1, 2, 3)])
    assert_no_identity_twice(client)


def test_writer_moved_to_another_sidecar_takes_a_new_identity_and_fences_the_old(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    expected = rewound_history(ca)
    # A savepoint restore places the subtask on the other sidecar.
    old = ca.register(T, W, restored=6)
    zombie_cp = (ca.write_rows(T, W, old.epoch, [[row(7, "zombie")]]), None)
    reg = cb.register(T, W, restored=3)
    assert reg.identity not in {w for w, _ in identities(cb)}
    for cp in (4, 5, 6):
        assert not commit_cp(cb, reg, cp, [row(cp, "on-b")]).already_committed
    # The task left behind on A can neither seal nor commit any more.
    e = rpc_error(ca.prepare, T, W, old.epoch, 7)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert "fenced" in e.details()
    expected = [r for r in expected if r["id"] < 4] + [row(cp, "on-b") for cp in (4, 5, 6)]
    assert_tables_agree(cb, deltactl, T, expected)
    assert_no_identity_twice(cb)
    del zombie_cp


def test_fenced_sidecar_cannot_commit_what_it_sealed_before_the_move(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    reg_a = ca.register(T, W)
    commit_cp(ca, reg_a, 1, [row(1)])
    ca.write_rows(T, W, reg_a.epoch, [[row(2, "sealed-on-a")]])
    c2 = ca.prepare(T, W, reg_a.epoch, 2)
    reg_b = cb.register(T, W, restored=1)
    e = rpc_error(ca.commit, [c2])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert "fenced" in e.details()
    assert not commit_cp(cb, reg_b, 2, [row(2, "on-b")]).already_committed
    assert_tables_agree(cb, deltactl, T, [row(1), row(2, "on-b")])


def test_writer_moving_back_drops_what_it_sealed_before_it_left(pair):
    a, b, deltactl = pair
    ca, cb = a.client(), b.client()
    reg = ca.register(T, W)
    commit_cp(ca, reg, 1, [row(1)])
    ca.write_rows(T, W, reg.epoch, [[row(2, "abandoned")]])
    ca.prepare(T, W, reg.epoch, 2)
    # The job restores from 1 on B, seals 2 there (checkpoint 2 completes),
    # then fails before committing it and restores from 2 back on A: A's own
    # seal of 2 is from the abandoned attempt and is dropped; B's checkpoint
    # 2 stays committable (the registration on A waits for B to prepare it,
    # if it has not yet) and the restored committable's Commit through A
    # publishes it from the table root.
    reg_b = cb.register(T, W, restored=1)
    cb.write_rows(T, W, reg_b.epoch, [[row(2, "on-b")]])
    c2 = cb.prepare(T, W, reg_b.epoch, 2)
    back = ca.register(T, W, restored=2)
    assert list(back.pending) == []
    assert back.identity not in (reg.identity, reg_b.identity, c2.identity)
    assert not ca.commit([c2]).commits[0].already_committed
    assert ca.commit([c2]).commits[0].already_committed
    # B, fenced, cannot seal for the writer any more.
    e = rpc_error(cb.prepare, T, W, reg_b.epoch, 3)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert not commit_cp(ca, back, 3, [row(3)]).already_committed
    assert_tables_agree(ca, deltactl, T, [row(1), row(2, "on-b"), row(3)])
    assert_no_identity_twice(ca)


def test_two_sidecars_registering_at_once_get_different_identities(pair):
    a, b, _ = pair
    ca, cb = a.client(), b.client()
    seen = set()
    for _ in range(5):
        ra = ca.register(T, W)
        rb = cb.register(T, W)
        seen.add(ra.identity)
        seen.add(rb.identity)
    assert len(seen) == 10, seen
