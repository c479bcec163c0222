package io.deltasidecar.flink;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.util.TestStreamEnvironment;

/**
 * A benchmark (not a test) of a real Flink job writing through a real sidecar: {@code
 * fromSequence(1, rows)} expanded into the {@link TableModel} events (two upserts per number and a
 * delete per seventh: 2.14 rows written per number), keyed, written by the sink at parallelism 2
 * with a checkpoint every {@code --interval-ms}. Prints one JSON line: rows written per second
 * (job net run time), checkpoint end-to-end durations (Flink's REST checkpoint history), and the
 * time from a checkpoint's completion on the JobManager to the table snapshot that holds it
 * ({@code deltactl history}: the snapshot whose identities carry that checkpoint id), p50 and p99.
 * Then checks the table against the model.
 *
 * <pre>connector/java/flink-tests/run-flink-bench.sh [--rows N] [--interval-ms MS]</pre>
 */
public final class FlinkSinkBench {
  public static void main(String[] args) throws Exception {
    long numbers = 2_000_000;
    long intervalMs = 1000;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rows" -> numbers = Long.parseLong(args[++i]);
        case "--interval-ms" -> intervalMs = Long.parseLong(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Path dir = Files.createTempDirectory("flink-sink-bench");
    Configuration cluster = new Configuration();
    EventJob.set(cluster, "rest.port", "0");
    EventJob.set(cluster, "web.checkpoints.history", "10000");
    MiniCluster mini =
        new MiniCluster(
            new MiniClusterConfiguration.Builder()
                .setConfiguration(cluster)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(2)
                .build());
    mini.start();
    try (SidecarProcess sidecar = new SidecarProcess(dir).start()) {
      TestStreamEnvironment.setAsContext(mini, 2);
      EventJob.nanosPerRecord = 0;
      Configuration conf = EventJob.config(2);
      EventJob.set(conf, "execution.checkpointing.interval", intervalMs + " ms");
      StreamExecutionEnvironment env =
          EventJob.build(conf, numbers, EventJob.sink(sidecar, "bench", "bench-job", b -> b));
      long written = 0;
      for (long i = 1; i <= numbers; i++) {
        written += i % 7 == 0 ? 3 : 2;
      }
      JobExecutionResult result = env.execute("flink sink bench");
      double seconds = result.getNetRuntime() / 1000.0;

      String rest = mini.getRestAddress().get().toString();
      String json =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create(rest + "/jobs/" + result.getJobID() + "/checkpoints"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      Map<Long, Long> completedAt = new HashMap<>();
      List<Long> durations = new ArrayList<>();
      for (String entry : json.split("\\{\"className\"")) {
        Long id = field(entry, "id");
        Long trigger = field(entry, "trigger_timestamp");
        Long duration = field(entry, "end_to_end_duration");
        if (id == null || trigger == null || duration == null || !entry.contains("\"COMPLETED\"")) {
          continue;
        }
        durations.add(duration);
        completedAt.put(id, trigger + duration);
      }

      Deltactl deltactl = new Deltactl(sidecar);
      List<Long> visible = new ArrayList<>();
      Pattern time = Pattern.compile("\"time_ms\":(\\d+)");
      Pattern checkpoint = Pattern.compile("\"checkpoint\":(\\d+)");
      for (String line : deltactl.history("bench")) {
        Matcher t = time.matcher(line);
        if (!line.contains("\"APPEND\"") || !t.find()) {
          continue;
        }
        long snapshotMs = Long.parseLong(t.group(1));
        Matcher c = checkpoint.matcher(line);
        long maxCheckpoint = -1;
        while (c.find()) {
          maxCheckpoint = Math.max(maxCheckpoint, Long.parseLong(c.group(1)));
        }
        Long done = completedAt.get(maxCheckpoint);
        if (done != null) {
          visible.add(snapshotMs - done);
        }
      }
      boolean exact =
          TableModel.ofSequence(numbers).scanLines().equals(deltactl.scan("bench"));
      System.out.println(
          String.format(
              Locale.ROOT,
              "{\"flink\":\"%s\",\"parallelism\":2,\"numbers\":%d,\"rows_written\":%d,"
                  + "\"seconds\":%.2f,\"rows_per_s\":%d,\"checkpoint_interval_ms\":%d,"
                  + "\"checkpoints\":%d,\"checkpoint_ms_p50\":%d,\"checkpoint_ms_p99\":%d,"
                  + "\"checkpoint_ms_max\":%d,\"visible_samples\":%d,\"visible_ms_p50\":%d,"
                  + "\"visible_ms_p99\":%d,\"visible_ms_max\":%d,\"table_exact\":%b}",
              org.apache.flink.runtime.util.EnvironmentInformation.getVersion(),
              numbers,
              written,
              seconds,
              Math.round(written / seconds),
              intervalMs,
              durations.size(),
              pct(durations, 50),
              pct(durations, 99),
              pct(durations, 100),
              visible.size(),
              pct(visible, 50),
              pct(visible, 99),
              pct(visible, 100),
              exact));
      if (!exact) {
        System.err.println("FlinkSinkBench: the table does not match the model");
        System.exit(1);
      }
    } finally {
      TestStreamEnvironment.unsetAsContext();
      mini.close();
    }
  }

  private static Long field(String entry, String name) {
    Matcher m = Pattern.compile("\"" + name + "\":(-?\\d+)").matcher(entry);
    return m.find() ? Long.parseLong(m.group(1)) : null;
  }

  private static long pct(List<Long> values, int p) {
    if (values.isEmpty()) {
      return -1;
    }
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(index, sorted.size() - 1)));
  }
}
