package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.CloseableIterator;
import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.DeltaSidecarException;
import io.deltasidecar.client.Row;
import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A streaming read (scan mode latest) while a writer commits: the view materialised from the
 * source's records at every completed checkpoint equals the table at the position the reader had
 * reached (the last snapshot it emitted from, with exactly the records of that snapshot it had
 * emitted), and each snapshot's records were emitted exactly once. Also across a failure of the
 * job and a SIGKILL and restart of the sidecar.
 */
class StreamingSourceITCase extends SidecarITCaseBase {
  private static final String TABLE = "stream";
  private static final int BUCKETS = 4;
  private static final int ROUNDS = 30;
  private static final long KEYS = 2000;

  @BeforeEach
  void resetRecorder() {
    ViewRecorder.reset();
  }

  @Test
  void everyChangeOnceAtEveryCheckpoint() throws Exception {
    run(-1, 250);
  }

  /**
   * Large snapshots read slowly, so that checkpoints fall inside a snapshot's changes and the
   * restore reads a snapshot again, dropping what was emitted before the checkpoint.
   */
  @Test
  void everyChangeOnceAcrossAJobFailure() throws Exception {
    int keysPerRound = 1500;
    // Fails right after a checkpoint inside the changes of a snapshot (each has keysPerRound).
    ViewRecorder.failAfter =
        r -> r.perSnapshot().size() > 1 && r.perSnapshot().lastEntry().getValue() < keysPerRound;
    ViewRecorder.nanosPerRecord = 200_000;
    run(-1, keysPerRound);
    assertTrue(ViewRecorder.failed.get(), "the injected failure happened");
  }

  @Test
  void everyChangeOnceAcrossASidecarRestart() throws Exception {
    ViewRecorder.nanosPerRecord = 200_000;
    run(ROUNDS / 2, 1000);
  }

  /**
   * Commits while the job reads, rounds of {@code keysPerRound} keys; SIGKILLs and restarts the sidecar after round {@code kill}.
   */
  private void run(int killAfterRound, int keysPerRound) throws Exception {
    try (TableWriterClient writer = new TableWriterClient(sidecar.target, TABLE, BUCKETS)) {
      long last = 0;
      for (int round = 1; round <= 3; round++) {
        last = writer.commitRound(round, 1, KEYS, 0);
      }
      JobClient job = startJob();
      for (int round = 4; round <= ROUNDS; round++) {
        long from = (round * 37) % KEYS;
        last = commitRetrying(writer, round, from, from + keysPerRound);
        if (round == killAfterRound) {
          sidecar.kill();
          sidecar.start();
        }
        Thread.sleep(30);
      }
      Recorded lastSeen = awaitPosition(last, writer.client());
      job.cancel().get();
      // The snapshot the read started with: the latest when the job started, which may be after
      // some of the rounds above; the changelog's snapshots all come after it.
      long start = lastSeen.at().perSnapshot().firstKey();
      assertTrue(
          changes(writer.client(), last).size() > 0 && start < last, "the read started at " + start);
      verify(writer.client(), start, lastSeen);
    }
  }

