#!/usr/bin/python3
"""Soak run: a steady ingest through the real delta-sidecar for a long time,
watching what must stay flat (see docs/benchmarks.md, "Soak").

Runs delta-loadgen at a fixed rate (2 writers, a checkpoint per second, a
bounded key space, so the table stops growing once every key exists) and
samples every 10 s: the sidecar's resident memory, the most files any bucket
of the table holds, staged bytes and retained snapshots (from its Prometheus
endpoint), and the bytes on disk under the table root. Retention is capped
at --retain-max-snapshots so the run reaches its steady state (expiry
removing as much as commits and compactions add) within minutes and the
table's history fits the disk. Writes soak.csv, commits.csv, summary.json and soak.png to
--results.

  /usr/bin/python3 bench/soak.py --minutes 30 --bin-dir build/bin
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench  # noqa: E402  (Sidecar, percentile)

REPO = Path(__file__).resolve().parents[1]
TABLE = "soak"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$', line)
        if m and (m.group(2) is None or f'table="{TABLE}"' in m.group(2)):
            values[m.group(1)] = float(m.group(3))
    return values


def disk_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            try:
                total += os.stat(os.path.join(d, f)).st_size
            except FileNotFoundError:  # expired meanwhile
                pass
    return total


def window_stats(rows, key, t0, t1):
    vals = [r[key] for r in rows if t0 <= r["t"] < t1]
    return {"p50": run_bench.percentile(vals, 0.5), "p99": run_bench.percentile(vals, 0.99),
            "max": max(vals) if vals else float("nan"), "n": len(vals)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=150_000, help="rows per second across writers")
    ap.add_argument("--key-space", type=int, default=5_000_000)
    ap.add_argument("--retain-max-snapshots", type=int, default=600,
                    help="the sidecar's snapshot cap (its default, 2000, holds tens of GB here)")
    ap.add_argument("--bin-dir", type=Path, default=REPO / "build" / "bin")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "soak")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="delta-soak-", dir="/var/tmp"))
    args.results.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sc = run_bench.Sidecar(args.bin_dir, work, "soak",
                           ["--metrics-listen", f"127.0.0.1:{port}", "--maintenance-interval", "30s",
                            "--retain-max-snapshots", str(args.retain_max_snapshots)])
    report = args.results / "loadgen_events.jsonl"
    rows = int(args.rate * args.minutes * 60)
    samples = []
    done = threading.Event()
    start = time.monotonic()
    cols = ["t", "rss_mb", "bucket_files_max", "data_files", "snapshots", "staging_mb", "table_gb"]
    csv = open(args.results / "soak.csv", "w", buffering=1)  # kept as it goes
    csv.write(" ".join(cols) + "\n")

    def sample():
        while not done.wait(10):
            try:
                m = scrape(port)
            except OSError:
                continue
            samples.append({
                "t": round(time.monotonic() - start, 1),
                "rss_mb": sc.status("VmRSS") / 1024,
                "bucket_files_max": m.get("delta_sidecar_table_bucket_files_max", float("nan")),
                "data_files": m.get("delta_sidecar_table_data_files", float("nan")),
                "snapshots": m.get("delta_sidecar_table_snapshots", float("nan")),
                "staging_mb": m.get("delta_sidecar_staging_bytes", 0) / 1e6,
                "table_gb": round(disk_bytes(sc.table_root) / 1e9, 3),
            })
            csv.write(" ".join(str(samples[-1][c]) for c in cols) + "\n")

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        summary = run_bench.loadgen(args.bin_dir, sc, TABLE, rows,
                                    ["--writers", 2, "--rate", args.rate, "--key-space",
                                     args.key_space], report,
                                    timeout=args.minutes * 120 + 600)
    finally:
        done.set()
        sampler.join()
        csv.close()
        sc.stop()
        shutil.rmtree(work, ignore_errors=True)  # the table's history: many GB
    commits = [{"t": e["t"], "ms": e["ms"]} for e in run_bench.events(report, "commit")]
    with open(args.results / "commits.csv", "w") as f:
        f.write("t ms\n")
        for c in commits:
            f.write(f"{c['t']} {c['ms']}\n")

    total = time.monotonic() - start
    first, last = (0, 300), (total - 300, total + 1)
    out = {
        "minutes": round(total / 60, 1), "rate_rows_per_s": args.rate,
        "rows": summary.get("rows", rows), "commits": len(commits),
        "rss_mb_first_5min": window_stats(samples, "rss_mb", *first),
        "rss_mb_last_5min": window_stats(samples, "rss_mb", *last),
        "table_gb_first_5min": window_stats(samples, "table_gb", *first),
        "table_gb_last_5min": window_stats(samples, "table_gb", *last),
        "commit_ms_first_5min": window_stats(commits, "ms", *first),
        "commit_ms_last_5min": window_stats(commits, "ms", *last),
        "bucket_files_max": max((s["bucket_files_max"] for s in samples), default=float("nan")),
        "snapshots_last": samples[-1]["snapshots"] if samples else float("nan"),
    }
    (args.results / "summary.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))

    if shutil.which("gnuplot"):
        script = f"""
set terminal pngcairo size 1000,1150 font ",10"
set output "{args.results / 'soak.png'}"
set multiplot layout 4,1 title "delta-sidecar soak: {args.rate:,} rows/s, 2 writers, a checkpoint per second"
set xlabel "minutes"
set grid
set ylabel "sidecar RSS (MiB)"
plot "{args.results / 'soak.csv'}" using ($1/60):2 with lines title "RSS"
set ylabel "commit latency (ms)"
plot "{args.results / 'commits.csv'}" using ($1/60):2 with points pt 7 ps 0.3 title "Commit"
set ylabel "files"
plot "{args.results / 'soak.csv'}" using ($1/60):3 with steps title "most files in a bucket", \\
     "" using ($1/60):($4/16) with lines title "data files / 16 buckets"
set ylabel "GB"
plot "{args.results / 'soak.csv'}" using ($1/60):7 with lines title "table root on disk (retained history)"
unset multiplot
"""
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if p.returncode != 0:
            print(f"soak: gnuplot failed: {p.stderr.strip()}", file=sys.stderr)


if __name__ == "__main__":
    main()
