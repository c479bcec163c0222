"""RESOURCE_EXHAUSTED over real gRPC: a full staging disk and --max-staged-bytes.

A refused batch ends its Write stream with RESOURCE_EXHAUSTED (docs/protocol.md,
"Write"); the batches acknowledged before it stay staged, the writer keeps its
registration and epoch, and writes on a new stream succeed once there is room
again, without a restart. Each test models the table it expects from the acks
it got: every acknowledged row, and none of a refused batch.
"""

import ctypes
import ctypes.util
import errno
import itertools
import os
import time

import grpc
import pytest

from deltasidecar import rows as pr
from sidecar_helpers import KEY, SCHEMA, Deltactl, assert_tables_agree, rpc_error

T = "quota"
W = "op-1/0"
OTHER = "op-1/1"
BATCH_ROWS = 1000  # about 270 KB per batch with the rows below


def row(i):
    return {"id": i, "name": f"r{i}-" + "x" * 240, "score": i / 2, "qty": i % 13}


class Batches:
    """Consecutive batches of new keys; `acked` collects what the sidecar acknowledged."""

    def __init__(self, schema):
        self.schema = schema
        self.ids = itertools.count()
        self.acked = {}

    def next(self):
        rows = [row(next(self.ids)) for _ in range(BATCH_ROWS)]
        return rows, pr.encode_rows(self.schema, rows)

    def write(self, stream):
        """Sends one batch; records it when acknowledged. Returns (ack or RpcError, wire bytes)."""
        rows, (packed, n) = self.next()
        stream.send(packed, n)
        try:
            ack = stream.ack()
        except grpc.RpcError as e:
            return e, len(packed)
        assert ack.rows_staged == n
        self.acked.update((r["id"], r) for r in rows)
        return ack, len(packed)

    def write_until_refused(self, stream, limit=100):
        """Writes up to `limit` batches until one is refused. Returns (the RpcError or
        None, bytes acknowledged before it)."""
        acked_bytes = 0
        for _ in range(limit):
            ack, size = self.write(stream)
            if isinstance(ack, grpc.RpcError):
                return ack, acked_bytes
            acked_bytes += size
        return None, acked_bytes


# -- a full disk ------------------------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
MNT_DETACH = 2


def _mount_tmpfs(path, size):
    """mount -t tmpfs -o size=SIZE tmpfs PATH; returns 0 or the errno."""
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, f"size={size}".encode()) != 0:
        return ctypes.get_errno()
    return 0


def _umount(path):
    if _libc.umount2(os.fsencode(path), 0) != 0:
        err = ctypes.get_errno()
        if err != errno.EBUSY or _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def _free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _fill(path, leave):
    """Creates `path` so that only about `leave` bytes stay free on its file system."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        todo = _free_bytes(os.path.dirname(path)) - leave
        while todo > 0:
            f.write(chunk[:min(todo, len(chunk))])
            todo -= len(chunk)
        f.flush()
        os.fsync(f.fileno())


def _sidecar_with_small_disk(sidecar_factory, tmp_path, which):
    """A delta-sidecar whose `which` directory ("data_dir" or "table_root") is on its
    own 64 MiB tmpfs, mounted for the test and unmounted after it. Yields (sidecar, mount)."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    err = _mount_tmpfs(disk, "64m")
    if err == errno.EPERM:
        pytest.skip(f"cannot mount a tmpfs ({os.strerror(err)}): this test needs root "
                    "(CAP_SYS_ADMIN)")
    assert err == 0, f"mount -t tmpfs at {disk}: {os.strerror(err)}"
    sc = sidecar_factory(name="small-disk", start=False)
    setattr(sc, which, disk / which)
    try:
        sc.start()
        yield sc, disk
    finally:
        try:
            if sc.running():
                sc.stop()
            else:
                # It died: the test reports that (it checks that the sidecar
                # runs); here only the mount has to go.
                sc._stopped_by_us = True
        finally:
            _umount(disk)


@pytest.fixture
def small_disk_sidecar(sidecar_factory, tmp_path):
    """The staging store (--data-dir) on a small disk; tables on the normal one."""
    yield from _sidecar_with_small_disk(sidecar_factory, tmp_path, "data_dir")


@pytest.fixture
def small_table_disk_sidecar(sidecar_factory, tmp_path):
    """The tables (--table-root) on a small disk; the staging store on the normal one."""
    yield from _sidecar_with_small_disk(sidecar_factory, tmp_path, "table_root")


