package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.Deltactl.Identity;
import java.util.List;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.junit.jupiter.api.Test;

/**
 * Stop-with-savepoint and resume: at another parallelism (Flink hands the writers' states out in
 * contiguous chunks), and from an older savepoint (a rewind). The job must never fail over (its
 * restart count stays 0), and the table must be exact with no identity committed twice.
 */
class SavepointITCase extends SidecarITCaseBase {
  private long logMark;
  private String table;

  /** Starts the job (from a savepoint unless null); returns its client. */
  private JobClient start(String table, int parallelism, long n, String savepoint)
      throws Exception {
    logMark = sidecar.logMark();
    EventJob.processed.set(0);
    EventJob.maxAttempt.set(0);
    EventJob.completedCheckpoints.set(0);
    EventJob.completedCheckpointIds.clear();
    var conf = EventJob.config(parallelism);
    if (savepoint != null) {
      EventJob.fromSavepoint(conf, savepoint);
    }
    return EventJob.build(conf, n, EventJob.sink(sidecar, table, table + "-job", b -> b))
        .executeAsync(table + " at parallelism " + parallelism);
  }

  /**
   * Lets the job process {@code records} more and complete 2 checkpoints, then stops it with a
   * savepoint. The source is held (slowed right down) from {@code records} on, so that the next
   * run still has most of the sequence to restore and process however long this one takes to get
   * to its checkpoints and its stop: on a loaded machine the first checkpoint of a fresh job can
   * come seconds after the sources start, and an unheld source consumed most of the input by then
   * (the restored run ended with fewer records left than it waited for).
   */
  private String stopAfter(JobClient job, long records, String name) throws Exception {
    EventJob.hold(records, () -> false);
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (EventJob.processed.get() < records || EventJob.completedCheckpointIds.size() < 2) {
      if (System.nanoTime() > deadline || job.getJobStatus().get().isGloballyTerminalState()) {
        throw new AssertionError(
            "the job did not get to " + records + " records and 2 completed checkpoints: processed "
                + EventJob.processed.get() + ", checkpoints completed "
                + EventJob.completedCheckpointIds + ", highest attempt "
                + EventJob.maxAttempt.get() + ", job " + job.getJobStatus().get());
      }
      Thread.sleep(10);
    }
    String savepoint;
    try {
      savepoint =
          job.stopWithSavepoint(
                  false, dir.resolve(name).toUri().toString(), SavepointFormatType.CANONICAL)
              .get();
      job.getJobExecutionResult().get();
    } finally {
      EventJob.releaseHold();
    }
    assertEquals(0, EventJob.maxAttempt.get(), "the job failed over before " + name);
    assertEachWriterRegisteredOnce(name);
    return savepoint;
  }

  /**
   * Each writer id was registered once in the run that just ended (the sidecar's log says so):
   * no two subtasks registered one id, which would have fenced one of them (or would have, had
   * the other registered first).
   */
  private void assertEachWriterRegisteredOnce(String run) throws Exception {
    List<String> registered = sidecar.registrationsSince(logMark, table);
    assertEquals(
        new java.util.TreeSet<>(registered).size(),
        registered.size(),
        "a writer id was registered twice in the run before " + run + ": " + registered);
  }

  /** 4 → 2 → 3: each resume takes the savepoint's state without a single failover. */
  @Test
  void rescaleDownThenUp() throws Exception {
    table = "rescale";
    // 1 ms per record and subtask, held after 3000 records until the stop (see stopAfter).
    long n = 16_000;
    EventJob.nanosPerRecord = 1_000_000;
    String s1 = stopAfter(start("rescale", 4, n, null), 3000, "sp1");
    String s2 = stopAfter(start("rescale", 2, n, s1), 3000, "sp2");
    long before = deltactl.committedIdentities("rescale").size();
    JobClient last = start("rescale", 3, n, s2);
    last.getJobExecutionResult().get();
    assertEquals(0, EventJob.maxAttempt.get(), "the job failed over after 2 -> 3");
    assertEachWriterRegisteredOnce("the end");
    assertTrue(EventJob.processed.get() < n, "the last run did not resume from the savepoint");
    assertEquals(TableModel.ofSequence(n).scanLines(), deltactl.scan("rescale"));
    List<Identity> ids = deltactl.assertNoIdentityTwice("rescale");
    assertTrue(ids.size() > before, "the last run committed nothing");
  }

  /**
   * Resume from savepoint 1, run to the end, then resume from savepoint 1 again: the rewound
   * writers commit under a new incarnation of their ids, and the table is the same.
   */
  @Test
  void rewindToAnOlderSavepoint() throws Exception {
    table = "rewind";
    long n = 8000;
    EventJob.nanosPerRecord = 1_000_000;
    String s1 = stopAfter(start("rewind", 2, n, null), 2000, "sp1");
    JobClient second = start("rewind", 2, n, s1);
    second.getJobExecutionResult().get();
    assertEquals(TableModel.ofSequence(n).scanLines(), deltactl.scan("rewind"));
    int before = deltactl.committedIdentities("rewind").size();

    JobClient rewound = start("rewind", 2, n, s1);
    rewound.getJobExecutionResult().get();
    assertEquals(0, EventJob.maxAttempt.get(), "the rewound job failed over");
    assertTrue(EventJob.processed.get() < n, "the rewound run did not resume from the savepoint");
    assertEquals(TableModel.ofSequence(n).scanLines(), deltactl.scan("rewind"));
    List<Identity> ids = deltactl.assertNoIdentityTwice("rewind");
    assertTrue(ids.size() > before, "the rewound run committed nothing");
    assertTrue(
        ids.subList(before, ids.size()).stream().allMatch(id -> id.writer().contains("#")),
        "the rewound run's commits are not under a new incarnation: " + ids.subList(before, ids.size()));
  }
}
