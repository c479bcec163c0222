"""Fixtures for the deltactl integration tests.

The tests drive the real `deltactl` binary through subprocess, exactly as a
user would, each in its own table root under pytest's tmp_path. Expected
results always come from an independent in-test model (deltamodel.py), never
from project code.

The binary is found in $DELTA_BIN_DIR (set by CTest), defaulting to
<repo>/build/bin.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("DELTA_BIN_DIR") or (REPO_ROOT / "build" / "bin"))
DELTACTL = BIN_DIR / "deltactl"

# Generous per-invocation limit: a single deltactl call takes milliseconds.
CALL_TIMEOUT = 60

# deltactl's exit statuses (see `deltactl --help`).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3

# The table root always comes from --root, never from the caller's environment.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "DELTA_TABLE_ROOT"}


def _describe(proc):
    def tail(text):
        text = text or ""
        return text if len(text) <= 4000 else "..." + text[-4000:]

    return (f"command: {' '.join(map(str, proc.args))}\nexit status: {proc.returncode}\n"
            f"stdout:\n{tail(proc.stdout)}\nstderr:\n{tail(proc.stderr)}")


def dump_jsonl(rows):
    """JSON lines text for `rows` (dicts, or pre-serialized strings kept as they are)."""
    lines = []
    for r in rows:
        lines.append(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def parse_jsonl(text):
    # Split on "\n" only: str.splitlines() would also split on U+2028, U+0085...,
    # which JSON strings may hold unescaped.
    return [json.loads(line) for line in text.split("\n") if line.strip()]


class Deltactl:
    """deltactl bound to one table root, with helpers for the common commands."""

    def __init__(self, binary, root, workdir):
        self.binary = Path(binary)
        self.root = Path(root)
        self.workdir = Path(workdir)
        self._files = 0

    # -- raw invocation -----------------------------------------------------

    def cmd(self, args, root=True):
        """The argv for `args`, with --root prepended unless root=False."""
        return [str(self.binary)] + (["--root", str(self.root)] if root else []) + [str(a) for a in args]

    def run(self, args, input=None, check=True, root=True, timeout=CALL_TIMEOUT):
        """Runs deltactl with `args` and returns the CompletedProcess (stdout, stderr as str).

        check=True asserts exit status 0 (with a readable message otherwise).
        """
        # Bytes in, decoded here: text mode would translate "\r" and "\r\n" in the output.
        if isinstance(input, str):
            input = input.encode("utf-8")
        raw = subprocess.run(self.cmd(args, root=root), input=input, capture_output=True,
                             timeout=timeout, cwd=self.workdir, env=CLEAN_ENV)
        proc = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode("utf-8"),
                                           raw.stderr.decode("utf-8", errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError("deltactl failed\n" + _describe(proc))
        return proc

    def run_fail(self, args, input=None, root=True, expect_status=None):
        """Runs deltactl expecting failure; returns the CompletedProcess."""
        proc = self.run(args, input=input, check=False, root=root)
        assert proc.returncode != 0, "deltactl unexpectedly succeeded\n" + _describe(proc)
        if expect_status is not None:
            assert proc.returncode == expect_status, _describe(proc)
        return proc

    # -- helpers --------------------------------------------------------------

    def create(self, table, schema, primary_key, buckets=None):
        args = ["create", table, "--schema", schema, "--primary-key", primary_key]
        if buckets is not None:
            args += ["--buckets", buckets]
        return self.run(args)

    def write_jsonl(self, rows, name=None):
        """Writes rows (dicts or raw lines) as a JSON-lines file; returns its path."""
        self._files += 1
        d = self.workdir / "imports"
        d.mkdir(exist_ok=True)
        path = d / (name or f"import-{self._files:04d}.jsonl")
        path.write_text(dump_jsonl(rows), encoding="utf-8")
        return path

    def import_file(self, table, path, extra=(), check=True):
        return self.run(["import", table, path, *extra], check=check)

    def import_rows(self, table, rows, extra=()):
        """Imports `rows` as one JSONL file; returns the printed snapshot id."""
        proc = self.import_file(table, self.write_jsonl(rows), extra=extra)
        return parse_snapshot_id(proc)

    def scan_text(self, table, snapshot=None, as_of=None, fmt=None, check=True):
        args = ["scan", table]
        if snapshot is not None:
            args += ["--snapshot", snapshot]
        if as_of is not None:
            args += ["--as-of", as_of]
        if fmt is not None:
            args += ["--format", fmt]
        return self.run(args, check=check)

    def scan(self, table, snapshot=None, as_of=None):
        """Scans into a list of dicts (member order preserved)."""
        return parse_jsonl(self.scan_text(table, snapshot=snapshot, as_of=as_of).stdout)

    def history(self, table):
        return parse_jsonl(self.run(["history", table, "--format", "jsonl"]).stdout)

    def describe(self, table):
        return json.loads(self.run(["describe", table]).stdout)

    def changes(self, table, from_id, to_id=None, fmt=None):
        args = ["changes", table, "--from", from_id]
        if to_id is not None:
            args += ["--to", to_id]
        if fmt is not None:
            args += ["--format", fmt]
        return self.run(args)

    def table_dir(self, table):
        return self.root / table


def parse_snapshot_id(proc):
    lines = proc.stdout.split()
    assert len(lines) == 1 and lines[0].isdigit(), "expected one snapshot id\n" + _describe(proc)
    return int(lines[0])


@pytest.fixture(scope="session")
def deltactl_bin():
    if not DELTACTL.is_file() or not os.access(DELTACTL, os.X_OK):
        pytest.fail(f"deltactl binary not found at {DELTACTL}: build it with "
                    f"`ninja -C build deltactl` or set DELTA_BIN_DIR", pytrace=False)
    return DELTACTL


@pytest.fixture
def dt(deltactl_bin, tmp_path):
    """A Deltactl bound to a fresh table root under tmp_path."""
    work = tmp_path / "work"
    work.mkdir()
    return Deltactl(deltactl_bin, tmp_path / "root", work)


@pytest.fixture
def run(dt):
    """run(args, input=None, check=True) -> CompletedProcess, with --root set."""
    return dt.run


@pytest.fixture
def import_rows(dt):
    """import_rows(table, rows, extra=()) -> printed snapshot id."""
    return dt.import_rows


@pytest.fixture
def scan(dt):
    """scan(table, snapshot=None, as_of=None) -> list of dicts."""
    return dt.scan
