package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.EventJob.Failure;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.JobID;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two real sidecar processes on one table root, the writers of a parallelism-4 sink spread over
 * them as two task managers with a sidecar each would spread them (the sink's {@code targets}:
 * subtasks 0 and 2 on the first, 1 and 3 on the second). The global committer sends each
 * checkpoint's committables of all four writers in one Commit to one sidecar, which publishes the
 * other's prepared checkpoints too: one APPEND snapshot per completed checkpoint, holding writers
 * of both sidecars, and the table exact ({@link TableModel}) with no identity committed twice;
 * also through a job failover, and through a SIGKILL of either sidecar (restarted on its data
 * dir while the job fails over).
 */
class MultiSidecarITCase extends SidecarITCaseBase {
  private static final int PARALLELISM = 4;

  /** The second sidecar, on the first one's table root. */
  private SidecarProcess second;

  @BeforeEach
  void startSecondSidecar() throws Exception {
    second = new SidecarProcess(dir.resolve("second"), sidecar.tableRoot).start();
  }

  @AfterEach
  void stopSecondSidecar() {
    if (second != null) {
      second.close();
    }
  }

  private DeltaSidecarSink<TableModel.Event> sink(String table) {
    return EventJob.sink(
        sidecar, table, table + "-job", b -> b.targets(List.of(sidecar.target, second.target)));
  }

  @Test
  void oneSnapshotPerCheckpointAcrossTwoSidecars() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.hold(n / 4, () -> EventJob.completedCheckpointIds.size() >= 3);
    JobID job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink("two"))
            .execute("two sidecars")
            .getJobID();
    assertTable("two", n, job);
    assertEquals(List.of("two-job/0", "two-job/2"), sorted(sidecar.registrationsSince(0, "two")));
    assertEquals(List.of("two-job/1", "two-job/3"), sorted(second.registrationsSince(0, "two")));
    // The committer (subtask 0) commits on its own sidecar, the first: every Commit there names
    // the second sidecar's writers too, and the second commits nothing.
    assertEquals(
        List.of("two-job/0", "two-job/1", "two-job/2", "two-job/3"),
        sorted(sidecar.commitsSince(0, "two")));
    assertEquals(List.of(), second.commitsSince(0, "two"));
  }

  /** A map throws after 2 completed checkpoints; the job restarts from the last one. */
  @Test
  void oneSnapshotPerCheckpointThroughAFailover() throws Exception {
    long n = 12_000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.failure = Failure.IN_MAP;
    EventJob.failAfterCheckpoints = 2 * PARALLELISM;
    EventJob.hold(n / 4, EventJob.failed::get);
    JobID job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink("failover"))
            .execute("two sidecars, a failover")
            .getJobID();
    assertTrue(EventJob.failed.get(), "the injected failure did not happen");
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not restart");
    assertTable("failover", n, job);
  }

  /**
   * Sidecar 0 (the committer's own, and two writers') or 1 (two writers') is SIGKILLed after two
   * completed checkpoints and restarted on its data dir once the job has failed over; the job
   * continues and the table ends exact, each checkpoint one snapshot.
   */
  @ParameterizedTest(name = "sidecar {0} killed")
  @ValueSource(ints = {0, 1})
  void oneSnapshotPerCheckpointThroughASidecarKill(int killed) throws Exception {
    String table = "kill" + killed;
    long n = 12_000;
    EventJob.nanosPerRecord = 1_000_000;
    AtomicBoolean restarted = new AtomicBoolean();
    EventJob.hold(n / 4, restarted::get);
    JobClient job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink(table))
            .executeAsync("two sidecars, one killed");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (EventJob.completedCheckpointIds.size() < 2) {
      assertTrue(System.nanoTime() < deadline, "no 2 completed checkpoints in 120 s");
      assertTrue(
          !job.getJobStatus().get().isGloballyTerminalState(),
          "the job ended before 2 checkpoints");
      Thread.sleep(10);
    }
    SidecarProcess victim = killed == 0 ? sidecar : second;
    victim.kill();
    // Down until the job has failed over (bounded, not timed: how long the writers take to
    // notice depends on the machine's load).
    while (EventJob.maxAttempt.get() < 1 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not fail over with a sidecar down");
    victim.start();
    restarted.set(true);
    job.getJobExecutionResult().get();
    assertTable(table, n, job.getJobID());
  }

  /**
   * The table is exact with no identity twice, each seal id is in one APPEND snapshot, some
   * snapshot holds all 4 writers (of both sidecars), and there are no more snapshots than
   * checkpoints Flink completed.
   */
  private void assertTable(String table, long n, JobID job) throws Exception {
    assertSequenceTable(table, n);
    OneSnapshotPerCheckpointITCase.assertOneSnapshotPerCheckpoint(
        deltactl, table, PARALLELISM, completedCheckpoints(job));
  }

  /** The distinct strings of {@code list}, sorted. */
  private static List<String> sorted(List<String> list) {
    return new ArrayList<>(new TreeSet<>(list));
  }

  /** Flink's count of the job's completed checkpoints (all attempts, the final one included). */
  private static int completedCheckpoints(JobID job) {
    long completed = -1;
    for (Map.Entry<MetricGroup, Map<String, Metric>> group :
        REPORTER.getMetricsByGroup().entrySet()) {
      if (!job.toString().equals(group.getKey().getAllVariables().get("<job_id>"))) {
        continue;
      }
      Metric m = group.getValue().get("numberOfCompletedCheckpoints");
      if (m instanceof Gauge<?> g && g.getValue() instanceof Number v) {
        completed = Math.max(completed, v.longValue());
      }
    }
    assertTrue(completed >= 0, "Flink reported no numberOfCompletedCheckpoints for job " + job);
    return (int) completed;
  }
}
