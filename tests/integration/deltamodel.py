"""An independent Python model of a delta table, for the deltactl integration tests.

Nothing here comes from the project: expected text forms, key order and the
merge semantics are written down from the documented behaviour:

* a table maps primary key -> row; an upsert replaces the whole row (missing
  non-key columns become null), a delete removes the key (deleting an absent
  key is allowed); inside one import the last line of a key wins;
* `scan` prints the live rows ordered by primary key, column by column:
  integers numerically, STRING/BINARY bytewise (UTF-8);
* `changes --from A --to B` prints, for every key touched by the commits in
  (A, B], its latest op: "upsert" with the whole row or "delete" with the key
  columns only, ordered by key;
* text forms: DECIMAL(p,s) as a string with exactly s fractional digits, DATE
  "YYYY-MM-DD", DATETIME "YYYY-MM-DD HH:MM:SS.mmm", TIMESTAMP
  "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" (UTC), BINARY as padded base64, non-finite
  doubles as "NaN"/"Infinity"/"-Infinity".

Row values are generated as (input JSON value, expected output value) pairs, the
input often in a non-canonical but accepted spelling.
"""

import base64
import copy
import datetime
import json
import re
from decimal import Decimal

EPOCH_DATE = datetime.date(1970, 1, 1)
MS_PER_DAY = 86_400_000
MIN_DAY = (datetime.date(1, 1, 1) - EPOCH_DATE).days
MAX_DAY = (datetime.date(9999, 12, 31) - EPOCH_DATE).days
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ---------------------------------------------------------------------------
# Schemas


class Schema:
    def __init__(self, columns, key):
        self.columns = [name for name, _ in columns]
        self.types = dict(columns)
        self.key = list(key)
        self.value_columns = [c for c in self.columns if c not in self.key]

    @property
    def schema_arg(self):
        return ", ".join(f"{n} {self.types[n]}" for n in self.columns)

    @property
    def pk_arg(self):
        return ",".join(self.key)

    def key_of(self, row):
        """Model key (tuple of expected values, in primary-key order) of a row or key dict."""
        return tuple(row[k] for k in self.key)

    def key_dict(self, key):
        """The key columns of `key` as output by deltactl (schema order)."""
        kd = dict(zip(self.key, key))
        return {c: kd[c] for c in self.columns if c in kd}

    def sort_key(self, key):
        """Primary-key order: column by column, ints numerically, strings bytewise."""
        out = []
        for col, v in zip(self.key, key):
            t = self.types[col].upper()
            if t in ("STRING",):
                out.append(v.encode("utf-8"))
            elif t == "BINARY":
                out.append(base64.b64decode(v))
            elif t.startswith("DECIMAL"):
                out.append(Decimal(v))
            elif t in ("DATE", "DATETIME", "TIMESTAMP") or t.startswith("TIMESTAMP_LTZ"):
                out.append(v)  # fixed-width text with 4-digit years sorts like the instant
            else:
                out.append(v)  # integers, booleans
        return tuple(out)

    def row_sort_key(self, row):
        return self.sort_key(self.key_of(row))


SIMPLE = Schema([("id", "BIGINT"), ("name", "STRING"), ("score", "DOUBLE"), ("tag", "STRING")],
                ["id"])

COMPOSITE = Schema([
    ("region", "STRING"),
    ("id", "INT"),
    ("amount", "DECIMAL(12,3)"),
    ("day", "DATE"),
    ("at", "DATETIME"),
    ("ts", "TIMESTAMP"),
    ("flag", "BOOLEAN"),
    ("blob", "BINARY"),
    ("level", "TINYINT"),
    ("note", "STRING"),
    ("seen", "TIMESTAMP_LTZ(3)"),
], ["region", "id"])


# ---------------------------------------------------------------------------
# Text forms (independent re-implementations of the documented formats)


def decimal_text(unscaled, scale):
    sign = "-" if unscaled < 0 else ""
    a = abs(unscaled)
    if scale == 0:
        return f"{sign}{a}"
    return f"{sign}{a // 10**scale}.{a % 10**scale:0{scale}d}"


