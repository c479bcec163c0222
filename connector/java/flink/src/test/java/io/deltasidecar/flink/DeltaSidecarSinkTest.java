package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.FencedException;
import io.deltasidecar.client.TableNotFoundException;
import io.deltasidecar.flink.FlinkContexts.Request;
import io.deltasidecar.flink.FlinkContexts.Signal;
import io.deltasidecar.flink.TableModel.Event;
import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.apache.flink.api.connector.sink2.Committer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sink against a real delta-sidecar, driven through Flink's checkpoint lifecycle by {@link
 * SinkHarness}; the table is checked with {@code deltactl scan}.
 */
class DeltaSidecarSinkTest {
  private static final String TABLE = "events";

  @TempDir Path dir;
  private SidecarProcess sidecar;
  private Deltactl deltactl;
  private final List<SinkHarness<?>> harnesses = new ArrayList<>();

  @BeforeEach
  void startSidecar() throws Exception {
    sidecar = new SidecarProcess(dir).start();
    deltactl = new Deltactl(sidecar);
    try (DeltaSidecarClient c = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      c.createTable(TABLE, TableModel.SCHEMA, TableModel.KEY, 4, false);
    }
  }

  @AfterEach
  void stop() throws Exception {
    try {
      for (SinkHarness<?> h : harnesses) {
        h.close();
      }
    } finally {
      sidecar.close();
    }
  }

  private DeltaSidecarSink.Builder<Event> sinkBuilder(String prefix) {
    return DeltaSidecarSink.<Event>builder()
        .target(sidecar.target)
        .table(TABLE)
        .writerIdPrefix(prefix)
        .recordConverter(TableModel.CONVERTER);
  }

  private SinkHarness<Event> harness(DeltaSidecarSink<Event> sink) {
    SinkHarness<Event> h = new SinkHarness<>(sink);
    harnesses.add(h);
    return h;
  }

  /** Writes each event to the subtask that owns its key and applies it to the model. */
  private static void write(SinkHarness<Event> h, TableModel model, List<Event> events)
      throws Exception {
    for (Event e : events) {
      h.write((int) (e.id() % h.parallelism()), e);
      if (model != null) {
        model.apply(e);
      }
    }
  }

  private static List<Event> upserts(long from, long to, String name, int qty) {
    List<Event> out = new ArrayList<>();
    for (long id = from; id <= to; id++) {
      out.add(Event.upsert(id, name, qty));
    }
    return out;
  }

  private static void assertAll(List<Request<Committable>> requests, Signal signal) {
    assertFalse(requests.isEmpty(), "expected commit requests");
    for (Request<Committable> r : requests) {
      assertEquals(signal, r.signal, "request " + r.getCommittable() + ": " + r);
    }
  }

  /** The history lines of commits (APPEND snapshots; compaction may add others). */
  private List<String> appends() throws Exception {
    List<String> out = new ArrayList<>();
    for (String line : deltactl.history(TABLE)) {
      if (line.contains("\"kind\":\"APPEND\"")) {
        out.add(line);
      }
    }
    return out;
  }

  private void assertTable(TableModel model) throws Exception {
    assertEquals(model.scanLines(), deltactl.scan(TABLE));
  }

  @Test
  void exactlyOnceOverSeveralCheckpointsWithUpsertsAndDeletes() throws Exception {
    DeltaSidecarSink<Event> sink = sinkBuilder("job-a/sink").build();
    SinkHarness<Event> h = harness(sink).open(2);
    assertEquals("job-a/sink/0", h.writer(0).writerId());
    assertEquals("job-a/sink/1", h.writer(1).writerId());
    TableModel model = new TableModel();
    List<Committable> last = List.of();
    for (long cp = 1; cp <= 4; cp++) {
      List<Event> events = new ArrayList<>(upserts(cp * 10, cp * 10 + 9, "v" + cp, (int) cp));
      if (cp > 1) {
        events.addAll(upserts(cp * 10 - 10, cp * 10 - 7, "u" + cp, 100 + (int) cp));
        events.add(Event.delete(cp * 10 - 5));
      }
      events.add(Event.delete(cp * 10 + 9)); // upserted and deleted in one checkpoint
      events.add(Event.delete(cp * 10 + 8)); // deleted, then upserted again
      events.add(Event.upsert(cp * 10 + 8, "again" + cp, 7));
      write(h, model, events);
      last = h.checkpoint(cp);
      assertEquals(2, last.size(), "one committable per writer");
      for (Committable c : last) {
        assertEquals(TABLE, c.getTable());
        assertTrue(c.getCheckpointId() <= cp, "seal id " + c.getCheckpointId() + " > " + cp);
      }
      assertAll(h.complete(cp), Signal.COMMITTED);
      assertTable(model);
    }
    int snapshots = appends().size();
    assertEquals(4, snapshots, "one commit per checkpoint");

    // Nothing written since the last seal: no committable, no commit, no snapshot.
    assertEquals(List.of(), h.checkpoint(5));
    assertEquals(List.of(), h.complete(5));
    assertEquals(snapshots, appends().size());

    // Committing a checkpoint again (a replay) changes nothing.
    try (DeltaSidecarCommitter again = sink.createCommitter(null)) {
      List<Committer.CommitRequest<Committable>> requests = new ArrayList<>();
      for (Committable c : last) {
        requests.add(new Request<>(c, 0));
      }
      again.commit(requests);
      for (Committer.CommitRequest<Committable> r : requests) {
        assertEquals(Signal.ALREADY_COMMITTED, ((Request<Committable>) r).signal);
      }
    }
    assertEquals(snapshots, appends().size());
    assertTable(model);
  }

