"""Primary keys of every key-capable type: scan order, get and delete."""

import base64
import json
import random
from decimal import Decimal

import pytest

import deltamodel as dm

EXIT_NOT_FOUND = 3


def b64(b):
    return base64.b64encode(b).decode()


# (type, [(input, expected text or value)], sort key of the expected value)
KEY_TYPES = {
    "TINYINT": ("TINYINT", [(v, v) for v in [-128, -127, -1, 0, 1, 126, 127]], int),
    "SMALLINT": ("SMALLINT", [(v, v) for v in [-32768, -256, -255, -1, 0, 1, 255, 256, 32767]], int),
    "INT": ("INT", [(v, v) for v in [-2**31, -65536, -1, 0, 1, 255, 65536, 2**31 - 1]], int),
    "BIGINT": ("BIGINT", [(v, v) for v in [-2**63, -2**32, -1, 0, 1, 2**32, 2**63 - 1]], int),
    "DECIMAL": ("DECIMAL(38,10)", [
        ("-9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"),
        (-10, "-10.0000000000"), ("-2", "-2.0000000000"), ("-1.5", "-1.5000000000"),
        ("-0.0000000001", "-0.0000000001"), ("0", "0.0000000000"), ("0.0000000001", "0.0000000001"),
        (1.5, "1.5000000000"), ("12345678901234567890.5", "12345678901234567890.5000000000"),
        ("9999999999999999999999999999.9999999999", "9999999999999999999999999999.9999999999"),
    ], Decimal),
    "DATE": ("DATE", [(v, v) for v in ["0001-01-01", "1000-06-15", "1969-12-31", "1970-01-01",
                                       "2000-02-29", "9999-12-31"]], str),
    "DATETIME": ("DATETIME", [
        ("0001-01-01 00:00:00", "0001-01-01 00:00:00.000"), (-1, "1969-12-31 23:59:59.999"),
        (0, "1970-01-01 00:00:00.000"), ("1970-01-01T00:00:00.001Z", "1970-01-01 00:00:00.001"),
        ("9999-12-31 23:59:59.999", "9999-12-31 23:59:59.999")], str),
    "TIMESTAMP": ("TIMESTAMP", [
        (-2**63, "1677-09-21 00:12:43.145224192"), (-1, "1969-12-31 23:59:59.999999999"),
        (0, "1970-01-01 00:00:00.000000000"), ("1970-01-01 00:00:00.000000001", "1970-01-01 00:00:00.000000001"),
        (2**63 - 1, "2262-04-11 23:47:16.854775807")], str),
    # An instant: any offset spelling names the same key; printed in UTC with 'Z'.
    "TIMESTAMP_LTZ": ("TIMESTAMP_LTZ(3)", [
        (-(2**63 // 10**6) * 10**6, "1677-09-21T00:12:43.146Z"),
        ("1969-12-31T15:59:59.999-08:00", "1969-12-31T23:59:59.999Z"), (0, "1970-01-01T00:00:00.000Z"),
        ("1970-01-01 08:00:00.001+08:00", "1970-01-01T00:00:00.001Z"),
        ("2024-02-29T12:34:56.1Z", "2024-02-29T12:34:56.100Z"),
        ((2**63 - 1) // 10**6 * 10**6, "2262-04-11T23:47:16.854Z")], str),
    "BOOLEAN": ("BOOLEAN", [(False, False), (True, True)], bool),
    "BINARY": ("BINARY", [(b64(b), b64(b)) for b in [b"", b"\x00", b"\x00\x00", b"\x00\x01", b"\x01",
                                                     b"\x7f", b"\x80", b"\xff", b"\xff\x00", b"\xff\xff"]],
               lambda t: base64.b64decode(t)),
    "STRING": ("STRING", [(s, s) for s in ["", "\u0000", "\u0000\u0000", "\u0001", "A", "a", "a\u0000",
                                            "ab", "z", "\u007f", "é", "\uffff", "😀"]],
               lambda s: s.encode("utf-8")),
}


@pytest.mark.parametrize("name", sorted(KEY_TYPES))
def test_key_type_order_get_and_delete(dt, name):
    type_, values, sort_key = KEY_TYPES[name]
    rng = random.Random(name)
    dt.create("t", f"k {type_}, v STRING", "k", buckets=3)
    shuffled = list(values)
    rng.shuffle(shuffled)
    dt.import_rows("t", [{"k": inp, "v": f"v{i}"} for i, (inp, _) in enumerate(shuffled)])
    expected = {out: f"v{i}" for i, (_, out) in enumerate(shuffled)}
    order = sorted(expected, key=sort_key)
    assert dt.scan("t") == [{"k": k, "v": expected[k]} for k in order]

    # get by the canonical spelling of each key.
    for k in order:
        proc = dt.run(["get", "t", "--key", json.dumps({"k": k})])
        assert json.loads(proc.stdout) == {"k": k, "v": expected[k]}

    # Delete every other key (by its input spelling); the rest stays ordered.
    gone = {out for i, (_, out) in enumerate(sorted(values, key=lambda p: sort_key(p[1]))) if i % 2 == 0}
    dt.import_rows("t", [{"_op": "delete", "k": inp} for inp, out in values if out in gone])
    assert dt.scan("t") == [{"k": k, "v": expected[k]} for k in order if k not in gone]
    for k in gone:
        proc = dt.run(["get", "t", "--key", json.dumps({"k": k})], check=False)
        assert (proc.returncode, proc.stdout) == (EXIT_NOT_FOUND, "")


def test_wide_composite_key_orders_column_by_column(dt):
    schema = dm.Schema([("b", "BINARY"), ("d", "DECIMAL(6,2)"), ("day", "DATE"), ("s", "STRING"),
                        ("t", "TINYINT"), ("v", "INT")], ["s", "b", "d", "day", "t"])
    dt.create("w", schema.schema_arg, schema.pk_arg)
    rng = random.Random(3)
    rows, seen = [], set()
    while len(rows) < 300:
        key = (rng.choice(["", "a", "a\u0000", "ab", "b"]),
               b64(bytes(rng.choice([b"", b"\x00", b"\x01", b"\x00\xff", b"\xff"]))),
               rng.choice(["-1000.00", "-1.50", "0.00", "0.01", "9999.99"]),
               rng.choice(["0001-01-01", "1969-12-31", "1970-01-01", "2024-02-29"]),
               rng.choice([-128, -1, 0, 127]))
        if key in seen:
            continue
        seen.add(key)
        rows.append({"b": key[1], "d": key[2], "day": key[3], "s": key[0], "t": key[4], "v": len(rows)})
    dt.import_rows("w", rows)

    def sort_key(r):
        return (r["s"].encode(), base64.b64decode(r["b"]), Decimal(r["d"]), r["day"], r["t"])

    assert dt.scan("w") == sorted(rows, key=sort_key)


def test_float_and_small_integer_values_round_trip(dt):
    dt.create("t", "k INT, f FLOAT, s SMALLINT, d DOUBLE", "k")
    rows = [
        {"k": 1, "f": 0.1, "s": -32768, "d": 0.1},
        {"k": 2, "f": 3.4028234663852886e38, "s": 32767, "d": 1.7976931348623157e308},
        {"k": 3, "f": "NaN", "s": 0, "d": "-Infinity"},
        {"k": 4, "f": 1e-45, "s": None, "d": 5e-324},
        {"k": 5, "f": -2.5, "s": 1, "d": -0.0},
    ]
    dt.import_rows("t", rows)
    got = dt.scan("t")
    # FLOAT prints the float's shortest text (read back as a double).
    rows[1]["f"] = 3.4028235e38
    assert got == rows
    # FLOAT keeps float precision: 0.1 prints as 0.1 (not 0.10000000149011612).
    assert '"f":0.1,' in dt.scan_text("t").stdout
    proc = dt.run_fail(["import", "t", dt.write_jsonl([{"k": 9, "f": 1e39}])], expect_status=1)
    assert "'f'" in proc.stderr
