"""Hostile and malformed requests against a real delta-sidecar, one test per request.

Each test asserts the exact gRPC status code, that the message names the
problem (row, column, epoch, checkpoint id, table, identity...), and that
nothing staged or committed was lost or changed. Every test starts from the
same state of one writer W (see `Victim`):

  checkpoint 1  committed (epoch 1, rows A)
  re-registered with restored checkpoint 1, so epoch 1 is stale, 3 is in the future
  checkpoint 2  sealed under epoch 2, not committed (rows B)
  rows C        staged in two acknowledged batches, not sealed

After the bad request the table is checked to be unchanged (same latest
snapshot, same history, same rows), then W seals checkpoint 3 (its row count
must be exactly that of C plus whatever the test staged) and commits 2 and 3,
and the table must hold exactly A+B+C(+...) through the gRPC Scan and
`deltactl scan`.

Covered elsewhere, not repeated here:
  - test_api.py: NOT_FOUND for DescribeTable, Scan, History and Changes of an
    unknown table (read-only calls), INVALID_ARGUMENT for an empty writer id,
    a negative restored or prepared checkpoint id, a Commit naming no
    committable, a first WriteRequest without table/writer, and bad Get keys.
  - test_exactly_once.py: the remaining bad-row kinds (invalid UTF-8, a
    BOOLEAN byte of 2, a DECIMAL over its precision, a DATE out of range, an
    unknown op byte, null-bitmap padding bits), each with another writer's
    stream running at the same time.
  - test_resource_exhausted.py: RESOURCE_EXHAUSTED from a full disk and from
    --max-staged-bytes (the "Storage faults" table).
"""

import os
import uuid
from pathlib import Path

import grpc
import pytest

from deltasidecar import rows as pr
import sidecar_api
from sidecar_helpers import KEY, SCHEMA, assert_tables_agree, rpc_error

T = "orders"
OTHER = "other"
W = "op-1/0"
V = "op-2/0"

INVALID = grpc.StatusCode.INVALID_ARGUMENT
FAILED = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def row(i, name=None, qty=None):
    return {"id": i, "name": name if name is not None else f"name-{i}", "score": i * 0.25,
            "qty": qty if qty is not None else i % 7}


A = [row(i) for i in range(20)]
B = [row(i) for i in range(20, 30)] + [row(5, name="b-five"), ("delete", {"id": 7})]
C1 = [row(i) for i in range(30, 36)] + [row(6, name="c-six", qty=-1)]
C2 = [row(i) for i in range(36, 40)] + [("delete", {"id": 21})]


def apply(state, ops):
    for op in ops:
        kind, r = ("upsert", op) if isinstance(op, dict) else op
        if kind == "upsert":
            state[r["id"]] = r
        else:
            state.pop(r["id"], None)
    return state


def expect_error(e, code, *needles):
    assert e.code() == code, (e.code(), e.details())
    for n in needles:
        assert n in e.details(), f"{n!r} not in {e.details()!r}"


