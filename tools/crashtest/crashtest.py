"""crashtest: exactly-once under faults, against real delta-sidecars.

  crashtest.py --cycles N --seed S           random crash/recover cycles
  crashtest.py --scenario FILE...            replay scenario files (JSON or YAML)

Writers are spread over several sidecars on one table root, and every
checkpoint is committed by ONE Commit of all writers' committables through
any one sidecar. Each random cycle makes some healthy progress, then crashes
a sidecar (SIGKILL during writes, a seal or a commit, or at a named kill
point, also in the background preparation of a sealed checkpoint),
sometimes replaces a sidecar's data dir with an empty one, then restores the
job the way Flink does (sometimes from an older savepoint, sometimes with
writers moved to another sidecar on the same table root), sometimes adds a
zombie writer, a lost commit answer, a task failure or a fresh start, and
verifies the table against the model and its commit identities against the
job's ledger. A violation prints the seed, the run's steps as a scenario
(save it under tests/replay/ to keep it) and the first differing key. The
last line is always

  crashtest: cycles=N kills=K recoveries=R committed_checkpoints=C wipes=W moves=M violations=V

and the exit status is 0 only when V is 0 and K and R are at least N
(for scenarios: when every scenario passed).
"""

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc  # noqa: E402

import replay  # noqa: E402

# Kill points the sidecar reaches on its request path, and the steps that drive
# the job there when the point is armed on sidecar `target`. Background points:
# prepare.* run on the sidecar that sealed, right after each seal (its
# checkpoint is then committed through a random sidecar); publish.* on the
# committing sidecar at its next snapshot; compaction.* and expire.* on the
# committing sidecar, after commits.
def drive_steps(point, rng, target):
    ops = rng.randint(40, 200)
    if point.startswith("stage."):
        return [{"op": "write", "ops": ops}]
    if point.startswith("seal."):
        return [{"op": "write", "ops": ops}, {"op": "checkpoint"}]
    if point.startswith("prepare."):
        return [{"op": "write", "ops": ops}, {"op": "checkpoint"},
                {"op": "write", "ops": rng.randint(10, 100)}, {"op": "checkpoint"}]
    if point.startswith(("commit.", "publish.")):
        return [{"op": "write", "ops": ops}, {"op": "checkpoint", "via": target}]
    if point.startswith("register."):
        return [{"op": "fail_job"}]
    if point.startswith("abort."):
        return [{"op": "write", "ops": ops}, {"op": "checkpoint", "abort": True}]
    # compaction.*, expire.midway: enough commits to make maintenance run.
    steps = []
    for _ in range(12):
        steps += [{"op": "write", "ops": rng.randint(10, 60)}, {"op": "checkpoint", "via": target}]
    return steps


def on_committing_sidecar(point):
    """Kill points reached by the sidecar a Commit goes through, not by the writer's."""
    return point.startswith(("commit.", "publish.", "compaction.", "expire."))


def random_cycle(seed, cycle, kill_points, faults, placement):
    """The steps of one random cycle; `placement` is the sidecar of each writer
    when the cycle starts."""
    rng = random.Random(f"{seed}:cycle:{cycle}")
    sidecars, writers = faults["sidecars"], len(placement)
    steps = []
    for _ in range(rng.randint(0, 2)):
        steps.append({"op": "write", "ops": rng.randint(20, 200)})
        steps.append({"op": "checkpoint", "lose_answer": rng.random() < 0.2,
                      "retries": rng.choice([0, 0, 0, 1, 5]), "via": rng.randrange(sidecars)})
    crash = rng.choice(["write", "prepare", "commit", "point", "point", "point"])
    kill = {"op": "kill"}  # a no-op when the crash already happened
    if crash == "write":
        steps.append({"op": "write", "ops": rng.randint(60, 300),
                      "kill_after_batches": rng.randint(1, 4)})
    elif crash in ("prepare", "commit"):
        steps.append({"op": "write", "ops": rng.randint(20, 300)})
        step = {"op": "checkpoint", "kill_during": crash, "after_ms": round(rng.uniform(0, 8), 2),
                "via": rng.randrange(sidecars)}
        if crash == "commit":
            # The Commit goes through `via`; the sidecar killed may be another
            # one (that sealed some of the checkpoint, or none of it).
            step["kill_sidecar"] = kill["sidecar"] = rng.randrange(sidecars)
        steps.append(step)
    else:
        point = rng.choice(kill_points)
        if on_committing_sidecar(point):
            target = rng.randrange(sidecars)
        else:
            target = placement[rng.randrange(writers)]
        arm = {"op": "arm", "point": point, "hit": rng.choice([1, 1, 1, 2])}
        if sidecars > 1:
            arm["sidecar"] = kill["sidecar"] = target
        steps.append(arm)
        steps += drive_steps(point, rng, target)
    steps.append(kill)
    if rng.random() < faults["wipe_rate"]:
        # The pod comes back without its staging volume: the crashed sidecar's,
        # or (SIGTERM, a rescheduled pod) any sidecar's.
        steps.append({"op": "wipe_data_dir", "sidecar": rng.randrange(sidecars),
                      "signal": rng.choice(["TERM", "KILL"])})
    restore = rng.randint(1, 3) if rng.random() < faults["savepoint_rate"] else "latest"
    if sidecars > 1 and rng.random() < faults["move_rate"]:
        # A restore that places some subtasks beside another sidecar.
        moved = sorted(rng.sample(range(writers), rng.randint(1, writers)))
        to = rng.choice([i for i in range(sidecars) if i != placement[moved[0]]])
        steps.append({"op": "move", "writers": moved, "to": to, "restore": restore})
    else:
        steps.append({"op": "recover", "restore": restore})
    if rng.random() < 0.15:
        steps.append({"op": "zombie"})
    if rng.random() < 0.15:
        steps += [{"op": "write", "ops": rng.randint(10, 100)}, {"op": "fail_job"}]
    if rng.random() < faults["fresh_start_rate"]:
        steps.append({"op": "fresh_start"})
    steps.append({"op": "verify"})
    return steps


