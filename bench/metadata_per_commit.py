"""Metadata bytes a commit writes, against the table's size.

A table of BUCKETS buckets is filled with 400k rows and compacted to one file
per bucket; then 40 imports of 20 rows each (no maintenance). Per import:
the bytes of its snapshot file plus those of the manifests its parent does
not name (docs/table-format.md §5.4). Prints one JSON line.

    python3 bench/metadata_per_commit.py --deltactl build/bin/deltactl --buckets 4096
"""

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def body(path):
    """The JSON body of a snapshot or manifest file (before its footer line)."""
    data = path.read_bytes()
    return json.loads(data[: data.rstrip(b"\n").rfind(b"\n") + 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deltactl", required=True, type=Path)
    ap.add_argument("--buckets", type=int, default=4096)
    ap.add_argument("--commits", type=int, default=40)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="delta-meta-", dir="/var/tmp"))

    def dc(*argv, stdin=None):
        return subprocess.run([str(args.deltactl), "--root", str(root), *map(str, argv)], input=stdin,
                              capture_output=True, text=True, check=True).stdout

    dc("create", "m", "--schema", "id BIGINT, name STRING", "--primary-key", "id", "--buckets", args.buckets)
    dc("import", "m", "-", "--no-maintenance",
       stdin="".join(json.dumps({"id": i, "name": "x" * 40}) + "\n" for i in range(400_000)))
    dc("compact", "m", "--full")
    table = root / "m"
    sizes, millis = [], []
    for k in range(args.commits):
        rows = "".join(json.dumps({"id": 1_000_000 + k * 100 + i, "name": "y"}) + "\n" for i in range(20))
        started = time.monotonic()
        sid = int(dc("import", "m", "-", "--no-maintenance", stdin=rows))
        millis.append((time.monotonic() - started) * 1000)
        snap = table / "snapshots" / f"snapshot-{sid:020d}"
        parent = body(table / "snapshots" / f"snapshot-{sid - 1:020d}")
        new = ({m["name"] for m in body(snap).get("manifests", [])} -
               {m["name"] for m in parent.get("manifests", [])})
        sizes.append(snap.stat().st_size + sum((table / "manifests" / n).stat().st_size for n in new))
    subprocess.run(["rm", "-rf", str(root)], check=True)
    print(json.dumps({"buckets": args.buckets, "bytes_median": statistics.median(sizes),
                      "bytes_mean": statistics.mean(sizes), "bytes_max": max(sizes),
                      "import_ms_median": statistics.median(millis)}))


if __name__ == "__main__":
    main()
