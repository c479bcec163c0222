"""Client.alter_table against a real sidecar: a Writer registered before the
change is refused with FencedError naming it, a new one writes the new
columns, and reads of snapshots before the change decode under their own
schema (scan, get, changes, follow_changes)."""

import pytest

from deltasidecar import Client, FencedError, Writer

SCHEMA = "id BIGINT, name STRING, qty INT"


def test_alter_table_end_to_end(client, deltactl):
    client.create_table("s", SCHEMA, "id", buckets=2)
    with Writer("s", "s/0", client=client) as w:
        w.upsert({"id": 1, "name": "a", "qty": 1})
        before = w.commit([w.prepare_commit(1)])[0].snapshot_id

        # Another client changes the schema; this one's cached schema is now old.
        other = Client(client.target)
        try:
            schema = other.alter_table("s", "ADD COLUMN note STRING", "ALTER COLUMN qty TYPE BIGINT")
        finally:
            other.close()
        assert schema.schema_id == 1 and schema.names == ["id", "name", "qty", "note"]

        with pytest.raises(FencedError) as e:
            w.upsert({"id": 2, "name": "b", "qty": 2})
            w.flush()
        assert "ADD COLUMN note STRING" in str(e.value) and "packed for version 0" in str(e.value)

    with Writer("s", "s/0", client=client, restored_checkpoint_id=1) as w:
        assert w.registration.schema.schema_id == 1
        w.upsert({"id": 2, "name": "b", "qty": 2**40, "note": "new"})
        latest = w.commit([w.prepare_commit(2)])[0].snapshot_id

    assert list(client.scan("s")) == [{"id": 1, "name": "a", "qty": 1, "note": None},
                                      {"id": 2, "name": "b", "qty": 2**40, "note": "new"}]
    # Snapshots before the ALTER read under their own schema.
    assert list(client.scan("s", before)) == [{"id": 1, "name": "a", "qty": 1}]
    assert client.get("s", {"id": 1}, before) == {"id": 1, "name": "a", "qty": 1}
    assert client.get("s", {"id": 2}) == {"id": 2, "name": "b", "qty": 2**40, "note": "new"}
    changes = list(client.changes("s", 0, latest))
    assert [c.row for c in changes] == list(client.scan("s"))
    follow = client.follow_changes("s", 0)
    try:
        got = [next(follow) for _ in range(2)]
    finally:
        follow.close()
    assert [(sid, [c.row for c in cs]) for sid, cs in got] == [
        (before, [{"id": 1, "name": "a", "qty": 1}]),
        (latest, [{"id": 2, "name": "b", "qty": 2**40, "note": "new"}])]
    assert deltactl.scan("s") == list(client.scan("s"))
