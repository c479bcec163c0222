package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The checkpoint cycle against a real sidecar: idempotent commits, fencing, restore with pending
 * committables, abort, and a primary key whose order differs from the schema's.
 */
class CommitProtocolTest extends SidecarFixture {
  // The key (region, id) is not in schema order: deletes and gets take key order.
  private static final String SCHEMA = "v STRING, id BIGINT, region STRING";
  private static final String KEY = "region, id";

  @BeforeEach
  void createTable() {
    client.createTable("t", SCHEMA, KEY, 4, false);
  }

  private static void writeRows(RecordWriter w, String region, int from, int to, String v) {
    for (int i = from; i < to; i++) {
      w.upsert(v + i, (long) i, region);
    }
  }

  private List<String> regionsAndIds() {
    List<String> out = new ArrayList<>();
    try (CloseableIterator<Row> it = client.scan("t", OptionalLong.empty())) {
      it.forEachRemaining(r -> out.add(r.get("region") + "/" + r.get("id") + "=" + r.get("v")));
    }
    return out;
  }

  @Test
  void committingTheSameCommittableTwiceAppliesItOnce() {
    Registration reg = client.register("t", "idem/0", OptionalLong.empty());
    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      writeRows(w, "eu", 0, 10, "a");
      c = w.prepareCommit(1);
      // PrepareCommit again for the same id gives the same committable.
      assertEquals(c, w.prepareCommit(1));
    }
    assertEquals(10, c.getRows());
    assertEquals("idem/0", c.getWriterId());

    TableCommitResult first = client.commit(List.of(c)).get(0);
    assertFalse(first.alreadyCommitted());
    TableCommitResult second = client.commit(List.of(c)).get(0);
    assertTrue(second.alreadyCommitted());
    assertEquals("t", second.table());

    assertEquals(10, sidecar.deltactlScan("t").size());
    long recorded =
        client.history("t").stream()
            .flatMap(s -> s.identities().stream())
            .filter(id -> id.equals(new CommitIdentity("idem/0", 1)))
            .count();
    assertEquals(1, recorded);
  }

  @Test
  void aNewerRegistrationFencesTheOldWriter() {
    Registration old = client.register("t", "fence/0", OptionalLong.empty());
    RecordWriter zombie = client.openWriter(old, WriterOptions.defaults());
    writeRows(zombie, "eu", 0, 5, "zombie");
    zombie.flush(); // staged under the old epoch

    Registration current = client.register("t", "fence/0", OptionalLong.empty());
    assertTrue(current.epoch() > old.epoch());

    // The zombie's stream is refused at its next batch at the latest.
    FencedException onWrite =
        assertThrows(
            FencedException.class,
            () -> {
              writeRows(zombie, "eu", 5, 10, "zombie");
              zombie.flush();
            });
    assertEquals(Status.Code.FAILED_PRECONDITION, onWrite.code());
    assertTrue(onWrite.getMessage().contains("fence/0"), onWrite.getMessage());
    // ...and stays failed.
    assertThrows(FencedException.class, () -> zombie.upsert("x", 99L, "eu"));
    zombie.close();

    // Unary calls with the old epoch are refused too.
    try (RecordWriter stale = client.openWriter(old, WriterOptions.defaults())) {
      assertThrows(FencedException.class, () -> stale.prepareCommit(1));
    }
    assertThrows(FencedException.class, () -> client.abort(old, 1));

    // The current registration writes; the fresh start dropped what the zombie staged.
    try (RecordWriter w = client.openWriter(current, WriterOptions.defaults())) {
      writeRows(w, "us", 0, 3, "live");
      client.commit(List.of(w.prepareCommit(1)));
    }
    assertEquals(List.of("us/0=live0", "us/1=live1", "us/2=live2"), regionsAndIds());
  }

  @Test
  void restoringReturnsThePendingCheckpointsAndDropsTheRest() {
    Registration reg = client.register("t", "restore/0", OptionalLong.empty());
    RecordWriter w = client.openWriter(reg, WriterOptions.defaults());
    writeRows(w, "eu", 0, 4, "cp1-");
    Committable c1 = w.prepareCommit(1);
    writeRows(w, "eu", 4, 8, "cp2-");
    w.delete("eu", 0L);
    Committable c2 = w.prepareCommit(2);
    writeRows(w, "eu", 8, 12, "open-");
    w.flush();
    // A task failure: the writer is abandoned, the job restores from checkpoint 1.

    Registration restored = client.register("t", "restore/0", OptionalLong.of(1));
    assertEquals(1, restored.pending().size());
    Committable pending = restored.pending().get(0);
    assertEquals(c1.getCheckpointId(), pending.getCheckpointId());
    assertEquals(c1.getRows(), pending.getRows());
    assertEquals(c1.getChecksum(), pending.getChecksum());
    assertEquals(-1, restored.lastCommittedCheckpointId()); // nothing committed yet
    w.close();

    assertFalse(client.commit(restored.pending()).get(0).alreadyCommitted());
    assertEquals(
        List.of("eu/0=cp1-0", "eu/1=cp1-1", "eu/2=cp1-2", "eu/3=cp1-3"), regionsAndIds());
    // Checkpoint 2 was sealed after the restored one: dropped, so it can no longer commit.
    FencedException dropped = assertThrows(FencedException.class, () -> client.commit(List.of(c2)));
    assertEquals(Status.Code.FAILED_PRECONDITION, dropped.code());

    // The replay after the restore, committed as checkpoint 2.
    try (RecordWriter replay = client.openWriter(restored, WriterOptions.defaults())) {
      writeRows(replay, "eu", 4, 6, "replayed-");
      replay.delete("eu", 0L);
      client.commit(List.of(replay.prepareCommit(2)));
    }
    assertEquals(
        List.of("eu/1=cp1-1", "eu/2=cp1-2", "eu/3=cp1-3", "eu/4=replayed-4", "eu/5=replayed-5"),
        regionsAndIds());
    assertEquals("replayed-4", client.get("t", "eu", 4L).orElseThrow().get("v"));

    // Registering again after the commit: nothing pending, the last committed id is known.
    Registration later = client.register("t", "restore/0", OptionalLong.of(2));
    assertTrue(later.pending().isEmpty());
    assertEquals(2, later.lastCommittedCheckpointId());
    List<String> lines = sidecar.deltactlScan("t");
    assertEquals(5, lines.size(), lines.stream().collect(Collectors.joining("\n")));
  }

  @Test
  void anAbortedCheckpointCannotBeCommitted() {
    Registration reg = client.register("t", "abort/0", OptionalLong.empty());
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      writeRows(w, "eu", 0, 3, "x");
      Committable c1 = w.prepareCommit(1);
      client.abort(reg, 1);
      assertThrows(FencedException.class, () -> client.commit(List.of(c1)));
      writeRows(w, "eu", 10, 12, "y");
      client.commit(List.of(w.prepareCommit(2)));
    }
    assertEquals(List.of("eu/10=y10", "eu/11=y11"), regionsAndIds());
  }

  @Test
  void aMissingTableIsNotFound() {
    TableNotFoundException e =
        assertThrows(TableNotFoundException.class, () -> client.describeTable("nope"));
    assertEquals(Status.Code.NOT_FOUND, e.code());
    assertThrows(TableNotFoundException.class, () -> client.scan("nope", OptionalLong.empty()));
  }
}
