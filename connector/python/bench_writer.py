#!/usr/bin/python3
"""Write throughput of the Python Writer through a real delta-sidecar.

The workload has delta-loadgen's shape (tools/loadgen/workload.cc): the table
"id BIGINT, writer INT, seq BIGINT, amount DOUBLE, payload STRING", upserts
packed to about --row-bytes (100) bytes, W writers in their own processes
(writer w owns the ids with id % W == w), 30% updates of an existing key, 10%
deletes, and a checkpoint (prepare_commit + commit) per writer every
--checkpoint-interval seconds and at the end. Throughput is all rows over the
time from the common start until the last writer's final commit returned.

    /usr/bin/python3 connector/python/bench_writer.py --bin-dir build/bin --runs 3
    /usr/bin/python3 connector/python/bench_writer.py --target 127.0.0.1:7543

With --bin-dir it starts its own sidecar on a free port in a temporary
directory and removes both afterwards. It prints one line per run and, with
several runs, the median.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from the repository

SCHEMA = "id BIGINT, writer INT, seq BIGINT, amount DOUBLE, payload STRING"
FIXED_UPSERT_BYTES = 1 + 1 + 8 + 4 + 8 + 8  # op, bitmap, id, writer, seq, amount


def payload_length(row_bytes: int) -> int:
    n = max(0, row_bytes - FIXED_UPSERT_BYTES - 1)
    while n > 0 and FIXED_UPSERT_BYTES + (1 if n < 128 else 2 if n < 16384 else 3) + n > row_bytes:
        n -= 1
    return n


def ops(w: int, writers: int, count: int, row_bytes: int, seed: int) -> Iterator[Any]:
    """Writer w's ops: ("upsert", row) or ("delete", key)."""
    rnd = random.Random(seed * 1_000_003 + w)
    length = payload_length(row_bytes)
    text = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(65536 + length))
    live = 0  # keys w, w + W, ... below live * W exist (deletes may have removed some)
    for seq in range(count):
        r = rnd.random()
        if live and r < 0.1:
            yield "delete", {"id": rnd.randrange(live) * writers + w}
            continue
        if live and r < 0.4:
            key = rnd.randrange(live)
        else:
            key, live = live, live + 1
        start = rnd.randrange(65536)
        yield "upsert", {"id": key * writers + w, "writer": w, "seq": seq,
                         "amount": seq * 0.25, "payload": text[start:start + length]}


def run_writer(w: int, args: argparse.Namespace, table: str, ready: Any, start: Any,
               out: Any) -> None:
    from deltasidecar import Writer
    count = args.rows // args.writers + (1 if w < args.rows % args.writers else 0)
    # Ops are generated before the clock starts, so the figure is the client's and
    # the sidecar's, not the generator's.
    work = list(ops(w, args.writers, count, args.row_bytes, args.seed))
    with Writer(table, f"bench-{table}/{w}", target=args.target) as writer:
        upsert, delete = writer.upsert, writer.delete
        ready.put(w)
        start.wait()
        began = time.perf_counter()
        next_checkpoint, checkpoint = began + args.checkpoint_interval, 0
        for i, (op, row) in enumerate(work):
            upsert(row) if op == "upsert" else delete(row)
            if i & 1023 == 0 and time.perf_counter() >= next_checkpoint:
                checkpoint += 1
                writer.commit([writer.prepare_commit(checkpoint)])
                next_checkpoint = time.perf_counter() + args.checkpoint_interval
        checkpoint += 1
        writer.commit([writer.prepare_commit(checkpoint)])
        out.put({"writer": w, "rows": writer.rows_sent, "bytes": writer.bytes_sent,
                 "seconds": time.perf_counter() - began, "checkpoints": checkpoint})


def one_run(args: argparse.Namespace, table: str) -> Dict[str, Any]:
    from deltasidecar import Client
    with Client(args.target) as client:
        client.create_table(table, SCHEMA, "id", buckets=args.buckets)
    ctx = multiprocessing.get_context("spawn")  # no gRPC state crosses a fork
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=run_writer, args=(w, args, table, ready, start, out))
             for w in range(args.writers)]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:  # each has generated its ops and registered
            ready.get(timeout=600)
        began = time.perf_counter()
        start.set()
        for _ in procs:
            results.append(out.get(timeout=3600))
        seconds = time.perf_counter() - began
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    rows = sum(r["rows"] for r in results)
    data = sum(r["bytes"] for r in results)
    return {"table": table, "writers": args.writers, "rows": rows, "bytes": data,
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "mb_per_s": round(data / seconds / 1e6, 2)}


class OwnSidecar:
    """A delta-sidecar on a free port in a temporary directory."""

    def __init__(self, bin_dir: str) -> None:
        binary = Path(bin_dir) / "delta-sidecar"
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"bench_writer: no delta-sidecar executable at {binary}")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-writer-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.target = f"127.0.0.1:{s.getsockname()[1]}"
        self.log = open(self.dir / "sidecar.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--listen", self.target,
             "--data-dir", str(self.dir / "data"), "--table-root", str(self.dir / "tables")],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while b"serving on" not in (self.dir / "sidecar.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "sidecar.log").read_text(errors="replace")
                self.close()
                raise SystemExit(f"bench_writer: delta-sidecar did not start:\n{log}")
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", help="a running sidecar, host:port or unix:/path")
    where.add_argument("--bin-dir", help="start build/bin/delta-sidecar from here for the runs")
    p.add_argument("--rows", type=int, default=1_000_000, help="ops per run, all writers")
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--row-bytes", type=int, default=100)
    p.add_argument("--checkpoint-interval", type=float, default=1.0, help="seconds")
    p.add_argument("--buckets", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args()
    own: Optional[OwnSidecar] = OwnSidecar(args.bin_dir) if args.bin_dir else None
    if own is not None:
        args.target = own.target
    try:
        runs = []
        for n in range(args.runs):
            result = one_run(args, f"bench_{os.getpid()}_{n}")
            runs.append(result)
            print(json.dumps(result), flush=True)
        if len(runs) > 1:
            print(json.dumps({"median_rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
                              "median_mb_per_s": statistics.median(r["mb_per_s"] for r in runs)}))
    finally:
        if own is not None:
            own.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