  @Test
  void sidecarKilledBetweenPrepareCommitAndCommitThenRestoreCommitsOnce() throws Exception {
    SinkHarness<Event> h = harness(sinkBuilder("job-b").build()).open(1);
    TableModel model = new TableModel();
    write(h, model, upserts(1, 20, "a", 1));
    h.checkpoint(1);
    assertAll(h.complete(1), Signal.COMMITTED);

    List<Event> second = new ArrayList<>(upserts(21, 40, "b", 2));
    second.addAll(upserts(1, 5, "a2", 3));
    second.add(Event.delete(6));
    write(h, model, second);
    List<Committable> cp2 = h.checkpoint(2);
    assertEquals(1, cp2.size());
    assertEquals(26, cp2.get(0).getRows());

    sidecar.restart(); // SIGKILL before checkpoint 2's commit, then start on the same dirs
    h.fail();
    // The restored writer gets checkpoint 2's seal back as pending and commits it on open;
    // the committer's re-commit of its restored committable then finds it in the table.
    assertAll(h.restore(2, 1), Signal.ALREADY_COMMITTED);
    assertTable(model);
    assertEquals(2, appends().size());

    write(h, model, upserts(41, 50, "c", 4));
    h.checkpoint(3);
    assertAll(h.complete(3), Signal.COMMITTED);
    assertTable(model);
    assertEquals(3, appends().size(), "checkpoints 1, 2 and 3, each committed once");
  }

  @Test
  void commitRetriesLaterWhileTheSidecarIsDown() throws Exception {
    SinkHarness<Event> h = harness(sinkBuilder("job-c").maxCommitAttempts(2).build()).open(1);
    TableModel model = new TableModel();
    write(h, model, upserts(1, 10, "x", 1));
    h.checkpoint(1);
    sidecar.kill();
    assertAll(h.complete(1), Signal.RETRY_LATER);

    sidecar.start();
    List<Request<Committable>> retried = h.complete(1);
    assertAll(retried, Signal.COMMITTED);
    assertEquals(1, retried.get(0).getNumberOfRetries());
    assertTable(model);
    h.fail(); // the writer's stream died with the sidecar: a real task fails and restores
  }

  @Test
  void taskFailureAfterPrepareCommitRestoresWithoutDoubling() throws Exception {
    SinkHarness<Event> h = harness(sinkBuilder("job-d").build()).open(1);
    TableModel model = new TableModel();
    write(h, model, upserts(1, 10, "first", 1));
    h.checkpoint(1);
    assertAll(h.complete(1), Signal.COMMITTED);

    // Attempt 1 writes and seals checkpoint 2, then fails before it completes.
    write(h, null, List.of(Event.upsert(1, "lost", 9)));
    write(h, null, upserts(11, 20, "attempt1", 2));
    assertEquals(1, h.checkpoint(2).size());
    DeltaSidecarWriter<Event> zombie = h.writer(0);
    h.fail();

    // Restore from checkpoint 1: its committable is re-committed and already in the table.
    assertAll(h.restore(1, 1), Signal.ALREADY_COMMITTED);
    // The old attempt is fenced.
    zombie.write(Event.upsert(99, "zombie", 1), null);
    IOException fenced = assertThrows(IOException.class, zombie::prepareCommit);
    assertInstanceOf(FencedException.class, fenced.getCause(), fenced.toString());

    // The source replays what came after checkpoint 1 (here with different names, to see
    // which copy lands); Flink's next checkpoint id is 3.
    write(h, model, upserts(11, 20, "replayed", 3));
    List<Committable> cp3 = h.checkpoint(3);
    assertEquals(10, cp3.get(0).getRows(), "the sealed checkpoint holds the replay only");
    assertEquals(2, cp3.get(0).getCheckpointId(), "sealed above the restored checkpoint 1");
    assertAll(h.complete(3), Signal.COMMITTED);
    assertTable(model);
  }