class Victim:
    """Writer W of table T with committed, sealed and open staged data (module docstring)."""

    def __init__(self, sidecar, client, deltactl):
        self.sidecar, self.client, self.deltactl = sidecar, client, deltactl
        client.create_table(T, SCHEMA, KEY, buckets=4)
        self.schema = client.schema(T)
        e1 = client.register(T, W).epoch
        client.write_rows(T, W, e1, [A])
        self.c1 = client.prepare(T, W, e1, 1)
        client.commit([self.c1])
        reg = client.register(T, W, restored=1)
        assert reg.epoch == e1 + 1 and list(reg.pending) == [] and reg.last_committed_checkpoint_id == 1
        self.epoch = reg.epoch
        client.write_rows(T, W, self.epoch, [B])
        self.c2 = client.prepare(T, W, self.epoch, 2)
        assert self.c2.rows == len(B)
        acks = client.write_rows(T, W, self.epoch, [C1, C2])
        assert [a.rows_staged for a in acks] == [len(C1), len(C2)]
        self.open_ops = C1 + C2          # staged and acknowledged, not sealed
        self.committed = apply({}, A)
        self.snapshot = client.describe(T).latest_snapshot_id
        self.history = [(h.id, h.kind) for h in client.history(T)]
        self.more = 100                  # next id for rows staged by a test

    def stage_more(self, stream, n=3):
        """Writes n fresh rows on `stream` (acknowledged), to be committed with C."""
        ops = [row(self.more + k) for k in range(n)]
        self.more += n
        resp = stream.write(*pr.encode_rows(self.schema, ops))
        assert resp.rows_staged == n
        self.open_ops += ops
        return ops

    def check_unchanged(self):
        """The table still holds exactly what was committed before the bad request."""
        assert self.client.describe(T).latest_snapshot_id == self.snapshot
        assert [(h.id, h.kind) for h in self.client.history(T)] == self.history
        got, snap = self.client.scan(T)
        assert snap == self.snapshot
        assert got == sorted(self.committed.values(), key=lambda r: r["id"])

    def restore(self, checkpoint_id):
        """RegisterWriter with a restored checkpoint; staged data after it is replayed (C again)."""
        reg = self.client.register(T, W, restored=checkpoint_id)
        assert reg.epoch == self.epoch + 1
        self.epoch = reg.epoch
        assert [(p.checkpoint_id, p.rows, p.checksum) for p in reg.pending] == [
            (2, self.c2.rows, self.c2.checksum)]
        self.c2 = reg.pending[0]
        self.client.write_rows(T, W, self.epoch, [self.open_ops])

    def finish(self):
        """Seals the open rows as checkpoint 3, commits 2 and 3, checks the table."""
        c3 = self.client.prepare(T, W, self.epoch, 3)
        assert c3.rows == len(self.open_ops), "staged rows were lost or added"
        resp = self.client.commit([self.c2, c3])
        (tc,) = resp.commits
        assert tc.table == T and not tc.already_committed and tc.snapshot_id > self.snapshot
        (last,) = [h for h in self.client.history(T) if h.id == tc.snapshot_id]
        assert sorted((i.writer_id, i.checkpoint_id) for i in last.identities) == [(W, 2), (W, 3)]
        expected = apply(dict(self.committed), B + self.open_ops)
        assert_tables_agree(self.client, self.deltactl, T, expected.values())


@pytest.fixture
def victim(sidecar, client, deltactl):
    return Victim(sidecar, client, deltactl)


def write_error(client, table, writer, epoch, rows, count, before=None):
    """Opens a Write stream, optionally writes good batches first (before(stream)),
    sends one batch that must be refused; returns the RpcError."""
    stream = client.write_stream(table, writer, epoch)
    if before is not None:
        before(stream)
    seq = stream.send(rows, count)
    e = rpc_error(stream.ack)
    assert stream.code() == e.code()
    return e, seq


# -- malformed packed rows --------------------------------------------------------------------


def _good(victim, ids):
    return pr.encode_rows(victim.schema, [row(i) for i in ids])


def _rows_cases(v):
    two, _ = _good(v, [200, 201])
    one, _ = _good(v, [202])
    no_qty = pr.encode_upsert(v.schema, row(203))[:-4]          # the INT's 4 bytes left out
    extra = pr.encode_upsert(v.schema, row(204)) + b"\x07\x00\x00\x00"
    i64 = (205).to_bytes(8, "little")
    name_overrun = b"\x01\x00" + i64 + b"\x32abc"               # says 50 bytes, holds 3
    varint_overflow = b"\x01\x00" + i64 + b"\xff" * 10 + b"\x01"
    null_key = b"\x01\x01" + pr.encode_upsert(v.schema, row(206))[10:]
    return {
        # name: (rows, row_count, the exact message after "batch <seq>: ")
        "row_count above the rows held": (two, 3, "batch declares 3 rows but holds 2"),
        "truncated inside a value": (two[:-3], 2,
                                     "row 1: column 'qty' (INT): value runs past the end of the batch"),
        "trailing garbage": (two + b"\xde\xad\xbe", 2,
                             "trailing bytes after row 1, the last of the 2 declared rows (3 bytes)"),
        "row_count 0 with bytes": (one, 0, f"batch declares 0 rows but holds {len(one)} bytes"),
        "too few values, alone": (no_qty, 1,
                                  "row 0: column 'qty' (INT): value runs past the end of the batch"),
        "too few values, mid-batch": (one + no_qty + one, 3, None),
        "too many values, alone": (extra, 1,
                                   "trailing bytes after row 0, the last of the 1 declared rows (4 bytes)"),
        "too many values, mid-batch": (one + extra + one, 3,
                                       "row 2: unknown op byte 0x07 (expected 0x01 upsert or 0x02 delete)"),
        "STRING length past the end": (name_overrun, 1,
                                       "row 0: column 'name' (STRING): 50-byte value runs past the end "
                                       "of the batch"),
        "STRING length overflows": (varint_overflow, 1,
                                    "row 0: column 'name' (STRING): length overflows 64 bits"),
        "NULL in the key column": (null_key, 1, "row 0: missing primary-key column 'id'"),
        "delete with a truncated key": (b"\x02\x05\x00\x00", 1,
                                        "row 0: column 'id' (BIGINT): value runs past the end of the batch"),
    }


