"""Bad input: one-line error naming the line and column, non-zero exit, and
the table (every file under the root) byte-for-byte unchanged."""

import json

import pytest

SCHEMA = "id BIGINT, name STRING, level TINYINT, amount DECIMAL(12,3), day DATE"


def tree(root):
    """{relative path: bytes} of every file under root, plus the set of directories."""
    files, dirs = {}, set()
    if root.exists():
        for p in sorted(root.rglob("*")):
            rel = str(p.relative_to(root))
            if p.is_dir():
                dirs.add(rel)
            else:
                files[rel] = p.read_bytes()
    return files, dirs


def snapshot_of_table(dt, table="t"):
    return {
        "tree": tree(dt.root),
        "scan": dt.scan_text(table).stdout,
        "history": dt.run(["history", table, "--format", "jsonl"]).stdout,
    }


@pytest.fixture
def seeded(dt):
    dt.create("t", SCHEMA, "id")
    dt.import_rows("t", [{"id": i, "name": f"n{i}", "level": i, "amount": f"{i}.5", "day": "2024-01-01"}
                         for i in range(10)])
    dt.import_rows("t", [{"id": 3, "_op": "delete"}, {"id": 20, "name": "twenty"}])
    return dt


def one_line_error(proc):
    assert proc.stdout == "", f"a failed command printed to stdout: {proc.stdout!r}"
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, \
        f"expected a one-line error, got {proc.stderr!r}"
    return proc.stderr


GOOD = {"id": 100, "name": "good"}

BAD_IMPORTS = {
    "missing_key_column": ([GOOD, {"name": "no key"}], 2, ["id", "missing"]),
    "null_key_column": ([GOOD, {"id": None, "name": "null key"}], 2, ["id"]),
    "delete_without_key": ([GOOD, {"_op": "delete", "name": "x"}], 2, ["id"]),
    "wrong_type": ([GOOD, {"id": "abc"}], 2, ["'id'", "BIGINT"]),
    "wrong_type_non_key": ([GOOD, {"id": 101, "name": 5}], 2, ["'name'"]),
    "unknown_column": ([GOOD, GOOD, {"id": 102, "colour": "red"}], 3, ["colour"]),
    "malformed_json": ([GOOD, '{"id": 103, "name": "x"'], 2, ["malformed JSON"]),
    "trailing_garbage": ([GOOD, '{"id": 103} x'], 2, ["malformed JSON"]),
    "not_an_object": ([GOOD, "[1, 2]"], 2, ["object"]),
    "bad_op": ([GOOD, {"_op": "insert", "id": 104}], 2, ["_op", "insert"]),
    "bad_op_type": ([GOOD, {"_op": 1, "id": 104}], 2, ["_op"]),
    "tinyint_too_large": ([GOOD, {"id": 105, "level": 128}], 2, ["'level'", "TINYINT", "128"]),
    "tinyint_too_small": ([GOOD, {"id": 105, "level": -129}], 2, ["'level'", "-129"]),
    "decimal_too_many_fraction_digits": ([GOOD, {"id": 106, "amount": "1.2345"}], 2,
                                         ["'amount'", "DECIMAL(12,3)", "1.2345"]),
    "decimal_too_many_integer_digits": ([GOOD, {"id": 106, "amount": "1234567890"}], 2, ["'amount'"]),
    "invalid_date": ([GOOD, {"id": 107, "day": "2023-02-29"}], 2, ["'day'", "2023-02-29"]),
    "bigint_overflow": ([GOOD, '{"id": 9223372036854775808}'], 2, ["'id'"]),
    # Blank lines count: the bad row is on line 4.
    "line_numbers_count_blank_lines": ([GOOD, "", GOOD, {"id": 108, "level": 300}], 4, ["'level'"]),
    # A long file whose last line is bad: nothing of it may be committed.
    "bad_last_line_of_long_file": ([{"id": 1000 + i, "name": "x" * 50} for i in range(3000)]
                                   + [{"id": 5000, "name": "y", "nope": 1}], 3001, ["nope"]),
}


@pytest.mark.parametrize("case", sorted(BAD_IMPORTS))
def test_bad_import_changes_nothing(seeded, case):
    dt = seeded
    lines, lineno, fragments = BAD_IMPORTS[case]
    path = dt.write_jsonl(lines, name=f"{case}.jsonl")
    before = snapshot_of_table(dt)
    proc = dt.run_fail(["import", "t", path], expect_status=1)
    err = one_line_error(proc)
    assert f"{path}:{lineno}:" in err, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert snapshot_of_table(dt) == before


