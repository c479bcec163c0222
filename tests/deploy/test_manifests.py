"""deploy/ checked against the real build: the Dockerfile and every Kubernetes
manifest must agree with the `delta-sidecar` binary and with each other.

- every DELTA_SIDECAR_* variable and every --flag they set exists in
  `delta-sidecar --help`;
- the gRPC probes use the port of the health listen address (the kubelet
  reaches the pod IP, never the pod's loopback);
- the data dir and the table root are volume mounts, the table root on a
  ReadWriteMany claim defined in deploy/;
- the Dockerfile copies binaries that CMake builds into ${CMAKE_BINARY_DIR}/bin,
  and installs the package of every shared library they link;
- the sidecar starts with the manifests' environment (paths and ports
  remapped to temporary ones) and answers the health check.

The checks are functions over the file texts, so the drift tests below can
feed them altered copies and show that each kind of drift is caught.

Run: DELTA_BIN_DIR=build/bin /usr/bin/python3 -m pytest -q tests/deploy
"""

import functools
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN_DIR = Path(os.environ.get("DELTA_BIN_DIR") or (REPO / "build" / "bin"))
SIDECAR = BIN_DIR / "delta-sidecar"
MANIFEST_GLOBS = ("**/*.yaml", "**/*.yml")
# Present in every Debian image: apt itself depends on them.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
MIN_MEMORY_REQUEST = 512 * 2**20  # peak RSS ~470 MiB (docs/benchmarks.md)


# -- inputs ------------------------------------------------------------------------------


def deploy_files():
    """{path relative to deploy/: text} of the Dockerfile and every Kubernetes manifest."""
    files = {"Dockerfile": (DEPLOY / "Dockerfile").read_text()}
    for pattern in MANIFEST_GLOBS:
        for p in DEPLOY.glob(pattern):
            rel = str(p.relative_to(DEPLOY))
            if not rel.startswith("grafana/"):  # Grafana's own files, not Kubernetes objects
                files[rel] = p.read_text()
    return files