ROW_CASES = ["row_count above the rows held", "truncated inside a value", "trailing garbage",
             "row_count 0 with bytes", "too few values, alone", "too few values, mid-batch",
             "too many values, alone", "too many values, mid-batch", "STRING length past the end",
             "STRING length overflows", "NULL in the key column", "delete with a truncated key"]


@pytest.mark.parametrize("case", ROW_CASES)
def test_malformed_rows_are_invalid_argument(victim, case):
    rows, count, message = _rows_cases(victim)[case]
    e, seq = write_error(victim.client, T, W, victim.epoch, rows, count, before=victim.stage_more)
    assert e.code() == INVALID, (e.code(), e.details())
    if message is None:
        # The short row makes the decoder read the next row's bytes as its qty:
        # some later row of the batch is reported, by index.
        assert e.details().startswith(f"batch {seq}: row "), e.details()
    else:
        assert e.details() == f"batch {seq}: {message}"
    victim.check_unchanged()
    victim.finish()


# -- oversized messages -----------------------------------------------------------------------

MAX_RECEIVE = 80 << 20   # sidecar/main.cc SetMaxReceiveMessageSize
MAX_BYTES = 64 << 20     # WireLimits::max_bytes
MAX_ROWS = 1_000_000     # WireLimits::max_rows


def test_message_over_the_grpc_limit_is_resource_exhausted_and_another_stream_goes_on(victim):
    client = victim.client
    ev = client.register(T, V).epoch
    other = client.write_stream(T, V, ev)
    v_rows = [row(300 + i) for i in range(5)]
    other.write(*pr.encode_rows(victim.schema, v_rows[:2]))

    huge = b"\x00" * (MAX_RECEIVE + 1024)
    e, _ = write_error(client, T, W, victim.epoch, huge, 1, before=victim.stage_more)
    expect_error(e, grpc.StatusCode.RESOURCE_EXHAUSTED, str(MAX_RECEIVE))

    # V's stream, open all along, goes on.
    other.write(*pr.encode_rows(victim.schema, v_rows[2:]))
    assert other.finish() == [] and other.code() == grpc.StatusCode.OK
    victim.check_unchanged()
    cv = client.prepare(T, V, ev, 1)
    assert cv.rows == 5
    victim.finish()
    client.commit([cv])
    expected = apply(dict(victim.committed), B + victim.open_ops + v_rows)
    assert_tables_agree(client, victim.deltactl, T, expected.values())


def test_batch_over_max_bytes_is_invalid_argument(victim):
    rows = b"\x00" * (MAX_BYTES + 1)   # within the gRPC limit, above the sidecar's row limit
    e, seq = write_error(victim.client, T, W, victim.epoch, rows, 1, before=victim.stage_more)
    expect_error(e, INVALID)
    assert e.details() == f"batch {seq}: batch of {MAX_BYTES + 1} bytes exceeds max_bytes ({MAX_BYTES})"
    victim.check_unchanged()
    victim.finish()


def test_row_count_over_max_rows_is_invalid_argument(victim):
    rows, _ = _good(victim, [1])
    e, seq = write_error(victim.client, T, W, victim.epoch, rows, MAX_ROWS + 1, before=victim.stage_more)
    expect_error(e, INVALID)
    assert e.details() == f"batch {seq}: batch of {MAX_ROWS + 1} rows exceeds max_rows ({MAX_ROWS})"
    victim.check_unchanged()
    victim.finish()


# -- unknown table, unknown writer --------------------------------------------------------------


