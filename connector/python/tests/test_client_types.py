"""Every column type through Writer -> PrepareCommit -> Commit -> Scan/Get, checked
also with `deltactl scan`; local validation of values that do not fit."""

import base64
import datetime
import decimal
import math
import random
import struct

import grpc
import pytest

from deltasidecar import InvalidRecordError, Writer, codec, rows as pr
from deltasidecar.schema import ColumnInfo, TableSchema

UTC = datetime.timezone.utc
D = decimal.Decimal

ALL_TYPES = ("id BIGINT NOT NULL, b BOOLEAN, t TINYINT, s SMALLINT, i INT, f FLOAT, d DOUBLE, "
             "dec DECIMAL(10,2), big DECIMAL(38,0), str STRING, bin BINARY, dt DATE, "
             "dtm DATETIME, ts TIMESTAMP, lt TIMESTAMP_LTZ(3), lt9 TIMESTAMP_LTZ(9)")

ROWS = [
    {"id": 1, "b": True, "t": -128, "s": -32768, "i": -2**31, "f": 1.5, "d": -0.0,
     "dec": D("-99999999.99"), "big": D("-" + "9" * 38), "str": "", "bin": b"",
     "dt": datetime.date(1, 1, 1), "dtm": datetime.datetime(1, 1, 1, tzinfo=UTC),
     "ts": -2**63, "lt": -(2**63 // 10**6) * 10**6, "lt9": -2**63},
    {"id": 2, "b": False, "t": 127, "s": 32767, "i": 2**31 - 1, "f": float("inf"),
     "d": 1e308, "dec": D("99999999.99"), "big": D("9" * 38), "str": "Zoë \u20ac \U0001F600 \x00",
     "bin": bytes(range(256)), "dt": datetime.date(9999, 12, 31),
     "dtm": datetime.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "ts": 2**63 - 1,
     "lt": (2**63 - 1) // 10**6 * 10**6, "lt9": 2**63 - 1},
    # An aware datetime in another zone; a DECIMAL given as an int and with
    # trailing zeros past the scale; a TIMESTAMP and TIMESTAMP_LTZ given as datetimes.
    {"id": 3, "b": True, "t": 0, "s": 0, "i": 0, "f": -3.25, "d": math.pi, "dec": 12,
     "big": D("1.000"), "str": "x" * 300, "bin": bytearray(b"\xff" * 200),
     "dt": datetime.date(1970, 1, 1),
     "dtm": datetime.datetime(2024, 2, 29, 12, 0, 0, 123000,
                              tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
     "ts": datetime.datetime(2026, 11, 24, 7, 0, 0, 654321, tzinfo=UTC),
     "lt": datetime.datetime(2024, 2, 29, 20, 34, 56, 123000,
                             tzinfo=datetime.timezone(datetime.timedelta(hours=8))),
     "lt9": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    # Every nullable column NULL (missing or None).
    {"id": 4, "b": None, "f": None},
    {"id": -5, "d": float("nan"), "dec": D("0.10"), "str": "neg key"},
]


def expected_value(col, v):
    """What a read returns for the written value."""
    if v is None:
        return None
    if col.base == "FLOAT":
        return struct.unpack("<f", struct.pack("<f", v))[0]
    if col.base == "DECIMAL":
        with decimal.localcontext(decimal.Context(prec=80)):
            return D(v).quantize(D(1).scaleb(-col.scale))
    if col.base == "BINARY":
        return bytes(v)
    if col.base == "DATETIME":
        return v.astimezone(UTC)
    if col.base in ("TIMESTAMP", "TIMESTAMP_LTZ") and isinstance(v, datetime.datetime):
        delta = v - codec.EPOCH
        return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return v


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float) and a == 0 and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and b == 0
    return a == b and type(a) is type(b)


def deltactl_json(col, v):
    """`deltactl scan`'s JSON form of a read value."""
    if v is None:
        return None
    base = col.base
    if base == "DECIMAL":
        return f"{v:.{col.scale}f}"
    if base == "BINARY":
        return base64.b64encode(v).decode()
    if base == "DATE":
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if base == "DATETIME":
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v:%H:%M:%S}.{v.microsecond // 1000:03d}"
    if base == "TIMESTAMP":
        return pr.json_value(pr.Column(col.name, "TIMESTAMP"), v)
    if base == "TIMESTAMP_LTZ":
        return pr.json_value(pr.Column(col.name, col.type), v)
    return v


def test_every_type_round_trips(client, deltactl):
    client.create_table("types", ALL_TYPES, "id", buckets=4)
    with Writer("types", "types/0", client=client) as w:
        for r in ROWS:
            w.upsert(r)
        results = w.commit([w.prepare_commit(1)])
    assert len(results) == 1 and results[0].table == "types" and not results[0].already_committed
    schema = client.describe_table("types")
    expected = {r["id"]: {c.name: expected_value(c, r.get(c.name)) for c in schema.columns}
                for r in ROWS}

    scanned = list(client.scan("types"))
    assert [r["id"] for r in scanned] == sorted(expected)
    for got in scanned:
        want = expected[got["id"]]
        for c in schema.columns:
            assert same(want[c.name], got[c.name]), (got["id"], c.name, want[c.name], got[c.name])
        assert same(want, got) or all(same(want[k], got[k]) for k in want)
        fetched = client.get("types", {"id": got["id"]})
        assert all(same(want[k], fetched[k]) for k in want)

    # The same values as deltactl reads them from the table files.
    by_id = {r["id"]: r for r in deltactl.scan("types")}
    assert sorted(by_id) == sorted(expected)
    for key, want in expected.items():
        for c in schema.columns:
            got = by_id[key][c.name]
            exp = deltactl_json(c, want[c.name])
            if c.base in ("FLOAT", "DOUBLE") and isinstance(got, str):
                got = float(got)  # deltactl's "NaN", "Infinity", "-Infinity"
            if c.base == "FLOAT" and exp is not None:
                assert pr.same_float32(exp, got), (key, c.name, exp, got)
            elif isinstance(exp, float):
                assert same(exp, float(got)), (key, c.name, exp, got)
            else:
                assert exp == got, (key, c.name, exp, got)


def test_get_missing_key_and_snapshots(client):
    client.create_table("g", "k STRING, n INT", "k")
    with Writer("g", "g/0", client=client) as w:
        w.upsert({"k": "a", "n": 1})
        first = w.commit([w.prepare_commit(1)])[0].snapshot_id
        w.upsert({"k": "a", "n": 2})
        w.delete({"k": "b"})
        w.commit([w.prepare_commit(2)])
    assert client.get("g", {"k": "a"}) == {"k": "a", "n": 2}
    assert client.get("g", {"k": "a"}, snapshot=first) == {"k": "a", "n": 1}
    assert client.get("g", {"k": "zz"}) is None
    assert list(client.scan("g", first)) == [{"k": "a", "n": 1}]


# -- local validation ---------------------------------------------------------------

BAD = [
    ({"id": "1"}, "id", "expected int"),
    ({"id": 1.0}, "id", "expected int"),
    ({"id": 2**63}, "id", "out of range"),
    ({"id": 1, "t": 128}, "t", "out of range"),
    ({"id": 1, "i": -2**31 - 1}, "i", "out of range"),
    ({"id": 1, "b": 1}, "b", "expected bool"),
    ({"id": 1, "f": 1e39}, "f", "out of range"),
    ({"id": 1, "d": "1.5"}, "d", "expected float"),
    ({"id": 1, "dec": D("1.234")}, "dec", "more than 2 fractional digits"),
    ({"id": 1, "dec": D("100000000")}, "dec", "more than 10 digits"),
    ({"id": 1, "dec": 1.5}, "dec", "expected decimal.Decimal"),
    ({"id": 1, "dec": D("NaN")}, "dec", "not a finite number"),
    ({"id": 1, "str": b"bytes"}, "str", "expected str"),
    ({"id": 1, "str": "\ud800"}, "str", "UTF-8"),
    ({"id": 1, "bin": "text"}, "bin", "expected bytes"),
    ({"id": 1, "bin": 5}, "bin", "expected bytes"),
    ({"id": 1, "dt": datetime.datetime(2020, 1, 1, tzinfo=UTC)}, "dt", "expected datetime.date"),
    ({"id": 1, "dt": "2020-01-01"}, "dt", "expected datetime.date"),
    ({"id": 1, "dtm": datetime.datetime(2020, 1, 1)}, "dtm", "naive datetime"),
    ({"id": 1, "dtm": datetime.datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=UTC)}, "dtm",
     "sub-millisecond"),
    ({"id": 1, "dtm": datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))},
     "dtm", "out of range"),
    ({"id": 1, "ts": 2**63}, "ts", "out of range"),
    ({"id": 1, "ts": datetime.datetime(3000, 1, 1, tzinfo=UTC)}, "ts", "out of range"),
    ({"id": 1, "ts": "now"}, "ts", "timezone-aware"),
    ({"id": 1, "lt": 1}, "lt", "digits finer than the precision 3"),
    ({"id": 1, "lt": datetime.datetime(2020, 1, 1, 0, 0, 0, 1001, tzinfo=UTC)}, "lt",
     "digits finer than the precision 3"),
    ({"id": 1, "lt9": datetime.datetime(2020, 1, 1)}, "lt9", "naive datetime"),
    ({"id": 1, "lt9": -2**63 - 1}, "lt9", "out of range"),
    ({"b": True}, "id", "primary-key column is missing"),
    ({"id": 1, "nope": 1}, "nope", "has no column 'nope'"),
]


def _schema():
    cols = []
    for part in ALL_TYPES.split(", "):
        words = part.split()
        cols.append(ColumnInfo(words[0], words[1], nullable=len(words) == 2))
    return TableSchema("types", tuple(cols), ("id",))


@pytest.mark.parametrize("row,column,reason", BAD, ids=[f"{c}-{r}" for _, c, r in BAD])
def test_value_that_does_not_fit_names_the_column(row, column, reason):
    encoder = codec.RowEncoder(_schema())
    full = dict(ROWS[2], **row) if "b" not in row or "id" in row else row
    for candidate in (full, row):  # all columns present (fast path) and with NULLs
        buf = bytearray(b"prefix")
        with pytest.raises(InvalidRecordError) as e:
            encoder.upsert(candidate, buf)
        assert e.value.column == column and reason in str(e.value), str(e.value)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert f"'{column}'" in str(e.value)
        assert buf == b"prefix", "a refused row leaves nothing behind"


def test_not_null_column_refused():
    schema = TableSchema("t", (ColumnInfo("k", "INT", False), ColumnInfo("v", "STRING", False)), ("k",))
    with pytest.raises(InvalidRecordError, match="column 'v' \\(STRING\\): column is NOT NULL"):
        codec.RowEncoder(schema).upsert({"k": 1}, bytearray())


def test_writer_refuses_bad_row_and_keeps_going(client, deltactl):
    """A local InvalidRecordError drops only that row; the writer stays usable."""
    client.create_table("v", "id BIGINT, name STRING", "id")
    with Writer("v", "v/0", client=client) as w:
        w.upsert({"id": 1, "name": "ok"})
        with pytest.raises(InvalidRecordError, match="column 'name' \\(STRING\\): expected str"):
            w.upsert({"id": 2, "name": 7})
        with pytest.raises(InvalidRecordError, match="column 'id'"):
            w.delete({"name": "no key"})
        w.upsert({"id": 3, "name": "also ok"})
        w.commit([w.prepare_commit(1)])
    assert deltactl.scan("v") == [{"id": 1, "name": "ok"}, {"id": 3, "name": "also ok"}]


# -- the encoder against the worked example and the independent test codec ----------


def test_protocol_worked_example():
    schema = TableSchema("t", (ColumnInfo("id", "BIGINT", False), ColumnInfo("name", "STRING"),
                               ColumnInfo("qty", "INT")), ("id",))
    enc, buf = codec.RowEncoder(schema), bytearray()
    enc.upsert({"id": 7, "name": "Zoë", "qty": None}, buf)
    enc.upsert({"id": -2, "name": "", "qty": 300}, buf)
    enc.delete({"id": 7}, buf)
    assert buf.hex(" ") == ("01 04 07 00 00 00 00 00 00 00 04 5a 6f c3 ab "
                            "01 00 fe ff ff ff ff ff ff ff 00 2c 01 00 00 "
                            "02 07 00 00 00 00 00 00 00")


def test_fast_and_checked_paths_match_independent_codec():
    schema = _schema()
    test_cols = [pr.Column(c.name, c.type, c.nullable) for c in schema.columns]
    independent = pr.Schema(test_cols, ["id"])
    rnd = random.Random(7)
    enc = codec.RowEncoder(schema)
    for n in range(400):
        row = {"id": rnd.randrange(-2**63, 2**63), "b": rnd.random() < 0.5,
               "t": rnd.randrange(-128, 128), "s": rnd.randrange(-2**15, 2**15),
               "i": rnd.randrange(-2**31, 2**31), "f": rnd.uniform(-1e6, 1e6),
               "d": rnd.uniform(-1e300, 1e300),
               "dec": D(rnd.randrange(-10**10 + 1, 10**10)).scaleb(-2),
               "big": D(rnd.randrange(-10**38 + 1, 10**38)),
               "str": "".join(chr(rnd.choice([0x41, 0xe9, 0x20ac, 0x1F600])) for _ in range(rnd.randrange(200))),
               "bin": rnd.randbytes(rnd.randrange(300)),
               "dt": datetime.date(1970, 1, 1) + datetime.timedelta(days=rnd.randrange(-719162, 2932897)),
               "dtm": codec.EPOCH + datetime.timedelta(milliseconds=rnd.randrange(-62135596800000, 253402300800000)),
               "ts": rnd.randrange(-2**63, 2**63),
               "lt": rnd.randrange(-(2**63 // 10**6), 2**63 // 10**6) * 10**6,
               "lt9": rnd.randrange(-2**63, 2**63)}
        if n % 2:  # NULLs take the checked path
            for name in rnd.sample([c.name for c in schema.columns[1:]], rnd.randrange(1, 6)):
                row[name] = None
        buf = bytearray()
        enc.upsert(row, buf)
        # The test codec takes DATE, DATETIME as ints.
        plain = dict(row)
        if plain["dt"] is not None:
            plain["dt"] = (plain["dt"] - datetime.date(1970, 1, 1)).days
        if plain["dtm"] is not None:
            plain["dtm"] = (plain["dtm"] - codec.EPOCH) // datetime.timedelta(milliseconds=1)
        assert bytes(buf) == pr.encode_upsert(independent, plain), row
        (op, back), = codec.RowDecoder(schema).rows(bytes(buf), 1)
        assert op == codec.UPSERT
        for c in schema.columns:
            assert same(expected_value(c, row[c.name]), back[c.name]), c.name
