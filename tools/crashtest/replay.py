"""Checkpoint replay against real delta-sidecars: the job, the model, the faults.

A Job plays a Flink job with N sink subtasks ("writers") over a seeded source:
each writer owns a disjoint part of the key space (as a keyBy shuffle would
give it) and a deterministic stream of upserts and deletes. Each writer is
placed on one of the cluster's sidecars (the sidecar of its TaskManager) and
writes, seals and aborts there. A checkpoint is PrepareCommit on every
writer; when all prepared, the checkpoint is complete and its committables
(with the sidecar that sealed each) go into the job's checkpoint state; then
ONE Commit of all of them goes through any one sidecar (committer.py,
notifyCheckpointComplete). A failure restores every writer from a
completed checkpoint: RegisterWriter(restored=K) on its sidecar, one
re-commit of K's committables and of what the sidecars report pending, replay
of the source from K's positions. That is Flink's contract for a two-phase
sink.

The model is independent of the sidecar: the expected table is the source's
ops folded, per writer, in the order its checkpoints were confirmed
committed (writers own disjoint keys). A writer's ops up to checkpoint N are
folded exactly once, when a Commit that includes its checkpoint N returns OK
(directly, after a retry, or during a restore); a rewind to an older
savepoint, or a fresh start, folds the replayed ops again, on top of what is
already committed, which is what an upsert table must show. The identity
ledger (identities.py) checks the table's commit identities the same way.

Steps (the scenario vocabulary, see docs/crashtest.md) are executed by
crashtest.run_step; the random mode generates the same steps from a seed.
"""

import bisect
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "connector" / "python"))

from deltasidecar import wire  # noqa: E402
from deltasidecar import rows as pr  # noqa: E402

from cluster import Cluster, Sidecar  # noqa: E402,F401
from committer import Committer  # noqa: E402
from errors import JobFailed, SidecarDown, Violation  # noqa: E402,F401
from identities import Ledger  # noqa: E402

TABLE = "replay"
SCHEMA = "id BIGINT, name STRING, score DOUBLE, qty INT"
KEY = "id"
FENCED = grpc.StatusCode.FAILED_PRECONDITION


def source_op(seed, writers, keys_per_writer, w, i):
    """Op i of writer w: ("upsert", row) or ("delete", key row). Pure function of its arguments."""
    r = random.Random(f"{seed}:{w}:{i}")
    key = w + writers * r.randrange(keys_per_writer)
    if r.random() < 0.15:
        return "delete", {"id": key}
    return "upsert", {"id": key, "name": f"w{w}-op{i}", "score": i * 0.5, "qty": i % 1000}