def date_text(days):
    return (EPOCH_DATE + datetime.timedelta(days=days)).isoformat()


def _split_ticks(ticks, per_second):
    seconds, frac = divmod(ticks, per_second)  # floor division: frac >= 0
    days, sod = divmod(seconds, 86400)
    return days, sod // 3600, sod // 60 % 60, sod % 60, frac


def datetime_text(ms):
    days, h, m, s, frac = _split_ticks(ms, 1000)
    return f"{date_text(days)} {h:02d}:{m:02d}:{s:02d}.{frac:03d}"


def timestamp_text(ns):
    days, h, m, s, frac = _split_ticks(ns, 10**9)
    return f"{date_text(days)} {h:02d}:{m:02d}:{s:02d}.{frac:09d}"


def instant_text(ns, digits):
    """TIMESTAMP_LTZ(digits): 'YYYY-MM-DDTHH:MM:SS[.f{digits}]Z'."""
    days, h, m, s, frac = _split_ticks(ns, 10**9)
    text = f"{date_text(days)}T{h:02d}:{m:02d}:{s:02d}"
    if digits:
        text += f".{frac // 10**(9 - digits):0{digits}d}"
    return text + "Z"


def _flexible_instant_input(rng, ns, digits):
    """An accepted spelling of a TIMESTAMP_LTZ(digits) instant: 'T' or ' ', trimmed
    or zero-padded fraction, and 'Z' or an equivalent offset."""
    offset_min = rng.choice([0, 0, 60, -90, 8 * 60, -11 * 60 - 30])
    days, h, m, s, frac = _split_ticks(ns + offset_min * 60 * 10**9, 10**9)
    full = f"{frac:09d}"
    k = rng.randint(len(full.rstrip("0")), 9)
    text = f"{date_text(days)}{rng.choice(' T')}{h:02d}:{m:02d}:{s:02d}"
    if k > 0:
        text += "." + full[:k]
    if offset_min == 0 and rng.random() < 0.7:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    return text + f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


def _flexible_time_input(rng, ticks, per_second, digits):
    """An accepted but often non-canonical text spelling of a DATETIME/TIMESTAMP."""
    days, h, m, s, frac = _split_ticks(ticks, per_second)
    full = f"{frac:0{digits}d}"
    needed = len(full.rstrip("0"))
    k = rng.randint(needed, digits)
    text = f"{date_text(days)}{rng.choice(' T')}{h:02d}:{m:02d}:{s:02d}"
    if k > 0:
        text += "." + full[:k]
    if rng.random() < 0.3:
        text += "Z"
    return text


# ---------------------------------------------------------------------------
# Value generators: each returns (input JSON value, expected output value).

STRING_PIECES = ["a", "b", "z", "A", "Z", "0", "9", " ", "é", "ß", "日本", "😀", "\u00ff", "\u0100",
                 ",", '"', "'", "\\", "\n", "\r\n", "\t", "\u0000", "\u007f", "-", "_", "x y",
                 "\u2028", "\u0085", "\u001e", "\ufeff"]


def gen_string(rng, max_pieces=6):
    s = "".join(rng.choice(STRING_PIECES) for _ in range(rng.randint(0, max_pieces)))
    return s, s


def gen_double(rng):
    r = rng.random()
    if r < 0.05:
        v = rng.choice(["NaN", "Infinity", "-Infinity"])
        return v, v
    if r < 0.15:
        v = rng.randint(-10**6, 10**6)  # a JSON integer reads as a double
        return v, float(v)
    if r < 0.25:
        v = rng.choice([0.0, -0.0, 5e-324, 1.7976931348623157e308, -2.5, 0.1, 1e-300, 123456789.0])
        return v, v
    if r < 0.5:
        v = rng.random() * 10.0 ** rng.randint(-300, 300) * rng.choice([1, -1])
        return v, v
    v = rng.uniform(-1e6, 1e6)
    return v, v


def gen_bigint(rng):
    v = rng.choice([rng.randint(-1000, 1000), rng.randint(INT64_MIN, INT64_MAX), INT64_MIN, INT64_MAX])
    return v, v


