"""Writer: one writer id's upserts and deletes, batched onto a Write stream, sealed
per checkpoint and committed."""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any, Deque, Iterable, List, Mapping, Optional

import grpc

from . import wire
from .client import DEFAULT_TARGET, Client, Committable, Registration, RetryPolicy, TableCommitResult
from .codec import RowEncoder
from .errors import DeltaSidecarError, RetryableError, WriterClosedError, from_rpc_error

_END = object()


class _BatchStream:
    """One Write call with at most `max_in_flight` unacknowledged batches.

    A reader thread consumes the acks; the first failure (the call's status, an
    ack out of order, or the server ending the call early) is kept in `error`
    and handed to `on_error`. Every later send or wait raises it.
    """

    def __init__(self, client: Client, registration: Registration, max_in_flight: int,
                 timeout: float, on_error: Any) -> None:
        self._pb = wire.pb()
        self._registration = registration
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._on_error = on_error
        self._cond = threading.Condition()
        self._unacked: Deque[int] = collections.deque()
        self._next_seq = 0
        self._closing = False
        self.error: Optional[DeltaSidecarError] = None
        self._requests: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        # No deadline: the stream lives across checkpoints. Waits for acks have one.
        self._call = client._wire._write(iter(self._requests.get, _END))
        self._reader = threading.Thread(target=self._read_acks, name="deltasidecar-acks",
                                        daemon=True)
        self._reader.start()

    def _fail(self, err: DeltaSidecarError) -> None:
        """Keeps the first error. Called with _cond held."""
        if self.error is None:
            self.error = err
            self._on_error(err)
        self._cond.notify_all()

    def _read_acks(self) -> None:
        writer_id = self._registration.writer_id
        try:
            for resp in self._call:
                with self._cond:
                    expected = self._unacked.popleft() if self._unacked else None
                    if resp.batch_seq != expected:
                        self._fail(DeltaSidecarError(
                            f"Write of '{writer_id}': ack for batch {resp.batch_seq}, "
                            f"expected {expected}", grpc.StatusCode.INTERNAL))
                        self._call.cancel()
                        return
                    self._cond.notify_all()
            with self._cond:
                if not self._closing or self._unacked:
                    self._fail(RetryableError(
                        f"Write of '{writer_id}': the server ended the stream with "
                        f"{len(self._unacked)} batches unacknowledged", grpc.StatusCode.UNAVAILABLE))
        except grpc.RpcError as e:
            with self._cond:
                if e.code() == grpc.StatusCode.CANCELLED and self._closing:
                    pass  # our own cancel in close()
                elif e.code() == grpc.StatusCode.CANCELLED:
                    # A broken connection can end a stream as CANCELLED.
                    self._fail(RetryableError(f"Write of '{writer_id}': {e.details()}",
                                              grpc.StatusCode.CANCELLED))
                else:
                    self._fail(from_rpc_error(e, f"Write of '{writer_id}'"))
        finally:
            with self._cond:
                self._closing = True
                self._cond.notify_all()

    def _wait(self, ready: Any, what: str) -> None:
        """Waits until ready() or an error (raised); _cond held."""
        deadline = time.monotonic() + self._timeout
        while self.error is None and not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(RetryableError(
                    f"Write of '{self._registration.writer_id}': no ack for {self._timeout:g} s "
                    f"while waiting {what}", grpc.StatusCode.DEADLINE_EXCEEDED))
                self._call.cancel()
                break
            self._cond.wait(left)
        if self.error is not None:
            raise self.error

    def send(self, rows: bytes, count: int) -> None:
        """Queues one batch; blocks while max_in_flight batches wait for their ack."""
        with self._cond:
            self._wait(lambda: len(self._unacked) < self._max_in_flight or self._closing,
                       "for a free in-flight slot")
            if self._closing:
                raise WriterClosedError("the Write stream is closed")
            seq = self._next_seq
            self._next_seq += 1
            self._unacked.append(seq)
        req = self._pb.WriteRequest(batch_seq=seq)
        if seq == 0:
            r = self._registration
            req.table, req.writer_id, req.epoch = r.table, r.writer_id, r.epoch
            req.schema_id = r.schema.schema_id
        req.batch.row_count = count
        req.batch.rows = rows
        self._requests.put(req)

    def wait_all_acked(self) -> None:
        with self._cond:
            self._wait(lambda: not self._unacked, "for the acks of the sent batches")

    def close(self) -> None:
        """Half-closes, waits briefly for the server to end the call, then cancels it."""
        with self._cond:
            self._closing = True
        self._requests.put(_END)
        self._reader.join(timeout=min(self._timeout, 5.0))
        if self._reader.is_alive():
            self._call.cancel()
            self._reader.join()


