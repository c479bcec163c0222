#!/usr/bin/python3
"""A tiny stream processor: JSON lines from stdin into a delta table, exactly once.

Each line is a JSON object of column values in the forms `deltactl import`
takes (DECIMAL as a string or number, DATE "2024-05-01", DATETIME
"2024-05-01 12:00:00.000", TIMESTAMP as text with up to 9 fractional digits
or integer nanoseconds, TIMESTAMP_LTZ the same with a zone, "Z" or "+08:00",
BINARY base64); `"_op": "delete"` deletes by the key
columns. Every --checkpoint-interval seconds (and at the end of the input) it
takes a checkpoint:

  1. prepare_commit(N) seals the rows sent since checkpoint N-1 in the sidecar;
  2. the state file is replaced atomically (write, fsync, rename, fsync the
     directory) with {checkpoint: N, offset: lines consumed, committable}:
     from here on checkpoint N is complete;
  3. commit([committable]) makes it visible in one atomic snapshot.

On start it reads the state file and resumes from its checkpoint K:
Writer(restored_checkpoint_id=K) drops whatever a crashed run staged after K,
the stored committable and the registration's pending ones are committed
again (a no-op for those that landed), and the first `offset` input lines are
skipped, because checkpoint K covers them. So rerun it with the same input
after a crash: nothing is lost and nothing is applied twice. While running, a
sidecar restart (RetryableError) is handled the same way in-process: restore
from K and replay the lines read since K, which it keeps in memory.

    build/bin/delta-sidecar --data-dir var/sc --table-root var/tables &
    PYTHONPATH=connector/python connector/python/examples/jsonl_to_table.py \\
        --table orders --create "id BIGINT, name STRING" --primary-key id \\
        --state var/orders.state < orders.jsonl
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from the repository

from deltasidecar import (Client, DeltaSidecarError, RetryPolicy, RetryableError,  # noqa: E402
                          TableSchema, Writer, committable_from_bytes)

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


# -- JSON values to the client's Python types ------------------------------------------


def _parse_datetime(text: str, digits: int) -> Tuple[datetime.datetime, int]:
    """"YYYY-MM-DD HH:MM:SS[.fff...]" (or with T) as UTC; returns (whole seconds, the
    fraction in units of 10^-digits)."""
    main, _, frac = text.replace("T", " ").rstrip("Z").partition(".")
    base = datetime.datetime.strptime(main, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    if len(frac) > digits or (frac and not frac.isdigit()):
        raise ValueError(f"'{text}': at most {digits} fractional digits")
    return base, int(frac.ljust(digits, "0") or "0")


def _split_zone(text: str) -> Tuple[str, int]:
    """A TIMESTAMP_LTZ text without its zone ("Z", "+HH:MM" or "-HH:MM"), and the
    zone's offset east of UTC in seconds."""
    if text.endswith("Z"):
        return text[:-1], 0
    zone = text[-6:]
    if len(text) > 6 and zone[0] in "+-" and zone[3] == ":" and zone[1:3].isdigit() \
            and zone[4:].isdigit():
        sign = -1 if zone[0] == "-" else 1
        return text[:-6], sign * (int(zone[1:3]) * 3600 + int(zone[4:]) * 60)
    raise ValueError(f"'{text}': a TIMESTAMP_LTZ needs a zone, 'Z' or an offset like +08:00")


def from_json(schema: TableSchema, obj: Dict[str, Any]) -> Dict[str, Any]:
    row: Dict[str, Any] = {}
    for name, v in obj.items():
        if name == "_op":
            continue
        try:
            col = schema.column(name)
        except KeyError:
            row[name] = v  # the writer names the unknown column
            continue
        if v is None or not isinstance(v, str) and col.base not in ("DECIMAL", "TIMESTAMP",
                                                                     "TIMESTAMP_LTZ"):
            row[name] = v
        elif col.base == "DECIMAL":
            row[name] = decimal.Decimal(str(v))
        elif col.base == "BINARY":
            row[name] = base64.b64decode(v, validate=True)
        elif col.base == "DATE":
            row[name] = datetime.date.fromisoformat(v)
        elif col.base == "DATETIME":
            base, ms = _parse_datetime(v, 3)
            row[name] = base + datetime.timedelta(milliseconds=ms)
        elif col.base in ("TIMESTAMP", "TIMESTAMP_LTZ"):
            if isinstance(v, int):
                row[name] = v
            else:
                text, offset = _split_zone(v) if col.base == "TIMESTAMP_LTZ" else (v, 0)
                base, ns = _parse_datetime(text, 9)
                delta = base - EPOCH
                row[name] = (delta.days * 86400 + delta.seconds - offset) * 10**9 + ns
        else:
            row[name] = v
    return row


# -- state ------------------------------------------------------------------------------


def load_state(path: Path) -> Dict[str, Any]:
    if not path.exists():
        return {"checkpoint": 0, "offset": 0, "committable": None}
    return json.loads(path.read_text())


