"""Every deltasidecar.v1 call on its happy path, and the status codes of its errors."""

import decimal
import struct
import time

import grpc
import pytest

from deltasidecar import rows as pr
import sidecar_api
from sidecar_helpers import KEY, SCHEMA, assert_tables_agree, rpc_error

T = "orders"
W = "op-1/0"


def row(i, name=None, score=None, qty=None):
    return {"id": i, "name": name if name is not None else f"name-{i}",
            "score": score if score is not None else i * 1.5, "qty": qty if qty is not None else i % 7}


@pytest.fixture
def table(client):
    client.create_table(T, SCHEMA, KEY, buckets=4)
    return T


def stage_and_seal(client, table, writer, epoch, cp, batches):
    client.write_rows(table, writer, epoch, batches)
    return client.prepare(table, writer, epoch, cp)


# -- CreateTable / DescribeTable -------------------------------------------------


def test_create_and_describe(client, deltactl):
    client.create_table(T, "id BIGINT, name STRING NOT NULL, price DECIMAL(10,2), day DATE", "id",
                        buckets=8)
    d = client.describe(T)
    assert d.table == T
    assert [(c.name, c.type, c.nullable) for c in d.columns] == [
        ("id", "BIGINT", False), ("name", "STRING", False), ("price", "DECIMAL(10,2)", True),
        ("day", "DATE", True)]
    assert list(d.primary_key) == ["id"]
    assert d.buckets == 8
    # The same table through deltactl.
    desc = deltactl.run("describe", T).stdout.decode()
    assert '"buckets": 8' in desc and "DECIMAL(10,2)" in desc
    assert deltactl.scan(T) == []
    # A table created with buckets = 0 gets the default 16.
    client.create_table("t16", SCHEMA, KEY)
    assert client.describe("t16").buckets == 16
    assert client.describe("t16").latest_snapshot_id == d.latest_snapshot_id


def test_create_errors(client):
    client.create_table(T, SCHEMA, KEY)
    e = rpc_error(client.create_table, T, SCHEMA, KEY)
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e.details()
    # if_not_exists: OK for the same table, ALREADY_EXISTS for another schema.
    client.create_table(T, SCHEMA, KEY, if_not_exists=True)
    e = rpc_error(client.create_table, T, "id BIGINT, other STRING", KEY, if_not_exists=True)
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e.details()

    for schema, key, buckets, needle in [
        ("id BIGINT, name STRNG", "id", 0, "STRNG"),
        ("id BIGINT, name STRING", "nope", 0, "nope"),
        ("f FLOAT, name STRING", "f", 0, "f"),
        ("", "id", 0, ""),
        ("id BIGINT", "id", 5000, "5000"),
    ]:
        e = rpc_error(client.create_table, "bad", schema, key, buckets=buckets)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (schema, e.code(), e.details())
        assert needle in e.details(), (schema, e.details())
    e = rpc_error(client.describe, "bad")
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_table_is_not_found(client):
    for call in (lambda: client.describe("nope"), lambda: client.register("nope", W),
                 lambda: client.scan("nope"), lambda: client.history("nope"),
                 lambda: client.changes("nope", 0)):
        e = rpc_error(call)
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.details()


# -- the write path ----------------------------------------------------------------


