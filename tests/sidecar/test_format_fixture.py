"""A table root and a staging store written by an earlier build
(tests/fixtures/format-v1.tar.gz, made by tests/fixtures/make_format_fixture.py,
which says what it holds) open and continue under this build: the table reads
the same at every snapshot, and the checkpoint that was sealed but not
committed commits."""

import tarfile
from pathlib import Path

import pytest

from sidecar_helpers import assert_tables_agree

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "format-v1.tar.gz"
T = "fixture"


def row(i, tag):
    return {"id": i, "name": f"{tag}-{i}", "score": i / 4, "qty": i % 11}


def rows_after(checkpoints):
    """The table after job/0's checkpoints 1..n (and job/1's checkpoint 1 once n >= 2)."""
    rows = {i: row(i, "a") for i in range(1, 21)}
    if checkpoints >= 2:
        rows.update({i: row(i, "b") for i in range(21, 31)})
        del rows[1], rows[2]
        rows.update({i: row(i, "c") for i in range(5, 11)})
    if checkpoints >= 3:
        rows.update({i: row(i, "d") for i in range(8, 15)})
    return list(rows.values())


@pytest.fixture
def old_dirs(sidecar_factory):
    sc = sidecar_factory("old", start=False)
    sc.workdir.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(sc.workdir)
    return sc


def test_old_table_reads_the_same_at_every_snapshot(old_dirs, deltactl_bin):
    from sidecar_helpers import Deltactl
    deltactl = Deltactl(deltactl_bin, old_dirs.table_root)
    assert deltactl.run("verify", T).returncode == 0
    history = deltactl.history(T)
    assert [h["kind"] for h in history] == ["CREATE", "APPEND", "APPEND", "COMPACT"], history
    sc = old_dirs.start()
    client = sc.client()
    for snapshot, checkpoints in ((1, 1), (2, 2), (3, 2)):
        got, _ = client.scan(T, snapshot_id=snapshot)
        assert got == sorted(rows_after(checkpoints), key=lambda r: r["id"]), snapshot
    assert_tables_agree(client, deltactl, T, rows_after(2))


def test_old_staging_store_commits_its_sealed_checkpoint(old_dirs, deltactl_bin):
    from sidecar_helpers import Deltactl
    sc = old_dirs.start()
    client = sc.client()
    reg = client.register(T, "job/0", restored=3)
    assert reg.last_committed_checkpoint_id == 2
    assert [p.checkpoint_id for p in reg.pending] == [3]
    result = client.commit(reg.pending).commits[0]
    assert not result.already_committed
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T, rows_after(3))
    # And the writer goes on under the new build.
    client.write_rows(T, "job/0", reg.epoch, [[row(40, "e")]])
    assert not client.commit([client.prepare(T, "job/0", reg.epoch, 4)]).commits[0].already_committed
    got, _ = client.scan(T)
    assert row(40, "e") in got