def gen_tinyint(rng):
    v = rng.choice([-128, 127, 0, -1, rng.randint(-128, 127)])
    return v, v


def gen_decimal(rng, precision=12, scale=3):
    limit = 10**precision - 1
    u = rng.choice([0, 1, -1, limit, -limit, rng.randint(-limit, limit), rng.randint(-10**5, 10**5),
                    rng.randint(-1000, 1000) * 10**scale])
    canon = decimal_text(u, scale)
    form = rng.randrange(8)
    if u == 0 and form < 3:
        return rng.choice(["-0", "-0.000", "+0.0", 0, "0"]), canon
    if form == 0:
        inp = canon
    elif form == 1:  # trailing fractional zeros trimmed (and the dot, if nothing is left)
        inp = canon.rstrip("0").rstrip(".") if "." in canon else canon
    elif form == 2:  # extra trailing zeros are accepted (no information lost)
        inp = canon + "000"
    elif form == 3 and u >= 0:
        inp = "+" + canon
    elif form == 4:  # leading zeros
        inp = ("-00" + canon[1:]) if u < 0 else ("00" + canon)
    elif form == 5 and u % 10**scale == 0:
        inp = u // 10**scale  # JSON integer
    elif form == 6 and abs(u) < 10**12:
        f = float(Decimal(canon))
        inp = f if Decimal(repr(f)) == Decimal(canon) else canon  # JSON number, exact digits
    else:
        inp = canon
    return inp, canon


def gen_date(rng):
    days = rng.choice([0, -1, MIN_DAY, MAX_DAY, rng.randint(MIN_DAY, MAX_DAY), rng.randint(-40000, 40000),
                       (datetime.date(2024, 2, 29) - EPOCH_DATE).days])
    t = date_text(days)
    return t, t


def gen_datetime(rng):
    lo, hi = MIN_DAY * MS_PER_DAY, (MAX_DAY + 1) * MS_PER_DAY - 1
    ms = rng.choice([0, -1, lo, hi, rng.randint(lo, hi), rng.randint(-10**6, 10**6),
                     rng.randint(-10**12, 10**13)])
    inp = ms if rng.random() < 0.3 else _flexible_time_input(rng, ms, 1000, 3)
    return inp, datetime_text(ms)


def gen_timestamp(rng):
    ns = rng.choice([0, -1, INT64_MIN, INT64_MAX, rng.randint(INT64_MIN, INT64_MAX),
                     rng.randint(-10**12, 10**12), rng.randint(0, 2 * 10**18)])
    inp = ns if rng.random() < 0.3 else _flexible_time_input(rng, ns, 10**9, 9)
    return inp, timestamp_text(ns)


def gen_timestamp_ltz(rng, digits=3):
    unit = 10**(9 - digits)
    # Whole units only, and a day of margin so that an offset spelling stays in range.
    lo, hi = (INT64_MIN + 86400 * 10**9) // unit + 1, (INT64_MAX - 86400 * 10**9) // unit
    ns = unit * rng.choice([0, -1, lo, hi, rng.randint(lo, hi), rng.randint(-10**6, 10**6)])
    inp = ns if rng.random() < 0.3 else _flexible_instant_input(rng, ns, digits)
    return inp, instant_text(ns, digits)


def gen_boolean(rng):
    v = rng.random() < 0.5
    return v, v


def gen_binary(rng):
    b = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
    if rng.random() < 0.2:
        b = b"\x00" + b
    t = base64.b64encode(b).decode("ascii")
    return t, t


GENERATORS = {
    "STRING": gen_string,
    "DOUBLE": gen_double,
    "BIGINT": gen_bigint,
    "TINYINT": gen_tinyint,
    "DECIMAL(12,3)": gen_decimal,
    "DATE": gen_date,
    "DATETIME": gen_datetime,
    "TIMESTAMP": gen_timestamp,
    "TIMESTAMP_LTZ(3)": gen_timestamp_ltz,
    "BOOLEAN": gen_boolean,
    "BINARY": gen_binary,
}

