"""scripts/bench, part "shared-root": several sidecars on one table root.

Two sidecars × two writers, each checkpoint committed by ONE Commit through
either sidecar (delta-loadgen --targets): seal -> visible latency, Commit and
PrepareCommit latency, ingest rows/s and write amplification, against one
sidecar taking the same four writers and checkpoints; the same with each
Commit sent once its checkpoint is prepared. Then one table
of 16 and one of 4,096 buckets taking the same 20k-row commits: commit time
and the metadata bytes each commit writes.
"""

from pathlib import Path

from metadata_per_commit import body
from run_bench import Sidecar, events, loadgen, log, percentile


def seal_to_visible(report):
    """Per commit: from the moment its checkpoint was sealed by every writer
    (the last PrepareCommit answer) to the Commit's answer, in ms."""
    sealed = {}
    for e in events(report, "prepare"):
        sealed[e["checkpoint"]] = max(sealed.get(e["checkpoint"], 0.0), e["t"])
    out = []
    for e in events(report, "commit"):
        if e["checkpoint"] in sealed:
            out.append((e["t"] - sealed[e["checkpoint"]]) * 1000)
    return out


def metadata_bytes_per_commit(table_dir, kind="APPEND"):
    """Per retained snapshot of `kind`: the bytes of its snapshot file and of
    the manifests it names that its parent does not (docs/table-format.md §5)."""
    snaps = {int(p.name.split("-")[1]): p for p in (table_dir / "snapshots").glob("snapshot-*")}
    manifests = {}
    for i, p in snaps.items():
        snap = body(p)
        manifests[i] = (snap["kind"], {m["name"] for m in snap.get("manifests", [])})
    out = []
    for i, p in sorted(snaps.items()):
        snap_kind, names = manifests[i]
        if snap_kind != kind or i - 1 not in manifests:
            continue
        new = names - manifests[i - 1][1]
        out.append(p.stat().st_size +
                   sum((table_dir / "manifests" / n).stat().st_size for n in new))
    return out


def measure_two_sidecars(args, out, data):
    total = 6_000_000 if args.quick else 20_000_000
    per_writer = 250_000  # 4 writers: 1M-row checkpoints
    log(f"shared root: {total:,} rows, 2 sidecars x 2 writers, 1M-row checkpoints, one Commit each")
    root = Path(args.work) / "shared-tables"
    a = Sidecar(args.bin_dir, args.work, "shared-a", table_root=root)
    b = Sidecar(args.bin_dir, args.work, "shared-b", table_root=root)
    report = data / "two_sidecars.jsonl"
    try:
        s = loadgen(args.bin_dir, [a, b], "shared", total,
                    ["--writers", 4, "--checkpoint-rows", per_writer], report)
        written = sum(sc.io("write_bytes") - sc.io("cancelled_write_bytes") for sc in (a, b))
    finally:
        a.stop()
        b.stop()
    # The same load (four writers, 1M-row checkpoints, one Commit each) on one
    # sidecar: it prepares and commits as much per row, unlike the headline
    # ingest run, whose time-based checkpoints mostly commit after it ends.
    log(f"the same on one sidecar: {total:,} rows, 4 writers, 1M-row checkpoints")
    one = Sidecar(args.bin_dir, args.work, "shared-one")
    try:
        single = loadgen(args.bin_dir, one, "shared", total,
                         ["--writers", 4, "--checkpoint-rows", per_writer])
    finally:
        one.stop()
    out["one_sidecar_same_load_rows_per_s"] = single["rows_per_s"]
    out["two_sidecar_to_one_same_load_ratio"] = s["rows_per_s"] / single["rows_per_s"]
    out["two_sidecar_rows_per_s"] = s["rows_per_s"]
    out["two_sidecar_write_amplification"] = written / (s["mb_per_s"] * 1e6 * s["seconds"])
    prepares = [e["ms"] for e in events(report, "prepare")]
    commits = [e["ms"] for e in events(report, "commit")][:-1]  # the last is the remainder
    visible = seal_to_visible(report)[:-1]
    out["two_sidecar_prepare_p99_ms"] = percentile(prepares, 0.99)
    out["two_sidecar_commit_p50_ms"] = percentile(commits, 0.5)
    out["two_sidecar_commit_p99_ms"] = percentile(commits, 0.99)
    out["two_sidecar_seal_to_visible_p50_ms"] = percentile(visible, 0.5)
    out["two_sidecar_seal_to_visible_p99_ms"] = percentile(visible, 0.99)


def measure_prepared_commits(args, out, data):
    """The same shape with each Commit sent 3 s after its checkpoint completed
    (a late checkpoint-complete notification), at a rate the preparers keep up
    with: the Commit then finds the files prepared and publishes metadata only."""
    total = 6_000_000 if args.quick else 20_000_000
    log(f"shared root, commits of prepared checkpoints: {total:,} rows at 300k rows/s, "
        "Commit 3 s after each checkpoint")
    root = Path(args.work) / "prepared-tables"
    a = Sidecar(args.bin_dir, args.work, "prepared-a", table_root=root)
    b = Sidecar(args.bin_dir, args.work, "prepared-b", table_root=root)
    report = data / "prepared_commits.jsonl"
    try:
        loadgen(args.bin_dir, [a, b], "prepared", total,
                ["--writers", 4, "--checkpoint-rows", 250_000, "--rate", 300_000,
                 "--commit-delay-ms", 3000], report)
    finally:
        a.stop()
        b.stop()
    commits = [e["ms"] for e in events(report, "commit")][:-1]
    out["prepared_commit_p50_ms"] = percentile(commits, 0.5)
    out["prepared_commit_p99_ms"] = percentile(commits, 0.99)


def measure_bucket_counts(args, out, data):
    rows = 200_000 if args.quick else 600_000
    medians = {}
    for buckets in (16, 4096):
        log(f"commit cost at {buckets} buckets: {rows:,} rows in 20k-row checkpoints")
        sc = Sidecar(args.bin_dir, args.work, f"buckets{buckets}")
        report = data / f"buckets_{buckets}.jsonl"
        try:
            loadgen(args.bin_dir, sc, "b", rows,
                    ["--writers", 2, "--checkpoint-rows", 10_000, "--buckets", buckets], report)
        finally:
            sc.stop()
        visible = seal_to_visible(report)[:-1]
        commits = [e["ms"] for e in events(report, "commit")][:-1]
        medians[buckets] = percentile(visible, 0.5)
        out[f"buckets_{buckets}_commit_p50_ms"] = percentile(commits, 0.5)
        out[f"buckets_{buckets}_seal_to_visible_p50_ms"] = medians[buckets]
        per_commit = metadata_bytes_per_commit(sc.table_root / "b")
        out[f"buckets_{buckets}_metadata_bytes_mean"] = sum(per_commit) / max(len(per_commit), 1)
        out[f"buckets_{buckets}_metadata_bytes_max"] = max(per_commit, default=0)
        # A compaction's metadata: what it removes and adds in every bucket it merged.
        per_compaction = metadata_bytes_per_commit(sc.table_root / "b", "COMPACT")
        out[f"buckets_{buckets}_compaction_metadata_bytes_max"] = max(per_compaction, default=0)
    out["buckets_4096_to_16_commit_ratio"] = medians[4096] / max(medians[16], 1e-9)
