"""CSV output of scan: a header line and RFC 4180 quoting."""

import csv
import io

SCHEMA = "id BIGINT, name STRING, score DOUBLE, tag STRING, amount DECIMAL(5,2), flag BOOLEAN, blob BINARY"
HEADER = "id,name,score,tag,amount,flag,blob"

ROWS = [
    {"id": 1, "name": 'He said "hi", then left', "score": 1.5, "amount": "12.5", "flag": True,
     "blob": "AAE="},
    {"id": 2, "name": "", "tag": "plain", "flag": False, "blob": ""},
    {"id": 3, "name": "line1\nline2", "score": -0.25, "tag": "a,b", "amount": -3},
    {"id": 4, "name": "cr\rhere", "tag": 'x"y', "amount": "0.01"},
    {"id": 5, "name": "é,日本 😀", "tag": " padded ", "score": 2.0},
]

# The exact expected text: fields with a comma, quote, CR or LF are quoted with
# quotes doubled; an empty string is "" while NULL is an empty field.
EXPECTED_TEXT = (
    HEADER + "\n"
    + '1,"He said ""hi"", then left",1.5,,12.50,true,AAE=\n'
    + '2,"",,plain,,false,""\n'
    + '3,"line1\nline2",-0.25,"a,b",-3.00,,\n'
    + '4,"cr\rhere",,"x""y",0.01,,\n'
)

EXPECTED_RECORDS = [
    HEADER.split(","),
    ["1", 'He said "hi", then left', "1.5", "", "12.50", "true", "AAE="],
    ["2", "", "", "plain", "", "false", ""],
    ["3", "line1\nline2", "-0.25", "a,b", "-3.00", "", ""],
    ["4", "cr\rhere", "", 'x"y', "0.01", "", ""],
    ["5", "é,日本 😀", None, " padded ", "", "", ""],  # score checked numerically
]


def test_scan_csv_header_and_rfc4180_quoting(dt):
    dt.create("t", SCHEMA, "id")
    sid = dt.import_rows("t", ROWS)
    # Binary-safe read: the CR inside a field must come through untouched.
    text = dt.run(["scan", "t", "--format", "csv"]).stdout
    raw = dt.run(["scan", "t", "--snapshot", sid, "--format", "csv"]).stdout
    assert raw == text
    assert text.startswith(EXPECTED_TEXT), text

    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert len(records) == len(EXPECTED_RECORDS)
    for got, want in zip(records, EXPECTED_RECORDS):
        if want[2] is None:
            assert float(got[2]) == 2.0
            got, want = got[:2] + got[3:], want[:2] + want[3:]
        assert got == want

    # The quoted-comma field is one field, not two.
    line = text.splitlines()[1]
    assert '"He said ""hi"", then left"' in line


def test_csv_and_jsonl_agree(dt):
    dt.create("t", SCHEMA, "id")
    dt.import_rows("t", ROWS)
    rows = dt.scan("t")
    records = list(csv.reader(io.StringIO(dt.scan_text("t", fmt="csv").stdout, newline="")))
    header, body = records[0], records[1:]
    assert header == list(rows[0])
    assert [r[0] for r in body] == [str(r["id"]) for r in rows]
    for rec, row in zip(body, rows):
        assert rec[1] == (row["name"] or "")
        assert rec[3] == (row["tag"] or "")


def test_empty_table_csv_is_just_the_header(dt):
    dt.create("t", SCHEMA, "id")
    assert dt.scan_text("t", fmt="csv").stdout == HEADER + "\n"
    assert dt.scan_text("t").stdout == ""
