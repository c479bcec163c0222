"""expire: keeps the newest N snapshots and removes exactly the data files that
no retained snapshot references."""

import json
import re
import time
import zlib

import deltamodel as dm
from conftest import parse_jsonl


def expire(dt, table, keep):
    """Runs expire; returns (snapshots removed, data files removed, earliest snapshot)."""
    out = dt.run(["expire", table, "--keep", keep]).stdout
    assert out.count("\n") == 1, out
    m = [re.search(p, out) for p in (r"removed (\d+) snapshots", r"(\d+) data files",
                                     r"earliest snapshot is now (\d+)")]
    assert all(m), out
    return tuple(int(x.group(1)) for x in m)


def test_expire_keeps_newest_snapshots_and_removes_unreferenced_files(dt):
    table = "t"
    # Explicit full compactions make files that only old snapshots reference.
    model = dm.build_history(dt, table, dm.SIMPLE, seed=99, commits=14,
                             compact_after={4: True, 9: True})
    tdir = dt.table_dir(table)
    history = dt.history(table)
    ids = [h["id"] for h in history]
    times = dm.parse_time_fields(history)
    latest = ids[-1]
    assert len(ids) > 6

    # Before: nothing leaked, nothing missing.
    present_before = dm.present_data_files(tdir)
    assert dm.referenced_data_files(tdir) == present_before
    latest_scan = dt.scan_text(table).stdout

    removed_snaps, removed_files, earliest = expire(dt, table, 3)
    assert earliest == latest - 2
    assert removed_snaps == len(ids) - 3

    # Exactly three snapshots are left.
    assert [h["id"] for h in dt.history(table)] == [latest - 2, latest - 1, latest]
    assert sorted(dm.snapshot_files(tdir)) == [latest - 2, latest - 1, latest]

    # The files left are exactly those the retained snapshots reference.
    present = dm.present_data_files(tdir)
    referenced = dm.referenced_data_files(tdir)
    assert present == referenced, (f"unreferenced files left: {sorted(present - referenced)}; "
                                   f"referenced but missing: {sorted(referenced - present)}")
    assert present <= present_before
    assert removed_files == len(present_before - present)
    assert removed_files > 0, "the compactions should have left files only old snapshots used"
    assert not [p.name for p in (tdir / "data").iterdir() if not p.name.endswith(".sst")]

    # Latest reads are unchanged; every retained snapshot still reads right.
    assert dt.scan_text(table).stdout == latest_scan
    for sid in (latest - 2, latest - 1, latest):
        assert dt.scan(table, snapshot=sid) == model.rows_at(sid)
    assert parse_jsonl(dt.changes(table, latest - 2, latest).stdout) == model.changes(latest - 2, latest)

    # Expired snapshots fail with a clear error, whatever reads them.
    for sid in ids[:-3]:
        proc = dt.run_fail(["scan", table, "--snapshot", sid], expect_status=1)
        assert proc.stdout == "" and "does not exist" in proc.stderr and "expired" in proc.stderr, proc.stderr
    key = json.dumps({"id": next(iter(model.state))[0]})
    proc = dt.run_fail(["get", table, "--key", key, "--snapshot", ids[0]], expect_status=1)
    assert proc.stdout == ""
    proc = dt.run_fail(["changes", table, "--from", ids[1], "--to", latest], expect_status=1)
    assert proc.stdout == ""
    proc = dt.run_fail(["scan", table, "--as-of", times[latest - 2] - 1], expect_status=1)
    assert proc.stdout == "" and "no retained snapshot" in proc.stderr

    assert dt.run(["verify", table]).stdout == f"OK table {table}\n"

    # Expiring again removes nothing; the table keeps working.
    assert expire(dt, table, 3) == (0, 0, latest - 2)
    sid = dt.import_rows(table, [{"id": 123456, "name": "after expire"}])
    model.commit(sid, [("upsert", {"id": 123456, "name": "after expire", "score": None, "tag": None})])
    assert dt.scan(table) == model.latest_rows()
    assert dm.present_data_files(tdir) == dm.referenced_data_files(tdir)


def test_expire_keep_one_after_full_compaction(dt):
    table = "t"
    model = dm.build_history(dt, table, dm.COMPOSITE, seed=3, commits=10)
    dt.run(["compact", table, "--full"])
    latest_scan = dt.scan_text(table).stdout
    dt.run(["expire", table, "--keep", 1])
    tdir = dt.table_dir(table)
    assert len(dt.history(table)) == 1
    assert dt.scan_text(table).stdout == latest_scan
    assert dt.scan(table) == model.latest_rows()
    # After a full compaction and expiry each bucket holds at most one file, without deletes.
    buckets = dm.snapshot_buckets(dm.snapshot_files(tdir)[max(dm.snapshot_files(tdir))])
    assert all(len(b) <= 1 for b in buckets)
    assert all(f["deletes"] == 0 for b in buckets for f in b)
    assert dm.present_data_files(tdir) == dm.referenced_data_files(tdir)
    assert sum(f["entries"] for b in buckets for f in b) == len(model.state)


