"""Random histories of upserts, deletes and schema changes (ADD, DROP, RENAME,
widening ALTER COLUMN ... TYPE) checked against an in-test model: every
snapshot read by time travel equals the model under that snapshot's own
schema, before and after compactions, and `get` agrees."""

import json
import random

import pytest

EXIT_NOT_FOUND = 3
WIDER = {"INT": "BIGINT", "FLOAT": "DOUBLE"}
# Values that every type of its family holds exactly (FLOAT ones are binary fractions).
VALUES = {
    "INT": lambda r: r.randint(-2**31, 2**31 - 1),
    "BIGINT": lambda r: r.randint(-2**63, 2**63 - 1),
    "FLOAT": lambda r: r.choice([0.5, -1.25, 3.0, 1024.125, -0.0]),
    "DOUBLE": lambda r: r.choice([0.1, -2.75, 1e300, 3.0]),
    "STRING": lambda r: r.choice(["", "a", "é", "x" * 40, "\u0000z"]),
}


class SchemaModel:
    """Columns as (id, name, type); values are kept by column id, so a column
    dropped and added again under its old name starts empty."""

    def __init__(self):
        self.columns = [(0, "id", "BIGINT"), (1, "a", "INT"), (2, "b", "STRING"), (3, "c", "FLOAT")]
        self.last_id = 3
        self.names = 0
        self.kinds = []     # the kinds of change made, in order
        self.readded = 0    # columns added under a name dropped before

    def value_columns(self):
        return self.columns[1:]

    def fresh_name(self):
        self.names += 1
        return f"col{self.names}"

    def random_change(self, rng):
        """One change as deltactl alter takes it, applied to the model."""
        values = self.value_columns()
        kinds = ["add", "rename"] + (["drop"] if len(values) > 1 else [])
        if any(t in WIDER for _, _, t in values):
            kinds.append("widen")
        kind = rng.choice(kinds)
        self.kinds.append(kind)
        if kind == "add":
            # Sometimes a name that was dropped before: it must not bring old values back.
            dropped = [n for n in ("a", "b", "c") if n not in [c[1] for c in self.columns]]
            name = rng.choice(dropped) if dropped and rng.random() < 0.5 else self.fresh_name()
            self.readded += name in dropped
            typ = rng.choice(list(VALUES))
            self.last_id += 1
            col = (self.last_id, name, typ)
            if rng.random() < 0.5:
                after = rng.randrange(len(self.columns))
                self.columns.insert(after + 1, col)
                return f"ADD COLUMN {name} {typ} AFTER {self.columns[after][1]}"
            self.columns.append(col)
            return f"ADD COLUMN {name} {typ}"
        if kind == "drop":
            i = rng.randrange(1, len(self.columns))
            name = self.columns.pop(i)[1]
            return f"DROP COLUMN {name}"
        if kind == "rename":
            i = rng.randrange(len(self.columns))
            cid, old, typ = self.columns[i]
            new = self.fresh_name()
            self.columns[i] = (cid, new, typ)
            return f"RENAME COLUMN {old} TO {new}"
        i = rng.choice([i for i, c in enumerate(self.columns) if i > 0 and c[2] in WIDER])
        cid, name, typ = self.columns[i]
        self.columns[i] = (cid, name, WIDER[typ])
        return f"ALTER COLUMN {name} TYPE {WIDER[typ]}"


def render(columns, stored):
    """A stored row (column id -> value) as the scan prints it under `columns`."""
    return {name: stored.get(cid) for cid, name, _ in columns}


@pytest.mark.parametrize("seed", [42, 2024, 31337])
def test_random_history_with_schema_changes(dt, seed):
    rng = random.Random(seed)
    model = SchemaModel()
    dt.create("t", "id BIGINT, a INT, b STRING, c FLOAT", "id", buckets=3)
    state = {}  # key -> {column id: value}
    snapshots = {0: (list(model.columns), {})}  # id -> (columns, state)
    alters = 0
    for step in range(36):
        if step % 4 == 3:
            changes = [model.random_change(rng) for _ in range(rng.randint(1, 2))]
            out = dt.run(["alter", "t", *changes]).stdout
            sid = int(out.split("(snapshot ")[1].split(")")[0])
            alters += 1
        else:
            rows = []
            key_name = model.columns[0][1]  # the key column may have been renamed
            for _ in range(rng.randint(1, 12)):
                key = rng.randint(0, 30)
                if rng.random() < 0.2:
                    rows.append({key_name: key, "_op": "delete"})
                    state.pop(key, None)
                    continue
                stored = {0: key}
                row = {key_name: key}
                for cid, name, typ in model.value_columns():
                    if rng.random() < 0.8:
                        v = VALUES[typ](rng)
                        stored[cid] = v
                        row[name] = v
                rows.append(row)
                state[key] = stored
            sid = dt.import_rows("t", rows, extra=["--no-maintenance"])
        snapshots[sid] = (list(model.columns), {k: dict(v) for k, v in state.items()})
        if step in (17, 29):
            dt.run(["compact", "t", "--full"])

    assert alters == 9
    # The history exercised every kind of change, and a name dropped and added again.
    assert set(model.kinds) == {"add", "drop", "rename", "widen"}, model.kinds
    assert model.readded >= 1
    history = dt.history("t")
    assert sum(h["kind"] == "ALTER" for h in history) == alters
    for sid, (columns, st) in sorted(snapshots.items()):
        expected = [render(columns, st[k]) for k in sorted(st)]
        got = dt.scan("t", snapshot=sid)
        assert got == expected, f"snapshot {sid} differs from the model"
        assert all(list(r) == [c[1] for c in columns] for r in got)
    columns, st = snapshots[max(snapshots)]
    assert dt.scan("t") == [render(columns, st[k]) for k in sorted(st)]
    for key in range(0, 31, 3):
        proc = dt.run(["get", "t", "--key", json.dumps({columns[0][1]: key})], check=False)
        if key in st:
            assert json.loads(proc.stdout) == render(columns, st[key])
        else:
            assert proc.returncode == EXIT_NOT_FOUND, proc.stderr
    described = dt.describe("t")
    assert described["schema_id"] == alters
    assert dt.run(["verify", "t"]).returncode == 0


def test_alter_errors_name_the_change(dt):
    dt.create("t", "id BIGINT, a INT", "id")
    for change, message in [
        ("DROP COLUMN id", "a primary-key column cannot be dropped"),
        ("ALTER COLUMN a TYPE TINYINT", "INT cannot become TINYINT"),
        ("ADD COLUMN a STRING", "a column named 'a' exists"),
        ("RENAME COLUMN zz TO y", "there is no column 'zz'"),
        ("ADD COLUMN b ARRAY<INT NOT NULL>", "NOT NULL"),
    ]:
        proc = dt.run_fail(["alter", "t", change], expect_status=1)
        assert message in proc.stderr, (change, proc.stderr)
    assert [h["kind"] for h in dt.history("t")] == ["CREATE"]
    assert dt.describe("t")["schema_id"] == 0