def test_unknown_table(victim):
    client = victim.client
    e = rpc_error(client.register, "nope", W)
    expect_error(e, NOT_FOUND, "'nope'")
    rows, n = _good(victim, [1])
    e, _ = write_error(client, "nope", W, victim.epoch, rows, n)
    expect_error(e, NOT_FOUND, "nope")
    e = rpc_error(client.prepare, "nope", W, victim.epoch, 3)
    expect_error(e, NOT_FOUND, "nope")
    e = rpc_error(client.abort, "nope", W, victim.epoch, 3)
    expect_error(e, NOT_FOUND, "nope")
    c = sidecar_api.pb().Committable()
    c.CopyFrom(victim.c2)
    c.table = "nope"
    e = rpc_error(client.commit, [c])
    expect_error(e, NOT_FOUND, "'nope'")
    assert not (victim.sidecar.table_root / "nope").exists()
    victim.check_unchanged()
    victim.finish()


def test_unknown_writer(victim):
    client = victim.client
    rows, n = _good(victim, [1])
    e, _ = write_error(client, T, "ghost", victim.epoch, rows, n)
    expect_error(e, NOT_FOUND, "ghost", T, "not registered")
    e = rpc_error(client.prepare, T, "ghost", victim.epoch, 3)
    expect_error(e, NOT_FOUND, "ghost", T, "not registered")
    c = sidecar_api.pb().Committable()
    c.CopyFrom(victim.c2)
    c.writer_id = "ghost"
    c.identity = ""
    e = rpc_error(client.commit, [c])
    expect_error(e, FAILED, "'ghost'", f"'{T}'", "not registered")
    victim.check_unchanged()
    victim.finish()


# -- epochs ---------------------------------------------------------------------------------------


def _epoch_cases(v):
    return {"stale": v.epoch - 1, "future": v.epoch + 1, "far future": v.epoch + 1000}


def _epoch_message(v, epoch):
    if epoch < v.epoch:
        return f"is fenced: epoch {epoch} is older than {v.epoch}"
    return f"epoch {epoch} is newer than the current {v.epoch}"


@pytest.mark.parametrize("which", ["stale", "future", "far future"])
def test_wrong_epoch_on_write(victim, which):
    epoch = _epoch_cases(victim)[which]
    rows, n = _good(victim, [250])
    e, _ = write_error(victim.client, T, W, epoch, rows, n)
    expect_error(e, FAILED, W, T, _epoch_message(victim, epoch))
    victim.check_unchanged()
    victim.finish()


@pytest.mark.parametrize("which", ["stale", "future", "far future"])
@pytest.mark.parametrize("call,checkpoint", [
    ("prepare", 3),
    ("abort", 2),  # the sealed checkpoint
    ("abort", 3),  # the open batches
])
def test_wrong_epoch_on_prepare_commit_and_abort(victim, which, call, checkpoint):
    epoch = _epoch_cases(victim)[which]
    e = rpc_error(getattr(victim.client, call), T, W, epoch, checkpoint)
    expect_error(e, FAILED, W, T, _epoch_message(victim, epoch))
    victim.check_unchanged()
    victim.finish()


@pytest.mark.parametrize("which", ["stale", "future", "far future"])
def test_wrong_epoch_on_commit(victim, which):
    # The committable of sealed checkpoint 2 with another epoch than it was sealed under.
    epoch = _epoch_cases(victim)[which]
    c = sidecar_api.pb().Committable()
    c.CopyFrom(victim.c2)
    c.epoch = epoch
    e = rpc_error(victim.client.commit, [c])
    expect_error(e, FAILED, "checkpoint 2", f"'{W}'", f"epoch {epoch} vs {victim.epoch}")
    victim.check_unchanged()
    victim.finish()


def test_commit_by_a_fenced_writer_of_a_discarded_checkpoint(victim):
    # A zombie commits what it sealed under an epoch that a fresh registration
    # discarded.
    client = victim.client
    z = "op-zombie/0"
    old = client.register(T, z).epoch
    client.write_rows(T, z, old, [[row(500)]])
    cz = client.prepare(T, z, old, 1)
    assert client.register(T, z).epoch == old + 1
    e = rpc_error(client.commit, [cz])
    expect_error(e, FAILED, "checkpoint 1", f"'{z}'", "not sealed")
    victim.check_unchanged()
    victim.finish()


# -- checkpoint ids ---------------------------------------------------------------------------------


