"""The package as users get it: the shipped .proto, an installed wheel, and the
README's "### Python" lines run as written."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parents[1]
SHIPPED_PROTO = PACKAGE_ROOT / "deltasidecar" / "proto" / "deltasidecar" / "v1" / "sidecar.proto"


def test_shipped_proto_is_the_repository_proto():
    """The package generates its message classes from its own copy of the API, so
    an installed package works without the repository; it must not drift."""
    repo_proto = REPO_ROOT / "proto" / "deltasidecar" / "v1" / "sidecar.proto"
    assert SHIPPED_PROTO.read_bytes() == repo_proto.read_bytes(), (
        f"{SHIPPED_PROTO} differs from {repo_proto}: copy it over (cp {repo_proto} {SHIPPED_PROTO})")


def test_installed_wheel_works_without_the_repository(sidecar, tmp_path):
    # Build from a copy, so that setuptools' build/ and egg-info stay out of the tree.
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_ROOT, src, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w",
                          str(wheels), str(src)], check=True, capture_output=True, timeout=300)
    wheel, = wheels.glob("deltasidecar-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "deltasidecar/proto/deltasidecar/v1/sidecar.proto" in names
    assert "deltasidecar/py.typed" in names and "deltasidecar/writer.py" in names
    # Generated when the wheel was built (grpcio-tools), not at run time.
    assert "deltasidecar/v1/sidecar_pb2.py" in names and "deltasidecar/v1/sidecar_pb2_grpc.py" in names
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = (
        "import deltasidecar, sys\n"
        f"assert deltasidecar.__file__.startswith({str(site)!r}), deltasidecar.__file__\n"
        "c = deltasidecar.Client(sys.argv[1])\n"
        "c.create_table('installed', 'id BIGINT, v STRING', 'id')\n"
        "with deltasidecar.Writer('installed', 'w/0', client=c) as w:\n"
        "    w.upsert({'id': 1, 'v': 'from the wheel'})\n"
        "    w.commit([w.prepare_commit(1)])\n"
        "print(list(c.scan('installed')))\n"
        "c.close()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    # No protoc on the PATH: the installed package must not need one.
    env["PATH"] = str(Path(sys.executable).parent)
    out = subprocess.run([sys.executable, "-c", code, sidecar.target], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[{'id': 1, 'v': 'from the wheel'}]"


def test_readme_python_lines_run_as_written(sidecar, deltactl):
    """The Python of README.md's "### Python" block, against this test's sidecar
    (DELTA_SIDECAR_TARGET), prints what the README says it prints."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Python\n"):]
    section = section[:section.index("\n## ")]
    script = re.search(r"<<'EOF'\n(.*?)\nEOF\n", section, re.S).group(1)
    printed = re.search(r"It prints `(.*?)`", section).group(1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DELTA_SIDECAR_TARGET"] = sidecar.target
    for _ in range(2):  # and again, as a user rerunning it would
        # sys.executable: the virtual environment's python (.venv/bin/python in the README).
        out = subprocess.run([sys.executable, "-"], input=script, cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == printed
    assert deltactl.scan("scores") == [{"id": 1, "name": "a", "score": 1.5}]
