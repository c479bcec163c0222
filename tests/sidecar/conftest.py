"""Fixtures for the delta-sidecar integration tests.

Every test talks to a real delta-sidecar process over real gRPC, each in its
own data dir and table root under pytest's tmp_path, and checks results both
through the gRPC Scan and through `deltactl --root <table_root> scan`.
Expected rows come from the tests themselves (and from delta-loadgen's
in-process model for the crash tests), never from the server.

Binaries are found in $DELTA_BIN_DIR (set by CTest), default <repo>/build/bin.
Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/sidecar
"""

import json
import os
import subprocess
from pathlib import Path

import grpc
import pytest

import packed_rows as pr
import sidecar_api

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("DELTA_BIN_DIR") or (REPO_ROOT / "build" / "bin"))
SIDECAR = BIN_DIR / "delta-sidecar"
DELTACTL = BIN_DIR / "deltactl"
LOADGEN = BIN_DIR / "delta-loadgen"

# The schema most tests use.
SCHEMA = "id BIGINT, name STRING, score DOUBLE, qty INT"
KEY = "id"


def _require(path):
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{path.name} not found at {path}: build it with `ninja -C build {path.name}` "
                    f"or set DELTA_BIN_DIR", pytrace=False)
    return path


@pytest.fixture(scope="session", autouse=True)
def proto(tmp_path_factory):
    """deltasidecar.v1 message classes, generated with the system protoc."""
    return sidecar_api.load_proto(tmp_path_factory.mktemp("proto"))


@pytest.fixture(scope="session")
def sidecar_bin():
    return _require(SIDECAR)


@pytest.fixture(scope="session")
def deltactl_bin():
    return _require(DELTACTL)


@pytest.fixture(scope="session")
def loadgen_bin():
    return _require(LOADGEN)


@pytest.fixture
def sidecar_factory(sidecar_bin, tmp_path):
    """make(name="sc", listen=None, env=None, start=True) -> SidecarProcess; stopped at teardown."""
    made = []

    def make(name="sc", listen=None, env=None, start=True):
        sc = sidecar_api.SidecarProcess(sidecar_bin, tmp_path / name, listen=listen, env=env)
        made.append(sc)
        if start:
            sc.start()
        return sc

    yield make
    for sc in made:
        sc.stop()


@pytest.fixture
def sidecar(sidecar_factory):
    """A running delta-sidecar on a free loopback port, with its own dirs."""
    return sidecar_factory()


@pytest.fixture
def client(sidecar):
    return sidecar.client()


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


@pytest.fixture
def deltactl(deltactl_bin, sidecar):
    """deltactl on the sidecar's table root."""
    return Deltactl(deltactl_bin, sidecar.table_root)


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
