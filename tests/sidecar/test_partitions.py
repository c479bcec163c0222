"""Partitioned tables through a real delta-sidecar: CreateTable with
partition_by, writers whose checkpoints span partitions, DropPartition as one
snapshot (and as deletes to a changes reader), errors naming the partition,
and the high-level Python client's create_table / drop_partition /
describe_table."""

import datetime

import grpc

from deltasidecar.client import Client
from sidecar_helpers import rpc_error

T = "events"
SCHEMA = "dt DATE, id BIGINT, v STRING"
DAYS = ["2026-11-30", "2026-12-01", "2026-12-02"]


def days(day):
    """A DATE as the packed rows hold it: days since 1970-01-01."""
    return (datetime.date.fromisoformat(day) - datetime.date(1970, 1, 1)).days


def rows_of(day, ids, v="a"):
    return [{"dt": days(day), "id": i, "v": f"{v}{i}"} for i in ids]


def test_partitioned_table_through_the_sidecar(client, deltactl, sidecar):
    client.create_table(T, SCHEMA, "id", buckets=4, partition_by="dt")
    d = client.describe(T)
    assert list(d.partition_keys) == ["dt"]
    assert list(d.primary_key) == ["dt", "id"]

    reg = client.register(T, "w/0")
    client.write_rows(T, "w/0", reg.epoch, [sum((rows_of(day, range(5)) for day in DAYS), [])])
    first = client.commit([client.prepare(T, "w/0", reg.epoch, 1)]).commits[0].snapshot_id
    lines = deltactl.run("partitions", T).stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == [f"dt={day}" for day in DAYS]

    dropped = client.drop_partition(T, "dt=2026-12-01").snapshot_id
    assert dropped == first + 1
    assert client.history(T)[-1].kind == "DROP_PARTITION"
    rows, snap = client.scan(T)
    assert snap == dropped
    assert {r["dt"] for r in rows} == {days(DAYS[0]), days(DAYS[2])}
    assert len(rows) == 10
    # A changes reader sees the drop as deletes of the partition's keys.
    changes = client.changes(T, first, dropped)
    assert len(changes) == 5 and all(op == "delete" for op, _ in changes)

    # Dropping it again, or naming something else than a partition: named errors.
    e = rpc_error(client.drop_partition, T, "dt=2026-12-01")
    assert e.code() == grpc.StatusCode.NOT_FOUND and "dt=2026-12-01" in e.details()
    e = rpc_error(client.drop_partition, T, "id=3")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a partition column" in e.details()
    e = rpc_error(client.drop_partition, T)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.history(T)[-1].id == dropped

    # Writes after the drop make the partition again.
    client.write_rows(T, "w/0", reg.epoch, [rows_of("2026-12-01", [7], v="b")])
    client.commit([client.prepare(T, "w/0", reg.epoch, 2)])
    assert deltactl.run("scan", T, "--partition", "dt=2026-12-01").stdout.decode().strip() == \
        '{"dt":"2026-12-01","id":7,"v":"b7"}'

    # A follower from before the drop gets it as one snapshot of deletes, then
    # the commit after it (which it would get first if drops were skipped).
    with Client(sidecar.target) as follower:
        stream = follower.follow_changes(T, first)
        snapshot_id, followed = next(stream)
        later_id, later = next(stream)
        stream.close()
    assert snapshot_id == dropped
    assert sorted((c.op, c.row["id"]) for c in followed) == [("delete", i) for i in range(5)]
    assert later_id == dropped + 1 and [(c.op, c.row["id"]) for c in later] == [("upsert", 7)]


def test_high_level_client_partitions(sidecar):
    c = Client(sidecar.target)
    try:
        c.create_table("p", "dt DATE, region STRING, id BIGINT", "id", partition_by="dt, region",
                       options={"partition.expiration-time": "720h"})
        s = c.describe_table("p")
        assert s.partition_keys == ("dt", "region")
        assert s.primary_key == ("dt", "region", "id")
        e = rpc_error(c._wire._drop_partition, c._pb.DropPartitionRequest(table="p", partitions=["dt=2026-12-01"]))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "region" in e.details()
    finally:
        c.close()