def save_state(path: Path, state: Dict[str, Any]) -> None:
    """Replaces the state file atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the processor ----------------------------------------------------------------------


class Processor:
    def __init__(self, args: argparse.Namespace, client: Client) -> None:
        self.args = args
        self.client = client
        self.state_path = Path(args.state)
        self.state = load_state(self.state_path)
        self.schema = client.describe_table(args.table)
        # Input read since the last completed checkpoint, replayed after a restore.
        self.since_checkpoint: List[Tuple[str, Dict[str, Any]]] = []
        self.offset = self.state["offset"]
        self.writer = Writer(args.table, args.writer_id, client=client,
                             restored_checkpoint_id=self.state["checkpoint"] or None)
        self._commit_restored(self.writer.pending)

    def log(self, text: str) -> None:
        print(f"jsonl_to_table: {text}", file=sys.stderr, flush=True)

    def _commit_restored(self, pending: List[Any]) -> None:
        stored = self.state["committable"]
        committables = list(pending)
        if stored:
            committables.append(committable_from_bytes(base64.b64decode(stored)))
        if committables:
            results = self.client.commit(committables)
            self.log(f"restored checkpoint {self.state['checkpoint']}: "
                     + ", ".join(f"snapshot {r.snapshot_id}"
                                 + (" (already committed)" if r.already_committed else "")
                                 for r in results))

    def apply(self, op: str, row: Dict[str, Any]) -> None:
        if op == "delete":
            self.writer.delete(row)
        else:
            self.writer.upsert(row)

    def restore(self, error: DeltaSidecarError) -> None:
        """After a failed Write stream: back to the last completed checkpoint, and
        the lines read since then again."""
        self.log(f"{error}; restoring checkpoint {self.state['checkpoint']}")
        while True:
            try:
                self._commit_restored(self.writer.restore(self.state["checkpoint"] or None))
                for op, row in self.since_checkpoint:
                    self.apply(op, row)
                return
            except RetryableError as e:
                self.log(f"{e}; retrying the restore")

    def checkpoint(self) -> None:
        n = self.state["checkpoint"] + 1
        committable = self.writer.prepare_commit(n)
        self.state = {"checkpoint": n, "offset": self.offset,
                      "committable": base64.b64encode(committable.SerializeToString()).decode()}
        save_state(self.state_path, self.state)  # checkpoint n is complete from here on
        self.since_checkpoint.clear()
        result = self.writer.commit([committable])[0]
        self.log(f"checkpoint {n}: {committable.rows} rows, input offset {self.offset}, "
                 f"snapshot {result.snapshot_id}")

    def run(self, lines: "queue.Queue[Optional[str]]") -> None:
        skip = self.offset
        if skip:
            self.log(f"skipping the {skip} input lines checkpoint {self.state['checkpoint']} covers")
        deadline = time.monotonic() + self.args.checkpoint_interval
        line_no = 0
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""  # no input for a while: checkpoint what there is
            try:
                if line is None or time.monotonic() >= deadline:
                    if self.since_checkpoint:
                        self.checkpoint()
                    deadline = time.monotonic() + self.args.checkpoint_interval
                if line is None:
                    return
                if not line:
                    continue
                line_no += 1
                if line_no <= skip:
                    continue
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("a line must be a JSON object")
                op = "delete" if obj.get("_op") == "delete" else "upsert"
                row = from_json(self.schema, obj)
                self.offset = line_no
                self.since_checkpoint.append((op, row))
                self.apply(op, row)
            except RetryableError as e:
                self.restore(e)
            except (ValueError, DeltaSidecarError) as e:
                raise SystemExit(f"jsonl_to_table: input line {line_no}: {e}")


def read_lines(stream: Any, out: "queue.Queue[Optional[str]]") -> None:
    for line in stream:
        out.put(line.strip())
    out.put(None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default=os.environ.get("DELTA_SIDECAR_TARGET", "127.0.0.1:7543"))
    p.add_argument("--table", required=True)
    p.add_argument("--writer-id", default="jsonl_to_table/0",
                   help="stable across restarts (default %(default)s)")
    p.add_argument("--state", required=True, help="state file (checkpoint, input offset)")
    p.add_argument("--checkpoint-interval", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--create", metavar="SCHEMA", help='create the table if missing: "id BIGINT, ..."')
    p.add_argument("--primary-key", help="with --create")
    args = p.parse_args()
    # Sidecar restarts are waited out for about a minute before giving up.
    with Client(args.target, retry=RetryPolicy(max_attempts=60, max_backoff=1.0)) as client:
        if args.create:
            if not args.primary_key:
                p.error("--create needs --primary-key")
            client.create_table(args.table, args.create, args.primary_key, if_not_exists=True)
        processor = Processor(args, client)
        lines: "queue.Queue[Optional[str]]" = queue.Queue(maxsize=10_000)
        threading.Thread(target=read_lines, args=(sys.stdin, lines), daemon=True).start()
        try:
            processor.run(lines)
        finally:
            processor.writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
