"""describe, list, history and argument handling of deltactl."""

import datetime
import json
import re
import time

import pytest

import deltamodel as dm

HISTORY_LINE = re.compile(r"^id=(\d+) time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) kind=(CREATE|APPEND|COMPACT) "
                          r"rows=(\d+) deletes=(\d+) files=(\d+) identities=(\S+)$")


def test_describe_list_and_history(dt):
    dt.create("b_table", "id BIGINT", "id", buckets=1)
    proc = dt.create("a_table", "region STRING, id INT, amount DECIMAL(12,3) NOT NULL, note STRING",
                     "region,id", buckets=7)
    assert proc.stdout == "created table a_table (7 buckets)\n"
    assert dt.run(["list"]).stdout == "a_table\nb_table\n"

    s1 = dt.import_rows("a_table", [{"region": "x", "id": i, "amount": i} for i in range(20)])
    s2 = dt.import_rows("a_table", [{"region": "x", "id": 0, "_op": "delete"}],
                        extra=["--writer", "w1", "--checkpoint", 3])
    d = dt.describe("a_table")
    assert d["name"] == "a_table"
    assert d["columns"] == "region STRING NOT NULL, id INT NOT NULL, amount DECIMAL(12,3) NOT NULL, note STRING"
    assert d["primary_key"] == ["region", "id"]
    assert d["buckets"] == 7
    assert d["latest_snapshot"] == s2
    assert d["writers"] == {"w1": {"checkpoint": 3, "snapshot": s2}}
    assert d["stored_entries"] == 21

    jl = dt.history("a_table")
    text = dt.run(["history", "a_table"]).stdout.splitlines()
    assert len(text) == len(jl) == 3
    for line, h in zip(text, jl):
        m = HISTORY_LINE.match(line)
        assert m, line
        assert (int(m[1]), m[2], m[3], int(m[4]), int(m[5]), int(m[6])) == \
            (h["id"], h["time"], h["kind"], h["rows"], h["deletes"], h["files"])
        ms = h["time_ms"]
        assert h["time"] == (datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)) \
            .strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
    assert [h["id"] for h in jl] == [0, s1, s2]
    assert text[2].endswith("identities=w1:3") and text[1].endswith("identities=-")
    assert (jl[1]["rows"], jl[1]["deletes"]) == (20, 0)
    assert (jl[2]["rows"], jl[2]["deletes"]) == (1, 1)
    assert d["files"] == jl[-1]["files"]
    assert d["latest_time"] == jl[-1]["time"]

    # NOT NULL non-key column.
    proc = dt.run_fail(["import", "a_table", dt.write_jsonl([{"region": "y", "id": 1}])], expect_status=1)
    assert "'amount'" in proc.stderr and "NOT NULL" in proc.stderr


def test_as_of_time_spellings(dt):
    dt.create("t", "id BIGINT, v STRING", "id")
    s1 = dt.import_rows("t", [{"id": 1, "v": "one"}])
    time.sleep(1.2)
    s2 = dt.import_rows("t", [{"id": 1, "v": "two"}])
    times = dm.parse_time_fields(dt.history("t"))
    # The first whole second after s1 is still before s2.
    t = (times[s1] // 1000 + 1) * 1000
    assert t < times[s2]
    utc = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=t)
    local = utc + datetime.timedelta(hours=2)
    spellings = [
        str(t),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        utc.strftime("%Y-%m-%dT%H:%M:%S"),
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S.000"),
        local.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
    ]
    for s in spellings:
        assert dt.scan("t", as_of=s) == [{"id": 1, "v": "one"}], s
        proc = dt.run(["get", "t", "--key", '{"id": 1}', "--as-of", s])
        assert json.loads(proc.stdout) == {"id": 1, "v": "one"}, s
    assert dt.scan("t", as_of=times[s2]) == [{"id": 1, "v": "two"}]


@pytest.mark.parametrize("args", [
    ["scan", "t", "--snapshot", "-5"],
    ["scan", "t", "--snapshot", "-1"],
    ["get", "t", "--key", '{"id": 1}', "--snapshot", "-2"],
    ["changes", "t", "--from", "0", "--to", "-2"],
], ids=["scan-snapshot-5", "scan-snapshot-1", "get-snapshot-2", "changes-to-2"])
def test_negative_snapshot_ids_are_rejected(dt, args):
    dt.create("t", "id BIGINT, v STRING", "id")
    s1 = dt.import_rows("t", [{"id": 1, "v": "one"}])
    dt.import_rows("t", [{"id": 1, "v": "two"}])
    assert s1 == 1
    proc = dt.run(args, check=False)
    # There is no snapshot -5: this must be an error, not a read of some other snapshot.
    assert proc.returncode != 0, f"{args} exited 0 and printed {proc.stdout!r}"
    assert proc.stdout == ""