class Help:
    """The flags and environment variables `delta-sidecar --help` lists."""

    def __init__(self, text):
        self.text = text
        self.flags = set(re.findall(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)", text, re.M))
        self.envs = set(re.findall(r"\(Env:(DELTA_SIDECAR_[A-Z0-9_]+)\)", text))


@pytest.fixture(scope="session")
def sidecar_help():
    if not SIDECAR.is_file():
        pytest.fail(f"delta-sidecar not found at {SIDECAR}: build it or set DELTA_BIN_DIR",
                    pytrace=False)
    proc = subprocess.run([str(SIDECAR), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    h = Help(proc.stdout)
    assert "--listen" in h.flags and "DELTA_SIDECAR_DATA_DIR" in h.envs, proc.stdout
    return h


def quantity(q):
    """A Kubernetes quantity ("512Mi", "1Gi", "2G", "1000") in bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    assert m, f"not a quantity: {q!r}"
    scale = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3,
             "M": 10**6, "G": 10**9, "T": 10**12}[m.group(2)]
    return int(float(m.group(1)) * scale)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def is_loopback(address):
    host = address.rsplit(":", 1)[0].strip("[]")
    return address.startswith("unix:") or host in ("localhost", "::1") or host.startswith("127.")


# -- the Dockerfile ----------------------------------------------------------------------


class Dockerfile:
    def __init__(self, text):
        joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines()
                                                 if not l.lstrip().startswith("#")))
        self.instructions = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l.strip()
                              else "") for l in joined.splitlines() if l.strip()]
        self.stages = []  # [(from_image, stage name, [instructions])]
        for ins, arg in self.instructions:
            if ins == "FROM":
                parts = arg.split()
                self.stages.append((parts[0], parts[2] if len(parts) > 2 else None, []))
            elif self.stages:
                self.stages[-1][2].append((ins, arg))

    def env(self, stage=-1):
        env = {}
        for ins, arg in self.stages[stage][2]:
            if ins == "ENV":
                for k, v in re.findall(r"(\w+)=(\S+)", arg):
                    env[k] = v
        return env

    def copies_from_build(self):
        """[(source, destination)] of the final stage's COPY --from=<build stage>."""
        out = []
        for ins, arg in self.stages[-1][2]:
            if ins == "COPY" and arg.startswith("--from="):
                parts = arg.split()
                out += [(s, parts[-1]) for s in parts[1:-1]]
        return out

    def built_targets(self):
        targets = set()
        for _, _, body in self.stages[:-1]:
            for ins, arg in body:
                for m in re.finditer(r"--target((?:\s+[\w.+-]+)+)", arg):
                    targets |= set(m.group(1).split())
        return targets

    def runtime_packages(self):
        pkgs = set()
        for ins, arg in self.stages[-1][2]:
            if ins == "RUN":
                for m in re.finditer(r"apt-get install((?:\s+[^&|;]+)+)", arg):
                    pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
        return pkgs


@functools.lru_cache(maxsize=None)
def linked_packages(binary):
    """The Debian packages of the shared libraries `binary` links."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for path in re.findall(r"=> (/\S+)", out):
        candidates = [path, os.path.realpath(path)]
        candidates += [p[4:] if p.startswith("/usr/") else "/usr" + p for p in list(candidates)]
        for c in candidates:
            r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs[r.stdout.split(":", 1)[0]] = path
                break
        else:
            pkgs[f"<no package for {path}>"] = path
    return pkgs


def check_dockerfile(text, sidecar_help, bin_dir):
    problems = []
    d = Dockerfile(text)
    if len(d.stages) < 2:
        return ["Dockerfile: expected a multi-stage build (a build stage and a runtime stage)"]
    for image, _, _ in d.stages:
        if not re.fullmatch(r"debian:(12|bookworm)(-slim)?(@sha256:\w+)?", image):
            problems.append(f"Dockerfile: base image {image} is not Debian 12")
    build_runs = " ".join(a for _, _, body in d.stages[:-1] for i, a in body if i == "RUN")
    if "scripts/setup-deps" not in build_runs:
        problems.append("Dockerfile: the build stage does not install its packages with "
                        "scripts/setup-deps")
    targets = d.built_targets()
    copies = d.copies_from_build()
    if not copies:
        problems.append("Dockerfile: the runtime stage copies no binary from the build stage")
    final_env = d.env()
    for name in final_env:
        if name.startswith("DELTA_SIDECAR_") and name not in sidecar_help.envs:
            problems.append(f"Dockerfile: ENV {name} is not an environment variable of "
                            f"delta-sidecar --help")
    packages = d.runtime_packages() | BASE_IMAGE_PACKAGES
    for src, _ in copies:
        name = Path(src).name
        if name not in targets:
            problems.append(f"Dockerfile: copies {src}, but the build stage does not build "
                            f"--target {name} (it builds {sorted(targets)})")
        binary = bin_dir / name
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            problems.append(f"Dockerfile: copies {src}, but CMake builds no {binary}")
            continue
        for pkg, lib in sorted(linked_packages(binary).items()):
            if pkg not in packages:
                problems.append(f"Dockerfile: {name} links {lib} from package {pkg}, which the "
                                f"runtime stage does not install")
    for pkg in sorted(d.runtime_packages()):
        if subprocess.run(["dpkg-query", "-W", pkg], capture_output=True).returncode != 0:
            problems.append(f"Dockerfile: runtime package {pkg} is not a Debian 12 package "
                            f"installed here (misspelt?)")
    users = [a for _, _, body in d.stages[-1:] for i, a in body if i == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append("Dockerfile: the runtime stage must switch to a non-root USER")
    return problems


# -- the Kubernetes manifests ------------------------------------------------------------------


def load_manifests(files):
    docs, problems = [], []
    for path, text in sorted(files.items()):
        if path == "Dockerfile":
            continue
        try:
            for doc in yaml.safe_load_all(text):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                    problems.append(f"{path}: a document without apiVersion and kind")
                    continue
                docs.append((path, doc))
        except yaml.YAMLError as e:
            problems.append(f"{path}: not valid YAML: {e}")
    return docs, problems


def pod_specs(path, doc):
    """[(where, pod spec)] of a manifest: a Pod (template), a workload's template, or the
    pod templates of a FlinkDeployment."""
    kind, spec = doc["kind"], doc.get("spec") or {}
    if kind == "Pod":
        return [(f"{path}", spec)]
    if kind == "FlinkDeployment":
        out = []
        for part in ("podTemplate", "jobManager", "taskManager"):
            tpl = spec.get(part, {}) if part == "podTemplate" else spec.get(part, {}).get("podTemplate")
            if tpl:
                out.append((f"{path} {part}", tpl.get("spec") or {}))
        return out
    if "template" in spec:
        return [(f"{path} template", spec["template"].get("spec") or {})]
    return []


def sidecar_containers(spec):
    return [(section, c) for section in ("initContainers", "containers")
            for c in spec.get(section) or [] if str(c.get("image", "")).startswith("delta-sidecar")]


def effective_config(where, container, configmaps, image_env, sidecar_help, problems):
    """The DELTA_SIDECAR_* settings the container runs with: the image's ENV, then
    envFrom ConfigMaps, then env entries, then --flags in args (later wins)."""
    config = dict(image_env)
    for src in container.get("envFrom") or []:
        name = (src.get("configMapRef") or {}).get("name")
        if name is None:
            problems.append(f"{where}: envFrom other than a configMapRef is not checked")
            continue
        if name not in configmaps:
            problems.append(f"{where}: envFrom ConfigMap {name} is not defined under deploy/")
            continue
        for key, value in (configmaps[name].get("data") or {}).items():
            if key not in sidecar_help.envs:
                problems.append(f"{where}: ConfigMap {name} sets {key}, which is not an "
                                f"environment variable of delta-sidecar --help")
            config[key] = str(value)
    for e in container.get("env") or []:
        if e["name"].startswith("DELTA_SIDECAR_"):
            if e["name"] not in sidecar_help.envs:
                problems.append(f"{where}: env {e['name']} is not an environment variable of "
                                f"delta-sidecar --help")
            if "value" in e:
                config[e["name"]] = str(e["value"])
    args = [str(a) for a in (container.get("command") or [])[1:] + (container.get("args") or [])]
    for i, a in enumerate(args):
        if a.startswith("--"):
            flag, _, value = a.partition("=")
            if flag not in sidecar_help.flags:
                problems.append(f"{where}: flag {flag} is not in delta-sidecar --help")
                continue
            if not value and i + 1 < len(args):
                value = args[i + 1]
            config["DELTA_SIDECAR_" + flag[2:].upper().replace("-", "_")] = value
    if "DELTA_SIDECAR_KILL_POINT" in config:
        problems.append(f"{where}: DELTA_SIDECAR_KILL_POINT is for crash tests only")
    return config


def mount_of(container, volumes, path):
    """(volume, mountPath) of the mount that holds `path`, or None."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[1]):
                best = (volumes.get(m["name"]), mp)
    return best


def check_sidecar(where, section, c, spec, config, pvcs, problems):
    if section != "initContainers" or c.get("restartPolicy") != "Always":
        problems.append(f"{where}: delta-sidecar must be a native sidecar (an initContainer "
                        f"with restartPolicy: Always)")
    listen = config.get("DELTA_SIDECAR_LISTEN", "127.0.0.1:7543")
    health = config.get("DELTA_SIDECAR_HEALTH_LISTEN", "")
    if health:
        probe_port, probe_from = port_of(health), f"DELTA_SIDECAR_HEALTH_LISTEN {health}"
    elif not is_loopback(listen):
        probe_port, probe_from = port_of(listen), f"DELTA_SIDECAR_LISTEN {listen}"
    else:
        probe_port, probe_from = None, None
        problems.append(f"{where}: the API listens on loopback ({listen}) and no "
                        f"DELTA_SIDECAR_HEALTH_LISTEN is set: the kubelet's probes reach the "
                        f"pod IP and cannot get an answer")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if p is None:
            problems.append(f"{where}: delta-sidecar has no {probe}")
            continue
        if "grpc" not in p:
            problems.append(f"{where}: {probe} is not a gRPC probe")
            continue
        if p["grpc"].get("service", "") != "":
            problems.append(f"{where}: {probe} asks for service {p['grpc']['service']!r}; the "
                            f"sidecar's health service answers the empty service name")
        if probe_port is not None and p["grpc"].get("port") != probe_port:
            problems.append(f"{where}: {probe} probes port {p['grpc'].get('port')}, but "
                            f"{probe_from} serves the health service on port {probe_port}")
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    data_dir = config.get("DELTA_SIDECAR_DATA_DIR")
    table_root = config.get("DELTA_SIDECAR_TABLE_ROOT")
    data_mount = mount_of(c, volumes, data_dir) if data_dir else None
    table_mount = mount_of(c, volumes, table_root) if table_root else None
    if data_mount is None or data_mount[0] is None:
        problems.append(f"{where}: the data dir {data_dir} is not on a volume mounted into "
                        f"delta-sidecar")
    if table_mount is None or table_mount[0] is None:
        problems.append(f"{where}: the table root {table_root} is not on a volume mounted into "
                        f"delta-sidecar")
    if data_mount and table_mount and data_mount[0] is not None and table_mount[0] is not None:
        if data_mount[0]["name"] == table_mount[0]["name"]:
            problems.append(f"{where}: data dir and table root share volume "
                            f"{data_mount[0]['name']}: the staging store is per pod, the tables "
                            f"are shared")
        claim = (table_mount[0].get("persistentVolumeClaim") or {}).get("claimName")
        if claim is None:
            problems.append(f"{where}: the table root is not on a PersistentVolumeClaim")
        elif claim not in pvcs:
            problems.append(f"{where}: claim {claim} of the table root is not defined in deploy/")
        elif "ReadWriteMany" not in pvcs[claim]["spec"].get("accessModes", []):
            problems.append(f"{where}: claim {claim} of the table root must be ReadWriteMany "
                            f"(every TaskManager's sidecar commits to the same tables)")
        staging = data_mount[0]
        size = ((staging.get("ephemeral") or {}).get("volumeClaimTemplate", {}).get("spec", {})
                .get("resources", {}).get("requests", {}).get("storage"))
        limit = int(config.get("DELTA_SIDECAR_MAX_STAGED_BYTES", "0"))
        if size and limit and limit >= quantity(size):
            problems.append(f"{where}: DELTA_SIDECAR_MAX_STAGED_BYTES {limit} is not below the "
                            f"staging volume's {size}")
    res = c.get("resources") or {}
    request = (res.get("requests") or {}).get("memory")
    limit = (res.get("limits") or {}).get("memory")
    if request is None or quantity(request) < MIN_MEMORY_REQUEST:
        problems.append(f"{where}: memory request {request} is below the measured peak RSS "
                        f"(request at least 512Mi)")
    if limit is None or (request and quantity(limit) <= quantity(request)):
        problems.append(f"{where}: memory limit {limit} leaves no headroom above the request "
                        f"{request}")


def check_manifests(files, sidecar_help):
    """Every problem found in the manifests and the Dockerfile's ENV, as readable lines."""
    docs, problems = load_manifests(files)
    configmaps = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "ConfigMap"}
    pvcs = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "PersistentVolumeClaim"}
    image_env = Dockerfile(files["Dockerfile"]).env()
    found = 0
    pod_templates = {}
    for path, doc in docs:
        if doc["kind"] == "Pod":
            pod_templates[path] = doc
        for where, spec in pod_specs(path, doc):
            for section, c in sidecar_containers(spec):
                found += 1
                config = effective_config(where, c, configmaps, image_env, sidecar_help, problems)
                check_sidecar(where, section, c, spec, config, pvcs, problems)
                for key in ("DELTA_SIDECAR_DATA_DIR", "DELTA_SIDECAR_TABLE_ROOT"):
                    if key in image_env and config.get(key) != image_env[key]:
                        problems.append(f"{where}: {key} is {config.get(key)}, the Dockerfile "
                                        f"prepares {image_env[key]}")
    if found == 0:
        problems.append("no delta-sidecar container in any manifest under deploy/")
    # The operator's inline template and the template file must be the same pod.
    for path, doc in docs:
        if doc["kind"] != "FlinkDeployment":
            continue
        inline = (doc["spec"].get("taskManager") or {}).get("podTemplate")
        if not any(inline == tpl for tpl in pod_templates.values()):
            problems.append(f"{path}: taskManager.podTemplate differs from every pod template "
                            f"file ({', '.join(sorted(pod_templates))})")
    return problems


def sidecar_env(files, sidecar_help):
    """The environment of the first delta-sidecar container of the pod template files."""
    docs, _ = load_manifests(files)
    configmaps = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "ConfigMap"}
    image_env = Dockerfile(files["Dockerfile"]).env()
    for path, doc in docs:
        if doc["kind"] == "Pod":
            for where, spec in pod_specs(path, doc):
                for _, c in sidecar_containers(spec):
                    return effective_config(where, c, configmaps, image_env, sidecar_help, [])
    raise AssertionError("no pod template with a delta-sidecar container")