def test_register_write_prepare_commit_scan(client, deltactl, table):
    reg = client.register(table, W)
    assert reg.epoch >= 1 and list(reg.pending) == []
    assert reg.last_committed_checkpoint_id == -1

    stream = client.write_stream(table, W, reg.epoch)
    b1, n1 = pr.encode_rows(client.schema(table), [row(i) for i in range(100)])
    b2, n2 = pr.encode_rows(client.schema(table), [row(i, name="again") for i in range(50, 150)]
                            + [("delete", {"id": 3})])
    # Two batches in flight before the first ack: acknowledged in order, by batch_seq.
    stream.send(b1, n1, seq=7)
    stream.send(b2, n2, seq=8)
    a1, a2 = stream.ack(), stream.ack()
    assert (a1.batch_seq, a1.rows_staged) == (7, 100)
    assert (a2.batch_seq, a2.rows_staged) == (8, 101)
    assert stream.finish() == []
    assert stream.code() == grpc.StatusCode.OK

    c = client.prepare(table, W, reg.epoch, 1)
    assert (c.table, c.writer_id, c.epoch, c.checkpoint_id, c.rows) == (table, W, reg.epoch, 1, 201)
    # A retried PrepareCommit of the same checkpoint returns the same committable.
    assert client.prepare(table, W, reg.epoch, 1) == c

    before = client.describe(table).latest_snapshot_id
    resp = client.commit([c])
    (tc,) = resp.commits
    assert tc.table == table and not tc.already_committed and tc.snapshot_id > before
    assert client.describe(table).latest_snapshot_id == tc.snapshot_id

    expected = {i: row(i) for i in range(50)}
    expected.update({i: row(i, name="again") for i in range(50, 150)})
    del expected[3]
    assert_tables_agree(client, deltactl, table, expected.values())
    _, snap = client.scan(table)
    assert snap == tc.snapshot_id

    last = client.history(table)[-1]
    assert last.id == tc.snapshot_id and last.kind == "APPEND"
    assert [(i.writer_id, i.checkpoint_id) for i in last.identities] == [(W, 1)]
    hist = deltactl.history(table)[-1]
    assert hist["identities"] == [{"writer": W, "checkpoint": 1}]


def test_get_changes_history_time_travel(client, deltactl, table):
    epoch = client.register(table, W).epoch
    c1 = stage_and_seal(client, table, W, epoch, 1, [[row(i) for i in range(10)]])
    s1 = client.commit([c1]).commits[0].snapshot_id
    c2 = stage_and_seal(client, table, W, epoch, 2,
                        [[row(2, name="two"), ("delete", {"id": 5}), ("delete", {"id": 99}), row(12)]])
    s2 = client.commit([c2]).commits[0].snapshot_id
    assert s2 > s1

    got, snap = client.get(table, {"id": 2})
    assert got == row(2, name="two") and snap == s2
    assert client.get(table, {"id": 5}) == (None, s2)
    assert client.get(table, {"id": 12345}) == (None, s2)
    # Time travel, and the key given as an upsert row whose other columns are NULL.
    got, snap = client.get(table, {"id": 5}, snapshot_id=s1, as_delete=False)
    assert got == row(5) and snap == s1
    old, snap = client.scan(table, snapshot_id=s1)
    assert old == [row(i) for i in range(10)] and snap == s1
    hist = client.history(table)
    at_s1 = [h for h in hist if h.id == s1][0]
    assert client.scan(table, as_of_unix_ms=at_s1.time_unix_ms)[1] >= s1

    changes = client.changes(table, s1, s2)
    assert sorted(changes, key=lambda c: c[1]["id"]) == [
        ("upsert", row(2, name="two")), ("delete", {"id": 5}), ("upsert", row(12)), ("delete", {"id": 99})]
    assert client.changes(table, s1) == changes  # to: latest
    assert client.changes(table, s2) == []

    kinds = [h.kind for h in hist]
    assert kinds[0] == "CREATE" and kinds.count("APPEND") == 2
    appended = [h for h in hist if h.kind == "APPEND"]
    assert [[(i.writer_id, i.checkpoint_id) for i in h.identities] for h in appended] == [[(W, 1)], [(W, 2)]]
    assert appended[1].rows + appended[1].deletes >= 3

    rows = {i: row(i) for i in range(10)}
    rows[2] = row(2, name="two")
    del rows[5]
    rows[12] = row(12)
    assert_tables_agree(client, deltactl, table, rows.values())


