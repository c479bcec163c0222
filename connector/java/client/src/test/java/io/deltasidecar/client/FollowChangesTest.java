package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A following read and a scan split by bucket, through the client against a real sidecar. */
class FollowChangesTest extends SidecarFixture {
  @BeforeEach
  void createTable() {
    client.createTable("f", "id BIGINT, name STRING", "id", 4, false);
  }

  /** Commits upserts of ids [from, to) and deletes of `deleted` as checkpoint `cp`; its snapshot. */
  private long commit(Registration reg, long cp, long from, long to, long... deleted) {
    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      for (long id = from; id < to; id++) {
        w.upsert(new Object[] {id, "n" + id});
      }
      for (long id : deleted) {
        w.delete(id);
      }
      c = w.prepareCommit(cp);
    }
    return client.commit(List.of(c)).get(0).snapshotId();
  }

  @Test
  void eachSnapshotsChangesComeOnceEndedBySnapshotEnd() throws Exception {
    Registration reg = client.register("f", "follow/0", OptionalLong.empty());
    long first = commit(reg, 1, 0, 10);
    List<Change> seen = new ArrayList<>();
    long second;
    try (CloseableIterator<Change> it =
        client.followChanges("f", OptionalLong.of(first), null, Duration.ofMillis(20))) {
      second = commit(reg, 2, 10, 13, 3L);
      long third = commit(reg, 3, 13, 14);
      while (seen.stream().filter(c -> c.op() == Change.Op.SNAPSHOT_END).count() < 2) {
        seen.add(it.next());
      }
      // Snapshot `second`: three upserts and one delete, then its end; then `third`.
      List<Change> ofSecond = seen.subList(0, 5);
      final long s2 = second;
      assertTrue(ofSecond.stream().allMatch(c -> c.snapshotId() == s2), seen.toString());
      assertEquals(Change.Op.SNAPSHOT_END, ofSecond.get(4).op());
      TreeSet<Long> upserted = new TreeSet<>();
      for (Change c : ofSecond.subList(0, 4)) {
        if (c.op() == Change.Op.UPSERT) {
          upserted.add((Long) c.row().get("id"));
        } else {
          assertEquals(Change.Op.DELETE, c.op());
          assertEquals(3L, c.row().get("id"));
          assertTrue(c.row().isDelete());
        }
      }
      assertEquals(new TreeSet<>(List.of(10L, 11L, 12L)), upserted);
      assertEquals(List.of(third, third), List.of(seen.get(5).snapshotId(), seen.get(6).snapshotId()));
      assertEquals(13L, seen.get(5).row().get("id"));
      assertEquals(Change.Op.SNAPSHOT_END, seen.get(6).op());
    }
    // Closed: the sidecar ended the call, so a new follow is served at once.
    try (CloseableIterator<Change> again =
        client.followChanges("f", OptionalLong.of(first), null, null)) {
      assertEquals(second, again.next().snapshotId());
    }
  }

  @Test
  void aNegativeStartIsRefused() {
    DeltaSidecarException e =
        assertThrows(
            DeltaSidecarException.class,
            () -> {
              try (CloseableIterator<Change> it =
                  client.followChanges("f", OptionalLong.of(-1), null, null)) {
                it.hasNext();
              }
            });
    assertTrue(e.getMessage().contains("negative"), e.getMessage());
  }

  @Test
  void aScanSplitByBucketIsTheWholeScan() {
    Registration reg = client.register("f", "split/0", OptionalLong.empty());
    commit(reg, 1, 0, 200);
    TreeSet<Long> all = new TreeSet<>();
    int total = 0;
    for (int b = 0; b < 4; b++) {
      try (CloseableIterator<Row> rows = client.scan("f", OptionalLong.empty(), new int[] {b})) {
        while (rows.hasNext()) {
          all.add((Long) rows.next().get("id"));
          total++;
        }
      }
    }
    assertEquals(200, total);
    assertEquals(200, all.size());
    DeltaSidecarException e =
        assertThrows(
            DeltaSidecarException.class,
            () -> {
              try (CloseableIterator<Row> rows =
                  client.scan("f", OptionalLong.empty(), new int[] {4})) {
                rows.hasNext();
              }
            });
    assertTrue(e.getMessage().contains("bucket 4 is not below"), e.getMessage());
  }
}
