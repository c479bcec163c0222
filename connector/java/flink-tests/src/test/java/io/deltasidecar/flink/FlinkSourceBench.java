package io.deltasidecar.flink;

import io.deltasidecar.client.Row;
import io.deltasidecar.client.SnapshotInfo;
import io.deltasidecar.flink.source.ChangeConverter;
import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.types.RowKind;

/**
 * A benchmark (not a test) of the streaming source's freshness: a writer (the Java client) commits
 * {@code --rate} changed rows per second (a commit every {@code --interval-ms}, keys drawn from
 * 1M, a tenth deletes) for {@code --seconds} while a Flink job (MiniCluster, scan mode latest,
 * checkpoint per second) follows the table. Per row, the lag is the wall-clock time the row left
 * the source reader minus its snapshot's commit time ({@code History}). Prints one JSON line
 * with the achieved rate and the lag's p50, p99 and max.
 *
 * <pre>connector/java/flink-tests/run-flink-source-bench.sh [--rate N] [--seconds S]</pre>
 */
public final class FlinkSourceBench {
  /** Records, on the reader's thread, when each row of each snapshot was emitted. */
  static final class LagProbe implements ChangeConverter<Long> {
    private static final long serialVersionUID = 1L;
    static long[] pairs = new long[1 << 20];
    static volatile int size;

    @Override
    public Long convert(RowKind kind, Row row, long snapshotId) {
      int n = size;
      if (n + 2 > pairs.length) {
        pairs = Arrays.copyOf(pairs, pairs.length * 2);
      }
      pairs[n] = snapshotId;
      pairs[n + 1] = System.currentTimeMillis();
      size = n + 2;
      return snapshotId;
    }
  }

  public static void main(String[] args) throws Exception {
    int rate = 100_000;
    int seconds = 20;
    int intervalMs = 100;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rate" -> rate = Integer.parseInt(args[++i]);
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        case "--interval-ms" -> intervalMs = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Path dir = Files.createTempDirectory("flink-source-bench");
    try (SidecarProcess sidecar = new SidecarProcess(dir).start();
        TableWriterClient writer = new TableWriterClient(sidecar.target, "lag", 16)) {
      JobClient job = startJob(sidecar.target);
      awaitRunning(job);
      long start = System.nanoTime();
      long rows = write(writer, rate, seconds, intervalMs);
      double achieved = rows / ((System.nanoTime() - start) / 1e9);
      awaitEmitted(rows);
      job.cancel().get();
      report(writer, rows, achieved);
    }
  }

  private static JobClient startJob(String target) throws Exception {
    Configuration conf = new Configuration();
    EventJob.set(conf, "execution.checkpointing.interval", "1 s");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(1);
    DeltaSidecarSource<Long> source =
        DeltaSidecarSource.<Long>builder()
            .target(target)
            .table("lag")
            .mode(ScanMode.LATEST)
            .pollInterval(Duration.ofMillis(20))
            .converter(new LagProbe(), Types.LONG)
            .build();
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "lag").sinkTo(new DiscardingSink<>());
    return env.executeAsync("source lag bench");
  }

  private static void awaitRunning(JobClient job) throws Exception {
    // The reader is following once the job runs; give it a moment to open FollowChanges.
    while (!job.getJobStatus().get().toString().equals("RUNNING")) {
      Thread.sleep(50);
    }
    Thread.sleep(2000);
  }

  /** Commits {@code rate} rows a second for {@code seconds}; returns the rows written. */
  private static long write(TableWriterClient writer, int rate, int seconds, int intervalMs)
      throws InterruptedException {
    int perCommit = rate * intervalMs / 1000;
    long rounds = (long) seconds * 1000 / intervalMs;
    long next = System.nanoTime();
    for (long r = 0; r < rounds; r++) {
      writer.commit(
          w -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            for (int i = 0; i < perCommit; i++) {
              long id = rnd.nextLong(1, 1_000_000);
              if (i % 10 == 0) {
                w.delete(id);
              } else {
                w.upsert(id, "n" + id, i);
              }
            }
          });
      next += intervalMs * 1_000_000L;
      long wait = next - System.nanoTime();
      if (wait > 0) {
        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
      }
    }
    return rounds * perCommit;
  }

  /** Waits until about as many rows were emitted as written (net changes dedupe a few keys). */
  private static void awaitEmitted(long rows) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    long last = -1;
    while (System.nanoTime() < deadline) {
      long now = LagProbe.size / 2;
      if (now == last && now > rows * 0.95) {
        return;
      }
      last = now;
      Thread.sleep(1000);
    }
  }

  private static void report(TableWriterClient writer, long rows, double achieved) {
    Map<Long, Long> commitMs = new HashMap<>();
    for (SnapshotInfo s : writer.client().history("lag")) {
      commitMs.put(s.id(), s.time().toEpochMilli());
    }
    int n = LagProbe.size / 2;
    long[] lags = new long[n];
    for (int i = 0; i < n; i++) {
      lags[i] = LagProbe.pairs[2 * i + 1] - commitMs.get(LagProbe.pairs[2 * i]);
    }
    Arrays.sort(lags);
    System.out.printf(
        Locale.ROOT,
        "{\"rows_written\":%d,\"rows_per_s\":%.0f,\"rows_emitted\":%d,\"lag_p50_ms\":%d,"
            + "\"lag_p99_ms\":%d,\"lag_max_ms\":%d}%n",
        rows, achieved, n, lags[n / 2], lags[(int) (n * 0.99)], lags[n - 1]);
  }
}
