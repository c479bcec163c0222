#!/usr/bin/python3
"""One commit per checkpoint for a job whose writers use several sidecars.

N worker processes (the parallel subtasks of a job) each run beside their own
sidecar (--targets, spread round-robin); all sidecars share one table root.
Each worker registers a writer, writes its rows for checkpoint k, seals them
with prepare_commit(k) and sends the committable, as bytes, to the
coordinator (this process, the job's one committer). When every worker's
committable of checkpoint k has arrived, the coordinator commits all of them
in ONE commit call through one sidecar (--commit-target, or each sidecar in
turn): the table gets one atomic snapshot per checkpoint, recording every
writer's (identity, checkpoint), wherever its rows were staged. The sidecar
that commits needs none of the rows: each writer's sidecar turns a sealed
checkpoint into table files in the background, and the commit publishes them.

Workers do not wait for the commit of k before writing k+1, as in Flink,
where notifyCheckpointComplete comes while the next checkpoint is running.

    build/bin/delta-sidecar --listen 127.0.0.1:7601 --data-dir var/a --table-root var/tables &
    build/bin/delta-sidecar --listen 127.0.0.1:7602 --data-dir var/b --table-root var/tables &
    PYTHONPATH=connector/python connector/python/examples/coordinated_commit.py \\
        --targets 127.0.0.1:7601,127.0.0.1:7602 --table events --workers 4 --checkpoints 5

Each committed checkpoint prints a line on stderr; at the end one JSON object
goes to stdout: {"checkpoints": {k: snapshot id}, "committed_through": {k:
target}}. A worker that fails ends the run with an error (a real job would
restore from its last completed checkpoint; see jsonl_to_table.py for that).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from the repository

from deltasidecar import (Client, DeltaSidecarError, RetryPolicy, Writer,  # noqa: E402
                          committable_from_bytes, committable_to_bytes)

SCHEMA = "id BIGINT, worker INT, checkpoint BIGINT, payload STRING"
PRIMARY_KEY = "id"
KEYS_PER_WORKER = 1000
# Retryable failures (a sidecar restarting; a commit waiting for another
# sidecar's files) are retried for about a minute.
RETRY = RetryPolicy(max_attempts=60, max_backoff=1.0)


def writer_id(job: str, worker: int) -> str:
    """Stable across restarts and unique per parallel writer."""
    return f"{job}/{worker}"


def source_op(worker: int, workers: int, checkpoint: int, i: int) -> Tuple[str, Dict[str, Any]]:
    """Op i of `worker` in `checkpoint`: ("upsert", row) or ("delete", key). A pure
    function; each worker owns the keys congruent to it modulo `workers`, as a
    keyBy shuffle would give it."""
    n = checkpoint * 7919 + i * 104729
    key = worker + workers * (n % KEYS_PER_WORKER)
    if n % 10 == 3:
        return "delete", {"id": key}
    return "upsert", {"id": key, "worker": worker, "checkpoint": checkpoint,
                      "payload": f"w{worker}-cp{checkpoint}-op{i}"}


def expected_table(workers: int, checkpoints: int, rows: int) -> Dict[int, Dict[str, Any]]:
    """The table after `checkpoints` committed checkpoints: every op folded in order."""
    table: Dict[int, Dict[str, Any]] = {}
    for w in range(workers):
        for k in range(1, checkpoints + 1):
            for i in range(rows):
                op, row = source_op(w, workers, k, i)
                if op == "delete":
                    table.pop(row["id"], None)
                else:
                    table[row["id"]] = row
    return table


# -- a worker process -------------------------------------------------------------------


def run_worker(worker: int, args: argparse.Namespace, target: str,
               out: "multiprocessing.Queue[Any]") -> None:
    """Writes and seals its checkpoints; sends ("sealed", worker, k, bytes) per
    checkpoint, then ("done", worker), or ("failed", worker, text)."""
    try:
        with Client(target, retry=RETRY) as client:
            with Writer(args.table, writer_id(args.job, worker), client=client) as writer:
                for k in range(1, args.checkpoints + 1):
                    for i in range(args.rows):
                        op, row = source_op(worker, args.workers, k, i)
                        if op == "delete":
                            writer.delete(row)
                        else:
                            writer.upsert(row)
                    committable = writer.prepare_commit(k)  # flushes, then seals durably
                    out.put(("sealed", worker, k, committable_to_bytes(committable)))
        out.put(("done", worker))
    except BaseException:  # noqa: BLE001  (reported to the coordinator, which fails the run)
        out.put(("failed", worker, traceback.format_exc()))


# -- the coordinator --------------------------------------------------------------------


class Coordinator:
    """Collects every worker's committable of a checkpoint and commits them in one
    call; checkpoints complete in order, because each worker seals in order."""

    def __init__(self, args: argparse.Namespace, targets: List[str]) -> None:
        self.args = args
        self.targets = targets
        self.clients = {t: Client(t, retry=RETRY) for t in targets}
        self.sealed: Dict[int, Dict[int, bytes]] = {}
        self.snapshots: Dict[int, int] = {}
        self.through: Dict[int, str] = {}

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def log(self, text: str) -> None:
        print(f"coordinated_commit: {text}", file=sys.stderr, flush=True)

    def commit_target(self, checkpoint: int) -> str:
        if self.args.commit_target:
            return self.args.commit_target
        return self.targets[checkpoint % len(self.targets)]

    def on_sealed(self, worker: int, checkpoint: int, data: bytes) -> None:
        self.sealed.setdefault(checkpoint, {})[worker] = data
        while len(self.sealed.get(len(self.snapshots) + 1, {})) == self.args.workers:
            self.commit(len(self.snapshots) + 1)

    def commit(self, checkpoint: int) -> None:
        committables = [committable_from_bytes(b)
                        for _, b in sorted(self.sealed.pop(checkpoint).items())]
        target = self.commit_target(checkpoint)
        if target not in self.clients:
            self.clients[target] = Client(target, retry=RETRY)
        results = self.clients[target].commit(committables)  # one snapshot per table
        result = results[0]
        self.snapshots[checkpoint] = result.snapshot_id
        self.through[checkpoint] = target
        rows = sum(c.rows for c in committables)
        self.log(f"checkpoint {checkpoint}: {len(committables)} writers, {rows} rows, committed "
                 f"through {target}: snapshot {result.snapshot_id}"
                 + (" (already committed)" if result.already_committed else ""))

    def run(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no gRPC state crosses a fork
        out: "multiprocessing.Queue[Any]" = ctx.Queue()
        procs = [ctx.Process(target=run_worker, name=f"worker-{w}",
                             args=(w, self.args, self.targets[w % len(self.targets)], out))
                 for w in range(self.args.workers)]
        for p in procs:
            p.start()
        try:
            running = len(procs)
            while running:
                try:
                    msg = out.get(timeout=self.args.timeout)
                except queue.Empty:
                    raise SystemExit(f"coordinated_commit: no word from the workers for "
                                     f"{self.args.timeout} s") from None
                if msg[0] == "sealed":
                    self.on_sealed(msg[1], msg[2], msg[3])
                elif msg[0] == "done":
                    running -= 1
                else:
                    raise SystemExit(f"coordinated_commit: worker {msg[1]} failed:\n{msg[2]}")
            for p in procs:
                p.join()
            if len(self.snapshots) != self.args.checkpoints:
                raise SystemExit(f"coordinated_commit: committed {len(self.snapshots)} of "
                                 f"{self.args.checkpoints} checkpoints")
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", required=True,
                   help="comma-separated sidecar addresses on one table root; worker w uses "
                        "target w mod their number")
    p.add_argument("--table", required=True, help=f"created if missing: {SCHEMA}")
    p.add_argument("--job", default="coordinated-commit",
                   help="writer ids are <job>/<worker> (default %(default)s)")
    p.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    p.add_argument("--checkpoints", type=int, default=5, help="checkpoints (default 5)")
    p.add_argument("--rows", type=int, default=500,
                   help="rows per worker and checkpoint (default 500)")
    p.add_argument("--commit-target",
                   help="commit every checkpoint through this sidecar (default: the targets "
                        "in turn, checkpoint k through target k mod their number)")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds to wait for a worker's next message (default 300)")
    args = p.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    if not targets or args.workers < 1 or args.checkpoints < 1:
        p.error("need at least one target, one worker and one checkpoint")
    coordinator = Coordinator(args, targets)
    try:
        coordinator.clients[targets[0]].create_table(args.table, SCHEMA, PRIMARY_KEY,
                                                     if_not_exists=True)
        coordinator.run()
    except DeltaSidecarError as e:
        raise SystemExit(f"coordinated_commit: {e}") from None
    finally:
        coordinator.close()
    json.dump({"checkpoints": coordinator.snapshots, "committed_through": coordinator.through},
              sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