class Job(Committer):
    """The stream processor and its model; one instance per replay. `placement`:
    the sidecar each writer starts beside (default: all beside sidecar 0)."""

    def __init__(self, cluster, deltactl, seed=1, writers=2, keys=200, batch=50, buckets=4,
                 log=None, placement=None):
        self.cluster = cluster
        self.deltactl = deltactl
        self.seed = seed
        self.n = writers
        self.keys_per_writer = max(1, keys // writers)
        self.batch = batch
        self.buckets = buckets
        self.log = log or (lambda msg: None)
        self.clients = [None] * len(cluster)
        # Flink's side.
        self.place = list(placement or [0] * writers)  # the sidecar each writer runs beside
        self.initial_placement = list(self.place)
        if len(self.place) != writers or not all(0 <= i < len(cluster) for i in self.place):
            raise ValueError(f"placement {self.place}: one sidecar (0-{len(cluster) - 1}) per "
                             f"writer, {writers} writers")
        self.left = [None] * writers        # (sidecar, epoch there) a writer last moved away from
        self.registered_at = [None] * writers  # (sidecar, data-dir generation) of the last registration
        self.epochs = [0] * writers
        self.positions = [0] * writers      # next source op to send, per writer
        self.next_checkpoint = 1
        self.completed = {}                 # checkpoint id -> {"positions", "committables", "holders"}
        self.last_completed = None
        self.committed_through = [None] * writers  # per writer: newest checkpoint confirmed committed
        self.failed = False                 # the job must restore before anything else
        # The model.
        self.models = [{} for _ in range(writers)]   # per writer: id -> row, as committed
        self.versions = [[] for _ in range(writers)]  # per writer: [(snapshot id, frozen model)]
        self.applied = [0] * writers        # source ops folded into the model, per writer
        self.known = set()                  # APPEND snapshots created by this job's commits
        self.verified = set()               # snapshots whose time travel matched the model
        self.ledger = Ledger()
        self.confirmed = set()              # completed checkpoints of this run confirmed for all writers
        # Counters for the summary.
        self.kills = 0
        self.recoveries = 0
        self.wipes = 0
        self.moves = 0
        self.kill_points_hit = set()
        self.checkpoints_committed = 0
        self.init_committer(random.Random(f"{seed}:via"), TABLE)

    # -- plumbing ---------------------------------------------------------------------

    def writer_id(self, w):
        return f"replay-sink/{w}"

    def connect(self, i):
        if self.clients[i] is not None:
            self.clients[i].close()
        self.clients[i] = wire.Client(self.cluster[i].target)

    def disconnect(self, i):
        if self.clients[i] is not None:
            self.clients[i].close()
            self.clients[i] = None

    def any_client(self):
        for i, sc in enumerate(self.cluster):
            if sc.running() and self.clients[i] is not None:
                return self.clients[i]
        raise RuntimeError("no sidecar is running")

    def call(self, i, fn, *args, retry=True, **kwargs):
        """Runs one RPC to sidecar i as a careful client would.

        A failure caused by the process dying raises SidecarDown. UNAVAILABLE or
        DEADLINE_EXCEEDED from a live process (a slow start, an overloaded
        machine) is retried for up to 60 s when `retry` (unary calls are
        idempotent here); otherwise, e.g. for a broken Write stream, the job
        fails over (JobFailed)."""
        sc = self.cluster[i]
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
                    sc.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    if retry and time.monotonic() < deadline and e.code() in (
                            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        self.log(f"{e.code().name} from a live {sc.name}; retrying: {e.details()}")
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 1.0)
                        continue
                    self.failed = True
                    raise JobFailed(f"{e.code().name}: {e.details()}") from e
                self.note_death(i)
                raise SidecarDown(f"{sc.name}: {e.code().name}: {e.details()}") from e

    def note_death(self, i):
        sc = self.cluster[i]
        if sc.death_noted == sc.starts:
            return
        sc.death_noted = sc.starts
        self.kills += 1
        point = sc.kill_point_hit()
        if point:
            self.kill_points_hit.add(point)
            self.log(f"{sc.name} killed at kill point {point}")
        else:
            self.log(f"{sc.name} died")
        self.failed = True

    def arm(self, spec, i=0):
        """Restarts sidecar i (cleanly) with kill point `spec` ("name" or "name:n") armed."""
        self.note_death_if_dead(i)
        if self.failed:
            return
        self.stop_sidecar(i)
        self.cluster[i].start(spec)
        self.connect(i)

    def stop_sidecar(self, i):
        """SIGTERM. The channel closes first: gRPC's graceful shutdown would wait
        for an idle client connection to answer its ping (~5 s in grpc-python)."""
        self.disconnect(i)
        self.cluster[i].stop()

    def last_kill_points(self):
        return [p for p in (sc.kill_point_hit() for sc in self.cluster) if p]

    def kill(self, i=0):
        """SIGKILL sidecar i from outside, now (if it already died, e.g. at a kill
        point in the background, its death is noted)."""
        if self.cluster[i].running():
            self.cluster[i].kill9()
        self.note_death_if_dead(i)

    def note_death_if_dead(self, i):
        if self.cluster[i].proc is not None and not self.cluster[i].running():
            self.note_death(i)

    def start_stopped(self):
        """Starts every sidecar that is down (its pod restarts)."""
        for i, sc in enumerate(self.cluster):
            if not sc.running():
                self.note_death_if_dead(i)
                sc.start()
                self.connect(i)

    def holder(self, i):
        sc = self.cluster[i]
        return (i, sc.generation)

    # -- the job ------------------------------------------------------------------------

    def setup(self):
        self.start_stopped()
        self.clients[0].create_table(TABLE, SCHEMA, KEY, buckets=self.buckets, if_not_exists=True)
        self.register_all(restored=None)

    def register_all(self, restored):
        """Registers every writer on its sidecar; returns the pending seals as
        (holder, writer, committable)."""
        pending = []
        for w in range(self.n):
            i = self.place[w]
            resp = self.call(i, self.clients[i].register, TABLE, self.writer_id(w), restored=restored)
            self.epochs[w] = resp.epoch
            self.registered_at[w] = self.holder(i)
            pending += [(self.holder(i), w, c) for c in resp.pending]
        return pending

    def ops(self, w, start, end):
        return [source_op(self.seed, self.n, self.keys_per_writer, w, i) for i in range(start, end)]

    def write(self, count, writers=None, kill_after_batches=None):
        """Each writer sends `count` source ops in batches, each acknowledged in turn.

        With kill_after_batches=k the writer's sidecar is SIGKILLed after k
        batches were sent, before their acknowledgement is read ("during writes").
        """
        sent = 0
        for w in (range(self.n) if writers is None else writers):
            i = self.place[w]
            client = self.clients[i]
            schema = self.call(i, client.schema, TABLE)
            stream = client.write_stream(TABLE, self.writer_id(w), self.epochs[w])
            end = self.positions[w] + count
            try:
                while self.positions[w] < end:
                    hi = min(end, self.positions[w] + self.batch)
                    rows, n = pr.encode_rows(schema, self.ops(w, self.positions[w], hi))
                    seq = stream.send(rows, n)
                    sent += 1
                    if kill_after_batches is not None and sent >= kill_after_batches:
                        self.kill(i)
                    ack = self.call(i, stream.ack, retry=False)
                    if ack.batch_seq != seq or ack.rows_staged != n:
                        raise Violation(f"write ack {ack.batch_seq}/{ack.rows_staged} for batch {seq} "
                                        f"of {n} rows")
                    self.positions[w] = hi
                self.call(i, stream.finish, retry=False)
            finally:
                stream.cancel()

    def checkpoint(self, lose_answer=False, retries=0, complete=True, abort=False,
                   kill_during=None, after_ms=0, via=None, kill_sidecar=None,
                   await_prepared=False):
        """PrepareCommit on every writer; when all prepared: complete, then one
        Commit of every writer's committable through sidecar `via` (default: one
        picked at random). With `await_prepared`, first waits until every sealed
        checkpoint of the round is prepared in the table root (its sidecar
        wrote it in the background), so that what follows finds it there.

        kill_during="prepare" or "commit" SIGKILLs a sidecar `after_ms` after
        the first PrepareCommit (writer 0's sidecar) or the Commit was sent
        (sidecar `kill_sidecar`, default `via`), whether it answered or not.
        """
        cid = self.next_checkpoint
        self.next_checkpoint += 1
        committables, holders = [], []
        for w in range(self.n):
            i = self.place[w]
            holders.append(self.holder(i))
            if kill_during == "prepare" and w == 0:
                committables.append(self.killing(i, after_ms, self.clients[i]._prepare,
                                                 wire.pb().PrepareCommitRequest(
                                                     table=TABLE, writer_id=self.writer_id(w),
                                                     epoch=self.epochs[w], checkpoint_id=cid)))
                continue
            committables.append(self.call(i, self.clients[i].prepare, TABLE, self.writer_id(w),
                                          self.epochs[w], cid))
        for w, c in enumerate(committables):
            if c.checkpoint_id != cid or c.epoch != self.epochs[w]:
                raise Violation(f"PrepareCommit({cid}) of writer {w} answered {c}")
        self.ledger.prepared(committables)
        if await_prepared:
            self.await_prepared(committables)
        if abort:
            self.abort(cid, committables, holders, via)
            return
        if not complete:
            return
        self.completed[cid] = {"positions": list(self.positions), "committables": committables,
                               "holders": holders}
        self.last_completed = cid
        items = [(holders[w], w, committables[w]) for w in range(self.n)]
        self.commit(cid, items, lose_answer=lose_answer, retries=retries, via=via,
                    kill=kill_sidecar, kill_after_ms=after_ms if kill_during == "commit" else None)

    def abort(self, cid, committables, holders, via=None):
        """The checkpoint is declined (another operator failed it): abort it
        everywhere; a Commit of the aborted committables must then be refused
        (Committer.check_aborted). The job then restores from the last
        completed checkpoint."""
        for w in range(self.n):
            i = self.place[w]
            self.call(i, self.clients[i].abort, TABLE, self.writer_id(w), self.epochs[w], cid)
        self.failed = True
        self.check_aborted(cid, committables, holders, via)

    def killing(self, i, after_ms, method, request):
        """Sends `request` to sidecar i, SIGKILLs it after `after_ms`, returns the
        answer if one came first (else raises SidecarDown). Commits: see
        Committer.commit."""
        future = method.future(request, timeout=wire.CALL_TIMEOUT)
        time.sleep(after_ms / 1000.0)
        self.kill(i)
        return self.call(i, future.result, retry=False)

    def observe_history(self):
        """Shows the ledger the table's retained snapshots, read through a live sidecar."""
        for j, sc in enumerate(self.cluster):
            if sc.running() and self.clients[j] is not None:
                try:
                    self.ledger.observe(self.history(j))
                    return
                except JobFailed:
                    continue

    def history(self, j):
        """History through sidecar j. Background expiry may remove a snapshot while
        History loads the retained ones (it then answers NOT_FOUND): read again."""
        for attempt in range(20):
            try:
                return self.call(j, self.clients[j].history, TABLE)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND or attempt == 19:
                    raise
                self.log(f"History raced expiry ({e.details()}); reading again")
                time.sleep(0.02)

    def settled(self):
        """Every writer's newest completed checkpoint is confirmed committed."""
        return self.last_completed is None or all(c == self.last_completed
                                                  for c in self.committed_through)

    def recover(self, restore="latest"):
        """Restarts the sidecars that are down, then restores the job (Flink's failover)."""
        self.start_stopped()
        if restore != "latest" and not self.settled():
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
        self.log(f"restore from {'the start' if k is None else f'checkpoint {k}'}, "
                 f"writers on {self.place}")
        pending = self.register_all(restored=k)
        if k is None:
            if pending:
                raise Violation(f"a fresh start got pending committables {[c for _, _, c in pending]}")
            if any(c is not None for c in self.committed_through):
                raise Violation("a fresh start after committed checkpoints")
            self.positions = [0] * self.n
            self.failed = False
            return
        items = list(pending)
        state = self.completed[k]
        for w in range(self.n):
            holder = state["holders"][w]
            confirmed = self.committed_through[w] is not None and self.committed_through[w] >= k
            if holder[0] != self.place[w] and confirmed:
                continue  # sealed on a sidecar the writer left, and known to be in the table
            items.append((holder, w, state["committables"][w]))
        self.commit(k, items)
        for w in range(self.n):
            if self.committed_through[w] is not None and k < self.committed_through[w]:
                # A rewind: the replayed ops will be committed (and folded) again.
                self.applied[w] = state["positions"][w]
                self.committed_through[w] = k
        self.forget_after(k)
        self.positions = list(state["positions"])
        if restore != "latest":
            # Flink restarts the checkpoint counter after a savepoint's id.
            self.next_checkpoint = k + 1
        self.failed = False

    def forget_after(self, k):
        for c in [c for c in self.completed if k is None or c > k]:
            del self.completed[c]
        self.confirmed = {c for c in self.confirmed if k is not None and c <= k}
        self.last_completed = k

    def fresh_start(self):
        """The job starts over without a restored checkpoint (a new job with the
        same operator uids): every writer registers fresh and the source replays
        from its start, with checkpoint ids from 1 again. The table keeps what
        was committed; the replayed ops are folded on top."""
        if not self.settled():
            self.recover("latest")  # an ambiguous commit is settled first
        self.start_stopped()
        self.recoveries += 1
        self.log(f"fresh start, writers on {self.place}")
        pending = self.register_all(restored=None)
        if pending:
            raise Violation(f"a fresh start got pending committables {[c for _, _, c in pending]}")
        self.forget_after(None)
        self.next_checkpoint = 1
        self.positions = [0] * self.n
        self.applied = [0] * self.n
        self.committed_through = [None] * self.n
        self.failed = False

    def wipe_data_dir(self, i, sig="TERM"):
        """Ends sidecar i (SIGTERM or SIGKILL), replaces its data dir with an empty
        one and starts it again on the same table root: a pod replaced without
        its staging volume. The job fails over. The last completed checkpoint is
        committed first (restoring if needed): its seals would go with the dir."""
        if not self.settled():
            self.recover("latest")
        if sig == "KILL":
            self.kill(i)
        elif self.cluster[i].running():
            self.stop_sidecar(i)
            self.kills += 1  # the process ended: counted as a kill
        self.failed = True
        self.disconnect(i)
        self.cluster[i].wipe_data_dir()
        self.log(f"{self.cluster[i].name}: data dir replaced by an empty one (SIG{sig})")
        self.wipes += 1
        for w in range(self.n):
            if self.left[w] is not None and self.left[w][0] == i:
                self.left[w] = None  # the sidecar no longer knows the writer: nothing to fence
        self.cluster[i].start()
        self.connect(i)

    def move(self, writers, to, restore="latest"):
        """The job restores (from `restore`, as recover) with `writers` placed on
        sidecar `to`; the sidecar each leaves keeps its state (a zombie there
        must be fenced). The last completed checkpoint need not be committed:
        a moved writer's part of it is committed from the table root, with the
        other writers' part, by the restored committables' Commit."""
        for w in writers:
            if self.place[w] != to:
                # A zombie can only act where the writer is registered: not on a
                # sidecar whose data dir was replaced since it registered there.
                known = self.registered_at[w] == self.holder(self.place[w])
                self.left[w] = (self.place[w], self.epochs[w]) if known else None
                self.log(f"writer {w} moves from {self.cluster[self.place[w]].name} to "
                         f"{self.cluster[to].name}")
                self.place[w] = to
                self.moves += 1
        self.failed = True
        self.recover(restore)

    def zombie(self):
        """Restores the job while keeping the old epochs, then lets the old tasks try to
        write, seal and commit: every call must be FENCED and change nothing. A
        writer that moved is also tried on the sidecar it left, with the epoch it
        had there: its PrepareCommit must be FENCED. The old tasks had also sealed
        a checkpoint that never completed and that the restore dropped: its
        Commit, through every sidecar, must not succeed either, although its
        prepared files may still be in the table root."""
        old_epochs = list(self.epochs)
        old_last = self.last_completed
        orphans = [] if self.failed else self.orphan_checkpoint()
        self.recover("latest")
        before = self.table_rows()
        for i, c in orphans:
            for j in range(len(self.cluster)):
                self.expect_refused(f"a zombie's Commit of checkpoint {c.checkpoint_id} of "
                                    f"{c.writer_id} (sealed on {self.cluster[i].name} with epoch "
                                    f"{c.epoch}, dropped by the restore)", j, [c], [i],
                                    strict=(j == i))
        for w in range(self.n):
            i = self.place[w]
            client = self.clients[i]
            schema = self.call(i, client.schema, TABLE)
            stream = client.write_stream(TABLE, self.writer_id(w), old_epochs[w])
            rows, n = pr.encode_rows(schema, [("upsert", {"id": w, "name": "zombie", "score": 0.0,
                                                          "qty": 0})])
            stream.send(rows, n)
            self.expect_fenced("Write", lambda: self.call(i, stream.ack, retry=False))
            stream.cancel()
            self.expect_fenced("PrepareCommit", lambda: self.call(
                i, client.prepare, TABLE, self.writer_id(w), old_epochs[w], self.next_checkpoint + 100))
            if old_last is not None:
                stale = type(self.completed[old_last]["committables"][w])()
                stale.CopyFrom(self.completed[old_last]["committables"][w])
                stale.epoch = old_epochs[w]
                stale.checkpoint_id = self.next_checkpoint + 100
                self.expect_fenced("Commit", lambda: self.call(i, client.commit, [stale]))
        for w in range(self.n):
            if self.left[w] is None or self.left[w][0] == self.place[w]:
                continue
            j, epoch = self.left[w]
            self.expect_fenced(f"PrepareCommit on {self.cluster[j].name} (which writer {w} left, "
                               f"with the epoch {epoch} it had there)",
                               lambda: self.call(j, self.clients[j].prepare, TABLE, self.writer_id(w),
                                                 epoch, self.next_checkpoint + 200),
                               unsealed_lost_ok=True)
        if self.table_rows() != before:
            raise Violation("a fenced zombie changed the table")

    def orphan_checkpoint(self):
        """Every writer writes a little and seals one more checkpoint, which never
        completes (the job fails during it); returns [(sidecar, committable)] once
        each is prepared in the table root."""
        self.write(20)
        cid = self.next_checkpoint
        self.next_checkpoint += 1
        out = [(self.place[w], self.call(self.place[w], self.clients[self.place[w]].prepare, TABLE,
                                         self.writer_id(w), self.epochs[w], cid))
               for w in range(self.n)]
        self.await_prepared([c for _, c in out])
        return out

    def expect_fenced(self, what, fn, unsealed_lost_ok=False):
        """`fn` must fail FAILED_PRECONDITION (or, with unsealed_lost_ok, ABORTED
        unsealed-lost: the sidecar restarted since and refuses the writer anyway)."""
        try:
            got = fn()
        except grpc.RpcError as e:
            reasons = [v for k, v in (e.trailing_metadata() or ()) if k == "delta-sidecar-reason"]
            if unsealed_lost_ok and e.code() == grpc.StatusCode.ABORTED and "unsealed-lost" in reasons:
                return
            if e.code() != FENCED:
                raise Violation(f"a zombie's {what} got {e.code().name} ({e.details()}), "
                                f"expected FAILED_PRECONDITION")
            return
        raise Violation(f"a zombie's {what} succeeded: "
                        f"{str(got).strip() or 'OK'}".replace("\n", " "))

    # -- verification ---------------------------------------------------------------------

    def model(self):
        """The expected table now: every writer's committed rows."""
        out = {}
        for m in self.models:
            out.update(m)
        return out

    def model_at(self, snapshot_id):
        """The expected table at a snapshot: each writer's rows as of its newest
        commit at or before that snapshot."""
        out = {}
        for versions in self.versions:
            i = bisect.bisect_right(versions, snapshot_id, key=lambda v: v[0])
            if i:
                out.update(versions[i - 1][1])
        return out

    def table_rows(self):
        out = self.deltactl("scan", TABLE)
        return {row["id"]: row for row in (json.loads(l) for l in out.splitlines() if l)}

    def verify(self):
        """The table, read by deltactl and by time travel through every retained snapshot,
        equals the model; every append snapshot is one this job's commits created; the
        identity ledger agrees with the table's identities and writers map."""
        if self.failed:
            raise RuntimeError("verify needs a restored job")
        model = self.model()
        compare("latest snapshot (deltactl scan)", model, self.table_rows())
        client = self.any_client()
        history = self.history(self.clients.index(client))
        self.ledger.observe(history)
        self.ledger.check_table(json.loads(self.deltactl("describe", TABLE))["writers"])
        for s in history:
            if s.kind == "APPEND" and s.id not in self.known:
                raise Violation(f"snapshot {s.id} (APPEND, identities "
                                f"{[(i.writer_id, i.checkpoint_id) for i in s.identities]}) "
                                f"was created by no commit the job saw succeed: a double commit")
            if s.id in self.verified:
                # Snapshots are immutable, and the model at a snapshot only changes
                # when a commit is learned late (at the restore after its answer was
                # lost), whose snapshot is newer than any verified before.
                continue
            try:
                rows, _ = client.scan(TABLE, snapshot_id=s.id)
            except grpc.RpcError as e:
                # Background expiry may remove it between History and Scan.
                if e.code() == grpc.StatusCode.NOT_FOUND and \
                        s.id not in {h.id for h in self.history(self.clients.index(client))}:
                    continue
                raise
            compare(f"snapshot {s.id} ({s.kind}, time travel)", self.model_at(s.id),
                    {r["id"]: r for r in rows})
            self.verified.add(s.id)
        self.log(f"verified {len(model)} rows and {len(history)} snapshots")


def compare(where, expected, actual):
    if expected == actual:
        return
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            raise Violation(f"{where}: first differing key id={key}: expected {e}, table has {a} "
                            f"({len(expected)} rows expected, {len(actual)} in the table)")
