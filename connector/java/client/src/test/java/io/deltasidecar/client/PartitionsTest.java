package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/**
 * A partitioned table through the Java client and a real sidecar: created with partition columns,
 * described with them leading the key, written across partitions, one partition dropped as one
 * snapshot, and the errors that name what is wrong.
 */
class PartitionsTest extends SidecarFixture {

  private List<String> daysAndIds() {
    List<String> out = new ArrayList<>();
    try (CloseableIterator<Row> it = client.scan("p", OptionalLong.empty())) {
      it.forEachRemaining(r -> out.add(r.get("dt") + "/" + r.get("id")));
    }
    return out;
  }

  @Test
  void aPartitionIsDroppedAsOneSnapshot() {
    client.createTable(
        "p", "v STRING, dt DATE, id BIGINT", "id", 4, false, "dt",
        Map.of("partition.expiration-time", "87600h"));
    TableSchema schema = client.describeTable("p");
    assertEquals(List.of("dt"), schema.partitionKeys());
    assertEquals(List.of("dt", "id"), schema.primaryKey());

    Registration reg = client.register("p", "w/0", OptionalLong.empty());
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      for (String day : List.of("2026-11-30", "2026-12-01")) {
        for (long id = 0; id < 3; id++) {
          w.upsert("v" + id, LocalDate.parse(day), id);
        }
      }
      client.commit(List.of(w.prepareCommit(1)));
    }
    assertEquals(6, daysAndIds().size());

    long dropped = client.dropPartition("p", List.of("dt=2026-11-30"));
    assertEquals(
        List.of("2026-12-01/0", "2026-12-01/1", "2026-12-01/2"), daysAndIds());
    assertEquals(dropped, client.describeTable("p").latestSnapshotId());

    DeltaSidecarException gone =
        assertThrows(
            DeltaSidecarException.class, () -> client.dropPartition("p", List.of("dt=2026-11-30")));
    assertEquals(Status.Code.NOT_FOUND, gone.code());
    assertTrue(gone.getMessage().contains("dt=2026-11-30"), gone.getMessage());
    DeltaSidecarException bad =
        assertThrows(DeltaSidecarException.class, () -> client.dropPartition("p", List.of("id=1")));
    assertEquals(Status.Code.INVALID_ARGUMENT, bad.code());
    assertTrue(bad.getMessage().contains("not a partition column"), bad.getMessage());
  }
}