def test_abort(client, deltactl, table):
    epoch = client.register(table, W).epoch
    c1 = stage_and_seal(client, table, W, epoch, 1, [[row(1), row(2)]])
    client.abort(table, W, epoch, 1)
    e = rpc_error(client.commit, [c1])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()

    # Aborting the open checkpoint drops what was staged since the last seal.
    client.write_rows(table, W, epoch, [[row(3)]])
    client.abort(table, W, epoch, 2)
    client.write_rows(table, W, epoch, [[row(4)]])
    c2 = client.prepare(table, W, epoch, 2)
    assert c2.rows == 1
    client.commit([c2])
    assert_tables_agree(client, deltactl, table, [row(4)])


def test_request_errors(client, table):
    epoch = client.register(table, W).epoch
    e = rpc_error(client.commit, [])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(client.register, table, W, restored=-1)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(client.register, table, "")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(client.prepare, table, W, epoch, -3)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A Commit naming a writer that never registered.
    P = sidecar_api.pb()
    e = rpc_error(client.commit, [P.Committable(table=table, writer_id="ghost", epoch=1, checkpoint_id=1)])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    # A committable that was never sealed.
    e = rpc_error(client.commit, [P.Committable(table=table, writer_id=W, epoch=epoch, checkpoint_id=9)])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    # Checkpoints seal in increasing order.
    client.prepare(table, W, epoch, 5)
    e = rpc_error(client.prepare, table, W, epoch, 4)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    # The first WriteRequest must name the stream.
    stream = client.write_stream("", "", 0)
    b, n = pr.encode_rows(client.schema(table), [row(1)])
    stream.send(b, n)
    e = rpc_error(stream.ack)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()


ALL_TYPES = ("id BIGINT, b BOOLEAN, ti TINYINT, si SMALLINT, i INT, f FLOAT, d DOUBLE, "
             "dec DECIMAL(10,2), s STRING, bin BINARY, day DATE, dtm DATETIME, ts TIMESTAMP")


def test_every_type_round_trips(client, deltactl):
    client.create_table("types", ALL_TYPES, "id")
    schema = client.schema("types")
    D = decimal.Decimal
    rows = [
        {"id": -2**63, "b": True, "ti": -128, "si": -32768, "i": -2**31, "f": 0.1, "d": -1.5e300,
         "dec": D("-99999999.99"), "s": "héllo, wörld ✓ \U0001F600", "bin": bytes(range(256)),
         "day": -719162, "dtm": -62135596800000, "ts": -1},
        {"id": 2**63 - 1, "b": False, "ti": 127, "si": 32767, "i": 2**31 - 1, "f": 3.4e38, "d": 2.5,
         "dec": D("99999999.99"), "s": "nul\x00inside", "bin": b"", "day": 2932896,
         "dtm": 253402300799999, "ts": 2**63 - 1},
        {"id": 0, "b": None, "ti": None, "si": None, "i": None, "f": None, "d": None, "dec": None,
         "s": None, "bin": None, "day": None, "dtm": None, "ts": None},
        {"id": 7, "b": True, "ti": 0, "si": 1, "i": 2, "f": -0.0, "d": 1e-310, "dec": D("0.05"),
         "s": "", "bin": b"\x00", "day": 0, "dtm": 1, "ts": -2**63},
    ]
    epoch = client.register("types", W).epoch
    client.write_rows("types", W, epoch, [rows[:2], rows[2:]])
    client.commit([client.prepare("types", W, epoch, 1)])

    def as_float32(r):
        return {k: (struct.unpack("<f", struct.pack("<f", v))[0] if k == "f" and v is not None else v)
                for k, v in r.items()}

    expected = sorted((as_float32(r) for r in rows), key=lambda r: r["id"])
    got, _ = client.scan("types")
    assert got == expected
    text_rows = deltactl.scan("types")
    pr.assert_same_json_rows(schema, [pr.json_row(schema, r) for r in expected], text_rows)
    # Spot checks of the text forms, independent of rows.json_value.
    first = text_rows[0]
    assert first["dec"] == "-99999999.99" and first["day"] == "0001-01-01"
    assert first["dtm"] == "0001-01-01 00:00:00.000" and first["ts"] == "1969-12-31 23:59:59.999999999"
    assert text_rows[-1]["ts"] == "2262-04-11 23:47:16.854775807"
    for r in rows:
        got_row, _ = client.get("types", {"id": r["id"]})
        assert got_row == as_float32(r)