class Writer:
    """Streams one writer id's upserts and deletes into `table` through the sidecar
    at `target`, and seals and commits them per checkpoint.

    The constructor registers the writer (fencing every older registration of
    `writer_id`). With `restored_checkpoint_id` K (the last completed checkpoint
    of a restarted job), what was staged after K is dropped and `pending` holds
    the sealed checkpoints <= K not committed yet: commit them. Without it,
    everything staged and not committed is dropped.

    Rows are packed into batches of about `max_batch_bytes` (or
    `max_batch_rows`); a partial batch is sent `linger` seconds after its first
    row (None: only when full or flushed). At most `max_in_flight_batches` are
    unacknowledged; upsert() and delete() block beyond that (backpressure).

    Errors: a value that does not fit its column raises InvalidRecordError at
    once and nothing of that row is kept. A failure of the Write stream (the
    sidecar went away: RetryableError; fenced: FencedError; a row the server
    refused: InvalidRecordError) is raised by the next upsert, delete, flush or
    prepare_commit, and by every call after it until restore() re-registers.
    commit() retries retryable failures itself (see RetryPolicy).

    One thread uses a Writer; it runs two helper threads (acks, linger). Close
    it, or use it as a context manager: close() discards rows not yet sealed by
    prepare_commit() and closes the channel if the Writer opened it.
    """

    def __init__(self, table: str, writer_id: str, target: str = DEFAULT_TARGET,
                 restored_checkpoint_id: Optional[int] = None, *, client: Optional[Client] = None,
                 max_batch_bytes: int = 1 << 20, max_batch_rows: int = 100_000,
                 linger: Optional[float] = 0.1, max_in_flight_batches: int = 8,
                 call_timeout: float = 60.0, retry: RetryPolicy = RetryPolicy()) -> None:
        if max_batch_bytes < 1 or not 1 <= max_batch_rows <= 1_000_000:
            raise ValueError("max_batch_bytes must be >= 1 and max_batch_rows in 1..1000000")
        if max_in_flight_batches < 1:
            raise ValueError("max_in_flight_batches must be >= 1")
        if linger is not None and linger <= 0:
            raise ValueError("linger must be > 0 seconds, or None")
        self.table = table
        self.writer_id = writer_id
        self._owns_client = client is None
        self._client = client or Client(target, call_timeout=call_timeout, retry=retry)
        self._max_bytes = max_batch_bytes
        self._max_rows = max_batch_rows
        self._linger = linger
        self._max_in_flight = max_in_flight_batches
        self._timeout = call_timeout
        self._lock = threading.Lock()  # the open batch and the stream
        self._buf = bytearray()
        self._rows = 0
        self._batch_started = 0.0
        self._stream: Optional[_BatchStream] = None
        self._failed: Optional[DeltaSidecarError] = None
        self._closed = False
        #: Rows and packed bytes handed to Write streams (sent, not necessarily acked).
        self.rows_sent = 0
        self.bytes_sent = 0
        try:
            self.registration = self._client.register(table, writer_id, restored_checkpoint_id)
        except BaseException:
            if self._owns_client:
                self._client.close()
            raise
        self._encode_upsert = RowEncoder(self.registration.schema).upsert
        self._encode_delete = RowEncoder(self.registration.schema).delete
        self._stop = threading.Event()
        self._linger_thread: Optional[threading.Thread] = None
        if linger is not None:
            self._linger_thread = threading.Thread(target=self._linger_loop,
                                                   name="deltasidecar-linger", daemon=True)
            self._linger_thread.start()

    # -- properties -----------------------------------------------------------

    @property
    def client(self) -> Client:
        return self._client

    @property
    def epoch(self) -> int:
        return self.registration.epoch

    @property
    def pending(self) -> List[Committable]:
        """Sealed, uncommitted checkpoints at or below the restored one (from the
        last registration): commit them."""
        return self.registration.pending

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- records --------------------------------------------------------------

    def upsert(self, row: Mapping[str, Any]) -> None:
        """Inserts `row` (a dict of column values; a missing column is NULL) or
        replaces the row with the same primary key."""
        with self._lock:
            if self._failed is not None or self._closed:
                self._raise_unusable()
            if not self._rows:
                self._batch_started = time.monotonic()
            self._encode_upsert(row, self._buf)
            self._rows += 1
            if self._rows >= self._max_rows or len(self._buf) >= self._max_bytes:
                self._send_locked()

    def delete(self, key: Mapping[str, Any]) -> None:
        """Deletes the row whose primary key is `key` (other columns are ignored)."""
        with self._lock:
            if self._failed is not None or self._closed:
                self._raise_unusable()
            if not self._rows:
                self._batch_started = time.monotonic()
            self._encode_delete(key, self._buf)
            self._rows += 1
            if self._rows >= self._max_rows or len(self._buf) >= self._max_bytes:
                self._send_locked()

    def flush(self) -> None:
        """Sends the open batch and waits until every batch sent is acknowledged
        (staged in the sidecar)."""
        with self._lock:
            if self._failed is not None or self._closed:
                self._raise_unusable()
            if self._rows:
                self._send_locked()
            stream = self._stream
        if stream is not None:
            stream.wait_all_acked()

    def prepare_commit(self, checkpoint_id: int) -> Committable:
        """Flushes, then seals everything staged since the last seal as checkpoint
        `checkpoint_id` (above every id sealed before). Store the returned
        Committable with the checkpoint; commit it once the checkpoint is complete."""
        self.flush()
        return self._client.prepare_commit(self.registration, checkpoint_id)

    def commit(self, committables: Iterable[Committable]) -> List[TableCommitResult]:
        """Client.commit: idempotent, retried without rewriting data."""
        return self._client.commit(committables)

    def abort(self, checkpoint_id: int) -> None:
        """Drops the sealed, uncommitted checkpoint `checkpoint_id` (or, above the
        last seal, what is staged and unsealed)."""
        self._client.abort(self.registration, checkpoint_id)

    def restore(self, checkpoint_id: Optional[int]) -> List[Committable]:
        """Starts over from the completed checkpoint `checkpoint_id` (None: from
        scratch): ends the Write stream, discards the open batch, and registers
        again with that restored id, which drops what was staged after it.
        Returns the pending committables (sealed <= checkpoint_id, not committed):
        commit them, then replay the source from that checkpoint on."""
        if self._closed:
            raise WriterClosedError(f"writer '{self.writer_id}' is closed")
        with self._lock:
            self._discard_stream_locked()
            self.registration = self._client.register(self.table, self.writer_id, checkpoint_id)
            self._failed = None
        return self.registration.pending

    def close(self) -> None:
        """Ends the stream and the helper threads; unsealed rows are discarded (the
        next registration drops what they staged)."""
        if self._closed:
            return
        self._stop.set()
        if self._linger_thread is not None:
            self._linger_thread.join()
        with self._lock:
            self._closed = True
            self._discard_stream_locked()
        if self._owns_client:
            self._client.close()

    # -- internals ------------------------------------------------------------

    def _raise_unusable(self) -> None:
        if self._closed:
            raise WriterClosedError(f"writer '{self.writer_id}' is closed")
        assert self._failed is not None
        raise self._failed

    def _on_stream_error(self, err: DeltaSidecarError) -> None:
        self._failed = err

    def _send_locked(self) -> None:
        rows, count = bytes(self._buf), self._rows
        self._buf.clear()
        self._rows = 0
        if self._stream is None:
            self._stream = _BatchStream(self._client, self.registration, self._max_in_flight,
                                        self._timeout, self._on_stream_error)
        self._stream.send(rows, count)
        self.rows_sent += count
        self.bytes_sent += len(rows)

    def _discard_stream_locked(self) -> None:
        self._buf.clear()
        self._rows = 0
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _linger_loop(self) -> None:
        assert self._linger is not None
        tick = self._linger / 2
        while not self._stop.wait(tick):
            with self._lock:
                if (self._rows and self._failed is None and not self._closed
                        and time.monotonic() - self._batch_started >= self._linger):
                    try:
                        self._send_locked()
                    except DeltaSidecarError:
                        pass  # kept in self._failed; the writer's next call raises it
