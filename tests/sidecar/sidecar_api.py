"""A plain-grpcio client of deltasidecar.v1, and a delta-sidecar process handle.

The message classes are generated at test time with the system protoc (which
matches Debian's python3-protobuf); the stubs are built by hand with
grpc.Channel.unary_unary / unary_stream / stream_stream, so no grpc_tools is
needed.
"""

import importlib
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

import packed_rows as pr

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/deltasidecar.v1.DeltaSidecar/"
CALL_TIMEOUT = 60  # seconds; every call in these tests takes far less

_pb = None


def load_proto(out_dir):
    """Generates and imports deltasidecar/v1/sidecar_pb2 (once per process)."""
    global _pb
    if _pb is not None:
        return _pb
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["protoc", f"--python_out={out_dir}", "-I", str(REPO_ROOT / "proto"),
                    str(REPO_ROOT / "proto/deltasidecar/v1/sidecar.proto")], check=True)
    sys.path.insert(0, str(out_dir))
    _pb = importlib.import_module("deltasidecar.v1.sidecar_pb2")
    return _pb


def pb():
    assert _pb is not None, "load_proto() first"
    return _pb


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SidecarProcess:
    """A delta-sidecar on its own data dir and table root; restartable on the same dirs."""

    def __init__(self, binary, workdir, listen=None, env=None):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.table_root = self.workdir / "root"
        self.listen = listen or f"127.0.0.1:{free_port()}"
        self.log_path = self.workdir / "sidecar.log"
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self._stopped_by_us = False
        self.starts = 0
        self._clients = []

    @property
    def target(self):
        return self.listen

    def argv(self):
        # The two-word flags as this binary spells them (absl: data_dir; CLI11: data-dir).
        help_text = subprocess.run([str(self.binary), "--help"], capture_output=True, text=True,
                                   timeout=30)
        sep = "_" if "--data_dir" in help_text.stdout + help_text.stderr else "-"
        return [str(self.binary), "--listen", self.listen, f"--data{sep}dir", str(self.data_dir),
                f"--table{sep}root", str(self.table_root)]

    def start(self, timeout=30):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        argv = self.argv()
        self._stopped_by_us = False
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env=self.env)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        """Waits for the "serving on" line of this start, then until DescribeTable of a
        missing table answers NOT_FOUND.

        A channel that tried before the port was open backs off for seconds, so
        the probe starts only once the server says it listens.
        """
        deadline = time.monotonic() + timeout
        while self.log().count("delta-sidecar: serving on") < self.starts:
            if self.proc.poll() is not None:
                raise AssertionError(f"delta-sidecar exited with {self.proc.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"delta-sidecar did not start listening\n{self.log()}")
            time.sleep(0.02)
        client = Client(self.target)
        try:
            while True:
                try:
                    client._describe(pb().DescribeTableRequest(table="no-such-table-probe"), timeout=5)
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.NOT_FOUND:
                        return
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"delta-sidecar not ready: {e.code()} {e.details()}\n"
                                             f"{self.log()}")
                time.sleep(0.02)
        finally:
            client.close()

    def client(self):
        c = Client(self.target)
        self._clients.append(c)
        return c

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self._stopped_by_us = True
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def sigterm(self):
        """Sends SIGTERM without waiting for the exit."""
        self._stopped_by_us = True
        self.proc.send_signal(signal.SIGTERM)

    def terminate(self, timeout=60):
        """SIGTERM; returns the exit status."""
        self.sigterm()
        return self.proc.wait(timeout=timeout)

    def restart(self):
        self.kill9()
        return self.start()

    def log(self):
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text

    def vm_hwm_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def stop(self):
        """Closes the clients and stops the process; raises if it had died on its own."""
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self.proc is None:
            return
        if not self.running():
            if not self._stopped_by_us:
                raise AssertionError(f"delta-sidecar died during the test (exit status "
                                     f"{self.proc.returncode})\n{self.log()[-4000:]}")
            return
        try:
            status = self.terminate(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"delta-sidecar ignored SIGTERM for 60 s\n{self.log()[-4000:]}")
        if status != 0:
            raise AssertionError(f"delta-sidecar exited with {status} on SIGTERM\n{self.log()[-4000:]}")
