"""Merge-on-read under stress: many files per bucket (no automatic
maintenance), policy and full compactions of them, and large imports."""

import json
import random

import pytest

import deltamodel as dm
from conftest import parse_jsonl

EXIT_NOT_FOUND = 3


def check_all(dt, table, model):
    ids = [h["id"] for h in dt.history(table)]
    assert ids == list(range(ids[-1] + 1))
    for sid in ids:
        assert dt.scan(table, snapshot=sid) == model.rows_at(sid), f"snapshot {sid}"
    return ids


def check_gets(dt, table, model, keys):
    schema = model.schema
    for key in keys:
        proc = dt.run(["get", table, "--key", json.dumps(dict(zip(schema.key, key)))], check=False)
        if key in model.state:
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout) == model.state[key]
        else:
            assert (proc.returncode, proc.stdout) == (EXIT_NOT_FOUND, ""), (key, proc.stderr)


@pytest.mark.parametrize("buckets,schema,seed", [(1, dm.SIMPLE, 501), (3, dm.COMPOSITE, 502)],
                         ids=["one-bucket-bigint", "three-buckets-composite"])
def test_many_files_per_bucket_then_compactions(dt, buckets, schema, seed):
    table = "t"
    model = dm.build_history(dt, table, schema, seed=seed, commits=30, buckets=buckets,
                             import_extra=["--no-maintenance"])
    # Without maintenance nothing was compacted: every import is its own file.
    history = dt.history(table)
    assert [h["kind"] for h in history].count("COMPACT") == 0
    assert max(h["files"] for h in history) >= 20
    check_all(dt, table, model)
    keys = sorted(model.ever_present | model.ever_deleted, key=schema.sort_key)
    check_gets(dt, table, model, keys)
    rng = random.Random(seed)
    ids = [h["id"] for h in history]
    for _ in range(20):
        a, b = sorted(rng.sample(ids, 2))
        assert parse_jsonl(dt.changes(table, a, b).stdout) == model.changes(a, b)

    # Policy compactions until there is nothing left to do, then a full one.
    latest_text = dt.scan_text(table).stdout
    rounds = 0
    while True:
        proc = dt.run(["compact", table])
        if not proc.stdout.strip():
            assert "nothing to compact" in proc.stderr
            break
        model.compactions.append(int(proc.stdout))
        assert dt.scan_text(table).stdout == latest_text
        rounds += 1
        assert rounds < 50, "policy compaction does not converge"
    assert rounds >= 1
    proc = dt.run(["compact", table, "--full"])
    if proc.stdout.strip():  # the policy may already have merged everything
        model.compactions.append(int(proc.stdout))
    assert dt.scan_text(table).stdout == latest_text
    last = dt.history(table)[-1]
    assert last["kind"] == "COMPACT" and last["files"] <= buckets
    snaps = dm.snapshot_files(dt.table_dir(table))
    buckets = dm.snapshot_buckets(snaps[max(snaps)])
    assert all(f["deletes"] == 0 for b in buckets for f in b)
    assert sum(f["entries"] for b in buckets for f in b) == len(model.state)
    # A second full compaction has nothing to do.
    proc = dt.run(["compact", table, "--full"])
    assert proc.stdout == "" and "nothing to compact" in proc.stderr

    check_all(dt, table, model)
    check_gets(dt, table, model, keys)
    for a, b in zip(ids, ids[1:]):
        assert parse_jsonl(dt.changes(table, a, b).stdout) == model.changes(a, b)
    assert dt.run(["verify", table]).stdout == f"OK table {table}\n"

    # Commits keep working on top of the compacted table.
    sid = dt.import_rows(table, [{"_op": "delete", **dict(zip(schema.key, k))} for k in list(model.state)[:5]])
    model.commit(sid, [("delete", dict(zip(schema.key, k))) for k in list(model.state)[:5]])
    assert dt.scan(table) == model.latest_rows()


def test_large_import_with_duplicates(dt):
    rng = random.Random(8)
    schema = dm.SIMPLE
    dt.create("t", schema.schema_arg, schema.pk_arg, buckets=4)
    model = dm.TableModel(schema)
    for round_ in range(3):
        ops, lines = [], []
        for i in range(15000):
            k = rng.randrange(-20000, 20000)
            if rng.random() < 0.2:
                lines.append({"id": k, "_op": "delete"})
                ops.append(("delete", {"id": k}))
            else:
                row = {"id": k, "name": f"r{round_}-{i}", "score": rng.random(), "tag": None}
                lines.append(row)
                ops.append(("upsert", row))
        sid = dt.import_rows("t", lines)
        model.commit(sid, ops)
        got = dt.scan("t")
        assert len(got) == len(model.state)
        assert got == model.latest_rows()
    for sid in sorted(model.states):
        assert dt.scan("t", snapshot=sid) == model.rows_at(sid)
    a, b = sorted(model.states)[1], sorted(model.states)[-1]
    assert parse_jsonl(dt.changes("t", a, b).stdout) == model.changes(a, b)
    dt.run(["compact", "t", "--full"])
    assert dt.scan("t") == model.latest_rows()
    check_gets(dt, "t", model, [(k,) for k in rng.sample(range(-20000, 20000), 60)])
