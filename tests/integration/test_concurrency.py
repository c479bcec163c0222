"""Concurrent committers (separate processes) on one table, with a compaction
loop and a reader running at the same time: no lost commit, contiguous
snapshot ids, atomic and ordered visibility of every import."""

import json
import subprocess
import sys
import time

import deltamodel as dm
from conftest import parse_jsonl

WRITERS = 5
FILES_PER_WRITER = 15
ROWS_PER_FILE = 20
SHARED_ID = 0
# Writers with an even index commit with an identity (--writer/--checkpoint).
IDENTITY_WRITERS = {w for w in range(WRITERS) if w % 2 == 0}

# Each helper process waits for the "go" file, so that all start together.
IMPORTER = r"""
import json, os, subprocess, sys, time
binary, root, table, go, out, writer = sys.argv[1:7]
files = sys.argv[7:]
while not os.path.exists(go):
    time.sleep(0.001)
results = []
for checkpoint, f in enumerate(files):
    args = [binary, "--root", root, "import", table, f]
    if writer:
        args += ["--writer", writer, "--checkpoint", str(checkpoint)]
    p = subprocess.run(args, capture_output=True, text=True)
    results.append({"file": f, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
with open(out, "w") as fh:
    json.dump(results, fh)
"""

COMPACTOR = r"""
import json, os, subprocess, sys, time
binary, root, table, go, stop, out = sys.argv[1:7]
while not os.path.exists(go):
    time.sleep(0.001)
results = []
i = 0
while not os.path.exists(stop) or i < 3:
    args = [binary, "--root", root, "compact", table] + (["--full"] if i % 3 == 2 else [])
    p = subprocess.run(args, capture_output=True, text=True)
    results.append({"args": args[3:], "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
    i += 1
    time.sleep(0.005)
with open(out, "w") as fh:
    json.dump(results, fh)
"""

READER = r"""
import json, os, subprocess, sys, time
binary, root, table, go, stop, out = sys.argv[1:7]
while not os.path.exists(go):
    time.sleep(0.001)
results = []
while not os.path.exists(stop) and len(results) < 150:
    p = subprocess.run([binary, "--root", root, "scan", table], capture_output=True, text=True)
    results.append({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
    time.sleep(0.02)
with open(out, "w") as fh:
    json.dump(results, fh)
"""


def row_id(w, f, r):
    return 1_000_000 * (w + 1) + 1000 * f + r


def file_rows(w, f):
    rows = [{"id": row_id(w, f, r), "name": f"w{w}f{f}r{r}", "score": w + f / 100 + r / 10000,
             "tag": f"writer-{w}"} for r in range(ROWS_PER_FILE)]
    shared = {"id": SHARED_ID, "name": f"w{w}f{f}", "score": float(w), "tag": "shared"}
    rows.insert((w + f) % (len(rows) + 1), shared)
    return rows


def full_row(r):
    return {"id": r["id"], "name": r["name"], "score": r["score"], "tag": r["tag"]}


