"""Helpers shared by the sidecar tests (fixtures live in conftest.py)."""

import json
import os
import subprocess
from pathlib import Path

import grpc

from deltasidecar import rows as pr

# The schema most tests use.
SCHEMA = "id BIGINT, name STRING, score DOUBLE, qty INT"
KEY = "id"


def row(i, name=None):
    """Row i of SCHEMA; `name` replaces the default name."""
    return {"id": i, "name": name if name is not None else f"v-{i}", "score": i / 4, "qty": i % 11}


def sidecars_on_one_root(sidecar_factory, deltactl_bin, table):
    """Sidecars A and B on one table root, each with its own data dir, and a
    Deltactl of that root; `table` exists (SCHEMA, 4 buckets)."""
    a = sidecar_factory("a")
    b = sidecar_factory("b", start=False)
    b.table_root = a.table_root
    b.start()
    a.client().create_table(table, SCHEMA, KEY, buckets=4)
    return a, b, Deltactl(deltactl_bin, a.table_root)


class Deltactl:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = Path(root)

    def run(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if k != "DELTA_TABLE_ROOT"}
        proc = subprocess.run([str(self.binary), "--root", str(self.root), *map(str, args)],
                              capture_output=True, timeout=120, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"deltactl {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def scan_text(self, table):
        return self.run("scan", table).stdout.decode("utf-8")

    def scan(self, table):
        return [json.loads(line) for line in self.scan_text(table).split("\n") if line]

    def history(self, table):
        out = self.run("history", table, "--format", "jsonl").stdout.decode()
        return [json.loads(line) for line in out.split("\n") if line]


def rpc_error(fn, *args, **kwargs):
    """Calls fn expecting a grpc.RpcError; returns it."""
    try:
        result = fn(*args, **kwargs)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"expected an RPC error, got {result!r}")


def assert_tables_agree(client, deltactl, table, expected):
    """The gRPC Scan and `deltactl scan` both hold exactly `expected` (dicts, any order)."""
    schema = client.schema(table)
    key_names = [schema.columns[i].name for i in schema.key]
    exp = sorted(({n: r.get(n) for n in schema.names} for r in expected),
                 key=lambda r: [r[k] for k in key_names])
    got, _ = client.scan(table)
    assert got == exp
    pr.assert_same_json_rows(schema, [pr.json_row(schema, r) for r in exp], deltactl.scan(table))
