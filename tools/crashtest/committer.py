"""The job's committer: one Commit per checkpoint, through any one sidecar.

As in Flink with a pre-commit topology (or Paimon's and Iceberg's single
committer), a completed checkpoint is committed by ONE Commit that carries the
committables of every writer, wherever each was sealed: all sidecars share the
table root, a sealed checkpoint is turned into table files in the background by
the sidecar that sealed it, and any sidecar publishes them. The sidecar a
Commit goes through is chosen at random per checkpoint (a scenario may name
it), so it is often one that sealed none of the committables.

Mixed into replay.Job, whose state (cluster, clients, ledger, model) it reads
and whose model it settles with each answer.
"""

import bisect
import time
from pathlib import Path

import grpc

from deltasidecar import wire

from errors import JobFailed, SidecarDown, Violation

FENCED = grpc.StatusCode.FAILED_PRECONDITION

# Codes a Commit is retried on as it is (docs/protocol.md, Commit): UNAVAILABLE
# (also: a sealed checkpoint of another sidecar is not in the table root yet),
# ABORTED, DEADLINE_EXCEEDED.
COMMIT_RETRY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
                grpc.StatusCode.DEADLINE_EXCEEDED)
# How long a Commit may keep answering a retryable code while the committing
# sidecar and every sidecar that sealed one of its checkpoints are alive.
COMMIT_PATIENCE_S = 90


