"""`changes --from A --to B` against the model's diff of the commits in (A, B]."""

import csv
import io
import random

import deltamodel as dm
from conftest import parse_jsonl


def check_changes(dt, table, model, a, b, pass_to=True):
    proc = dt.changes(table, a, b if pass_to else None)
    got = parse_jsonl(proc.stdout)
    expected = model.changes(a, b)
    assert got == expected, f"changes --from {a} --to {b} differs from the model"
    dm.check_member_order(model.schema, got, with_op=True)
    keys = [model.schema.sort_key(model.schema.key_of(r)) for r in got]
    assert keys == sorted(set(keys)), "changes output is not ordered by key (or repeats a key)"
    return got


def build(dt, schema, seed, commits):
    return dm.build_history(dt, "t", schema, seed=seed, commits=commits,
                            compact_after={7: True, 14: False})


def test_changes_match_model_diff_bigint_key(dt):
    model = build(dt, dm.SIMPLE, seed=4242, commits=24)
    ids = [h["id"] for h in dt.history("t")]
    latest = ids[-1]
    # Every single step (including steps over COMPACT snapshots, which change nothing).
    for a, b in zip(ids, ids[1:]):
        check_changes(dt, "t", model, a, b)
    # Whole history, default --to, and empty ranges.
    got = check_changes(dt, "t", model, 0, latest, pass_to=False)
    assert any(r["_op"] == "delete" for r in got) and any(r["_op"] == "upsert" for r in got)
    for sid in (0, ids[len(ids) // 2], latest):
        assert dt.changes("t", sid, sid).stdout == ""
    # Random ranges.
    rng = random.Random(7)
    for _ in range(40):
        a, b = sorted(rng.sample(ids, 2))
        check_changes(dt, "t", model, a, b)


def test_changes_match_model_diff_composite_key(dt):
    model = build(dt, dm.COMPOSITE, seed=31337, commits=20)
    ids = [h["id"] for h in dt.history("t")]
    for a, b in zip(ids, ids[1:]):
        check_changes(dt, "t", model, a, b)
    rng = random.Random(11)
    for _ in range(25):
        a, b = sorted(rng.sample(ids, 2))
        check_changes(dt, "t", model, a, b)
    check_changes(dt, "t", model, 0, ids[-1])


def test_changes_last_op_in_range_wins(dt):
    """Hand-written history: upsert then delete, delete then re-insert, delete of an absent key."""
    schema = dm.SIMPLE
    dt.create("t", schema.schema_arg, schema.pk_arg)
    s1 = dt.import_rows("t", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}])
    s2 = dt.import_rows("t", [{"id": 1, "_op": "delete"}, {"id": 2, "name": "b2", "score": 2.5},
                              {"id": 9, "_op": "delete"}])
    s3 = dt.import_rows("t", [{"id": 1, "name": "back"}, {"id": 3, "_op": "delete"}])

    def row(i, name, score=None, tag=None):
        return {"_op": "upsert", "id": i, "name": name, "score": score, "tag": tag}

    assert parse_jsonl(dt.changes("t", s1, s3).stdout) == [
        row(1, "back"), row(2, "b2", 2.5), {"_op": "delete", "id": 3}, {"_op": "delete", "id": 9}]
    assert parse_jsonl(dt.changes("t", s1, s2).stdout) == [
        {"_op": "delete", "id": 1}, row(2, "b2", 2.5), {"_op": "delete", "id": 9}]
    assert parse_jsonl(dt.changes("t", 0, s1).stdout) == [row(1, "a"), row(2, "b"), row(3, "c")]

    # CSV form: an _op column first, deletes with empty non-key fields.
    text = dt.changes("t", s2, s3, fmt="csv").stdout
    records = list(csv.reader(io.StringIO(text)))
    assert records == [["_op", "id", "name", "score", "tag"], ["upsert", "1", "back", "", ""],
                       ["delete", "3", "", "", ""]]


def test_changes_rejects_bad_ranges(dt):
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg)
    s1 = dt.import_rows("t", [{"id": 1, "name": "a"}])
    s2 = dt.import_rows("t", [{"id": 2, "name": "b"}])
    proc = dt.run_fail(["changes", "t", "--from", s2, "--to", s1], expect_status=1)
    assert proc.stdout == "" and str(s2) in proc.stderr
    proc = dt.run_fail(["changes", "t", "--from", s2 + 10], expect_status=1)
    assert proc.stdout == ""
    proc = dt.run_fail(["changes", "t", "--from", 0, "--to", s2 + 10], expect_status=1)
    assert proc.stdout == ""