def reframe_snapshot_time(path, new_time_ms):
    """Rewrites a snapshot's time_ms, re-framing it with a valid CRC-32 footer
    (docs/table-format.md §3), as an old table would look."""
    data = path.read_bytes()
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    body = data[:start]
    body, n = re.subn(rb'"time_ms":\d+', b'"time_ms":%d' % new_time_ms, body)
    assert n == 1
    path.write_bytes(body + b"DSNAP1 %08x %d\n" % (zlib.crc32(body), len(body)))


def test_automatic_retention_keeps_young_snapshots_and_at_least_ten(dt):
    table = "t"
    model = dm.build_history(dt, table, dm.SIMPLE, seed=12, commits=24,
                             import_extra=["--no-maintenance"], compact_after={10: True})
    tdir = dt.table_dir(table)
    ids = [h["id"] for h in dt.history(table)]
    # Age every snapshot but the newest four by two hours (times stay ordered).
    old = int(time.time() * 1000) - 2 * 3600 * 1000
    snaps = dm.snapshot_files(tdir)
    for sid in ids[:-4]:
        reframe_snapshot_time(snaps[sid], old + sid)
    assert dt.run(["verify", table]).stdout.startswith("OK")
    assert len(dt.history(table)) == len(ids)  # reads do not expire anything

    # The next import's maintenance expires the old snapshots, keeping 10
    # (more than the 5 young ones).
    sid = dt.import_rows(table, [{"id": 777, "name": "new"}])
    model.commit(sid, [("upsert", {"id": 777, "name": "new", "score": None, "tag": None})])
    history = dt.history(table)
    assert [h["id"] for h in history][-1] >= sid
    newest = history[-1]["id"]
    assert [h["id"] for h in history] == list(range(newest - 9, newest + 1))
    assert dm.present_data_files(tdir) == dm.referenced_data_files(tdir)
    for h in history:
        assert dt.scan(table, snapshot=h["id"]) == model.rows_at(h["id"])
    proc = dt.run_fail(["scan", table, "--snapshot", newest - 10], expect_status=1)
    assert "does not exist" in proc.stderr


def write_consumer(table_dir, name, position, time_ms):
    """A consumer position file exactly as docs/table-format.md §12.4 lays it out."""
    body = json.dumps({"consumer": name, "position": position, "time_ms": time_ms},
                      separators=(",", ":")).encode() + b"\n"
    footer = b"DCONSUMER1 %08x %d\n" % (zlib.crc32(body), len(body))
    (table_dir / "consumers").mkdir(exist_ok=True)
    (table_dir / "consumers" / name).write_bytes(body + footer)


def test_expire_keeps_what_a_live_consumer_holds(dt):
    dt.create("t", "id BIGINT, v STRING", "id")
    ids = [dt.import_rows("t", [{"id": i, "v": "x"}], extra=["--no-maintenance"]) for i in range(8)]
    now_ms = int(time.time() * 1000)
    write_consumer(dt.table_dir("t"), "reader", ids[2], now_ms)
    write_consumer(dt.table_dir("t"), "gone", ids[0], now_ms - 2 * 3600 * 1000)

    listed = dt.run(["consumers", "t", "--consumer-max-age", "1h"]).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["gone", "reader"]
    assert listed[0].endswith(" stale") and listed[1].endswith(" holds")
    assert f"position={ids[2]} lag={ids[-1] - ids[2]} " in listed[1]
    assert dt.describe("t")["consumers"]["reader"]["position"] == ids[2]

    # "gone" is past the max age: only "reader" holds.
    out = dt.run(["expire", "t", "--keep", "1", "--consumer-max-age", "1h"]).stdout
    assert f"earliest snapshot is now {ids[2]}" in out
    # With a max age of 0 no consumer holds anything.
    out = dt.run(["expire", "t", "--keep", "1", "--consumer-max-age", "0s"]).stdout
    assert f"earliest snapshot is now {ids[-1]}" in out

    assert dt.run(["consumers", "t", "--drop", "gone"]).stdout == "dropped consumer gone\n"
    dt.run_fail(["consumers", "t", "--drop", "gone"], expect_status=1)
    dt.run_fail(["consumers", "t", "--drop", "../x"], expect_status=1)
    # A damaged position is loud until it is dropped.
    (dt.table_dir("t") / "consumers" / "reader").write_bytes(b"junk")
    dt.import_rows("t", [{"id": 99, "v": "y"}], extra=["--no-maintenance"])
    err = dt.run_fail(["expire", "t", "--keep", "1"], expect_status=1).stderr
    assert "consumers/reader is corrupt" in err and "--drop reader" in err, err
    dt.run(["consumers", "t", "--drop", "reader"])
    dt.run(["expire", "t", "--keep", "1"])