def test_bad_import_from_stdin_names_the_line(seeded):
    dt = seeded
    before = snapshot_of_table(dt)
    data = json.dumps(GOOD) + "\n" + json.dumps({"id": 1, "level": 1000}) + "\n"
    proc = dt.run_fail(["import", "t", "-"], input=data, expect_status=1)
    err = one_line_error(proc)
    assert "-:2:" in err and "'level'" in err
    assert snapshot_of_table(dt) == before


def test_import_of_missing_file(seeded):
    dt = seeded
    before = snapshot_of_table(dt)
    proc = dt.run_fail(["import", "t", dt.workdir / "no-such-file.jsonl"], expect_status=1)
    assert "no-such-file.jsonl" in one_line_error(proc)
    assert snapshot_of_table(dt) == before


@pytest.mark.parametrize("args", [
    ["scan", "nope"],
    ["scan", "nope", "--snapshot", "0"],
    ["import", "nope", "FILE"],
    ["get", "nope", "--key", '{"id": 1}'],
    ["history", "nope"],
    ["describe", "nope"],
    ["changes", "nope", "--from", "0"],
    ["compact", "nope"],
    ["expire", "nope", "--keep", "1"],
    ["verify", "nope"],
], ids=lambda a: a[0] + ("-snapshot" if "--snapshot" in a else ""))
def test_table_that_does_not_exist(seeded, args):
    dt = seeded
    path = dt.write_jsonl([GOOD])
    args = [path if a == "FILE" else a for a in args]
    before = tree(dt.root)
    # Exit 1 (error), never 3 (which `get` uses for "key absent").
    proc = dt.run_fail(args, expect_status=1)
    err = one_line_error(proc)
    assert "'nope'" in err and "does not exist" in err, err
    assert tree(dt.root) == before


@pytest.mark.parametrize("schema,pk,buckets,fragment", [
    ("id BIGNT", "id", None, "BIGNT"),
    ("id BIGINT, name STRING", "idx", None, "idx"),
    ("id BIGINT, name STRING", "id,nme", None, "nme"),
    ("id BIGINT, score DOUBLE", "score", None, "score"),
    ("id BIGINT, name STRING", "id", 0, "0"),
    ("id BIGINT, name STRING", "id", 5000, "5000"),
    ("id BIGINT, amount DECIMAL(40,2)", "id", None, "amount"),
    ("id BIGINT, id STRING", "id", None, "id"),
], ids=["unknown_type", "pk_not_in_schema", "second_pk_not_in_schema", "double_pk",
        "zero_buckets", "too_many_buckets", "decimal_precision", "duplicate_column"])
def test_create_rejects_bad_definitions(seeded, schema, pk, buckets, fragment):
    dt = seeded
    before = tree(dt.root)
    args = ["create", "new", "--schema", schema, "--primary-key", pk]
    if buckets is not None:
        args += ["--buckets", buckets]
    proc = dt.run_fail(args, expect_status=1)
    assert fragment in one_line_error(proc)
    assert tree(dt.root) == before, "a failed create left something under the root"
    assert dt.run(["list"]).stdout == "t\n"


def test_create_existing_table(seeded):
    dt = seeded
    before = snapshot_of_table(dt)
    for schema in (SCHEMA, "id BIGINT, other STRING"):
        proc = dt.run_fail(["create", "t", "--schema", schema, "--primary-key", "id"], expect_status=1)
        assert "already exists" in one_line_error(proc)
    assert snapshot_of_table(dt) == before


def test_create_rejects_bad_table_name(seeded):
    dt = seeded
    before = tree(dt.root)
    for name in ("bad/name", ".hidden", "x" * 129):
        proc = dt.run_fail(["create", name, "--schema", "id BIGINT", "--primary-key", "id"], expect_status=1)
        assert "invalid table name" in one_line_error(proc)
    assert tree(dt.root) == before


@pytest.mark.parametrize("key,fragment", [
    ('{"name": "x"}', "id"),
    ('{"id": "abc"}', "id"),
    ("not json", "malformed JSON"),
])
def test_get_with_bad_key_is_an_error_not_absent(seeded, key, fragment):
    dt = seeded
    proc = dt.run_fail(["get", "t", "--key", key], expect_status=1)
    assert fragment in one_line_error(proc)


def test_usage_errors(seeded):
    dt = seeded
    dt.run_fail(["frobnicate", "t"], expect_status=2)
    dt.run_fail(["scan"], expect_status=2)
    dt.run_fail(["scan", "t"], root=False, expect_status=2)  # no --root
    proc = dt.run_fail(["scan", "t", "--format", "xml"], expect_status=1)
    assert "xml" in one_line_error(proc)
    proc = dt.run_fail(["expire", "t", "--keep", "0"], expect_status=1)
    assert "keep" in one_line_error(proc)