class Committer:
    """The commit side of replay.Job (a mixin: init_committer() sets it up)."""

    def init_committer(self, rng, table):
        self.table = table
        self.via_rng = rng                 # picks the committing sidecar when no step names one
        self.commits_sent = 0              # Commit calls of checkpoints (first tries)
        self.commits_remote = 0            # ... through a sidecar that sealed none of them
        self.commits_spanning = 0          # ... of seals made on two or more sidecars

    def pick_via(self, running_only=False):
        choices = [i for i, sc in enumerate(self.cluster) if sc.running() or not running_only]
        return self.via_rng.choice(choices or range(len(self.cluster)))

    def name_gen(self, holder):
        return (self.cluster[holder[0]].name, holder[1])

    def commit_call(self, via, committables, holders, retry=True, send=None):
        """Commit through sidecar `via` (`send`, if given, makes the call: the
        answer of one sent before). A retryable answer is retried for up to
        COMMIT_PATIENCE_S; if meanwhile a sidecar in `holders` (those that sealed
        the committables) is found dead, the job fails over (its restore commits
        again); if they all stay alive, a Commit that never succeeds is a
        violation: the sealed checkpoints' files never reached the table root."""
        sc = self.cluster[via]
        deadline = time.monotonic() + COMMIT_PATIENCE_S
        backoff = 0.05
        while True:
            try:
                if send is not None:
                    return send()
                return self.clients[via].commit(committables)
            except grpc.RpcError as e:
                code = e.code()
                if code not in COMMIT_RETRY + (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                                               grpc.StatusCode.INTERNAL):
                    raise  # the server's own answer
                if not sc.running() or self.exited_within(via, 0.5):
                    self.note_death(via)
                    raise SidecarDown(f"{sc.name}: {code.name}: {e.details()}") from e
                dead = [j for j in holders if not self.cluster[j].running()]
                for j in dead:
                    self.note_death(j)
                if dead:
                    raise SidecarDown(f"Commit through {sc.name} answered {code.name} "
                                      f"({e.details()}) while {self.cluster[dead[0]].name}, which "
                                      f"sealed some of its checkpoints, is down") from e
                if code not in COMMIT_RETRY or not retry:
                    self.failed = True
                    raise JobFailed(f"Commit through {sc.name}: {code.name}: {e.details()}") from e
                if time.monotonic() > deadline:
                    raise Violation(f"Commit through {sc.name} answered {code.name} for "
                                    f"{COMMIT_PATIENCE_S} s while every sidecar that sealed its "
                                    f"checkpoints was alive: {e.details()}") from e
                self.log(f"Commit through {sc.name}: {code.name}; retrying: {e.details()}")
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    def exited_within(self, i, seconds):
        try:
            self.cluster[i].proc.wait(timeout=seconds)
            return True
        except Exception:  # noqa: BLE001  (subprocess.TimeoutExpired)
            return False

    def commit(self, cid, items, lose_answer=False, retries=0, via=None, kill=None,
               kill_after_ms=None):
        """Commits `items` ((holder, writer, committable)) for checkpoint `cid` in
        ONE Commit through sidecar `via` (default: one picked at random) and settles
        the model with its answer. With kill_after_ms, sidecar `kill` (default
        `via`) is SIGKILLed that long after the Commit was sent. A lost answer
        (`lose_answer`) and `retries` send the same Commit again, each through a
        sidecar picked at random: every retry must answer already_committed with
        the first snapshot id."""
        if not items:
            return
        via = self.pick_via() if via is None else via
        committables = [c for _, _, c in items]
        holders = sorted({h[0] for h, _, _ in items})
        what = f"Commit of checkpoint {cid} through {self.cluster[via].name}"
        self.commits_sent += 1
        self.commits_remote += via not in holders
        self.commits_spanning += len(holders) > 1
        fresh = self.ledger.fresh([(self.name_gen(h), c) for h, _, c in items])
        self.log(f"{what}: {len(items)} committables sealed on "
                 f"{[self.cluster[j].name for j in holders]}")
        if kill_after_ms is not None:
            target = via if kill is None else kill
            future = self.clients[via]._commit.future(
                wire.pb().CommitRequest(committables=committables), timeout=wire.CALL_TIMEOUT)
            time.sleep(kill_after_ms / 1000.0)
            self.kill(target)
            resp = self.commit_call(via, committables, holders, retry=False, send=future.result)
        else:
            resp = self.commit_call(via, committables, holders)
        first = resp.commits[0].snapshot_id
        if lose_answer:
            retries = max(retries, 1)  # the answer never arrived: the committer retries
        for _ in range(retries):
            j = self.pick_via(running_only=True)
            again = self.commit_call(j, committables, holders).commits[0]
            if again.snapshot_id != first or not again.already_committed:
                raise Violation(f"retried Commit({cid}) through {self.cluster[j].name} answered "
                                f"snapshot {again.snapshot_id} already_committed="
                                f"{again.already_committed}; the first answer ({what}) was "
                                f"snapshot {first}")
        self.settle(cid, what, items, resp.commits[0], fresh)

    def settle(self, cid, what, items, answer, fresh):
        """A Commit of `items` for checkpoint `cid` answered OK."""
        snap, already = answer.snapshot_id, answer.already_committed
        if not already:
            self.observe_history()
        self.ledger.check_commit(what, fresh, snap, already)
        self.ledger.acknowledge(what, [(self.name_gen(h), c) for h, _, c in items])
        new = sorted({w for _, w, _ in items
                      if self.committed_through[w] is None or cid > self.committed_through[w]})
        if not new:
            if not already:
                raise Violation(f"{what}, committed before, answered already_committed=false with "
                                f"snapshot {snap}: committed twice")
            if snap not in self.known:
                raise Violation(f"{what}, committed before, answered snapshot {snap}, which no "
                                f"commit of this job created")
            return
        if snap in self.known:
            raise Violation(f"{what} answered snapshot {snap}, which an earlier commit already "
                            f"created")
        for w in new:
            target = self.completed[cid]["positions"][w]
            model = self.models[w]
            for kind, row in self.ops(w, self.applied[w], target):
                if kind == "upsert":
                    model[row["id"]] = row
                else:
                    model.pop(row["id"], None)
            self.applied[w] = target
            self.committed_through[w] = cid
            # Snapshot ids follow the table's order: a commit whose answer was lost
            # and is learned later still sorts before the snapshots made since.
            bisect.insort(self.versions[w], (snap, dict(model)), key=lambda v: v[0])
        self.known.add(snap)
        if all(c is not None and c >= cid for c in self.committed_through):
            done = {c for c in self.completed if c <= cid} - self.confirmed
            self.checkpoints_committed += len(done)
            self.confirmed |= done

    # -- what must not commit ---------------------------------------------------------

    def check_aborted(self, cid, committables, holders, via=None):
        """After every writer aborted checkpoint `cid`: its committables must not
        commit, together through `via` (default: a random sidecar), each alone
        through the sidecar that sealed it (FAILED_PRECONDITION: it knows the
        abort), and each alone through another sidecar, which may only know the
        checkpoint from its prepared file in the table root (written before the
        abort): FAILED_PRECONDITION, or UNAVAILABLE when it finds no file."""
        hs = sorted({h[0] for h in holders})
        via = self.pick_via(running_only=True) if via is None else via
        self.expect_refused(f"Commit of aborted checkpoint {cid} of every writer", via,
                            committables, hs, strict=False)
        for c, h in zip(committables, holders):
            self.expect_refused(f"Commit of aborted checkpoint {cid} of {c.writer_id}", h[0], [c],
                                [h[0]], strict=True)
            if len(self.cluster) > 1:
                other = (h[0] + 1) % len(self.cluster)
                self.expect_refused(f"Commit of aborted checkpoint {cid} of {c.writer_id} (sealed "
                                    f"on {self.cluster[h[0]].name})", other, [c], [h[0]],
                                    strict=False)

    def expect_refused(self, what, via, committables, holders, strict):
        """A Commit through `via` that must not succeed: FAILED_PRECONDITION, or
        (not `strict`) a retryable answer to its one attempt."""
        what = f"{what} through {self.cluster[via].name}"
        try:
            resp = self.commit_call(via, committables, holders, retry=False)
        except SidecarDown:
            raise
        except JobFailed as e:
            if strict:
                raise Violation(f"{what}: {e}, expected FAILED_PRECONDITION") from None
            self.log(f"{what}: {e}")
            return
        except grpc.RpcError as e:
            if e.code() != FENCED:
                raise Violation(f"{what} got {e.code().name} ({e.details()}), expected "
                                f"FAILED_PRECONDITION") from None
            return
        tc = resp.commits[0]
        raise Violation(f"{what} answered OK: snapshot {tc.snapshot_id}, already_committed="
                        f"{tc.already_committed}")

    def await_prepared(self, committables, timeout=60):
        """Waits for the prepared checkpoint file of each committable
        (docs/table-format.md §10.5: prepared/<identity hash>-<id>-<checksum>)."""
        prepared = Path(self.cluster.table_root) / self.table / "prepared"
        deadline = time.monotonic() + timeout
        for c in committables:
            name = f"*-{c.checkpoint_id:020d}-{c.checksum:016x}"
            while not [p for p in prepared.glob(name) if not p.name.startswith(".")]:
                if time.monotonic() > deadline:
                    raise Violation(f"checkpoint {c.checkpoint_id} of {c.writer_id} was not "
                                    f"prepared in {prepared} within {timeout} s")
                time.sleep(0.01)
