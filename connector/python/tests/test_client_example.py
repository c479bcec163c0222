"""examples/jsonl_to_table.py: run, SIGKILL, rerun on the same input, exactly once."""

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "jsonl_to_table.py"
SCHEMA = "id BIGINT, name STRING, price DECIMAL(10,2), day DATE"


def input_lines(n):
    out = []
    for i in range(n):
        if i % 13 == 12:
            out.append(json.dumps({"_op": "delete", "id": (i * 7) % 2000}))
        else:
            out.append(json.dumps({"id": i % 2000, "name": f"n{i}", "price": f"{i}.25",
                                   "day": f"2024-01-{1 + i % 28:02d}"}))
    return out


def model(lines):
    table = {}
    for line in lines:
        obj = json.loads(line)
        if obj.get("_op") == "delete":
            table.pop(obj["id"], None)
        else:
            table[obj["id"]] = dict(obj, price=obj["price"])
    return [table[k] for k in sorted(table)]


def run_example(sidecar, state, interval="0.2"):
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--target", sidecar.target, "--table", "orders",
         "--create", SCHEMA, "--primary-key", "id", "--state", str(state),
         "--checkpoint-interval", interval],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc, log, offset):
    """Reads the example's stderr until a checkpoint covers `offset` input lines."""
    for line in proc.stderr:
        log.append(line)
        m = re.search(r"checkpoint (\d+): (\d+) rows, input offset (\d+)", line)
        if m and int(m.group(3)) >= offset:
            return int(m.group(1))
    raise AssertionError("the example ended before the checkpoint:\n" + "".join(log))


def sealed(log):
    return {int(m.group(1)): int(m.group(2)) for m in
            (re.search(r"checkpoint (\d+): (\d+) rows", line) for line in log) if m}


def test_kill_and_rerun_is_exactly_once(sidecar, deltactl, tmp_path):
    lines = input_lines(6000)
    state = tmp_path / "orders.state"

    first = run_example(sidecar, state)
    log1 = []
    try:
        first.stdin.write("\n".join(lines[:3000]) + "\n")
        first.stdin.flush()
        k = wait_for_checkpoint(first, log1, 3000)
        # More input, partly sent and staged, none of it checkpointed: then a crash.
        first.stdin.write("\n".join(lines[3000:4500]) + "\n")
        first.stdin.flush()
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
        log1 += first.stderr.readlines()
    saved = json.loads(state.read_text())
    assert saved["offset"] == 3000 and saved["checkpoint"] >= k

    second = run_example(sidecar, state, interval="60")
    out, err = second.communicate("\n".join(lines) + "\n", timeout=300)
    assert second.returncode == 0, err
    assert f"skipping the 3000 input lines checkpoint {saved['checkpoint']} covers" in err

    expected = model(lines)
    got = deltactl.scan("orders")
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert got == expected
    # Every input line was sealed exactly once across both runs: the first run's
    # checkpoints up to the state's, then the second run's.
    first_rows = {c: n for c, n in sealed(log1).items() if c <= saved["checkpoint"]}
    second_rows = sealed(err.splitlines())
    assert min(second_rows) == saved["checkpoint"] + 1
    assert sum(first_rows.values()) + sum(second_rows.values()) == len(lines)
    identities = [i["checkpoint"] for h in deltactl.history("orders") for i in h["identities"]]
    assert sorted(identities) == list(range(1, max(second_rows) + 1))


def test_sidecar_restart_while_running(sidecar, deltactl, tmp_path):
    """The sidecar is SIGKILLed and restarted under a running example: it restores
    in-process and replays what it read since its last checkpoint."""
    lines = input_lines(3000)
    proc = run_example(sidecar, tmp_path / "s.state")
    log = []
    drain = None
    try:
        proc.stdin.write("\n".join(lines[:1000]) + "\n")
        proc.stdin.flush()
        wait_for_checkpoint(proc, log, 1000)
        sidecar.kill9()
        proc.stdin.write("\n".join(lines[1000:2000]) + "\n")
        proc.stdin.flush()
        sidecar.start()
        drain = threading.Thread(target=lambda: log.extend(proc.stderr))
        drain.start()
        proc.stdin.write("\n".join(lines[2000:]) + "\n")
        proc.stdin.close()
        assert proc.wait(timeout=300) == 0, "".join(log)
    finally:
        proc.kill()
        proc.wait()
        if drain is not None:
            drain.join()
    assert any("restoring checkpoint" in line for line in log), "".join(log)
    assert deltactl.scan("orders") == model(lines)
    assert sum(sealed(log).values()) == len(lines), "".join(log)
