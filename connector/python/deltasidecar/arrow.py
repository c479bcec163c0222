"""Arrow, pandas and DuckDB reads of delta tables (the [arrow] extra).

Two ways to reach a table, with the same results:

* ``root=`` a table root on a shared file system: the rows are read in this
  process by libdeltatable_arrow (the C++ reader, table/arrow_reader.h) and
  handed to pyarrow through the Arrow C stream interface without copying.
  Column projection and primary-key filters are pushed down (only the
  overlapping files are opened; an exact key reads one bucket).
* ``client=`` a :class:`deltasidecar.Client`: the sidecar reads with the same
  C++ reader and sends an Arrow IPC stream (Scan/Changes with format
  ARROW_IPC), which pyarrow reads as the chunks arrive. Projection and
  filters are pushed down the same way.

follow_changes() follows a table through a sidecar (FollowChanges): each
snapshot's changes as it commits.

Types: BOOLEAN bool, TINYINT..BIGINT int8..int64, FLOAT float32, DOUBLE
float64, DECIMAL(p,s) decimal128(p,s), STRING string, BINARY binary, DATE
date32, DATETIME timestamp[ms, tz=UTC], TIMESTAMP and TIMESTAMP_LTZ(p)
timestamp[ns, tz=UTC].

The library is found at $DELTASIDECAR_ARROW_LIB, else at
<dir of deltactl on PATH>/../lib/libdeltatable_arrow.so (where scripts/build
puts it: build/bin/deltactl and build/lib/).
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import decimal
import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import pyarrow as pa

from .errors import DeltaSidecarError, InvalidRecordError, NotFoundError, UnrecoverableError

LIBRARY_NAME = "libdeltatable_arrow.so"
FilterTerm = Tuple[str, str, Any]
AsOf = Union[None, int, datetime.datetime]

_OPS = {"==": "eq", "=": "eq", ">=": "ge", ">": "gt", "<=": "le", "<": "lt"}


class _ArrowArrayStream(ctypes.Structure):
    # struct ArrowArrayStream: four callbacks and private_data.
    _fields_ = [("get_schema", ctypes.c_void_p), ("get_next", ctypes.c_void_p),
                ("get_last_error", ctypes.c_void_p), ("release", ctypes.c_void_p),
                ("private_data", ctypes.c_void_p)]


_lib = None
_lib_lock = threading.Lock()


def library_path() -> Path:
    """Where libdeltatable_arrow.so is looked for (see the module docstring)."""
    env = os.environ.get("DELTASIDECAR_ARROW_LIB")
    if env:
        return Path(env)
    candidates = []
    if os.environ.get("DELTA_BIN_DIR"):
        candidates.append(Path(os.environ["DELTA_BIN_DIR"]).parent / "lib" / LIBRARY_NAME)
    deltactl = shutil.which("deltactl")
    if deltactl:
        real = Path(deltactl).resolve().parent
        candidates += [real.parent / "lib" / LIBRARY_NAME, real / LIBRARY_NAME]
    for c in candidates:
        if c.is_file():
            return c
    raise DeltaSidecarError(
        f"{LIBRARY_NAME} not found: set DELTASIDECAR_ARROW_LIB to it (scripts/build writes "
        f"build/lib/{LIBRARY_NAME}), or put deltactl on PATH; looked at "
        + (", ".join(str(c) for c in candidates) or "nothing"))


def _library():
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(str(library_path()))
            p, i64, i32 = ctypes.c_char_p, ctypes.c_int64, ctypes.c_int
            stream = ctypes.POINTER(_ArrowArrayStream)
            lib.deltatable_arrow_scan.argtypes = [p, p, i64, i64, p, p, i64, i32, stream]
            lib.deltatable_arrow_changes.argtypes = [p, p, i64, i64, p, p, i64, stream]
            lib.deltatable_arrow_resolve_snapshot.argtypes = [p, p, i64, i64, ctypes.POINTER(i64)]
            lib.deltatable_arrow_last_error.restype = ctypes.c_char_p
            _lib = lib
        return _lib


def _raise_for(lib, rc: int, what: str) -> None:
    if rc == 0:
        return
    message = f"{what}: {lib.deltatable_arrow_last_error().decode('utf-8', 'replace')}"
    if rc == 3:
        raise InvalidRecordError(message)
    if rc == 5:
        raise NotFoundError(message)
    if rc == 15:
        raise UnrecoverableError(message)
    raise DeltaSidecarError(message)


def _as_of_ms(as_of: AsOf) -> int:
    if as_of is None:
        return -1
    if isinstance(as_of, datetime.datetime):
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=datetime.timezone.utc)
        return int(as_of.timestamp() * 1000)
    return int(as_of)


def _json_value(v: Any) -> Any:
    """A filter value in the JSON form the table accepts for its column."""
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return v


def _check_filter(filter: Optional[Sequence[FilterTerm]]) -> List[FilterTerm]:
    terms = list(filter or [])
    for t in terms:
        if not (isinstance(t, (tuple, list)) and len(t) == 3 and t[1] in _OPS):
            raise InvalidRecordError(
                f"filter term {t!r}: expected (column, op, value) with op one of "
                + ", ".join(_OPS))
    return terms


def filter_json(filter: Optional[Sequence[FilterTerm]]) -> Optional[str]:
    """The C reader's filter text for terms such as [("id", ">=", 10), ("id", "<", 20)].

    Equality terms name a prefix of the primary key; each range term is on the
    next key column and is combined with those equalities."""
    terms = _check_filter(filter)
    if not terms:
        return None
    eq = {c: _json_value(v) for c, op, v in terms if _OPS[op] == "eq"}
    out: dict = {}
    if eq:
        out["eq"] = eq
    for c, op, v in terms:
        name = _OPS[op]
        if name != "eq":
            if name in out:
                raise InvalidRecordError(f"filter: two '{op}' terms; give one bound per side")
            out[name] = {**eq, c: _json_value(v)}
    return json.dumps(out)


def _import_stream(fill) -> pa.RecordBatchReader:
    stream = _ArrowArrayStream()
    fill(ctypes.byref(stream))
    # pyarrow moves the stream out of the struct (and releases it when done).
    return pa.RecordBatchReader._import_from_c(ctypes.addressof(stream))


def _root(root: Union[str, os.PathLike, None]) -> bytes:
    if root is None:
        root = os.environ.get("DELTA_TABLE_ROOT")
    if not root:
        raise InvalidRecordError("give root= (a table root) or client= (a sidecar), "
                                 "or set DELTA_TABLE_ROOT")
    return os.fsencode(root)


# -- through a sidecar -----------------------------------------------------------

def arrow_type(column) -> pa.DataType:
    """The Arrow type of a deltasidecar.ColumnInfo."""
    simple = {"BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(),
              "INT": pa.int32(), "BIGINT": pa.int64(), "FLOAT": pa.float32(),
              "DOUBLE": pa.float64(), "STRING": pa.string(), "BINARY": pa.binary(),
              "DATE": pa.date32(), "DATETIME": pa.timestamp("ms", tz="UTC"),
              "TIMESTAMP": pa.timestamp("ns", tz="UTC"),
              "TIMESTAMP_LTZ": pa.timestamp("ns", tz="UTC")}
    if column.base == "DECIMAL":
        return pa.decimal128(column.precision, column.scale)
    if column.base == "ARRAY":
        return pa.list_(pa.field("element", arrow_type(column.children[0])))
    if column.base == "MAP":
        key, value = column.children
        return pa.map_(pa.field("key", arrow_type(key), nullable=False),
                       pa.field("value", arrow_type(value)))
    if column.base == "STRUCT":
        return pa.struct([pa.field(f.name, arrow_type(f)) for f in column.children])
    return simple[column.base]


class _ChunkStream(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the arrow_ipc fields of a
    Scan or Changes stream), pulling chunks only as pyarrow reads."""

    def __init__(self, chunks: Iterable[bytes]):
        super().__init__()
        self._chunks = iter(chunks)
        self._head = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        while not self._head:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._head = memoryview(chunk)
        return True

    def read(self, size: int = -1) -> bytes:
        # pyarrow expects a read to return `size` bytes unless the stream ends.
        parts = []
        while (size is None or size < 0 or size > 0) and self._next():
            n = len(self._head) if size is None or size < 0 else min(size, len(self._head))
            parts.append(self._head[:n])
            self._head = self._head[n:]
            if size is not None and size >= 0:
                size -= n
        return b"".join(parts)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def _ipc_reader(chunks: Iterable[bytes]) -> pa.RecordBatchReader:
    return pa.ipc.open_stream(_ChunkStream(chunks))


