"""Arrow reads against the table's own reader, over random tables with many
snapshots (every type, NULLs, deletes, several files per bucket, time travel):

    to_arrow == deltactl scan == DuckDB over the Parquet export == DuckDB over the reader

with the types checked too (DECIMAL stays decimal, timestamps keep unit and zone).
Runs in CTest as python_arrow, with the virtual environment's python.
"""

import base64
import datetime
import decimal
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import deltasidecar
from deltasidecar import arrow as da

COLUMNS = ("k STRING, id BIGINT, b BOOLEAN, t TINYINT, s SMALLINT, i INT, f FLOAT, d DOUBLE, "
           "m DECIMAL(12,2), big DECIMAL(38,10), name STRING, bin BINARY, day DATE, "
           "dt DATETIME, ts TIMESTAMP, seen TIMESTAMP_LTZ(3)")
KEY = "k,id"
UTC = datetime.timezone.utc
EXPECTED_TYPES = {
    "k": pa.string(), "id": pa.int64(), "b": pa.bool_(), "t": pa.int8(), "s": pa.int16(),
    "i": pa.int32(), "f": pa.float32(), "d": pa.float64(), "m": pa.decimal128(12, 2),
    "big": pa.decimal128(38, 10), "name": pa.string(), "bin": pa.binary(), "day": pa.date32(),
    "dt": pa.timestamp("ms", tz="UTC"), "ts": pa.timestamp("ns", tz="UTC"),
    "seen": pa.timestamp("ns", tz="UTC"),
}
# What DuckDB makes of them, from the reader and from the Parquet file alike.
EXPECTED_DUCKDB = {
    "k": "VARCHAR", "id": "BIGINT", "b": "BOOLEAN", "t": "TINYINT", "s": "SMALLINT",
    "i": "INTEGER", "f": "FLOAT", "d": "DOUBLE", "m": "DECIMAL(12,2)", "big": "DECIMAL(38,10)",
    "name": "VARCHAR", "bin": "BLOB", "day": "DATE",
    # DuckDB holds a ms timestamp in its µs TIMESTAMPTZ (exactly) and keeps ns as ns.
    "dt": "TIMESTAMP WITH TIME ZONE", "ts": "TIMESTAMPTZ_NS", "seen": "TIMESTAMPTZ_NS",
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def _deltactl_bin():
    return Path(os.environ.get("DELTA_BIN_DIR") or Path(__file__).resolve().parents[3] / "build" / "bin") / "deltactl"


class Ctl:
    def __init__(self, root):
        self.root = root

    def run(self, *args, check=True):
        env = dict(os.environ, DELTA_PYTHON=sys.executable)
        env.pop("DELTA_TABLE_ROOT", None)
        p = subprocess.run([str(_deltactl_bin()), "--root", str(self.root), *map(str, args)],
                           capture_output=True, timeout=300, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"deltactl {args} failed: {p.stderr.decode(errors='replace')}")
        return p

    def lines(self, *args):
        return [json.loads(l) for l in self.run(*args).stdout.decode().splitlines() if l]


def random_row(rng, k, i):
    def maybe(v):
        return None if rng.random() < 0.2 else v
    ts_ns = rng.randrange(-10**18, 4 * 10**18)
    return {
        "k": k, "id": i,
        "b": maybe(rng.random() < 0.5), "t": maybe(rng.randrange(-128, 128)),
        "s": maybe(rng.randrange(-32768, 32768)), "i": maybe(rng.randrange(-2**31, 2**31)),
        "f": maybe(rng.randrange(-4000, 4000) / 8), "d": maybe(rng.randrange(-10**6, 10**6) / 7),
        "m": maybe(f"{rng.randrange(-10**10, 10**10) / 100:.2f}"),
        "big": maybe(f"{rng.randrange(-10**27, 10**27)}.{rng.randrange(10**10):010d}"),
        "name": maybe(rng.choice(["", "a", "ünïcødé", "x" * 40]) + str(rng.randrange(100))),
        "bin": maybe(base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randrange(6)))).decode()),
        "day": maybe((datetime.date(1970, 1, 1) + datetime.timedelta(days=rng.randrange(-20000, 40000))).isoformat()),
        "dt": maybe((EPOCH + datetime.timedelta(milliseconds=rng.randrange(-10**12, 4 * 10**12)))
                    .strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]),
        "ts": maybe(_ns_text(ts_ns)),
        # TIMESTAMP_LTZ(3): an instant, in UTC or at an offset.
        "seen": maybe(_instant_text(rng.randrange(-10**12, 4 * 10**12) * 10**6,
                                    rng.choice([0, 330, -480]))),
    }