def two_writers(sc):
    """On sidecar `sc`: table T, writers W and OTHER registered, and a Batches for
    each (OTHER's keys far from W's). Returns client, batches, other, and the epochs."""
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=4)
    batches, other = Batches(client.schema(T)), Batches(client.schema(T))
    other.ids = itertools.count(10**9)
    return client, batches, other, client.register(T, W).epoch, client.register(T, OTHER).epoch


def test_disk_full_is_resource_exhausted_and_staging_recovers_when_space_returns(
        small_disk_sidecar, deltactl_bin):
    sc, disk = small_disk_sidecar
    client, batches, other, epoch, other_epoch = two_writers(sc)

    # Another writer stages two batches before the disk fills, and so does W.
    other_stream = client.write_stream(T, OTHER, other_epoch)
    for _ in range(2):
        ack, _ = other.write(other_stream)
        assert not isinstance(ack, grpc.RpcError), ack
    other_stream.finish()
    stream = client.write_stream(T, W, epoch)
    ack, _ = batches.write(stream)
    assert not isinstance(ack, grpc.RpcError), ack

    # Fill the staging disk but for 3 MiB. Batches are staged in memory, so the
    # writes go on (30 batches are about 8 MB); the seal, which flushes them to
    # disk, meets the full disk.
    filler = disk / "filler"
    _fill(filler, leave=3 << 20)
    for _ in range(30):
        ack, _ = batches.write(stream)
        assert not isinstance(ack, grpc.RpcError), (ack.code(), ack.details())
    stream.finish()
    refused = rpc_error(client.prepare, T, W, epoch, 1)
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (
        refused.code(), refused.details(), sc.log()[-3000:])
    assert "no space" in refused.details().lower(), refused.details()
    assert sc.running(), sc.log()[-3000:]

    # Space returns. Without a restart, the same writer (same epoch: a refused
    # seal does not fence or drop anything) writes on a new stream and seals.
    filler.unlink()
    stream = client.write_stream(T, W, epoch)
    for _ in range(3):
        ack, _ = batches.write(stream)
        assert not isinstance(ack, grpc.RpcError), (ack.code(), ack.details(), sc.log()[-3000:])
    stream.finish()
    assert sc.starts == 1 and sc.running()

    cw = client.prepare(T, W, epoch, 1)
    assert cw.rows == len(batches.acked)
    co = client.prepare(T, OTHER, other_epoch, 1)
    assert co.rows == len(other.acked) == 2 * BATCH_ROWS  # staged before the disk filled: intact
    client.commit([cw, co])
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T,
                        list(batches.acked.values()) + list(other.acked.values()))


# -- over --max-staged-bytes ------------------------------------------------------------------

LIMIT = 4 << 20



def test_over_max_staged_bytes_is_resource_exhausted_until_a_commit_frees_space(sidecar_factory,
                                                                               deltactl_bin):
    sc = sidecar_factory(env={"DELTA_SIDECAR_MAX_STAGED_BYTES": str(LIMIT)})
    client, batches, other, epoch, other_epoch = two_writers(sc)

    # Write until refused: 100 batches are about 27 MB, far past the limit.
    # The store counts the memtables, which grow with every write, so it
    # cannot lag behind by much here.
    refused, acked_bytes = batches.write_until_refused(client.write_stream(T, W, epoch))
    assert refused is not None, f"{acked_bytes} bytes staged under a limit of {LIMIT}"
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (refused.code(), refused.details())
    assert f"limit of {LIMIT}" in refused.details(), refused.details()
    # Refused near the limit, neither far past it nor long before it.
    assert LIMIT // 2 <= acked_bytes <= LIMIT, acked_bytes
    # The limit is the store's: another writer is refused too, after at most
    # the few batches that the refusal's flush makes room for (a flushed
    # memtable counts as its file's size, smaller than the memtable's).
    refused, other_bytes = other.write_until_refused(client.write_stream(T, OTHER, other_epoch))
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
    assert acked_bytes + other_bytes <= LIMIT, (acked_bytes, other_bytes)

    # Committing what W staged frees it; the store's estimate catches up.
    c1 = client.prepare(T, W, epoch, 1)
    assert c1.rows == len(batches.acked)
    client.commit([c1])
    committed = dict(batches.acked)
    deadline = time.monotonic() + 10
    tries = 0
    while True:
        tries += 1
        stream = client.write_stream(T, W, epoch)
        ack, _ = batches.write(stream)
        if not isinstance(ack, grpc.RpcError):
            break
        assert ack.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (ack.code(), ack.details())
        assert time.monotonic() < deadline, f"still refused 10 s after the commit: {ack.details()}"
        time.sleep(0.05)
    ack, _ = batches.write(stream)
    assert not isinstance(ack, grpc.RpcError), ack
    stream.finish()
    other_stream = client.write_stream(T, OTHER, other_epoch)
    ack, _ = other.write(other_stream)
    assert not isinstance(ack, grpc.RpcError), ack
    other_stream.finish()

    client.commit([client.prepare(T, W, epoch, 2), client.prepare(T, OTHER, other_epoch, 1)])
    assert len(batches.acked) == len(committed) + 2 * BATCH_ROWS
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T,
                        list(batches.acked.values()) + list(other.acked.values()))
    print(f"accepted again after {tries} attempt(s)")