# -- public API -------------------------------------------------------------------

def reader(table: str, snapshot: Optional[int] = None, as_of: AsOf = None,
           columns: Optional[Sequence[str]] = None,
           filter: Optional[Sequence[FilterTerm]] = None, *,
           root: Union[str, os.PathLike, None] = None, client=None,
           batch_rows: int = 65536, threads: int = 0) -> pa.RecordBatchReader:
    """A pyarrow.RecordBatchReader over the live rows of a snapshot (the latest,
    `snapshot`, or the newest at or before `as_of`: epoch ms or a datetime, naive
    meaning UTC). Rows come bucket by bucket, key-ordered within a bucket.
    `threads` and `batch_rows` (root only): 0 one per core, 1 a repeatable order;
    a sidecar reads with one thread in batches of its own size."""
    if snapshot is not None and as_of is not None:
        raise InvalidRecordError("give snapshot or as_of, not both")
    if client is not None:
        as_of_ms = None if as_of is None else _as_of_ms(as_of)
        return _ipc_reader(client.scan_arrow_ipc(table, snapshot, as_of_unix_ms=as_of_ms,
                                                 columns=columns, key_filter_json=filter_json(filter)))
    lib = _library()
    cols = None if columns is None else json.dumps(list(columns)).encode()
    flt = filter_json(filter)
    flt = None if flt is None else flt.encode()
    root_b = _root(root)

    def fill(out):
        rc = lib.deltatable_arrow_scan(root_b, table.encode(), -1 if snapshot is None else snapshot,
                                       _as_of_ms(as_of), cols, flt, batch_rows, threads, out)
        _raise_for(lib, rc, f"reading table '{table}'")

    return _import_stream(fill)


