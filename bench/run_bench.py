"""scripts/bench: the project's figures and their baselines, measured in one run.

Writes bench/results/latest.json (flat, numbers only), bench/results/latest.txt
(the human summary, also printed), the plot data and, when gnuplot is
installed, bench/results/*.png. See docs/benchmarks.md.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "connector" / "python"))

from deltasidecar import rows as pr  # noqa: E402
from deltasidecar import wire  # noqa: E402


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p * (len(s) - 1)))))
    return s[k]


class Sidecar:
    def __init__(self, bin_dir, work, name, extra=(), table_root=None):
        self.dir = Path(work) / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self._table_root = Path(table_root) if table_root else self.dir / "tables"
        self.socket = self.dir / "sock"
        self.target = f"unix:{self.socket}"
        self.log = open(self.dir / "sidecar.log", "wb")
        self.proc = subprocess.Popen(
            [str(bin_dir / "delta-sidecar"), "--listen", self.target, "--data-dir",
             str(self.dir / "data"), "--table-root", str(self._table_root), *extra],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while b"serving on" not in (self.dir / "sidecar.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"delta-sidecar did not start: see {self.dir / 'sidecar.log'}")
            time.sleep(0.01)

    @property
    def table_root(self):
        return self._table_root

    def status(self, field):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def io(self, field):
        for line in Path(f"/proc/{self.proc.pid}/io").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()


def loadgen(bin_dir, sidecar, table, rows, extra, report=None, timeout=1800):
    """`sidecar` is one Sidecar, or a list of them on one table root (--targets)."""
    where = (["--targets", ",".join(s.target for s in sidecar)] if isinstance(sidecar, list)
             else ["--target", sidecar.target])
    argv = [str(bin_dir / "delta-loadgen"), *where, "--table", table,
            "--rows", str(rows), *map(str, extra)]
    if report:
        argv += ["--report", str(report)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"delta-loadgen failed: {p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def events(report, kind):
    out = []
    with open(report) as f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a killed writer
                continue
            if e["event"] == kind:
                out.append(e)
    return out


def checkpoint_latencies(report):
    """(prepare ms per checkpoint = the slowest writer's, commit ms per checkpoint)."""
    prepares = {}
    for e in events(report, "prepare"):
        prepares[e["checkpoint"]] = max(prepares.get(e["checkpoint"], 0), e["ms"])
    commits = [e["ms"] for e in events(report, "commit")]
    return list(prepares.values()), commits


def measure_ingest(args, out, data):
    rows = 3_000_000 if args.quick else 10_000_000
    log(f"ingest: {rows:,} rows, 2 writers, a checkpoint every second")
    sc = Sidecar(args.bin_dir, args.work, "ingest")
    report = data / "ingest_events.jsonl"
    try:
        s = loadgen(args.bin_dir, sc, "ingest", rows, ["--writers", 2], report)
        written = sc.io("write_bytes") - sc.io("cancelled_write_bytes")
        out["ingest_rows_per_s"] = s["rows_per_s"]
        out["ingest_mb_per_s"] = s["mb_per_s"]
        out["ingest_seconds"] = s["seconds"]
        logical = s["mb_per_s"] * 1e6 * s["seconds"]
        out["write_amplification"] = written / logical
        out["peak_rss_mb"] = sc.status("VmHWM") / 1024
    finally:
        sc.stop()
    # Throughput over time: rows acknowledged per second between samples.
    prev_t, prev_rows = 0.0, 0
    with open(data / "throughput.dat", "w") as f:
        for e in events(report, "acked"):
            dt = e["t"] - prev_t
            if dt > 0:
                f.write(f"{e['t']:.3f} {(e['rows'] - prev_rows) / dt / 1e6:.4f}\n")
            prev_t, prev_rows = e["t"], e["rows"]


def measure_checkpoints(args, out, data):
    for label, per_writer, total in (("100k", 50_000, 1_000_000 if args.quick else 3_000_000),
                                     ("1m", 500_000, 6_000_000 if args.quick else 20_000_000)):
        log(f"checkpoints of {label} rows: {total:,} rows, 2 writers")
        sc = Sidecar(args.bin_dir, args.work, f"ckpt{label}")
        report = data / f"checkpoints_{label}.jsonl"
        try:
            loadgen(args.bin_dir, sc, f"c{label}", total,
                    ["--writers", 2, "--checkpoint-rows", per_writer], report)
            out["peak_rss_mb"] = max(out.get("peak_rss_mb", 0), sc.status("VmHWM") / 1024)
        finally:
            sc.stop()
        prepares, commits = checkpoint_latencies(report)
        # The last checkpoint is the run's remainder, not a full one.
        prepares, commits = prepares[:-1] or prepares, commits[:-1] or commits
        out[f"prepare_{label}_p50_ms"] = percentile(prepares, 0.5)
        out[f"prepare_{label}_p99_ms"] = percentile(prepares, 0.99)
        out[f"commit_{label}_p50_ms"] = percentile(commits, 0.5)
        out[f"commit_{label}_p99_ms"] = percentile(commits, 0.99)
        with open(data / f"commit_latency_{label}.dat", "w") as f:
            for i, (p, c) in enumerate(zip(prepares, commits)):
                f.write(f"{i} {p:.2f} {c:.2f}\n")


def measure_freshness(args, out):
    """Time from Commit returning to the row being visible to `deltactl get` in
    another process (started right after the answer)."""
    n = 30 if args.quick else 100
    log(f"freshness: {n} commits of one row, each read back by a new deltactl process")
    sc = Sidecar(args.bin_dir, args.work, "fresh")
    client = wire.Client(sc.target)
    samples = []
    try:
        client.create_table("fresh", "id BIGINT, v BIGINT", "id", buckets=16)
        epoch = client.register("fresh", "fresh/0").epoch
        schema = client.schema("fresh")
        stream = client.write_stream("fresh", "fresh/0", epoch)
        for i in range(1, n + 1):
            rows, cnt = pr.encode_rows(schema, [{"id": 7, "v": i}])
            stream.write(rows, cnt)
            c = client.prepare("fresh", "fresh/0", epoch, i)
            client.commit([c])
            committed = time.monotonic()
            while True:
                p = subprocess.run([str(args.bin_dir / "deltactl"), "--root", str(sc.table_root),
                                    "get", "fresh", "--key", '{"id":7}'], capture_output=True, text=True)
                if p.returncode == 0 and f'"v":{i}' in p.stdout.replace(" ", ""):
                    break
                if time.monotonic() - committed > 10:
                    raise RuntimeError(f"commit {i} not visible after 10 s: {p.stdout} {p.stderr}")
            samples.append((time.monotonic() - committed) * 1000)
        stream.finish()
    finally:
        client.close()
        sc.stop()
    out["freshness_p50_ms"] = percentile(samples, 0.5)
    out["freshness_p99_ms"] = percentile(samples, 0.99)


def run_json_tool(args, name, argv, json_path, timeout=3600):
    """Runs build/bin/<name> with `argv` and --json; returns the figures it wrote."""
    p = subprocess.run([str(args.bin_dir / name), *map(str, argv), "--json", str(json_path)],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{name} failed: {p.stderr}")
    return json.loads(json_path.read_text())


def measure_table(args, out, data):
    table_rows = 5_000_000 if args.quick else 50_000_000
    log(f"table engine: commits of 1M rows while the table grows to {table_rows:,} rows, scan, lookups")
    t = run_json_tool(args, "table-bench",
                      ["--dir", Path(args.work) / "table", "--table-rows", table_rows, "--repeats", 3,
                       "--curve", data / "commit_growth.dat"],
                      data / "table_bench.json")
    out["scan_rows_per_s"] = t["scan_rows_per_s"]
    out["lookup_p99_us"] = t["lookup_p99_us"]
    out["commit_growth_ratio"] = t["commit_growth_ratio"]
    out["table_rows"] = t["table_rows"]
    shutil.rmtree(Path(args.work) / "table", ignore_errors=True)


def measure_partitions(args, out, data):
    partitions, rows = (100, 2_000) if args.quick else (100, 20_000)
    log(f"partitions: {partitions} days x {rows:,} rows, a scan of one day against a full scan")
    t = run_json_tool(args, "partition-bench",
                      ["--dir", Path(args.work) / "partitions", "--partitions", partitions,
                       "--rows-per-partition", rows, "--repeats", 5],
                      data / "partition_bench.json")
    out["partition_scan_to_full_ratio"] = t["ratio"]
    out["partition_scan_median_s"] = t["partition_scan_median_s"]
    out["partition_full_scan_median_s"] = t["full_scan_median_s"]
    out["partition_drop_s"] = t["drop_partition_s"]


def measure_baselines(args, out):
    log("baselines: disk with fdatasync, raw RocksDB WriteBatch, raw gRPC stream")
    argv = [str(args.bin_dir / "delta-baselines"), "--dir", str(args.work)]
    if args.quick:
        argv.append("--quick")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"delta-baselines failed: {p.stderr}")
    b = json.loads(p.stdout.strip().splitlines()[-1])
    for k in ("baseline_disk_mb_per_s", "baseline_rocksdb_mb_per_s", "baseline_grpc_mb_per_s",
              "baseline_disk_fsync_p50_us"):
        out[k] = b[k]


# A Commit sent as its checkpoint completes waits for the checkpoint's files
# (two_sidecar_commit_p99_ms, listed with the other figures): its bound is
# seal -> visible. The 100 ms target is for a Commit once they are prepared.
TARGETS = [  # key, comparison, target, what
    ("ingest_rows_per_s", ">=", 1_000_000, "ingest rows/s"),
    ("ingest_to_rocksdb_ratio", ">=", 0.6, "ingest MB/s ÷ raw RocksDB MB/s"),
    ("prepare_1m_p99_ms", "<", 700, "PrepareCommit p99, 1M-row checkpoint"),
    ("commit_1m_p99_ms", "<", 300, "Commit p99, 1M-row checkpoint"),
    ("freshness_p99_ms", "<", 100, "freshness p99"),
    ("write_amplification", "<=", 2.5, "bytes written ÷ bytes ingested"),
    ("peak_rss_mb", "<=", 512, "peak RSS MiB"),
    ("commit_growth_ratio", "<=", 1.25, "commit time, largest ÷ smallest table"),
    ("two_sidecar_seal_to_visible_p99_ms", "<=", 1000, "2 sidecars: seal -> visible p99"),
    ("prepared_commit_p99_ms", "<=", 100, "2 sidecars: Commit p99 once the files are prepared"),
    ("two_sidecar_prepare_p99_ms", "<=", 100, "2 sidecars: PrepareCommit p99"),
    ("two_sidecar_to_single_ingest_ratio", ">=", 1.0, "2 sidecars ÷ 1 sidecar, ingest rows/s"),
    ("two_sidecar_to_one_same_load_ratio", ">=", 1.0,
     "2 sidecars ÷ 1 sidecar, same writers and checkpoints"),
    ("two_sidecar_write_amplification", "<=", 2.5, "2 sidecars: bytes written ÷ ingested"),
    ("buckets_4096_to_16_commit_ratio", "<=", 2.0, "20k-row checkpoint seal -> visible, 4096 ÷ 16 buckets"),
    ("partition_scan_to_full_ratio", "<=", 0.02, "scan of 1 partition of 100 ÷ full scan"),
]


def summary(out):
    lines = []
    for key, cmp, target, what in TARGETS:
        v = out.get(key)
        if v is None:
            continue
        ok = {">=": v >= target, "<": v < target, "<=": v <= target}[cmp]
        lines.append(f"{what:45} {v:14,.3f}   target {cmp} {target:,}   {'met' if ok else 'MISSED'}")
    lines.append("")
    for k in sorted(out):
        lines.append(f"{k:32} {out[k]:,.3f}")
    return "\n".join(lines)


def plot(data, results):
    if shutil.which("gnuplot") is None:
        log("gnuplot not found: plots skipped (install gnuplot-nox)")
        return
    head = "set terminal pngcairo size 900,500 noenhanced\nset grid\n"
    plots = {
        "throughput": ("throughput.dat", f"""
set title 'Ingest through delta-sidecar (rows acknowledged per second)'
set xlabel 'seconds'; set ylabel 'M rows/s'; set yrange [0:*]
plot '{data}/throughput.dat' using 1:2 with linespoints title 'acknowledged'"""),
        "commit_latency": ("commit_latency_1m.dat", f"""
set title 'PrepareCommit and Commit latency per checkpoint (1M rows, ingest running)'
set xlabel 'checkpoint'; set ylabel 'ms'; set yrange [0:*]
plot '{data}/commit_latency_1m.dat' using 1:2 with linespoints title 'PrepareCommit (slowest writer)', \\
     '{data}/commit_latency_1m.dat' using 1:3 with linespoints title 'Commit'"""),
        "commit_growth": ("commit_growth.dat", f"""
set title 'Commit of 1M rows against table size'
set xlabel 'rows in the table before the commit (millions)'; set ylabel 'seconds'; set yrange [0:*]
plot '{data}/commit_growth.dat' using ($1/1e6):2 with linespoints title 'commit'"""),
    }
    for name, (source, body) in plots.items():
        if not (data / source).exists():
            continue
        script = head + f"set output '{results}/{name}.png'\n" + body + "\n"
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if p.returncode != 0:
            log(f"gnuplot failed for {name}: {p.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs, under 3 minutes")
    ap.add_argument("--bin-dir", type=Path, default=REPO / "build" / "bin")
    ap.add_argument("--work", default=None, help="scratch directory on the data disk (default: a temp dir)")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--only", nargs="+", choices=["baselines", "ingest", "checkpoints", "freshness", "table",
                             "partitions", "shared-root"],
                    help="run only these parts")
    args = ap.parse_args()
    args.work = Path(args.work or tempfile.mkdtemp(prefix="delta-bench-", dir="/var/tmp"))
    args.results.mkdir(parents=True, exist_ok=True)
    data = args.results / "data"
    data.mkdir(exist_ok=True)
    started = time.monotonic()
    out = {}
    parts = args.only or ["baselines", "ingest", "checkpoints", "freshness", "table", "partitions",
                          "shared-root"]
    try:
        if "baselines" in parts:
            measure_baselines(args, out)
        if "ingest" in parts:
            measure_ingest(args, out, data)
        if "checkpoints" in parts:
            measure_checkpoints(args, out, data)
        if "freshness" in parts:
            measure_freshness(args, out)
        if "table" in parts:
            measure_table(args, out, data)
        if "partitions" in parts:
            measure_partitions(args, out, data)
        if "shared-root" in parts:
            import shared_root
            shared_root.measure_two_sidecars(args, out, data)
            shared_root.measure_prepared_commits(args, out, data)
            shared_root.measure_bucket_counts(args, out, data)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    if "two_sidecar_rows_per_s" in out and "ingest_rows_per_s" in out:
        out["two_sidecar_to_single_ingest_ratio"] = out["two_sidecar_rows_per_s"] / out["ingest_rows_per_s"]
    if "ingest_mb_per_s" in out and "baseline_rocksdb_mb_per_s" in out:
        out["ingest_to_rocksdb_ratio"] = out["ingest_mb_per_s"] / out["baseline_rocksdb_mb_per_s"]
    if "ingest_mb_per_s" in out and "baseline_grpc_mb_per_s" in out:
        out["ingest_to_grpc_ratio"] = out["ingest_mb_per_s"] / out["baseline_grpc_mb_per_s"]
    if "ingest_mb_per_s" in out and "baseline_disk_mb_per_s" in out:
        out["ingest_to_disk_ratio"] = out["ingest_mb_per_s"] / out["baseline_disk_mb_per_s"]
    out["quick"] = 1 if args.quick else 0
    out["bench_seconds"] = time.monotonic() - started
    out["cores"] = os.cpu_count()
    (args.results / "latest.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    text = summary(out)
    (args.results / "latest.txt").write_text(text + "\n")
    print(text)
    plot(data, args.results)
    log(f"done in {out['bench_seconds']:.0f} s: {args.results}/latest.json")


if __name__ == "__main__":
    main()
