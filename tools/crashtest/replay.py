"""Checkpoint replay against a real delta-sidecar: the job, the model, the faults.

A Job plays a Flink job with N sink subtasks ("writers") over a seeded source:
each writer owns a disjoint part of the key space (as a keyBy shuffle would
give it) and a deterministic stream of upserts and deletes. A checkpoint is
PrepareCommit on every writer; when all prepared, the checkpoint is complete
and its committables go into the job's checkpoint state; then Commit is
called (notifyCheckpointComplete). A failure restores every writer from a
completed checkpoint: RegisterWriter(restored=K), re-commit of K's
committables and of what the sidecar reports pending, replay of the source
from K's positions. That is exactly Flink's contract for a two-phase sink.

The model is independent of the sidecar: the expected table is the source's
ops folded in the order their checkpoints were confirmed committed. A
checkpoint's ops are folded exactly once, when a Commit that includes it
returns OK (directly, after a retry, or during a restore); a rewind to an
older savepoint folds the replayed ops again, on top of what is already
committed, which is what an upsert table must show.

Steps (the scenario vocabulary, see docs/crashtest.md) are executed by
Job.run_step; the random mode generates the same steps from a seed.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "connector" / "python"))

from deltasidecar import wire  # noqa: E402
from deltasidecar import rows as pr  # noqa: E402

TABLE = "replay"
SCHEMA = "id BIGINT, name STRING, score DOUBLE, qty INT"
KEY = "id"
FENCED = grpc.StatusCode.FAILED_PRECONDITION


class Violation(Exception):
    """The table disagrees with the model, or the sidecar broke a rule of the protocol."""


class JobFailed(Exception):
    """A call failed in a way that makes the job fail over (restore from a checkpoint)."""


class SidecarDown(JobFailed):
    """A call failed because the sidecar process is gone (killed, maybe at a kill point)."""


def source_op(seed, writers, keys_per_writer, w, i):
    """Op i of writer w: ("upsert", row) or ("delete", key row). Pure function of its arguments."""
    r = random.Random(f"{seed}:{w}:{i}")
    key = w + writers * r.randrange(keys_per_writer)
    if r.random() < 0.15:
        return "delete", {"id": key}
    return "upsert", {"id": key, "name": f"w{w}-op{i}", "score": i * 0.5, "qty": i % 1000}


class Sidecar:
    """The delta-sidecar process under test, restartable on the same directories."""

    def __init__(self, bin_dir, workdir, extra_args=()):
        self.binary = Path(bin_dir) / "delta-sidecar"
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.table_root = self.workdir / "tables"
        self.socket = self.workdir / "sidecar.sock"
        self.log_path = self.workdir / "sidecar.log"
        self.extra_args = list(extra_args)
        self.proc = None
        self.starts = 0
        self.armed = None

    @property
    def target(self):
        return f"unix:{self.socket}"

    def start(self, kill_point=None, timeout=30):
        assert not self.running()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("DELTA_SIDECAR_")}
        if kill_point:
            env["DELTA_SIDECAR_KILL_POINT"] = kill_point
        self.armed = kill_point
        argv = [str(self.binary), "--listen", self.target, "--data-dir", str(self.data_dir),
                "--table-root", str(self.table_root), *self.extra_args]
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts}{' armed ' + kill_point if kill_point else ''}\n".encode())
            log.flush()
            self.log_offset = log.tell()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while "serving on" not in self.log_since_start():
            if self.proc.poll() is not None:
                raise RuntimeError(f"delta-sidecar exited with {self.proc.returncode} at start:\n"
                                   f"{self.log_since_start()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"delta-sidecar did not start:\n{self.log_since_start()}")
            time.sleep(0.005)

    def log_since_start(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            if rc != 0:
                raise RuntimeError(f"delta-sidecar exited with {rc} on SIGTERM:\n{self.log_since_start()}")

    def kill_point_hit(self):
        """The kill point that killed this run of the process, or None."""
        if self.proc is None or self.proc.poll() != -signal.SIGKILL:
            return None
        for line in self.log_since_start().splitlines():
            if line.startswith("kill point ") and " reached " in line:
                return line.split()[2]
        return None


class Job:
    """The stream processor and its model; one instance per replay."""

    def __init__(self, sidecar, deltactl, seed=1, writers=2, keys=200, batch=50, buckets=4,
                 log=None):
        self.sc = sidecar
        self.deltactl = deltactl
        self.seed = seed
        self.n = writers
        self.keys_per_writer = max(1, keys // writers)
        self.batch = batch
        self.buckets = buckets
        self.log = log or (lambda msg: None)
        self.client = None
        # Flink's side.
        self.epochs = [0] * writers
        self.positions = [0] * writers      # next source op to send, per writer
        self.next_checkpoint = 1
        self.completed = {}                 # checkpoint id -> {"positions", "committables"}
        self.last_completed = None
        self.committed_through = None       # highest completed checkpoint confirmed committed
        self.failed = False                 # the job must restore before anything else
        # The model.
        self.model = {}                     # id -> row
        self.applied = [0] * writers        # source ops folded into the model, per writer
        self.snapshot_models = {}           # append snapshot id -> model (frozen copy)
        # Counters for the summary.
        self.kills = 0
        self.recoveries = 0
        self.kill_points_hit = set()
        self.checkpoints_committed = 0

    # -- plumbing ---------------------------------------------------------------------

    def writer_id(self, w):
        return f"replay-sink/{w}"

    def connect(self):
        if self.client is not None:
            self.client.close()
        self.client = wire.Client(self.sc.target)

    def call(self, fn, *args, retry=True, **kwargs):
        """Runs one RPC as a careful client would.

        A failure caused by the process dying raises SidecarDown. UNAVAILABLE or
        DEADLINE_EXCEEDED from a live process (a slow start, an overloaded
        machine) is retried for up to 60 s when `retry` (unary calls are
        idempotent here); otherwise, e.g. for a broken Write stream, the job
        fails over (JobFailed)."""
        deadline = time.monotonic() + 60
        backoff = 0.05
        while True:
            try:
                return fn(*args, **kwargs)
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                                    grpc.StatusCode.INTERNAL):
                    raise  # the server's own answer
                try:
                    self.sc.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    if retry and time.monotonic() < deadline and e.code() in (
                            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        self.log(f"{e.code().name} from a live sidecar; retrying: {e.details()}")
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 1.0)
                        continue
                    self.failed = True
                    raise JobFailed(f"{e.code().name}: {e.details()}") from e
                self.note_death()
                raise SidecarDown(f"{e.code().name}: {e.details()}") from e

    def note_death(self):
        if getattr(self.sc, "_death_noted", None) == self.sc.starts:
            return
        self.sc._death_noted = self.sc.starts
        self.kills += 1
        point = self.sc.kill_point_hit()
        if point:
            self.kill_points_hit.add(point)
            self.log(f"sidecar killed at kill point {point}")
        else:
            self.log("sidecar died")
        self.failed = True

    def arm(self, spec):
        """Restarts the sidecar (cleanly) with kill point `spec` ("name" or "name:n") armed."""
        if self.failed:
            return
        self.stop_sidecar()
        self.sc.start(spec)
        self.connect()

    def stop_sidecar(self):
        """SIGTERM. The channel closes first: gRPC's graceful shutdown would wait
        for an idle client connection to answer its ping (~5 s in grpc-python)."""
        if self.client is not None:
            self.client.close()
            self.client = None
        self.sc.stop()

    def last_kill_points(self):
        point = self.sc.kill_point_hit()
        return [point] if point else []

    def kill(self):
        """SIGKILL from outside, now."""
        if self.sc.running():
            self.sc.kill9()
            self.note_death()

    # -- the job ------------------------------------------------------------------------

    def setup(self, kill_point=None):
        self.sc.start(kill_point)
        self.connect()
        self.client.create_table(TABLE, SCHEMA, KEY, buckets=self.buckets, if_not_exists=True)
        self.register_all(restored=None)

    def register_all(self, restored):
        pending = []
        for w in range(self.n):
            resp = self.call(self.client.register, TABLE, self.writer_id(w), restored=restored)
            self.epochs[w] = resp.epoch
            pending.extend(resp.pending)
        return pending

    def ops(self, w, start, end):
        return [source_op(self.seed, self.n, self.keys_per_writer, w, i) for i in range(start, end)]

    def write(self, count, writers=None, kill_after_batches=None):
        """Each writer sends `count` source ops in batches, each acknowledged in turn.

        With kill_after_batches=k the sidecar is SIGKILLed after k batches were
        sent, before their acknowledgement is read ("during writes").
        """
        sent = 0
        for w in (range(self.n) if writers is None else writers):
            schema = self.client.schema(TABLE)
            stream = self.client.write_stream(TABLE, self.writer_id(w), self.epochs[w])
            end = self.positions[w] + count
            try:
                while self.positions[w] < end:
                    hi = min(end, self.positions[w] + self.batch)
                    rows, n = pr.encode_rows(schema, self.ops(w, self.positions[w], hi))
                    seq = stream.send(rows, n)
                    sent += 1
                    if kill_after_batches is not None and sent >= kill_after_batches:
                        self.kill()
                    ack = self.call(stream.ack, retry=False)
                    if ack.batch_seq != seq or ack.rows_staged != n:
                        raise Violation(f"write ack {ack.batch_seq}/{ack.rows_staged} for batch {seq} "
                                        f"of {n} rows")
                    self.positions[w] = hi
                self.call(stream.finish, retry=False)
            finally:
                stream.cancel()

    def checkpoint(self, lose_answer=False, retries=0, complete=True, abort=False,
                   kill_during=None, after_ms=0):
        """PrepareCommit on every writer; when all prepared: complete, then Commit.

        kill_during="prepare" or "commit" SIGKILLs the sidecar `after_ms` after
        the first PrepareCommit or the Commit was sent, whether it answered or not.
        """
        cid = self.next_checkpoint
        self.next_checkpoint += 1
        committables = []
        for w in range(self.n):
            if kill_during == "prepare" and w == 0:
                committables.append(self.killing(after_ms, self.client._prepare, wire.pb().PrepareCommitRequest(
                    table=TABLE, writer_id=self.writer_id(w), epoch=self.epochs[w], checkpoint_id=cid)))
                continue
            committables.append(self.call(self.client.prepare, TABLE, self.writer_id(w),
                                          self.epochs[w], cid))
        for w, c in enumerate(committables):
            if c.checkpoint_id != cid or c.epoch != self.epochs[w]:
                raise Violation(f"PrepareCommit({cid}) of writer {w} answered {c}")
        if abort:
            # The checkpoint is declined (another operator failed it): abort it
            # everywhere; the job then restores from the last completed one.
            for w in range(self.n):
                self.call(self.client.abort, TABLE, self.writer_id(w), self.epochs[w], cid)
            self.failed = True
            return
        if not complete:
            return
        self.completed[cid] = {"positions": list(self.positions), "committables": committables}
        self.last_completed = cid
        self.commit(cid, committables, lose_answer=lose_answer, retries=retries,
                    kill_after_ms=after_ms if kill_during == "commit" else None)

    def killing(self, after_ms, method, request):
        """Sends `request`, SIGKILLs the sidecar after `after_ms`, returns the answer if
        one came first (else raises SidecarDown)."""
        future = method.future(request, timeout=wire.CALL_TIMEOUT)
        time.sleep(after_ms / 1000.0)
        self.kill()
        return self.call(future.result, retry=False)

    def commit(self, cid, committables, lose_answer=False, retries=0, kill_after_ms=None):
        if kill_after_ms is not None:
            resp = self.killing(kill_after_ms, self.client._commit,
                                wire.pb().CommitRequest(committables=committables))
        else:
            resp = self.call(self.client.commit, committables)
        if lose_answer:
            retries = max(retries, 1)  # the answer never arrived: the committer retries
        first = resp.commits[0].snapshot_id
        for _ in range(retries):
            again = self.call(self.client.commit, committables)
            if again.commits[0].snapshot_id != first or not again.commits[0].already_committed:
                raise Violation(f"retried Commit({cid}) answered snapshot {again.commits[0].snapshot_id} "
                                f"already_committed={again.commits[0].already_committed}; "
                                f"the first answer was snapshot {first}")
        self.confirm(cid, resp.commits[0].snapshot_id)

    def confirm(self, cid, snapshot_id):
        """Checkpoint `cid` (and every completed one before it) is in the table."""
        if self.committed_through is not None and cid <= self.committed_through:
            if snapshot_id not in self.snapshot_models:
                raise Violation(f"Commit of already committed checkpoint {cid} answered snapshot "
                                f"{snapshot_id}, which no commit of this job created")
            return
        for w in range(self.n):
            target = self.completed[cid]["positions"][w]
            for kind, row in self.ops(w, self.applied[w], target):
                if kind == "upsert":
                    self.model[row["id"]] = row
                else:
                    self.model.pop(row["id"], None)
            self.applied[w] = target
        self.checkpoints_committed += sum(1 for c in self.completed
                                          if c <= cid and (self.committed_through is None or
                                                           c > self.committed_through))
        self.committed_through = cid
        if snapshot_id in self.snapshot_models:
            raise Violation(f"Commit of checkpoint {cid} answered snapshot {snapshot_id}, which "
                            f"an earlier commit already created")
        self.snapshot_models[snapshot_id] = dict(self.model)

    def recover(self, restore="latest", kill_point=None):
        """Restarts the sidecar if it is down, then restores the job (Flink's failover)."""
        if not self.sc.running():
            self.sc.start(kill_point)
            self.connect()
        elif kill_point is not None:
            self.stop_sidecar()
            self.sc.start(kill_point)
            self.connect()
        if restore != "latest" and self.last_completed is not None and \
                self.committed_through != self.last_completed:
            # Whether the newest completed checkpoint reached the table is unknown
            # (the answer was lost); a restore from an older savepoint would not
            # tell. As in Flink, the failover restores the latest checkpoint
            # first; the savepoint restore comes after.
            self.recover("latest")
        if restore == "latest" or self.last_completed is None:
            k = self.last_completed
        else:
            # Rewind: the restore-th newest completed checkpoint (a savepoint).
            ids = sorted(self.completed)
            k = ids[max(0, len(ids) - 1 - int(restore))]
        self.recoveries += 1
        self.log(f"restore from {'the start' if k is None else f'checkpoint {k}'}")
        pending = self.register_all(restored=k)
        if k is not None:
            committables = list(pending) + list(self.completed[k]["committables"])
            resp = self.call(self.client.commit, committables)
            self.confirm(k, resp.commits[0].snapshot_id)
            if self.committed_through is not None and k < self.committed_through:
                # A rewind: the replayed ops will be committed (and folded) again.
                self.applied = list(self.completed[k]["positions"])
                self.committed_through = k
            for c in [c for c in self.completed if c > k]:
                del self.completed[c]
            self.last_completed = k
            self.positions = list(self.completed[k]["positions"])
        else:
            if pending:
                raise Violation(f"a fresh start got pending committables {list(pending)}")
            if self.committed_through is not None:
                raise Violation("a fresh start after committed checkpoints")
            self.positions = [0] * self.n
        self.failed = False

    def zombie(self):
        """Restores the job while keeping the old epochs, then lets the old tasks try to
        write, seal and commit: every call must be FENCED and change nothing."""
        old_epochs = list(self.epochs)
        old_last = self.last_completed
        self.recover("latest")
        before = self.table_rows()
        for w in range(self.n):
            stream = self.client.write_stream(TABLE, self.writer_id(w), old_epochs[w])
            rows, n = pr.encode_rows(self.client.schema(TABLE), [("upsert", {"id": w, "name": "zombie",
                                                                              "score": 0.0, "qty": 0})])
            stream.send(rows, n)
            self.expect_fenced("Write", lambda: self.call(stream.ack, retry=False))
            stream.cancel()
            self.expect_fenced("PrepareCommit", lambda: self.call(
                self.client.prepare, TABLE, self.writer_id(w), old_epochs[w], self.next_checkpoint + 100))
            if old_last is not None:
                stale = type(self.completed[old_last]["committables"][w])()
                stale.CopyFrom(self.completed[old_last]["committables"][w])
                stale.epoch = old_epochs[w]
                stale.checkpoint_id = self.next_checkpoint + 100
                self.expect_fenced("Commit", lambda: self.call(self.client.commit, [stale]))
        if self.table_rows() != before:
            raise Violation("a fenced zombie changed the table")

    def expect_fenced(self, what, fn):
        try:
            fn()
        except grpc.RpcError as e:
            if e.code() != FENCED:
                raise Violation(f"a zombie's {what} got {e.code().name} ({e.details()}), "
                                f"expected FAILED_PRECONDITION")
            return
        raise Violation(f"a zombie's {what} with an old epoch succeeded")

    # -- verification ---------------------------------------------------------------------

    def table_rows(self):
        out = self.deltactl("scan", TABLE)
        return {row["id"]: row for row in (json.loads(l) for l in out.splitlines() if l)}

    def verify(self):
        """The table, read by deltactl and by time travel through every retained snapshot,
        equals the model; every append snapshot is one this job's commits created."""
        if self.failed:
            raise RuntimeError("verify needs a restored job")
        compare("latest snapshot (deltactl scan)", self.model, self.table_rows())
        history = self.client.history(TABLE)
        last_model = None
        for s in history:
            if s.kind == "APPEND":
                if s.id not in self.snapshot_models:
                    raise Violation(f"snapshot {s.id} (APPEND, identities "
                                    f"{[(i.writer_id, i.checkpoint_id) for i in s.identities]}) "
                                    f"was created by no commit the job saw succeed: a double commit")
                last_model = self.snapshot_models[s.id]
            if last_model is None:
                continue  # older than anything this job committed (CREATE, or expired history)
            try:
                rows, _ = self.client.scan(TABLE, snapshot_id=s.id)
            except grpc.RpcError as e:
                # Background expiry may remove it between History and Scan.
                if e.code() == grpc.StatusCode.NOT_FOUND and \
                        s.id not in {h.id for h in self.client.history(TABLE)}:
                    continue
                raise
            compare(f"snapshot {s.id} ({s.kind}, time travel)", last_model,
                    {r["id"]: r for r in rows})
        self.log(f"verified {len(self.model)} rows and {len(history)} snapshots")


def compare(where, expected, actual):
    if expected == actual:
        return
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            raise Violation(f"{where}: first differing key id={key}: expected {e}, table has {a} "
                            f"({len(expected)} rows expected, {len(actual)} in the table)")