def test_prepare_commit_checkpoint_going_backwards(victim):
    # 1 is committed: neither it nor an id below it may be sealed again.
    client = victim.client
    e = rpc_error(client.prepare, T, W, victim.epoch, 1)
    expect_error(e, FAILED, "checkpoint 1 is not after the last committed checkpoint 1", W, T)
    e = rpc_error(client.prepare, T, W, victim.epoch, 0)
    expect_error(e, FAILED, "checkpoint 0 is not after the last committed checkpoint 1", W, T)
    # With 3 sealed (C), 2 may not be sealed again, although it is not committed.
    c3 = client.prepare(T, W, victim.epoch, 3)
    assert c3.rows == len(victim.open_ops)
    e = rpc_error(client.prepare, T, W, victim.epoch, 2)
    expect_error(e, FAILED, "checkpoint 2 is not after the last sealed checkpoint 3", W, T)
    victim.check_unchanged()
    victim.finish()  # PrepareCommit(3) again answers the same seal


def test_prepare_commit_repeated_with_another_epoch(victim):
    # After a restore from checkpoint 2, the new epoch may not seal 2 again:
    # the existing seal (epoch 2) stays, and is what gets committed.
    old_epoch = victim.epoch
    victim.restore(2)
    e = rpc_error(victim.client.prepare, T, W, victim.epoch, 2)
    expect_error(e, FAILED, "checkpoint 2 is not after the last sealed checkpoint 2")
    # And the old epoch, which sealed 2, is fenced now.
    e = rpc_error(victim.client.prepare, T, W, old_epoch, 2)
    expect_error(e, FAILED, f"is fenced: epoch {old_epoch} is older than {victim.epoch}")
    victim.check_unchanged()
    victim.finish()


# -- tampered or foreign committables --------------------------------------------------------------


def _copy(c, **changes):
    out = sidecar_api.pb().Committable()
    out.CopyFrom(c)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def test_commit_of_a_checkpoint_never_prepared(victim):
    for cp in (3, 9, 2**62):
        e = rpc_error(victim.client.commit, [_copy(victim.c2, checkpoint_id=cp)])
        expect_error(e, FAILED, f"checkpoint {cp} of writer '{W}' of table '{T}' is not sealed")
    victim.check_unchanged()
    victim.finish()


def test_commit_naming_another_existing_table(victim):
    client = victim.client
    client.create_table(OTHER, SCHEMA, KEY, buckets=4)
    other_snapshot = client.describe(OTHER).latest_snapshot_id
    # W is not a writer of OTHER.
    e = rpc_error(client.commit, [_copy(victim.c2, table=OTHER)])
    expect_error(e, FAILED, f"writer '{W}' of table '{OTHER}' is not registered")
    # W of OTHER exists, in the same epoch, with a checkpoint 2 of as many rows
    # (other data): only the checksum tells them apart.
    client.register(OTHER, W)
    epoch = client.register(OTHER, W).epoch
    assert epoch == victim.epoch
    client.write_rows(OTHER, W, epoch, [[row(1000 + i) for i in range(len(B))]])
    own = client.prepare(OTHER, W, epoch, 2)
    assert own.rows == victim.c2.rows and own.checksum != victim.c2.checksum
    e = rpc_error(client.commit, [_copy(victim.c2, table=OTHER)])
    expect_error(e, FAILED, f"checkpoint 2 of writer '{W}' of table '{OTHER}' does not match")
    assert client.describe(OTHER).latest_snapshot_id == other_snapshot
    assert client.scan(OTHER)[0] == []
    victim.check_unchanged()
    victim.finish()
    # OTHER's own checkpoint is intact.
    client.commit([own])
    assert_tables_agree(client, victim.deltactl, OTHER, [row(1000 + i) for i in range(len(B))])


def test_commit_with_a_tampered_row_count(victim):
    for rows in (victim.c2.rows - 1, victim.c2.rows + 1, 0, 2**64 - 1):
        e = rpc_error(victim.client.commit, [_copy(victim.c2, rows=rows)])
        expect_error(e, FAILED, "checkpoint 2", f"'{W}'", "does not match",
                     f"rows {rows} vs {victim.c2.rows}")
    victim.check_unchanged()
    victim.finish()


