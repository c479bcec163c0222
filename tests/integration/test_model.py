"""Random histories of upserts and deletes checked against the in-test model:
every snapshot by time travel, key order, `get`, `--as-of`, and explicit
compactions in the middle."""

import datetime
import json

import deltamodel as dm

EXIT_NOT_FOUND = 3
COMMITS = 40


def check_history_shape(dt, table, model):
    """Contiguous snapshot ids; kinds and entry counts as the model says."""
    history = dt.history(table)
    ids = [h["id"] for h in history]
    assert ids == list(range(ids[-1] + 1)), f"snapshot ids are not contiguous from 0: {ids}"
    kinds = {h["id"]: h["kind"] for h in history}
    assert kinds[0] == "CREATE"
    by_id = {h["id"]: h for h in history}
    for sid in model.commits:
        assert kinds[sid] == "APPEND", by_id[sid]
        entries, deletes = model.commit_counts(sid)
        assert (by_id[sid]["rows"], by_id[sid]["deletes"]) == (entries, deletes), by_id[sid]
    for sid in model.compactions:
        assert kinds[sid] == "COMPACT", by_id[sid]
    for sid in ids:
        if sid != 0 and sid not in model.commits:
            # Not printed by an import: maintenance or an explicit compaction.
            assert kinds[sid] == "COMPACT", by_id[sid]
    return ids


def check_snapshot(dt, table, model, sid):
    got = dt.scan(table, snapshot=sid)
    expected = model.rows_at(sid)
    assert got == expected, f"scan --snapshot {sid} differs from the model"
    dm.check_member_order(model.schema, got)
    dm.assert_ordered(model.schema, got)


def check_every_snapshot(dt, table, model):
    ids = check_history_shape(dt, table, model)
    for sid in ids:
        check_snapshot(dt, table, model, sid)
    latest = dt.scan(table)
    assert latest == model.latest_rows()
    dm.assert_ordered(model.schema, latest)
    return ids


def key_json(schema, key):
    return json.dumps(dict(zip(schema.key, key)), ensure_ascii=False)


def check_get(dt, table, model, keys, snapshot=None):
    """`get` prints the exact row of present keys; absent ones exit 3 with empty stdout."""
    schema = model.schema
    state = model.state if snapshot is None else model.state_at(snapshot)
    extra = [] if snapshot is None else ["--snapshot", snapshot]
    for key in keys:
        proc = dt.run(["get", table, "--key", key_json(schema, key), *extra], check=False)
        if key in state:
            assert proc.returncode == 0, proc.stderr
            lines = proc.stdout.split("\n")
            assert len(lines) == 2 and lines[1] == "", proc.stdout
            row = json.loads(lines[0])
            assert row == state[key]
            assert list(row) == schema.columns
        else:
            assert proc.returncode == EXIT_NOT_FOUND, (key, proc.returncode, proc.stdout, proc.stderr)
            assert proc.stdout == "", f"get of absent key {key} printed {proc.stdout!r}"


