"""deltasidecar.v1 over plain grpcio: the message classes and a low-level client.

The message classes are generated on first use with protoc (Debian's
protobuf-compiler, which matches python3-protobuf) into a private temporary
directory, from the copy of proto/deltasidecar/v1/sidecar.proto shipped inside
this package (deltasidecar/proto/; tests/test_packaging.py keeps it identical
to the repository's). The stubs are built with grpc.Channel.unary_unary /
unary_stream / stream_stream, so grpc_tools is not needed.
"""

import importlib
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import grpc

from . import rows as pr

PROTO_ROOT = Path(__file__).resolve().parent / "proto"
PROTO_FILE = "deltasidecar/v1/sidecar.proto"
SERVICE = "/deltasidecar.v1.DeltaSidecar/"
CALL_TIMEOUT = 60  # seconds

_pb = None
_load_lock = threading.Lock()


def load_proto(out_dir=None):
    """Generates and imports deltasidecar/v1/sidecar_pb2 (once per process)."""
    with _load_lock:
        return _load_proto_locked(out_dir)


def _load_proto_locked(out_dir):
    if _pb is not None:
        return _pb
    private = out_dir is None
    if private:
        out_dir = tempfile.mkdtemp(prefix="deltasidecar-proto-")
    try:
        return _generate_and_import(Path(out_dir))
    finally:
        if private:
            # The module is in memory once imported: nothing is left behind,
            # also when the process is later killed.
            shutil.rmtree(out_dir, ignore_errors=True)