# Key pools: small enough that keys collide, get deleted and come back.
BIGINT_KEYS = sorted(set(list(range(-12, 40)) + [INT64_MIN, INT64_MAX, INT64_MIN + 1, -2**31 - 1, 2**31,
                                                  10**15, -10**15, 255, 256, 65535, 65536, 2**40]))
REGION_KEYS = ["", "a", "a\u0000", "a\u0000b", "ab", "a b", "b", "B", "é", "e", "日本", "😀", "z",
               "\u007f", "zz", "a,b", 'q"']
INT_KEYS = [INT32_MIN, INT32_MAX, -1000, -1, 0, 1, 2, 3, 7, 255, 256, 1000]


def gen_key(rng, schema):
    """A random key dict (input == expected for the key pools used)."""
    if schema.key == ["id"] and schema.types["id"] == "BIGINT":
        return {"id": rng.choice(BIGINT_KEYS)}
    if schema.key == ["region", "id"]:
        return {"region": rng.choice(REGION_KEYS), "id": rng.choice(INT_KEYS)}
    raise AssertionError("no key generator for this schema")


def gen_row(rng, schema, key):
    """(input object, expected row) for an upsert of `key` (a key dict)."""
    inp, expected = {}, {}
    for col in schema.columns:
        if col in key:
            inp[col] = key[col]
            expected[col] = key[col]
            continue
        r = rng.random()
        if r < 0.08:
            expected[col] = None  # missing member -> NULL
            continue
        if r < 0.15:
            inp[col] = None
            expected[col] = None
            continue
        i, e = GENERATORS[schema.types[col]](rng)
        inp[col] = i
        expected[col] = e
    if rng.random() < 0.3:  # member order must not matter
        items = list(inp.items())
        rng.shuffle(items)
        inp = dict(items)
    if rng.random() < 0.15:
        inp["_op"] = "upsert"
    if rng.random() < 0.05:
        inp["_comment"] = "members starting with '_' are ignored"
    return inp, expected


def delete_line(rng, schema, key):
    obj = {"_op": "delete"}
    obj.update(key)
    if rng.random() < 0.2:  # non-key members of a delete are ignored
        _, row = gen_row(rng, schema, key)
        for c in schema.value_columns[:2]:
            if row[c] is not None and not isinstance(row[c], float):
                obj[c] = row[c]
    if rng.random() < 0.5:
        items = list(obj.items())
        rng.shuffle(items)
        obj = dict(items)
    return obj


# ---------------------------------------------------------------------------
# The model


class TableModel:
    """Model state per snapshot, plus what every commit did."""

    def __init__(self, schema):
        self.schema = schema
        self.state = {}                 # key -> expected row
        self.states = {0: {}}           # commit snapshot id -> state after it
        self.commits = {}               # commit snapshot id -> {key: ("upsert", row) | ("delete", None)}
        self.compactions = []           # snapshot ids printed by explicit `compact`
        self.ever_deleted = set()
        self.ever_present = set()
        self.commits_with_duplicate_keys = 0

    def commit(self, snapshot_id, ops):
        """Applies one import. `ops` is a list of ("upsert", row) / ("delete", key dict)."""
        assert snapshot_id not in self.states, f"snapshot id {snapshot_id} printed twice"
        assert snapshot_id > max(self.states), "snapshot ids must increase"
        last = {}
        for op, row in ops:
            key = self.schema.key_of(row)
            if op == "upsert":
                self.state[key] = dict(row)
                last[key] = ("upsert", dict(row))
                self.ever_present.add(key)
            else:
                self.state.pop(key, None)
                last[key] = ("delete", None)
                self.ever_deleted.add(key)
        self.states[snapshot_id] = copy.deepcopy(self.state)
        self.commits[snapshot_id] = last
        if len(last) < len(ops):
            self.commits_with_duplicate_keys += 1

    def state_at(self, snapshot_id):
        """State of any snapshot: compactions keep the state of the commit before them."""
        base = max(i for i in self.states if i <= snapshot_id)
        return self.states[base]

    def rows_at(self, snapshot_id):
        st = self.state_at(snapshot_id)
        return [st[k] for k in sorted(st, key=self.schema.sort_key)]

    def latest_rows(self):
        return [self.state[k] for k in sorted(self.state, key=self.schema.sort_key)]

    def changes(self, a, b):
        """Expected `changes --from a --to b` as a list of dicts."""
        latest = {}
        for sid in sorted(self.commits):
            if a < sid <= b:
                latest.update(self.commits[sid])
        out = []
        for key in sorted(latest, key=self.schema.sort_key):
            op, row = latest[key]
            entry = {"_op": op}
            entry.update(row if op == "upsert" else self.schema.key_dict(key))
            out.append(entry)
        return out

    def commit_counts(self, snapshot_id):
        """(entries, deletes) a commit wrote: one entry per distinct key in the import."""
        last = self.commits[snapshot_id]
        return len(last), sum(1 for op, _ in last.values() if op == "delete")