def changes_reader(table: str, from_snapshot: int, to_snapshot: Optional[int] = None,
                   columns: Optional[Sequence[str]] = None,
                   filter: Optional[Sequence[FilterTerm]] = None, *,
                   root: Union[str, os.PathLike, None] = None, client=None,
                   batch_rows: int = 65536) -> pa.RecordBatchReader:
    """What changed after `from_snapshot` up to `to_snapshot` (default latest): the
    latest entry per key, with an "_op" column ("upsert" or "delete"; a delete has
    NULL in every non-key column)."""
    if client is not None:
        return _ipc_reader(client.changes_arrow_ipc(table, from_snapshot, to_snapshot,
                                                    columns=columns,
                                                    key_filter_json=filter_json(filter)))
    lib = _library()
    cols = None if columns is None else json.dumps(list(columns)).encode()
    flt = filter_json(filter)
    flt = None if flt is None else flt.encode()
    root_b = _root(root)

    def fill(out):
        rc = lib.deltatable_arrow_changes(root_b, table.encode(), from_snapshot,
                                          -1 if to_snapshot is None else to_snapshot, cols, flt,
                                          batch_rows, out)
        _raise_for(lib, rc, f"reading the changes of table '{table}'")

    return _import_stream(fill)


def follow_changes(table: str, from_snapshot: Optional[int] = None,
                   consumer: Optional[str] = None, *, client,
                   columns: Optional[Sequence[str]] = None,
                   filter: Optional[Sequence[FilterTerm]] = None,
                   poll_interval_ms: int = 0) -> Iterator[Tuple[int, pa.Table]]:
    """Follows `table` through a sidecar: yields (snapshot_id, changes) for each
    APPEND snapshot after `from_snapshot` as it commits, `changes` a pyarrow.Table
    with an "_op" column as changes_reader() reads it (iterate its batches with
    to_batches()). Runs until closed; see Client.follow_changes for the
    starting snapshot, `consumer` and how to resume."""
    for snapshot_id, chunks in client.follow_changes_arrow_ipc(
            table, from_snapshot, consumer=consumer, poll_interval_ms=poll_interval_ms,
            columns=columns, key_filter_json=filter_json(filter)):
        yield snapshot_id, _ipc_reader(chunks).read_all()


def resolve_snapshot(table: str, snapshot: Optional[int] = None, as_of: AsOf = None, *,
                     root: Union[str, os.PathLike, None] = None) -> int:
    """The id of the snapshot that reader() with these arguments reads."""
    lib = _library()
    out = ctypes.c_int64(-1)
    rc = lib.deltatable_arrow_resolve_snapshot(_root(root), table.encode(),
                                               -1 if snapshot is None else snapshot,
                                               _as_of_ms(as_of), ctypes.byref(out))
    _raise_for(lib, rc, f"finding the snapshot of table '{table}'")
    return out.value


def to_arrow(table: str, snapshot: Optional[int] = None, as_of: AsOf = None,
             columns: Optional[Sequence[str]] = None,
             filter: Optional[Sequence[FilterTerm]] = None, **kwargs) -> pa.Table:
    """The live rows of a snapshot as a pyarrow.Table (see reader())."""
    return reader(table, snapshot, as_of, columns, filter, **kwargs).read_all()


def to_pandas(table: str, snapshot: Optional[int] = None, as_of: AsOf = None,
              columns: Optional[Sequence[str]] = None,
              filter: Optional[Sequence[FilterTerm]] = None, **kwargs):
    """The live rows of a snapshot as a pandas.DataFrame (DECIMAL columns hold
    decimal.Decimal, timestamps are timezone-aware UTC)."""
    return to_arrow(table, snapshot, as_of, columns, filter, **kwargs).to_pandas()


def to_duckdb(table: str, snapshot: Optional[int] = None, as_of: AsOf = None,
              columns: Optional[Sequence[str]] = None,
              filter: Optional[Sequence[FilterTerm]] = None, *, connection=None, **kwargs):
    """A DuckDB relation streaming from reader(): DuckDB pulls batches as the query
    runs. Query it with .query(...) or register it; a RecordBatchReader held in a
    Python variable also works directly: ``t = reader("orders"); duckdb.sql("select
    count(*) from t")``. A reader is consumed by one query."""
    import duckdb
    con = connection if connection is not None else duckdb  # the module: its default connection
    return con.from_arrow(reader(table, snapshot, as_of, columns, filter, **kwargs))
