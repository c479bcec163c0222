"""Random histories of a partitioned table checked against an in-test model:
upserts and deletes over several partitions, partitions dropped (some
written again afterwards), a column added, nested values, policy and full
compactions. Every snapshot read by time travel equals the model, a read of
one partition equals the model's rows of it, `changes` between snapshots
(across drops) agrees with the model's two states, and `get` finds exactly
the live keys."""

import json
import random

import pytest

EXIT_NOT_FOUND = 3
DAYS = ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
REGIONS = ["eu", "us/west"]  # a value with a '/': a spec separates only before "<name>="


def spec(day, region):
    return f"dt={day},region={region}"


@pytest.mark.parametrize("seed", [7, 1999, 4242])
def test_random_partitioned_history(dt, seed):
    rng = random.Random(seed)
    dt.run(["create", "t", "--schema", "region STRING, dt DATE, id INT, v STRING, tags ARRAY<STRING>",
            "--primary-key", "id", "--partition-by", "dt,region", "--buckets", "3"])
    columns = ["dt", "region", "id", "v", "tags"]
    state = {}  # (dt, region, id) -> row
    snapshots = {0: (list(columns), {})}
    drops = readded = 0
    dropped = set()
    for step in range(40):
        if step % 7 == 6:
            parts = sorted({(k[0], k[1]) for k in state})
            if not parts:
                continue
            chosen = rng.sample(parts, min(len(parts), rng.randint(1, 2)))
            args = ["drop-partition", "t"]
            for day, region in chosen:
                args += ["--partition", f"dt={day}/region={region}"]
            sid = int(dt.run(args).stdout.strip())
            for key in [k for k in state if (k[0], k[1]) in chosen]:
                del state[key]
            dropped.update(chosen)
            drops += 1
        elif step == 20:
            out = dt.run(["alter", "t", "ADD COLUMN n BIGINT"]).stdout
            sid = int(out.split("(snapshot ")[1].split(")")[0])
            columns.append("n")
            for row in state.values():
                row["n"] = None
        else:
            rows = []
            for _ in range(rng.randint(1, 15)):
                day, region = rng.choice(DAYS), rng.choice(REGIONS[:1] if rng.random() < 0.6 else REGIONS)
                key = (day, region, rng.randint(0, 12))
                if rng.random() < 0.2:
                    rows.append({"dt": day, "region": region, "id": key[2], "_op": "delete"})
                    state.pop(key, None)
                    continue
                readded += (day, region) in dropped
                row = {"dt": day, "region": region, "id": key[2], "v": f"s{step}",
                       "tags": rng.choice([None, [], ["a", None], [f"t{step}"]])}
                if "n" in columns:
                    row["n"] = rng.choice([None, rng.randint(-2**63, 2**63 - 1)])
                rows.append(row)
                state[key] = {c: row.get(c) for c in columns}
            sid = dt.import_rows("t", rows, extra=["--no-maintenance"] if rng.random() < 0.7 else [])
        snapshots[sid] = (list(columns), {k: dict(v) for k, v in state.items()})
        if step in (15, 33):
            dt.run(["compact", "t", "--full"])

    assert drops >= 4 and readded >= 1
    kinds = [h["kind"] for h in dt.history("t")]
    assert kinds.count("DROP_PARTITION") == drops

    def ordered(st):
        # Scan order is key order: dt, region (as encoded strings), id.
        return [st[k] for k in sorted(st, key=lambda k: (k[0], k[1].encode() + b"\0", k[2]))]

    def rendered(cols, row):
        return {c: row.get(c) for c in cols}

    for sid, (cols, st) in sorted(snapshots.items()):
        got = dt.scan("t", snapshot=sid)
        assert got == [rendered(cols, r) for r in ordered(st)], f"snapshot {sid} differs from the model"

    # One partition at a time, through the pruned read.
    cols, st = snapshots[max(snapshots)]
    live_parts = sorted({(k[0], k[1]) for k in st})
    for day in DAYS:
        for region in REGIONS:
            got = [json.loads(line) for line in
                   dt.run(["scan", "t", "--partition", spec(day, region)]).stdout.splitlines()]
            want = [rendered(cols, r) for r in ordered({k: v for k, v in st.items() if k[:2] == (day, region)})]
            assert got == want, (day, region)
    listed = dt.run(["partitions", "t", "--format", "jsonl"]).stdout.splitlines()
    listed = {(json.loads(p)["partition"]["dt"], json.loads(p)["partition"]["region"]) for p in listed}
    assert set(live_parts) <= listed

    # Changes across drops: every key that differs between two snapshots is
    # there, upserts with the later state, deletes of keys not live then.
    ids = sorted(snapshots)
    for _ in range(8):
        a, b = sorted(rng.sample(ids, 2))
        (_, sa), (cols_b, sb) = snapshots[a], snapshots[b]
        out = [json.loads(line) for line in dt.changes("t", a, b).stdout.splitlines()]
        seen = {}
        for r in out:
            key = (r["dt"], r["region"], r["id"])
            seen[key] = r
            if r["_op"] == "upsert":
                assert {c: r[c] for c in cols_b} == rendered(cols_b, sb[key]), (a, b, key)
            else:
                assert key not in sb, (a, b, key)
        for key in set(sa) | set(sb):
            if sa.get(key) != sb.get(key) and not (key in sa and key in sb and
                                                      rendered(cols_b, sa[key]) == rendered(cols_b, sb[key])):
                assert key in seen, (a, b, key)

    for day in DAYS[:3]:
        for i in range(0, 13, 4):
            key = {"dt": day, "region": "eu", "id": i}
            proc = dt.run(["get", "t", "--key", json.dumps(key)], check=False)
            if (day, "eu", i) in st:
                assert json.loads(proc.stdout) == rendered(cols, st[(day, "eu", i)])
            else:
                assert proc.returncode == EXIT_NOT_FOUND, proc.stderr
    assert dt.describe("t")["partition_keys"] == ["dt", "region"]
    assert dt.run(["verify", "t"]).returncode == 0


def test_partition_errors_are_named(dt):
    dt.run(["create", "t", "--schema", "dt DATE, id BIGINT", "--primary-key", "id", "--partition-by", "dt"])
    dt.import_rows("t", [{"dt": "2026-12-01", "id": 1}])
    for args, message in [
        (["drop-partition", "t", "--partition", "dt=2026-12-02"], "has no files in partition dt=2026-12-02"),
        (["drop-partition", "t", "--partition", "id=1"], "'id' is not a partition column"),
        (["scan", "t", "--partition", "dt=yesterday"], "DATE"),
        (["create", "u", "--schema", "dt DATE, id BIGINT", "--primary-key", "dt", "--partition-by", "dt"],
         "needs at least one more column"),
        (["create", "u", "--schema", "r INT, id BIGINT", "--primary-key", "id", "--partition-by", "r",
          "--option", "partition.expiration-time=1h"], "partition column of type DATE"),
    ]:
        proc = dt.run_fail(args, expect_status=1)
        assert message in proc.stderr, (args, proc.stderr)
    assert [h["kind"] for h in dt.history("t")] == ["CREATE", "APPEND"]
    plain = dt.run_fail(["partitions", "t2"], expect_status=1)
    assert "t2" in plain.stderr