# ---------------------------------------------------------------------------
# Random histories


def gen_commit(rng, schema, model, index):
    """One import: (JSONL lines, model ops)."""
    lines, ops = [], []

    def upsert(key):
        inp, row = gen_row(rng, schema, key)
        lines.append(inp)
        ops.append(("upsert", row))

    def delete(key):
        lines.append(delete_line(rng, schema, key))
        ops.append(("delete", dict(key)))

    def key_dict(k):
        return dict(zip(schema.key, k))

    if index % 11 == 5:
        # An empty import (blank lines only): a commit that changes nothing.
        lines.extend(["", "   "])
        return lines, ops
    if index % 11 == 8:
        # Only deletes, of keys that do not exist.
        for _ in range(rng.randint(2, 6)):
            k = gen_key(rng, schema)
            if schema.key_of(k) not in model.state:
                delete(k)
        if not lines:
            lines.append("")
        return lines, ops

    n = rng.randint(1, 18)
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            upsert(gen_key(rng, schema))
        elif r < 0.65 and model.ever_deleted:
            # Re-insert a key that was deleted at some point.
            upsert(key_dict(rng.choice(sorted(model.ever_deleted, key=schema.sort_key))))
        elif r < 0.82 and model.state:
            delete(key_dict(rng.choice(sorted(model.state, key=schema.sort_key))))
        elif r < 0.9:
            # Delete a key that is (most likely) absent.
            k = gen_key(rng, schema)
            delete(k)
        elif ops:
            # Same key again inside this file: the last line wins.
            prev = ops[rng.randrange(len(ops))][1]
            k = {c: prev[c] for c in schema.key}
            if rng.random() < 0.6:
                upsert(k)
            else:
                delete(k)
        else:
            upsert(gen_key(rng, schema))
    if index % 5 == 2 and ops:
        # Several versions of one key in a row, ending in an upsert or a delete.
        k = {c: ops[0][1][c] for c in schema.key}
        for _ in range(rng.randint(2, 4)):
            upsert(k)
        if rng.random() < 0.5:
            delete(k)
    return lines, ops


def jsonl_lines(rng, lines):
    out = []
    for line in lines:
        if isinstance(line, str):
            out.append(line)
        else:
            out.append(json.dumps(line, ensure_ascii=rng.random() < 0.5))
    return out


def build_history(dt, table, schema, seed, commits, compact_after=(), check_compaction=None,
                  buckets=None, import_extra=()):
    """Creates `table` and runs `commits` random imports through deltactl.

    compact_after: {commit index: full?} explicit `compact` runs after those
    imports; each is checked to leave the latest scan byte-for-byte unchanged.
    Returns the TableModel.
    """
    import random

    rng = random.Random(seed)
    dt.create(table, schema.schema_arg, schema.pk_arg, buckets=buckets)
    model = TableModel(schema)
    compact_after = dict(compact_after)
    for i in range(commits):
        lines, ops = gen_commit(rng, schema, model, i)
        path = dt.write_jsonl(jsonl_lines(rng, lines))
        proc = dt.import_file(table, path, extra=import_extra)
        sid = int(proc.stdout.strip())
        model.commit(sid, ops)
        if i in compact_after:
            before = dt.scan_text(table).stdout
            args = ["compact", table] + (["--full"] if compact_after[i] else [])
            cp = dt.run(args)
            if cp.stdout.strip():
                cid = int(cp.stdout.strip())
                assert cid > sid
                model.compactions.append(cid)
            else:
                assert "nothing to compact" in cp.stderr
            after = dt.scan_text(table).stdout
            assert after == before, f"`{' '.join(args)}` changed the scan output"
            if check_compaction is not None:
                check_compaction(model)
    return model


