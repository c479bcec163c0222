"""Fixtures for the deltasidecar package tests.

Every test talks to a real delta-sidecar process over real gRPC, in its own
data dir and table root under pytest's tmp_path, and checks table contents
also with `deltactl --root <table_root> scan`. The process handling is the
one of the server's tests (tests/sidecar/sidecar_api.py).

Binaries come from $DELTA_BIN_DIR (CTest sets it), default <repo>/build/bin.
Run with the virtual environment's interpreter, where scripts/build installed
the package's wheel (a source checkout is used only when none is installed):
    DELTA_BIN_DIR=build/bin .venv/bin/python -m pytest -q connector/python/tests
"""

import os
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = Path(__file__).resolve().parents[3]
try:
    import deltasidecar  # noqa: F401  (the installed wheel)
except ImportError:
    sys.path.insert(0, str(PACKAGE_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests" / "sidecar"))

import sidecar_api  # noqa: E402
from sidecar_helpers import Deltactl  # noqa: E402

import deltasidecar  # noqa: E402

BIN_DIR = Path(os.environ.get("DELTA_BIN_DIR") or (REPO_ROOT / "build" / "bin"))


def _binary(name):
    path = BIN_DIR / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found at {path}: build it or set DELTA_BIN_DIR", pytrace=False)
    return path


@pytest.fixture(scope="session")
def sidecar_bin():
    return _binary("delta-sidecar")


@pytest.fixture(scope="session")
def deltactl_bin():
    return _binary("deltactl")


@pytest.fixture
def sidecar(sidecar_bin, tmp_path):
    """A running delta-sidecar on a free loopback port; stopped (SIGTERM, checked) at
    teardown."""
    sc = sidecar_api.SidecarProcess(sidecar_bin, tmp_path / "sc")
    sc.start()
    yield sc
    sc.stop()


@pytest.fixture
def client(sidecar):
    c = deltasidecar.Client(sidecar.target)
    yield c
    c.close()


@pytest.fixture
def deltactl(deltactl_bin, sidecar):
    return Deltactl(deltactl_bin, sidecar.table_root)
