"""Python client of delta-sidecar (deltasidecar.v1): exactly-once upserts into a
primary-key delta table.

    from deltasidecar import Writer, Client

    with Writer("orders", "orders-job/0", target="127.0.0.1:7543") as w:
        w.upsert({"id": 1, "name": "a"})
        committable = w.prepare_commit(1)   # checkpoint 1: sealed in the sidecar
        w.commit([committable])             # checkpoint 1 complete: one atomic snapshot

`Writer` streams one writer id's rows and runs the checkpoint cycle; `Client`
creates and reads tables and commits. A committable travels between
processes (to one committer for the whole job) as bytes or a dict:
`committable_to_bytes` / `committable_from_bytes`, `committable_to_dict` /
`committable_from_dict`. Lower layers: `codec` (packed rows from
and to Python values), `wire` (the gRPC stubs), `rows` (an independent codec
the server's tests use).

Reads as Arrow, pandas or DuckDB (the [arrow] extra: pyarrow, pandas, duckdb)
live in `deltasidecar.arrow`: `to_arrow`, `reader`, `to_pandas`, `to_duckdb`,
`changes_reader`, from a table root or through a sidecar, and `follow_changes`
through a sidecar. They are imported on
first use, so the client works without the extra.
"""

from .client import (DEFAULT_TARGET, Change, Client, CommitIdentity, Registration, RetryPolicy,
                     SnapshotInfo, TableCommitResult)
from .committable import (Committable, committable_from_bytes, committable_from_dict,
                          committable_to_bytes, committable_to_dict)
from .codec import timestamp_to_datetime
from .errors import (DeltaSidecarError, FencedError, InvalidRecordError, NotFoundError,
                     RetryableError, UnrecoverableError, UnsealedLostError, WriterClosedError)
from .schema import ColumnInfo, TableSchema
from .writer import Writer

_ARROW_NAMES = ("to_arrow", "reader", "to_pandas", "to_duckdb", "changes_reader", "follow_changes")


def __getattr__(name):
    # deltasidecar.to_arrow etc. without importing pyarrow for writers.
    if name in _ARROW_NAMES:
        from . import arrow
        return getattr(arrow, name)
    raise AttributeError(f"module 'deltasidecar' has no attribute {name!r}")


__all__ = [
    "Writer", "Client", "Registration", "TableCommitResult", "Change", "SnapshotInfo",
    "CommitIdentity", "RetryPolicy", "Committable", "committable_from_bytes",
    "committable_to_bytes", "committable_from_dict", "committable_to_dict", "DEFAULT_TARGET",
    "TableSchema", "ColumnInfo", "timestamp_to_datetime",
    "DeltaSidecarError", "RetryableError", "UnsealedLostError", "FencedError", "UnrecoverableError",
    "InvalidRecordError", "NotFoundError", "WriterClosedError",
]
