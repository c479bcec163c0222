"""Idempotent imports with a commit identity (--writer/--checkpoint)."""

import deltamodel as dm
from conftest import dump_jsonl


def table_state(dt, table):
    """Everything an import could change: snapshots, data files, history, scan output."""
    tdir = dt.table_dir(table)
    return {
        "snapshots": sorted(p.name for p in (tdir / "snapshots").iterdir()),
        "data": sorted(p.name for p in (tdir / "data").iterdir()),
        "history": dt.run(["history", table, "--format", "jsonl"]).stdout,
        "scan": dt.scan_text(table).stdout,
    }


def rows(start, n, tag):
    return [{"id": i, "name": f"{tag}{i}", "score": i / 4, "tag": tag} for i in range(start, start + n)]


def test_import_with_identity_is_idempotent(dt):
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg)
    model = dm.TableModel(dm.SIMPLE)
    s0 = dt.import_rows("t", rows(0, 5, "plain"))
    model.commit(s0, [("upsert", r) for r in rows(0, 5, "plain")])

    first = dt.write_jsonl(rows(3, 10, "w5-"))
    proc = dt.import_file("t", first, extra=["--writer", "w", "--checkpoint", 5])
    s5 = int(proc.stdout)
    assert s5 > s0 and "already committed" not in proc.stderr
    model.commit(s5, [("upsert", r) for r in rows(3, 10, "w5-")])
    before = table_state(dt, "t")
    assert dt.scan("t") == model.latest_rows()

    # The same identity again: same snapshot id, nothing written.
    proc = dt.import_file("t", first, extra=["--writer", "w", "--checkpoint", 5])
    assert int(proc.stdout) == s5
    assert "already committed" in proc.stderr
    assert table_state(dt, "t") == before

    # Even with different contents: the identity decides.
    other = dt.write_jsonl(rows(100, 3, "other"))
    proc = dt.import_file("t", other, extra=["--writer", "w", "--checkpoint", 5])
    assert int(proc.stdout) == s5 and "already committed" in proc.stderr
    assert table_state(dt, "t") == before

    # A lower checkpoint of the same writer is covered by checkpoint 5.
    proc = dt.import_file("t", other, extra=["--writer", "w", "--checkpoint", 3])
    assert int(proc.stdout) == s5 and "already committed" in proc.stderr
    assert table_state(dt, "t") == before

    # describe and history record the writer.
    assert dt.describe("t")["writers"] == {"w": {"checkpoint": 5, "snapshot": s5}}
    h = {e["id"]: e for e in dt.history("t")}
    assert h[s5]["identities"] == [{"writer": "w", "checkpoint": 5}]
    assert h[s0]["identities"] == []
    text = dt.run(["history", "t"]).stdout.splitlines()
    assert any(line.startswith(f"id={s5} ") and line.endswith("identities=w:5") for line in text), text

    # The next checkpoint commits; the old one still answers with its own snapshot.
    s6 = dt.import_rows("t", rows(20, 4, "w6-"), extra=["--writer", "w", "--checkpoint", 6])
    assert s6 > s5
    model.commit(s6, [("upsert", r) for r in rows(20, 4, "w6-")])
    assert dt.describe("t")["writers"] == {"w": {"checkpoint": 6, "snapshot": s6}}
    after6 = table_state(dt, "t")
    proc = dt.import_file("t", first, extra=["--writer", "w", "--checkpoint", 5])
    assert int(proc.stdout) == s5 and "already committed" in proc.stderr
    assert table_state(dt, "t") == after6

    # Another writer has its own checkpoints.
    sv = dt.import_rows("t", rows(50, 2, "v"), extra=["--writer", "v", "--checkpoint", 5])
    assert sv > s6
    model.commit(sv, [("upsert", r) for r in rows(50, 2, "v")])
    assert dt.describe("t")["writers"] == {"w": {"checkpoint": 6, "snapshot": s6},
                                            "v": {"checkpoint": 5, "snapshot": sv}}
    assert dt.scan("t") == model.latest_rows()

    # --writer and --checkpoint go together.
    settled = table_state(dt, "t")
    for extra in (["--writer", "w"], ["--checkpoint", 9]):
        proc = dt.run_fail(["import", "t", other, *extra], expect_status=1)
        assert "go together" in proc.stderr and proc.stdout == ""
    assert table_state(dt, "t") == settled


def test_import_from_stdin_with_identity(dt):
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg)
    data = dump_jsonl(rows(1, 3, "in"))
    proc = dt.run(["import", "t", "-", "--writer", "pipe", "--checkpoint", 1], input=data)
    sid = int(proc.stdout)
    proc = dt.run(["import", "t", "-", "--writer", "pipe", "--checkpoint", 1], input=data)
    assert int(proc.stdout) == sid and "already committed" in proc.stderr
    assert dt.scan("t") == rows(1, 3, "in")
    assert len(dt.history("t")) == 2


def test_empty_import_with_identity_records_only_the_identity(dt):
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg)
    dt.import_rows("t", rows(0, 3, "x"))
    files_before = sorted(p.name for p in (dt.table_dir("t") / "data").iterdir())
    empty = dt.write_jsonl([""])
    sid = int(dt.import_file("t", empty, extra=["--writer", "marker", "--checkpoint", 1]).stdout)
    h = dt.history("t")[-1]
    assert (h["id"], h["kind"], h["rows"], h["deletes"]) == (sid, "APPEND", 0, 0)
    assert h["identities"] == [{"writer": "marker", "checkpoint": 1}]
    assert sorted(p.name for p in (dt.table_dir("t") / "data").iterdir()) == files_before
    assert dt.scan("t") == rows(0, 3, "x")
    proc = dt.import_file("t", empty, extra=["--writer", "marker", "--checkpoint", 1])
    assert int(proc.stdout) == sid and "already committed" in proc.stderr