# Steps a job that is down (a sidecar died, a checkpoint was declined) still
# runs: they restore it, or end a process, or check it.
WHILE_DOWN = ("recover", "kill", "verify", "fail_job", "zombie", "wipe_data_dir", "move",
              "fresh_start")


def run_step(job, step):
    op = step["op"]
    if job.failed and op not in WHILE_DOWN:
        return  # the job is down: Flink would not run this until it restored
    if op == "write":
        job.write(step["ops"], writers=step.get("writers"),
                  kill_after_batches=step.get("kill_after_batches"))
    elif op == "checkpoint":
        job.checkpoint(lose_answer=step.get("lose_answer", False), retries=step.get("retries", 0),
                       complete=step.get("complete", True), abort=step.get("abort", False),
                       kill_during=step.get("kill_during"), after_ms=step.get("after_ms", 0),
                       via=sidecar_of(job, step, "via"),
                       kill_sidecar=sidecar_of(job, step, "kill_sidecar"),
                       await_prepared=step.get("await_prepared", False))
    elif op == "arm":
        job.arm(f"{step['point']}:{step.get('hit', 1)}", step.get("sidecar", 0))
    elif op == "kill":
        if "sidecar" in step:
            job.kill(step["sidecar"])
        elif all(sc.running() for sc in job.cluster):
            job.kill(0)
    elif op == "recover":
        if "expect_killed_at" in step and step["expect_killed_at"] not in job.last_kill_points():
            raise replay.Violation(f"expected a sidecar to die at kill point "
                                   f"{step['expect_killed_at']}, it died at "
                                   f"{job.last_kill_points() or 'none'}")
        job.recover(step.get("restore", "latest"))
    elif op == "fail_job":
        job.recover("latest")
    elif op == "zombie":
        job.zombie()
    elif op == "wipe_data_dir":
        job.wipe_data_dir(step.get("sidecar", 0), step.get("signal", "TERM"))
    elif op == "move":
        job.move(step["writers"], step["to"], step.get("restore", "latest"))
    elif op == "fresh_start":
        job.fresh_start()
    elif op == "verify":
        if job.failed:
            job.recover("latest")
        job.verify()
    else:
        raise ValueError(f"unknown step op {op!r}")


def sidecar_of(job, step, field):
    """The sidecar `step` names in `field`, or None."""
    i = step.get(field)
    if i is not None and not 0 <= i < len(job.cluster):
        raise ValueError(f"step {json.dumps(step)}: {field} {i}, but there are "
                         f"{len(job.cluster)} sidecars")
    return i


def run_steps(job, steps, executed):
    for step in steps:
        executed.append(step)
        try:
            run_step(job, step)
        except replay.JobFailed as e:
            job.log(f"step {json.dumps(step)}: job failed over ({e})")
        except grpc.RpcError as e:
            raise replay.Violation(f"step {json.dumps(step)}: the sidecar answered {e.code().name}: "
                                   f"{e.details()}") from None


def load_scenario(path):
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml
        return yaml.safe_load(text)
    return json.loads(text)


