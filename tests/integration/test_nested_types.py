"""ARRAY, MAP and STRUCT value columns through deltactl: create, import, scan
(JSON lines and CSV), get, compaction, and the errors for nested keys and
malformed values."""

import csv
import io
import json

SCHEMA = ("id BIGINT, tags ARRAY<STRING>, attrs MAP<STRING,BIGINT>, "
          "pt STRUCT<x:DOUBLE, y:DECIMAL(10,2), at:TIMESTAMP_LTZ(3)>, "
          "deep ARRAY<MAP<INT,ARRAY<STRUCT<a:BOOLEAN,b:STRING>>>>")

ROWS = [
    {"id": 1, "tags": ["a", None, "", "é,\"q\""], "attrs": {"k1": 1, "k2": None},
     "pt": {"x": 1.5, "y": "12.30", "at": "2024-02-29T12:34:56.123Z"},
     "deep": [{"-2": [], "1": [{"a": True, "b": "x"}, None, {"a": None, "b": None}]}, None, {}]},
    {"id": 2, "tags": [], "attrs": {}, "pt": {"x": None, "y": None, "at": None}, "deep": None},
    {"id": 3, "tags": None, "attrs": None, "pt": None, "deep": None},
]


def test_nested_columns_round_trip(dt):
    dt.create("t", SCHEMA, "id", buckets=2)
    first = dt.import_rows("t", ROWS)
    assert dt.scan("t") == ROWS

    # Another spelling of the same values: MAP as [key, value] pairs (stored in
    # the order of the keys' text), the timestamp with an offset, a STRUCT
    # member left out (NULL).
    dt.import_rows("t", [{"id": 2, "tags": ["z"], "attrs": [["b", 2], ["a", 1]],
                          "pt": {"x": -0.0, "at": "2024-02-29T20:34:56.123+08:00"},
                          "deep": [[[10, None], [9, []]]]}])
    expected2 = {"id": 2, "tags": ["z"], "attrs": {"a": 1, "b": 2},
                 "pt": {"x": -0.0, "y": None, "at": "2024-02-29T12:34:56.123Z"},
                 "deep": [{"10": None, "9": []}]}
    assert dt.scan("t") == [ROWS[0], expected2, ROWS[2]]
    assert dt.scan("t", snapshot=first) == ROWS

    got = dt.run(["get", "t", "--key", json.dumps({"id": 1})])
    assert json.loads(got.stdout) == ROWS[0]

    dt.run(["compact", "t", "--full"])
    assert dt.scan("t") == [ROWS[0], expected2, ROWS[2]]

    # CSV: each nested value as its compact JSON text.
    records = list(csv.reader(io.StringIO(dt.scan_text("t", fmt="csv").stdout)))
    assert records[0] == ["id", "tags", "attrs", "pt", "deep"]
    assert json.loads(records[1][1]) == ROWS[0]["tags"]
    assert json.loads(records[1][4]) == ROWS[0]["deep"]
    assert records[3] == ["3", "", "", "", ""]


def test_nested_key_and_bad_values_are_refused(dt):
    proc = dt.run_fail(["create", "k", "--schema", "id INT, a ARRAY<INT>", "--primary-key", "id, a"])
    assert "column 'a': nested type ARRAY<INT> cannot be a primary-key column" in proc.stderr
    proc = dt.run_fail(["create", "k", "--schema", "id INT, m MAP<ARRAY<INT>,INT>", "--primary-key", "id"])
    assert "a MAP key cannot be of nested type" in proc.stderr

    dt.create("b", SCHEMA, "id")
    for row, message in [
        ({"id": 1, "tags": "a"}, "column 'tags' (ARRAY<STRING>): expected an array"),
        ({"id": 1, "attrs": {"k": "v"}}, "{k} (BIGINT): expected an integer"),
        ({"id": 1, "attrs": [["k", 1], ["k", 2]]}, 'duplicate MAP key "k"'),
        ({"id": 1, "pt": {"q": 1}}, "unknown STRUCT field 'q'"),
        ({"id": 1, "pt": {"y": "1.234"}}, ".y (DECIMAL(10,2))"),
        ({"id": 1, "deep": [{"1": [{"a": 1}]}]}, "[0]{1}[0].a (BOOLEAN)"),
    ]:
        proc = dt.import_file("b", dt.write_jsonl([row]), check=False)
        assert proc.returncode != 0, row
        assert message in proc.stderr, (row, proc.stderr)
    assert dt.scan("b") == []
