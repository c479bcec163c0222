"""Fixtures for the delta-sidecar integration tests.

Every test talks to a real delta-sidecar process over real gRPC, each in its
own data dir and table root under pytest's tmp_path, and checks results both
through the gRPC Scan and through `deltactl --root <table_root> scan`.
Expected rows come from the tests themselves (and from delta-loadgen's
in-process model for the crash tests), never from the server.

Binaries are found in $DELTA_BIN_DIR (set by CTest), default <repo>/build/bin.
Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/sidecar
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector" / "python"))

import sidecar_api  # noqa: E402
from sidecar_helpers import Deltactl

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("DELTA_BIN_DIR") or (REPO_ROOT / "build" / "bin"))
SIDECAR = BIN_DIR / "delta-sidecar"
DELTACTL = BIN_DIR / "deltactl"
LOADGEN = BIN_DIR / "delta-loadgen"

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
    """make(name="sc", listen=None, env=None, start=True, args=()) -> SidecarProcess; stopped
    at teardown."""
    made = []

    def make(name="sc", listen=None, env=None, start=True, args=()):
        sc = sidecar_api.SidecarProcess(sidecar_bin, tmp_path / name, listen=listen, env=env,
                                        args=args)
        made.append(sc)
        if start:
            sc.start()
        return sc

    yield make
    errors = []
    for sc in made:
        try:
            sc.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def sidecar(sidecar_factory):
    """A running delta-sidecar on a free loopback port, with its own dirs."""
    return sidecar_factory()


@pytest.fixture
def client(sidecar):
    return sidecar.client()


@pytest.fixture
def deltactl(deltactl_bin, sidecar):
    """deltactl on the sidecar's table root."""
    return Deltactl(deltactl_bin, sidecar.table_root)


@pytest.fixture
def socket_dir():
    """A short directory for unix sockets (sun_path holds 107 bytes; tmp_path can be longer)."""
    path = tempfile.mkdtemp(prefix="ds-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)