# -- tests ---------------------------------------------------------------------------------


def test_manifests_and_dockerfile_match_the_binary(sidecar_help):
    files = deploy_files()
    assert "kubernetes/taskmanager-pod-template.yaml" in files
    problems = check_manifests(files, sidecar_help) + check_dockerfile(files["Dockerfile"],
                                                                       sidecar_help, BIN_DIR)
    assert not problems, "\n".join(problems)


DRIFTS = [
    ("kubernetes/delta-sidecar-config.yaml", "DELTA_SIDECAR_COMMIT_MEMORY_MB:",
     "DELTA_SIDECAR_COMMIT_MEMORY_MIB:", "sets DELTA_SIDECAR_COMMIT_MEMORY_MIB, which is not"),
    ("kubernetes/delta-sidecar-config.yaml", 'DELTA_SIDECAR_HEALTH_LISTEN: "0.0.0.0:7544"',
     'DELTA_SIDECAR_HEALTH_LISTEN: "0.0.0.0:7545"', "serves the health service on port 7545"),
    ("kubernetes/delta-sidecar-config.yaml", 'DELTA_SIDECAR_HEALTH_LISTEN: "0.0.0.0:7544"',
     'DELTA_SIDECAR_HEALTH_LISTEN: ""', "no DELTA_SIDECAR_HEALTH_LISTEN is set"),
    ("kubernetes/delta-sidecar-config.yaml", "DELTA_SIDECAR_DATA_DIR: /var/lib/delta-sidecar",
     "DELTA_SIDECAR_DATA_DIR: /var/lib/staging", "the data dir /var/lib/staging is not on a volume"),
    ("kubernetes/delta-sidecar-config.yaml", "DELTA_SIDECAR_TABLE_ROOT: /data/tables",
     "DELTA_SIDECAR_TABLE_ROOT: /var/lib/delta-sidecar/tables", "share volume"),
    ("kubernetes/delta-sidecar-config.yaml", '"17179869184"', '"30000000000"',
     "is not below the staging volume"),
    ("kubernetes/delta-tables-pvc.yaml", "- ReadWriteMany", "- ReadWriteOnce",
     "must be ReadWriteMany"),
    ("kubernetes/taskmanager-pod-template.yaml", "      restartPolicy: Always",
     "      restartPolicy: Never",
     "native sidecar"),
    ("kubernetes/taskmanager-pod-template.yaml", "memory: 512Mi", "memory: 256Mi",
     "below the measured peak RSS"),
    ("kubernetes/flink-deployment.yaml", "memory: 1Gi", "memory: 2Gi",
     "taskManager.podTemplate differs"),
    ("kubernetes/taskmanager-pod-template.yaml", "mountPath: /data/tables",
     "mountPath: /mnt/tables", "the table root /data/tables is not on a volume"),
    ("kubernetes/taskmanager-pod-template.yaml", "name: delta-sidecar-config",
     "name: sidecar-config", "ConfigMap sidecar-config is not defined"),
    ("kubernetes/taskmanager-pod-template.yaml", "envFrom:",
     "args: [--listen, 127.0.0.1:7543, --staging-dir, /x]\n      envFrom:",
     "flag --staging-dir is not in delta-sidecar --help"),
    ("Dockerfile", "DELTA_SIDECAR_TABLE_ROOT=/data/tables", "DELTA_SIDECAR_TABLE_ROOT=/tables",
     "the Dockerfile prepares /tables"),
    ("Dockerfile", "DELTA_SIDECAR_LISTEN=", "DELTA_SIDECAR_ADDRESS=",
     "ENV DELTA_SIDECAR_ADDRESS is not an environment variable"),
]