def _ns_text(ns):
    sec, frac = divmod(ns, 10**9)
    return (EPOCH + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S") + f".{frac:09d}"


def _instant_text(ns, offset_minutes):
    """An ISO-8601 instant at `offset_minutes` east of UTC ('Z' for 0)."""
    sec, frac = divmod(ns, 10**9)
    local = EPOCH + datetime.timedelta(seconds=sec, minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    zone = "Z" if offset_minutes == 0 else \
        f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}" + zone


def _instant_ns(text):
    """deltactl's TIMESTAMP_LTZ form, 'YYYY-MM-DDTHH:MM:SS[.f]Z', as nanoseconds."""
    assert text.endswith("Z"), text
    base, _, frac = text[:-1].partition(".")
    sec = int((datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC) - EPOCH)
              .total_seconds())
    return sec * 10**9 + int((frac or "0").ljust(9, "0"))


def _text_ns(text):
    base, _, frac = text.partition(".")
    sec = int((datetime.datetime.strptime(base, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) - EPOCH)
              .total_seconds())
    return sec * 10**9 + int((frac or "0").ljust(9, "0"))


def canon_json(row):
    """A deltactl scan row (JSON forms) as comparable Python values."""
    out = {}
    for c, v in row.items():
        if v is None:
            out[c] = None
        elif c in ("m", "big"):
            out[c] = decimal.Decimal(v)
        elif c == "bin":
            out[c] = base64.b64decode(v)
        elif c == "day":
            out[c] = (datetime.date.fromisoformat(v) - datetime.date(1970, 1, 1)).days
        elif c in ("dt", "ts"):
            out[c] = _text_ns(v)
        elif c == "seen":
            out[c] = _instant_ns(v)
        else:
            out[c] = v
    return out