def test_timestamp_ltz_through_the_sidecar(client, deltactl):
    """TIMESTAMP_LTZ(p) as a key and as values: packed rows in, Scan/Get/deltactl out
    (ISO-8601 instants with 'Z'), and a value finer than p refused with the column named."""
    client.create_table("ltz", "at TIMESTAMP_LTZ(3), v9 TIMESTAMP_LTZ(9), v0 TIMESTAMP_LTZ(0), "
                               "v TIMESTAMP_LTZ", "at", buckets=3)
    described = client.describe("ltz")
    assert [c.type for c in described.columns] == [
        "TIMESTAMP_LTZ(3)", "TIMESTAMP_LTZ(9)", "TIMESTAMP_LTZ(0)", "TIMESTAMP_LTZ(6)"]
    low_ms = -(2**63 // 10**6) * 10**6
    rows = [
        {"at": 1709210096123000000, "v9": 2**63 - 1, "v0": -10**9, "v": 1709210096123456000},
        {"at": low_ms, "v9": -2**63, "v0": 0, "v": None},
        {"at": -10**6, "v9": -1, "v0": None, "v": -1000},
        {"at": 0, "v9": None, "v0": None, "v": None},
    ]
    epoch = client.register("ltz", W).epoch
    client.write_rows("ltz", W, epoch, [rows[:2], rows[2:], [("delete", {"at": 0})]])
    client.commit([client.prepare("ltz", W, epoch, 1)])
    live = sorted(rows[:3], key=lambda r: r["at"])
    got, _ = client.scan("ltz")
    assert got == live
    assert client.get("ltz", {"at": -10**6})[0] == rows[2]
    assert client.get("ltz", {"at": 0})[0] is None
    assert deltactl.scan("ltz") == [
        {"at": "1677-09-21T00:12:43.146Z", "v9": "1677-09-21T00:12:43.145224192Z",
         "v0": "1970-01-01T00:00:00Z", "v": None},
        {"at": "1969-12-31T23:59:59.999Z", "v9": "1969-12-31T23:59:59.999999999Z", "v0": None,
         "v": "1969-12-31T23:59:59.999999Z"},
        {"at": "2024-02-29T12:34:56.123Z", "v9": "2262-04-11T23:47:16.854775807Z",
         "v0": "1969-12-31T23:59:59Z", "v": "2024-02-29T12:34:56.123456Z"},
    ]
    schema = client.schema("ltz")
    pr.assert_same_json_rows(schema, [pr.json_row(schema, r) for r in live], deltactl.scan("ltz"))

    # Digits finer than the column's precision: the whole batch is refused, the row and
    # column named, and nothing is staged.
    for bad, column, text in [({"at": 1}, "at", "TIMESTAMP_LTZ(3)): 1 has digits finer"),
                              ({"at": 0, "v0": 999}, "v0", "TIMESTAMP_LTZ(0)): 999 has digits"),
                              ({"at": 0, "v": 1}, "v", "TIMESTAMP_LTZ(6)): 1 has digits")]:
        stream = client.write_stream("ltz", W, epoch)
        b, n = pr.encode_rows(schema, [{"at": 5000000}, bad])
        stream.send(b, n)
        e = rpc_error(stream.ack)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
        assert f"row 1: column '{column}' ({text}" in e.details(), e.details()
    client.commit([client.prepare("ltz", W, epoch, 2)])
    assert client.scan("ltz")[0] == live


def test_composite_key_in_key_order(client, deltactl):
    # The key order (id, region) differs from the schema order (region, id):
    # deletes and lookups carry key columns in key order.
    client.create_table("multi", "region STRING, v INT, id INT", "id, region")
    epoch = client.register("multi", W).epoch
    rows = [{"region": r, "v": i * 10 + j, "id": i} for i in range(3) for j, r in enumerate(["eu", "us", "ap"])]
    client.write_rows("multi", W, epoch, [rows, [("delete", {"id": 1, "region": "us"})]])
    client.commit([client.prepare("multi", W, epoch, 1)])
    expected = [r for r in rows if (r["id"], r["region"]) != (1, "us")]
    got, _ = client.scan("multi")
    assert got == sorted(expected, key=lambda r: (r["id"], r["region"]))
    assert [(r["id"], r["region"]) for r in deltactl.scan("multi")] == [(r["id"], r["region"]) for r in got]
    assert client.get("multi", {"id": 2, "region": "ap"})[0] == {"region": "ap", "v": 22, "id": 2}
    assert client.get("multi", {"id": 1, "region": "us"})[0] is None


def test_many_writers_one_commit(client, deltactl, table):
    # Four writers, one Commit with all their committables: one atomic snapshot.
    writers = [f"op/{k}" for k in range(4)]
    committables = []
    for k, w in enumerate(writers):
        epoch = client.register(table, w).epoch
        committables.append(stage_and_seal(client, table, w, epoch, 1,
                                           [[row(i) for i in range(k, 400, 4)]]))
    before = len(client.history(table))
    resp = client.commit(committables)
    hist = client.history(table)
    assert len(hist) == before + 1
    assert sorted((i.writer_id, i.checkpoint_id) for i in hist[-1].identities) == [(w, 1) for w in writers]
    assert hist[-1].id == resp.commits[0].snapshot_id
    assert_tables_agree(client, deltactl, table, [row(i) for i in range(400)])


def test_large_batch(client, deltactl, table):
    # 50,000 rows in one RecordBatch (about 2 MB).
    epoch = client.register(table, W).epoch
    rows = [row(i, name="x" * (i % 40)) for i in range(50000)]
    t0 = time.monotonic()
    acks = client.write_rows(table, W, epoch, [rows])
    assert acks[0].rows_staged == 50000
    client.commit([client.prepare(table, W, epoch, 1)])
    assert time.monotonic() - t0 < 60
    got, _ = client.scan(table)
    assert got == rows
    assert len(deltactl.scan(table)) == 50000


def test_one_commit_across_two_tables(client, deltactl):
    client.create_table("left", SCHEMA, KEY)
    client.create_table("right", SCHEMA, KEY)
    el = client.register("left", W).epoch
    er = client.register("right", W).epoch  # the same writer id in another table is another writer
    cl = stage_and_seal(client, "left", W, el, 1, [[row(1)]])
    cr = stage_and_seal(client, "right", W, er, 1, [[row(2), row(3)]])
    resp = client.commit([cr, cl])
    assert [c.table for c in resp.commits] == ["right", "left"]
    assert not any(c.already_committed for c in resp.commits)
    assert_tables_agree(client, deltactl, "left", [row(1)])
    assert_tables_agree(client, deltactl, "right", [row(2), row(3)])
    again = client.commit([cl, cr])
    assert [c.table for c in again.commits] == ["left", "right"]
    assert all(c.already_committed for c in again.commits)


def test_get_with_a_bad_key_is_invalid_argument(client, table):
    schema = client.schema(table)
    P = sidecar_api.pb()
    two, n = pr.encode_rows(schema, [("delete", {"id": 1}), ("delete", {"id": 2})])
    for rows, count in [(two, n), (b"\x02\x01", 1), (b"", 0)]:
        req = P.GetRequest(table=table)
        req.key.rows, req.key.row_count = rows, count
        e = rpc_error(client._get, req, timeout=30)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (rows, e.code(), e.details())


def test_read_of_nothing_still_names_its_snapshot(client, table):
    # A table without live rows: the scan answers the snapshot it read.
    assert client.scan(T) == ([], 0)
    epoch = client.register(T, W).epoch
    client.write_rows(T, W, epoch, [[row(1)]])
    first = client.commit([client.prepare(T, W, epoch, 1)]).commits[0].snapshot_id
    rows, snap = client.scan(T, snapshot_id=0)
    assert (rows, snap) == ([], 0)
    rows, snap = client.scan(T)
    assert snap == first and len(rows) == 1
