"""Client: tables, registration, commits and reads over one gRPC channel."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Sequence, Tuple, TypeVar)

import grpc

from . import wire
from .codec import UPSERT, RowDecoder, RowEncoder
from .committable import Committable, committable_from_bytes  # noqa: F401  (re-exported)
from .errors import RetryableError, UnsealedLostError, from_rpc_error
from .schema import TableSchema

if TYPE_CHECKING:
    from .writer import Writer

#: The sidecar's address when none is given: $DELTA_SIDECAR_TARGET, else the
#: sidecar's default listen address.
DEFAULT_TARGET = os.environ.get("DELTA_SIDECAR_TARGET") or "127.0.0.1:7543"

T = TypeVar("T")


@dataclass(frozen=True)
class Registration:
    """What RegisterWriter answered. `pending` are the checkpoints sealed at or below
    the restored one and not committed yet: commit them."""

    table: str
    writer_id: str
    epoch: int
    pending: List[Committable]
    last_committed_checkpoint_id: int
    schema: TableSchema


@dataclass(frozen=True)
class TableCommitResult:
    """One table's outcome of a commit. `already_committed`: the table held the
    checkpoint before (a retry of a commit that landed); nothing was written."""

    table: str
    snapshot_id: int
    already_committed: bool


@dataclass(frozen=True)
class Change:
    """The latest change of one key between two snapshots: an upsert with the whole
    row, or a delete with the key columns."""

    op: str  # "upsert" or "delete"
    row: Dict[str, Any]


@dataclass(frozen=True)
class CommitIdentity:
    writer_id: str
    checkpoint_id: int


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    time_unix_ms: int
    kind: str  # CREATE, APPEND, COMPACT, ALTER, DROP_PARTITION
    rows: int
    deletes: int
    identities: Tuple[CommitIdentity, ...]


@dataclass(frozen=True)
class RetryPolicy:
    """How retryable failures of idempotent calls are retried: up to `max_attempts`
    calls in all, sleeping `initial_backoff` doubled per attempt up to
    `max_backoff` (with jitter) between them."""

    max_attempts: int = 10
    initial_backoff: float = 0.05
    max_backoff: float = 2.0

    def run(self, call: Callable[[], T], during: str) -> T:
        backoff = self.initial_backoff
        for attempt in range(1, self.max_attempts + 1):
            try:
                return call()
            except grpc.RpcError as e:
                err = from_rpc_error(e, during)
            # UnsealedLostError is retryable by a restore only, not by a repeat.
            again = isinstance(err, RetryableError) and not isinstance(err, UnsealedLostError)
            if not again or attempt == self.max_attempts:
                if again:
                    err.details = f"{err.details} (after {attempt} attempts)"
                raise err
            time.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.max_backoff)
        raise AssertionError("unreachable")


def _changes_in(decoder: RowDecoder, resp: Any) -> Iterator[Change]:
    """The changes in one Changes or FollowChanges message (format ROWS), decoded
    by the decoder of the message's schema version."""
    for op, row in decoder.rows(resp.batch.rows, resp.batch.row_count):
        yield Change("upsert" if op == UPSERT else "delete", row)


def _by_snapshot(responses: Iterable[Any],
                 take: Callable[[Any], Iterable[T]]) -> Iterator[Tuple[int, List[T]]]:
    """Groups a FollowChanges stream by snapshot: (snapshot id, what `take` makes of
    its messages), once the message with snapshot_end arrives."""
    items: List[T] = []
    try:
        for resp in responses:
            if resp.snapshot_end:
                yield resp.snapshot_id, items
                items = []
            else:
                items.extend(take(resp))
    finally:
        close = getattr(responses, "close", None)
        if close is not None:
            close()  # ends the call at once when the caller stops early


