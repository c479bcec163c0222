package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * A source's consumer id holds snapshot expiry: with a retention of a moment, the snapshots from
 * the position of a stopped reader on stay while its consumer position is younger than the
 * sidecar's {@code --consumer-max-age}, and expire with the next commit once it is older.
 */
class ConsumerHoldITCase extends SidecarITCaseBase {
  private static final String TABLE = "held";
  private static final Pattern ID = Pattern.compile("\"id\":(\\d+)");
  private static final Duration MAX_AGE = Duration.ofSeconds(6);

  @Test
  void aConsumerPositionHoldsExpiryUntilItsAgeLimit() throws Exception {
    sidecar.close();
    sidecar
        .withFlags(
            "--retain-max-age", "1ms", "--retain-min-snapshots", "1",
            "--consumer-max-age", MAX_AGE.toSeconds() + "s",
            "--compaction-trigger-files", "0")
        .start();
    try (TableWriterClient writer = new TableWriterClient(sidecar.target, TABLE, 2)) {
      long from = writer.commitRound(1, 1, 100, 0);
      long read = readNextCommit(writer, from, "reader-a");

      for (int round = 3; round <= 6; round++) {
        writer.commitRound(round, 1, 100, 4);
      }
      List<Long> held = snapshotIds();
      assertTrue(held.contains(read), "snapshot " + read + " is held: " + held);

      Thread.sleep(MAX_AGE.plusSeconds(1).toMillis());
      long newest = writer.commitRound(7, 1, 100, 4);
      List<Long> released = snapshotIds();
      assertEquals(List.of(newest), released, "only the newest snapshot is left");
    }
  }

  /**
   * Follows from {@code from} with {@code consumer}; once the consumer holds {@code from}, commits
   * a round and reads it whole, then stops. Returns the round's snapshot.
   */
  private long readNextCommit(TableWriterClient writer, long from, String consumer)
      throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    DeltaSidecarSource<String> source =
        DeltaSidecarSource.<String>builder()
            .target(sidecar.target)
            .table(TABLE)
            .mode(ScanMode.FROM_SNAPSHOT)
            .snapshotId(from)
            .consumer(consumer)
            .converter(new ChangeLines(), Types.STRING)
            .build();
    try (CloseableIterator<String> it =
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "held").executeAndCollect()) {
      awaitConsumer(consumer);
      long to = writer.commitRound(2, 1, 100, 4);
      for (int seen = 0; seen < 99; ) {
        String r = it.next();
        assertEquals(to, ChangeLines.snapshot(r), r);
        seen++;
      }
      return to;
    }
  }

  private void awaitConsumer(String consumer) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    String listed = "";
    while (System.nanoTime() < deadline) {
      listed = String.join("\n", deltactl.run("consumers", TABLE));
      if (listed.contains(consumer)) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("consumer " + consumer + " not listed: " + listed);
  }

  private List<Long> snapshotIds() throws Exception {
    List<Long> ids = new ArrayList<>();
    for (String line : deltactl.history(TABLE)) {
      Matcher m = ID.matcher(line);
      if (m.find()) {
        ids.add(Long.parseLong(m.group(1)));
      }
    }
    return ids;
  }
}