  private JobClient startJob() throws Exception {
    StreamExecutionEnvironment env =
        StreamExecutionEnvironment.getExecutionEnvironment(EventJob.config(2));
    DeltaSidecarSource<String> source =
        DeltaSidecarSource.<String>builder()
            .target(sidecar.target)
            .table(TABLE)
            .mode(ScanMode.LATEST)
            .pollInterval(Duration.ofMillis(20))
            .converter(new ChangeLines(), Types.STRING)
            .build();
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "stream")
        .map(new ViewRecorder())
        .setParallelism(1)
        .sinkTo(new DiscardingSink<>())
        .setParallelism(1);
    return env.executeAsync("streaming read");
  }

  /** A round; UNAVAILABLE (the sidecar restarting) makes it write the round again. */
  private static long commitRetrying(TableWriterClient w, int round, long from, long to)
      throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (true) {
      try {
        return w.commitRound(round, from, to, 5);
      } catch (DeltaSidecarException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(200);
      }
    }
  }

  private record Recorded(ViewRecorder.Recorded at) {}

  /** Waits for a completed checkpoint whose state holds all of snapshot {@code last}. */
  private Recorded awaitPosition(long last, DeltaSidecarClient client) throws Exception {
    long want = changes(client, last).size();
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (System.nanoTime() < deadline) {
      for (ViewRecorder.Recorded r : ViewRecorder.completed) {
        if (r.perSnapshot().getOrDefault(last, 0L) == want) {
          return new Recorded(r);
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "no completed checkpoint reached snapshot " + last + "; the last: "
            + lastOf(ViewRecorder.completed));
  }

  private static String lastOf(Iterable<ViewRecorder.Recorded> recorded) {
    ViewRecorder.Recorded last = null;
    for (ViewRecorder.Recorded r : recorded) {
      last = r;
    }
    return last == null ? "none" : last.checkpointId() + " " + last.perSnapshot();
  }

  /**
   * Every completed checkpoint's view equals the table at the reader's position, and the final
   * one's record counts equal each snapshot's changes.
   */
  private void verify(DeltaSidecarClient client, long start, Recorded lastSeen) {
    Map<Long, List<String>> changesOf = new HashMap<>();
    changesOf.put(start, scanRecords(client, start));
    int checked = 0;
    for (ViewRecorder.Recorded r : ViewRecorder.completed) {
      long s = r.lastSnapshot();
      if (s < 0) {
        assertTrue(r.view().isEmpty());
        continue;
      }
      List<String> ofS = changesOf.computeIfAbsent(s, id -> changes(client, id));
      int n = Math.toIntExact(r.perSnapshot().get(s));
      ChangeLines.View expected = new ChangeLines.View();
      if (s != start) {
        scanRecords(client, s - 1).forEach(expected::apply);
      }
      ofS.subList(0, n).forEach(expected::apply);
      assertEquals(expected.lines(), r.view(), "the view at checkpoint " + r.checkpointId());
      checked++;
    }
    assertTrue(checked >= 3, "checked " + checked + " checkpoints");
    TreeMap<Long, Long> counts = lastSeen.at().perSnapshot();
    for (Map.Entry<Long, Long> e : counts.entrySet()) {
      List<String> of =
          changesOf.computeIfAbsent(e.getKey(), id -> changes(client, id));
      assertEquals(
          of.size(), e.getValue(), () -> "records of snapshot " + e.getKey() + "; history:\n"
              + history());
    }
    for (long s = start + 1; s <= counts.lastKey(); s++) {
      List<String> of = changesOf.computeIfAbsent(s, id -> changes(client, id));
      if (!of.isEmpty()) {
        assertTrue(counts.containsKey(s), "snapshot " + s + " was emitted");
      }
    }
  }

  private String history() {
    try {
      return String.join("\n", deltactl.history(TABLE));
    } catch (Exception e) {
      return e.toString();
    }
  }

  /** The snapshot's rows as +I records, bucket by bucket, as the source's splits read them. */
  private static List<String> scanRecords(DeltaSidecarClient client, long snapshot) {
    int[] buckets = new int[BUCKETS];
    for (int b = 0; b < BUCKETS; b++) {
      buckets[b] = b;
    }
    return records(client.scan(TABLE, OptionalLong.of(snapshot), buckets), "+I", snapshot);
  }

  /** The changes of snapshot {@code s} (from s - 1), as the changelog split emits them. */
  private static List<String> changes(DeltaSidecarClient client, long s) {
    return records(client.changes(TABLE, s - 1, OptionalLong.of(s)), null, s);
  }

  private static List<String> records(CloseableIterator<Row> rows, String kind, long snapshot) {
    ChangeLines lines = new ChangeLines();
    List<String> out = new ArrayList<>();
    try (rows) {
      while (rows.hasNext()) {
        Row r = rows.next();
        org.apache.flink.types.RowKind k =
            kind != null
                ? org.apache.flink.types.RowKind.INSERT
                : r.isDelete()
                    ? org.apache.flink.types.RowKind.DELETE
                    : org.apache.flink.types.RowKind.UPDATE_AFTER;
        out.add(lines.convert(k, r, snapshot));
      }
    }
    return out;
  }
}
