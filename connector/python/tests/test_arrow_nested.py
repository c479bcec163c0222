"""ARRAY, MAP and STRUCT columns in Arrow reads: the shared vectors
(tests/vectors/nested_values.json) written by deltactl, read by pyarrow from
the table root (the C stream interface) and through a sidecar (the Arrow IPC
stream), and queried by DuckDB. Runs in CTest as python_arrow."""

import json

import duckdb
import pyarrow as pa
import pytest

import deltasidecar
from deltasidecar import arrow as da
from deltasidecar.schema import ColumnInfo

from nested_vectors import from_json, load
from test_arrow_reads import Ctl, duck_arrow

VECTORS = load()
COLUMNS = [ColumnInfo(f"v{i}", t) for i, (t, _, _) in enumerate(VECTORS)]
SCHEMA = "id BIGINT, " + ", ".join(f"{c.name} {c.type}" for c in COLUMNS)


def _json_row(i):
    """Row i: every vector's value when i is odd, every column NULL when even."""
    row = {"id": i}
    for c, (_, j, _) in zip(COLUMNS, VECTORS):
        row[c.name] = j if i % 2 else None
    return row


def _expected(ids):
    """The Arrow table deltasidecar.to_arrow should give for rows `ids`."""
    arrays = [pa.array(ids, pa.int64())]
    for c, (_, j, _) in zip(COLUMNS, VECTORS):
        values = []
        for i in ids:
            v = from_json(c, j) if i % 2 else None
            values.append(_as_pyarrow_input(c, v))
        arrays.append(pa.array(values, da.arrow_type(c)))
    fields = [pa.field("id", pa.int64(), nullable=False)] + \
        [pa.field(c.name, da.arrow_type(c)) for c in COLUMNS]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _as_pyarrow_input(col, v):
    """A client value as pa.array takes it for the column's Arrow type (maps as pairs)."""
    if v is None:
        return None
    if col.base == "ARRAY":
        return [_as_pyarrow_input(col.children[0], x) for x in v]
    if col.base == "MAP":
        key, value = col.children
        return [(_as_pyarrow_input(key, k), _as_pyarrow_input(value, x)) for k, x in v.items()]
    if col.base == "STRUCT":
        return {f.name: _as_pyarrow_input(f, v[f.name]) for f in col.children}
    return v


@pytest.fixture(scope="module")
def nested_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("nested_root")
    ctl = Ctl(root)
    ctl.run("create", "n", "--schema", SCHEMA, "--primary-key", "id", "--buckets", "3")
    f = root / "rows.jsonl"
    f.write_text("".join(json.dumps(_json_row(i)) + "\n" for i in range(60)))
    first = int(ctl.run("import", "n", f).stdout.decode().split()[0])
    f.write_text("".join(json.dumps({"_op": "delete", "id": i}) + "\n" for i in range(0, 60, 4)))
    second = int(ctl.run("import", "n", f).stdout.decode().split()[0])
    return ctl, first, second


def test_arrow_types_and_values_are_the_vectors(nested_table):
    ctl, first, second = nested_table
    got = deltasidecar.to_arrow("n", snapshot=first, root=ctl.root).sort_by("id")
    want = _expected(list(range(60)))
    assert got.schema == want.schema
    assert got.equals(want)
    # Many small batches (list offsets restart in each), with a projection.
    reader = deltasidecar.reader("n", root=ctl.root, columns=["v8", "id", "v5"], batch_rows=4)
    got = reader.read_all().sort_by("id")
    ids = [i for i in range(60) if i % 4]
    assert got.equals(_expected(ids).select(["v8", "id", "v5"]))


def test_changes_carry_nested_columns(nested_table):
    ctl, first, second = nested_table
    changes = deltasidecar.changes_reader("n", first, second, root=ctl.root).read_all()
    assert sorted(changes.column("_op").to_pylist()) == ["delete"] * 15
    assert changes.column("v0").null_count == 15


def test_through_a_sidecar_the_ipc_stream_is_the_same(nested_table, sidecar, client):
    ctl, _, _ = nested_table
    sc = Ctl(sidecar.table_root)
    sc.run("create", "n", "--schema", SCHEMA, "--primary-key", "id", "--buckets", "3")
    f = sidecar.table_root.parent / "rows.jsonl"
    f.write_text("".join(json.dumps(_json_row(i)) + "\n" for i in range(60)))
    sc.run("import", "n", f)
    remote = deltasidecar.to_arrow("n", client=client).sort_by("id")
    local = deltasidecar.to_arrow("n", root=sidecar.table_root, threads=1).sort_by("id")
    assert remote.schema == local.schema
    assert remote.equals(local)
    assert remote.equals(_expected(list(range(60))))
    projected = deltasidecar.to_arrow("n", client=client, columns=["id", "v9"]).sort_by("id")
    assert projected.equals(_expected(list(range(60))).select(["id", "v9"]))


def test_duckdb_reads_lists_maps_and_structs(nested_table):
    ctl, first, _ = nested_table
    rel = deltasidecar.to_duckdb("n", snapshot=first, root=ctl.root)
    types = dict(zip(rel.columns, map(str, rel.types)))
    assert types["v0"] == "INTEGER[]"
    assert types["v1"] == "MAP(VARCHAR, SMALLINT)"
    assert types["v2"] == 'STRUCT(p TINYINT, q VARCHAR)'
    assert types["v8"] == "MAP(VARCHAR, STRUCT(x BIGINT, y INTEGER[]))[][]"
    con = duckdb.connect()
    con.register("n", duck_arrow(rel))
    rows = con.execute("SELECT id, len(v0), v0[3], v2.q, v8[1][1]['a'].y[1], "
                       "cardinality(v1) FROM n WHERE v0 IS NOT NULL ORDER BY id LIMIT 2").fetchall()
    assert rows == [(1, 3, -1, "z", 2, 2), (3, 3, -1, "z", 2, 2)]
    assert con.execute("SELECT count(*) FROM n WHERE v6 IS NULL").fetchone() == (30,)


def test_parquet_export_keeps_nested_columns(nested_table, tmp_path):
    import pyarrow.parquet as pq
    ctl, first, _ = nested_table
    out = tmp_path / "n.parquet"
    ctl.run("export", "n", "--format", "parquet", "--snapshot", first, out)
    got = pq.read_table(out).sort_by("id")
    want = _expected(list(range(60)))
    assert got.schema.equals(want.schema, check_metadata=False), got.schema
    assert got.equals(want.replace_schema_metadata(got.schema.metadata))
