"""The identity ledger: what the table's commit identities must show.

Every APPEND snapshot records the identities `(writer identity, checkpoint
id)` it committed, and the latest snapshot's `writers` map holds each
identity's highest committed checkpoint, also after the snapshots that
committed them expired (docs/table-format.md §10.3). The ledger holds the
job's side of that record and checks, independently of the rows:

- no identity is recorded by two APPEND snapshots (committed twice);
- a checkpoint is one snapshot whatever the number of sidecars: an APPEND
  snapshot that records one writer's checkpoint records every writer's
  checkpoint of the same round (the committables of all writers that
  PrepareCommit answered for it), never a subset, and records no checkpoint
  that not every writer prepared;
- a checkpoint the job was told is committed (an OK Commit) is in the table
  under its committable's identity, and the job was never told so for two
  different seals of one identity (the table holds one of them: the rows of
  the other were never written);
- a committable sent to Commit for the first time is written by that Commit:
  the answer is not `already_committed`, and the new snapshot records it.

A seal is named by the sidecar that holds it, that sidecar's data-dir
generation, and the committable's identity, checkpoint, epoch, rows and
checksum, so a seal made again after a wipe is a different seal even when
its bytes are the same. The sidecar a Commit goes through plays no part: any
sidecar on the table root commits any writer's sealed checkpoints.
"""

from errors import Violation


class Ledger:
    """`holder` below is (sidecar name, data-dir generation) of the sidecar that
    sealed; `items` are (holder, committable) pairs."""

    def __init__(self):
        self.acked = {}         # (identity, checkpoint) -> (seal, description)
        self.sent = set()       # seals sent to a Commit at least once
        self.appends = {}       # APPEND snapshot id -> {(identity, checkpoint)}
        self.recorded_by = {}   # (identity, checkpoint) -> APPEND snapshot id
        self.rounds = {}        # (identity, checkpoint) -> every writer's of its prepare round

    @staticmethod
    def key(c):
        return (c.identity or c.writer_id, c.checkpoint_id)

    @staticmethod
    def seal(c, holder):
        return (*holder, c.identity, c.checkpoint_id, c.epoch, c.rows, c.checksum)

    @staticmethod
    def describe(c, holder):
        return (f"{c.writer_id} checkpoint {c.checkpoint_id} as '{c.identity}', epoch {c.epoch}, "
                f"{c.rows} rows, checksum {c.checksum:x}, sealed on {holder[0]} "
                f"(data dir generation {holder[1]})")

    def prepared(self, committables):
        """PrepareCommit answered for every writer of one checkpoint round: these
        identities are committed together or not at all. A round that reuses an
        identity and checkpoint id (a restore replaced the uncommitted seals)
        replaces the older round."""
        keys = frozenset(self.key(c) for c in committables)
        for k in keys:
            self.rounds[k] = keys

    def fresh(self, items):
        """The items no Commit was ever sent for; marks them all as sent."""
        out = [(h, c) for h, c in items if self.seal(c, h) not in self.sent]
        self.sent.update(self.seal(c, h) for h, c in items)
        return out

    def observe(self, history):
        """Records the APPEND snapshots of `history` (a History answer) and checks
        that each is made of whole checkpoint rounds."""
        for s in history:
            if s.kind != "APPEND" or s.id in self.appends:
                continue
            ids = {(i.writer_id, i.checkpoint_id) for i in s.identities}
            self.appends[s.id] = ids
            for ident in sorted(ids):
                other = self.recorded_by.setdefault(ident, s.id)
                if other != s.id:
                    raise Violation(f"identity '{ident[0]}' checkpoint {ident[1]} is recorded by two "
                                    f"APPEND snapshots, {other} and {s.id}: committed twice")
            for ident in sorted(ids):
                whole = self.rounds.get(ident)
                if whole is None:
                    raise Violation(f"APPEND snapshot {s.id} records '{ident[0]}' checkpoint "
                                    f"{ident[1]}, which not every writer prepared (it records "
                                    f"{sorted(ids)})")
                if not whole <= ids:
                    raise Violation(f"APPEND snapshot {s.id} records {sorted(ids)}: a subset of "
                                    f"checkpoint {ident[1]}, whose writers are {sorted(whole)} "
                                    f"(missing {sorted(whole - ids)}); one checkpoint must be one "
                                    f"snapshot")

    def check_commit(self, what, fresh, snapshot_id, already):
        """A Commit answered OK: an item sent for the first time must have been written."""
        if not fresh:
            return
        if already:
            raise Violation(
                f"{what}: Commit answered already_committed=true (snapshot {snapshot_id}) for "
                f"{self.describe(fresh[0][1], fresh[0][0])}, which no Commit was sent for before: "
                f"its rows were not written"
                + (f" (and {len(fresh) - 1} more)" if len(fresh) > 1 else ""))
        ids = self.appends.get(snapshot_id)
        if ids is None:
            return  # expired before it was seen: the writers map is checked at verify
        for h, c in fresh:
            if (c.identity, c.checkpoint_id) not in ids:
                raise Violation(
                    f"{what}: Commit answered already_committed=false with snapshot {snapshot_id}, "
                    f"which does not record {self.describe(c, h)} (it records "
                    f"{sorted(ids)}): that checkpoint was skipped")

    def acknowledge(self, what, items):
        """The job was told these committables are in the table."""
        for h, c in items:
            key = (c.identity, c.checkpoint_id)
            seal, desc = self.seal(c, h), self.describe(c, h)
            prev = self.acked.setdefault(key, (seal, desc))
            if prev[0] != seal:
                raise Violation(
                    f"{what}: Commit answered OK for {desc}, but the job was told before that "
                    f"'{c.identity}' checkpoint {c.checkpoint_id} is committed from another seal "
                    f"({prev[1]}); the table holds one, the other's rows were never written")

    def check_table(self, writers):
        """Every acknowledged checkpoint is in the table. `writers`: the latest
        snapshot's writers map (identity -> {"checkpoint", "snapshot"})."""
        for (ident, cid), (_, desc) in sorted(self.acked.items()):
            if (ident, cid) in self.recorded_by:
                continue
            w = writers.get(ident)
            if w is None or w["checkpoint"] < cid:
                raise Violation(f"the job was told {desc} is committed, but no snapshot seen records "
                                f"it and the table's writers map has {ident!r}: {w}")
