"""ARRAY, MAP and STRUCT columns in the client: the shared vectors
(tests/vectors/nested_values.json) through the codec, every vector through a
real sidecar (Writer -> Commit -> Scan/Get) and read back by deltactl, and the
errors for values that do not fit."""

import datetime
import decimal

import pytest

from deltasidecar import InvalidRecordError, Writer, codec
from deltasidecar.schema import ColumnInfo, TableSchema

from nested_vectors import from_json, load

VECTORS = load()
IDS = [t for t, _, _ in VECTORS]


def _varint(n):
    return codec._varint(n)


@pytest.mark.parametrize("type_text,json_form,encoding", VECTORS, ids=IDS)
def test_vector_encodes_and_decodes(type_text, json_form, encoding):
    col = ColumnInfo("v", type_text)
    value = from_json(col, json_form)
    packed = _varint(len(encoding)) + encoding
    assert codec._checked_value_encoder(col)(value) == packed
    decoded, end = codec._value_decoder(col)(packed + b"tail", 0)
    assert end == len(packed)
    assert decoded == value


def _schema(*columns):
    cols = [ColumnInfo("id", "BIGINT", False)] + [ColumnInfo(n, t) for n, t in columns]
    return TableSchema("n", tuple(cols), ("id",))


def test_rows_with_nested_columns_pack_as_the_vectors_say():
    schema = _schema(("a", "ARRAY<INT>"), ("m", "MAP<STRING,SMALLINT>"))
    encoder, decoder = codec.RowEncoder(schema), codec.RowDecoder(schema)
    buf = bytearray()
    encoder.upsert({"id": 7, "a": [5, None, -1], "m": [("", None), ("k", 2)]}, buf)  # the fast path
    encoder.upsert({"id": 8, "m": {}}, buf)  # a NULL column: the checked path
    assert bytes(buf) == (b"\x01\x00" + (7).to_bytes(8, "little") +
                          bytes.fromhex("0a030205000000ffffffff") + bytes.fromhex("07020100016b0200") +
                          b"\x01\x02" + (8).to_bytes(8, "little") + b"\x01\x00")
    assert list(decoder.rows(bytes(buf), 2)) == [
        (codec.UPSERT, {"id": 7, "a": [5, None, -1], "m": {"": None, "k": 2}}),
        (codec.UPSERT, {"id": 8, "a": None, "m": {}}),
    ]


BAD = [
    ("ARRAY<INT>", "x", "column 'v' (ARRAY<INT>): expected a list, got str"),
    ("ARRAY<INT>", [1, "x"], "column 'v' (ARRAY<INT>): [1] (INT): expected int, got str 'x'"),
    ("MAP<STRING,ARRAY<INT>>", {"k": [1, 2**40]}, "{k}[1] (INT): 1099511627776 is out of range"),
    ("MAP<STRING,INT>", {None: 1}, "{key 0} (STRING): a MAP key cannot be NULL"),
    ("MAP<STRING,INT>", [("a", 1), ("a", 2)], "a key appears more than once"),
    ("MAP<INT,INT>", {"1": 1}, "{key 0} (INT): expected int, got str '1'"),
    ("MAP<STRING,INT>", 5, "expected a dict, got int"),
    ("STRUCT<a:INT,b:DECIMAL(4,2)>", {"c": 1}, "no field 'c' (fields: a, b)"),
    ("STRUCT<a:INT,b:DECIMAL(4,2)>", {"b": decimal.Decimal("1.234")},
     ".b (DECIMAL(4,2)): 1.234 has more than 2 fractional digits"),
    ("STRUCT<a:INT>", [1], "expected a dict of fields, got list"),
    ("ARRAY<STRUCT<d:DATE>>", [{"d": "2020-01-01"}], "[0].d (DATE): expected datetime.date"),
    ("ARRAY<STRING>", ["x" * (codec.MAX_VALUE_BYTES - 3), "yy"], "exceeds max_value_bytes"),
]


@pytest.mark.parametrize("type_text,value,message", BAD, ids=[m for _, _, m in BAD])
def test_value_that_does_not_fit_names_the_place(type_text, value, message):
    schema = _schema(("v", type_text))
    encoder = codec.RowEncoder(schema)
    buf = bytearray(b"before")
    with pytest.raises(InvalidRecordError) as e:
        encoder.upsert({"id": 1, "v": value}, buf)
    assert message in str(e.value)
    assert e.value.column == "v"
    assert buf == b"before"


def test_nested_key_type_is_refused():
    with pytest.raises(ValueError, match="a MAP key cannot be of a nested type"):
        ColumnInfo("m", "MAP<ARRAY<INT>,INT>")
    with pytest.raises(ValueError, match="deeper than 32"):
        ColumnInfo("a", "ARRAY<" * 33 + "INT" + ">" * 33)
    assert ColumnInfo("a", "ARRAY<" * 32 + "INT" + ">" * 32).base == "ARRAY"


def test_every_vector_through_a_sidecar(client, deltactl):
    columns = ", ".join(f"v{i} {t}" for i, (t, _, _) in enumerate(VECTORS))
    client.create_table("nested", "id BIGINT, " + columns, "id", buckets=2)
    schema = client.describe_table("nested")
    cols = schema.columns[1:]
    assert [c.type for c in cols] == [t for t, _, _ in VECTORS]
    row = {"id": 1, **{c.name: from_json(c, j) for c, (_, j, _) in zip(cols, VECTORS)}}
    # MAPs also as lists of pairs; the same value is stored.
    pairs = {"id": 2, **{c.name: (list(row[c.name].items()) if c.base == "MAP" else row[c.name])
                         for c in cols}}
    with Writer("nested", "nested/0", client=client) as w:
        w.upsert(row)
        w.upsert(pairs)
        w.upsert({"id": 3})
        w.commit([w.prepare_commit(1)])
    nulls = {"id": 3, **{c.name: None for c in cols}}
    assert list(client.scan("nested")) == [row, dict(row, id=2), nulls]
    assert client.get("nested", {"id": 2}) == dict(row, id=2)
    # deltactl reads the table files: each value in the vectors' JSON form.
    scanned = deltactl.scan("nested")
    assert scanned[0] == {"id": 1, **{c.name: j for c, (_, j, _) in zip(cols, VECTORS)}}
    assert scanned[1] == dict(scanned[0], id=2)
    assert scanned[2] == nulls


def test_nested_datetime_leaves_read_back_in_utc(client):
    client.create_table("times", "id INT, t STRUCT<at:DATETIME,ts:TIMESTAMP_LTZ(6)>", "id")
    plus8 = datetime.timezone(datetime.timedelta(hours=8))
    at = datetime.datetime(2024, 2, 29, 20, 0, 0, 123000, tzinfo=plus8)
    with Writer("times", "times/0", client=client) as w:
        w.upsert({"id": 1, "t": {"at": at, "ts": at}})
        w.commit([w.prepare_commit(1)])
    (got,) = client.scan("times")
    assert got["t"]["at"] == at and got["t"]["at"].utcoffset() == datetime.timedelta(0)
    assert got["t"]["ts"] == int((at - codec.EPOCH).total_seconds()) * 10**9 + 123_000_000