def list_kill_points(bin_dir):
    out = subprocess.run([str(Path(bin_dir) / "delta-sidecar"), "--list-kill-points"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def make_job(args, workdir, seed, writers, keys, sidecars, log, placement=None):
    extra = ["--compaction-trigger-files", "3", "--retain-min-snapshots",
             str(args.retain_min_snapshots), "--retain-max-age", "0s",
             "--prepared-wait", args.prepared_wait]
    cluster = replay.Cluster(args.bin_dir, workdir, sidecars, extra_args=extra)
    deltactl_bin = Path(args.bin_dir) / "deltactl"

    def deltactl(*a):
        p = subprocess.run([str(deltactl_bin), "--root", str(cluster.table_root), *map(str, a)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise replay.Violation(f"deltactl {' '.join(map(str, a))} failed: {p.stderr.strip()}")
        return p.stdout

    return replay.Job(cluster, deltactl, seed=seed, writers=writers, keys=keys, log=log,
                      placement=placement)




def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--cycles", type=int, default=20, help="random crash/recover cycles (default 20)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the random mode (default: time)")
    ap.add_argument("--scenario", nargs="+", default=[], help="scenario files to replay instead")
    ap.add_argument("--writers", type=int, default=2, help="parallel writers (default 2)")
    ap.add_argument("--keys", type=int, default=400, help="key space over all writers (default 400)")
    ap.add_argument("--bin-dir", default=str(replay.REPO_ROOT / "build" / "bin"),
                    help="where delta-sidecar and deltactl are (default build/bin)")
    ap.add_argument("--work-dir", default=None, help="keep the sidecar's directories here")
    ap.add_argument("--require-all-kill-points", action="store_true",
                    help="with --scenario: fail unless every kill point was hit")
    ap.add_argument("--sidecars", type=int, default=2,
                    help="random mode: sidecars on one table root, writers spread over them "
                         "round-robin (default 2; scenarios say their own, default 1)")
    ap.add_argument("--wipe-rate", type=float, default=0.15,
                    help="random mode: share of cycles that replace a sidecar's data dir with an "
                         "empty one (default 0.15; 0 disables)")
    ap.add_argument("--move-rate", type=float, default=0.2,
                    help="random mode, 2+ sidecars: share of cycles whose restore moves writers "
                         "to another sidecar (default 0.2; 0 disables)")
    ap.add_argument("--savepoint-rate", type=float, default=0.15,
                    help="random mode: share of cycles that restore an older savepoint (default 0.15)")
    ap.add_argument("--fresh-start-rate", type=float, default=0.05,
                    help="random mode: share of cycles that start the job over without a restored "
                         "checkpoint (default 0.05)")
    ap.add_argument("--retain-min-snapshots", type=int, default=4,
                    help="the sidecars' --retain-min-snapshots (default 4; with --retain-max-age 0s "
                         "and compaction after 3 files, so that compaction and expiry, and their kill "
                         "points, happen within a few checkpoints)")
    ap.add_argument("--prepared-wait", default="2s",
                    help="the sidecars' --prepared-wait: how long a Commit waits for another "
                         "sidecar's prepared checkpoint before it answers UNAVAILABLE (default 2s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every step")
    args = ap.parse_args(argv)
    if args.sidecars < 1:
        ap.error("--sidecars must be at least 1")

    def log(msg):
        if args.verbose:
            print(f"crashtest: {msg}", file=sys.stderr, flush=True)

    work_root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="crashtest-"))
    kill_points = list_kill_points(args.bin_dir)
    totals = {"kills": 0, "recoveries": 0, "committed": 0, "violations": 0, "cycles": 0,
              "wipes": 0, "moves": 0, "commits_sent": 0, "commits_remote": 0,
              "commits_spanning": 0}
    hit = set()
    ok = True
    started = time.monotonic()
    try:
        if args.scenario:
            for path in args.scenario:
                sc = load_scenario(path)
                workdir = work_root / Path(path).stem
                shutil.rmtree(workdir, ignore_errors=True)
                job = make_job(args, workdir, sc.get("seed", 1), sc.get("writers", 2),
                               sc.get("keys", 200), sc.get("sidecars", 1), log,
                               placement=sc.get("placement"))
                executed = []
                try:
                    job.setup()
                    run_steps(job, sc["steps"], executed)
                    print(f"crashtest: scenario {Path(path).name}: ok "
                          f"(kills={job.kills} recoveries={job.recoveries})")
                except (replay.Violation, Exception) as e:
                    ok = False
                    totals["violations"] += 1
                    report(path, None, executed, e, job, work_root)
                finally:
                    job.cluster.kill_all()
                for k in ("kills", "recoveries", "wipes", "moves", "commits_sent",
                          "commits_remote", "commits_spanning"):
                    totals[k] += getattr(job, k)
                totals["committed"] += job.checkpoints_committed
                totals["cycles"] += 1
                hit |= job.kill_points_hit
            missing = sorted(set(kill_points) - hit)
            print(f"crashtest: kill points hit {len(hit)}/{len(kill_points)}"
                  + (f"; never hit: {', '.join(missing)}" if missing else ""))
            if args.require_all_kill_points and missing:
                ok = False
        else:
            seed = args.seed if args.seed is not None else int(time.time())
            faults = {"sidecars": args.sidecars, "wipe_rate": args.wipe_rate,
                      "move_rate": args.move_rate, "fresh_start_rate": args.fresh_start_rate,
                      "savepoint_rate": args.savepoint_rate}
            print(f"crashtest: seed {seed}, {args.cycles} cycles, {args.writers} writers, "
                  f"{args.sidecars} sidecars, wipe rate {args.wipe_rate}, move rate "
                  f"{args.move_rate if args.sidecars > 1 else 0}")
            workdir = work_root / f"seed-{seed}"
            shutil.rmtree(workdir, ignore_errors=True)
            job = make_job(args, workdir, seed, args.writers, args.keys, args.sidecars, log,
                           placement=[w % args.sidecars for w in range(args.writers)])
            job.setup()
            executed = []  # every step of the run: replaying them all reproduces it
            try:
                for cycle in range(args.cycles):
                    try:
                        run_steps(job, random_cycle(seed, cycle, kill_points, faults,
                                                    list(job.place)), executed)
                    except Exception as e:
                        totals["violations"] += 1
                        report(None, (seed, cycle), executed, e, job, work_root)
                        break  # the job's state is unknown past a violation
                    totals["cycles"] += 1
            finally:
                job.cluster.kill_all()
            for k in ("kills", "recoveries", "wipes", "moves", "commits_sent",
                      "commits_remote", "commits_spanning"):
                totals[k] = getattr(job, k)
            totals["committed"] = job.checkpoints_committed
            hit = job.kill_points_hit
            ok = (totals["violations"] == 0 and job.kills >= args.cycles
                  and job.recoveries >= args.cycles)
            missing = sorted(set(kill_points) - hit)
            print(f"crashtest: kill points hit {len(hit)}/{len(kill_points)}, "
                  f"{time.monotonic() - started:.0f} s"
                  + (f"; never hit: {', '.join(missing)}" if missing else ""))
    finally:
        if not args.work_dir and ok:
            shutil.rmtree(work_root, ignore_errors=True)
        elif not ok:
            print(f"crashtest: directories kept in {work_root}", file=sys.stderr)
    print(f"crashtest: commits={totals['commits_sent']} (each one Commit per checkpoint): "
          f"{totals['commits_spanning']} of seals on two or more sidecars, "
          f"{totals['commits_remote']} through a sidecar that sealed none of them")
    cycles = totals["cycles"]  # scenarios run, or random cycles completed without a violation
    print(f"crashtest: cycles={cycles} kills={totals['kills']} recoveries={totals['recoveries']} "
          f"committed_checkpoints={totals['committed']} wipes={totals['wipes']} "
          f"moves={totals['moves']} violations={totals['violations']}")
    return 0 if ok and totals["violations"] == 0 else 1


def report(path, seed_cycle, executed, error, job, work_root):
    where = f"scenario {path}" if path else f"seed {seed_cycle[0]}, cycle {seed_cycle[1]}"
    kind = "VIOLATION" if isinstance(error, replay.Violation) else "ERROR"
    print(f"crashtest: {kind} in {where}: {error}", file=sys.stderr)
    if not isinstance(error, replay.Violation):
        traceback.print_exception(error, file=sys.stderr)
    scenario = {"seed": job.seed, "writers": job.n, "keys": job.keys_per_writer * job.n,
                "sidecars": len(job.cluster), "placement": job.initial_placement,
                "steps": executed}
    out = Path(work_root) / "failed-scenario.json"
    out.write_text(json.dumps(scenario, indent=1) + "\n")
    print(f"crashtest: fault schedule ({len(executed)} steps, the last one failed) written to {out}; "
          f"replay it with --scenario {out}", file=sys.stderr)
    print(f"crashtest: last steps: {json.dumps(executed[-6:])}", file=sys.stderr)
    print(f"crashtest: sidecar logs: {job.cluster.logs()}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