def test_commit_with_a_tampered_epoch(victim):
    for epoch in (0, -5, 2**62):
        e = rpc_error(victim.client.commit, [_copy(victim.c2, epoch=epoch)])
        expect_error(e, FAILED, "checkpoint 2", f"'{W}'", "does not match",
                     f"epoch {epoch} vs {victim.epoch}")
    victim.check_unchanged()
    victim.finish()


def test_commit_with_a_tampered_checksum_is_refused(victim):
    for checksum in (victim.c2.checksum ^ 1, 0):
        e = rpc_error(victim.client.commit, [_copy(victim.c2, checksum=checksum)])
        expect_error(e, FAILED, "checkpoint 2", f"'{W}'", "does not match")
    victim.check_unchanged()
    victim.finish()


def test_commit_with_a_tampered_checksum_names_the_checksum(victim):
    bad = victim.c2.checksum ^ 1
    e = rpc_error(victim.client.commit, [_copy(victim.c2, checksum=bad)])
    expect_error(e, FAILED, "checkpoint 2", "checksum")
    victim.check_unchanged()
    victim.finish()


def test_commit_with_a_valid_and_a_tampered_committable_commits_nothing(victim):
    # All of one table's committables are checked before anything is written.
    client = victim.client
    ev = client.register(T, V).epoch
    client.write_rows(T, V, ev, [[row(600), row(601)]])
    cv = client.prepare(T, V, ev, 1)
    e = rpc_error(client.commit, [victim.c2, _copy(cv, rows=cv.rows + 1)])
    expect_error(e, FAILED, "checkpoint 1", f"'{V}'", "does not match")
    victim.check_unchanged()
    victim.finish()
    client.commit([cv])
    expected = apply(dict(victim.committed), B + victim.open_ops + [row(600), row(601)])
    assert_tables_agree(client, victim.deltactl, T, expected.values())


@pytest.mark.parametrize("case", ["tampered older checkpoint beside the newest",
                                  "tampered copy after the valid one"])
def test_commit_checks_every_committable_not_only_the_newest(victim, case):
    client = victim.client
    c3 = client.prepare(T, W, victim.epoch, 3)
    if case == "tampered older checkpoint beside the newest":
        request = [_copy(victim.c2, checksum=victim.c2.checksum ^ 1), c3]
    else:
        request = [victim.c2, _copy(victim.c2, rows=victim.c2.rows + 1)]
    e = rpc_error(client.commit, request)
    expect_error(e, FAILED, "checkpoint 2", f"'{W}'", "does not match")
    victim.check_unchanged()
    victim.finish()


@pytest.mark.parametrize("identity", [V, W + "x", W + "#0", W + "#-1", W + "#01", W + "#1x", "#1"])
def test_commit_with_an_identity_of_another_writer(victim, identity):
    e = rpc_error(victim.client.commit, [_copy(victim.c2, identity=identity)])
    expect_error(e, INVALID, f"committable identity '{identity}' does not belong to writer '{W}'")
    victim.check_unchanged()
    victim.finish()


# -- names that try to leave the table root ---------------------------------------------------------

ESCAPE_ID = uuid.uuid4().hex[:12]
BAD_TABLE_NAMES = {
    "dotdot-slash": f"../esc-{ESCAPE_ID}",
    "up-two": f"a/../../esc-{ESCAPE_ID}",
    "absolute": f"/tmp/esc-{ESCAPE_ID}",
    "nul": f"esc\x00-{ESCAPE_ID}",
    "dot": ".",
    "dotdot": "..",
    "slash": f"a/esc-{ESCAPE_ID}",
    "newline": f"esc\n{ESCAPE_ID}",
    "dot-hidden": f".esc-{ESCAPE_ID}",
}


def _outside_snapshot(sidecar):
    """What the sidecar could reach outside its table root: its workdir, the
    workdir's parent, the table root's top level, and anything anywhere named
    after ESCAPE_ID (the marker in every escaping name)."""
    work = sidecar.workdir
    marked = []
    for base in (work.parent, Path.cwd(), Path.cwd().parent, Path("/tmp")):
        marked += [str(p) for p in base.glob(f"*{ESCAPE_ID}*")]
    marked += [str(p) for p in work.parent.rglob(f"*{ESCAPE_ID}*")]
    return {
        "workdir": sorted(os.listdir(work)),
        "parent": sorted(os.listdir(work.parent)),
        "root": sorted(os.listdir(sidecar.table_root)),
        "marked": sorted(marked),
    }