class Client:
    """deltasidecar.v1 over one gRPC channel to `target` ("host:port" or
    "unix:/path.sock").

    Thread-safe; share one per process and close it (or use `with`) before the
    sidecar is stopped, since an open idle channel holds a sidecar's graceful
    shutdown for up to 5 s. Idempotent unary calls (describe, register,
    prepare, commit, abort, get, history, create_table with if_not_exists) retry UNAVAILABLE, ABORTED,
    RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED per `retry` and then raise
    RetryableError; every failure raises a DeltaSidecarError subclass (see
    deltasidecar.errors). Streaming reads are not retried.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, call_timeout: float = 60.0,
                 retry: RetryPolicy = RetryPolicy()) -> None:
        self.target = target
        self.call_timeout = call_timeout
        self.retry = retry
        self._wire = wire.Client(target)
        self._pb = wire.pb()
        self._lock = threading.Lock()
        self._codecs: Dict[str, Tuple[TableSchema, RowEncoder, RowDecoder]] = {}
        # Decoders of other schema versions than the cached one (they never change).
        self._version_decoders: Dict[Tuple[str, int], RowDecoder] = {}

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._wire.close()

    # -- tables -----------------------------------------------------------------

    def create_table(self, table: str, schema: str, primary_key: str, buckets: int = 0,
                     if_not_exists: bool = False, partition_by: str = "",
                     options: Optional[Dict[str, str]] = None) -> None:
        """Creates `table` with a schema like "id BIGINT, name STRING" and a primary
        key like "id" or "region, id"; `buckets` 0 means the server's default (16).
        `partition_by` ("dt" or "dt, region") partitions it: those columns lead the
        primary key and each partition has its own files. `options` are table
        properties stored with it ({"partition.expiration-time": "30d"}).
        With `if_not_exists`, an existing table of the same definition is fine."""
        req = self._pb.CreateTableRequest(table=table, schema=schema, primary_key=primary_key,
                                          buckets=buckets, if_not_exists=if_not_exists,
                                          partition_by=partition_by, options=options or {})
        # Only an if_not_exists create is idempotent, so only that one is retried.
        self._call(lambda: self._wire._create(req, timeout=self.call_timeout),
                   f"CreateTable '{table}'", retry=if_not_exists)

    def describe_table(self, table: str) -> TableSchema:
        """The table's schema now (also refreshes the schema the reads use)."""
        req = self._pb.DescribeTableRequest(table=table)
        resp = self._call(lambda: self._wire._describe(req, timeout=self.call_timeout),
                          f"DescribeTable '{table}'")
        schema = TableSchema.from_describe(resp)
        with self._lock:
            self._codecs[table] = (schema, RowEncoder(schema), RowDecoder(schema))
        return schema

    def alter_table(self, table: str, *changes: str) -> TableSchema:
        """AlterTable: applies schema changes ("ADD COLUMN note STRING AFTER id",
        "DROP COLUMN x", "RENAME COLUMN a TO b", "ALTER COLUMN n TYPE BIGINT") in
        order as one snapshot, without rewriting data; returns the new schema.
        Writers registered before must register again to write under it."""
        req = self._pb.AlterTableRequest(table=table, changes=list(changes))
        # Not retried: a change that landed but whose answer was lost would
        # not apply twice (describe the table to see whether it did).
        self._call(lambda: self._wire._alter(req, timeout=self.call_timeout),
                   f"AlterTable '{table}'", retry=False)
        return self.describe_table(table)

    def drop_partition(self, table: str, *partitions: str) -> int:
        """DropPartition: drops the partitions named by specs such as
        "dt=2026-12-01" or "dt=2026-12-01/region=eu", every row of them, as one
        snapshot; returns its id. NotFound-style error when none has rows."""
        req = self._pb.DropPartitionRequest(table=table, partitions=list(partitions))
        # Not retried: a drop that landed but whose answer was lost would
        # answer NOT_FOUND the second time.
        resp = self._call(lambda: self._wire._drop_partition(req, timeout=self.call_timeout),
                          f"DropPartition '{table}'", retry=False)
        return resp.snapshot_id

    def _decoder(self, table: str, resp: Any) -> RowDecoder:
        """The decoder of a read answer's rows: the cached schema's, or for rows of
        another schema version (a snapshot from before an ALTER, or after one not
        seen yet), that of the schema DescribeTable gives for the answer's snapshot."""
        schema, _, decoder = self._codec(table)
        if resp.schema_id == schema.schema_id:
            return decoder
        with self._lock:
            found = self._version_decoders.get((table, resp.schema_id))
        if found is None:
            req = self._pb.DescribeTableRequest(table=table)
            req.snapshot.snapshot_id = resp.snapshot_id
            d = self._call(lambda: self._wire._describe(req, timeout=self.call_timeout),
                           f"DescribeTable '{table}' at snapshot {resp.snapshot_id}")
            found = RowDecoder(TableSchema.from_describe(d))
            with self._lock:
                self._version_decoders[(table, resp.schema_id)] = found
        return found

    def _codec(self, table: str) -> Tuple[TableSchema, RowEncoder, RowDecoder]:
        with self._lock:
            found = self._codecs.get(table)
        if found is None:
            self.describe_table(table)
            with self._lock:
                found = self._codecs[table]
        return found

    # -- writing ----------------------------------------------------------------

    def register(self, table: str, writer_id: str,
                 restored_checkpoint_id: Optional[int] = None) -> Registration:
        """RegisterWriter: bumps the writer's epoch, fencing older ones. With
        `restored_checkpoint_id` K, drops what the writer staged after K and returns
        the sealed, uncommitted checkpoints <= K in `pending`; without it, drops
        everything staged and not committed."""
        schema = self._codec(table)[0]
        req = self._pb.RegisterWriterRequest(table=table, writer_id=writer_id)
        if restored_checkpoint_id is not None:
            req.restored_checkpoint_id = restored_checkpoint_id
        resp = self._call(lambda: self._wire._register(req, timeout=self.call_timeout),
                          f"RegisterWriter '{writer_id}' on '{table}'")
        if resp.schema_id != schema.schema_id:
            # Altered since it was described: the writer packs rows for the new columns.
            schema = self.describe_table(table)
        return Registration(table, writer_id, resp.epoch, list(resp.pending),
                            resp.last_committed_checkpoint_id, schema)

    def writer(self, table: str, writer_id: str, restored_checkpoint_id: Optional[int] = None,
               **options: Any) -> "Writer":
        """A Writer on this client's channel (see Writer for the options)."""
        from .writer import Writer
        return Writer(table, writer_id, restored_checkpoint_id=restored_checkpoint_id,
                      client=self, **options)

    def prepare_commit(self, registration: Registration, checkpoint_id: int) -> Committable:
        """PrepareCommit: seals what the writer staged since its last seal. A Writer
        calls this after flushing; call it directly only when no Write is in flight."""
        req = self._pb.PrepareCommitRequest(table=registration.table,
                                            writer_id=registration.writer_id,
                                            epoch=registration.epoch, checkpoint_id=checkpoint_id)
        return self._call(lambda: self._wire._prepare(req, timeout=self.call_timeout),
                          f"PrepareCommit {checkpoint_id} of '{registration.writer_id}'")

    def commit(self, committables: Iterable[Committable]) -> List[TableCommitResult]:
        """Commits the committables (any writers and tables; per writer, everything
        sealed up to the checkpoint named) in one atomic snapshot per table.
        Through any sidecar on the table root: writers staged on other sidecars
        are committed from the files their sidecars put in the table root
        after the seal; until those are there, the sidecar answers UNAVAILABLE,
        which is retried like any retryable failure.

        Idempotent, so retryable failures are retried as they are, without
        rewriting data. Raises UnrecoverableError on DATA_LOSS (restore from the
        last completed checkpoint and rewrite), FencedError when a checkpoint was
        never sealed, was aborted or dropped by a later registration. An empty
        list commits nothing and returns []."""
        committables = list(committables)
        if not committables:
            return []  # nothing to commit (e.g. no pending checkpoints after a restore)
        req = self._pb.CommitRequest(committables=committables)
        resp = self._call(lambda: self._wire._commit(req, timeout=self.call_timeout), "Commit")
        return [TableCommitResult(c.table, c.snapshot_id, c.already_committed) for c in resp.commits]

    def abort(self, registration: Registration, checkpoint_id: int) -> None:
        """Drops a sealed, uncommitted checkpoint, or the open batches when
        `checkpoint_id` is above the last seal."""
        req = self._pb.AbortRequest(table=registration.table, writer_id=registration.writer_id,
                                    epoch=registration.epoch, checkpoint_id=checkpoint_id)
        self._call(lambda: self._wire._abort(req, timeout=self.call_timeout),
                   f"Abort {checkpoint_id} of '{registration.writer_id}'")

    # -- reading ----------------------------------------------------------------

    def _selector(self, req: Any, snapshot: Optional[int], as_of_unix_ms: Optional[int]) -> Any:
        if snapshot is not None and as_of_unix_ms is not None:
            raise ValueError("give snapshot or as_of_unix_ms, not both")
        if snapshot is not None:
            req.snapshot.snapshot_id = snapshot
        if as_of_unix_ms is not None:
            req.snapshot.as_of_unix_ms = as_of_unix_ms
        return req

    def scan(self, table: str, snapshot: Optional[int] = None, *,
             as_of_unix_ms: Optional[int] = None,
             buckets: Optional[Sequence[int]] = None) -> Iterator[Dict[str, Any]]:
        """Yields the live rows of the latest snapshot (or snapshot id `snapshot`, or
        the one current at `as_of_unix_ms`) as dicts, in primary-key order; with
        `buckets`, only those buckets' rows, bucket by bucket in the order given
        (how parallel readers split a snapshot; describe_table gives the count)."""
        req = self._selector(self._pb.ScanRequest(table=table, buckets=buckets or []),
                             snapshot, as_of_unix_ms)
        for resp in self._stream(lambda: self._wire._scan(req, timeout=self.call_timeout),
                                 f"Scan '{table}'"):
            for _, row in self._decoder(table, resp).rows(resp.batch.rows, resp.batch.row_count):
                yield row

    def scan_arrow_ipc(self, table: str, snapshot: Optional[int] = None, *,
                       as_of_unix_ms: Optional[int] = None,
                       columns: Optional[Sequence[str]] = None,
                       key_filter_json: Optional[str] = None,
                       buckets: Optional[Sequence[int]] = None) -> Iterator[bytes]:
        """Yields the chunks of an Arrow IPC stream (format ARROW_IPC) of the live rows
        of the selected snapshot: concatenated they are one stream for
        pyarrow.ipc.open_stream. `columns` projects; `key_filter_json` is a
        primary-key filter in the JSON form of docs/arrow.md; `buckets` reads
        only those buckets (as in scan)."""
        req = self._selector(self._pb.ScanRequest(table=table, format=self._pb.ARROW_IPC,
                                                  buckets=buckets or []),
                             snapshot, as_of_unix_ms)
        req.columns.extend(columns or [])
        req.key_filter_json = key_filter_json or ""
        for resp in self._stream(lambda: self._wire._scan(req, timeout=self.call_timeout),
                                 f"Scan '{table}'"):
            yield resp.arrow_ipc

    def changes_arrow_ipc(self, table: str, from_snapshot: int,
                          to_snapshot: Optional[int] = None, *,
                          columns: Optional[Sequence[str]] = None,
                          key_filter_json: Optional[str] = None) -> Iterator[bytes]:
        """Like changes(), as the chunks of an Arrow IPC stream with an "_op" column
        (see scan_arrow_ipc)."""
        req = self._pb.ChangesRequest(table=table, from_snapshot_id=from_snapshot,
                                      format=self._pb.ARROW_IPC)
        if to_snapshot is not None:
            req.to_snapshot_id = to_snapshot
        req.columns.extend(columns or [])
        req.key_filter_json = key_filter_json or ""
        for resp in self._stream(lambda: self._wire._changes(req, timeout=self.call_timeout),
                                 f"Changes '{table}'"):
            yield resp.arrow_ipc

    def get(self, table: str, key: Mapping[str, Any], snapshot: Optional[int] = None, *,
            as_of_unix_ms: Optional[int] = None) -> Optional[Dict[str, Any]]:
        """The row whose primary key is `key` (a dict of the key columns), or None."""
        schema, encoder, _ = self._codec(table)
        buf = bytearray()
        encoder.delete(key, buf)
        req = self._selector(self._pb.GetRequest(table=table, schema_id=schema.schema_id),
                             snapshot, as_of_unix_ms)
        req.key.rows, req.key.row_count = bytes(buf), 1
        resp = self._call(lambda: self._wire._get(req, timeout=self.call_timeout), f"Get '{table}'")
        if not resp.found:
            return None
        for _, row in self._decoder(table, resp).rows(resp.row.rows, resp.row.row_count):
            return row
        return None

    def changes(self, table: str, from_snapshot: int,
                to_snapshot: Optional[int] = None) -> Iterator[Change]:
        """Yields the latest change per key after snapshot `from_snapshot` up to and
        including `to_snapshot` (default: the latest)."""
        req = self._pb.ChangesRequest(table=table, from_snapshot_id=from_snapshot)
        if to_snapshot is not None:
            req.to_snapshot_id = to_snapshot
        for resp in self._stream(lambda: self._wire._changes(req, timeout=self.call_timeout),
                                 f"Changes '{table}'"):
            yield from _changes_in(self._decoder(table, resp), resp)

    def follow_changes(self, table: str, from_snapshot: Optional[int] = None, *,
                       consumer: Optional[str] = None,
                       poll_interval_ms: int = 0) -> Iterator[Tuple[int, List[Change]]]:
        """Follows `table` (FollowChanges): yields (snapshot_id, changes) for each
        APPEND snapshot after `from_snapshot`, oldest first, each once all of its
        changes arrived, and waits for new ones until the iterator is closed.
        A DROP_PARTITION snapshot yields deletes of the dropped partitions' keys;
        compaction, ALTER and expiry snapshots yield nothing. Without `from_snapshot`
        it starts at `consumer`'s position, else at the latest snapshot.

        `consumer` names a position kept in the table root that holds snapshot
        expiry (docs/protocol.md, "Following a table"); an exactly-once reader
        keeps the last snapshot id it handled itself and passes it as
        `from_snapshot` when it resumes. Not retried: on an error (say
        RetryableError when the sidecar stops) follow again from the last
        snapshot id yielded. Memory: one snapshot's changes."""
        req = self._follow_request(table, from_snapshot, consumer, poll_interval_ms)
        yield from _by_snapshot(self._stream(lambda: self._wire._follow(req),
                                             f"FollowChanges '{table}'"),
                                lambda resp: _changes_in(self._decoder(table, resp), resp))

    def follow_changes_arrow_ipc(self, table: str, from_snapshot: Optional[int] = None, *,
                                 consumer: Optional[str] = None, poll_interval_ms: int = 0,
                                 columns: Optional[Sequence[str]] = None,
                                 key_filter_json: Optional[str] = None
                                 ) -> Iterator[Tuple[int, List[bytes]]]:
        """Like follow_changes(), yielding each snapshot's changes as the chunks of
        one Arrow IPC stream with an "_op" column (see scan_arrow_ipc)."""
        req = self._follow_request(table, from_snapshot, consumer, poll_interval_ms)
        req.format = self._pb.ARROW_IPC
        req.columns.extend(columns or [])
        req.key_filter_json = key_filter_json or ""
        yield from _by_snapshot(self._stream(lambda: self._wire._follow(req),
                                             f"FollowChanges '{table}'"),
                                lambda resp: [resp.arrow_ipc])

    def _follow_request(self, table: str, from_snapshot: Optional[int], consumer: Optional[str],
                        poll_interval_ms: int) -> Any:
        req = self._pb.FollowChangesRequest(table=table, consumer=consumer or "",
                                            poll_interval_ms=poll_interval_ms)
        if from_snapshot is not None:
            req.from_snapshot_id = from_snapshot
        return req

    def history(self, table: str) -> List[SnapshotInfo]:
        """The retained snapshots, oldest first, with the (writer, checkpoint)
        identities each commit recorded."""
        req = self._pb.HistoryRequest(table=table)
        resp = self._call(lambda: self._wire._history(req, timeout=self.call_timeout),
                          f"History '{table}'")
        return [SnapshotInfo(s.id, s.time_unix_ms, s.kind, s.rows, s.deletes,
                             tuple(CommitIdentity(i.writer_id, i.checkpoint_id) for i in s.identities))
                for s in resp.snapshots]

    # -- plumbing ---------------------------------------------------------------

    def _call(self, call: Callable[[], T], during: str, retry: bool = True) -> T:
        if retry:
            return self.retry.run(call, during)
        try:
            return call()
        except grpc.RpcError as e:
            raise from_rpc_error(e, during) from None

    def _stream(self, call: Callable[[], Iterator[T]], during: str) -> Iterator[T]:
        it = call()
        try:
            yield from it
        except grpc.RpcError as e:
            raise from_rpc_error(e, during) from None
        finally:
            it.cancel()