def run_model_test(dt, schema, seed, never_keys):
    table = "t"
    checked_at_compaction = []

    def after_compaction(model):
        # Old snapshots must still read exactly as before the compaction.
        for sid in sorted(model.states):
            check_snapshot(dt, table, model, sid)
        checked_at_compaction.append(max(model.states))

    model = dm.build_history(dt, table, schema, seed=seed, commits=COMMITS,
                             compact_after={12: False, 20: True, 27: False, 33: True},
                             check_compaction=after_compaction)
    assert len(checked_at_compaction) == 4
    assert model.compactions, "the explicit compactions should have had work to do"

    # The history really exercised what it is meant to.
    assert model.ever_deleted & model.state.keys(), "no deleted key was re-inserted"
    assert model.commits_with_duplicate_keys >= 5, "too few imports repeat a key"
    assert any(op == "delete" and key not in model.states[max(s for s in model.states if s < sid)]
               for sid, c in model.commits.items() for key, (op, _) in c.items()), \
        "no delete of an absent key"

    ids = check_every_snapshot(dt, table, model)

    # get: every key ever seen, at the latest snapshot and at a few older ones.
    keys = sorted(model.ever_present | model.ever_deleted, key=schema.sort_key) + never_keys
    check_get(dt, table, model, keys)
    for sid in (ids[len(ids) // 4], ids[len(ids) // 2], ids[-2]):
        check_get(dt, table, model, keys, snapshot=sid)

    # A snapshot that was never committed cannot be read.
    proc = dt.run_fail(["scan", table, "--snapshot", ids[-1] + 5], expect_status=1)
    assert "does not exist" in proc.stderr and proc.stdout == ""
    return model


def test_random_history_bigint_key(dt):
    run_model_test(dt, dm.SIMPLE, seed=1234, never_keys=[(10**18,), (-999,), (41,)])


def test_random_history_composite_key_all_types(dt):
    run_model_test(dt, dm.COMPOSITE, seed=98765,
                   never_keys=[("nope", 1), ("a", 12345), ("", 4), ("a\u0000", 2**31 - 1)])


def test_composite_key_orders_by_primary_key_order_not_schema_order(dt):
    # Key columns listed in the schema in the opposite order from the primary key.
    schema = dm.Schema([("id", "INT"), ("name", "STRING"), ("region", "STRING")], ["region", "id"])
    dt.create("k", schema.schema_arg, schema.pk_arg)
    model = dm.TableModel(schema)
    rows = []
    for region in ["b", "a", "", "ab", "a\u0000", "é", "z", "Z"]:
        for i in [5, -3, 2**31 - 1, -2**31, 0]:
            rows.append({"id": i, "name": f"{region}/{i}", "region": region})
    sid = dt.import_rows("k", rows)
    model.commit(sid, [("upsert", r) for r in rows])
    got = dt.scan("k")
    assert got == model.latest_rows()
    assert [(r["region"], r["id"]) for r in got][:6] == [
        ("", -2**31), ("", -3), ("", 0), ("", 5), ("", 2**31 - 1), ("Z", -2**31)]
    check_get(dt, "k", model, [("a", 5), ("a\u0000", -3), ("a", 6), ("zz", 5)])


def ms_text(ms, sep=" ", zulu=""):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + f".{ms % 1000:03d}" + zulu


def test_as_of_reads_the_snapshot_current_at_that_time(dt):
    table = "t"
    model = dm.build_history(dt, table, dm.SIMPLE, seed=77, commits=18, compact_after={9: True})
    history = dt.history(table)
    times = dm.parse_time_fields(history)
    ids = sorted(times)
    assert all(times[a] <= times[b] for a, b in zip(ids, ids[1:])), "snapshot times decrease"

    def expected_at(t_ms):
        return max(i for i in ids if times[i] <= t_ms)

    checked = 0
    for a, b in zip(ids, ids[1:]):
        if times[b] - times[a] < 2:
            continue
        t = times[a] + (times[b] - times[a]) // 2  # strictly between the two commits
        want = expected_at(t)
        assert want == a
        for spelling in (str(t), ms_text(t), ms_text(t, "T", "Z")):
            got = dt.scan(table, as_of=spelling)
            assert got == model.rows_at(want), f"--as-of {spelling!r} should read snapshot {want}"
        checked += 1
    assert checked >= 5, f"too few distinct commit times to test --as-of ({times})"

    # Exactly at a commit's time (the `time` field of history) reads that commit
    # (or a later one committed in the same millisecond).
    for h in history[1:]:
        got = dt.scan(table, as_of=h["time"])
        assert got == model.rows_at(expected_at(h["time_ms"])), h

    # get honours --as-of as well.
    sid = sorted(model.commits)[len(model.commits) // 2]
    state = model.state_at(sid)
    for key in list(state)[:5]:
        proc = dt.run(["get", table, "--key", json.dumps({"id": key[0]}), "--as-of", times[sid]])
        assert json.loads(proc.stdout) == state[key]

    # Before the first snapshot: nothing to read.
    proc = dt.run_fail(["scan", table, "--as-of", times[0] - 1000], expect_status=1)
    assert "no retained snapshot" in proc.stderr and proc.stdout == ""
    # Far in the future: the latest snapshot.
    assert dt.scan(table, as_of="9999-01-01") == model.latest_rows()
    # Unparseable times and --snapshot together with --as-of are rejected.
    proc = dt.run_fail(["scan", table, "--as-of", "yesterday"], expect_status=1)
    assert "cannot parse time" in proc.stderr
    dt.run_fail(["scan", table, "--as-of", times[0], "--snapshot", 1], expect_status=2)
