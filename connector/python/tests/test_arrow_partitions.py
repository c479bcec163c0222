"""Arrow, DuckDB and Parquet reads of a partitioned table: a filter on the
partition columns (which lead the primary key) reads that partition, and
`deltactl export --partition` writes only its rows, whatever the format."""

import datetime
import json
import sys

import pyarrow.parquet as pq

import deltasidecar
from deltasidecar import arrow as da
from sidecar_helpers import Deltactl

DAYS = [f"2026-11-{d:02d}" for d in range(20, 30)]


def test_partition_filters_read_one_partition(deltactl_bin, tmp_path, monkeypatch):
    monkeypatch.setenv("DELTA_PYTHON", sys.executable)  # export --format parquet runs it
    ctl = Deltactl(deltactl_bin, tmp_path)
    ctl.run("create", "p", "--schema", "dt DATE, region STRING, id BIGINT, v DOUBLE",
            "--primary-key", "id", "--partition-by", "dt,region", "--buckets", "8")
    rows = [{"dt": d, "region": r, "id": i, "v": i / 4}
            for d in DAYS for r in ("eu", "us") for i in range(30)]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctl.run("import", "p", str(src))
    ctl.run("drop-partition", "p", "--partition", f"dt={DAYS[0]}/region=eu")

    day = datetime.date(2026, 11, 25)
    t = da.to_arrow("p", root=tmp_path, filter=[("dt", "=", "2026-11-25")])
    assert t.num_rows == 60
    assert set(t.column("dt").to_pylist()) == {day}
    one = da.to_arrow("p", root=tmp_path, filter=[("dt", "=", "2026-11-25"), ("region", "=", "us")])
    assert one.num_rows == 30 and set(one.column("region").to_pylist()) == {"us"}
    assert da.to_arrow("p", root=tmp_path, filter=[("dt", "=", DAYS[0]), ("region", "=", "eu")]).num_rows == 0

    rel = deltasidecar.to_duckdb("p", root=tmp_path, filter=[("dt", ">=", "2026-11-28")])
    assert dict(rel.query("rel", "select region, count(*) from rel group by region").fetchall()) == \
        {"eu": 60, "us": 60}

    out = tmp_path / "day.parquet"
    ctl.run("export", "p", "--format", "parquet", "--partition", "dt=2026-11-25,region=eu", str(out))
    exported = pq.read_table(out)
    assert exported.num_rows == 30
    assert set(exported.column("region").to_pylist()) == {"eu"}
    assert sorted(exported.column("id").to_pylist()) == list(range(30))
    jl = tmp_path / "day.jsonl"
    ctl.run("export", "p", "--format", "jsonl", "--partition", "dt=2026-11-25/region=eu", str(jl))
    assert [json.loads(line)["id"] for line in jl.read_text().splitlines()] == list(range(30))