def canon_arrow(table):
    """An Arrow table as the same comparable values: dates as days, timestamps as
    nanoseconds (whatever the unit, so DuckDB's µs result compares too)."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = pc.cast(pc.cast(col, pa.timestamp("ns", tz="UTC")), pa.int64())
        elif pa.types.is_date32(col.type):
            col = pc.cast(col, pa.int32())
        cols[name] = col.to_pylist()
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


def duck_arrow(rel):
    """A DuckDB relation's result as a pyarrow.Table, across DuckDB's API versions."""
    out = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


def key_of(row):
    return (row["k"], row["id"])


def sort(rows):
    return sorted(rows, key=key_of)


@pytest.fixture(scope="module")
def random_table(tmp_path_factory):
    """A table with 14 snapshots of random upserts and deletes, committed
    without maintenance so buckets hold several files; returns (ctl, snapshot ids)."""
    root = tmp_path_factory.mktemp("arrow_root")
    ctl = Ctl(root)
    ctl.run("create", "r", "--schema", COLUMNS, "--primary-key", KEY, "--buckets", "4")
    rng = random.Random(20261203)
    snaps = []
    for n in range(14):
        lines = []
        for _ in range(rng.randrange(50, 400)):
            k, i = rng.choice("abc"), rng.randrange(600)
            if rng.random() < 0.15:
                lines.append({"_op": "delete", "k": k, "id": i})
            else:
                lines.append(random_row(rng, k, i))
        f = root / f"batch{n}.jsonl"
        f.write_text("".join(json.dumps(l) + "\n" for l in lines))
        args = ["import", "r", f] + ([] if n % 5 == 4 else ["--no-maintenance"])
        snaps.append(int(ctl.run(*args).stdout.decode().split()[0]))
    describe = json.loads(ctl.run("describe", "r").stdout)
    return ctl, snaps, describe


def test_types_are_faithful(random_table):
    ctl, snaps, _ = random_table
    t = deltasidecar.to_arrow("r", root=ctl.root)
    assert {f.name: f.type for f in t.schema} == EXPECTED_TYPES
    assert not t.schema.field("k").nullable and t.schema.field("name").nullable


def test_every_snapshot_four_ways(random_table, tmp_path):
    ctl, snaps, _ = random_table
    compared = 0
    for snap in snaps:
        scan = sort(canon_json(r) for r in ctl.lines("scan", "r", "--snapshot", snap))
        got = deltasidecar.to_arrow("r", snapshot=snap, root=ctl.root)
        assert sort(canon_arrow(got)) == scan, f"to_arrow != deltactl scan at snapshot {snap}"

        out = tmp_path / f"r{snap}.parquet"
        ctl.run("export", "r", "--format", "parquet", "--snapshot", snap, out)
        assert pq.read_schema(out) == got.schema.remove_metadata() or \
            {f.name: f.type for f in pq.read_schema(out)} == EXPECTED_TYPES
        con = duckdb.connect()
        from_parquet = con.sql(f"select * from read_parquet('{out}')")
        reader = deltasidecar.reader("r", snapshot=snap, root=ctl.root)  # noqa: F841 (DuckDB finds it)
        from_reader = con.sql("select * from reader")
        types_parquet = dict(zip(from_parquet.columns, map(str, from_parquet.types)))
        types_reader = dict(zip(from_reader.columns, map(str, from_reader.types)))
        assert types_parquet == types_reader
        for c, ty in EXPECTED_DUCKDB.items():
            assert types_reader[c] == ty, (c, types_reader[c])
        for rel in (from_parquet, from_reader):
            rows = sort(canon_arrow(duck_arrow(rel)))
            assert rows == scan, f"DuckDB rows differ at snapshot {snap}"
        compared += len(scan)
    assert compared > 1000


def test_as_of_reads_the_snapshot_of_that_time(random_table):
    ctl, snaps, _ = random_table
    history = ctl.lines("history", "r", "--format", "jsonl")
    mid = next(h for h in history if h["id"] == snaps[6])
    t = mid.get("time_unix_ms") or mid.get("time_ms")
    if t is None:
        t = int(datetime.datetime.fromisoformat(mid["time"].replace("Z", "+00:00")).timestamp() * 1000)
    resolved = da.resolve_snapshot("r", as_of=t, root=ctl.root)
    assert resolved >= snaps[6]
    expected = sort(canon_json(r) for r in ctl.lines("scan", "r", "--snapshot", resolved))
    assert sort(canon_arrow(deltasidecar.to_arrow("r", as_of=t, root=ctl.root))) == expected


def test_projection_and_key_filters(random_table):
    ctl, snaps, _ = random_table
    scan = [canon_json(r) for r in ctl.lines("scan", "r")]
    t = deltasidecar.to_arrow("r", root=ctl.root, columns=["name", "id", "m"])
    assert t.column_names == ["name", "id", "m"]
    assert sorted(map(str, canon_arrow(t))) == sorted(
        str({"name": r["name"], "id": r["id"], "m": r["m"]}) for r in scan)
    cases = [
        ([("k", "==", "b")], lambda r: r["k"] == "b"),
        ([("k", "==", "a"), ("id", ">=", 100), ("id", "<", 250)], lambda r: r["k"] == "a" and 100 <= r["id"] < 250),
        ([("k", ">", "a")], lambda r: r["k"] > "a"),
        ([("k", "<=", "b")], lambda r: r["k"] <= "b"),
    ]
    some = next(r for r in scan if r["k"] == "c")
    cases.append(([("k", "==", "c"), ("id", "==", some["id"])], lambda r: key_of(r) == key_of(some)))
    for terms, keep in cases:
        got = sort(canon_arrow(deltasidecar.to_arrow("r", root=ctl.root, filter=terms)))
        assert got == sort(r for r in scan if keep(r)), terms
    with pytest.raises(deltasidecar.InvalidRecordError, match="prefix of the primary key"):
        deltasidecar.to_arrow("r", root=ctl.root, filter=[("id", "==", 1)])
    with pytest.raises(deltasidecar.InvalidRecordError, match="unknown column 'nope'"):
        deltasidecar.to_arrow("r", root=ctl.root, columns=["nope"])
    with pytest.raises(deltasidecar.NotFoundError):
        deltasidecar.to_arrow("missing", root=ctl.root)


def test_changes_match_deltactl(random_table):
    ctl, snaps, _ = random_table
    for start in (snaps[3], snaps[9]):
        expected = []
        for r in ctl.lines("changes", "r", "--from", start):
            op = r.pop("_op")
            full = {c: None for c in EXPECTED_TYPES}
            full.update(r)
            row = canon_json(full)
            row["_op"] = op
            expected.append(row)
        got = canon_arrow(deltasidecar.changes_reader("r", start, root=ctl.root).read_all())
        assert sort(got) == sort(expected)
        assert any(r["_op"] == "delete" for r in got)
        # A key filter skips files; the rows are the unfiltered ones, filtered.
        some = next(r for r in expected if r["k"] == "c")
        for terms, keep in [
            ([("k", "==", "b")], lambda r: r["k"] == "b"),
            ([("k", "==", "a"), ("id", ">=", 100), ("id", "<", 250)],
             lambda r: r["k"] == "a" and 100 <= r["id"] < 250),
            ([("k", ">", "a")], lambda r: r["k"] > "a"),
            ([("k", "==", "c"), ("id", "==", some["id"])], lambda r: key_of(r) == key_of(some)),
        ]:
            got = canon_arrow(deltasidecar.changes_reader("r", start, root=ctl.root, filter=terms).read_all())
            assert sort(got) == sort(r for r in expected if keep(r)), terms


def test_pandas_duckdb_group_by_and_arrow_export(random_table, tmp_path):
    ctl, snaps, _ = random_table
    scan = [canon_json(r) for r in ctl.lines("scan", "r")]
    df = deltasidecar.to_pandas("r", root=ctl.root)
    assert len(df) == len(scan)
    assert isinstance(df["m"].dropna().iloc[0], decimal.Decimal)
    assert str(df["dt"].dtype).startswith("datetime64[ms, UTC]")
    rel = deltasidecar.to_duckdb("r", root=ctl.root)
    got = dict(rel.query("rel", "select k, sum(m) from rel group by k").fetchall())
    expected = {}
    for r in scan:
        expected[r["k"]] = expected.get(r["k"], None)
        if r["m"] is not None:
            expected[r["k"]] = (expected[r["k"]] or 0) + r["m"]
    assert got == expected
    out = tmp_path / "r.arrow"
    ctl.run("export", "r", "--format", "arrow", out)
    with pa.ipc.open_file(out) as f:
        t = f.read_all()
    assert sort(canon_arrow(t)) == sort(scan)
    jl = tmp_path / "r.jsonl"
    ctl.run("export", "r", "--format", "jsonl", jl)
    assert jl.read_text() == ctl.run("scan", "r").stdout.decode()


def test_create_if_not_exists_and_drop(tmp_path):
    ctl = Ctl(tmp_path)
    ctl.run("create", "x", "--schema", "id BIGINT", "--primary-key", "id")
    assert ctl.run("create", "x", "--schema", "id BIGINT", "--primary-key", "id", check=False).returncode == 1
    ctl.run("create", "x", "--schema", "id BIGINT", "--primary-key", "id", "--if-not-exists")
    other = ctl.run("create", "x", "--schema", "id INT", "--primary-key", "id", "--if-not-exists", check=False)
    assert other.returncode == 1 and b"another schema" in other.stderr
    ctl.run("drop", "x")
    assert ctl.run("list").stdout == b""
    assert not any(tmp_path.iterdir())
    assert ctl.run("drop", "x", check=False).returncode == 1


def test_through_a_sidecar_equals_the_table_root(random_table, sidecar, client):
    """Through a sidecar the reads come as Arrow IPC streams (format ARROW_IPC):
    the same tables as the reader's, snapshot by snapshot, with projection,
    filters, deletes in changes, empty results and many batches."""
    ctl, snaps, _ = random_table
    sc = Ctl(sidecar.table_root)
    sc.run("create", "r", "--schema", COLUMNS, "--primary-key", KEY, "--buckets", "4")
    remote_snaps = []
    for n, f in enumerate(sorted(Path(ctl.root).glob("batch*.jsonl"), key=lambda p: int(p.stem[5:]))):
        args = ["import", "r", f] + ([] if n % 5 == 4 else ["--no-maintenance"])
        remote_snaps.append(int(sc.run(*args).stdout.decode().split()[0]))
    root = sidecar.table_root
    for snap in remote_snaps:
        local = deltasidecar.to_arrow("r", snapshot=snap, root=root, threads=1)
        remote = deltasidecar.to_arrow("r", snapshot=snap, client=client)
        assert remote.schema == local.schema
        assert remote.equals(local), f"snapshot {snap}"
    assert {f.name: f.type for f in remote.schema} == EXPECTED_TYPES
    assert len(remote) > 500 and remote.column("name").null_count > 0
    cols = ["name", "id", "ts"]
    assert deltasidecar.to_arrow("r", client=client, columns=cols).equals(
        deltasidecar.to_arrow("r", root=root, columns=cols, threads=1))
    for terms in ([("k", "==", "a"), ("id", "<", 300)], [("k", ">", "zzz")]):
        assert deltasidecar.to_arrow("r", client=client, filter=terms).equals(
            deltasidecar.to_arrow("r", root=root, filter=terms, threads=1)), terms
    empty = deltasidecar.to_arrow("r", client=client, filter=[("k", ">", "zzz")])
    assert len(empty) == 0 and empty.schema == remote.schema
    for start in (remote_snaps[0], remote_snaps[8], remote_snaps[-1]):
        got = deltasidecar.changes_reader("r", start, client=client).read_all()
        want = deltasidecar.changes_reader("r", start, root=root).read_all()
        assert got.schema == want.schema
        assert sort(canon_arrow(got)) == sort(canon_arrow(want))
    assert any(r["_op"] == "delete" for r in canon_arrow(
        deltasidecar.changes_reader("r", remote_snaps[0], client=client).read_all()))
    # A scan split by bucket: the four buckets' rows are the table's, once each.
    whole = sort(canon_arrow(remote))
    parts = [pa.ipc.open_stream(b"".join(client.scan_arrow_ipc("r", buckets=[b]))).read_all()
             for b in range(4)]
    assert all(len(p) > 0 for p in parts)
    assert sort([row for p in parts for row in canon_arrow(p)]) == whole
    by_rows = [list(client.scan("r", buckets=[b])) for b in (3, 1)]
    assert len(by_rows[0]) == len(parts[3]) and len(by_rows[1]) == len(parts[1])
    with pytest.raises(deltasidecar.InvalidRecordError, match="bucket 4 is not below"):
        list(client.scan("r", buckets=[4]))
    with pytest.raises(deltasidecar.InvalidRecordError, match="unknown column 'nope'"):
        deltasidecar.to_arrow("r", client=client, columns=["nope"])
    with pytest.raises(deltasidecar.NotFoundError):
        deltasidecar.to_arrow("missing", client=client)

    # Many record batches, spread over many 1 MiB messages.
    sc.run("create", "big", "--schema", COLUMNS, "--primary-key", KEY, "--buckets", "2")
    rng = random.Random(7)
    f = Path(root).parent / "big.jsonl"
    f.write_text("".join(json.dumps(random_row(rng, rng.choice("ab"), i)) + "\n"
                         for i in range(150_000)))
    sc.run("import", "big", f)
    chunks = list(client.scan_arrow_ipc("big"))
    assert len(chunks) > 5 and max(map(len, chunks)) <= 1 << 20
    batches = list(pa.ipc.open_stream(b"".join(chunks)))
    assert len(batches) >= 3
    assert deltasidecar.to_arrow("big", client=client).equals(
        deltasidecar.to_arrow("big", root=root, threads=1))


def test_readme_arrow_lines_run_as_written(tmp_path):
    """The Python of README.md's Arrow block, on a table root laid out as the
    quick start leaves it (var/tables with the table "scores")."""
    import re
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("### Python\n"):]
    section = section[:section.index("\n## ")]
    blocks = re.findall(r"<<'EOF'\n(.*?)\nEOF\n", section, re.S)
    script = next(b for b in blocks if "to_arrow" in b)
    (tmp_path / "var").mkdir()
    ctl = Ctl(tmp_path / "var" / "tables")
    ctl.run("create", "scores", "--schema", "id BIGINT, name STRING, score DOUBLE", "--primary-key", "id")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 1, "name": "a", "score": 1.5}\n')
    ctl.run("import", "scores", rows)
    out = subprocess.run([sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[{'id': 1, 'name': 'a', 'score': 1.5}]", "[(1, 1.5)]"]


def test_follow_changes_as_arrow_through_a_sidecar(random_table, sidecar, client):
    """deltasidecar.follow_changes: one pyarrow.Table per APPEND snapshot as it
    commits, equal to the changes reader's for that snapshot alone; the
    compaction snapshot between them yields nothing."""
    ctl, _, _ = random_table
    sc = Ctl(sidecar.table_root)
    sc.run("create", "r", "--schema", COLUMNS, "--primary-key", KEY, "--buckets", "4")
    follow = deltasidecar.follow_changes("r", 0, "arrow-reader", client=client,
                                         poll_interval_ms=20)
    files = sorted(Path(ctl.root).glob("batch*.jsonl"), key=lambda p: int(p.stem[5:]))[:6]
    for n, f in enumerate(files):
        sc.run("import", "r", f, *([] if n == 4 else ["--no-maintenance"]))
    history = sc.lines("history", "r", "--format", "jsonl")
    assert "COMPACT" in {s["kind"] for s in history}
    appends = [s["id"] for s in history if s["kind"] == "APPEND"]
    got = [next(follow) for _ in appends]
    follow.close()
    root = sidecar.table_root
    assert [snapshot_id for snapshot_id, _ in got] == appends
    for snapshot_id, changes in got:
        want = deltasidecar.changes_reader("r", snapshot_id - 1, snapshot_id, root=root).read_all()
        assert changes.schema == want.schema
        assert sort(canon_arrow(changes)) == sort(canon_arrow(want)), snapshot_id
