"""Schema evolution through a real delta-sidecar: AlterTable, writers packing
rows for an older schema version, checkpoints sealed before an ALTER and
committed after it, and reads of each snapshot under its own schema."""

import grpc

from deltasidecar import rows as pr
from sidecar_api import pb
from sidecar_helpers import KEY, SCHEMA, rpc_error

T = "orders"


def row(i, **extra):
    r = {"id": i, "name": f"n-{i}", "score": i / 2, "qty": i}
    r.update(extra)
    return r


def scan_at(client, snapshot_id):
    """Rows of a snapshot, decoded with the schema DescribeTable gives for it."""
    schema = pr.Schema.from_describe(client.describe(T, snapshot_id=snapshot_id))
    out, versions = [], set()
    for resp in client._scan(client._select(pb().ScanRequest(table=T), snapshot_id)):
        versions.add(resp.schema_id)
        out += [r for _, r in pr.decode_rows(schema, resp.batch.rows, resp.batch.row_count)]
    return out, versions


def test_alter_keeps_old_rows_and_old_snapshots(client, deltactl):
    client.create_table(T, SCHEMA, KEY, buckets=4)
    w = "op/0"
    reg = client.register(T, w)
    assert reg.schema_id == 0
    client.write_rows(T, w, reg.epoch, [[row(1), row(2)]])
    c1 = client.prepare(T, w, reg.epoch, 1)
    before = client.commit([c1]).commits[0].snapshot_id
    # Sealed before the ALTER, committed after it: its rows keep their version.
    client.write_rows(T, w, reg.epoch, [[row(3)]])
    c2 = client.prepare(T, w, reg.epoch, 2)

    alt = client.alter(T, "ADD COLUMN note STRING AFTER name", "RENAME COLUMN qty TO quantity",
                       "ALTER COLUMN quantity TYPE BIGINT")
    assert alt.schema_id == 1
    assert [(c.name, c.type) for c in alt.columns] == [
        ("id", "BIGINT"), ("name", "STRING"), ("note", "STRING"), ("score", "DOUBLE"),
        ("quantity", "BIGINT")]
    assert client.commit([c2]).commits[0].snapshot_id > alt.snapshot_id

    # The writer still packs rows for version 0: refused, naming the change.
    stream = client.write_stream(T, w, reg.epoch, schema_id=0)
    with_old = pr.encode_rows(pr.Schema.from_describe(client.describe(T, snapshot_id=before)), [row(4)])
    stream.send(*with_old)
    e = rpc_error(stream.ack)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert "schema version 1" in e.details() and "ADD COLUMN note STRING AFTER name" in e.details()
    assert "packed for version 0" in e.details()

    # Registered again, it writes under the new schema.
    reg = client.register(T, w, restored=2)
    assert reg.schema_id == 1
    client.write_rows(T, w, reg.epoch, [[{"id": 5, "name": "n-5", "note": "hello", "score": 2.5,
                                          "quantity": 2**40}]])
    client.commit([client.prepare(T, w, reg.epoch, 3)])

    rows, snap = client.scan(T)
    assert rows == [
        {"id": 1, "name": "n-1", "note": None, "score": 0.5, "quantity": 1},
        {"id": 2, "name": "n-2", "note": None, "score": 1.0, "quantity": 2},
        {"id": 3, "name": "n-3", "note": None, "score": 1.5, "quantity": 3},
        {"id": 5, "name": "n-5", "note": "hello", "score": 2.5, "quantity": 2**40},
    ]
    assert deltactl.scan(T) == rows
    # The snapshot before the ALTER reads under its own schema.
    old, versions = scan_at(client, before)
    assert versions == {0}
    assert old == [row(1), row(2)]
    latest, versions = scan_at(client, snap)
    assert versions == {1} and latest == rows

    kinds = [h["kind"] for h in deltactl.history(T)]
    assert "ALTER" in kinds
    assert deltactl.history(T)[-1]["schema_id"] == 1
    assert '"schema_id": 1' in deltactl.run("describe", T).stdout.decode()


def test_bad_alter_is_refused_and_changes_nothing(client):
    client.create_table(T, SCHEMA, KEY, buckets=2)
    for changes, message in [
        (["DROP COLUMN id"], "primary-key column cannot be dropped"),
        (["ALTER COLUMN qty TYPE SMALLINT"], "INT cannot become SMALLINT"),
        (["ADD COLUMN name INT"], "a column named 'name' exists"),
        (["ADD COLUMN x INT NOT NULL"], "must be nullable"),
        (["MAKE COLUMN x"], "expected ADD COLUMN"),
        ([], "ALTER with no changes"),
    ]:
        e = rpc_error(client.alter, T, *changes)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (changes, e.details())
        assert message in e.details(), (changes, e.details())
    d = client.describe(T)
    assert d.schema_id == 0 and d.latest_snapshot_id == 0
    e = rpc_error(client.alter, "missing", "DROP COLUMN qty")
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_alter_through_deltactl_is_seen_by_the_sidecar(client, deltactl):
    """An ALTER made on the shared table root by another process."""
    client.create_table(T, SCHEMA, KEY, buckets=2)
    w = "op/1"
    reg = client.register(T, w)
    client.write_rows(T, w, reg.epoch, [[row(1)]])
    out = deltactl.run("alter", T, "DROP COLUMN score").stdout.decode()
    assert "schema version 1" in out
    stream = client.write_stream(T, w, reg.epoch, schema_id=0)
    stream.send(*pr.encode_rows(client.schema(T), [row(2)]))
    e = rpc_error(stream.ack)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "DROP COLUMN score" in e.details()
    client.forget_schema(T)
    reg = client.register(T, w)
    client.write_rows(T, w, reg.epoch, [[{"id": 2, "name": "b", "qty": 7}]])
    client.commit([client.prepare(T, w, reg.epoch, 1)])
    assert client.scan(T)[0] == [{"id": 2, "name": "b", "qty": 7}]
