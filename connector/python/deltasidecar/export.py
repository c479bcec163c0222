"""deltasidecar-export (and `deltactl export --format parquet|arrow`): writes one
snapshot of a table under a table root to a Parquet file or an Arrow IPC file,
with the table's types (DECIMAL stays decimal128, timestamps keep their unit
and UTC zone). Reads through libdeltatable_arrow (deltasidecar.arrow).

    deltasidecar-export --root ROOT TABLE --format parquet [--snapshot N | --as-of T]
                        [--filter JSON] OUT

--as-of takes epoch milliseconds or an ISO time ('2026-12-03 10:00:00', UTC
when no zone is given). --filter takes primary-key filter terms as a JSON
list, e.g. '[["dt", "=", "2026-12-01"]]' (deltactl export --partition passes
the partition's); a partitioned table's partition columns lead its key, so
such a filter reads only that partition's files. Progress goes to stderr when it is a terminal.
Exit status: 0 done, 1 error, 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

from .errors import DeltaSidecarError


def _parse_as_of(text):
    if text is None:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


class _Progress:
    """A one-line row counter on a terminal; silent otherwise."""

    def __init__(self, what, stream=sys.stderr):
        self.what, self.stream = what, stream
        self.on = stream.isatty()
        self.rows, self.start, self.shown = 0, time.monotonic(), 0.0

    def add(self, n):
        self.rows += n
        now = time.monotonic()
        if self.on and now - self.shown >= 0.2:
            self.shown = now
            rate = self.rows / max(now - self.start, 1e-9)
            self.stream.write(f"\r{self.what}: {self.rows:,} rows ({rate:,.0f} rows/s)")
            self.stream.flush()

    def done(self):
        if self.on:
            self.stream.write(f"\r{self.what}: {self.rows:,} rows in "
                              f"{time.monotonic() - self.start:.1f} s\n")


def export(root, table, fmt, out, snapshot=None, as_of=None, filter=None):
    """Writes the snapshot to `out` (replaced atomically), only the rows of the
    primary-key `filter` terms when given; returns (snapshot id, rows)."""
    import pyarrow as pa

    from . import arrow

    snap = arrow.resolve_snapshot(table, snapshot, as_of, root=root)
    reader = arrow.reader(table, snapshot=snap, root=root, threads=1, filter=filter)
    progress = _Progress(f"export {table}@{snap}")
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq
            with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as w:
                for batch in reader:
                    w.write_batch(batch)
                    progress.add(batch.num_rows)
        elif fmt == "arrow":
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
                    progress.add(batch.num_rows)
        else:
            raise DeltaSidecarError(f"unknown format '{fmt}' (parquet or arrow)")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    progress.done()
    return snap, progress.rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="deltasidecar-export", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=os.environ.get("DELTA_TABLE_ROOT"),
                   help="table root (default $DELTA_TABLE_ROOT)")
    p.add_argument("table")
    p.add_argument("--format", required=True, choices=["parquet", "arrow"])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--snapshot", type=int)
    g.add_argument("--as-of")
    p.add_argument("--filter", help="primary-key filter terms as JSON, e.g. "
                                    "'[[\"dt\", \"=\", \"2026-12-01\"]]'")
    p.add_argument("out")
    a = p.parse_args(argv)
    if not a.root:
        p.error("--root is required (or set DELTA_TABLE_ROOT)")
    terms = None
    if a.filter:
        try:
            terms = [tuple(t) for t in json.loads(a.filter)]
        except (ValueError, TypeError) as e:
            p.error(f"--filter: expected a JSON list of [column, op, value] terms ({e})")
    try:
        export(a.root, a.table, a.format, a.out, a.snapshot, _parse_as_of(a.as_of), terms)
    except (DeltaSidecarError, OSError, ValueError) as e:
        print(f"deltasidecar-export: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