  @Test
  void declinedCheckpointsAreCommittedWithTheNextCompletedOne() throws Exception {
    SinkHarness<Event> h = harness(sinkBuilder("job-e").build()).open(1);
    TableModel model = new TableModel();

    // Checkpoint 1 is declined after its snapshot: its committables stay with the committer.
    write(h, model, upserts(1, 5, "a", 1));
    h.checkpoint(1);
    write(h, model, upserts(6, 10, "b", 2));
    h.checkpoint(2);
    List<Request<Committable>> both = h.complete(2);
    assertEquals(2, both.size());
    assertAll(both, Signal.COMMITTED);
    assertTable(model);

    // Checkpoint 3 is declined before the snapshot and its committable never reaches the
    // committer; committing checkpoint 4 takes its seal along.
    write(h, model, upserts(11, 15, "c", 3));
    List<Committable> cp3 = h.checkpoint(3, false);
    assertEquals(3, cp3.get(0).getCheckpointId());
    h.dropPending(3);
    write(h, model, upserts(16, 20, "d", 4));
    List<Committable> cp4 = h.checkpoint(4);
    assertEquals(4, cp4.get(0).getCheckpointId());
    assertAll(h.complete(4), Signal.COMMITTED);
    assertTable(model);
  }

  @Test
  void scaleInRegistersTheVanishedWriterAndDropsItsTail() throws Exception {
    SinkHarness<Event> h = harness(sinkBuilder("job-f").build()).open(2);
    TableModel model = new TableModel();
    write(h, model, upserts(1, 20, "a", 1));
    h.checkpoint(1);
    assertAll(h.complete(1), Signal.COMMITTED);

    // Both writers stage a tail that no completed checkpoint covers, then the job fails.
    write(h, null, upserts(101, 110, "tail", 2));
    DeltaSidecarWriter<Event> zombie1 = h.writer(1);
    h.fail();

    // Restored with parallelism 1: subtask 0 gets the states of job-f/0 and job-f/1.
    assertAll(h.restore(1, 1), Signal.ALREADY_COMMITTED);
    assertEquals("job-f/0", h.writer(0).writerId());
    IOException fenced = assertThrows(IOException.class, zombie1::prepareCommit);
    assertInstanceOf(FencedException.class, fenced.getCause(), fenced.toString());

    write(h, model, upserts(101, 110, "replayed", 3));
    h.checkpoint(3);
    assertAll(h.complete(3), Signal.COMMITTED);
    assertTable(model);
    List<String> appends = appends();
    String latest = appends.get(appends.size() - 1);
    assertTrue(latest.contains("\"writer\":\"job-f/0\""), latest);
    assertFalse(latest.contains("job-f/1"), latest);
  }

  @Test
  void aCommittableThatDoesNotMatchItsSealFailsTheJob() throws Exception {
    DeltaSidecarSink<Event> sink = sinkBuilder("job-g").build();
    SinkHarness<Event> h = harness(sink).open(1);
    write(h, null, upserts(1, 3, "a", 1));
    Committable real = h.checkpoint(1).get(0);
    Committable tampered = real.toBuilder().setRows(real.getRows() + 1).build();
    try (DeltaSidecarCommitter committer = sink.createCommitter(null)) {
      Request<Committable> r = new Request<>(tampered, 0);
      committer.commit(List.of(r));
      assertEquals(Signal.FAILED_UNKNOWN, r.signal);
      assertInstanceOf(FencedException.class, r.failure);
      assertTrue(r.failure.getMessage().contains("rows"), r.failure.getMessage());
    }
    assertEquals(List.of(), deltactl.scan(TABLE));
  }

  @Test
  void writerOpenFailsClearlyWithoutTheTable() {
    DeltaSidecarSink<Event> sink = sinkBuilder("job-h").table("missing").build();
    IOException e =
        assertThrows(
            IOException.class,
            () ->
                sink.createWriter(
                    new FlinkContexts.Writer(
                        new FlinkContexts.Task(0, 1, 0), OptionalLong.empty())));
    assertInstanceOf(TableNotFoundException.class, e.getCause());
    assertTrue(e.getMessage().contains("job-h/0") && e.getMessage().contains("missing"), e.getMessage());
  }

  @Test
  void builderRefusesAMissingOrInvalidWriterIdPrefix() {
    IllegalArgumentException missing =
        assertThrows(
            IllegalArgumentException.class,
            () -> DeltaSidecarSink.<Event>builder().table(TABLE).recordConverter(TableModel.CONVERTER).build());
    assertTrue(missing.getMessage().contains("writerIdPrefix"), missing.getMessage());
    IllegalArgumentException control =
        assertThrows(IllegalArgumentException.class, () -> sinkBuilder("a\nb").build());
    assertTrue(control.getMessage().contains("control"), control.getMessage());
  }
}
