"""verify, and reads of damaged tables: corruption is reported, never served."""

import base64
import json
import random

import pytest

import deltamodel as dm
from conftest import parse_jsonl

EXIT_NOT_FOUND = 3


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def history_text(dt, table):
    return dt.run(["history", table, "--format", "jsonl"]).stdout


def big_rows(rng, n, start=0):
    # Random base64 text does not compress, so the data file is mostly data blocks.
    return [{"id": start + i, "name": base64.b64encode(rng.randbytes(60)).decode(), "score": i * 0.5,
             "tag": "big"} for i in range(n)]


def test_verify_healthy_table(dt):
    dm.build_history(dt, "t", dm.SIMPLE, seed=5, commits=12, compact_after={6: True})
    proc = dt.run(["verify", "t"])
    assert proc.stdout == "OK table t\n"
    empty = "e"
    dt.create(empty, "id BIGINT", "id")
    assert dt.run(["verify", empty]).stdout == f"OK table {empty}\n"


def test_flipped_byte_in_data_file(dt):
    rng = random.Random(2024)
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg, buckets=1)
    rows1 = big_rows(rng, 3000)
    s1 = dt.import_rows("t", rows1)
    rows2 = big_rows(rng, 10, start=10_000)
    s2 = dt.import_rows("t", rows2)
    assert dt.run(["verify", "t"]).stdout == "OK table t\n"
    model = {r["id"]: r for r in rows1 + rows2}

    tdir = dt.table_dir("t")
    files1 = dm.snapshot_buckets(dm.snapshot_files(tdir)[s1])[0]
    assert len(files1) == 1
    name = files1[0]["name"]
    path = tdir / "data" / name
    size = path.stat().st_size
    assert size > 100_000, size
    history_before = history_text(dt, "t")
    flip_byte(path, size // 2)

    # verify fails and names the file.
    proc = dt.run_fail(["verify", "t"], expect_status=1)
    assert name in proc.stdout, proc.stdout
    assert all(line.startswith("CORRUPT ") for line in proc.stdout.splitlines())
    assert "failed verification" in proc.stderr

    # Every snapshot using the file fails to scan; whatever was printed before
    # the damaged block was found is correct.
    for sid in (s1, s2, None):
        proc = dt.scan_text("t", snapshot=sid, check=False)
        assert proc.returncode != 0, f"scan of snapshot {sid} read a corrupt file without error"
        assert proc.returncode != EXIT_NOT_FOUND
        for row in parse_jsonl(proc.stdout):
            assert row == model[row["id"]], "scan printed a wrong row"
        assert len(parse_jsonl(proc.stdout)) < len(model)
    # The snapshot before the file existed still reads.
    assert dt.scan("t", snapshot=0) == []

    # Point lookups near the damaged block fail instead of answering wrongly.
    failures = 0
    ids = sorted(r["id"] for r in rows1)
    mid = len(ids) // 2
    for key in ids[mid - 300: mid + 300: 6] + [r["id"] for r in rows2[:3]]:
        proc = dt.run(["get", "t", "--key", json.dumps({"id": key})], check=False)
        assert proc.returncode in (0, 1), (key, proc.returncode, proc.stderr)
        if proc.returncode == 0:
            assert json.loads(proc.stdout) == model[key]
        else:
            assert proc.stdout == ""
            failures += 1
    assert failures > 0, "no lookup hit the damaged block"

    # changes over the damaged commit fails too.
    proc = dt.run(["changes", "t", "--from", 0, "--to", s1], check=False)
    assert proc.returncode not in (0, EXIT_NOT_FOUND)

    # Compaction must not launder the damage into a new, valid-looking file.
    proc = dt.run(["compact", "t", "--full"], check=False)
    assert proc.returncode != 0, "compaction read a corrupt file without error"
    assert history_text(dt, "t") == history_before


def test_missing_and_truncated_data_files(dt):
    dt.create("t", "id BIGINT, v STRING", "id", buckets=2)
    dt.import_rows("t", [{"id": i, "v": f"v{i}"} for i in range(200)])
    s2 = dt.import_rows("t", [{"id": i, "v": f"w{i}"} for i in range(200)])
    tdir = dt.table_dir("t")
    buckets = dm.snapshot_buckets(dm.snapshot_files(tdir)[s2])
    # Each import is one multi-bucket file, listed in both buckets.
    names = [f["name"] for f in buckets[0]]
    assert len(names) == 2 and [f["name"] for f in buckets[1]] == names
    (tdir / "data" / names[0]).unlink()
    data = (tdir / "data" / names[1]).read_bytes()
    (tdir / "data" / names[1]).write_bytes(data[:-7])

    proc = dt.run_fail(["verify", "t"], expect_status=1)
    assert names[0] in proc.stdout and names[1] in proc.stdout, proc.stdout
    proc = dt.run(["scan", "t"], check=False)
    assert proc.returncode not in (0, EXIT_NOT_FOUND) and proc.stdout == ""


def test_flipped_byte_in_snapshot_file(dt):
    model = dm.TableModel(dm.SIMPLE)
    dt.create("t", dm.SIMPLE.schema_arg, dm.SIMPLE.pk_arg)
    sids = []
    for n in range(4):
        rows = [{"id": i, "name": f"c{n}-{i}", "score": None, "tag": None} for i in range(n, n + 5)]
        sid = dt.import_rows("t", rows)
        model.commit(sid, [("upsert", r) for r in rows])
        sids.append(sid)
    victim = sids[1]
    path = dm.snapshot_files(dt.table_dir("t"))[victim]
    flip_byte(path, path.stat().st_size // 2)

    proc = dt.run_fail(["verify", "t"], expect_status=1)
    assert path.name in proc.stdout, proc.stdout

    # Reading the damaged snapshot fails (exit 1: an error, not "absent").
    proc = dt.run_fail(["scan", "t", "--snapshot", victim], expect_status=1)
    assert proc.stdout == "" and path.name in proc.stderr
    proc = dt.run_fail(["get", "t", "--key", '{"id": 2}', "--snapshot", victim], expect_status=1)
    assert proc.stdout == ""
    proc = dt.run_fail(["changes", "t", "--from", sids[0], "--to", sids[2]], expect_status=1)
    assert proc.stdout == ""

    # The other snapshots are unaffected.
    for sid in [0, sids[0], sids[2], sids[3]]:
        assert dt.scan("t", snapshot=sid) == model.rows_at(sid)
    assert dt.scan("t") == model.latest_rows()


def test_flipped_byte_in_latest_snapshot_blocks_reads_and_commits(dt):
    dt.create("t", "id BIGINT, v STRING", "id")
    s1 = dt.import_rows("t", [{"id": 1, "v": "a"}])
    s2 = dt.import_rows("t", [{"id": 2, "v": "b"}])
    path = dm.snapshot_files(dt.table_dir("t"))[s2]
    flip_byte(path, path.stat().st_size // 2)
    damaged = path.read_bytes()

    proc = dt.run_fail(["scan", "t"], expect_status=1)
    assert proc.stdout == ""
    # A commit must not build on (or paper over) a corrupt latest snapshot.
    proc = dt.run(["import", "t", dt.write_jsonl([{"id": 3, "v": "c"}])], check=False)
    assert proc.returncode != 0
    assert sorted(dm.snapshot_files(dt.table_dir("t"))) == [0, s1, s2]
    assert path.read_bytes() == damaged
    assert dt.scan("t", snapshot=s1) == [{"id": 1, "v": "a"}]


def test_no_single_byte_flip_of_a_data_file_is_served_silently(dt):
    """Flip bytes all over a small data file: verify always names it, and scan
    either fails or prints exactly the right rows (some bytes, such as the
    bloom filter, are not needed by a scan)."""
    dt.create("t", "id BIGINT, name STRING", "id", buckets=1)
    rows = [{"id": i, "name": f"n{i}"} for i in range(30)]
    sid = dt.import_rows("t", rows)
    good = dt.scan_text("t").stdout
    (name,) = [f["name"] for f in dm.snapshot_buckets(dm.snapshot_files(dt.table_dir("t"))[sid])[0]]
    path = dt.table_dir("t") / "data" / name
    orig = path.read_bytes()
    failed_scans = 0
    for offset in range(0, len(orig), 3):
        flip_byte(path, offset)
        proc = dt.run(["verify", "t"], check=False)
        assert proc.returncode == 1 and name in proc.stdout, f"verify missed a flip at byte {offset}"
        # (A crash is not silent either; test_corrupt_properties_block_is_an_error_not_a_crash
        # covers the one known crash.)
        proc = dt.scan_text("t", check=False)
        if proc.returncode == 0:
            assert proc.stdout == good, f"flip at byte {offset}: scan printed wrong rows"
        else:
            failed_scans += 1
            assert proc.returncode != EXIT_NOT_FOUND
            for row in parse_jsonl(proc.stdout):
                assert row in rows
        if offset % 30 == 0:
            key = offset // 30 % len(rows)
            proc = dt.run(["get", "t", "--key", json.dumps({"id": key})], check=False)
            assert proc.returncode != EXIT_NOT_FOUND, f"flip at byte {offset}: get says key {key} is absent"
            if proc.returncode == 0:
                assert json.loads(proc.stdout) == rows[key]
        path.write_bytes(orig)
    assert failed_scans > len(orig) // 3 // 2
    assert dt.scan_text("t").stdout == good


class ProcessCrashed(AssertionError):
    """deltactl was killed by a signal instead of exiting with an error."""


def _varint(b, i):
    result = shift = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def sst_meta_blocks(data):
    """{name: (offset, size)} from a block-based SST's metaindex block (RocksDB
    table format, footer of format_version 1-5: checksum type, metaindex handle,
    index handle, padding, version, magic)."""
    footer = data[-53:]
    assert footer[-8:] == bytes.fromhex("f7cff485b741e288"), "not a block-based table"
    version = int.from_bytes(footer[-12:-8], "little")
    assert 1 <= version <= 5, f"unexpected SST format_version {version}"
    offset, i = _varint(footer, 1)
    size, i = _varint(footer, i)
    block = data[offset:offset + size]
    num_restarts = int.from_bytes(block[-4:], "little") & 0x7FFFFFFF
    end = len(block) - 4 - 4 * num_restarts
    out, key, i = {}, b"", 0
    while i < end:
        shared, i = _varint(block, i)
        unshared, i = _varint(block, i)
        vlen, i = _varint(block, i)
        key = key[:shared] + block[i:i + unshared]
        i += unshared
        h_off, j = _varint(block, i)
        h_size, _ = _varint(block, j)
        out[key] = (h_off, h_size)
        i += vlen
    return out


def test_corrupt_properties_block_is_an_error_not_a_crash(dt):
    dt.create("t", "id BIGINT, name STRING", "id", buckets=1)
    sid = dt.import_rows("t", [{"id": i, "name": f"n{i}"} for i in range(30)])
    (name,) = [f["name"] for f in dm.snapshot_buckets(dm.snapshot_files(dt.table_dir("t"))[sid])[0]]
    path = dt.table_dir("t") / "data" / name
    props_offset, props_size = sst_meta_blocks(path.read_bytes())[b"rocksdb.properties"]
    data = bytearray(path.read_bytes())
    data[props_offset + props_size - 1] ^= 0x80  # top bit of the block's num_restarts
    path.write_bytes(bytes(data))

    proc = dt.run(["verify", "t"], check=False)
    assert proc.returncode == 1 and name in proc.stdout
    for args in (["scan", "t"], ["get", "t", "--key", '{"id": 3}'], ["changes", "t", "--from", 0]):
        proc = dt.run(args, check=False)
        if proc.returncode < 0:
            raise ProcessCrashed(f"{args[0]} was killed by signal {-proc.returncode}: {proc.stderr.strip()}")
        assert proc.returncode == 1 and proc.stdout == "", (args, proc.returncode, proc.stderr)
        assert name in proc.stderr or "corrupt" in proc.stderr.lower(), proc.stderr