def test_per_writer_quota_refuses_only_that_writer_until_it_commits(sidecar_factory,
                                                                   deltactl_bin):
    sc = sidecar_factory(env={"DELTA_SIDECAR_MAX_STAGED_BYTES_PER_WRITER": str(LIMIT)})
    client, batches, other, epoch, other_epoch = two_writers(sc)

    refused, acked_bytes = batches.write_until_refused(client.write_stream(T, W, epoch))
    assert refused is not None, f"{acked_bytes} bytes staged under a quota of {LIMIT}"
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (refused.code(), refused.details())
    assert f"quota of {LIMIT}" in refused.details() and W in refused.details(), refused.details()
    assert LIMIT // 2 <= acked_bytes <= LIMIT, acked_bytes
    # Another writer is not concerned.
    other_stream = client.write_stream(T, OTHER, other_epoch)
    for _ in range(3):
        ack, _ = other.write(other_stream)
        assert not isinstance(ack, grpc.RpcError), (ack.code(), ack.details())
    other_stream.finish()
    # Committing frees the writer's quota at once (its checkpoint's files go).
    client.commit([client.prepare(T, W, epoch, 1)])
    stream = client.write_stream(T, W, epoch)
    ack, _ = batches.write(stream)
    assert not isinstance(ack, grpc.RpcError), (ack.code(), ack.details())
    stream.finish()
    client.commit([client.prepare(T, W, epoch, 2), client.prepare(T, OTHER, other_epoch, 1)])
    assert_tables_agree(client, Deltactl(deltactl_bin, sc.table_root), T,
                        list(batches.acked.values()) + list(other.acked.values()))


def test_disk_full_during_a_table_commit_is_resource_exhausted_and_the_retry_commits(
        small_table_disk_sidecar, deltactl_bin):
    """The table's disk is full when a commit turns a sealed checkpoint into
    table files: the commit answers RESOURCE_EXHAUSTED, publishes nothing and
    leaves no file behind; the staged checkpoint is untouched, and the same
    Commit succeeds once there is room."""
    sc, disk = small_table_disk_sidecar
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=4)
    deltactl = Deltactl(deltactl_bin, sc.table_root)
    schema = client.schema(T)
    epoch = client.register(T, W).epoch
    # Incompressible names, so the table files really need the space.
    rows = [{"id": i, "name": os.urandom(120).hex(), "score": i / 4, "qty": i % 7}
            for i in range(12000)]
    stream = client.write_stream(T, W, epoch)
    for k in range(0, len(rows), BATCH_ROWS):
        stream.write(*pr.encode_rows(schema, rows[k:k + BATCH_ROWS]))
    stream.finish()
    files_before = sorted(os.listdir(sc.table_root / T / "data"))
    history_before = [s.id for s in client.history(T)]
    committable = client.prepare(T, W, epoch, 1)
    # The sidecar prepares the sealed checkpoint in the background; undo that,
    # as if it had stopped first, so that the commit writes the files itself.
    prepared = sc.table_root / T / "prepared"
    deadline = time.time() + 30
    while not any(prepared.glob("*")):
        assert time.time() < deadline, "the checkpoint was never prepared in the table root"
        time.sleep(0.02)
    for p in prepared.glob("*"):
        p.unlink()
    for name in set(os.listdir(sc.table_root / T / "data")) - set(files_before):
        os.remove(sc.table_root / T / "data" / name)

    filler = disk / "filler"
    _fill(str(filler), leave=256 << 10)
    err = None
    try:
        client.commit([committable])
    except grpc.RpcError as e:
        err = e
    assert err is not None, "a commit whose files cannot fit succeeded"
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (err.code(), err.details())
    assert "space" in err.details().lower(), err.details()
    assert [s.id for s in client.history(T)] == history_before, "a failed commit published"
    assert sorted(os.listdir(sc.table_root / T / "data")) == files_before, \
        "a failed commit left data files behind"

    os.remove(filler)
    resp = client.commit([committable])
    assert not resp.commits[0].already_committed
    assert_tables_agree(client, deltactl, T, rows)
    assert deltactl.run("verify", T).returncode == 0
