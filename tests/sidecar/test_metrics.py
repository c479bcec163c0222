"""Prometheus metrics (--metrics-listen): a real sidecar runs a known workload,
/metrics is scraped over HTTP, and every count must be exact. Also: every
metric the Grafana dashboard (deploy/grafana) queries is one the sidecar
exports."""

import json
import re
import time
import urllib.request
from pathlib import Path

import grpc

from deltasidecar import rows as pr
import sidecar_api
from sidecar_helpers import KEY, SCHEMA, Deltactl, rpc_error

T = "orders"
W = "op-1/0"
REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "delta-sidecar-dashboard.json"

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One /metrics page: samples by (name, labels) and the declared metric types."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = frozenset(_LABEL.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        """The sample's value, or None when the series does not exist."""
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name):
        """{labels dict as sorted tuple: value} of every series of `name`."""
        return {tuple(sorted(k[1])): v for k, v in self.samples.items() if k[0] == name}


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        return Scrape(resp.read().decode("utf-8"))


def scrape_until(port, done, what, timeout=60):
    """Scrapes until done(scrape) holds (background maintenance is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        s = scrape(port)
        if done(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last scrape:\n{s.text}")
        time.sleep(0.05)


def start_with_metrics(sidecar_factory, start=True, **env):
    port = sidecar_api.free_port()
    env = {"DELTA_SIDECAR_METRICS_LISTEN": f"127.0.0.1:{port}", **env}
    return sidecar_factory(env=env, start=start), port


def rows_for(checkpoint, batch, n):
    return [{"id": checkpoint * 100_000 + batch * 1000 + i, "name": f"n{i}", "score": i * 0.5,
             "qty": i % 9} for i in range(n)]


def test_metrics_count_a_known_workload(sidecar_factory, deltactl_bin):
    # No interval runs: maintenance follows commits only, so its counts are exact too.
    sc, port = start_with_metrics(sidecar_factory, DELTA_SIDECAR_MAINTENANCE_INTERVAL="0")
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=4)
    schema = client.schema(T)
    epoch1 = client.register(T, W).epoch

    K, BATCHES, ROWS = 3, 2, 250  # checkpoints, batches per checkpoint, rows per batch
    wire_bytes = 0
    committables = []
    snapshot = None
    for cp in range(1, K + 1):
        stream = client.write_stream(T, W, epoch1)
        for b in range(BATCHES):
            packed, n = pr.encode_rows(schema, rows_for(cp, b, ROWS))
            wire_bytes += len(packed)
            assert stream.write(packed, n).rows_staged == ROWS
        stream.finish()
        c = client.prepare(T, W, epoch1, cp)
        committables.append(c)
        snapshot = client.commit([c]).commits[0].snapshot_id
    # A retried commit, a batch with a bad row, a commit of a checkpoint never
    # sealed, then a re-registration and one call of the fenced epoch.
    assert client.commit([committables[-1]]).commits[0].already_committed
    stream = client.write_stream(T, W, epoch1)
    packed, n = pr.encode_rows(schema, rows_for(9, 0, 3))
    stream.send(packed + b"\xde\xad\xbe", n)
    e = rpc_error(stream.ack)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    never = sidecar_api.pb().Committable(table=T, writer_id=W, epoch=epoch1, checkpoint_id=99, rows=1)
    e = rpc_error(client.commit, [never])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    epoch2 = client.register(T, W, restored=K).epoch
    assert epoch2 == epoch1 + 1
    e = rpc_error(client.prepare, T, W, epoch1, K + 1)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "fenced" in e.details(), e.details()

    s = scrape_until(port, lambda s: (s.get("delta_sidecar_maintenance_pending_tables") == 0 and
                                      s.get("delta_sidecar_table_latest_snapshot_id", table=T) == snapshot),
                     "the maintenance runs after the commits")
    n_rows = K * BATCHES * ROWS
    tw = {"table": T, "writer": W}
    assert s.get("delta_sidecar_received_rows_total", table=T) == n_rows
    assert s.get("delta_sidecar_received_bytes_total", table=T) == wire_bytes
    assert s.get("delta_sidecar_writer_staged_rows_total", **tw) == n_rows
    assert s.get("delta_sidecar_writer_staged_bytes_total", **tw) > wire_bytes / 2
    assert s.get("delta_sidecar_writer_checkpoints_sealed_total", **tw) == K
    assert s.get("delta_sidecar_writer_last_sealed_checkpoint", **tw) == K
    assert s.get("delta_sidecar_writer_last_committed_checkpoint", **tw) == K
    assert s.get("delta_sidecar_writer_epoch", **tw) == epoch2
    assert s.get("delta_sidecar_seal_duration_seconds_count") == K
    assert s.get("delta_sidecar_seal_duration_seconds_bucket", le="+Inf") == K
    assert s.get("delta_sidecar_commit_duration_seconds_count") == K + 2
    assert s.series("delta_sidecar_commits_total") == {
        (("outcome", "ok"),): K, (("outcome", "already_committed"),): 1,
        (("outcome", "failed_precondition"),): 1}
    assert s.series("delta_sidecar_fenced_calls_total") == {(("method", "PrepareCommit"),): 1}
    rpcs = {dict(k)["method"] + " " + dict(k)["code"]: v
            for k, v in s.series("delta_sidecar_rpcs_total").items()}
    assert rpcs == {
        # The readiness probe of the test harness, then client.schema().
        "DescribeTable NOT_FOUND": 1, "DescribeTable OK": 1,
        "CreateTable OK": 1, "RegisterWriter OK": 2,
        "Write OK": K, "Write INVALID_ARGUMENT": 1,
        "PrepareCommit OK": K, "PrepareCommit FAILED_PRECONDITION": 1,
        "Commit OK": K + 1, "Commit FAILED_PRECONDITION": 1,
    }, rpcs
    assert s.get("delta_sidecar_staging_bytes") is not None

    # The table's shape, as deltactl sees it: each commit wrote one file per
    # bucket (500 rows reach all 4), nothing was compacted or expired.
    desc = json.loads(Deltactl(deltactl_bin, sc.table_root).run("describe", T).stdout)
    assert desc["latest_snapshot"] == snapshot and desc["files"] == 4 * K
    assert s.get("delta_sidecar_table_data_files", table=T) == 4 * K
    assert s.get("delta_sidecar_table_bucket_files_max", table=T) == K
    assert s.get("delta_sidecar_table_snapshots", table=T) == len(client.history(T))
    runs = s.get("delta_sidecar_maintenance_runs_total", table=T, reason="commit")
    assert 1 <= runs <= K  # runs queued while one is pending coalesce
    assert s.get("delta_sidecar_maintenance_duration_seconds_count") == runs
    assert s.get("delta_sidecar_compactions_total", table=T) == 0
    assert s.get("delta_sidecar_expired_snapshots_total", table=T) == 0


def test_interval_maintenance_compacts_and_expires_and_counts_it(sidecar_factory, deltactl_bin):
    """A table that only deltactl wrote is compacted and expired on the
    --maintenance-interval schedule, without any commit through the sidecar."""
    sc, port = start_with_metrics(sidecar_factory, start=False,
                                  DELTA_SIDECAR_MAINTENANCE_INTERVAL="100ms",
                                  DELTA_SIDECAR_RETAIN_MIN_SNAPSHOTS="1",
                                  DELTA_SIDECAR_RETAIN_MAX_AGE="0s")
    sc.table_root.mkdir(parents=True)
    ctl = Deltactl(deltactl_bin, sc.table_root)
    ctl.run("create", T, "--schema", SCHEMA, "--primary-key", KEY, "--buckets", "4")
    IMPORTS = 10
    src = sc.workdir / "rows.jsonl"
    for i in range(IMPORTS):
        src.write_text("".join(json.dumps(r) + "\n" for r in rows_for(i, 0, 200)))
        ctl.run("import", T, src, "--no-maintenance")
    data_dir = sc.table_root / T / "data"
    before = {p.name: p.stat().st_size for p in data_dir.glob("*.sst")}
    # Every import of 200 rows wrote one multi-bucket file with a section in
    # each of the 4 buckets.
    assert len(before) == IMPORTS

    sc.start()
    s = scrape_until(port, lambda s: (s.get("delta_sidecar_maintenance_runs_total", table=T,
                                            reason="interval") or 0) >= 1,
                     "an interval maintenance run")
    after = {p.name: p.stat().st_size for p in data_dir.glob("*.sst")}
    desc = json.loads(ctl.run("describe", T).stdout)
    # Snapshots 0..10, then compaction snapshot 11 merging every bucket into
    # one section: the four merged runs (500 rows each) share one multi-bucket
    # file. Retention keeps only snapshot 11, and expiry deletes the 10 files
    # only the expired snapshots used.
    assert desc["latest_snapshot"] == IMPORTS + 1 and desc["files"] == 4
    assert set(after).isdisjoint(before) and len(after) == 1
    assert s.get("delta_sidecar_compactions_total", table=T) == 1
    # Inputs count per bucket: each import's file was input to all 4 buckets.
    assert s.get("delta_sidecar_compaction_input_files_total", table=T) == 4 * IMPORTS
    assert s.get("delta_sidecar_compaction_input_bytes_total", table=T) == sum(before.values())
    # Outputs count per bucket too: the one file holds a section in each.
    assert s.get("delta_sidecar_compaction_output_files_total", table=T) == 4
    assert s.get("delta_sidecar_compaction_output_bytes_total", table=T) == sum(after.values())
    assert s.get("delta_sidecar_expired_snapshots_total", table=T) == IMPORTS + 1
    assert s.get("delta_sidecar_expired_files_total", table=T) == IMPORTS  # files, not sections
    assert s.get("delta_sidecar_table_snapshots", table=T) == 1
    assert s.get("delta_sidecar_table_latest_snapshot_id", table=T) == IMPORTS + 1
    assert s.get("delta_sidecar_table_data_files", table=T) == 4
    assert s.get("delta_sidecar_table_bucket_files_max", table=T) == 1
    assert s.get("delta_sidecar_maintenance_failures_total", table=T) == 0
    # Nothing runs after a commit, there was none.
    assert s.get("delta_sidecar_maintenance_runs_total", table=T, reason="commit") is None
    # Expiry of the 11 snapshots took two steps (at most 8 snapshots each, so a
    # commit never waits for a whole backlog).
    first = next(l for l in sc.log().splitlines() if l.startswith("delta-sidecar: maintenance "))
    assert "reason=interval " in first and " expired_snapshots=11 expired_files=10 expire_steps=2 " in first, first
    # The data is intact.
    assert len(ctl.scan(T)) == IMPORTS * 200


def test_metrics_listen_errors(sidecar_bin, tmp_path):
    """A --metrics-listen that cannot be bound stops the start with a clear error."""
    import socket
    import subprocess
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [str(sidecar_bin), "--listen", f"127.0.0.1:{sidecar_api.free_port()}", "--data-dir",
             str(tmp_path / "d"), "--table-root", str(tmp_path / "r"), "--metrics-listen",
             f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"--metrics-listen 127.0.0.1:{port}: cannot listen" in proc.stderr, proc.stderr


def dashboard_metric_names():
    """Every delta_sidecar_* name in the dashboard's queries."""
    board = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            if isinstance(node.get("query"), str):
                exprs.append(node["query"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(board)
    assert exprs, "the dashboard has no queries"
    return {name for e in exprs for name in re.findall(r"\bdelta_sidecar_[a-z0-9_]+", e)}


def test_dashboard_queries_only_exported_metrics(sidecar_factory):
    sc, port = start_with_metrics(sidecar_factory, DELTA_SIDECAR_MAINTENANCE_INTERVAL="0")
    client = sc.client()
    client.create_table(T, SCHEMA, KEY, buckets=2)
    # A named consumer, so that its lag is exported too.
    follow = client._follow(sidecar_api.pb().FollowChangesRequest(table=T, consumer="dash"))
    consumer_file = sc.table_root / T / "consumers" / "dash"
    deadline = time.monotonic() + 30
    while not consumer_file.exists():
        assert time.monotonic() < deadline, "the consumer's position was not written"
        time.sleep(0.05)
    follow.cancel()
    epoch = client.register(T, W).epoch
    client.write_rows(T, W, epoch, [rows_for(1, 0, 10)])
    c = client.prepare(T, W, epoch, 1)
    snapshot = client.commit([c]).commits[0].snapshot_id
    rpc_error(client.prepare, T, W, epoch - 1, 2)  # a fenced call
    s = scrape_until(port, lambda s: s.get("delta_sidecar_table_latest_snapshot_id", table=T) == snapshot,
                     "the maintenance run after the commit")
    # Exported: every declared family (one without series yet, such as the
    # maintenance failures, is declared all the same), with a histogram's series.
    exported = {name for (name, _labels) in s.samples} | set(s.types)
    for name, kind in s.types.items():
        if kind == "histogram":
            exported |= {name + "_bucket", name + "_sum", name + "_count"}
    used = dashboard_metric_names()
    assert used - exported == set(), f"the dashboard queries metrics the sidecar does not export: {sorted(used - exported)}"
    # And it charts what the brief asks for.
    for needed in ["delta_sidecar_received_rows_total", "delta_sidecar_staging_bytes",
                   "delta_sidecar_seal_duration_seconds_bucket", "delta_sidecar_commit_duration_seconds_bucket",
                   "delta_sidecar_commits_total", "delta_sidecar_rpcs_total",
                   "delta_sidecar_table_bucket_files_max", "delta_sidecar_table_snapshots",
                   "delta_sidecar_compactions_total", "delta_sidecar_expired_snapshots_total"]:
        assert needed in used, needed