def check_member_order(schema, rows, with_op=False):
    """Every JSON line lists its members in schema order (after "_op")."""
    for r in rows:
        names = list(r)
        if with_op:
            assert names[0] == "_op", r
            names = names[1:]
            if r["_op"] == "delete":
                assert names == [c for c in schema.columns if c in schema.key], r
                continue
        assert names == schema.columns, r


def assert_ordered(schema, rows):
    keys = [schema.row_sort_key(r) for r in rows]
    for a, b, ra, rb in zip(keys, keys[1:], rows, rows[1:]):
        assert a < b, f"scan output not strictly ordered by primary key:\n  {ra}\n  {rb}"


def parse_time_fields(history):
    return {h["id"]: h["time_ms"] for h in history}


_SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{20})$")


def snapshot_files(table_dir):
    """{id: path} of the snapshot files of a table directory."""
    out = {}
    for p in (table_dir / "snapshots").iterdir():
        m = _SNAPSHOT_NAME.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def snapshot_body(path):
    """The JSON body of a snapshot (or manifest) file: everything before its
    last (footer) line."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    body = data[: data.rstrip(b"\n").rfind(b"\n") + 1]
    return json.loads(body)


def snapshot_buckets(path):
    """The live files of a snapshot file, per bucket, oldest first
    (docs/table-format.md §5): inline in format 1; in format 2, the snapshot's
    manifests applied in order to empty buckets."""
    body = snapshot_body(path)
    if body["format"] == 1:
        return body["buckets"]
    buckets = [[] for _ in range(body["bucket_count"])]
    for ref in body["manifests"]:
        manifest = snapshot_body(path.parent.parent / "manifests" / ref["name"])
        for r in manifest["removed"]:
            for b in ([r["bucket"]] if "bucket" in r else bitmap_buckets(r["buckets"])):
                files = buckets[b]
                (i,) = [k for k, f in enumerate(files) if f["name"] == r["name"]]
                del files[i]
        for a in manifest_additions(manifest):
            files = buckets[a["bucket"]]
            entry = {k: v for k, v in a.items() if k not in ("bucket", "before", "first")}
            if "before" in a:
                (i,) = [k for k, f in enumerate(files) if f["name"] == a["before"]]
                files.insert(i, entry)
            elif a.get("first"):
                files.insert(0, entry)
            else:
                files.append(entry)
    return buckets


def bitmap_buckets(bitmap):
    """The buckets of a manifest's base64 bucket bitmap (docs/table-format.md
    §5.4), ascending: bit b % 8, least significant first, of byte b // 8."""
    bits = base64.b64decode(bitmap)
    return [b for b in range(len(bits) * 8) if bits[b // 8] >> (b % 8) & 1]


def manifest_additions(manifest):
    """A manifest's `added`, with each multi-bucket file entry (a `buckets`
    bitmap, docs/table-format.md §5.4) expanded into one addition per bucket
    in ascending order, each with the entry's `before` or `first` if it has one. Only the
    bucket, name and whole-file fields matter to the tests, so the shared-out
    counts are not reproduced."""
    for a in manifest["added"]:
        if "buckets" not in a:
            yield a
            continue
        for b in bitmap_buckets(a["buckets"]):
            section = {"bucket": b, "name": a["name"], "added_in": a["added_in"],
                       "size": a["size"], "xxh3": a["xxh3"]}
            for place in ("before", "first"):
                if place in a:
                    section[place] = a[place]
            yield section


def referenced_data_files(table_dir):
    names = set()
    for path in snapshot_files(table_dir).values():
        for bucket in snapshot_buckets(path):
            for f in bucket:
                names.add(f["name"])
    return names


def present_data_files(table_dir):
    return {p.name for p in (table_dir / "data").iterdir() if p.name.endswith(".sst")}