def test_concurrent_committers_lose_nothing(dt, tmp_path):
    table = "t"
    dt.create(table, "id BIGINT, name STRING, score DOUBLE, tag STRING", "id")
    work = tmp_path / "conc"
    work.mkdir()
    go, stop = work / "go", work / "stop"

    files = {}  # (w, f) -> path
    for w in range(WRITERS):
        for f in range(FILES_PER_WRITER):
            files[(w, f)] = dt.write_jsonl(file_rows(w, f), name=f"w{w}-f{f:02d}.jsonl")

    def spawn(src, *args):
        return subprocess.Popen([sys.executable, "-c", src, *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    base = [dt.binary, dt.root, table, go]
    importers = []
    for w in range(WRITERS):
        writer = f"writer-{w}" if w in IDENTITY_WRITERS else ""
        importers.append(spawn(IMPORTER, *base, work / f"imp-{w}.json", writer,
                               *[files[(w, f)] for f in range(FILES_PER_WRITER)]))
    compactor = spawn(COMPACTOR, *base, stop, work / "compact.json")
    reader = spawn(READER, *base, stop, work / "read.json")
    time.sleep(0.2)  # let every process reach its wait loop
    go.touch()
    try:
        for p in importers:
            out, err = p.communicate(timeout=150)
            assert p.returncode == 0, err
    finally:
        stop.touch()
        for p in [compactor, reader] + importers:
            try:
                p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
    assert compactor.returncode == 0 and reader.returncode == 0

    # Every import succeeded and printed a distinct snapshot id.
    snapshot_of = {}  # (w, f) -> snapshot id
    for w in range(WRITERS):
        results = json.loads((work / f"imp-{w}.json").read_text())
        assert len(results) == FILES_PER_WRITER
        for f, res in enumerate(results):
            assert res["rc"] == 0, res
            assert "already committed" not in res["stderr"], res
            snapshot_of[(w, f)] = int(res["stdout"].strip())
        ids = [snapshot_of[(w, f)] for f in range(FILES_PER_WRITER)]
        assert ids == sorted(ids), f"writer {w}'s sequential imports got decreasing ids {ids}"
    import_ids = sorted(snapshot_of.values())
    assert len(set(import_ids)) == len(import_ids), "two imports printed the same snapshot id"

    compactions = json.loads((work / "compact.json").read_text())
    assert len(compactions) >= 3
    for res in compactions:
        assert res["rc"] == 0, res
    compact_ids = [int(r["stdout"]) for r in compactions if r["stdout"].strip()]

    # History: contiguous ids, exactly one APPEND per import, the rest COMPACT.
    history = dt.history(table)
    ids = [h["id"] for h in history]
    assert ids == list(range(len(ids))), f"snapshot ids are not contiguous: {ids}"
    kinds = {h["id"]: h["kind"] for h in history}
    appends = sorted(i for i, k in kinds.items() if k == "APPEND")
    compacts = {i for i, k in kinds.items() if k == "COMPACT"}
    assert kinds[0] == "CREATE"
    assert appends == import_ids
    assert len(history) == 1 + WRITERS * FILES_PER_WRITER + len(compacts)
    assert set(compact_ids) <= compacts
    by_id = {h["id"]: h for h in history}
    for (w, f), sid in snapshot_of.items():
        assert by_id[sid]["rows"] == ROWS_PER_FILE + 1 and by_id[sid]["deletes"] == 0
        expected_ids = [{"writer": f"writer-{w}", "checkpoint": f}] if w in IDENTITY_WRITERS else []
        assert by_id[sid]["identities"] == expected_ids

    # The final scan has every row of every import; the shared key holds the
    # version of the import committed last.
    expected = {}
    for (w, f) in sorted(snapshot_of, key=snapshot_of.get):
        for r in file_rows(w, f):
            expected[r["id"]] = full_row(r)
    got = dt.scan(table)
    assert got == [expected[k] for k in sorted(expected)]
    last_w, last_f = max(snapshot_of, key=snapshot_of.get)
    assert got[0] == full_row(file_rows(last_w, last_f)[(last_w + last_f) % (ROWS_PER_FILE + 1)])

    # Every concurrent scan saw a consistent snapshot: whole imports only, and
    # exactly the imports committed up to some snapshot id.
    reads = json.loads((work / "read.json").read_text())
    assert reads, "the reader never ran"
    order = sorted(snapshot_of, key=snapshot_of.get)
    for res in reads:
        assert res["rc"] == 0, res
        rows = parse_jsonl(res["stdout"])
        present = {r["id"]: r for r in rows}
        visible = []
        for (w, f) in order:
            keys = [row_id(w, f, r) for r in range(ROWS_PER_FILE)]
            seen = [k in present for k in keys]
            assert all(seen) or not any(seen), f"a scan saw part of import w{w} f{f}"
            if all(seen):
                visible.append((w, f))
        assert visible == order[:len(visible)], "a scan saw a later import without an earlier one"
        model = {}
        for (w, f) in visible:
            for r in file_rows(w, f):
                model[r["id"]] = full_row(r)
        assert rows == [model[k] for k in sorted(model)]

    # Identities survived the races: every identity writer's last checkpoint is recorded.
    writers = dt.describe(table)["writers"]
    assert set(writers) == {f"writer-{w}" for w in IDENTITY_WRITERS}
    for w in IDENTITY_WRITERS:
        last = FILES_PER_WRITER - 1
        assert writers[f"writer-{w}"] == {"checkpoint": last, "snapshot": snapshot_of[(w, last)]}
        # Re-running an import of a race-committed checkpoint is a no-op.
        proc = dt.import_file(table, files[(w, 3)], extra=["--writer", f"writer-{w}", "--checkpoint", 3, "--no-maintenance"])
        assert int(proc.stdout) == snapshot_of[(w, 3)]
        assert "already committed" in proc.stderr
    assert len(dt.history(table)) == len(history)
    assert dt.run(["verify", table]).stdout.startswith("OK")


RACER = r"""
import json, os, subprocess, sys, time
go, out = sys.argv[1:3]
args = sys.argv[3:]
while not os.path.exists(go):
    time.sleep(0.0005)
p = subprocess.run(args, capture_output=True, text=True)
with open(out, "w") as fh:
    json.dump({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}, fh)
"""


def race(dt, work, argvs):
    """Runs each argv in its own process, all released at once; returns their results."""
    go = work / "go"
    procs = []
    for i, argv in enumerate(argvs):
        procs.append(subprocess.Popen([sys.executable, "-c", RACER, str(go), str(work / f"r{i}.json"),
                                       *map(str, argv)]))
    time.sleep(0.2)
    go.touch()
    for p in procs:
        p.wait(timeout=120)
        assert p.returncode == 0
    return [json.loads((work / f"r{i}.json").read_text()) for i in range(len(argvs))]


def test_concurrent_creates_of_one_table(dt, tmp_path):
    work = tmp_path / "race"
    work.mkdir()
    dt.create("other", "id BIGINT", "id")  # the root exists already
    schemas = [f"id BIGINT, c{i} STRING" for i in range(6)]
    results = race(dt, work, [dt.cmd(["create", "t", "--schema", s, "--primary-key", "id"])
                              for s in schemas])
    winners = [i for i, r in enumerate(results) if r["rc"] == 0]
    assert len(winners) == 1, results
    for i, r in enumerate(results):
        if i not in winners:
            assert r["rc"] == 1 and "already exists" in r["stderr"], r
    assert dt.describe("t")["columns"] == f"id BIGINT NOT NULL, c{winners[0]} STRING"
    assert sorted(p.name for p in dt.root.iterdir()) == ["other", "t"], "a losing create left files"
    assert dt.run(["list"]).stdout == "other\nt\n"


def test_concurrent_retries_of_one_identity_commit_once(dt, tmp_path):
    work = tmp_path / "race"
    work.mkdir()
    dt.create("t", "id BIGINT, name STRING, score DOUBLE, tag STRING", "id")
    rows = [{"id": i, "name": f"n{i}", "score": None, "tag": None} for i in range(50)]
    path = dt.write_jsonl(rows)
    results = race(dt, work, [dt.cmd(["import", "t", path, "--writer", "job", "--checkpoint", 7])
                              for _ in range(6)])
    for r in results:
        assert r["rc"] == 0, r
    ids = {int(r["stdout"]) for r in results}
    assert len(ids) == 1, f"one identity committed as several snapshots: {results}"
    assert sum("already committed" in r["stderr"] for r in results) == 5
    history = dt.history("t")
    assert [h["kind"] for h in history].count("APPEND") == 1
    assert dt.scan("t") == rows
    # Losers delete the data files they wrote before finding the identity committed.
    tdir = dt.table_dir("t")
    assert dm.present_data_files(tdir) == dm.referenced_data_files(tdir)