@pytest.mark.parametrize("path,old,new,expected", DRIFTS, ids=[f"{d[0]}:{d[2]}" for d in DRIFTS])
def test_the_checks_catch_drift(sidecar_help, path, old, new, expected):
    files = deploy_files()
    assert old in files[path], f"drift test out of date: {old!r} not in {path}"
    files[path] = files[path].replace(old, new, 1)
    problems = check_manifests(files, sidecar_help) + (
        check_dockerfile(files["Dockerfile"], sidecar_help, BIN_DIR) if path == "Dockerfile" else [])
    assert any(expected in p for p in problems), "\n".join(problems) or "no problem found"


@pytest.mark.parametrize("old,new,expected", [
    ("/build/bin/deltactl /usr/local/bin/deltactl", "/build/bin/delta-ctl /usr/local/bin/deltactl",
     "copies /build/bin/delta-ctl, but the build stage does not build"),
    (" libssl3 ", " ", "from package libssl3, which the runtime stage does not install"),
    ("libxxhash0", "libxxhash9", "libxxhash9 is not a Debian 12 package"),
    ("USER 10001:10001", "USER root", "non-root USER"),
    ("FROM debian:12-slim AS build", "FROM ubuntu:24.04 AS build", "is not Debian 12"),
    ("RUN scripts/setup-deps", "RUN true", "scripts/setup-deps"),
])
def test_the_dockerfile_check_catches_drift(sidecar_help, old, new, expected):
    text = deploy_files()["Dockerfile"]
    assert old in text, f"drift test out of date: {old!r} not in the Dockerfile"
    problems = check_dockerfile(text.replace(old, new, 1), sidecar_help, BIN_DIR)
    assert any(expected in p for p in problems), "\n".join(problems) or "no problem found"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sidecar_starts_with_the_manifest_environment(sidecar_help, tmp_path):
    config = sidecar_env(deploy_files(), sidecar_help)
    assert is_loopback(config["DELTA_SIDECAR_LISTEN"]), config
    # Same settings, but on this machine's temporary paths and free ports.
    config["DELTA_SIDECAR_DATA_DIR"] = str(tmp_path / "staging")
    config["DELTA_SIDECAR_TABLE_ROOT"] = str(tmp_path / "tables")
    config["DELTA_SIDECAR_LISTEN"] = f"127.0.0.1:{_free_port()}"
    config["DELTA_SIDECAR_HEALTH_LISTEN"] = f"127.0.0.1:{_free_port()}"
    env = {"PATH": "/usr/bin:/bin", **config}
    log_path = tmp_path / "sidecar.log"
    with open(log_path, "wb") as log:
        # No arguments: the container's entrypoint passes none either.
        proc = subprocess.Popen([str(SIDECAR)], env=env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
    channels = []
    try:
        deadline = time.monotonic() + 60
        while "serving on" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, f"exited {proc.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.02)
        opts = [("grpc.dns_min_time_between_resolutions_ms", 100)]
        probe = grpc.insecure_channel(config["DELTA_SIDECAR_HEALTH_LISTEN"], options=opts)
        api = grpc.insecure_channel(config["DELTA_SIDECAR_LISTEN"], options=opts)
        channels += [probe, api]
        # What the kubelet's gRPC probe asks: Check with the empty service name.
        assert probe.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=20) == b"\x08\x01"
        # The API answers on the listen address (a missing table: NOT_FOUND).
        with pytest.raises(grpc.RpcError) as e:
            api.unary_unary("/deltasidecar.v1.DeltaSidecar/DescribeTable")(b"\n\x07missing",
                                                                           timeout=20)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value.details()
        log_text = log_path.read_text()
        assert "WARNING" not in log_text, log_text
        for ch in channels:
            ch.close()
        channels.clear()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()
        assert (tmp_path / "staging").is_dir()
    finally:
        for ch in channels:
            ch.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
