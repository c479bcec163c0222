#!/usr/bin/env python3
"""Read throughput of a table through the Arrow reader, beside the older ways
of reading it, in one run on one table (docs/benchmarks.md, "Arrow reads"):

  deltactl scan --format jsonl > /dev/null          (C++ merge + JSON text)
  deltasidecar Client.scan through a sidecar        (gRPC packed rows -> dicts)
  deltasidecar.to_arrow(root=...), threads 0 and 1  (C++ reader -> C stream -> pyarrow)
  DuckDB GROUP BY over deltasidecar.reader(...)     (DuckDB pulls from the stream)
  deltactl export --format parquet, and the same GROUP BY over that file

Builds the table first (ROWS rows in commits of 1M, 16 buckets, then a full
compaction is NOT run: the buckets keep their files). Medians of --repeat runs
for the fast readers, one run for the Python scan. Not a test: nothing is
asserted beyond the row counts.

    .venv/bin/python bench/arrow_read_bench.py --rows 10000000 --bin-dir build/bin
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sidecar"))


def note(name, seconds, rows):
    print(f"{name}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s", flush=True)


def timed(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def make_table(ctl, root, rows, chunk):
    ctl("create", "bench", "--schema",
        "id BIGINT, grp INT, amount DECIMAL(12,2), name STRING, ts TIMESTAMP, flag BOOLEAN, score DOUBLE",
        "--primary-key", "id", "--buckets", "16")
    for start in range(0, rows, chunk):
        path = root / "chunk.jsonl"
        with open(path, "w") as f:
            f.writelines(
                f'{{"id":{i},"grp":{i % 1000},"amount":"{(i * 37) % 100000}.{i % 100:02d}",'
                f'"name":"name-{i % 5000}","ts":{1_700_000_000_000_000_000 + i * 1000},'
                f'"flag":{"true" if i % 3 else "false"},"score":{(i % 977) / 7}}}\n'
                for i in range(start, min(rows, start + chunk)))
        ctl("import", "bench", str(path), "--no-maintenance")
        path.unlink()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--chunk", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--bin-dir", default=str(REPO / "build" / "bin"))
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "arrow_read.json"))
    p.add_argument("--skip-python-scan", action="store_true")
    a = p.parse_args()

    bin_dir = Path(a.bin_dir).resolve()
    os.environ["DELTA_BIN_DIR"] = str(bin_dir)
    import duckdb
    import pyarrow.parquet  # noqa: F401
    import deltasidecar
    import sidecar_api

    work = Path(tempfile.mkdtemp(prefix="arrow-bench-"))
    root = work / "root"
    env = dict(os.environ, DELTA_PYTHON=sys.executable)

    def ctl(*args, stdout=subprocess.PIPE):
        return subprocess.run([str(bin_dir / "deltactl"), "--root", str(root), *args],
                              check=True, stdout=stdout, env=env)

    t0 = time.perf_counter()
    make_table(ctl, work, a.rows, a.chunk)
    build_s = time.perf_counter() - t0
    describe = json.loads(ctl("describe", "bench").stdout)
    results = {"rows": a.rows, "build_seconds": round(build_s, 1), "cores": os.cpu_count(),
               "describe": describe, "repeat": a.repeat, "seconds": {}}
    secs = results["seconds"]

    def scan_jsonl():
        with open(os.devnull, "wb") as null:
            ctl("scan", "bench", "--format", "jsonl", stdout=null)
    secs["deltactl scan --format jsonl"], _ = timed(scan_jsonl, a.repeat)
    note("deltactl scan", secs["deltactl scan --format jsonl"], a.rows)

    for threads in (0, 1):
        s, t = timed(lambda: deltasidecar.to_arrow("bench", root=root, threads=threads), a.repeat)
        assert t.num_rows == a.rows, t.num_rows
        secs[f"to_arrow (root, threads={threads or os.cpu_count()})"] = s
        note(f"to_arrow threads={threads}", s, a.rows)
        del t

    query = "select grp, count(*) as n, sum(amount) as total, avg(score) as mean from r group by grp"

    def group_by_reader():
        r = deltasidecar.reader("bench", root=root)  # noqa: F841 (DuckDB finds it by name)
        return duckdb.sql(query).fetchall()
    s, out = timed(group_by_reader, a.repeat)
    assert len(out) == min(1000, a.rows) and sum(row[1] for row in out) == a.rows
    secs["DuckDB GROUP BY over reader()"] = s
    note("group by reader", s, a.rows)

    parquet = work / "bench.parquet"
    t0 = time.perf_counter()
    ctl("export", "bench", "--format", "parquet", str(parquet))
    secs["deltactl export --format parquet"] = time.perf_counter() - t0
    s, out = timed(lambda: duckdb.sql(query.replace("from r", f"from read_parquet('{parquet}')")).fetchall(),
                   a.repeat)
    secs["DuckDB GROUP BY over the Parquet export"] = s

    if not a.skip_python_scan:
        sc = sidecar_api.SidecarProcess(bin_dir / "delta-sidecar", work / "sc")
        sc.table_root = root
        sc.start()
        try:
            client = deltasidecar.Client(sc.target)
            client.call_timeout = 3600  # one Scan call streams the whole table
            t0 = time.perf_counter()
            n = sum(1 for _ in client.scan("bench"))
            secs["Client.scan through a sidecar (dicts)"] = time.perf_counter() - t0
            assert n == a.rows
            client.close()
        finally:
            sc.stop()

    results["rows_per_second"] = {k: round(a.rows / v) for k, v in secs.items()}
    # The machine may be shared: the load says how much of it this run had.
    results["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"{a.rows:,} rows, {describe.get('files', '?')} files; table built in {build_s:.0f} s")
    print("| reader | seconds | rows/s |\n|---|---:|---:|")
    for k, v in secs.items():
        print(f"| {k} | {v:.2f} | {a.rows / v:,.0f} |")
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
