package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sidecar is SIGKILLed between PrepareCommit and Commit and restarted on the same
 * directories: commit() retries through the outage and the checkpoint lands exactly once.
 */
class CommitRetryTest {
  private static final int ROWS = 5000;

  @TempDir Path dir;

  @Test
  void commitRetriesThroughASidecarCrashAndLandsOnce() throws Exception {
    Sidecar sidecar = Sidecar.start(dir);
    CountDownLatch failedOnce = new CountDownLatch(1);
    List<Status.Code> retried = new java.util.concurrent.CopyOnWriteArrayList<>();
    DeltaSidecarClient client =
        DeltaSidecarClient.builder()
            .target(sidecar.target())
            .maxCommitAttempts(1000)
            .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
            .retryListener(
                (call, attempt, cause) -> {
                  retried.add(cause.code());
                  failedOnce.countDown();
                })
            .build();
    try {
      client.createTable("crash", "id BIGINT, payload STRING", "id", 4, false);
      Registration reg = client.register("crash", "crash/0", OptionalLong.empty());
      Committable sealed;
      try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
        for (long i = 0; i < ROWS; i++) {
          w.upsert(i, "row " + i);
        }
        sealed = w.prepareCommit(1);
      }
      assertEquals(ROWS, sealed.getRows());

      sidecar.kill();
      CompletableFuture<List<TableCommitResult>> commit =
          CompletableFuture.supplyAsync(() -> client.commit(List.of(sealed)));
      // The commit has met the dead sidecar at least once before it comes back.
      assertTrue(failedOnce.await(60, TimeUnit.SECONDS), "commit() never retried");
      sidecar.restart();
      List<TableCommitResult> results = commit.get(120, TimeUnit.SECONDS);

      assertEquals(1, results.size());
      assertFalse(results.get(0).alreadyCommitted());
      assertTrue(retried.stream().allMatch(c -> c == Status.Code.UNAVAILABLE), retried.toString());

      // Exactly once, as deltactl reads the table from disk.
      List<String> lines = sidecar.deltactlScan("crash");
      assertEquals(ROWS, lines.size());
      Pattern id = Pattern.compile("^\\{\"id\":(\\d+),\"payload\":\"row (\\d+)\"\\}$");
      Set<Long> seen = new HashSet<>();
      for (String line : lines) {
        Matcher m = id.matcher(line);
        assertTrue(m.matches(), line);
        assertEquals(m.group(1), m.group(2));
        assertTrue(seen.add(Long.parseLong(m.group(1))), "duplicate " + line);
      }
      String history = String.join("\n", sidecar.deltactl("history", "crash"));
      assertEquals(1, history.split("crash/0", -1).length - 1, history);

      // Committing it again changes nothing.
      assertTrue(client.commit(List.of(sealed)).get(0).alreadyCommitted());
      assertEquals(ROWS, sidecar.deltactlScan("crash").size());
    } finally {
      client.close();
      sidecar.close();
    }
  }

  @Test
  void commitGivesUpAfterMaxAttempts() throws Exception {
    Sidecar sidecar = Sidecar.start(dir);
    String target = sidecar.target();
    sidecar.kill();
    List<Integer> attempts = new java.util.ArrayList<>();
    try (DeltaSidecarClient client =
        DeltaSidecarClient.builder()
            .target(target)
            .maxCommitAttempts(3)
            .retryBackoff(Duration.ofMillis(1), Duration.ofMillis(1))
            .retryListener((call, attempt, cause) -> attempts.add(attempt))
            .build()) {
      Committable c =
          Committable.newBuilder().setTable("t").setWriterId("w").setEpoch(1).setCheckpointId(1).build();
      RetryableException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              RetryableException.class, () -> client.commit(List.of(c)));
      assertEquals(Status.Code.UNAVAILABLE, e.code());
      assertEquals(List.of(1, 2), attempts);
    }
  }
}
