package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.EventJob.Failure;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/**
 * A DataStream job on a Flink MiniCluster writing through a real delta-sidecar process, with
 * failures injected into the job and into the sidecar. Each test checks the table with {@code
 * deltactl scan} against {@link TableModel}, and that no (writer, checkpoint) identity was
 * committed twice ({@code deltactl history}).
 */
class DataStreamITCase extends SidecarITCaseBase {
  private void assertTable(String table, long n) throws Exception {
    assertSequenceTable(table, n);
  }

  /** A map fails once after two completed checkpoints; the restore replays exactly. */
  @Test
  void taskFailureAfterTwoCheckpoints() throws Exception {
    int parallelism = 3;
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.failure = Failure.IN_MAP;
    EventJob.failAfterCheckpoints = 2 * parallelism;
    EventJob.hold(n / 4, EventJob.failed::get);
    StreamExecutionEnvironment env =
        EventJob.build(
            EventJob.config(parallelism), n, EventJob.sink(sidecar, "fail", "fail-job", b -> b));
    env.execute("task failure");
    assertTrue(EventJob.failed.get(), "the injected failure did not happen");
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not restart");
    assertTable("fail", n);
    assertTrue(deltactl.committedIdentities("fail").size() >= 2 * parallelism);
  }

  /** The sidecar is SIGKILLed while the job runs and restarted at once on the same dirs. */
  @Test
  void sidecarKilledAndRestarted() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    AtomicBoolean restarted = new AtomicBoolean();
    EventJob.hold(n / 4, restarted::get);
    JobClient job =
        EventJob.build(EventJob.config(2), n, EventJob.sink(sidecar, "kill", "kill-job", b -> b))
            .executeAsync("sidecar kill");
    awaitCheckpoints(job, 4);
    sidecar.kill();
    sidecar.start();
    restarted.set(true);
    job.getJobExecutionResult().get();
    assertTrue(EventJob.maxAttempt.get() >= 1, "the sidecar's crash did not fail the writers");
    assertTable("kill", n);
  }

  /**
   * The sidecar stays down longer than the committer's retries (2 Commit attempts): the committer
   * fails the task, the job fails over until the sidecar is back, and then finishes exactly once.
   */
  @Test
  void sidecarDownLongerThanCommitRetries() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    AtomicBoolean restarted = new AtomicBoolean();
    EventJob.hold(n / 4, restarted::get);
    JobClient job =
        EventJob.build(
                EventJob.config(2),
                n,
                EventJob.sink(sidecar, "down", "down-job", b -> b.maxCommitAttempts(2)))
            .executeAsync("sidecar down");
    awaitCheckpoints(job, 4);
    int attemptBefore = EventJob.maxAttempt.get();
    sidecar.kill();
    // The sidecar stays down until the job has failed over (bounded, not timed:
    // how long the retries take depends on the machine's load).
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
    while (EventJob.maxAttempt.get() <= attemptBefore && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertTrue(EventJob.maxAttempt.get() > attemptBefore, "the job did not fail over");
    sidecar.start();
    restarted.set(true);
    job.getJobExecutionResult().get();
    assertTable("down", n);
  }

  /**
   * A task fails in notifyCheckpointComplete after the committer (notified first, at the end of
   * the chain) committed the checkpoint: the restored committer sends the committables of that
   * checkpoint again and the sidecar answers already-committed. Per-subtask commits, because only
   * there the committer is in the failing task's chain, which makes "committed before the
   * failure" certain; the global committer is a task of its own.
   */
  @Test
  void failoverRacingNotifyCheckpointComplete() throws Exception {
    int parallelism = 2;
    long n = 5000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.failure = Failure.IN_NOTIFY;
    EventJob.failAfterCheckpoints = 3 * parallelism;
    EventJob.hold(n / 4, EventJob.failed::get);
    JobClient job =
        EventJob.build(
                EventJob.config(parallelism),
                n,
                EventJob.sink(
                    sidecar, "race", "race-job", b -> b.commitTopology(CommitTopology.PER_SUBTASK)))
            .executeAsync("notify race");
    job.getJobExecutionResult().get();
    assertTrue(EventJob.failed.get(), "the injected failure did not happen");
    assertTable("race", n);
    // Summed over the committer's attempts: the restored attempt's counter is the one that counts.
    long alreadyCommitted = 0;
    List<String> seen = new java.util.ArrayList<>();
    for (Map.Entry<MetricGroup, Map<String, Metric>> group : REPORTER.getMetricsByGroup().entrySet()) {
      if (!job.getJobID().toString().equals(group.getKey().getAllVariables().get("<job_id>"))) {
        continue;
      }
      Metric m = group.getValue().get("alreadyCommittedCommittables");
      if (m instanceof Counter c) {
        alreadyCommitted += c.getCount();
        seen.add(group.getKey().getAllVariables().get("<subtask_index>") + ":" + c.getCount());
      }
    }
    assertTrue(
        alreadyCommitted >= 1,
        "the restored committer re-sent no committed checkpoint (alreadyCommittedCommittables per"
            + " committer subtask: " + seen + ")");
  }

  /** A streaming job without checkpointing is refused when it is built, naming the reason. */
  @Test
  void streamingWithoutCheckpointingIsRefused() {
    Configuration conf = EventJob.config(1);
    conf.removeKey("execution.checkpointing.interval");
    StreamExecutionEnvironment env =
        EventJob.build(conf, 10, EventJob.sink(sidecar, "nocp", "nocp-job", b -> b));
    Exception e = assertThrows(Exception.class, () -> env.execute("no checkpoints"));
    String messages = causes(e);
    assertTrue(messages.contains("needs checkpointing"), messages);
  }

  /** Waits until the writers' subtasks were told of this many completed checkpoints in all. */
  private static void awaitCheckpoints(JobClient job, int perSubtaskTotal) throws Exception {
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (EventJob.completedCheckpoints.get() < perSubtaskTotal) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not " + perSubtaskTotal + " checkpoint notifications in 120 s");
      }
      if (job.getJobStatus().get().isGloballyTerminalState()) {
        throw new AssertionError("the job ended before " + perSubtaskTotal
            + " checkpoint notifications: make it run longer");
      }
      Thread.sleep(10);
    }
  }

}
