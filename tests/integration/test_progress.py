"""Progress lines of long commands (import, compact, verify, export): on stderr
while it is a terminal, and nothing at all when it is a pipe."""

import os
import pty
import re
import subprocess

from conftest import CALL_TIMEOUT, CLEAN_ENV

SCHEMA = "id BIGINT, name STRING, score DOUBLE"


def rows(n, start=0):
    return [{"id": start + i, "name": f"name-{i}", "score": i * 0.25} for i in range(n)]


def run_on_terminal(dt, args):
    """Runs deltactl with stderr on a pseudo-terminal and stdout on a pipe.

    Returns (exit status, stdout, everything written to the terminal). The
    terminal turns "\\n" into "\\r\\n"; the text is returned as written there.
    """
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(dt.cmd(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=slave, env=CLEAN_ENV)
        os.close(slave)
        slave = None
        terminal = b""
        while True:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the last holder of the terminal's other end is gone
                break
            if not chunk:
                break
            terminal += chunk
        stdout, _ = proc.communicate(timeout=CALL_TIMEOUT)
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    return proc.returncode, stdout.decode(), terminal.decode()


def redraws(text, what):
    """The states a progress line showed, in order."""
    return [m.group(1) for m in re.finditer(re.escape(what) + r": ([^\r\n\x1b]*)", text)]


def make_table(dt):
    dt.create("t", SCHEMA, "id", buckets=4)
    dt.import_rows("t", rows(3000), extra=["--no-maintenance"])
    dt.import_rows("t", rows(3000, start=1500), extra=["--no-maintenance"])


def test_import_shows_rows_bytes_and_commit_on_a_terminal(dt):
    dt.create("t", SCHEMA, "id", buckets=4)
    path = dt.write_jsonl(rows(5000))
    status, stdout, terminal = run_on_terminal(dt, ["import", "t", path])
    assert status == 0, terminal
    assert stdout == "1\n"
    shown = redraws(terminal, "import t")
    assert len(shown) >= 2, terminal  # redrawn while reading, then the commit
    size = path.stat().st_size
    assert re.fullmatch(r"\d+ rows, .* of .* read", shown[0]), shown
    assert re.fullmatch(r"5000 rows, .* of .* read; committed as snapshot 1", shown[-1]), shown
    assert f"{size / 1024:.1f} KiB of {size / 1024:.1f} KiB read" in shown[-1]
    assert redraws(terminal, "maintenance t")[-1] == "done"


def test_import_is_silent_on_a_pipe(dt):
    dt.create("t", SCHEMA, "id", buckets=4)
    proc = dt.import_file("t", dt.write_jsonl(rows(5000)))
    assert proc.stdout == "1\n"
    assert proc.stderr == ""
    proc = dt.run(["import", "t", "-"], input="".join(f'{{"id": {i}}}\n' for i in range(100)))
    assert proc.stderr == ""


def test_a_failed_import_ends_its_progress_line(dt):
    dt.create("t", SCHEMA, "id", buckets=4)
    bad = dt.write_jsonl(rows(100) + ["{not json"])
    status, _, terminal = run_on_terminal(dt, ["import", "t", bad])
    assert status == 1
    assert "import t: " in terminal
    assert re.search(r"\r\ndeltactl: error: .*malformed JSON", terminal), terminal


def test_compact_shows_buckets_merged(dt):
    make_table(dt)
    status, stdout, terminal = run_on_terminal(dt, ["compact", "--full", "t"])
    assert status == 0, terminal
    assert stdout == "3\n"
    assert re.fullmatch(r"4/4 buckets merged, .*; snapshot 3", redraws(terminal, "compact t")[-1])
    again = dt.run(["compact", "--full", "t"])
    assert again.stderr == "deltactl: nothing to compact\n"


def test_compact_is_silent_on_a_pipe(dt):
    make_table(dt)
    proc = dt.run(["compact", "--full", "t"])
    assert (proc.stdout, proc.stderr) == ("3\n", "")


def test_verify_shows_files_checked(dt):
    make_table(dt)
    status, stdout, terminal = run_on_terminal(dt, ["verify", "t"])
    assert status == 0, terminal
    assert stdout == "OK table t\n"
    shown = redraws(terminal, "verify t")
    # Each import of 3,000 rows over 4 buckets is one multi-bucket file.
    assert re.fullmatch(r"2 files checked, \d+\.\d KiB", shown[-1]), shown
    assert all(re.fullmatch(r"\d/2 files checked, .*", s) for s in shown[:-1]), shown
    proc = dt.run(["verify", "t"])
    assert (proc.stdout, proc.stderr) == ("OK table t\n", "")


def test_export_counts_rows(dt):
    make_table(dt)
    out = dt.workdir / "t.jsonl"
    status, _, terminal = run_on_terminal(dt, ["export", "t", "--format", "jsonl", out])
    assert status == 0, terminal
    assert redraws(terminal, "export t@2")[-1] == "4500 rows, done"
    proc = dt.run(["export", "t", "--format", "jsonl", out])
    assert (proc.stdout, proc.stderr) == ("", "")
    assert len(out.read_text().splitlines()) == 4500