def _generate_and_import(out_dir):
    global _pb
    out_dir.mkdir(parents=True, exist_ok=True)
    protoc = shutil.which("protoc")
    if protoc is None:
        raise RuntimeError("deltasidecar needs protoc to generate its gRPC message classes: "
                           "install Debian's protobuf-compiler (apt-get install protobuf-compiler)")
    proc = subprocess.run([protoc, f"--python_out={out_dir}", "-I", str(PROTO_ROOT),
                           str(PROTO_ROOT / PROTO_FILE)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"protoc failed on {PROTO_ROOT / PROTO_FILE}: {proc.stderr.strip()}")
    # The generated module is deltasidecar.v1.sidecar_pb2: make this package's
    # name reach the generated deltasidecar/v1 directory too.
    package = sys.modules[__package__]
    package.__path__.append(str(out_dir / "deltasidecar"))
    _pb = importlib.import_module("deltasidecar.v1.sidecar_pb2")
    return _pb


def pb():
    return _pb if _pb is not None else load_proto()


class WriteStream:
    """One Write call. send() queues a request; ack() waits for the next response.

    The first request carries table, writer_id and epoch. Errors surface as
    grpc.RpcError from ack() or finish().
    """

    _END = object()

    def __init__(self, client, table, writer_id, epoch, timeout=CALL_TIMEOUT):
        self._requests = queue.Queue()
        self._first = (table, writer_id, epoch)
        self._seq = 0
        self._call = client._write(iter(self._requests.get, self._END), timeout=timeout)
        self.closed = False

    def send(self, rows, count, seq=None, header=None):
        """Queues one batch (packed bytes and row count); returns its batch_seq."""
        req = pb().WriteRequest(batch_seq=self._seq if seq is None else seq)
        req.batch.rows = rows
        req.batch.row_count = count
        if self._first is not None or header is not None:
            table, writer_id, epoch = header or self._first
            req.table, req.writer_id, req.epoch = table, writer_id, epoch
            self._first = None
        self._requests.put(req)
        self._seq += 1
        return req.batch_seq

    def ack(self):
        return next(self._call)

    def write(self, rows, count):
        """Sends one batch and waits for its acknowledgement."""
        seq = self.send(rows, count)
        resp = self.ack()
        assert resp.batch_seq == seq, (resp.batch_seq, seq)
        return resp

    def finish(self):
        """Half-closes and waits for the call's end; returns the remaining responses."""
        if not self.closed:
            self._requests.put(self._END)
            self.closed = True
        return list(self._call)

    def code(self):
        return self._call.code()

    def details(self):
        return self._call.details()

    def cancel(self):
        self._call.cancel()


class Client:
    """deltasidecar.v1 over one channel, with helpers that speak packed rows."""

    def __init__(self, target):
        self.target = target
        # A restarted sidecar must be found again within a moment.
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.initial_reconnect_backoff_ms", 50), ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 250), ("grpc.max_receive_message_length", -1),
            # Without this, gRPC 1.51 waits ~5 s before it re-resolves and
            # reconnects to a target that refused a connection.
            ("grpc.dns_min_time_between_resolutions_ms", 50)])
        P = pb()

        def unary(name, req, resp):
            return self.channel.unary_unary(SERVICE + name, request_serializer=req.SerializeToString,
                                            response_deserializer=resp.FromString)

        def server_stream(name, req, resp):
            return self.channel.unary_stream(SERVICE + name, request_serializer=req.SerializeToString,
                                             response_deserializer=resp.FromString)

        self._create = unary("CreateTable", P.CreateTableRequest, P.CreateTableResponse)
        self._describe = unary("DescribeTable", P.DescribeTableRequest, P.DescribeTableResponse)
        self._register = unary("RegisterWriter", P.RegisterWriterRequest, P.RegisterWriterResponse)
        self._write = self.channel.stream_stream(SERVICE + "Write",
                                                 request_serializer=P.WriteRequest.SerializeToString,
                                                 response_deserializer=P.WriteResponse.FromString)
        self._prepare = unary("PrepareCommit", P.PrepareCommitRequest, P.Committable)
        self._commit = unary("Commit", P.CommitRequest, P.CommitResponse)
        self._abort = unary("Abort", P.AbortRequest, P.AbortResponse)
        self._scan = server_stream("Scan", P.ScanRequest, P.ScanResponse)
        self._get = unary("Get", P.GetRequest, P.GetResponse)
        self._changes = server_stream("Changes", P.ChangesRequest, P.ScanResponse)
        self._history = unary("History", P.HistoryRequest, P.HistoryResponse)
        self._schemas = {}

    def close(self):
        self.channel.close()

    # -- raw calls --------------------------------------------------------------

    def create_table(self, table, schema, primary_key, buckets=0, if_not_exists=False):
        return self._create(pb().CreateTableRequest(table=table, schema=schema, primary_key=primary_key,
                                                    buckets=buckets, if_not_exists=if_not_exists),
                            timeout=CALL_TIMEOUT)

    def describe(self, table):
        return self._describe(pb().DescribeTableRequest(table=table), timeout=CALL_TIMEOUT)

    def register(self, table, writer_id, restored=None):
        req = pb().RegisterWriterRequest(table=table, writer_id=writer_id)
        if restored is not None:
            req.restored_checkpoint_id = restored
        return self._register(req, timeout=CALL_TIMEOUT)

    def write_stream(self, table, writer_id, epoch, timeout=CALL_TIMEOUT):
        return WriteStream(self, table, writer_id, epoch, timeout=timeout)

    def prepare(self, table, writer_id, epoch, checkpoint_id):
        return self._prepare(pb().PrepareCommitRequest(table=table, writer_id=writer_id, epoch=epoch,
                                                       checkpoint_id=checkpoint_id), timeout=CALL_TIMEOUT)

    def commit(self, committables):
        return self._commit(pb().CommitRequest(committables=list(committables)), timeout=CALL_TIMEOUT)

    def abort(self, table, writer_id, epoch, checkpoint_id):
        return self._abort(pb().AbortRequest(table=table, writer_id=writer_id, epoch=epoch,
                                             checkpoint_id=checkpoint_id), timeout=CALL_TIMEOUT)

    def history(self, table):
        return list(self._history(pb().HistoryRequest(table=table), timeout=CALL_TIMEOUT).snapshots)

    # -- helpers with packed rows -------------------------------------------------

    def schema(self, table):
        if table not in self._schemas:
            self._schemas[table] = pr.Schema.from_describe(self.describe(table))
        return self._schemas[table]

    def write_rows(self, table, writer_id, epoch, batches):
        """One stream; each batch (a list of ops) acknowledged before the next. Returns acks."""
        schema = self.schema(table)
        stream = self.write_stream(table, writer_id, epoch)
        acks = []
        for ops in batches:
            rows, n = pr.encode_rows(schema, ops)
            acks.append(stream.write(rows, n))
        stream.finish()
        return acks

    def _select(self, req, snapshot_id=None, as_of_unix_ms=None):
        if snapshot_id is not None:
            req.snapshot.snapshot_id = snapshot_id
        if as_of_unix_ms is not None:
            req.snapshot.as_of_unix_ms = as_of_unix_ms
        return req

    def scan(self, table, snapshot_id=None, as_of_unix_ms=None):
        """All rows (dicts, by primary key) and the snapshot id answered."""
        schema = self.schema(table)
        req = self._select(pb().ScanRequest(table=table), snapshot_id, as_of_unix_ms)
        rows, snap = [], None
        for resp in self._scan(req, timeout=CALL_TIMEOUT):
            snap = resp.snapshot_id
            for op, row in pr.decode_rows(schema, resp.batch.rows, resp.batch.row_count):
                assert op == "upsert", "a scan returns live rows only"
                rows.append(row)
        return rows, snap

    def get(self, table, key, snapshot_id=None, as_delete=True):
        """The row with `key` (a dict of key columns) or None, and the snapshot id."""
        schema = self.schema(table)
        req = self._select(pb().GetRequest(table=table), snapshot_id)
        ops = [("delete", key)] if as_delete else [key]
        req.key.rows, req.key.row_count = pr.encode_rows(schema, ops)
        resp = self._get(req, timeout=CALL_TIMEOUT)
        if not resp.found:
            return None, resp.snapshot_id
        (op, row), = pr.decode_rows(schema, resp.row.rows, resp.row.row_count)
        assert op == "upsert"
        return row, resp.snapshot_id

    def changes(self, table, from_id, to_id=None):
        schema = self.schema(table)
        req = pb().ChangesRequest(table=table, from_snapshot_id=from_id)
        if to_id is not None:
            req.to_snapshot_id = to_id
        out = []
        for resp in self._changes(req, timeout=CALL_TIMEOUT):
            out += pr.decode_rows(schema, resp.batch.rows, resp.batch.row_count)
        return out