def _assert_nothing_escaped(sidecar, before):
    after = _outside_snapshot(sidecar)
    assert after == before
    assert after["marked"] == []


def test_table_names_that_escape_the_root_are_refused(victim):
    client, sc = victim.client, victim.sidecar
    before = _outside_snapshot(sc)
    for label, name in BAD_TABLE_NAMES.items():
        e = rpc_error(client.create_table, name, SCHEMA, KEY)
        expect_error(e, INVALID, "invalid table name", "letters, digits")
        e = rpc_error(client.create_table, name, SCHEMA, KEY, if_not_exists=True)
        expect_error(e, INVALID, "invalid table name")
        e = rpc_error(client.register, name, W)
        expect_error(e, INVALID, "invalid table name")
        e = rpc_error(client.commit, [_copy(victim.c2, table=name)])
        expect_error(e, INVALID, "invalid table name")
    _assert_nothing_escaped(sc, before)
    victim.check_unchanged()
    victim.finish()


def _write_bad_table_name_params():
    params = []
    for label, name in BAD_TABLE_NAMES.items():
        params.append(pytest.param(name, id=label))
    return params


@pytest.mark.parametrize("name", _write_bad_table_name_params())
def test_write_to_a_table_name_that_escapes_the_root_is_invalid_argument(victim, name):
    client = victim.client
    before = _outside_snapshot(victim.sidecar)
    rows, n = _good(victim, [1])
    errors = [write_error(client, name, W, victim.epoch, rows, n)[0],
              rpc_error(client.prepare, name, W, victim.epoch, 3),
              rpc_error(client.abort, name, W, victim.epoch, 3)]
    _assert_nothing_escaped(victim.sidecar, before)
    victim.check_unchanged()
    victim.finish()
    for e in errors:
        expect_error(e, INVALID, "table name")


BAD_WRITER_IDS = {"nul": "op\x00/0", "newline": "op-1\n/0", "nul-only": "\x00", "cr": "op\r",
                  "escape": "op\x1b[2J", "del": "op\x7f"}


@pytest.mark.parametrize("label", list(BAD_WRITER_IDS))
def test_writer_id_with_a_control_character_is_refused(victim, label):
    writer = BAD_WRITER_IDS[label]
    client = victim.client
    before = _outside_snapshot(victim.sidecar)
    e = rpc_error(client.register, T, writer)
    expect_error(e, INVALID, "writer id contains a control character")
    rows, n = _good(victim, [1])
    e, _ = write_error(client, T, writer, 1, rows, n)
    expect_error(e, INVALID, "writer id contains a control character")
    e = rpc_error(client.prepare, T, writer, 1, 3)
    expect_error(e, INVALID, "writer id contains a control character")
    _assert_nothing_escaped(victim.sidecar, before)
    victim.check_unchanged()
    victim.finish()


def test_writer_ids_that_look_like_paths_are_only_names(victim):
    # A writer id is an opaque name ("<operator uid>/<subtask>" has a '/'): it
    # names RocksDB keys and snapshot identities, never a file. Path-like ids are
    # accepted and create nothing on the file system.
    client = victim.client
    before = _outside_snapshot(victim.sidecar)
    writers = [f"../esc-{ESCAPE_ID}", f"a/../../esc-{ESCAPE_ID}", f"/tmp/esc-{ESCAPE_ID}", ".", ".."]
    committables, ops = [], []
    for k, w in enumerate(writers):
        epoch = client.register(T, w).epoch
        r = row(700 + k, name=w)
        client.write_rows(T, w, epoch, [[r]])
        committables.append(client.prepare(T, w, epoch, 1))
        ops.append(r)
    victim.finish()
    (tc,) = client.commit(committables).commits
    # Background maintenance may compact after the commit; read the commit's own snapshot.
    (snap,) = [h for h in client.history(T) if h.id == tc.snapshot_id]
    ids = sorted((i.writer_id, i.checkpoint_id) for i in snap.identities)
    assert ids == sorted((w, 1) for w in writers)
    expected = apply(dict(victim.committed), B + victim.open_ops + ops)
    assert_tables_agree(client, victim.deltactl, T, expected.values())
    _assert_nothing_escaped(victim.sidecar, before)
